//! Arbitrary bytes through every path on which the supervisor hands a
//! package to Wasmtime: the boot of an installed app from its slot (with the
//! slot's bytes replaced, as a corrupted or tampered flash would), the
//! factory install, a `RunOnce` upload held in RAM, and the package itself.
//! Each ends in `belljar_supervisor::load_verified`, the supervisor's only
//! way to `Runtime::load_in_place` (Wasmtime's deserializer); here its `load`
//! counts calls instead of deserializing. Asserted: bytes that are not the
//! trusted key's signed package never reach `load`; when `load` is called it
//! gets exactly the payload of bytes that verify.
#![no_main]

use std::cell::Cell;
use std::sync::LazyLock;

use belljar_fuzz::common::{CFG, Flash, SECTORS, install, package, policy, verifying_key};
use belljar_package::ed25519_dalek::VerifyingKey;
use belljar_package::{Policy, verify};
use belljar_supervisor::{NotLoaded, install_factory, load_verified};
use belljar_update::proto::{DeviceMsg, HostMsg, MAX_CHUNK, Mode};
use belljar_update::{Receiver, Slots};
use embedded_storage::nor_flash::NorFlash;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

static KEY: LazyLock<VerifyingKey> = LazyLock::new(verifying_key);
static POLICY: LazyLock<Policy<'static>> = LazyLock::new(|| policy(&KEY));

/// The only packages the trusted key signed: A is installed, B is a seed.
static A: LazyLock<Vec<u8>> = LazyLock::new(|| package("app-a", 1, 3_000));
static B: LazyLock<Vec<u8>> = LazyLock::new(|| package("app-b", 2, 2_000));
static BASE: LazyLock<Flash> = LazyLock::new(|| {
    let mut flash = Flash::new(SECTORS);
    install(&mut flash, &A);
    flash
});

fn signed(bytes: &[u8]) -> bool {
    bytes == A.as_slice() || bytes == B.as_slice()
}

/// The supervisor's load, with Wasmtime replaced by a counter. Returns
/// whether `load` was called.
fn load(package: &[u8], policy: &Policy<'_>) -> bool {
    let calls = Cell::new(0u32);
    let result = load_verified(package, policy, |payload| {
        calls.set(calls.get() + 1);
        let verified = verify(package, policy).expect("load sees only verified packages");
        assert!(
            std::ptr::eq(payload, verified.payload),
            "the payload verified"
        );
        assert!(
            signed(package),
            "a package the key never signed reached load"
        );
        Err::<(), _>("not deserialized in the fuzz target")
    });
    match result {
        Err(NotLoaded::Unverified(_)) => assert_eq!(calls.get(), 0),
        Err(NotLoaded::Load { .. }) => assert_eq!(calls.get(), 1),
        Ok(_) => unreachable!(),
    }
    calls.get() == 1
}

/// The installed app's slot overwritten with `data` (padded to the write
/// size), then a boot: the supervisor verifies and loads the image where
/// it lies in the flash (`Slots::mapped_image`).
fn boot_tampered_slot(data: &[u8]) {
    let mut flash = BASE.clone();
    let slot = {
        let slots = Slots::open(&mut flash, CFG).unwrap();
        slots.slot_range(slots.active().unwrap().image.slot)
    };
    flash.erase(slot.start, slot.end).unwrap();
    let n = data.len().min((slot.end - slot.start) as usize);
    let mut bytes = data[..n].to_vec();
    bytes.resize(n.next_multiple_of(8), 0xFF);
    flash.write(slot.start, &bytes).unwrap();
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let choice = slots.boot().unwrap().expect("an app is recorded");
    let image = slots.mapped_image(&choice.image).unwrap();
    let policy = Policy {
        installed: slots.installed_version(),
        ..*POLICY
    };
    // With A's length recorded, only A itself verifies.
    assert_eq!(load(image, &policy), image == A.as_slice());
}

/// `data` as the factory image of empty slots; if installed, booted.
fn factory(data: &[u8]) {
    let mut slots = Slots::open(Flash::new(SECTORS), CFG).unwrap();
    match install_factory(&mut slots, data, &POLICY) {
        Ok(_) => {
            assert!(signed(data), "an unsigned factory image was installed");
            let choice = slots.boot().unwrap().unwrap();
            let image = slots.mapped_image(&choice.image).unwrap();
            assert_eq!(image, data);
            assert!(load(image, &POLICY));
        }
        Err(_) => assert!(slots.active().is_none()),
    }
}

/// `data` uploaded for a one-off run: held in RAM only if it verified.
fn run_once(data: &[u8]) {
    let mut slots = Slots::open(BASE.clone(), CFG).unwrap();
    let mut rx = Receiver::new();
    let policy = Policy {
        installed: slots.installed_version(),
        ..*POLICY
    };
    let begin = HostMsg::Begin {
        len: data.len() as u32,
        sha256: Sha256::digest(data).into(),
        mode: Mode::RunOnce,
    };
    if !matches!(
        rx.handle(&begin, &mut slots, &policy),
        DeviceMsg::Ready { .. }
    ) {
        assert!(data.is_empty() || data.len() > policy.max_len);
        return;
    }
    for (i, chunk) in data.chunks(MAX_CHUNK).enumerate() {
        let msg = HostMsg::chunk((i * MAX_CHUNK) as u32, chunk).unwrap();
        assert!(matches!(
            rx.handle(&msg, &mut slots, &policy),
            DeviceMsg::Ack { .. }
        ));
    }
    let reply = rx.handle(&HostMsg::Finish, &mut slots, &policy);
    match rx.take_loaded() {
        Some(package) => {
            assert!(matches!(reply, DeviceMsg::Loaded { .. }));
            assert_eq!(package, data);
            assert!(load(&package, &policy));
        }
        None => assert!(!matches!(reply, DeviceMsg::Loaded { .. })),
    }
}

fuzz_target!(
    init: {
        let mut truncated = B.clone();
        truncated.truncate(1000);
        belljar_fuzz::write_seeds([A.clone(), B.clone(), truncated, b"BJPK\x02\x00".to_vec()]);
    },
    |data: &[u8]| {
        let policy = Policy { installed: Some(1), ..*POLICY };
        assert_eq!(load(data, &policy), signed(data));
        boot_tampered_slot(data);
        factory(data);
        run_once(data);
    }
);
