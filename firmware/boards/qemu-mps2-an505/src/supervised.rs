//! Supervisor mode (built with `BELLJAR_PUBKEY`): the app comes from A/B
//! slots on a NOR flash (RAM-backed: the mps2 board has no programmable
//! flash), verified with the built-in key; updates arrive on UART1.

use core::fmt::Write as _;

use belljar_device::belljar_update::sim_flash::SimFlash;

use crate::board::Mps2Board;
use crate::uart::Console;
use belljar_device::clock;

use crate::{finish, settings, uart};

/// Sectors (4 KiB) of the emulated NOR flash in supervisor mode: 2 for the
/// boot state, 2 x 31 for the app slots (124 KiB each).
const FLASH_SECTORS: usize = 64;

/// Bytes arrived on the update link recently (a transfer is going on).
static LINK_ACTIVE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// What the supervisor needs from this board.
struct Qemu;

impl belljar_device::belljar_supervisor::Platform for Qemu {
    type Board = Mps2Board;

    fn board(&self, _app: &str) -> Mps2Board {
        Mps2Board::new(None)
    }

    async fn sleep_ms(&self, ms: u64) {
        embassy_time::Timer::after_millis(ms).await
    }

    /// Polls UART1 (one byte deep): every millisecond while the link is
    /// quiet; during a transfer it keeps polling for up to 2 ms between
    /// bytes, since the next one follows at once.
    async fn receive(&self, buf: &mut [u8]) -> usize {
        loop {
            let started = clock::now_ns();
            loop {
                let n = uart::link_read(buf);
                if n > 0 {
                    LINK_ACTIVE.store(true, core::sync::atomic::Ordering::Relaxed);
                    return n;
                }
                let active = LINK_ACTIVE.load(core::sync::atomic::Ordering::Relaxed);
                if !active || clock::now_ns() - started > 2_000_000 {
                    break;
                }
            }
            LINK_ACTIVE.store(false, core::sync::atomic::Ordering::Relaxed);
            embassy_time::Timer::after_millis(1).await;
        }
    }

    fn send(&self, bytes: &[u8]) {
        uart::link_write(bytes);
    }

    fn log(&self, line: core::fmt::Arguments<'_>) {
        let _ = writeln!(Console, "{line}");
    }
}

/// Runs the supervisor until the time limit (`BELLJAR_FOR_MS`), if any.
pub async fn run(run: &belljar_device::Settings, console: &mut Console) -> ! {
    let key = settings::PUBKEY.expect("supervisor mode has a key");
    let flash = SimFlash::<4, 4096>::new(FLASH_SECTORS);
    let _ = writeln!(
        console,
        "supervisor: {} KiB of NOR flash (RAM-backed on this board), update link on UART1",
        FLASH_SECTORS * 4
    );
    let supervise = belljar_device::supervise(Qemu, flash, key, settings::INITIAL, run, console);
    match settings::FOR_MS {
        Some(ms) => {
            let limit = embassy_time::Timer::at(embassy_time::Instant::from_millis(
                run.board_start_ms + ms,
            ));
            embassy_futures::select::select(supervise, limit).await;
        }
        None => supervise.await,
    }
    finish(0)
}
