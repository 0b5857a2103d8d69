//! The messages of the update protocol (postcard-encoded inside [frames](crate::frame)).
//!
//! The host drives, the device answers every message with exactly one reply:
//!
//! ```text
//! host                                   device
//! Hello                              ->  Status { installed, candidate, .. }
//! Begin { len, sha256, mode }        ->  Ready { resume_from }   (0: from the start)
//! Chunk { offset, data } (<= 512 B)  ->  Ack { next }            (send from `next` on)
//! ...
//! Finish                             ->  Installed { app, version } | Loaded { .. } | Rejected { reason }
//! Abort                              ->  Aborted
//! Report                             ->  Report { app, version, slot, trial, fault }
//! (any, when it cannot be done)      ->  Error { code }
//! ```
//!
//! Retries are safe: a chunk is identified by its offset, a repeated or
//! overlapping chunk is not written twice, a chunk beyond `next` is answered
//! with `Ack { next }`, and a repeated `Begin` of the same package (same
//! length and SHA-256) resumes instead of restarting. A repeated `Finish`
//! gets the same answer again.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Version of this protocol, reported in [`DeviceMsg::Status`].
pub const PROTOCOL: u16 = 1;

/// Largest `Chunk` payload.
pub const MAX_CHUNK: usize = 512;

/// Chunk payload bytes (at most [`MAX_CHUNK`]; more does not decode).
pub type ChunkData = heapless::Vec<u8, MAX_CHUNK>;

/// What to do with the package once it is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Write it to the candidate slot and try it on the next boot.
    Install,
    /// Keep it in RAM and run it once; flash is not touched.
    RunOnce,
}

/// Host -> device.
#[expect(
    clippy::large_enum_variant,
    reason = "the chunk is inline so that the device decodes it without allocating"
)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMsg {
    /// Asks for [`DeviceMsg::Status`].
    Hello,
    /// Start (or resume) sending a package of `len` bytes whose SHA-256 is
    /// `sha256` (the package's identity).
    Begin {
        len: u32,
        sha256: [u8; 32],
        mode: Mode,
    },
    /// Package bytes `offset..offset + data.len()`.
    Chunk { offset: u32, data: ChunkData },
    /// All bytes sent: verify the package.
    Finish,
    /// Forget the transfer (and a pending candidate that has not run yet).
    Abort,
    /// Asks for [`DeviceMsg::Report`]: what runs and the last fault (the
    /// fleet agent's view of the device). Answered by the supervisor.
    Report,
}

impl HostMsg {
    /// A chunk message, or `None` if `data` is longer than [`MAX_CHUNK`].
    pub fn chunk(offset: u32, data: &[u8]) -> Option<HostMsg> {
        Some(HostMsg::Chunk {
            offset,
            data: ChunkData::from_slice(data).ok()?,
        })
    }
}

/// The candidate slot as reported in [`DeviceMsg::Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CandidateState {
    Empty,
    /// A transfer whose first `written` bytes are durably stored.
    Receiving {
        written: u32,
    },
    /// Verified, tried on the next boot.
    Pending {
        version: u32,
    },
    /// Running on trial, not yet confirmed.
    Testing {
        version: u32,
        attempts: u8,
    },
}

/// Device -> host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceMsg {
    /// Reply to `Hello`.
    Status {
        protocol: u16,
        /// The confirmed app's version (anti-rollback floor).
        installed: Option<u32>,
        candidate: CandidateState,
        max_chunk: u16,
        /// Chunks other than the last must be a multiple of this long.
        align: u16,
        /// Largest package accepted.
        max_len: u32,
    },
    /// Reply to `Begin`: send from `resume_from` on.
    Ready {
        resume_from: u32,
    },
    /// Reply to `Chunk`: everything before `next` is stored.
    Ack {
        next: u32,
    },
    Error {
        code: ErrorCode,
    },
    /// Verified and pending: it runs (on trial) after the next reboot.
    Installed {
        app: String,
        version: u32,
    },
    /// Verified and held in RAM (`Mode::RunOnce`).
    Loaded {
        app: String,
        version: u32,
    },
    /// The package was refused; the candidate is discarded.
    Rejected {
        reason: Reject,
    },
    /// Reply to `Abort`.
    Aborted,
    /// Reply to `Report`.
    Report {
        /// The app running now (or last started), and its version.
        app: Option<String>,
        version: Option<u32>,
        /// The slot it came from (`None`: a one-off run from RAM, or none).
        slot: Option<crate::Slot>,
        /// It runs on trial (not yet confirmed).
        trial: bool,
        /// The last fault (a trap, a refused or unloadable package), at most
        /// [`MAX_FAULT`] bytes.
        fault: Option<String>,
    },
}

/// The longest fault text in a [`DeviceMsg::Report`].
pub const MAX_FAULT: usize = 200;

/// Why a message could not be carried out (the transfer may go on unless noted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// `Chunk` or `Finish` without a `Begin`.
    NotStarted,
    /// `Begin` with a length of 0 or above `max`.
    BadLength { max: u32 },
    /// A chunk reaching past the announced length.
    PastEnd,
    /// A chunk that is not the last one is not a multiple of `align` long.
    Misaligned { align: u16 },
    /// `Finish` before all bytes arrived.
    Incomplete { next: u32 },
    /// A candidate is running on trial: confirm or roll it back first.
    Busy,
    /// The RAM buffer for `RunOnce` could not be allocated.
    OutOfMemory,
    /// Flash failed; the transfer is dropped, `Begin` again to resume.
    Flash,
    /// This end does not answer that message (e.g. `Report` without a
    /// supervisor).
    Unsupported,
}

/// Why a package was refused (mirrors [`belljar_package::Error`], plus the
/// identity check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reject {
    /// The received bytes do not hash to the SHA-256 announced in `Begin`.
    HashMismatch,
    Truncated,
    BadMagic,
    UnsupportedFormat {
        format: u16,
    },
    Oversize {
        len: u32,
        max: u32,
    },
    BadHeader,
    BadSignature,
    PayloadMismatch,
    WrongTarget,
    WrongWasmtime,
    WrongProfile {
        profile: u32,
    },
    Downgrade {
        installed: u32,
        offered: u32,
    },
}

impl From<&belljar_package::Error> for Reject {
    fn from(e: &belljar_package::Error) -> Reject {
        use belljar_package::Error as E;
        let sat = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match e {
            E::Truncated => Reject::Truncated,
            E::BadMagic => Reject::BadMagic,
            E::UnsupportedFormat(format) => Reject::UnsupportedFormat { format: *format },
            E::Oversize { len, max } => Reject::Oversize {
                len: sat(*len),
                max: sat(*max),
            },
            E::BadHeader => Reject::BadHeader,
            E::BadSignature => Reject::BadSignature,
            E::PayloadMismatch => Reject::PayloadMismatch,
            E::WrongTarget { .. } => Reject::WrongTarget,
            E::WrongWasmtime { .. } => Reject::WrongWasmtime,
            E::WrongProfile { package } => Reject::WrongProfile { profile: *package },
            E::Downgrade { installed, offered } => Reject::Downgrade {
                installed: *installed,
                offered: *offered,
            },
        }
    }
}
