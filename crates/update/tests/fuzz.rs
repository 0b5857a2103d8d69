//! Property tests of the frame decoder and the receiver. Each prints how many
//! cases it ran (`cargo test -p belljar-update --test fuzz -- --nocapture`).

mod common;

use std::cell::Cell;

use belljar_update::frame::{Decoder, MAX_FRAME, encode_vec};
use belljar_update::proto::{DeviceMsg, ErrorCode, HostMsg, MAX_CHUNK, Mode, Reject};
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sha2::{Digest, Sha256};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn host_msg(max_chunk: usize) -> impl Strategy<Value = HostMsg> {
    let mode = prop_oneof![Just(Mode::Install), Just(Mode::RunOnce)];
    prop_oneof![
        Just(HostMsg::Hello),
        (any::<u32>(), any::<[u8; 32]>(), mode).prop_map(|(len, sha256, mode)| HostMsg::Begin {
            len,
            sha256,
            mode
        }),
        (any::<u32>(), vec(any::<u8>(), 0..=max_chunk))
            .prop_map(|(offset, data)| HostMsg::chunk(offset, &data).unwrap()),
        Just(HostMsg::Finish),
        Just(HostMsg::Abort),
    ]
}

fn device_msg() -> impl Strategy<Value = DeviceMsg> {
    prop_oneof![
        any::<u32>().prop_map(|resume_from| DeviceMsg::Ready { resume_from }),
        any::<u32>().prop_map(|next| DeviceMsg::Ack { next }),
        any::<u32>().prop_map(|next| DeviceMsg::Error {
            code: ErrorCode::Incomplete { next }
        }),
        ("[a-z0-9-]{0,40}", any::<u32>())
            .prop_map(|(app, version)| DeviceMsg::Installed { app, version }),
        (any::<u32>(), any::<u32>()).prop_map(|(installed, offered)| DeviceMsg::Rejected {
            reason: Reject::Downgrade { installed, offered }
        }),
        Just(DeviceMsg::Aborted),
    ]
}

/// Splits `bytes` at arbitrary points, as UART reads do.
fn feed_in_pieces<T: serde::de::DeserializeOwned>(
    decoder: &mut Decoder<T>,
    bytes: &[u8],
    cuts: &[usize],
) -> Vec<T> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &cut in cuts.iter().chain([&usize::MAX]) {
        let (mut piece, tail) = rest.split_at(cut.min(rest.len()));
        rest = tail;
        while !piece.is_empty() {
            if let Some(msg) = decoder.feed(&mut piece) {
                out.push(msg);
            }
        }
    }
    out
}

