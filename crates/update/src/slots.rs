//! Two app slots and a power-safe boot state on a NOR flash.
//!
//! See the [crate documentation](crate) for the layout and the state machine.
//! Every state change is one record appended to the state area; a record
//! is only valid when its CRC matches, so a write cut by a power loss leaves
//! the previous record in charge. Package bytes are only ever written to
//! the *candidate* slot (the one that is not active), and a candidate only
//! becomes `Pending` after [`belljar_package::verify`] accepted it.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use belljar_package::{Header, Policy};
use embedded_storage::nor_flash::NorFlash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::CRC32;
use crate::proto::{CandidateState, Reject};
use crate::xip::MappedFlash;

/// Where the update area lies in the flash and how patient the boot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Offset of the area in the flash (a multiple of the erase size).
    pub base: u32,
    /// Erase sectors of the boot-state area (at least 2).
    pub state_sectors: u32,
    /// Erase sectors of each app slot (a package must fit one slot).
    pub slot_sectors: u32,
    /// Boots a candidate gets on trial before it is rolled back (at least 1).
    pub max_boot_attempts: u8,
}

/// One of the two app slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// A verified package stored in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub slot: Slot,
    /// Package length in bytes.
    pub len: u32,
    /// The app version from its signed header.
    pub version: u32,
}

/// The candidate slot's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Candidate {
    /// Nothing (or nothing usable) in the candidate slot.
    Empty,
    /// A package of `len` bytes with this SHA-256 is arriving; its first
    /// `written` bytes are durably stored.
    Receiving {
        len: u32,
        sha256: [u8; 32],
        written: u32,
    },
    /// Verified; the next boot runs it on trial.
    Pending { image: Image },
    /// Booted `attempts` times on trial, not confirmed yet.
    Testing { image: Image, attempts: u8 },
}

/// What one state record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootState {
    /// The confirmed app; its version is the anti-rollback floor.
    pub active: Option<Image>,
    pub candidate: Candidate,
}

impl Default for BootState {
    fn default() -> Self {
        BootState {
            active: None,
            candidate: Candidate::Empty,
        }
    }
}

/// The app to run, from [`Slots::boot`] or [`Slots::active`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootChoice {
    pub image: Image,
    /// Where the package bytes are in the flash (absolute offsets).
    pub range: Range<u32>,
    /// A candidate on trial: call [`Slots::confirm`] once it is healthy.
    pub trial: bool,
}

/// Why a slot operation failed. Nothing of the active app is touched in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The flash failed (or the power went).
    Flash(E),
    /// The [`Config`] does not fit this flash (alignment, size, sector counts).
    Geometry,
    /// The state area has no usable room (a flash that no longer erases).
    StateArea,
    /// A candidate is on trial: confirm it or roll it back first.
    Busy,
    /// A package length of 0 or above the slot size `max`.
    BadLength { max: u32 },
    /// No transfer in progress (call [`Slots::begin_candidate`]).
    NotReceiving,
    /// Chunks must come in order; this one should start at `expected`.
    OutOfOrder { expected: u32 },
    /// The chunk reaches past the announced length.
    PastEnd,
    /// Only the last chunk may be a length that is not a multiple of `align`.
    Misaligned { align: u32 },
    /// The package is not complete: `written` bytes so far.
    Incomplete { written: u32 },
    /// Verification refused the package; the candidate was discarded.
    Rejected(Reject),
}

const MAGIC: [u8; 4] = *b"BJST";
const RECORD_HEAD: usize = 4 + 4 + 2;
const RECORD_CRC: usize = 4;
const RECORD_MIN: usize = 128;

#[derive(Clone, Copy, Debug)]
struct Cursor {
    sector: u32,
    index: u32,
}

/// The two slots and the boot state on flash `F`.
pub struct Slots<F> {
    flash: F,
    cfg: Config,
    state: BootState,
    /// Sequence number of the newest record.
    seq: u32,
    /// Where the next record goes.
    cursor: Cursor,
    /// The sector holding the newest valid record: never erased.
    newest_sector: Option<u32>,
    /// Bytes of the candidate written in this session (after `begin_candidate`).
    rx_written: Option<u32>,
    /// How to see stored bytes in place ([`Slots::open_mapped`]): a
    /// received candidate is then verified without a RAM copy.
    mapped: Option<Mapper<F>>,
}

