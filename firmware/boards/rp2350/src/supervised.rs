//! Supervisor mode (built with `BELLJAR_PUBKEY`, see
//! `belljar_device::supervised`, the same supervisor as the QEMU board's):
//! the A/B slots and boot records live in the update area of the Pico 2's
//! QSPI flash (the last 512 KiB, `memory.x`), changed through the boot ROM
//! ([`RomFlash`]) and read in place through the XIP window, so a package is
//! verified and deserialized where it lies, with no RAM copy. Updates
//! arrive on UART1 (GPIO20 TX, GPIO21 RX; Pico 2 pins 26 and 27).

use core::fmt::Write as _;

use belljar_device::belljar_update::XipFlash;
use belljar_device::supervised::LinkPlatform;

use belljar_device::board::{DeviceBoard, Hardware as _};

use crate::board::Pico;
use crate::flash::{FLASH_SIZE, RomFlash};
use crate::uart::{Console, link};
use crate::{finish, settings};

unsafe extern "C" {
    /// The update area, from `memory.x` (XIP addresses).
    static __belljar_slots_start: u8;
    static __belljar_slots_end: u8;
}

/// Start of the XIP window: storage address 0.
const XIP_BASE: u32 = 0x1000_0000;

/// The update area in storage addresses (bytes from the start of the flash).
fn slot_region() -> core::ops::Range<u32> {
    let start = (&raw const __belljar_slots_start) as u32 - XIP_BASE;
    let end = (&raw const __belljar_slots_end) as u32 - XIP_BASE;
    start..end
}

/// Runs the supervisor until the time limit (`BELLJAR_FOR_MS`), if any.
pub async fn run(run: &belljar_device::Settings, console: &mut Console) -> ! {
    let key = settings::PUBKEY.expect("supervisor mode has a key");
    let region = slot_region();
    // SAFETY: the only RomFlash; core 1 never runs; nothing reads the
    // update area but the slots (which own the flash) while they change it.
    let raw = unsafe { RomFlash::new(region.start) };
    let Some(flash) = XipFlash::new(raw, region.clone()) else {
        let _ = writeln!(
            console,
            "error: the update area {region:x?} is not whole sectors of the {FLASH_SIZE}-byte flash"
        );
        finish(1)
    };
    let _ = writeln!(
        console,
        "supervisor: {} KiB of QSPI flash at {:#x} for the app slots, update link on UART1 (GPIO20 TX, GPIO21 RX)",
        (region.end - region.start) / 1024,
        XIP_BASE + region.start
    );
    let platform = LinkPlatform {
        board: || DeviceBoard::new(None, Pico::new()),
        link_read: link::read,
        link_write: link::write,
        print: Pico::print,
    };
    belljar_device::supervised::run(
        platform,
        flash,
        key,
        settings::INITIAL,
        run,
        settings::FOR_MS,
        console,
    )
    .await;
    finish(0)
}
