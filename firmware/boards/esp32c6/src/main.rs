//! belljar firmware for the ESP32-C6-DevKitC-1 (ESP32-C6: RV32IMAC at
//! 160 MHz, 512 KiB HP SRAM, code and read-only data, the embedded guests
//! included, run from external flash through the cache): runs the guests
//! embedded at build time (`BELLJAR_GUEST`, see build.rs) side by side on
//! the embassy executor, with a firmware heartbeat task beside them
//! (`BELLJAR_HEARTBEAT_MS`), prints their timeline and outcome on UART0
//! (the DevKitC's USB-UART bridge, 115200 8N1), then idles (WFI). A trap, a
//! load error or a firmware panic is printed and the board idles: it never
//! reset-loops.
//!
//! esp-hal brings the runtime (esp-riscv-rt, `linkall.x`) and the ESP-IDF
//! 2nd-stage bootloader loads the image (the app descriptor below). Flash
//! with `espflash flash --monitor <elf>`; see firmware/README.md.
#![no_std]
#![no_main]

mod board;
mod uart;

#[allow(dead_code)] // PRESSES: scripted buttons are for QEMU; these are real.
mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

use core::cell::RefCell;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use belljar_device::{clock, ram};
use critical_section::Mutex;
use embassy_executor::Spawner;
use esp_hal::clock::CpuClock;
use esp_hal::peripherals::SYSTIMER;
use esp_hal::time::Duration;
use esp_hal::timer::PeriodicTimer;
use esp_hal::timer::systimer::{SystemTimer, Unit};
use esp_hal::uart::{Config as UartConfig, Uart};
use esp_hal::{Blocking, handler};

use crate::board::{Esp, Gpio};
use crate::uart::Console;
use belljar_device::board::Hardware as _;

esp_bootloader_esp_idf::esp_app_desc!();

/// Heap for Wasmtime and the guests: 160 KiB (three apps side by side, as
/// on the other boards) of the 441 KiB of SRAM the app is given (esp-hal's
/// memory.x; the rest is the ROM's and the bootloader's); the native stack
/// gets what the heap and statics leave.
const HEAP_SIZE: usize = match settings::HEAP {
    Some(bytes) => bytes,
    None => 160 * 1024,
};

#[unsafe(link_section = ".uninit.belljar_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[esp_hal::main]
fn main() -> ! {
    ram::paint_stack();
    belljar_device::executor::run(|spawner| spawner.spawn(firmware(spawner).unwrap()))
}

#[embassy_executor::task]
async fn firmware(spawner: Spawner) {
    // Clocks up, watchdogs off.
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::_160MHz));
    let Ok(uart0) = Uart::new(p.UART0, UartConfig::default().with_baudrate(115_200)) else {
        idle()
    };
    uart::init(uart0.with_tx(p.GPIO16).with_rx(p.GPIO17));
    board::init(Gpio::configure(
        [
            p.GPIO23.into(),
            p.GPIO20.into(),
            p.GPIO21.into(),
            p.GPIO22.into(),
        ],
        [p.GPIO9.into(), p.GPIO18.into()],
    ));
    start_clock(p.SYSTIMER);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let mut console = Console;
    let mhz = esp_hal::clock::cpu_clock().as_mhz();
    let extra = format_args!(", {mhz} MHz");
    if !belljar_device::announce(
        &mut console,
        "esp32c6",
        Some(settings::GUESTS),
        HEAP_SIZE,
        extra,
    ) {
        finish(1);
    }

    let mut run = settings::run_settings();
    run.start_board(
        settings::FOR_MS,
        settings::HEARTBEAT_MS,
        spawner,
        Esp::print,
    );
    let status = belljar_device::run_embedded(settings::GUESTS, Esp::new, &mut console, run).await;
    finish(status)
}

/// The millisecond tick: SYSTIMER alarm 0 in period mode (esp-hal's
/// periodic timer), its interrupt cleared and counted by [`on_tick`].
static TICK: Mutex<RefCell<Option<PeriodicTimer<'static, Blocking>>>> =
    Mutex::new(RefCell::new(None));

/// The clock (`belljar_device::clock`, ticked): a 1 ms SYSTIMER period,
/// and SYSTIMER unit 0 (16 MHz) as the fine counter.
fn start_clock(systimer: SYSTIMER<'static>) {
    let mut timer = PeriodicTimer::new(SystemTimer::new(systimer).alarm0);
    timer.set_interrupt_handler(on_tick);
    clock::start(clock::Counter {
        read: || SystemTimer::unit_value(Unit::Unit0),
        hz: SystemTimer::ticks_per_second() as u32,
    });
    critical_section::with(|cs| {
        let mut tick = TICK.borrow_ref_mut(cs);
        let timer = tick.insert(timer);
        timer.listen();
        if timer.start(Duration::from_millis(1)).is_err() {
            idle()
        }
    });
}

#[handler]
fn on_tick() {
    critical_section::with(|cs| {
        if let Some(timer) = TICK.borrow_ref_mut(cs).as_mut() {
            timer.clear_interrupt();
        }
    });
    clock::tick();
}

/// Prints the memory figures and the final line, then idles.
fn finish(status: u32) -> ! {
    belljar_device::print_end(&mut Console, status);
    idle()
}

/// Sleeps forever: a real board must not reset-loop on a bad app. Reset it
/// (the RST button) to run again.
fn idle() -> ! {
    loop {
        esp_hal::riscv::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    belljar_device::fault::print_panic(&mut Console, info);
    idle()
}

/// The board's part of the exception handler (`belljar_device::fault`) and
/// of the fiber guard-word check.
#[unsafe(no_mangle)]
extern "C" fn belljar_hard_fault(pc: u32) -> ! {
    belljar_device::fault::print_hard_fault(&mut Console, pc);
    idle()
}
