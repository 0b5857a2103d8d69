//! Framing of messages on a byte stream (UART).
//!
//! ```text
//! frame = COBS( postcard(message) | CRC-32(postcard(message)) as u32 LE ) | 0x00
//! ```
//!
//! COBS removes every `0x00` from the frame, so `0x00` only ever ends a frame
//! and a receiver that lost track resynchronises on the next one. The CRC is
//! CRC-32/ISO-HDLC (the Ethernet/zlib one). A sender may put an extra `0x00`
//! before a frame to flush whatever half frame the receiver holds; empty
//! frames are ignored.
//!
//! The [`Decoder`] keeps at most [`MAX_FRAME`] encoded bytes: longer frames,
//! undecodable COBS, a wrong CRC, or bytes that are not exactly one message
//! are dropped (and counted in [`DecoderStats`]), never yielded.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use serde::Serialize;

use crate::CRC32;
use serde::de::DeserializeOwned;

/// Largest encoded frame, without its `0x00` terminator.
pub const MAX_FRAME: usize = 1024;

/// Largest `postcard(message) | CRC` that fits a frame after COBS.
pub const MAX_BODY: usize = MAX_FRAME - MAX_FRAME.div_ceil(254);

const CRC_LEN: usize = 4;

/// Why a message could not be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The message is larger than a frame (or the output buffer).
    TooLarge,
}

/// Frames `msg` into `out`; returns the frame including its `0x00`.
pub fn encode<'o, T: Serialize>(msg: &T, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    let mut body = [0u8; MAX_BODY];
    let len = postcard::to_slice(msg, &mut body[..MAX_BODY - CRC_LEN])
        .map_err(|_| EncodeError::TooLarge)?
        .len();
    let crc = CRC32.checksum(&body[..len]);
    body[len..len + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    let end = out.len().saturating_sub(1);
    let n = cobs::try_encode(&body[..len + CRC_LEN], &mut out[..end])
        .map_err(|_| EncodeError::TooLarge)?;
    out[n] = 0;
    Ok(&out[..n + 1])
}

/// Frames `msg` into a new vector (including the `0x00`).
pub fn encode_vec<T: Serialize>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode(msg, &mut out)?.len();
    out.truncate(n);
    Ok(out)
}

/// What a [`Decoder`] has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Messages yielded.
    pub messages: u32,
    /// Frames longer than [`MAX_FRAME`].
    pub oversize: u32,
    /// Frames whose COBS encoding is invalid.
    pub bad_cobs: u32,
    /// Frames too short for a CRC or whose CRC does not match.
    pub bad_crc: u32,
    /// Frames with a good CRC that are not exactly one message.
    pub bad_message: u32,
}

impl DecoderStats {
    /// Frames dropped for any reason.
    pub fn dropped(&self) -> u32 {
        self.oversize + self.bad_cobs + self.bad_crc + self.bad_message
    }
}

/// Turns a byte stream into messages of type `T`, in a fixed buffer.
pub struct Decoder<T> {
    buf: [u8; MAX_FRAME],
    len: usize,
    /// The current frame outgrew the buffer: skip to the next `0x00`.
    overflow: bool,
    stats: DecoderStats,
    _msg: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Default for Decoder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned> Decoder<T> {
    /// An empty decoder (about 1 KiB; can live in a `static`).
    pub const fn new() -> Self {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
            stats: DecoderStats {
                messages: 0,
                oversize: 0,
                bad_cobs: 0,
                bad_crc: 0,
                bad_message: 0,
            },
            _msg: PhantomData,
        }
    }

