//! Supervisor mode (built with `BELLJAR_PUBKEY`, see
//! `belljar_device::supervised`): the A/B slots live on a NOR flash emulated
//! in RAM (the mps2 board has no programmable flash; packages are still
//! verified and deserialized in place, from that memory); updates arrive
//! on UART1.

use core::fmt::Write as _;

use belljar_device::belljar_update::sim_flash::SimFlash;
use belljar_device::supervised::LinkPlatform;

use belljar_device::board::{DeviceBoard, Hardware as _};

use crate::board::Mps2;
use crate::uart::Console;
use crate::{finish, settings, uart};

/// Sectors (4 KiB) of the emulated NOR flash in supervisor mode: 2 for the
/// boot state, 2 x 31 for the app slots (124 KiB each).
const FLASH_SECTORS: usize = 64;

/// Runs the supervisor until the time limit (`BELLJAR_FOR_MS`), if any.
pub async fn run(run: &belljar_device::Settings, console: &mut Console) -> ! {
    let key = settings::PUBKEY.expect("supervisor mode has a key");
    let flash = SimFlash::<4, 4096>::new(FLASH_SECTORS);
    let _ = writeln!(
        console,
        "supervisor: {} KiB of NOR flash (RAM-backed on this board), update link on UART1",
        FLASH_SECTORS * 4
    );
    let platform = LinkPlatform {
        board: || DeviceBoard::new(None, Mps2::new()),
        link_read: uart::link_read,
        link_write: uart::link_write,
        print: Mps2::print,
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
