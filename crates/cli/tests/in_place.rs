//! Packages are deserialized where they lie (`Runtime::load_in_place`,
//! Wasmtime's `deserialize_raw`): no copy of the `.cwasm`, and no alignment
//! asked of it, so the payload may start at whatever offset the signed
//! header leaves it in a flash slot.

mod common;

use belljar_cli::run::SimApp;
use belljar_host::runtime::Runtime;
use belljar_package::ed25519_dalek::SigningKey;
use belljar_package::{Header, Policy, sign, verify};
use belljar_profile::Target;
use belljar_sim::{SimBoard, SimConfig};
use common::*;

/// blinky's timeline for 2 s of virtual time, loaded from `bytes` in place.
fn run_in_place(bytes: &'static [u8]) -> Vec<(u64, String)> {
    let runtime = Runtime::<SimBoard>::new().unwrap();
    // SAFETY: built by belljar's pipeline; leaked, so it outlives the app.
    let app = unsafe { runtime.load_in_place(bytes) }.unwrap();
    // The code Wasmtime runs is the bytes given, not a copy of them.
    let image = app.component().image_range();
    let given = bytes.as_ptr_range();
    assert!(
        given.start <= image.start && image.end <= given.end,
        "image {image:?} outside the bytes given {given:?}"
    );
    let config = SimConfig {
        time_limit_ms: Some(2_000),
        ..SimConfig::default()
    };
    let mut running = SimApp::start(&app, "blinky", config).unwrap();
    running.run();
    pairs(&running.board().trace())
}

/// A fresh heap copy of `bytes` starting `offset` bytes past an
/// allocation's 16-byte aligned start (never freed: Wasmtime registers
/// the address while the app lives).
fn at_offset(bytes: &[u8], offset: usize) -> &'static [u8] {
    let mut buffer = vec![0u8; offset + 16 + bytes.len()];
    let skew = (16 - buffer.as_ptr() as usize % 16) % 16 + offset;
    buffer[skew..skew + bytes.len()].copy_from_slice(bytes);
    let buffer: &'static [u8] = Box::leak(buffer.into_boxed_slice());
    &buffer[skew..skew + bytes.len()]
}

#[test]
fn a_cwasm_runs_in_place_at_any_alignment() {
    let cwasm = cwasm("blinky", Target::Pulley64);
    let (_, reference) = run_for("blinky", 2_000, SimConfig::default());
    let reference = pairs(&reference);
    assert!(reference.len() > 4, "{reference:?}");
    for offset in 0..16 {
        let bytes = at_offset(cwasm, offset);
        assert_eq!(bytes.as_ptr() as usize % 16, offset);
        assert_eq!(run_in_place(bytes), reference, "at offset {offset} mod 16");
    }
}

/// Where the payload of a real signed package starts, and that it runs
/// from there: what the supervisor deserializes inside a flash slot
/// (slots start on a 4 KiB sector).
#[test]
fn a_signed_package_runs_from_where_its_payload_lies() {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let vk = key.verifying_key();
    let cwasm = cwasm("blinky", Target::Pulley64);
    let header = Header::for_payload(Target::Pulley64, "blinky", "blinky", 1, cwasm);
    let package = sign(&header, cwasm, &key);
    // A slot is sector-aligned: the package starts aligned.
    let slot = at_offset(&package, 0);
    let policy = Policy {
        key: &vk,
        target: Target::Pulley64,
        installed: None,
        allow_downgrade: false,
        max_len: 1 << 20,
    };
    let payload = verify(slot, &policy).unwrap().payload;
    let offset = payload.as_ptr() as usize - slot.as_ptr() as usize;
    eprintln!(
        "blinky package: {} bytes, payload at offset {offset} ({} mod 8)",
        package.len(),
        offset % 8
    );
    assert_eq!(payload, cwasm);
    let (_, reference) = run_for("blinky", 2_000, SimConfig::default());
    assert_eq!(run_in_place(payload), pairs(&reference));
}