    /// Counters of messages and dropped frames.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Takes one byte; returns a message when it completed a valid frame.
    pub fn push(&mut self, byte: u8) -> Option<T> {
        if byte != 0 {
            if self.overflow {
                return None;
            }
            if self.len == MAX_FRAME {
                self.overflow = true;
                self.stats.oversize += 1;
                return None;
            }
            self.buf[self.len] = byte;
            self.len += 1;
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = false;
        if overflow || len == 0 {
            return None;
        }
        let msg = self.decode(len);
        if msg.is_some() {
            self.stats.messages += 1;
        }
        msg
    }

    /// Takes bytes from the front of `input` until a message completes (then
    /// `input` holds the rest) or `input` is used up.
    pub fn feed(&mut self, input: &mut &[u8]) -> Option<T> {
        while let Some((&byte, rest)) = input.split_first() {
            *input = rest;
            if let Some(msg) = self.push(byte) {
                return Some(msg);
            }
        }
        None
    }

    fn decode(&mut self, len: usize) -> Option<T> {
        let Ok(n) = cobs::decode_in_place(&mut self.buf[..len]) else {
            self.stats.bad_cobs += 1;
            return None;
        };
        if n < CRC_LEN {
            self.stats.bad_crc += 1;
            return None;
        }
        let (body, crc) = self.buf[..n].split_at(n - CRC_LEN);
        if CRC32.checksum(body).to_le_bytes() != crc {
            self.stats.bad_crc += 1;
            return None;
        }
        match postcard::take_from_bytes::<T>(body) {
            Ok((msg, [])) => Some(msg),
            _ => {
                self.stats.bad_message += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{DeviceMsg, HostMsg, MAX_CHUNK, Mode};

    #[test]
    fn a_frame_has_no_zero_but_its_end_and_round_trips() {
        let msg = HostMsg::chunk(512, &[0u8; MAX_CHUNK]).unwrap();
        let frame = encode_vec(&msg).unwrap();
        assert!(frame.len() <= MAX_FRAME + 1);
        assert_eq!(frame.iter().position(|&b| b == 0), Some(frame.len() - 1));
        let mut d = Decoder::<HostMsg>::new();
        let mut input = frame.as_slice();
        assert_eq!(d.feed(&mut input), Some(msg));
        assert!(input.is_empty());
    }

    #[test]
    fn the_crc_is_crc32_iso_hdlc_over_the_postcard_bytes() {
        let msg = HostMsg::Begin {
            len: 300,
            sha256: [0xAB; 32],
            mode: Mode::RunOnce,
        };
        let frame = encode_vec(&msg).unwrap();
        let decoded = cobs::decode_vec(&frame[..frame.len() - 1]).unwrap();
        let body = postcard::to_allocvec(&msg).unwrap();
        assert_eq!(decoded[..body.len()], body[..]);
        // "123456789" -> 0xCBF43926 is the catalogue check value of CRC-32/ISO-HDLC.
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(decoded[body.len()..], CRC32.checksum(&body).to_le_bytes());
    }

    #[test]
    fn bad_frames_are_counted_and_the_next_one_decodes() {
        let good = encode_vec(&DeviceMsg::Ack { next: 1024 }).unwrap();
        let mut bad_crc = good.clone();
        bad_crc[2] ^= 0x01;
        let mut stream = Vec::new();
        stream.extend_from_slice(&bad_crc);
        stream.extend_from_slice(&[7u8; MAX_FRAME + 10]); // oversize
        stream.push(0);
        stream.extend_from_slice(&[0x05, 1, 0]); // COBS says 4 more bytes, has 1
        stream.extend_from_slice(&[1, 1, 1, 1, 0]); // decodes to 3 zeros: too short for a CRC
        // Good CRC but two messages in one frame.
        let mut two = postcard::to_allocvec(&DeviceMsg::Aborted).unwrap();
        two.extend(postcard::to_allocvec(&DeviceMsg::Aborted).unwrap());
        let crc = CRC32.checksum(&two).to_le_bytes();
        two.extend_from_slice(&crc);
        stream.extend(cobs::encode_vec(&two));
        stream.push(0);
        stream.extend_from_slice(&good);
        let mut d = Decoder::<DeviceMsg>::new();
        let got: Vec<_> = stream.iter().filter_map(|&b| d.push(b)).collect();
        assert_eq!(got, [DeviceMsg::Ack { next: 1024 }]);
        assert_eq!(
            d.stats(),
            DecoderStats {
                messages: 1,
                oversize: 1,
                bad_cobs: 1,
                bad_crc: 2,
                bad_message: 1,
            }
        );
    }

    #[test]
    fn a_too_small_output_buffer_is_an_error() {
        let msg = HostMsg::chunk(0, &[1u8; 100]).unwrap();
        assert_eq!(encode(&msg, &mut [0u8; 50]), Err(EncodeError::TooLarge));
        assert_eq!(encode(&msg, &mut []), Err(EncodeError::TooLarge));
    }
}
