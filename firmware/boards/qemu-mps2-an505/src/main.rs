//! belljar firmware for QEMU's `mps2-an505` (Cortex-M33): runs the guests
//! embedded at build time (`BELLJAR_GUEST`, see build.rs) side by side on
//! the embassy executor, with a firmware heartbeat task beside them
//! (`BELLJAR_HEARTBEAT_MS`), prints their timeline and outcome on UART0,
//! then ends QEMU through semihosting with
//! status 0 (returned or stopped), 1 (trap or load error), 2 (firmware
//! panic) or 3 (hard fault, e.g. native stack overflow).
//!
//! Boot with:
//! `qemu-system-arm -M mps2-an505 -cpu cortex-m33 -nographic
//!  -semihosting-config enable=on,target=native -icount shift=0 -kernel <elf>`
#![no_std]
#![no_main]

mod board;
mod exit;
mod i2c;
#[cfg(belljar_supervisor)]
mod supervised;
mod uart;

mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use embassy_executor::Spawner;

use crate::board::Mps2;
use crate::uart::Console;
use belljar_device::board::Hardware as _;
use belljar_device::clock;

/// Processor clock of the AN505 image (QEMU's mps2-tz: 20 MHz).
const CPU_HZ: u32 = 20_000_000;

/// Heap for Wasmtime and the guests (linear memories, Pulley stacks, fiber
/// stacks, stores). The native stack gets the rest of RAM (memory.x).
const HEAP_SIZE: usize = match settings::HEAP {
    Some(bytes) => bytes,
    None => 128 * 1024,
};

#[unsafe(link_section = ".uninit.belljar_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[entry]
fn main() -> ! {
    belljar_device::executor::run(|spawner| spawner.spawn(firmware(spawner).unwrap()))
}

#[embassy_executor::task]
async fn firmware(spawner: Spawner) {
    let mut core = cortex_m::Peripherals::take().unwrap();
    // A native stack overflow hits MSPLIM (set by cortex-m-rt to the end of
    // the stack region) and escalates to HardFault. Let the fault handler
    // itself run below the limit so it can report it instead of locking up.
    // SAFETY: CCR.STKOFHFNMIGN (bit 10) only relaxes limit checks in HardFault/NMI.
    unsafe { core.SCB.ccr.modify(|ccr| ccr | 1 << 10) };
    uart::init();
    clock::start(&mut core.SYST, CPU_HZ);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let mut console = Console;
    let guests = settings::PUBKEY.is_none().then_some(settings::GUESTS);
    if !belljar_device::announce(&mut console, "qemu-mps2-an505", guests, HEAP_SIZE, "") {
        finish(1);
    }

    let mut run = settings::run_settings();
    run.counter = Some(clock::now_ns);
    run.counter_note = " (instructions under -icount shift=0)";
    run.start_board(
        settings::FOR_MS,
        settings::HEARTBEAT_MS,
        spawner,
        Mps2::print,
    );

    // Supervisor mode (`BELLJAR_PUBKEY`): apps from flash slots, updates on
    // UART1. Compiled in only then.
    #[cfg(belljar_supervisor)]
    supervised::run(&run, &mut console).await;
    #[cfg(not(belljar_supervisor))]
    {
        let status =
            belljar_device::run_embedded(settings::GUESTS, Mps2::new, &mut console, run).await;
        finish(status)
    }
}

/// Prints the memory figures and the final line, then ends QEMU.
pub(crate) fn finish(status: u32) -> ! {
    belljar_device::print_end(&mut Console, status);
    exit::exit(status)
}
