//! belljar firmware for QEMU's `virt` machine with a 32-bit RISC-V core
//! (RV32IMAC, machine mode): runs the guests embedded at build time
//! (`BELLJAR_GUEST`, see build.rs) side by side on the embassy executor,
//! with a firmware heartbeat task beside them (`BELLJAR_HEARTBEAT_MS`),
//! prints their timeline and outcome on the NS16550A UART, then powers QEMU
//! off through the SiFive test device with status 0 (returned or stopped),
//! 1 (trap or load error), 2 (firmware panic) or 3 (exception, e.g. a
//! native stack overflow found by the fiber stack's guard words).
//!
//! Boot with:
//! `qemu-system-riscv32 -M virt -cpu rv32,f=false,d=false -bios none
//!  -nographic -monitor none -serial stdio -icount shift=0 -kernel <elf>`
#![no_std]
#![no_main]

mod board;
mod exit;
#[cfg(belljar_supervisor)]
mod pci;
#[cfg(belljar_supervisor)]
mod supervised;
mod uart;

mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use belljar_device::clock::{self, Mtimer};
use belljar_device::ram;
use embassy_executor::Spawner;

use crate::board::Virt;
use crate::uart::Console;
use belljar_device::board::Hardware as _;

/// The virt machine's CLINT: this hart's `mtimecmp` and `mtime`, counting
/// at the device tree's timebase-frequency (10 MHz).
const MTIMER: Mtimer = Mtimer {
    mtimecmp: 0x0200_4000,
    mtime: 0x0200_bff8,
    hz: 10_000_000,
};

/// Heap for Wasmtime and the guests (linear memories, Pulley stacks, fiber
/// stacks, stores). The native stack gets the rest of RAM (memory.x).
const HEAP_SIZE: usize = match settings::HEAP {
    Some(bytes) => bytes,
    None => 128 * 1024,
};

#[unsafe(link_section = ".uninit.belljar_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[riscv_rt::entry]
fn main() -> ! {
    ram::paint_stack();
    belljar_device::executor::run(|spawner| spawner.spawn(firmware(spawner).unwrap()))
}

#[embassy_executor::task]
async fn firmware(spawner: Spawner) {
    uart::init(uart::UART0);
    clock::start(MTIMER);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let mut console = Console;
    let guests = settings::PUBKEY.is_none().then_some(settings::GUESTS);
    if !belljar_device::announce(&mut console, "qemu-riscv32-virt", guests, HEAP_SIZE, "") {
        finish(1);
    }

    let mut run = settings::run_settings();
    run.counter = Some(clock::now_ns);
    run.counter_note =
        " (instructions under -icount shift=0, at the timer's 100-instruction resolution)";
    run.start_board(
        settings::FOR_MS,
        settings::HEARTBEAT_MS,
        spawner,
        Virt::print,
    );

    // Supervisor mode (`BELLJAR_PUBKEY`): apps from flash slots, updates on
    // the PCI serial port. Compiled in only then.
    #[cfg(belljar_supervisor)]
    supervised::run(&run, &mut console).await;
    #[cfg(not(belljar_supervisor))]
    {
        let status =
            belljar_device::run_embedded(settings::GUESTS, Virt::new, &mut console, run).await;
        finish(status)
    }
}

/// Prints the memory figures and the final line, then ends QEMU.
pub(crate) fn finish(status: u32) -> ! {
    belljar_device::print_end(&mut Console, status);
    exit::exit(status)
}
