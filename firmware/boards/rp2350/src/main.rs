//! belljar firmware for the Raspberry Pi Pico 2 (RP2350 core 0: a Cortex-M33,
//! or a Hazard3 RISC-V core when built for `riscv32imac-unknown-none-elf`):
//! runs the guests embedded at build time (`BELLJAR_GUEST`, see build.rs)
//! (or, built with `BELLJAR_PUBKEY`, the supervisor: signed apps from A/B
//! slots in the QSPI flash, updates on UART1; see `supervised.rs`)
//! side by side on the embassy executor, with a firmware heartbeat task
//! beside them (`BELLJAR_HEARTBEAT_MS`), prints their timeline and outcome on
//! UART0 (GPIO0 TX / GPIO1 RX, 115200 8N1), then idles (WFI). A trap, a load
//! error or a firmware panic is printed and the board idles: it never
//! reset-loops.
//!
//! Flash with `picotool load -u -v -x -t elf <elf>` (BOOTSEL) or
//! `probe-rs run --chip RP235x <elf>` (debug probe); see firmware/README.md.
#![no_std]
#![no_main]

mod board;
#[cfg(belljar_supervisor)]
mod flash;
#[cfg(belljar_supervisor)]
mod supervised;
mod uart;

#[allow(dead_code)] // PRESSES: scripted buttons are for QEMU; these are real.
mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use belljar_device::clock;
use embassy_executor::Spawner;
use rp235x_hal as hal;

use hal::Clock as _;
use hal::fugit::RateExtU32;
use hal::uart::{DataBits, StopBits, UartConfig, UartPeripheral};

use crate::board::{Configured, Gpio, Pico};
use crate::uart::Console;
use belljar_device::board::Hardware as _;

/// Tells the boot ROM this is a Secure Arm executable, or a RISC-V one
/// (`ImageDef` takes the architecture from the target). On RISC-V the boot
/// ROM enters the image at its start, riscv-rt's `_start` (`.init`): the
/// block follows it (`.init.rust`, memory-riscv.x), in the first 4 KiB.
#[cfg_attr(target_arch = "arm", unsafe(link_section = ".start_block"))]
#[cfg_attr(target_arch = "riscv32", unsafe(link_section = ".init.rust"))]
#[used]
pub static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

/// What `picotool info` shows about the image.
#[unsafe(link_section = ".bi_entries")]
#[used]
pub static PICOTOOL_ENTRIES: [hal::binary_info::EntryAddr; 3] = [
    hal::binary_info::rp_cargo_bin_name!(),
    hal::binary_info::rp_cargo_version!(),
    hal::binary_info::rp_program_description!(c"belljar: a sandboxed WebAssembly app"),
];

/// The Pico 2's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;
const BAUD: u32 = 115_200;

/// Heap for Wasmtime and the guests (linear memories, Pulley stacks, fiber
/// stacks, stores): 160 KiB, room for three apps side by side (a device app
/// with its drivers takes ~33 KiB, blinky ~20 KiB; measured on QEMU). The
/// firmware is given 256 KiB of the RP2350's 520 KiB (memory.x); the native
/// stack gets what the heap and statics leave.
const HEAP_SIZE: usize = match settings::HEAP {
    Some(bytes) => bytes,
    None => 160 * 1024,
};

#[unsafe(link_section = ".uninit.belljar_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

/// `hal::entry` (cortex-m-rt's entry after resetting the RP2350's spinlocks
/// and enabling its coprocessors) runs the executor.
#[rp235x_hal::entry]
fn main() -> ! {
    // cortex-m-rt paints the stack at reset (`paint-stack`); riscv-rt does not.
    #[cfg(target_arch = "riscv32")]
    belljar_device::ram::paint_stack();
    belljar_device::executor::run(|spawner| spawner.spawn(firmware(spawner).unwrap()))
}