/// [`MappedFlash::mapped`] of a flash type, kept as a function so that the
/// generic [`NorFlash`] code can use it when the flash offers it.
type Mapper<F> = for<'a> fn(&'a F, u32, u32) -> Option<&'a [u8]>;

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl<F: NorFlash> Slots<F> {
    const RECORD: usize = round_up_const(
        if F::WRITE_SIZE > RECORD_MIN {
            F::WRITE_SIZE
        } else {
            RECORD_MIN
        },
        F::WRITE_SIZE,
    );
    const SECTOR: u32 = F::ERASE_SIZE as u32;

    /// Opens the slots on `flash`, recovering the newest valid boot state
    /// from whatever the flash holds (a blank or garbage state area means no
    /// app and no candidate). Only reads. Pass `&mut flash` to keep the
    /// flash when opening fails.
    pub fn open(mut flash: F, cfg: Config) -> Result<Self, Error<F::Error>> {
        Self::check_geometry(&flash, &cfg)?;
        let per_sector = (F::ERASE_SIZE / Self::RECORD) as u32;
        let mut buf = vec![0u8; Self::RECORD];
        let mut newest: Option<(u32, Cursor, BootState)> = None;
        for sector in 0..cfg.state_sectors {
            for index in 0..per_sector {
                let at = Cursor { sector, index };
                flash
                    .read(Self::record_offset(&cfg, at), &mut buf)
                    .map_err(Error::Flash)?;
                if let Some((seq, state)) = parse_record(&buf)
                    && newest.as_ref().is_none_or(|(s, _, _)| seq > *s)
                {
                    newest = Some((seq, at, state));
                }
            }
        }
        let (seq, cursor, state, newest_sector) = match newest {
            Some((seq, at, state)) => (
                seq,
                Cursor {
                    sector: at.sector,
                    index: at.index + 1,
                },
                state,
                Some(at.sector),
            ),
            None => (
                0,
                Cursor {
                    sector: 0,
                    index: 0,
                },
                BootState::default(),
                None,
            ),
        };
        Ok(Slots {
            flash,
            cfg,
            state,
            seq,
            cursor,
            newest_sector,
            rx_written: None,
            mapped: None,
        })
    }

    /// [`Self::open`] on a memory-mapped flash: stored packages are also
    /// verified where they lie ([`Self::mark_pending`] makes no RAM copy of
    /// the candidate; [`Self::mapped_image`] for the boot).
    pub fn open_mapped(flash: F, cfg: Config) -> Result<Self, Error<F::Error>>
    where
        F: MappedFlash,
    {
        let mut slots = Self::open(flash, cfg)?;
        slots.mapped = Some(F::mapped);
        Ok(slots)
    }

    fn check_geometry(flash: &F, cfg: &Config) -> Result<(), Error<F::Error>> {
        let (e, w, r) = (F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE);
        let fits = || {
            let sectors = u64::from(cfg.state_sectors) + 2 * u64::from(cfg.slot_sectors);
            u64::from(cfg.base) + sectors * e as u64 <= flash.capacity() as u64
                && u64::from(cfg.slot_sectors) * (e as u64) <= u64::from(u32::MAX)
        };
        let ok = w > 0
            && r > 0
            && e.is_multiple_of(w)
            && e.is_multiple_of(Self::RECORD)
            && Self::RECORD.is_multiple_of(r)
            && e.is_multiple_of(r)
            && (cfg.base as usize).is_multiple_of(e)
            && cfg.state_sectors >= 2
            && cfg.slot_sectors >= 1
            && cfg.max_boot_attempts >= 1
            && fits();
        if ok { Ok(()) } else { Err(Error::Geometry) }
    }

    fn record_offset(cfg: &Config, at: Cursor) -> u32 {
        cfg.base + at.sector * Self::SECTOR + at.index * Self::RECORD as u32
    }

    /// The recovered (or last written) boot state.
    pub fn state(&self) -> &BootState {
        &self.state
    }

    /// The configuration the slots were opened with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The flash (e.g. to read a memory-mapped slot).
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// Gives the flash back (to reopen it, as a reboot does).
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// The confirmed app's version: packages older than this are refused.
    pub fn installed_version(&self) -> Option<u32> {
        self.state.active.map(|image| image.version)
    }

    /// Bytes one slot holds: the largest package.
    pub fn slot_size(&self) -> u32 {
        self.cfg.slot_sectors * Self::SECTOR
    }

    /// The absolute flash range of a slot.
    pub fn slot_range(&self, slot: Slot) -> Range<u32> {
        let index = match slot {
            Slot::A => 0,
            Slot::B => 1,
        };
        let start =
            self.cfg.base + (self.cfg.state_sectors + index * self.cfg.slot_sectors) * Self::SECTOR;
        start..start + self.slot_size()
    }

    /// The slot updates are written to: the one that is not active.
    pub fn candidate_slot(&self) -> Slot {
        self.state
            .active
            .map_or(Slot::A, |image| image.slot.other())
    }

    /// The candidate as the protocol reports it.
    pub fn candidate_state(&self) -> CandidateState {
        match self.state.candidate {
            Candidate::Empty => CandidateState::Empty,
            Candidate::Receiving { written, .. } => CandidateState::Receiving {
                written: self.rx_written.unwrap_or(written),
            },
            Candidate::Pending { image } => CandidateState::Pending {
                version: image.version,
            },
            Candidate::Testing { image, attempts } => CandidateState::Testing {
                version: image.version,
                attempts,
            },
        }
    }

    fn choice(&self, image: Image, trial: bool) -> BootChoice {
        let start = self.slot_range(image.slot).start;
        BootChoice {
            image,
            range: start..start + image.len,
            trial,
        }
    }

    /// The confirmed app, if any.
    pub fn active(&self) -> Option<BootChoice> {
        self.state.active.map(|image| self.choice(image, false))
    }

    /// Reads a stored package into RAM (for flashes that are not memory-mapped;
    /// on a [`MappedFlash`] see [`Self::mapped_image`]).
    pub fn read_image(&mut self, image: &Image) -> Result<Vec<u8>, Error<F::Error>> {
        let start = self.slot_range(image.slot).start;
        self.read_bytes(start, image.len)
    }

    fn read_bytes(&mut self, start: u32, len: u32) -> Result<Vec<u8>, Error<F::Error>> {
        let mut bytes = vec![0u8; round_up(len as usize, F::READ_SIZE)];
        self.flash.read(start, &mut bytes).map_err(Error::Flash)?;
        bytes.truncate(len as usize);
        Ok(bytes)
    }

    fn is_blank(&mut self, start: u32, len: u32) -> Result<bool, Error<F::Error>> {
        let mut buf = vec![0u8; Self::RECORD];
        let mut at = start;
        while at < start + len {
            let n = (Self::RECORD as u32).min(start + len - at) as usize;
            self.flash.read(at, &mut buf[..n]).map_err(Error::Flash)?;
            if buf[..n].iter().any(|&b| b != 0xFF) {
                return Ok(false);
            }
            at += n as u32;
        }
        Ok(true)
    }

    /// Erases one sector unless it already is blank.
    fn clear_sector(&mut self, start: u32) -> Result<(), Error<F::Error>> {
        if !self.is_blank(start, Self::SECTOR)? {
            self.flash
                .erase(start, start + Self::SECTOR)
                .map_err(Error::Flash)?;
        }
        Ok(())
    }

    /// Appends a record holding `state`; `self.state` changes only if it was
    /// written and reads back intact.
    fn write_record(&mut self, state: BootState) -> Result<(), Error<F::Error>> {
        let per_sector = (F::ERASE_SIZE / Self::RECORD) as u32;
        let mut switched = false;
        loop {
            if self.cursor.index >= per_sector {
                let next = (self.cursor.sector + 1) % self.cfg.state_sectors;
                if switched || Some(next) == self.newest_sector {
                    return Err(Error::StateArea);
                }
                switched = true;
                self.cursor = Cursor {
                    sector: next,
                    index: 0,
                };
                self.clear_sector(self.cfg.base + next * Self::SECTOR)?;
            }
            let offset = Self::record_offset(&self.cfg, self.cursor);
            if !self.is_blank(offset, Self::RECORD as u32)? {
                // A record cut by a power loss: skip it.
                self.cursor.index += 1;
                continue;
            }
            // Numbers are never reused, even when a write fails.
            self.seq += 1;
            self.cursor.index += 1;
            let record = encode_record(self.seq, &state, Self::RECORD);
            self.flash.write(offset, &record).map_err(Error::Flash)?;
            let mut back = vec![0u8; Self::RECORD];
            self.flash.read(offset, &mut back).map_err(Error::Flash)?;
            if back != record {
                continue;
            }
            self.newest_sector = Some(self.cursor.sector);
            self.state = state;
            return Ok(());
        }
    }

    fn with_candidate(&self, candidate: Candidate) -> BootState {
        BootState {
            active: self.state.active,
            candidate,
        }
    }

    /// Starts (or resumes) receiving a package of `len` bytes with this
    /// SHA-256 into the candidate slot. Returns the offset to send from:
    /// what is already durably stored of the same package, else 0 (the old
    /// candidate is dropped). Refused while a candidate is on trial.
    pub fn begin_candidate(&mut self, len: u32, sha256: [u8; 32]) -> Result<u32, Error<F::Error>> {
        if let Candidate::Testing { .. } = self.state.candidate {
            return Err(Error::Busy);
        }
        let max = self.slot_size();
        if len == 0 || len > max {
            return Err(Error::BadLength { max });
        }
        let resume = match self.state.candidate {
            Candidate::Receiving {
                len: l,
                sha256: s,
                written,
            } if l == len
                && s == sha256
                && written <= len
                && (written.is_multiple_of(Self::SECTOR) || written == len) =>
            {
                if let Some(at) = self.rx_written {
                    return Ok(at);
                }
                written
            }
            _ => {
                self.rx_written = None;
                self.write_record(self.with_candidate(Candidate::Receiving {
                    len,
                    sha256,
                    written: 0,
                }))?;
                0
            }
        };
        // Sectors from `resume` on may hold a cut write, an older package or
        // a half-done erase: make them blank.
        let slot = self.slot_range(self.candidate_slot()).start;
        let mut at = resume;
        while at < len {
            self.clear_sector(slot + at)?;
            at += Self::SECTOR;
        }
        self.rx_written = Some(resume);
        Ok(resume)
    }

    /// Writes the next bytes of the candidate, at `offset` (which must be
    /// where the previous chunk ended). Progress is recorded durably at every
    /// sector boundary and at the end. Returns the new end.
    pub fn write_candidate(&mut self, offset: u32, data: &[u8]) -> Result<u32, Error<F::Error>> {
        let Candidate::Receiving {
            len,
            sha256,
            written: committed,
        } = self.state.candidate
        else {
            return Err(Error::NotReceiving);
        };
        let Some(written) = self.rx_written else {
            return Err(Error::NotReceiving);
        };
        if offset != written {
            return Err(Error::OutOfOrder { expected: written });
        }
        let end = u32::try_from(data.len())
            .ok()
            .and_then(|n| offset.checked_add(n))
            .filter(|&end| end <= len)
            .ok_or(Error::PastEnd)?;
        if data.is_empty() {
            return Ok(end);
        }
        if !data.len().is_multiple_of(F::WRITE_SIZE) && end != len {
            return Err(Error::Misaligned {
                align: F::WRITE_SIZE as u32,
            });
        }
        let at = self.slot_range(self.candidate_slot()).start + offset;
        let result = if data.len().is_multiple_of(F::WRITE_SIZE) {
            self.flash.write(at, data)
        } else {
            // The last word is padded with the erased value.
            let mut padded = vec![0xFF; round_up(data.len(), F::WRITE_SIZE)];
            padded[..data.len()].copy_from_slice(data);
            self.flash.write(at, &padded)
        };
        if let Err(e) = result {
            // The words around `offset` are now unknown: resume via `begin_candidate`.
            self.rx_written = None;
            return Err(Error::Flash(e));
        }
        self.rx_written = Some(end);
        let durable = if end == len {
            len
        } else {
            end / Self::SECTOR * Self::SECTOR
        };
        if durable > committed {
            let progress = self.with_candidate(Candidate::Receiving {
                len,
                sha256,
                written: durable,
            });
            if let Err(e) = self.write_record(progress) {
                self.rx_written = None;
                return Err(e);
            }
        }
        Ok(end)
    }

    /// Verifies the complete candidate (its SHA-256 against the one given to
    /// `begin_candidate`, then [`belljar_package::verify`] with `policy`,
    /// whose `installed` is raised to [`Self::installed_version`]) and marks
    /// it pending: the next [`Self::boot`] runs it on trial. A refused
    /// package is discarded ([`Error::Rejected`]).
    pub fn mark_pending(&mut self, policy: &Policy<'_>) -> Result<Header, Error<F::Error>> {
        let Candidate::Receiving { len, sha256, .. } = self.state.candidate else {
            return Err(Error::NotReceiving);
        };
        match self.rx_written {
            Some(written) if written == len => {}
            Some(written) => return Err(Error::Incomplete { written }),
            None => return Err(Error::NotReceiving),
        }
        let slot = self.candidate_slot();
        let start = self.slot_range(slot).start;
        let copy;
        let bytes = match self.mapped.and_then(|map| map(&self.flash, start, len)) {
            Some(in_place) => in_place,
            None => {
                copy = self.read_bytes(start, len)?;
                &copy[..]
            }
        };
        let verdict = if Sha256::digest(bytes).as_slice() != sha256 {
            Err(Reject::HashMismatch)
        } else {
            let policy = Policy {
                installed: policy.installed.max(self.installed_version()),
                ..*policy
            };
            belljar_package::verify(bytes, &policy)
                .map(|ok| ok.header)
                .map_err(|e| Reject::from(&e))
        };
        self.rx_written = None;
        match verdict {
            Ok(header) => {
                let image = Image {
                    slot,
                    len,
                    version: header.version,
                };
                self.write_record(self.with_candidate(Candidate::Pending { image }))?;
                Ok(header)
            }
            Err(reason) => {
                self.write_record(self.with_candidate(Candidate::Empty))?;
                Err(Error::Rejected(reason))
            }
        }
    }

    /// Forgets a candidate that is arriving or pending. `Ok(false)` if there
    /// was none; [`Error::Busy`] if it is on trial.
    pub fn discard_candidate(&mut self) -> Result<bool, Error<F::Error>> {
        match self.state.candidate {
            Candidate::Empty => Ok(false),
            Candidate::Testing { .. } => Err(Error::Busy),
            Candidate::Receiving { .. } | Candidate::Pending { .. } => {
                self.rx_written = None;
                self.write_record(self.with_candidate(Candidate::Empty))?;
                Ok(true)
            }
        }
    }

    /// Decides what runs at boot (call once per boot): a pending candidate
    /// starts its trial, a candidate on trial gets another boot until
    /// `max_boot_attempts`, then it is rolled back; otherwise the active
    /// app. `None`: no app installed. On an error, run [`Self::active`].
    pub fn boot(&mut self) -> Result<Option<BootChoice>, Error<F::Error>> {
        self.rx_written = None;
        match self.state.candidate {
            Candidate::Pending { image } => {
                self.write_record(self.with_candidate(Candidate::Testing { image, attempts: 1 }))?;
                Ok(Some(self.choice(image, true)))
            }
            Candidate::Testing { image, attempts } if attempts < self.cfg.max_boot_attempts => {
                self.write_record(self.with_candidate(Candidate::Testing {
                    image,
                    attempts: attempts + 1,
                }))?;
                Ok(Some(self.choice(image, true)))
            }
            Candidate::Testing { .. } => {
                self.write_record(self.with_candidate(Candidate::Empty))?;
                Ok(self.active())
            }
            Candidate::Empty | Candidate::Receiving { .. } => Ok(self.active()),
        }
    }

    /// The app on trial is healthy: it becomes the active app and its version
    /// the anti-rollback floor. `Ok(false)` if no app is on trial.
    pub fn confirm(&mut self) -> Result<bool, Error<F::Error>> {
        let Candidate::Testing { image, .. } = self.state.candidate else {
            return Ok(false);
        };
        self.write_record(BootState {
            active: Some(image),
            candidate: Candidate::Empty,
        })?;
        Ok(true)
    }

    /// The app on trial failed (trapped, hung): roll back, the next boot runs
    /// the active app. `Ok(false)` if no app is on trial.
    pub fn report_failure(&mut self) -> Result<bool, Error<F::Error>> {
        let Candidate::Testing { .. } = self.state.candidate else {
            return Ok(false);
        };
        self.write_record(self.with_candidate(Candidate::Empty))?;
        Ok(true)
    }
}

