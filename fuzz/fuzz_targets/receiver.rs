//! The device-side receiver and the A/B slots under arbitrary sequences of
//! host messages, resets, power cuts and trial failures, with an honest
//! upload of B interleaved ([`Device`], shared with
//! `crates/update/tests/fuzz.rs`). Asserted after every action: app A is
//! still the confirmed app, byte for byte; a boot only ever picks A, or B on
//! trial, and what it picks verifies.
#![no_main]

use std::sync::LazyLock;

use belljar_fuzz::common::{
    Action, CFG, Device, Flash, SECTORS, install, package, policy, verifying_key,
};
use belljar_package::Policy;
use belljar_package::ed25519_dalek::VerifyingKey;
use belljar_update::Slots;
use belljar_update::proto::{HostMsg, MAX_CHUNK, Mode};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

struct Setup {
    a: Vec<u8>,
    b: Vec<u8>,
    base: Flash,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let a = package("app-a", 1, 3_000);
    let b = package("app-b", 2, 4_000);
    let mut base = Flash::new(SECTORS);
    install(&mut base, &a);
    assert!(Slots::open(base.clone(), CFG).unwrap().active().is_some());
    Setup { a, b, base }
});

static KEY: LazyLock<VerifyingKey> = LazyLock::new(verifying_key);
static POLICY: LazyLock<Policy<'static>> = LazyLock::new(|| policy(&KEY));

/// Reads actions from the input: a tag byte, then the action's fields. A
/// zero tag is an honest step, so an all-zero input is a complete upload.
struct Input<'d>(&'d [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn action(&mut self, b: &[u8]) -> Action {
        let len = b.len() as u32;
        match self.byte() % 16 {
            0..=7 => Action::Honest,
            // A chunk near B's offsets: real bytes of B or filler.
            8 | 9 => {
                let offset = u32::from(self.byte()) * 8 + u32::from(self.byte() % 16) * 512;
                let n = usize::from(self.u16()) % (MAX_CHUNK + 1);
                let start = (offset as usize).min(b.len());
                let data = if self.byte() & 1 == 0 {
                    b[start..(start + n).min(b.len())].to_vec()
                } else {
                    vec![self.byte(); n]
                };
                Action::Msg(Box::new(HostMsg::chunk(offset, &data).unwrap()))
            }
            // A begin, for B or not.
            10 => {
                let flags = self.byte();
                let len = match flags % 4 {
                    0 => len,
                    1 => len - 1,
                    _ => self.u32() % 70_000,
                };
                let sha256 = if flags & 4 == 0 {
                    Sha256::digest(b).into()
                } else {
                    [flags; 32]
                };
                let mode = if flags & 8 == 0 {
                    Mode::Install
                } else {
                    Mode::RunOnce
                };
                Action::Msg(Box::new(HostMsg::Begin { len, sha256, mode }))
            }
            // Any chunk.
            11 => {
                let offset = self.u32();
                let n = usize::from(self.u16()) % (MAX_CHUNK + 1);
                let data: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                Action::Msg(Box::new(HostMsg::chunk(offset, &data).unwrap()))
            }
            12 => Action::Msg(Box::new(match self.byte() % 3 {
                0 => HostMsg::Abort,
                1 => HostMsg::Finish,
                _ => HostMsg::Hello,
            })),
            13 => Action::Reset,
            14 => Action::Cut {
                after: self.byte(),
                done: self.u16() % 257,
            },
            _ => Action::Fail,
        }
    }
}

fuzz_target!(
    init: {
        // An honest upload (zeros) with a reset, a cut and stray messages in it.
        let mut seeds = vec![vec![0u8; 40], vec![0u8; 4]];
        seeds.push([&[0u8; 10][..], &[13], &[0; 20]].concat());
        seeds.push([&[0u8; 6][..], &[14, 3, 0, 1], &[0; 30], &[13, 15, 13]].concat());
        seeds.push([&[10u8, 0][..], &[8, 1, 0, 0, 2, 0], &[12, 1], &[0; 12]].concat());
        seeds.push([&[0u8; 30][..], &[13, 0, 0, 13, 13, 13]].concat());
        belljar_fuzz::write_seeds(seeds);
    },
    |data: &[u8]| {
        let setup = &*SETUP;
        let mut device = Device::new(&setup.base, &setup.a, &setup.b, &POLICY);
        let mut input = Input(data);
        // At most 200 actions (an honest upload takes about 12).
        for _ in 0..200 {
            if input.0.is_empty() {
                break;
            }
            let action = input.action(&setup.b);
            if let Err(e) = device.apply(&action) {
                panic!("after {action:?}: {e}");
            }
        }
    }
);
