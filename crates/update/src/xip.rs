//! A [`NorFlash`] over a memory-mapped (XIP) QSPI flash, and the
//! [`MappedFlash`] view that lets a stored package be verified and
//! deserialized where it lies.
//!
//! A microcontroller that executes from QSPI flash (the RP2350, most
//! Cortex-M parts with an external flash) offers very little to change it:
//! its boot ROM erases 4 KiB sectors and programs 256-byte pages at
//! *storage* addresses, and the chip shows the flash read-only in a
//! memory-mapped *window*. [`RawFlash`] is that much; [`XipFlash`] adds what
//! [`NorFlash`] promises on top, once for every such chip and tested on the
//! host: a region of the chip (past the firmware) as offsets `0..len`,
//! bounds and alignment checks, offset translation, and reads through the
//! window. The board implements [`RawFlash`] (on the RP2350 with the ROM's
//! flash functions, from RAM with XIP off); the simulated NOR implements
//! it too ([`SimFlash`] with 256-byte words), so the power-cut suite runs
//! over `XipFlash<SimFlash<256, 4096>>` exactly as over the bare simulator.

use core::ops::Range;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::sim_flash::{SimError, SimFlash};

/// A flash whose contents the CPU can also read as memory, in place.
///
/// # Safety
/// An implementation promises that the slice [`MappedFlash::mapped`]
/// returns stays at that address, with those contents, for as long as the
/// flash value lives (moving the value does not move the bytes), and that
/// the bytes change only through this flash's own `erase` and `write`.
/// The supervisor relies on it to hand a slot's bytes to Wasmtime's
/// `deserialize_raw`, which keeps using them after the borrow ends.
pub unsafe trait MappedFlash: ReadNorFlash {
    /// `len` bytes from `offset` (as [`ReadNorFlash::read`] counts them),
    /// or `None` when the range is outside the flash.
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]>;
}

// SAFETY: the same flash, borrowed.
unsafe impl<T: MappedFlash> MappedFlash for &mut T {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        T::mapped(self, offset, len)
    }
}

// SAFETY: the bytes are one heap allocation made in `SimFlash::new` and
// never resized, changed only by `erase` and `write`, which write through
// the buffer's raw pointer and only the range they are given.
unsafe impl<const W: usize, const E: usize> MappedFlash for SimFlash<W, E> {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        let start = offset as usize;
        self.memory().get(start..start.checked_add(len as usize)?)
    }
}

/// Erase sector of a QSPI NOR flash (the 20h command).
pub const SECTOR: usize = 4096;
/// Program page of a QSPI NOR flash (the 02h command).
pub const PAGE: usize = 256;

/// What a chip's boot ROM offers to change its XIP flash: all addresses are
/// *storage* addresses (bytes from the start of the chip).
pub trait RawFlash {
    type Error: core::fmt::Debug;
    /// The chip as the CPU reads it through the XIP window: storage address
    /// `a` is `window()[a]`. Must show every completed erase and program
    /// (the implementation flushes the XIP cache after changing the flash).
    fn window(&self) -> &[u8];
    /// Erases the [`SECTOR`]-aligned range `from..to` to `0xFF`.
    fn erase_sectors(&mut self, from: u32, to: u32) -> Result<(), Self::Error>;
    /// Programs `data` (whole [`PAGE`]s) at the [`PAGE`]-aligned `at`.
    fn program_pages(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error>;
}

/// The simulated NOR as a raw XIP flash: its memory is the window.
impl RawFlash for SimFlash<PAGE, SECTOR> {
    type Error = SimError;

    fn window(&self) -> &[u8] {
        self.memory()
    }

    fn erase_sectors(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        NorFlash::erase(self, from, to)
    }

    fn program_pages(&mut self, at: u32, data: &[u8]) -> Result<(), SimError> {
        NorFlash::write(self, at, data)
    }
}

/// Why an [`XipFlash`] operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XipError<E> {
    /// Offset or length not a multiple of the page (write) or sector (erase).
    NotAligned,
    /// Outside the region.
    OutOfBounds,
    /// The chip's own operation failed.
    Raw(E),
}

