//! Over-the-air app updates for belljar devices, `no_std` + `alloc`.
//!
//! A host sends a signed package (`.bjpkg`, see [`belljar_package`]) over a
//! UART in [frames](frame) carrying [protocol messages](proto). The device's
//! [`Receiver`] writes it into the *candidate* slot of two A/B [`Slots`] on a
//! NOR flash (anything implementing [`embedded_storage::nor_flash::NorFlash`]),
//! verifies the whole package (signature, hashes, target, engine, anti-rollback)
//! and only then marks it pending. The next boot runs it on trial; the app (or
//! its supervisor) confirms it or it is rolled back. The active app is never
//! written while an update is in progress, so a power cut at any moment leaves
//! a verifiable app to boot (`tests/power_cut.rs` cuts at every flash operation).
//! [`host::Upload`] is the sending side, [`sim_flash::SimFlash`] a NOR flash in
//! RAM with power-cut injection for tests, [`xip::XipFlash`] the `NorFlash` of
//! a memory-mapped QSPI flash over what a boot ROM offers ([`RawFlash`]).
//! On a [`MappedFlash`] ([`Slots::open_mapped`]), a received candidate is
//! verified in place and [`Slots::mapped_image`] gives a stored package
//! where it lies, so it is verified and deserialized without a RAM copy.
//!
//! # Flash layout
//!
//! ```text
//! base
//! | state sector 0 | state sector 1 | .. | slot A (slot_sectors) | slot B (slot_sectors) |
//!   `-- state_sectors (>= 2) ----------'
//! ```
//!
//! The state area is a ring of fixed-size records (128 bytes, or the write
//! size if larger), each
//! `"BJST" | sequence u32 LE | body length u16 LE | postcard(BootState) | 0xFF.. | CRC-32 LE`.
//! The valid record with the highest sequence number is the state. A new
//! record goes into the next blank record place; when a sector is full the
//! next sector is erased (never the one holding the newest record), so a power
//! cut during a record write or a sector erase leaves the previous record valid.
//! A slot holds one package from its first byte; the record knows its length.
//!
//! # States
//!
//! ```text
//!   Empty --begin_candidate--> Receiving{written} --write_candidate..--> complete
//!     ^                                                                     |
//!     |-------- mark_pending refused (bad package) / discard_candidate -----|
//!     |                                                  mark_pending (verified)
//!     |                                                                     v
//!     |<-- report_failure / boot with attempts == max --- Testing{attempts} <--boot-- Pending
//!     |                                                    |  `--boot--> attempts + 1
//!     `------------------ confirm: candidate becomes the active app
//! ```
//!
//! `Receiving{written}` is recorded at every erase-sector boundary, so after a
//! lost link or a reboot a `Begin` of the same package (same SHA-256) resumes
//! there. The active app's version is the anti-rollback floor. MCUboot's
//! test/confirm/revert is the model (no copy, no swap: the slots take turns).
#![no_std]

extern crate alloc;

pub mod frame;
pub mod host;
pub mod proto;
pub mod receiver;
pub mod sim_flash;
pub mod slots;
pub mod xip;

pub use receiver::Receiver;
pub use slots::{BootChoice, BootState, Candidate, Config, Image, Slot, Slots};
pub use xip::{MappedFlash, RawFlash, XipFlash};

pub use belljar_package;
pub use embedded_storage;

/// CRC-32/ISO-HDLC, for frames and state records.
pub(crate) const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