impl<F: NorFlash + MappedFlash> Slots<F> {
    /// A stored package where it lies in the flash (no copy), e.g. to verify
    /// it and deserialize it in place. `None` if the image does not fit its
    /// slot (a boot state from another layout).
    ///
    /// Package bytes are only written to the [candidate
    /// slot](Self::candidate_slot), so the bytes of `image` stay as they are
    /// while [`Self::may_write`] is false for its slot.
    pub fn mapped_image(&self, image: &Image) -> Option<&[u8]> {
        let slot = self.slot_range(image.slot);
        if image.len > slot.end - slot.start {
            return None;
        }
        self.flash.mapped(slot.start, image.len)
    }
}

impl<F: NorFlash> Slots<F> {
    /// Whether any operation of these slots can erase or write `slot` in
    /// the current state: only the candidate slot is ever written, and not
    /// while its candidate is on trial ([`Error::Busy`]) until it is
    /// confirmed (then the other slot becomes the candidate slot) or
    /// rolled back (by [`Self::report_failure`] or [`Self::boot`]).
    pub fn may_write(&self, slot: Slot) -> bool {
        slot == self.candidate_slot() && !matches!(self.state.candidate, Candidate::Testing { .. })
    }
}

const fn round_up_const(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn encode_record(seq: u32, state: &BootState, len: usize) -> Vec<u8> {
    let mut record = vec![0xFF; len];
    record[..4].copy_from_slice(&MAGIC);
    record[4..8].copy_from_slice(&seq.to_le_bytes());
    let body = postcard::to_slice(state, &mut record[RECORD_HEAD..len - RECORD_CRC])
        .expect("a boot state fits a record")
        .len();
    record[8..10].copy_from_slice(&(body as u16).to_le_bytes());
    let crc = CRC32.checksum(&record[..len - RECORD_CRC]);
    record[len - RECORD_CRC..].copy_from_slice(&crc.to_le_bytes());
    record
}

fn parse_record(record: &[u8]) -> Option<(u32, BootState)> {
    let (covered, crc) = record.split_at(record.len() - RECORD_CRC);
    if covered[..4] != MAGIC || CRC32.checksum(covered).to_le_bytes() != crc {
        return None;
    }
    let seq = u32::from_le_bytes(covered[4..8].try_into().ok()?);
    let body = usize::from(u16::from_le_bytes(covered[8..10].try_into().ok()?));
    let body = covered.get(RECORD_HEAD..RECORD_HEAD + body)?;
    match postcard::take_from_bytes::<BootState>(body) {
        Ok((state, [])) => Some((seq, state)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_flash::SimFlash;

    type Flash = SimFlash<8, 1024>;

    const CFG: Config = Config {
        base: 1024,
        state_sectors: 2,
        slot_sectors: 4,
        max_boot_attempts: 2,
    };

    fn receiving(written: u32) -> BootState {
        BootState {
            active: None,
            candidate: Candidate::Receiving {
                len: 3000,
                sha256: [1; 32],
                written,
            },
        }
    }

    #[test]
    fn a_record_round_trips_and_any_damage_invalidates_it() {
        let state = BootState {
            active: Some(Image {
                slot: Slot::B,
                len: u32::MAX,
                version: u32::MAX,
            }),
            candidate: Candidate::Receiving {
                len: u32::MAX,
                sha256: [0xFF; 32],
                written: u32::MAX,
            },
        };
        let record = encode_record(u32::MAX, &state, 128);
        assert_eq!(parse_record(&record), Some((u32::MAX, state)));
        for bit in 0..record.len() * 8 {
            let mut bad = record.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(parse_record(&bad), None, "bit {bit}");
        }
        for cut in 0..record.len() {
            let mut torn = vec![0xFF; record.len()];
            torn[..cut].copy_from_slice(&record[..cut]);
            assert_eq!(parse_record(&torn), None, "prefix {cut}");
        }
    }

    #[test]
    fn the_newest_record_wins_across_sector_rotation() {
        let mut slots = Slots::open(Flash::new(12), CFG).unwrap();
        assert_eq!(*slots.state(), BootState::default());
        // 8 records per 1 KiB sector: 28 records fill sector 0, sector 1,
        // sector 0 again and half of sector 1.
        for i in 0..28 {
            slots.write_record(receiving(i)).unwrap();
        }
        let flash = slots.into_inner();
        // Each was erased once: the first use of each found it blank.
        assert_eq!(flash.erase_counts()[1..3], [1, 1]);
        let slots = Slots::open(flash, CFG).unwrap();
        assert_eq!(*slots.state(), receiving(27));
    }

    #[test]
    fn a_torn_record_leaves_the_previous_one_and_is_skipped() {
        let mut slots = Slots::open(Flash::new(12), CFG).unwrap();
        slots.write_record(receiving(1)).unwrap();
        let mut flash = slots.into_inner();
        flash.cut_power(0, 200);
        let mut slots = Slots::open(flash, CFG).unwrap();
        assert!(slots.write_record(receiving(2)).is_err());
        let mut flash = slots.into_inner();
        flash.reboot();
        let mut slots = Slots::open(flash, CFG).unwrap();
        assert_eq!(*slots.state(), receiving(1));
        slots.write_record(receiving(3)).unwrap();
        let slots = Slots::open(slots.into_inner(), CFG).unwrap();
        assert_eq!(*slots.state(), receiving(3));
        // The torn record sits between the two valid ones.
        let mem = slots.flash().memory();
        assert!(mem[1024 + 128..1024 + 256].iter().any(|&b| b != 0xFF));
        assert_eq!(parse_record(&mem[1024 + 128..1024 + 256]), None);
    }

    #[test]
    fn bad_geometry_is_refused() {
        let bad = [
            Config {
                state_sectors: 1,
                ..CFG
            },
            Config {
                slot_sectors: 0,
                ..CFG
            },
            Config { base: 100, ..CFG },
            Config {
                max_boot_attempts: 0,
                ..CFG
            },
            Config {
                slot_sectors: 6,
                ..CFG
            },
        ];
        for cfg in bad {
            assert!(
                matches!(Slots::open(Flash::new(12), cfg), Err(Error::Geometry)),
                "{cfg:?}"
            );
        }
        // 64-byte sectors cannot hold a 128-byte record.
        assert!(matches!(
            Slots::open(SimFlash::<8, 64>::new(40), Config { base: 0, ..CFG }),
            Err(Error::Geometry)
        ));
    }

    #[test]
    fn chunks_must_come_in_order_aligned_and_within_the_length() {
        let mut slots = Slots::open(Flash::new(12), CFG).unwrap();
        assert_eq!(slots.write_candidate(0, &[1; 8]), Err(Error::NotReceiving));
        assert_eq!(
            slots.begin_candidate(0, [0; 32]),
            Err(Error::BadLength { max: 4096 })
        );
        assert_eq!(
            slots.begin_candidate(4097, [0; 32]),
            Err(Error::BadLength { max: 4096 })
        );
        assert_eq!(slots.begin_candidate(1030, [9; 32]), Ok(0));
        assert_eq!(
            slots.write_candidate(8, &[1; 8]),
            Err(Error::OutOfOrder { expected: 0 })
        );
        assert_eq!(
            slots.write_candidate(0, &[1; 7]),
            Err(Error::Misaligned { align: 8 })
        );
        assert_eq!(slots.write_candidate(0, &[1; 1024]), Ok(1024));
        assert_eq!(slots.write_candidate(1024, &[2; 8]), Err(Error::PastEnd));
        assert_eq!(slots.write_candidate(1024, &[2; 6]), Ok(1030));
        let range = slots.slot_range(Slot::A);
        let mem = &slots.flash().memory()[range.start as usize..];
        assert_eq!(mem[1023..1032], [1, 2, 2, 2, 2, 2, 2, 0xFF, 0xFF]);
        // Durable progress was recorded at the sector boundary and at the end.
        assert_eq!(
            slots.state().candidate,
            Candidate::Receiving {
                len: 1030,
                sha256: [9; 32],
                written: 1030
            }
        );
    }
}
