//! The device end of the protocol: one reply per decoded message.

use alloc::vec::Vec;

use belljar_package::Policy;
use embedded_storage::nor_flash::NorFlash;
use sha2::{Digest, Sha256};

use crate::proto::{DeviceMsg, ErrorCode, HostMsg, MAX_CHUNK, Mode, PROTOCOL, Reject};
use crate::slots::{self, Slots};

struct Transfer {
    mode: Mode,
    len: u32,
    sha256: [u8; 32],
    /// Everything before this is stored (in the slot, or in `ram`).
    next: u32,
    /// The package, for `Mode::RunOnce`.
    ram: Vec<u8>,
}

/// Turns host messages into slot operations and replies.
///
/// Only [`Slots`] operations that never touch the active slot are used:
/// whatever arrives, the active app stays as it is. Install packages are
/// verified by [`Slots::mark_pending`]; `RunOnce` packages are verified in
/// RAM and handed out by [`Receiver::take_loaded`].
#[derive(Default)]
pub struct Receiver {
    transfer: Option<Transfer>,
    loaded: Option<Vec<u8>>,
    /// The answer to the last `Finish`, repeated if the host asks again.
    last_finish: Option<DeviceMsg>,
}

fn sat32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Receiver {
    /// No transfer in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// The verified package of a `RunOnce` transfer (once).
    pub fn take_loaded(&mut self) -> Option<Vec<u8>> {
        self.loaded.take()
    }

    /// Handles one message. `policy` is what packages must satisfy; its
    /// `installed` is raised to the slots' installed version.
    pub fn handle<F: NorFlash>(
        &mut self,
        msg: &HostMsg,
        slots: &mut Slots<F>,
        policy: &Policy<'_>,
    ) -> DeviceMsg {
        match msg {
            HostMsg::Hello => DeviceMsg::Status {
                protocol: PROTOCOL,
                installed: slots.installed_version(),
                candidate: slots.candidate_state(),
                max_chunk: MAX_CHUNK as u16,
                align: u16::try_from(F::WRITE_SIZE).unwrap_or(u16::MAX),
                max_len: slots.slot_size().min(sat32(policy.max_len)),
            },
            HostMsg::Begin { len, sha256, mode } => self.begin(*len, *sha256, *mode, slots, policy),
            HostMsg::Chunk { offset, data } => self.chunk(*offset, data, slots),
            HostMsg::Finish => self.finish(slots, policy),
            HostMsg::Abort => {
                self.transfer = None;
                self.loaded = None;
                self.last_finish = None;
                match slots.discard_candidate() {
                    Ok(_) => DeviceMsg::Aborted,
                    Err(e) => error_reply(e),
                }
            }
            // What runs is the supervisor's to say (it answers `Report`
            // before the receiver sees it).
            HostMsg::Report => DeviceMsg::Error {
                code: ErrorCode::Unsupported,
            },
        }
    }

    fn begin<F: NorFlash>(
        &mut self,
        len: u32,
        sha256: [u8; 32],
        mode: Mode,
        slots: &mut Slots<F>,
        policy: &Policy<'_>,
    ) -> DeviceMsg {
        self.last_finish = None;
        self.loaded = None;
        let max = match mode {
            Mode::Install => slots.slot_size().min(sat32(policy.max_len)),
            Mode::RunOnce => sat32(policy.max_len),
        };
        if len == 0 || len > max {
            return error(ErrorCode::BadLength { max });
        }
        if let Some(t) = &self.transfer
            && t.mode == mode
            && t.len == len
            && t.sha256 == sha256
        {
            return DeviceMsg::Ready {
                resume_from: t.next,
            };
        }
        self.transfer = None;
        let (next, ram) = match mode {
            Mode::Install => match slots.begin_candidate(len, sha256) {
                Ok(next) => (next, Vec::new()),
                Err(e) => return error_reply(e),
            },
            Mode::RunOnce => {
                let mut ram = Vec::new();
                if ram.try_reserve_exact(len as usize).is_err() {
                    return error(ErrorCode::OutOfMemory);
                }
                (0, ram)
            }
        };
        self.transfer = Some(Transfer {
            mode,
            len,
            sha256,
            next,
            ram,
        });
        DeviceMsg::Ready { resume_from: next }
    }

    fn chunk<F: NorFlash>(&mut self, offset: u32, data: &[u8], slots: &mut Slots<F>) -> DeviceMsg {
        let Some(t) = &mut self.transfer else {
            return error(ErrorCode::NotStarted);
        };
        let end = u64::from(offset) + data.len() as u64;
        if end > u64::from(t.len) {
            return error(ErrorCode::PastEnd);
        }
        // A gap (the host is ahead) or bytes already stored (a retry).
        if offset > t.next || end <= u64::from(t.next) {
            return DeviceMsg::Ack { next: t.next };
        }
        let new = &data[(t.next - offset) as usize..];
        match t.mode {
            Mode::RunOnce => {
                t.ram.extend_from_slice(new);
                t.next = end as u32;
                DeviceMsg::Ack { next: t.next }
            }
            Mode::Install => match slots.write_candidate(t.next, new) {
                Ok(next) => {
                    t.next = next;
                    DeviceMsg::Ack { next }
                }
                Err(e @ slots::Error::Misaligned { .. }) => error_reply(e),
                Err(e) => {
                    self.transfer = None;
                    error_reply(e)
                }
            },
        }
    }

    fn finish<F: NorFlash>(&mut self, slots: &mut Slots<F>, policy: &Policy<'_>) -> DeviceMsg {
        let Some(t) = self.transfer.take() else {
            return self
                .last_finish
                .clone()
                .unwrap_or(error(ErrorCode::NotStarted));
        };
        if t.next != t.len {
            let next = t.next;
            self.transfer = Some(t);
            return error(ErrorCode::Incomplete { next });
        }
        let reply = match t.mode {
            Mode::Install => match slots.mark_pending(policy) {
                Ok(header) => DeviceMsg::Installed {
                    app: header.app,
                    version: header.version,
                },
                Err(slots::Error::Rejected(reason)) => DeviceMsg::Rejected { reason },
                Err(e) => return error_reply(e),
            },
            Mode::RunOnce => {
                let policy = Policy {
                    installed: policy.installed.max(slots.installed_version()),
                    ..*policy
                };
                if Sha256::digest(&t.ram).as_slice() != t.sha256 {
                    DeviceMsg::Rejected {
                        reason: Reject::HashMismatch,
                    }
                } else {
                    match belljar_package::verify(&t.ram, &policy) {
                        Ok(ok) => DeviceMsg::Loaded {
                            app: ok.header.app,
                            version: ok.header.version,
                        },
                        Err(e) => DeviceMsg::Rejected {
                            reason: Reject::from(&e),
                        },
                    }
                }
            }
        };
        if let (DeviceMsg::Loaded { .. }, Mode::RunOnce) = (&reply, t.mode) {
            self.loaded = Some(t.ram);
        }
        self.last_finish = Some(reply.clone());
        reply
    }
}

fn error(code: ErrorCode) -> DeviceMsg {
    DeviceMsg::Error { code }
}

fn error_reply<E>(e: slots::Error<E>) -> DeviceMsg {
    use slots::Error as S;
    match e {
        S::Flash(_) | S::Geometry | S::StateArea => error(ErrorCode::Flash),
        S::Busy => error(ErrorCode::Busy),
        S::BadLength { max } => error(ErrorCode::BadLength { max }),
        S::NotReceiving => error(ErrorCode::NotStarted),
        S::OutOfOrder { expected } => DeviceMsg::Ack { next: expected },
        S::PastEnd => error(ErrorCode::PastEnd),
        S::Misaligned { align } => error(ErrorCode::Misaligned {
            align: u16::try_from(align).unwrap_or(u16::MAX),
        }),
        S::Incomplete { written } => error(ErrorCode::Incomplete { next: written }),
        S::Rejected(reason) => DeviceMsg::Rejected { reason },
    }
}
