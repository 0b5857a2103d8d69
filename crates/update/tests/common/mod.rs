//! Shared by the integration tests: real signed packages, a device on a
//! simulated NOR flash, and a link that carries every message as real frame
//! bytes through both decoders.
#![allow(dead_code)]

use belljar_package::ed25519_dalek::{SigningKey, VerifyingKey};
use belljar_package::{Header, Policy, sign};
use belljar_profile::Target;
use belljar_update::frame::{Decoder, encode_vec};
use belljar_update::host::{Step, Upload};
use belljar_update::proto::{DeviceMsg, HostMsg, Mode};
use belljar_update::sim_flash::SimFlash;
use belljar_update::{Config, Receiver, Slots};

/// 4 KiB sectors written in 8-byte words (like many Cortex-M33 parts).
pub type Flash = SimFlash<8, 4096>;

/// Two state sectors, two slots of 12 sectors (48 KiB).
pub const CFG: Config = Config {
    base: 0,
    state_sectors: 2,
    slot_sectors: 12,
    max_boot_attempts: 3,
};
pub const SECTORS: usize = 2 + 2 * 12;

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn verifying_key() -> VerifyingKey {
    key().verifying_key()
}

/// A payload of `len` bytes (the tests never deserialize it).
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// A package signed with [`key`], for pulley32 and this belljar's engine.
pub fn package_for(
    target: Target,
    app: &str,
    version: u32,
    payload: &[u8],
    key: &SigningKey,
) -> Vec<u8> {
    let header = Header::for_payload(target, "blinky", app, version, payload);
    sign(&header, payload, key)
}

pub fn package(app: &str, version: u32, payload_len: usize) -> Vec<u8> {
    let seed = app.bytes().fold(version as u8, |a, b| a.wrapping_add(b));
    package_for(
        Target::Pulley32,
        app,
        version,
        &payload(payload_len, seed),
        &key(),
    )
}

/// The device's policy; `installed` is filled in from the slots.
pub fn policy(key: &VerifyingKey) -> Policy<'_> {
    Policy {
        key,
        target: Target::Pulley32,
        installed: None,
        allow_downgrade: false,
        max_len: 64 * 1024,
    }
}

/// A UART in both directions: each message is encoded to frame bytes, fed
/// byte by byte into the other side's decoder, and must come out whole.
#[derive(Default)]
pub struct Link {
    device: Decoder<HostMsg>,
    host: Decoder<DeviceMsg>,
}

impl Link {
    pub fn carry_to_device(&mut self, msg: &HostMsg) -> HostMsg {
        let bytes = encode_vec(msg).unwrap();
        let mut input = bytes.as_slice();
        let got = self.device.feed(&mut input).expect("a frame decodes");
        assert!(input.is_empty());
        assert_eq!(&got, msg);
        got
    }

    pub fn carry_to_host(&mut self, msg: &DeviceMsg) -> DeviceMsg {
        let bytes = encode_vec(msg).unwrap();
        let mut input = bytes.as_slice();
        let got = self.host.feed(&mut input).expect("a frame decodes");
        assert!(input.is_empty());
        assert_eq!(&got, msg);
        got
    }

    /// One request and its reply, over the wire.
    pub fn exchange(
        &mut self,
        msg: &HostMsg,
        rx: &mut Receiver,
        slots: &mut Slots<&mut Flash>,
        policy: &Policy<'_>,
    ) -> DeviceMsg {
        let msg = self.carry_to_device(msg);
        let reply = rx.handle(&msg, slots, policy);
        self.carry_to_host(&reply)
    }
}

/// How an upload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Done(DeviceMsg),
    Failed(DeviceMsg),
    /// The device's flash lost power.
    PowerLost,
}

/// What an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub end: Sent,
    /// `resume_from` of the first `Ready`.
    pub resumed_from: Option<u32>,
    /// Messages sent.
    pub messages: u32,
}

/// Drives [`Upload`] against the device until it is done, fails, or the
/// power goes.
pub fn upload(
    pkg: &[u8],
    mode: Mode,
    rx: &mut Receiver,
    slots: &mut Slots<&mut Flash>,
    policy: &Policy<'_>,
) -> Report {
    let mut link = Link::default();
    let mut up = Upload::new(pkg, mode);
    let mut msg = up.begin();
    let mut resumed_from = None;
    for messages in 1..10_000 {
        let reply = link.exchange(&msg, rx, slots, policy);
        if slots.flash().power_lost() {
            return Report {
                end: Sent::PowerLost,
                resumed_from,
                messages,
            };
        }
        if let (DeviceMsg::Ready { resume_from }, None) = (&reply, resumed_from) {
            resumed_from = Some(*resume_from);
        }
        match up.on_reply(&reply) {
            Step::Send(next) => msg = next,
            Step::Done(reply) => {
                return Report {
                    end: Sent::Done(reply),
                    resumed_from,
                    messages,
                };
            }
            Step::Failed(reply) => {
                return Report {
                    end: Sent::Failed(reply),
                    resumed_from,
                    messages,
                };
            }
        }
    }
    panic!("the upload does not end");
}

/// Installs `pkg` completely: upload, reboot, trial boot, confirm.
pub fn install(flash: &mut Flash, pkg: &[u8]) {
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut *flash, CFG).unwrap();
    let report = upload(
        pkg,
        Mode::Install,
        &mut Receiver::new(),
        &mut slots,
        &policy,
    );
    assert!(
        matches!(report.end, Sent::Done(DeviceMsg::Installed { .. })),
        "{report:?}"
    );
    let mut slots = Slots::open(&mut *flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(choice.trial);
    assert!(slots.confirm().unwrap());
}
