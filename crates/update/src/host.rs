//! The host end of the protocol: which message to send next.
//!
//! A pure state machine (no I/O): send [`Upload::begin`], then feed every
//! reply to [`Upload::on_reply`] and send what it returns. On a timeout,
//! send the last message again: every message is safe to repeat.

use sha2::{Digest, Sha256};

use crate::proto::{DeviceMsg, ErrorCode, HostMsg, MAX_CHUNK, Mode};

/// What to do after a reply.
#[expect(
    clippy::large_enum_variant,
    reason = "a step is consumed at once; boxing the message buys nothing"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this message next.
    Send(HostMsg),
    /// `Installed` or `Loaded`.
    Done(DeviceMsg),
    /// `Rejected`, or an error that retrying does not cure.
    Failed(DeviceMsg),
}

/// Sending one package.
pub struct Upload<'p> {
    package: &'p [u8],
    sha256: [u8; 32],
    mode: Mode,
    chunk: usize,
    restarts_left: u32,
}

impl<'p> Upload<'p> {
    /// Sends `package` in [`MAX_CHUNK`] pieces, restarting (`Begin` again,
    /// which resumes) up to 3 times after a device-side flash error.
    pub fn new(package: &'p [u8], mode: Mode) -> Self {
        Upload {
            package,
            sha256: Sha256::digest(package).into(),
            mode,
            chunk: MAX_CHUNK,
            restarts_left: 3,
        }
    }

    /// Uses chunks of `len` bytes (clamped to 1..=[`MAX_CHUNK`]); it must be a
    /// multiple of the device's `align` (see `Status`).
    pub fn with_chunk(mut self, len: usize) -> Self {
        self.chunk = len.clamp(1, MAX_CHUNK);
        self
    }

    /// The first message.
    pub fn begin(&self) -> HostMsg {
        HostMsg::Begin {
            len: self.package.len() as u32,
            sha256: self.sha256,
            mode: self.mode,
        }
    }

    /// The chunk starting at `offset`.
    pub fn chunk_at(&self, offset: u32) -> HostMsg {
        let start = (offset as usize).min(self.package.len());
        let end = (start + self.chunk).min(self.package.len());
        HostMsg::chunk(offset, &self.package[start..end]).expect("chunk <= MAX_CHUNK")
    }

    fn continue_from(&self, next: u32, reply: &DeviceMsg) -> Step {
        let len = self.package.len() as u32;
        if next < len {
            Step::Send(self.chunk_at(next))
        } else if next == len {
            Step::Send(HostMsg::Finish)
        } else {
            Step::Failed(reply.clone())
        }
    }

    /// The next step after `reply`.
    pub fn on_reply(&mut self, reply: &DeviceMsg) -> Step {
        match reply {
            DeviceMsg::Ready { resume_from: next }
            | DeviceMsg::Ack { next }
            | DeviceMsg::Error {
                code: ErrorCode::Incomplete { next },
            } => self.continue_from(*next, reply),
            DeviceMsg::Installed { .. } | DeviceMsg::Loaded { .. } => Step::Done(reply.clone()),
            DeviceMsg::Status { .. } => Step::Send(self.begin()),
            DeviceMsg::Error {
                code: ErrorCode::Flash | ErrorCode::NotStarted,
            } if self.restarts_left > 0 => {
                self.restarts_left -= 1;
                Step::Send(self.begin())
            }
            _ => Step::Failed(reply.clone()),
        }
    }
}