impl<E: core::fmt::Debug> NorFlashError for XipError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            XipError::NotAligned => NorFlashErrorKind::NotAligned,
            XipError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            XipError::Raw(_) => NorFlashErrorKind::Other,
        }
    }
}

/// A region of an XIP flash (`region` in storage addresses, whole sectors)
/// as a [`NorFlash`] of `region.len()` bytes: erase in [`SECTOR`]s, write in
/// [`PAGE`]s, read any byte (through the window), and [`MappedFlash`].
#[derive(Clone, Debug)]
pub struct XipFlash<R> {
    raw: R,
    start: u32,
    len: u32,
}

impl<R: RawFlash> XipFlash<R> {
    /// The region `region` of `raw`; `None` unless it is whole sectors
    /// inside the window.
    pub fn new(raw: R, region: Range<u32>) -> Option<Self> {
        let ok = region.start <= region.end
            && (region.start as usize).is_multiple_of(SECTOR)
            && (region.end as usize).is_multiple_of(SECTOR)
            && region.end as usize <= raw.window().len();
        ok.then_some(XipFlash {
            raw,
            start: region.start,
            len: region.end - region.start,
        })
    }

    /// The region in storage addresses.
    pub fn region(&self) -> Range<u32> {
        self.start..self.start + self.len
    }

    pub fn raw(&self) -> &R {
        &self.raw
    }

    pub fn raw_mut(&mut self) -> &mut R {
        &mut self.raw
    }

    pub fn into_raw(self) -> R {
        self.raw
    }

    /// `offset..offset + len` of the region as storage addresses, if inside.
    fn storage(&self, offset: u32, len: usize) -> Result<Range<u32>, XipError<R::Error>> {
        let len = u32::try_from(len).map_err(|_| XipError::OutOfBounds)?;
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(self.start + offset..self.start + end),
            _ => Err(XipError::OutOfBounds),
        }
    }
}

impl<R: RawFlash> ErrorType for XipFlash<R> {
    type Error = XipError<R::Error>;
}

