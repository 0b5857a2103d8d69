//! Supervisor mode (built with `BELLJAR_PUBKEY`): the app comes from A/B
//! slots on a NOR flash (RAM-backed: the virt machine's flash is not
//! programmable from here), verified with the built-in key; updates arrive
//! on the PCI serial port ([`crate::pci`]).

use core::fmt::Write as _;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use belljar_device::belljar_update::sim_flash::SimFlash;
use belljar_device::supervised::LinkPlatform;

use belljar_device::board::{DeviceBoard, Hardware as _};

use crate::board::Virt;
use crate::uart::Console;
use crate::{finish, pci, settings, uart};

/// Sectors (4 KiB) of the emulated NOR flash in supervisor mode: 2 for the
/// boot state, 2 x 31 for the app slots (124 KiB each).
const FLASH_SECTORS: usize = 64;

/// The PCI slot QEMU is told to put the update link's `pci-serial` in.
const LINK_SLOT: usize = 1;

/// The update link's 16550 registers (set once at start).
static LINK: AtomicUsize = AtomicUsize::new(0);

/// Runs the supervisor until the time limit (`BELLJAR_FOR_MS`), if any.
pub async fn run(run: &belljar_device::Settings, console: &mut Console) -> ! {
    let key = settings::PUBKEY.expect("supervisor mode has a key");
    let Some(link) = pci::serial(LINK_SLOT) else {
        let _ = writeln!(
            console,
            "error: no update link: start QEMU with -device pci-serial,addr={LINK_SLOT},chardev=..."
        );
        finish(1)
    };
    uart::init(link);
    LINK.store(link, Relaxed);
    let flash = SimFlash::<4, 4096>::new(FLASH_SECTORS);
    let _ = writeln!(
        console,
        "supervisor: {} KiB of NOR flash (RAM-backed on this board), update link on the PCI serial port",
        FLASH_SECTORS * 4
    );
    let platform = LinkPlatform {
        board: || DeviceBoard::new(None, Virt::new()),
        link_read: |buf| uart::link_read(LINK.load(Relaxed), buf),
        link_write: |bytes| uart::link_write(LINK.load(Relaxed), bytes),
        print: Virt::print,
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