#[test]
fn arbitrary_bytes_never_panic_and_never_invent_a_message() {
    let garbage = prop_oneof![
        vec(any::<u8>(), 0..3000),
        // Long runs without a 0x00: oversize frames.
        vec(1u8..=255, MAX_FRAME - 10..MAX_FRAME * 3),
        // Mostly zeros and small codes: many tiny frames.
        vec(0u8..4, 0..500),
    ];
    let cases = Cell::new(0u32);
    runner(512)
        .run(&(garbage, vec(0usize..700, 0..8)), |(bytes, cuts)| {
            cases.set(cases.get() + 1);
            let mut whole = Decoder::<HostMsg>::new();
            let one_by_one: Vec<HostMsg> = bytes.iter().filter_map(|&b| whole.push(b)).collect();
            let mut pieces = Decoder::<HostMsg>::new();
            let in_pieces = feed_in_pieces(&mut pieces, &bytes, &cuts);
            prop_assert_eq!(&one_by_one, &in_pieces);
            prop_assert_eq!(whole.stats(), pieces.stats());
            let stats = whole.stats();
            prop_assert_eq!(stats.messages as usize, one_by_one.len());
            let zeros = bytes.iter().filter(|&&b| b == 0).count();
            prop_assert!(((stats.messages + stats.dropped()) as usize) <= zeros + 1);
            // Anything yielded was really in the input, as its exact frame.
            for msg in &one_by_one {
                let frame = encode_vec(msg).unwrap();
                prop_assert!(bytes.windows(frame.len()).any(|w| w == frame));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("fuzz: decoder on arbitrary bytes: {} cases", cases.get());
    assert!(cases.get() >= 512);
}

#[test]
fn frames_between_garbage_are_all_recovered_in_order() {
    let garbage = prop_oneof![
        Just(Vec::new()),
        vec(any::<u8>(), 0..300),
        vec(1u8..=255, MAX_FRAME + 1..MAX_FRAME + 400),
    ];
    let case = (
        vec((host_msg(MAX_CHUNK), garbage), 1..8),
        vec(0usize..900, 0..10),
    );
    let (cases, frames) = (Cell::new(0u32), Cell::new(0u32));
    runner(256)
        .run(&case, |(items, cuts)| {
            cases.set(cases.get() + 1);
            // The sender flushes with a 0x00 before each frame.
            let mut stream = Vec::new();
            for (msg, garbage) in &items {
                stream.extend_from_slice(garbage);
                stream.push(0);
                stream.extend(encode_vec(msg).unwrap());
            }
            let mut decoder = Decoder::<HostMsg>::new();
            let got = feed_in_pieces(&mut decoder, &stream, &cuts);
            let sent: Vec<HostMsg> = items.into_iter().map(|(msg, _)| msg).collect();
            frames.set(frames.get() + sent.len() as u32);
            prop_assert_eq!(got, sent);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "fuzz: frames in garbage: {} cases, {} frames recovered",
        cases.get(),
        frames.get()
    );
    assert!(cases.get() >= 256);
}

/// Flips every bit of `frame` in turn; the damaged frame, followed by a
/// flush and a good `marker` frame, must yield exactly the marker.
fn flip_every_bit<T>(frame: &[u8], marker: &T) -> Result<u64, TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let marker_frame = encode_vec(marker).unwrap();
    for bit in 0..frame.len() * 8 {
        let mut bad = frame.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        bad.push(0);
        bad.extend_from_slice(&marker_frame);
        let mut decoder = Decoder::<T>::new();
        let got: Vec<T> = bad.iter().filter_map(|&b| decoder.push(b)).collect();
        prop_assert_eq!(got, vec![marker.clone()], "bit {}", bit);
    }
    Ok(frame.len() as u64 * 8)
}

#[test]
fn a_single_bit_flip_anywhere_in_a_frame_is_never_yielded() {
    let msgs = prop_oneof![host_msg(96).prop_map(Ok), device_msg().prop_map(Err),];
    let (cases, flips) = (Cell::new(0u32), Cell::new(0u64));
    runner(128)
        .run(&msgs, |msg| {
            cases.set(cases.get() + 1);
            let n = match msg {
                Ok(host) => flip_every_bit(&encode_vec(&host).unwrap(), &HostMsg::Hello)?,
                Err(device) => flip_every_bit(
                    &encode_vec(&device).unwrap(),
                    &DeviceMsg::Ack { next: 0xDEAD },
                )?,
            };
            flips.set(flips.get() + n);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "fuzz: single bit flips: {} frames, {} flipped frames, none yielded",
        cases.get(),
        flips.get()
    );
    assert!(cases.get() >= 128);
}

fn actions(b: &[u8]) -> impl Strategy<Value = Vec<Action>> {
    let len = b.len() as u32;
    let sha: [u8; 32] = Sha256::digest(b).into();
    let b = b.to_vec();
    let near_chunk = (
        0..=len / 512 + 1,
        any::<bool>(),
        0usize..=MAX_CHUNK,
        0u32..16,
    )
        .prop_map(move |(i, real, n, shift)| {
            let offset = i * 512 + if shift < 12 { 0 } else { shift * 8 };
            let start = (offset as usize).min(b.len());
            let data = if real {
                b[start..(start + n).min(b.len())].to_vec()
            } else {
                vec![0x5A; n]
            };
            HostMsg::chunk(offset, &data).unwrap()
        });
    let near_begin = (
        prop_oneof![Just(len), Just(len - 1), 0..70_000u32],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(l, real_sha, install)| HostMsg::Begin {
            len: l,
            sha256: if real_sha { sha } else { [3; 32] },
            mode: if install {
                Mode::Install
            } else {
                Mode::RunOnce
            },
        });
    let action = prop_oneof![
        10 => Just(Action::Honest),
        3 => near_chunk.prop_map(|m| Action::Msg(Box::new(m))),
        1 => near_begin.prop_map(|m| Action::Msg(Box::new(m))),
        1 => host_msg(MAX_CHUNK).prop_map(|m| Action::Msg(Box::new(m))),
        1 => prop_oneof![Just(HostMsg::Abort), Just(HostMsg::Finish)].prop_map(|m| Action::Msg(Box::new(m))),
        1 => Just(Action::Reset),
        1 => (any::<u8>(), 0u16..=256).prop_map(|(after, done)| Action::Cut { after, done }),
        1 => Just(Action::Fail),
    ];
    vec(action, 1..60)
}

#[test]
fn no_message_sequence_touches_the_active_app() {
    let a = package("app-a", 1, 3_000);
    let b = package("app-b", 2, 4_000);
    let mut base = Flash::new(SECTORS);
    install(&mut base, &a);
    let vk = verifying_key();
    let policy = policy(&vk);
    let (cases, steps, installs, trials) = (
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
    );
    runner(256)
        .run(&actions(&b), |actions| {
            cases.set(cases.get() + 1);
            let mut device = Device::new(&base, &a, &b, &policy);
            for action in &actions {
                steps.set(steps.get() + 1);
                device.apply(action).map_err(TestCaseError::fail)?;
            }
            installs.set(installs.get() + device.installs);
            trials.set(trials.get() + device.trials);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "fuzz: receiver: {} cases, {} actions, {} uploads reached Installed, {} trial boots of B; app A intact in all",
        cases.get(),
        steps.get(),
        installs.get(),
        trials.get()
    );
    assert!(cases.get() >= 256);
    assert!(
        installs.get() > 0 && trials.get() > 0,
        "the generator reaches the interesting states"
    );
}
