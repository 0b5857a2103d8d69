//! belljar firmware for the Nordic nRF52840 DK (nRF52840, Cortex-M4F at
//! 64 MHz): runs the guests embedded at build time (`BELLJAR_GUEST`, see
//! build.rs) side by side on the embassy executor, with a firmware
//! heartbeat task beside them (`BELLJAR_HEARTBEAT_MS`), prints their
//! timeline and outcome on UARTE0 (P0.06 TX / P0.08 RX, the DK's J-Link
//! virtual COM port, 115200 8N1), then idles (WFI). A trap, a load error or
//! a firmware panic is printed and the board idles: it never reset-loops.
//!
//! Flash with `probe-rs run --chip nRF52840_xxAA <elf>` (the DK's on-board
//! J-Link); see firmware/README.md.
#![no_std]
#![no_main]

mod board;
mod uart;

#[allow(dead_code)] // PRESSES: scripted buttons are for QEMU; these are real.
mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use belljar_device::clock;
use embassy_executor::Spawner;
use nrf52840_hal as hal;

use hal::uarte::{Baudrate, Parity, Uarte};

use crate::board::{Gpio, Nrf};
use crate::uart::{Console, TX_CHUNK};
use belljar_device::board::Hardware as _;

/// The CPU clock (HFCLK, from the 32 MHz crystal once started).
const CPU_HZ: u32 = 64_000_000;

/// Heap for Wasmtime and the guests: 160 KiB (three apps side by side, as
/// on the RP2350) of the 256 KiB RAM; the native stack gets what the heap
/// and statics leave.
const HEAP_SIZE: usize = match settings::HEAP {
    Some(bytes) => bytes,
    None => 160 * 1024,
};

#[unsafe(link_section = ".uninit.belljar_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[cortex_m_rt::entry]
fn main() -> ! {
    belljar_device::executor::run(|spawner| spawner.spawn(firmware(spawner).unwrap()))
}

#[embassy_executor::task]
async fn firmware(spawner: Spawner) {
    let (Some(pac), Some(mut core)) =
        (hal::pac::Peripherals::take(), cortex_m::Peripherals::take())
    else {
        idle()
    };
    // The crystal for the UART's baud rate (HFINT drifts up to 1.5 %).
    let _clocks = hal::Clocks::new(pac.CLOCK).enable_ext_hfosc();
    let p0 = hal::gpio::p0::Parts::new(pac.P0);
    let (gpio, uart_pins) = Gpio::configure(p0);
    board::init(gpio);
    // EasyDMA reads and writes RAM only: the UART buffers are statics.
    static mut TX: [u8; TX_CHUNK] = [0; TX_CHUNK];
    static mut RX: [u8; 1] = [0; 1];
    let uarte0 = Uarte::new(
        pac.UARTE0,
        uart_pins,
        Parity::EXCLUDED,
        Baudrate::BAUD115200,
    );
    // SAFETY: the only references to the buffers, taken once at boot.
    let Ok((tx, rx)) = uarte0.split(unsafe { &mut *addr_of_mut!(TX) }, unsafe {
        &mut *addr_of_mut!(RX)
    }) else {
        idle()
    };
    uart::init(tx, rx);
    clock::start(&mut core.SYST, CPU_HZ);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let mut console = Console;
    if !belljar_device::announce(
        &mut console,
        "nrf52840",
        Some(settings::GUESTS),
        HEAP_SIZE,
        "",
    ) {
        finish(1);
    }

    let mut run = settings::run_settings();
    run.start_board(
        settings::FOR_MS,
        settings::HEARTBEAT_MS,
        spawner,
        Nrf::print,
    );
    let status = belljar_device::run_embedded(settings::GUESTS, Nrf::new, &mut console, run).await;
    finish(status)
}

/// Prints the memory figures and the final line, then idles.
fn finish(status: u32) -> ! {
    belljar_device::print_end(&mut Console, status);
    idle()
}

/// Sleeps forever: a real board must not reset-loop on a bad app.
fn idle() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    belljar_device::fault::print_panic(&mut Console, info);
    idle()
}

/// The board's part of the HardFault handler (`belljar_device::fault`):
/// runs on a fresh stack.
#[unsafe(no_mangle)]
extern "C" fn belljar_hard_fault(pc: u32) -> ! {
    belljar_device::fault::print_hard_fault(&mut Console, pc);
    idle()
}