impl<R: RawFlash> ReadNorFlash for XipFlash<R> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = self.storage(offset, bytes.len())?;
        bytes.copy_from_slice(&self.raw.window()[at.start as usize..at.end as usize]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl<R: RawFlash> NorFlash for XipFlash<R> {
    const WRITE_SIZE: usize = PAGE;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if from > to {
            return Err(XipError::OutOfBounds);
        }
        let at = self.storage(from, (to - from) as usize)?;
        if !(from as usize).is_multiple_of(SECTOR) || !(to as usize).is_multiple_of(SECTOR) {
            return Err(XipError::NotAligned);
        }
        if at.is_empty() {
            return Ok(());
        }
        self.raw
            .erase_sectors(at.start, at.end)
            .map_err(XipError::Raw)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = self.storage(offset, bytes.len())?;
        if !(offset as usize).is_multiple_of(PAGE) || !bytes.len().is_multiple_of(PAGE) {
            return Err(XipError::NotAligned);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.raw
            .program_pages(at.start, bytes)
            .map_err(XipError::Raw)
    }
}

// SAFETY: the window is the chip's fixed memory mapping (or, for the
// simulator, its never-resized memory); `RawFlash` changes it only in
// `erase_sectors` and `program_pages`, which need `&mut self`.
unsafe impl<R: RawFlash> MappedFlash for XipFlash<R> {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        let at = self.storage(offset, len as usize).ok()?;
        self.raw.window().get(at.start as usize..at.end as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Chip = SimFlash<PAGE, SECTOR>;

    /// A 16-sector chip, the region its last 8 sectors (past a "firmware").
    fn flash() -> XipFlash<Chip> {
        XipFlash::new(Chip::new(16), 8 * 4096..16 * 4096).unwrap()
    }

    #[test]
    fn a_region_must_be_whole_sectors_inside_the_chip() {
        assert!(XipFlash::new(Chip::new(16), 8 * 4096..17 * 4096).is_none());
        assert!(XipFlash::new(Chip::new(16), 100..8 * 4096).is_none());
        assert!(XipFlash::new(Chip::new(16), 4096..8 * 4096 + 256).is_none());
        let f = flash();
        assert_eq!(f.capacity(), 8 * 4096);
        assert_eq!(f.region(), 8 * 4096..16 * 4096);
    }

    #[test]
    fn offsets_are_translated_to_the_region_and_reads_go_through_the_window() {
        let mut f = flash();
        let page: [u8; 256] = core::array::from_fn(|i| i as u8);
        f.write(4096 + 512, &page).unwrap();
        // Storage address = region start + offset.
        let chip = &f.raw().memory()[8 * 4096 + 4096 + 512..][..256];
        assert_eq!(chip, &page[..]);
        assert!(f.raw().memory()[..8 * 4096].iter().all(|&b| b == 0xFF));
        let mut back = [0u8; 7];
        f.read(4096 + 512 + 3, &mut back).unwrap();
        assert_eq!(back, [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(f.mapped(4096 + 512, 256), Some(&page[..]));
        f.erase(4096, 8192).unwrap();
        assert_eq!(f.mapped(4096 + 512, 256), Some(&[0xFF; 256][..]));
        assert_eq!(f.raw().erase_counts()[9], 1);
    }

    /// What `MappedFlash` promises and the supervisor relies on: bytes
    /// held (as a raw slice, like Wasmtime's `deserialize_raw`) keep their
    /// address and contents while other sectors are erased and written and
    /// the flash value moves.
    #[test]
    fn mapped_bytes_stay_put_while_other_sectors_change() {
        let mut f = flash();
        f.write(0, &[7; 512]).unwrap();
        let held = core::ptr::NonNull::from(f.mapped(0, 512).unwrap());
        f.write(4096, &[1; 256]).unwrap();
        f.erase(4096, 3 * 4096).unwrap();
        f.write(4096, &[0; 4096]).unwrap();
        f.raw_mut().cut_power(0, 128);
        assert!(f.erase(4096, 8192).is_err());
        // Into the heap: the flash value itself moves.
        let moved = alloc::boxed::Box::new(f);
        // SAFETY: the flash is alive and nothing wrote these bytes.
        let held = unsafe { held.as_ref() };
        assert_eq!(held, &[7; 512][..]);
        assert_eq!(moved.mapped(0, 512).unwrap().as_ptr(), held.as_ptr());
        assert!(moved.mapped(4096, 4096).unwrap().iter().any(|&b| b != 0xFF));
    }

    #[test]
    fn bounds_and_alignment_are_checked_before_the_chip_is_touched() {
        let mut f = flash();
        let len = 8 * 4096;
        assert_eq!(f.write(len - 256, &[0; 512]), Err(XipError::OutOfBounds));
        assert_eq!(
            f.write(u32::MAX - 255, &[0; 256]),
            Err(XipError::OutOfBounds)
        );
        assert_eq!(f.write(128, &[0; 256]), Err(XipError::NotAligned));
        assert_eq!(f.write(0, &[0; 100]), Err(XipError::NotAligned));
        assert_eq!(f.erase(0, 100), Err(XipError::NotAligned));
        assert_eq!(f.erase(4096, 0), Err(XipError::OutOfBounds));
        assert_eq!(f.erase(0, len + 4096), Err(XipError::OutOfBounds));
        assert_eq!(f.read(len - 1, &mut [0; 2]), Err(XipError::OutOfBounds));
        assert_eq!(f.mapped(len - 1, 2), None);
        assert_eq!(f.mapped(len, 0), Some(&[][..]));
        assert_eq!(f.raw().ops(), 0);
        // The chip's own refusal comes through (a page programmed twice).
        f.write(0, &[0; 256]).unwrap();
        assert_eq!(
            f.write(0, &[0; 256]),
            Err(XipError::Raw(SimError::NotErased { offset: 8 * 4096 }))
        );
    }
}