#[embassy_executor::task]
async fn firmware(spawner: Spawner) {
    let Some(mut pac) = hal::pac::Peripherals::take() else {
        idle()
    };
    #[cfg(target_arch = "arm")]
    let Some(mut core) = cortex_m::Peripherals::take() else {
        idle()
    };
    // A native stack overflow hits MSPLIM (set by cortex-m-rt) and escalates
    // to HardFault; let the handler run below the limit so it can report it.
    // SAFETY: CCR.STKOFHFNMIGN (bit 10) only relaxes limit checks in HardFault/NMI.
    #[cfg(target_arch = "arm")]
    unsafe {
        core.SCB.ccr.modify(|ccr| ccr | 1 << 10)
    };

    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        // No clock, no UART: nothing to print on.
        idle()
    };
    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let pwm = hal::pwm::Slices::new(pac.PWM, &mut pac.RESETS);
    let sys_hz = clocks.system_clock.freq().to_Hz();
    let peripherals = board::Parts {
        pins,
        pwm,
        i2c0: pac.I2C0,
        spi0: pac.SPI0,
        adc: pac.ADC,
    };
    let configured: Configured = Gpio::configure(
        peripherals,
        &mut pac.RESETS,
        sys_hz,
        clocks.peripheral_clock.freq().to_Hz(),
    );
    board::init(configured.gpio);
    let config = UartConfig::new(BAUD.Hz(), DataBits::Eight, None, StopBits::One);
    let Ok(uart0) = UartPeripheral::new(pac.UART0, configured.uart, &mut pac.RESETS)
        .enable(config, clocks.peripheral_clock.freq())
    else {
        idle()
    };
    uart::init(uart0);
    #[cfg(belljar_supervisor)]
    {
        let config = UartConfig::new(BAUD.Hz(), DataBits::Eight, None, StopBits::One);
        let Ok(uart1) = UartPeripheral::new(pac.UART1, configured.link, &mut pac.RESETS)
            .enable(config, clocks.peripheral_clock.freq())
        else {
            idle()
        };
        uart::link::init(uart1);
    }
    #[cfg(target_arch = "arm")]
    clock::start(&mut core.SYST, sys_hz);
    #[cfg(target_arch = "riscv32")]
    start_mtimer(sys_hz);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let mut console = Console;
    let guests = settings::PUBKEY.is_none().then_some(settings::GUESTS);
    let mhz = format_args!(", {} MHz", clocks.system_clock.freq().to_MHz());
    if !belljar_device::announce(&mut console, "rp2350", guests, HEAP_SIZE, mhz) {
        finish(1);
    }

    let mut run = settings::run_settings();
    run.start_board(
        settings::FOR_MS,
        settings::HEARTBEAT_MS,
        spawner,
        Pico::print,
    );

    // Supervisor mode (`BELLJAR_PUBKEY`): apps from the flash slots,
    // updates on UART1. Compiled in only then.
    #[cfg(belljar_supervisor)]
    supervised::run(&run, &mut console).await;
    #[cfg(not(belljar_supervisor))]
    {
        let status =
            belljar_device::run_embedded(settings::GUESTS, Pico::new, &mut console, run).await;
        finish(status)
    }
}

/// Prints the memory figures and the final line, then idles.
fn finish(status: u32) -> ! {
    belljar_device::print_end(&mut Console, status);
    idle()
}

/// Sleeps forever: a real board must not reset-loop on a bad app. Reset or
/// reflash it to run again.
fn idle() -> ! {
    loop {
        hal::arch::wfi();
    }
}

/// RISC-V: the clock is the SIO's machine timer (`mtime`/`mtimecmp`, shared
/// by both Hazard3 cores), counting every system clock cycle.
#[cfg(target_arch = "riscv32")]
fn start_mtimer(sys_hz: u32) {
    // SAFETY: the SIO's timer registers; nothing else uses them.
    let sio = unsafe { &*hal::pac::SIO::PTR };
    sio.mtime_ctrl()
        .write(|w| w.en().set_bit().fullspeed().set_bit());
    clock::start(clock::Mtimer {
        mtime: sio.mtime().as_ptr() as usize,
        mtimecmp: sio.mtimecmp().as_ptr() as usize,
        hz: sys_hz,
    });
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    belljar_device::fault::print_panic(&mut Console, info);
    idle()
}

/// The board's part of the HardFault handler (`belljar_device::fault`; on
/// RISC-V, of the exception handler and the fiber guard-word check): runs on
/// a fresh stack with the stack limit off.
#[unsafe(no_mangle)]
extern "C" fn belljar_hard_fault(pc: u32) -> ! {
    belljar_device::fault::print_hard_fault(&mut Console, pc);
    idle()
}
