//! The COBS + CRC-32 frame decoder on arbitrary byte streams (seeded with
//! real frames among garbage). Asserted: every message yielded came from a
//! frame whose CRC, recomputed here independently, is right and which
//! decodes to exactly that message; byte-by-byte and chunked feeding agree;
//! no more frames are counted than there are `0x00`s.
#![no_main]

use belljar_update::frame::{Decoder, encode_vec};
use belljar_update::proto::{DeviceMsg, ErrorCode, HostMsg, Mode};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Feeds `stream` byte by byte; checks each yielded message against the
/// bytes since the previous `0x00`.
fn check<T>(stream: &[u8], cut: usize)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let mut decoder = Decoder::<T>::new();
    let mut start = 0;
    let mut yielded = Vec::new();
    for (i, &byte) in stream.iter().enumerate() {
        let msg = decoder.push(byte);
        if byte == 0 {
            if let Some(msg) = msg {
                let frame = &stream[start..i];
                let body = cobs::decode_vec(frame).expect("a yielded frame is valid COBS");
                assert!(body.len() >= 4, "a yielded frame holds a CRC");
                let (payload, crc) = body.split_at(body.len() - 4);
                assert_eq!(
                    CRC32.checksum(payload).to_le_bytes(),
                    crc,
                    "a yielded frame has a wrong CRC: {frame:02x?}"
                );
                assert_eq!(
                    postcard::from_bytes::<T>(payload).ok().as_ref(),
                    Some(&msg),
                    "the frame is exactly the message"
                );
                yielded.push(msg);
            }
            start = i + 1;
        } else {
            assert!(msg.is_none(), "only a 0x00 ends a frame");
        }
    }
    let stats = decoder.stats();
    assert_eq!(stats.messages as usize, yielded.len());
    let zeros = stream.iter().filter(|&&b| b == 0).count();
    assert!((stats.messages + stats.dropped()) as usize <= zeros + 1);
    // Fed in two pieces of any size: the same messages and counters.
    let mut pieces = Decoder::<T>::new();
    let mut got = Vec::new();
    let (a, b) = stream.split_at(cut.min(stream.len()));
    for mut piece in [a, b] {
        while !piece.is_empty() {
            if let Some(msg) = pieces.feed(&mut piece) {
                got.push(msg);
            }
        }
    }
    assert_eq!(got, yielded);
    assert_eq!(pieces.stats(), stats);
}

fuzz_target!(
    init: {
        let frames: Vec<Vec<u8>> = [
            encode_vec(&HostMsg::Hello),
            encode_vec(&HostMsg::Begin { len: 300, sha256: [0xAB; 32], mode: Mode::Install }),
            encode_vec(&HostMsg::chunk(512, &[0u8; 200]).unwrap()),
            encode_vec(&HostMsg::chunk(0, &(0..=255).collect::<Vec<u8>>()).unwrap()),
            encode_vec(&HostMsg::Finish),
            encode_vec(&HostMsg::Abort),
        ]
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let device: Vec<Vec<u8>> = [
            encode_vec(&DeviceMsg::Ack { next: 1024 }),
            encode_vec(&DeviceMsg::Error { code: ErrorCode::Incomplete { next: 7 } }),
            encode_vec(&DeviceMsg::Installed { app: "blinky".into(), version: 3 }),
        ]
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let mut seeds = frames.clone();
        seeds.extend(device.iter().cloned());
        // Frames between garbage, after a flush.
        let mut mixed = vec![0x00, 0x05, 0x01];
        for f in frames.iter().chain(&device) {
            mixed.extend_from_slice(&[7, 7, 0]);
            mixed.extend_from_slice(f);
        }
        seeds.push(mixed);
        seeds.push(vec![7u8; 1100]);
        belljar_fuzz::write_seeds(seeds);
    },
    |data: &[u8]| {
        let Some((&cut, stream)) = data.split_first() else { return };
        let cut = usize::from(cut) * 5;
        check::<HostMsg>(stream, cut);
        check::<DeviceMsg>(stream, cut);
    }
);
