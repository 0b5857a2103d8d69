//! A NOR flash in RAM with real NOR rules, erase counters and power-cut injection.
//!
//! * [`erase`](NorFlash::erase) sets whole sectors to `0xFF`.
//! * [`write`](NorFlash::write) programs whole words (`W` bytes, aligned) and only
//!   into erased words: like [`NorFlash`] requires ("it is not allowed to write to
//!   the same word twice"), a word that is not all `0xFF` is refused with
//!   [`SimError::NotErased`], never silently ANDed.
//! * Every write and erase call is one *operation*; [`SimFlash::cut_power`] makes
//!   the operation after the next `after` ones stop part-way (a write leaves only
//!   a prefix of its bytes, an erase leaves the first part of the range erased
//!   and the rest with some bits raised), and every later read, write or erase
//!   fails with [`SimError::PowerLost`] until [`SimFlash::reboot`].
//!
//! Cloning a `SimFlash` copies the chip: tests replay one update on many copies.

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read,
    check_write,
};

/// Why a simulated operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// Offset or length not a multiple of the word (write) or sector (erase).
    NotAligned,
    /// Beyond the end of the chip.
    OutOfBounds,
    /// A write reached a word that is not erased (offset of that word).
    NotErased { offset: u32 },
    /// The power is (or just went) off; call [`SimFlash::reboot`].
    PowerLost,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SimError::NotErased { .. } | SimError::PowerLost => NorFlashErrorKind::Other,
        }
    }
}

fn kind_to_error(kind: NorFlashErrorKind) -> SimError {
    match kind {
        NorFlashErrorKind::NotAligned => SimError::NotAligned,
        _ => SimError::OutOfBounds,
    }
}

/// A planned power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    /// Operations that still complete before the cut one.
    after: u64,
    /// How much of the cut operation takes effect, in 256ths (0..=256).
    done: u16,
}

/// A simulated NOR flash of `sectors` sectors of `E` bytes, written in words of `W` bytes.
#[derive(Clone, Debug)]
pub struct SimFlash<const W: usize = 8, const E: usize = 4096> {
    memory: Vec<u8>,
    erase_counts: Vec<u32>,
    ops: u64,
    cut: Option<Cut>,
    off: bool,
}

impl<const W: usize, const E: usize> SimFlash<W, E> {
    /// A chip of `sectors` erased sectors (as delivered).
    pub fn new(sectors: usize) -> Self {
        assert!(
            W > 0 && E > 0 && E.is_multiple_of(W),
            "sector size must be a multiple of the word size"
        );
        SimFlash {
            memory: vec![0xFF; sectors * E],
            erase_counts: vec![0; sectors],
            ops: 0,
            cut: None,
            off: false,
        }
    }

    /// The raw contents (what a memory-mapped flash shows).
    pub fn memory(&self) -> &[u8] {
        &self.memory
    }

    /// How often each sector has been erased (a cut erase counts).
    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }

    /// Write and erase operations attempted so far (a cut one counts).
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Lets `after` more write/erase operations complete, then cuts the power
    /// during the next one, of which `done`/256 takes effect (`done` is capped
    /// at 256: the operation completes but still reports the power loss).
    pub fn cut_power(&mut self, after: u64, done: u16) {
        self.cut = Some(Cut {
            after,
            done: done.min(256),
        });
    }

    /// Whether the power is off (a planned cut happened).
    pub fn power_lost(&self) -> bool {
        self.off
    }

    /// Power comes back: operations work again and no cut is planned.
    pub fn reboot(&mut self) {
        self.off = false;
        self.cut = None;
    }

    /// Counts an operation; `Some(done)` when it is the one the power dies in.
    fn start_op(&mut self) -> Result<Option<u16>, SimError> {
        if self.off {
            return Err(SimError::PowerLost);
        }
        self.ops += 1;
        match &mut self.cut {
            Some(cut) if cut.after == 0 => {
                let done = cut.done;
                self.cut = None;
                self.off = true;
                Ok(Some(done))
            }
            Some(cut) => {
                cut.after -= 1;
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

impl<const W: usize, const E: usize> SimFlash<W, E> {
    /// Sets `range` to `byte`, and [`Self::store`] copies bytes in: both
    /// through the buffer's raw pointer (`Vec::as_mut_ptr` makes no
    /// reference to the whole memory), so a slice of other bytes handed out
    /// by [`MappedFlash::mapped`](crate::MappedFlash) stays valid, as the
    /// supervisor's running app needs while the agent writes the other slot.
    fn fill(&mut self, range: core::ops::Range<usize>, byte: u8) {
        assert!(range.start <= range.end && range.end <= self.memory.len());
        // SAFETY: in bounds (checked above); no reference to these bytes
        // is alive (`mapped` slices cover only bytes no write touches).
        unsafe {
            core::ptr::write_bytes(self.memory.as_mut_ptr().add(range.start), byte, range.len())
        }
    }

    fn store(&mut self, at: usize, bytes: &[u8]) {
        assert!(at <= self.memory.len() && bytes.len() <= self.memory.len() - at);
        // SAFETY: as in `fill`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.memory.as_mut_ptr().add(at),
                bytes.len(),
            )
        }
    }

    /// Raises some bits of each byte in `range` (a cut erase), as `fill`.
    fn scramble(&mut self, range: core::ops::Range<usize>) {
        assert!(range.start <= range.end && range.end <= self.memory.len());
        let base = self.memory.as_mut_ptr();
        for (i, at) in range.enumerate() {
            // SAFETY: as in `fill`.
            unsafe { *base.add(at) |= (i as u8).wrapping_mul(37) ^ 0x5A }
        }
    }
}

fn part(len: usize, done: u16) -> usize {
    len * usize::from(done) / 256
}

impl<const W: usize, const E: usize> ErrorType for SimFlash<W, E> {
    type Error = SimError;
}

impl<const W: usize, const E: usize> ReadNorFlash for SimFlash<W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerLost);
        }
        check_read(self, offset, bytes.len()).map_err(kind_to_error)?;
        let start = offset as usize;
        bytes.copy_from_slice(&self.memory[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }
}

