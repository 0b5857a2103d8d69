//! The Pico 2's QSPI flash as a [`RawFlash`] for
//! [`XipFlash`](belljar_device::belljar_update::XipFlash): sector erase and
//! page program through the RP2350 boot ROM's flash functions (rp235x-hal's
//! `rom_data`), reads through the XIP window at `0x1000_0000`.
//!
//! The firmware executes from this flash, and while the ROM erases or
//! programs it the QMI is in direct serial mode: an instruction fetch or
//! data read from XIP then faults (or returns garbage). So every operation
//!
//! * looks the ROM functions up and saves the XIP read setup of window 0
//!   (`M0_TIMING`, `M0_RFMT`, `M0_RCMD`: what the boot ROM found works for
//!   this chip) *before*, from flash;
//! * runs with interrupts off (their handlers and vector table are in
//!   flash), in a critical section;
//! * runs the sequence connect, exit XIP, erase/program, flush the XIP
//!   cache, restore the saved read setup in [`rom_flash_op`], a function
//!   placed in RAM (`.data.ram_func`, copied to SRAM at boot) that calls
//!   nothing but ROM code and volatile register accesses;
//! * programs from a page buffer on the stack (RAM): the data may itself
//!   be in flash (the factory package is `include_bytes!`).
//!
//! Core 1 is never started by this firmware, so nothing else fetches from
//! flash meanwhile; DMA does not read flash either. The boot ROM's XIP modes
//! keep the chip in serial command state (an 8-bit command prefix on every
//! read), so restoring the QMI registers restores the fast read mode. A
//! sector erase takes 45-400 ms on the Pico 2's W25Q32 with interrupts off:
//! the 1 kHz SysTick misses those ticks, so board time falls behind by the
//! erase time during an update (the update link is polled and its UART
//! FIFO holds 32 bytes: the host waits for each reply, nothing is lost).
//!
//! This cannot be run here (no RP2350 and no QEMU model of it); the logic
//! above the ROM calls (`XipFlash`) is tested on the host with the
//! power-cut suite (`crates/update/tests/power_cut.rs`).

use core::convert::Infallible;

use belljar_device::belljar_update::RawFlash;
use belljar_device::belljar_update::xip::{PAGE, SECTOR};
use rp235x_hal::rom_data;

/// Start of the XIP window (cached, Secure): storage address 0.
const XIP_BASE: usize = 0x1000_0000;
/// The Pico 2's flash: 4 MiB (a W25Q32).
pub const FLASH_SIZE: usize = 4 * 1024 * 1024;

/// QMI registers (RP2350 datasheet, 12.14): window 0's read setup.
const QMI_BASE: usize = 0x400d_0000;
const QMI_M0_TIMING: usize = QMI_BASE + 0x0c;
const QMI_M0_RFMT: usize = QMI_BASE + 0x10;
const QMI_M0_RCMD: usize = QMI_BASE + 0x14;

/// 64 KiB block erase (D8h), which the ROM uses where a range covers a
/// whole block.
const BLOCK_SIZE: u32 = 1 << 16;
const BLOCK_ERASE_CMD: u8 = 0xd8;

/// The ROM functions one operation calls, looked up from flash before XIP
/// goes off.
#[repr(C)]
struct RomOps {
    connect_internal_flash: unsafe extern "C" fn(),
    flash_exit_xip: unsafe extern "C" fn(),
    flash_range_erase: unsafe extern "C" fn(u32, usize, u32, u8),
    flash_range_program: unsafe extern "C" fn(u32, *const u8, usize),
    flash_flush_cache: unsafe extern "C" fn(),
    /// `M0_TIMING`, `M0_RFMT`, `M0_RCMD` as the boot ROM left them.
    xip_setup: [u32; 3],
}

impl RomOps {
    fn lookup() -> RomOps {
        // SAFETY: reads of QMI registers (no side effects).
        let xip_setup = unsafe {
            [
                core::ptr::read_volatile(QMI_M0_TIMING as *const u32),
                core::ptr::read_volatile(QMI_M0_RFMT as *const u32),
                core::ptr::read_volatile(QMI_M0_RCMD as *const u32),
            ]
        };
        RomOps {
            connect_internal_flash: rom_data::connect_internal_flash::ptr(),
            flash_exit_xip: rom_data::flash_exit_xip::ptr(),
            flash_range_erase: rom_data::flash_range_erase::ptr(),
            flash_range_program: rom_data::flash_range_program::ptr(),
            flash_flush_cache: rom_data::flash_flush_cache::ptr(),
            xip_setup,
        }
    }
}

