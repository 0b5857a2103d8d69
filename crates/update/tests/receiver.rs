//! The receiver and the slots through the protocol, with real signed packages.

mod common;

use belljar_package::ed25519_dalek::SigningKey;
use belljar_package::verify;
use belljar_profile::Target;
use belljar_update::proto::{
    CandidateState, DeviceMsg, ErrorCode, HostMsg, MAX_CHUNK, Mode, PROTOCOL, Reject,
};
use belljar_update::{Candidate, Receiver, Slot, Slots};
use common::*;
use sha2::{Digest, Sha256};

/// A device with app A (v1) installed and confirmed in slot A.
fn device_with_a() -> (Flash, Vec<u8>) {
    let a = package("app-a", 1, 6_000);
    let mut flash = Flash::new(SECTORS);
    install(&mut flash, &a);
    (flash, a)
}

fn active_bytes(slots: &Slots<&mut Flash>) -> Vec<u8> {
    let r = slots.active().unwrap().range;
    slots.flash().memory()[r.start as usize..r.end as usize].to_vec()
}

fn begin(pkg: &[u8], mode: Mode) -> HostMsg {
    HostMsg::Begin {
        len: pkg.len() as u32,
        sha256: Sha256::digest(pkg).into(),
        mode,
    }
}

#[test]
fn an_update_is_installed_tried_and_confirmed() {
    let (mut flash, a) = device_with_a();
    let b = package("app-b", 2, 9_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let mut link = Link::default();
    assert_eq!(
        link.exchange(&HostMsg::Hello, &mut rx, &mut slots, &policy),
        DeviceMsg::Status {
            protocol: PROTOCOL,
            installed: Some(1),
            candidate: CandidateState::Empty,
            max_chunk: MAX_CHUNK as u16,
            align: 8,
            max_len: 48 * 1024,
        }
    );
    let report = upload(&b, Mode::Install, &mut rx, &mut slots, &policy);
    assert_eq!(
        report.end,
        Sent::Done(DeviceMsg::Installed {
            app: "app-b".into(),
            version: 2
        })
    );
    // Begin, 18 chunks of 512 (the last shorter), Finish.
    assert_eq!(report.messages as usize, 2 + b.len().div_ceil(MAX_CHUNK));
    assert_eq!(active_bytes(&slots), a, "the active app is untouched");
    assert!(matches!(slots.state().candidate, Candidate::Pending { .. }));

    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(choice.trial);
    assert_eq!(choice.image.slot, Slot::B);
    let bytes = &slots.flash().memory()[choice.range.start as usize..choice.range.end as usize];
    assert_eq!(verify(bytes, &policy).unwrap().header.app, "app-b");
    assert!(slots.confirm().unwrap());
    assert!(!slots.confirm().unwrap(), "nothing left to confirm");
    assert_eq!(slots.installed_version(), Some(2));
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    assert_eq!(active_bytes(&slots), b);
    assert!(!slots.boot().unwrap().unwrap().trial);
}

#[test]
fn refused_packages_are_discarded_and_the_active_app_runs() {
    let (flash, a) = device_with_a();
    let vk = verifying_key();
    let payload = payload(3_000, 9);
    let mut tampered = package("app-b", 2, 3_000);
    let at = tampered.len() - 100;
    tampered[at] ^= 0x20;
    let cases: Vec<(&str, Vec<u8>, Reject)> = vec![
        (
            "another key",
            package_for(
                Target::Pulley32,
                "app-b",
                2,
                &payload,
                &SigningKey::from_bytes(&[8; 32]),
            ),
            Reject::BadSignature,
        ),
        ("tampered", tampered, Reject::BadSignature),
        (
            "wrong target",
            package_for(Target::Pulley64, "app-b", 2, &payload, &key()),
            Reject::WrongTarget,
        ),
        (
            "older than installed",
            package_for(Target::Pulley32, "app-b", 0, &payload, &key()),
            Reject::Downgrade {
                installed: 1,
                offered: 0,
            },
        ),
        ("not a package", payload.clone(), Reject::BadMagic),
    ];
    for (what, pkg, reason) in cases {
        let mut flash = flash.clone();
        let mut slots = Slots::open(&mut flash, CFG).unwrap();
        let policy = policy(&vk);
        let report = upload(
            &pkg,
            Mode::Install,
            &mut Receiver::new(),
            &mut slots,
            &policy,
        );
        assert_eq!(
            report.end,
            Sent::Failed(DeviceMsg::Rejected { reason }),
            "{what}"
        );
        assert_eq!(slots.state().candidate, Candidate::Empty, "{what}");
        let mut slots = Slots::open(&mut flash, CFG).unwrap();
        let choice = slots.boot().unwrap().unwrap();
        assert!(!choice.trial, "{what}");
        assert_eq!(active_bytes(&slots), a, "{what}");
    }
}

#[test]
fn bytes_that_do_not_match_the_announced_hash_are_refused() {
    let (mut flash, _a) = device_with_a();
    let b = package("app-b", 2, 2_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let mut link = Link::default();
    let mut announce = begin(&b, Mode::Install);
    if let HostMsg::Begin { sha256, .. } = &mut announce {
        sha256[0] ^= 1;
    }
    assert_eq!(
        link.exchange(&announce, &mut rx, &mut slots, &policy),
        DeviceMsg::Ready { resume_from: 0 }
    );
    for (i, chunk) in b.chunks(MAX_CHUNK).enumerate() {
        let msg = HostMsg::chunk((i * MAX_CHUNK) as u32, chunk).unwrap();
        link.exchange(&msg, &mut rx, &mut slots, &policy);
    }
    let rejected = DeviceMsg::Rejected {
        reason: Reject::HashMismatch,
    };
    assert_eq!(
        link.exchange(&HostMsg::Finish, &mut rx, &mut slots, &policy),
        rejected
    );
    // A repeated Finish gets the same answer, nothing else happens.
    assert_eq!(
        link.exchange(&HostMsg::Finish, &mut rx, &mut slots, &policy),
        rejected
    );
    assert_eq!(slots.state().candidate, Candidate::Empty);
}

#[test]
fn retries_duplicates_and_gaps_are_answered_with_the_next_offset() {
    let (mut flash, _a) = device_with_a();
    let b = package("app-b", 2, 3_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let mut link = Link::default();
    let mut send =
        |msg: HostMsg, slots: &mut Slots<&mut Flash>| link.exchange(&msg, &mut rx, slots, &policy);
    let chunk = |offset: usize, len: usize| {
        HostMsg::chunk(offset as u32, &b[offset..(offset + len).min(b.len())]).unwrap()
    };

    assert_eq!(
        send(HostMsg::Finish, &mut slots),
        DeviceMsg::Error {
            code: ErrorCode::NotStarted
        }
    );
    assert_eq!(
        send(chunk(0, 512), &mut slots),
        DeviceMsg::Error {
            code: ErrorCode::NotStarted
        }
    );
    assert_eq!(
        send(begin(&b, Mode::Install), &mut slots),
        DeviceMsg::Ready { resume_from: 0 }
    );
    assert_eq!(
        send(chunk(1024, 512), &mut slots),
        DeviceMsg::Ack { next: 0 },
        "gap"
    );
    assert_eq!(
        send(chunk(0, 512), &mut slots),
        DeviceMsg::Ack { next: 512 }
    );
    assert_eq!(
        send(chunk(0, 512), &mut slots),
        DeviceMsg::Ack { next: 512 },
        "repeat"
    );
    assert_eq!(
        send(chunk(256, 512), &mut slots),
        DeviceMsg::Ack { next: 768 },
        "overlap"
    );
    assert_eq!(
        send(chunk(768, 5), &mut slots),
        DeviceMsg::Error {
            code: ErrorCode::Misaligned { align: 8 }
        }
    );
    let past = HostMsg::chunk(b.len() as u32 - 4, &[0; 8]).unwrap();
    assert_eq!(
        send(past, &mut slots),
        DeviceMsg::Error {
            code: ErrorCode::PastEnd
        }
    );
    assert_eq!(
        send(HostMsg::Finish, &mut slots),
        DeviceMsg::Error {
            code: ErrorCode::Incomplete { next: 768 }
        }
    );
    // A second Begin of the same package continues where it is.
    assert_eq!(
        send(begin(&b, Mode::Install), &mut slots),
        DeviceMsg::Ready { resume_from: 768 }
    );
    let mut at = 768;
    while at < b.len() {
        let reply = send(chunk(at, 512), &mut slots);
        at = (at + 512).min(b.len());
        assert_eq!(reply, DeviceMsg::Ack { next: at as u32 });
    }
    let installed = DeviceMsg::Installed {
        app: "app-b".into(),
        version: 2,
    };
    assert_eq!(send(HostMsg::Finish, &mut slots), installed);
    assert_eq!(
        send(HostMsg::Finish, &mut slots),
        installed,
        "a lost reply is asked again"
    );
    assert_eq!(
        slots.state().candidate,
        Candidate::Pending {
            image: belljar_update::Image {
                slot: Slot::B,
                len: b.len() as u32,
                version: 2
            }
        }
    );
}

#[test]
fn a_dropped_link_or_a_reset_resumes_where_the_durable_write_stopped() {
    let (mut flash, _a) = device_with_a();
    let b = package("app-b", 2, 20_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let mut link = Link::default();
    link.exchange(&begin(&b, Mode::Install), &mut rx, &mut slots, &policy);
    // 11 chunks = 5632 bytes: one sector boundary (4096) crossed.
    for i in 0..11 {
        let msg = HostMsg::chunk(i * 512, &b[i as usize * 512..(i as usize + 1) * 512]).unwrap();
        link.exchange(&msg, &mut rx, &mut slots, &policy);
    }
    // Link drops, the host starts over: same session, exact offset.
    let report = upload(&b, Mode::Install, &mut rx, &mut slots, &policy);
    assert_eq!(report.resumed_from, Some(5632));
    assert!(matches!(
        report.end,
        Sent::Done(DeviceMsg::Installed { .. })
    ));

    // Again with a device reset in the middle: it resumes from the last
    // recorded sector boundary.
    let (mut flash, _a) = device_with_a();
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    link.exchange(&begin(&b, Mode::Install), &mut rx, &mut slots, &policy);
    for i in 0..19 {
        let msg = HostMsg::chunk(i * 512, &b[i as usize * 512..(i as usize + 1) * 512]).unwrap();
        link.exchange(&msg, &mut rx, &mut slots, &policy);
    }
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    assert_eq!(
        slots.candidate_state(),
        CandidateState::Receiving { written: 8192 }
    );
    let report = upload(&b, Mode::Install, &mut Receiver::new(), &mut slots, &policy);
    assert_eq!(report.resumed_from, Some(8192));
    assert_eq!(report.messages as usize, 2 + (b.len() - 8192).div_ceil(512));
    assert!(matches!(
        report.end,
        Sent::Done(DeviceMsg::Installed { .. })
    ));

    // Another package restarts from 0 and replaces the half-received one.
    let c = package("app-c", 3, 5_000);
    let report = upload(&c, Mode::Install, &mut Receiver::new(), &mut slots, &policy);
    assert_eq!(report.resumed_from, Some(0));
    assert_eq!(
        report.end,
        Sent::Done(DeviceMsg::Installed {
            app: "app-c".into(),
            version: 3
        })
    );
}

#[test]
fn run_once_verifies_in_ram_and_never_touches_flash() {
    let (mut flash, a) = device_with_a();
    let b = package("app-b", 2, 5_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let ops = flash.ops();
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let report = upload(&b, Mode::RunOnce, &mut rx, &mut slots, &policy);
    assert_eq!(
        report.end,
        Sent::Done(DeviceMsg::Loaded {
            app: "app-b".into(),
            version: 2
        })
    );
    let loaded = rx.take_loaded().unwrap();
    assert_eq!(verify(&loaded, &policy).unwrap().header.version, 2);
    assert_eq!(rx.take_loaded(), None);
    // A bad one is refused and not handed out.
    let mut bad = b.clone();
    bad[20] ^= 1;
    let report = upload(&bad, Mode::RunOnce, &mut rx, &mut slots, &policy);
    assert!(matches!(
        report.end,
        Sent::Failed(DeviceMsg::Rejected { .. })
    ));
    assert_eq!(rx.take_loaded(), None);
    assert_eq!(slots.flash().ops(), ops);
    assert_eq!(active_bytes(&slots), a);
}

#[test]
fn a_trial_that_fails_or_never_confirms_is_rolled_back() {
    let (flash, a) = device_with_a();
    let b = package("app-b", 2, 3_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let pending = {
        let mut flash = flash.clone();
        let mut slots = Slots::open(&mut flash, CFG).unwrap();
        let report = upload(&b, Mode::Install, &mut Receiver::new(), &mut slots, &policy);
        assert!(matches!(
            report.end,
            Sent::Done(DeviceMsg::Installed { .. })
        ));
        flash
    };

    // The supervisor reports a trap.
    let mut flash = pending.clone();
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    assert!(slots.boot().unwrap().unwrap().trial);
    let mut rx = Receiver::new();
    let mut link = Link::default();
    assert_eq!(
        link.exchange(&begin(&b, Mode::Install), &mut rx, &mut slots, &policy),
        DeviceMsg::Error {
            code: ErrorCode::Busy
        },
        "no new update while one is on trial"
    );
    assert_eq!(
        link.exchange(&HostMsg::Abort, &mut rx, &mut slots, &policy),
        DeviceMsg::Error {
            code: ErrorCode::Busy
        }
    );
    assert!(slots.report_failure().unwrap());
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(!choice.trial);
    assert_eq!(active_bytes(&slots), a);
    assert_eq!(slots.installed_version(), Some(1));

    // The app never confirms: after max_boot_attempts (3) trial boots, A again.
    let mut flash = pending.clone();
    for attempt in 1..=3 {
        let mut slots = Slots::open(&mut flash, CFG).unwrap();
        let choice = slots.boot().unwrap().unwrap();
        assert!(choice.trial, "attempt {attempt}");
        assert_eq!(
            slots.candidate_state(),
            CandidateState::Testing {
                version: 2,
                attempts: attempt
            }
        );
    }
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(!choice.trial);
    assert_eq!(active_bytes(&slots), a);
    assert_eq!(slots.state().candidate, Candidate::Empty);

    // Abort before the reboot forgets a pending candidate.
    let mut flash = pending.clone();
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    assert_eq!(
        Receiver::new().handle(&HostMsg::Abort, &mut slots, &policy),
        DeviceMsg::Aborted
    );
    assert!(!slots.boot().unwrap().unwrap().trial);
}

#[test]
fn lengths_the_slot_or_policy_cannot_hold_are_refused_at_begin() {
    let (mut flash, _a) = device_with_a();
    let vk = verifying_key();
    let mut policy = policy(&vk);
    policy.max_len = 100 * 1024;
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let too_big = HostMsg::Begin {
        len: 48 * 1024 + 1,
        sha256: [0; 32],
        mode: Mode::Install,
    };
    assert_eq!(
        rx.handle(&too_big, &mut slots, &policy),
        DeviceMsg::Error {
            code: ErrorCode::BadLength { max: 48 * 1024 }
        }
    );
    let empty = HostMsg::Begin {
        len: 0,
        sha256: [0; 32],
        mode: Mode::RunOnce,
    };
    assert_eq!(
        rx.handle(&empty, &mut slots, &policy),
        DeviceMsg::Error {
            code: ErrorCode::BadLength { max: 100 * 1024 }
        }
    );
    policy.max_len = 1000;
    let over_policy = HostMsg::Begin {
        len: 1001,
        sha256: [0; 32],
        mode: Mode::RunOnce,
    };
    assert_eq!(
        rx.handle(&over_policy, &mut slots, &policy),
        DeviceMsg::Error {
            code: ErrorCode::BadLength { max: 1000 }
        }
    );
    assert_eq!(slots.state().candidate, Candidate::Empty);
}

#[test]
fn the_host_can_send_smaller_chunks() {
    let (mut flash, _a) = device_with_a();
    let b = package("app-b", 2, 3_000);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, CFG).unwrap();
    let mut rx = Receiver::new();
    let mut link = Link::default();
    let mut up = belljar_update::host::Upload::new(&b, Mode::Install).with_chunk(256);
    let mut msg = up.begin();
    let mut sent = 0;
    let done = loop {
        sent += 1;
        if let HostMsg::Chunk { data, .. } = &msg {
            assert!(data.len() <= 256);
        }
        let reply = link.exchange(&msg, &mut rx, &mut slots, &policy);
        match up.on_reply(&reply) {
            belljar_update::host::Step::Send(next) => msg = next,
            end => break end,
        }
    };
    assert_eq!(
        done,
        belljar_update::host::Step::Done(DeviceMsg::Installed {
            app: "app-b".into(),
            version: 2
        })
    );
    assert_eq!(sent, 2 + b.len().div_ceil(256));
}

/// Installs `pkg` on a flash of another geometry, through the protocol.
fn install_on<const W: usize, const E: usize>(slot_sectors: u32, pkg: &[u8]) -> u32 {
    use belljar_update::host::{Step, Upload};
    use belljar_update::sim_flash::SimFlash;
    let cfg = belljar_update::Config {
        base: E as u32,
        state_sectors: 3,
        slot_sectors,
        max_boot_attempts: 1,
    };
    let mut flash = SimFlash::<W, E>::new(1 + 3 + 2 * slot_sectors as usize + 1);
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open(&mut flash, cfg).unwrap();
    let mut rx = Receiver::new();
    let mut up = Upload::new(pkg, Mode::Install);
    let mut msg = up.begin();
    let end = loop {
        match up.on_reply(&rx.handle(&msg, &mut slots, &policy)) {
            Step::Send(next) => msg = next,
            end => break end,
        }
    };
    assert!(
        matches!(end, Step::Done(DeviceMsg::Installed { .. })),
        "{end:?}"
    );
    let mut slots = Slots::open(&mut flash, cfg).unwrap();
    assert!(slots.boot().unwrap().unwrap().trial);
    assert!(slots.confirm().unwrap());
    let active = slots.active().unwrap();
    let bytes = slots.read_image(&active.image).unwrap();
    assert_eq!(bytes, pkg);
    assert_eq!(
        &slots.flash().memory()[active.range.start as usize..active.range.end as usize],
        pkg
    );
    // Nothing outside the area was touched.
    let mem = slots.flash().memory();
    assert!(
        mem[..E]
            .iter()
            .chain(&mem[mem.len() - E..])
            .all(|&b| b == 0xFF)
    );
    verify(&bytes, &policy).unwrap().header.version
}

#[test]
fn other_flash_geometries_work() {
    let pkg = package("app-b", 2, 5_000);
    // Byte-writable, 1 KiB sectors (8 records per sector).
    assert_eq!(install_on::<1, 1024>(6, &pkg), 2);
    // 256-byte pages: records grow to one page.
    assert_eq!(install_on::<256, 4096>(2, &pkg), 2);
    // 16-byte words, 8 KiB sectors (STM32U5-like).
    assert_eq!(install_on::<16, 8192>(1, &pkg), 2);
}