impl<const W: usize, const E: usize> NorFlash for SimFlash<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerLost);
        }
        check_erase(self, from, to).map_err(kind_to_error)?;
        let (from, to) = (from as usize, to as usize);
        for count in &mut self.erase_counts[from / E..to / E] {
            *count += 1;
        }
        match self.start_op()? {
            None => {
                self.fill(from..to, 0xFF);
                Ok(())
            }
            Some(done) => {
                // Erasing raises bits to 1. Cut part-way: the first part is
                // erased, the rest has only some of its bits raised.
                let split = from + part(to - from, done);
                self.fill(from..split, 0xFF);
                self.scramble(split..to);
                Err(SimError::PowerLost)
            }
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerLost);
        }
        check_write(self, offset, bytes.len()).map_err(kind_to_error)?;
        let start = offset as usize;
        let target = &self.memory[start..start + bytes.len()];
        if let Some(word) = target.chunks(W).position(|w| w.iter().any(|&b| b != 0xFF)) {
            return Err(SimError::NotErased {
                offset: (start + word * W) as u32,
            });
        }
        let len = match self.start_op()? {
            None => bytes.len(),
            Some(done) => part(bytes.len(), done),
        };
        self.store(start, &bytes[..len]);
        if len == bytes.len() && !self.off {
            Ok(())
        } else {
            Err(SimError::PowerLost)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Flash = SimFlash<4, 256>;

    #[test]
    fn erase_sets_ff_and_counts_per_sector() {
        let mut f = Flash::new(4);
        f.write(256, &[0, 1, 2, 3]).unwrap();
        f.erase(256, 768).unwrap();
        assert!(f.memory()[256..768].iter().all(|&b| b == 0xFF));
        assert_eq!(f.erase_counts(), [0, 1, 1, 0]);
        assert_eq!(f.ops(), 2);
    }

    #[test]
    fn write_needs_alignment_bounds_and_erased_words() {
        let mut f = Flash::new(2);
        assert_eq!(f.write(2, &[0; 4]), Err(SimError::NotAligned));
        assert_eq!(f.write(0, &[0; 3]), Err(SimError::NotAligned));
        assert_eq!(f.write(512, &[0; 4]), Err(SimError::OutOfBounds));
        assert_eq!(f.erase(0, 100), Err(SimError::NotAligned));
        f.write(8, &[0xF0, 0xFF, 0xFF, 0xFF]).unwrap();
        // Rewriting a programmed word is refused even if it only clears bits.
        assert_eq!(f.write(4, &[0; 8]), Err(SimError::NotErased { offset: 8 }));
        assert_eq!(
            f.memory()[4..12],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0xFF, 0xFF, 0xFF]
        );
        let mut out = [0u8; 4];
        f.read(8, &mut out).unwrap();
        assert_eq!(out, [0xF0, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn a_cut_write_leaves_a_prefix_and_everything_fails_until_reboot() {
        let mut f = Flash::new(2);
        f.cut_power(1, 128);
        f.write(0, &[1; 8]).unwrap();
        assert_eq!(f.write(8, &[2; 16]), Err(SimError::PowerLost));
        assert_eq!(
            f.memory()[8..24],
            [
                2, 2, 2, 2, 2, 2, 2, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
            ]
        );
        assert!(f.power_lost());
        assert_eq!(f.write(64, &[3; 4]), Err(SimError::PowerLost));
        assert_eq!(f.erase(256, 512), Err(SimError::PowerLost));
        assert_eq!(f.read(0, &mut [0; 4]), Err(SimError::PowerLost));
        f.reboot();
        f.write(64, &[3; 4]).unwrap();
        assert_eq!(f.ops(), 3);
    }

    #[test]
    fn a_cut_erase_leaves_the_sector_partly_erased() {
        let mut f = Flash::new(2);
        f.write(0, &[0; 256]).unwrap();
        f.cut_power(0, 64);
        assert_eq!(f.erase(0, 256), Err(SimError::PowerLost));
        let sector = &f.memory()[..256];
        assert!(sector[..64].iter().all(|&b| b == 0xFF));
        assert!(sector[64..].iter().any(|&b| b != 0xFF));
        assert!(sector[64..].iter().any(|&b| b != 0));
        assert_eq!(f.erase_counts(), [1, 0]);
    }

    #[test]
    fn a_cut_after_completion_still_reports_the_loss() {
        let mut f = Flash::new(1);
        f.cut_power(0, 256);
        assert_eq!(f.write(0, &[5; 4]), Err(SimError::PowerLost));
        assert_eq!(f.memory()[..4], [5; 4]);
    }
}