/// Erase `count` bytes at `addr` (`data` null) or program `count` bytes
/// from `data` at `addr`, with XIP off, then XIP back as it was.
///
/// # Safety
/// Interrupts off; `ops` and `data` in RAM; `addr`/`count` aligned (sector
/// for an erase, page for a program) and inside the flash, outside the
/// firmware.
#[unsafe(link_section = ".data.ram_func")]
#[inline(never)]
unsafe extern "C" fn rom_flash_op(ops: &RomOps, addr: u32, data: *const u8, count: usize) {
    // SAFETY: per the contract; only ROM code and volatile register
    // accesses run until XIP is back (no call into flash).
    unsafe {
        (ops.connect_internal_flash)();
        (ops.flash_exit_xip)();
        if data.is_null() {
            (ops.flash_range_erase)(addr, count, BLOCK_SIZE, BLOCK_ERASE_CMD);
        } else {
            (ops.flash_range_program)(addr, data, count);
        }
        // Also ends the chip select force left by the direct-mode commands.
        (ops.flash_flush_cache)();
        core::ptr::write_volatile(QMI_M0_TIMING as *mut u32, ops.xip_setup[0]);
        core::ptr::write_volatile(QMI_M0_RFMT as *mut u32, ops.xip_setup[1]);
        core::ptr::write_volatile(QMI_M0_RCMD as *mut u32, ops.xip_setup[2]);
    }
}

/// The whole QSPI flash through the boot ROM; [`XipFlash`] narrows it to
/// the slot region (see `memory.x`) and checks bounds and alignment.
///
/// [`XipFlash`]: belljar_device::belljar_update::XipFlash
pub struct RomFlash {
    /// Below this storage address is the firmware: never erased or written.
    protected: u32,
}

impl RomFlash {
    /// The flash; `protected` bytes from its start (the firmware) refuse
    /// every change (a second guard besides `XipFlash`'s region).
    ///
    /// # Safety
    /// Only one `RomFlash` may exist, core 1 must not run, and nothing may
    /// read the region through the XIP window while an operation runs
    /// (single core, the operation blocks).
    pub unsafe fn new(protected: u32) -> RomFlash {
        RomFlash { protected }
    }

    fn op(&mut self, addr: u32, data: *const u8, count: usize) {
        assert!(
            addr >= self.protected && addr as usize + count <= FLASH_SIZE,
            "flash operation outside the slot region"
        );
        let ops = RomOps::lookup();
        critical_section::with(|_| {
            // SAFETY: interrupts are off (critical section on one core);
            // `ops` is on the stack, `data` a stack page or null; the
            // caller checked alignment; the assert keeps the firmware.
            unsafe { rom_flash_op(&ops, addr, data, count) }
        });
    }
}

impl RawFlash for RomFlash {
    type Error = Infallible;

    fn window(&self) -> &[u8] {
        // SAFETY: the XIP window maps the whole flash, read-only; it
        // changes only in `erase_sectors`/`program_pages` (`&mut self`).
        unsafe { core::slice::from_raw_parts(XIP_BASE as *const u8, FLASH_SIZE) }
    }

    fn erase_sectors(&mut self, from: u32, to: u32) -> Result<(), Infallible> {
        // One sector per operation: interrupts are off for one erase at most.
        for sector in (from..to).step_by(SECTOR) {
            self.op(sector, core::ptr::null(), SECTOR);
        }
        Ok(())
    }

    fn program_pages(&mut self, at: u32, data: &[u8]) -> Result<(), Infallible> {
        for (i, chunk) in data.chunks(PAGE).enumerate() {
            let mut page = [0xFFu8; PAGE];
            page[..chunk.len()].copy_from_slice(chunk);
            self.op(at + (i * PAGE) as u32, page.as_ptr(), PAGE);
        }
        Ok(())
    }
}
