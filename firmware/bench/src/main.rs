//! Benchmark tool, not a product feature: the speed table's kernels
//! (`belljar_kernels`) on QEMU's mps2-an505 (Cortex-M33), first compiled
//! natively into this firmware, then as the speed guest's core module
//! (`BELLJAR_SPEED_WASM`) under wasmi 2.x, without and with fuel metering.
//! Each run prints `engine <name>`
//! and then the kernels' mark lines stamped with the instruction counter
//! (`mark speed <kernel> <result> at <ns> ns`, one instruction = 1 ns under
//! `-icount shift=0`), exactly as belljar's QEMU firmware stamps its guest's
//! marks. The host call (`gpio.set-high(25)`) drives FPGA IO LED0 as
//! belljar's board does.
#![no_std]
#![no_main]

#[path = "../../boards/qemu-mps2-an505/src/uart.rs"]
#[allow(dead_code)]
mod uart;
// Its semihosting exit and panic/HardFault handlers, likewise.
#[path = "../../boards/qemu-mps2-an505/src/exit.rs"]
mod exit;

use core::fmt::Write as _;
use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use belljar_device::clock;
use belljar_kernels::Host;
use cortex_m_rt::entry;
use uart::Console;

/// Processor clock of the AN505 image (QEMU: 20 MHz).
const CPU_HZ: u32 = 20_000_000;
/// FPGA IO LED0 register (Secure alias): bit 0 is the LED of pin 25.
const FPGAIO_LED0: usize = 0x5030_2000;
const LED_PIN: u32 = 25;

const HEAP_SIZE: usize = 512 * 1024;
#[unsafe(link_section = ".uninit.speed_heap")]
static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

/// The speed guest's core module (the wasm before it is made a component).
static SPEED_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/speed.wasm"));

/// `gpio.set-high`: the LED pin drives LED0, as on belljar's QEMU board.
fn set_high(pin: u32) {
    if pin == LED_PIN {
        // SAFETY: the FPGA IO LED register, touched only here.
        unsafe {
            let leds = read_volatile(FPGAIO_LED0 as *const u32);
            write_volatile(FPGAIO_LED0 as *mut u32, leds | 1);
        }
    }
}

/// A mark line, stamped before it is printed (as belljar's board does).
fn mark(line: &str) {
    if line.starts_with(belljar_kernels::MARK) {
        let at = clock::now_ns();
        let _ = writeln!(Console, "{line} at {at} ns");
    }
}

struct Native;

impl Host for Native {
    fn set_high(&mut self, pin: u32) {
        set_high(pin);
    }
    fn mark(&mut self, line: &str) {
        mark(line);
    }
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap();
    uart::init();
    clock::start(&mut core.SYST, CPU_HZ);
    // SAFETY: the only reference to the heap memory, taken once at boot.
    belljar_device::heap::init(unsafe { &mut *addr_of_mut!(HEAP_MEMORY) });

    let _ = writeln!(Console, "engine native");
    belljar_kernels::run_all(&mut Native);

    let mut status = 0;
    if SPEED_WASM.is_empty() {
        let _ = writeln!(
            Console,
            "error: no core module: build with BELLJAR_SPEED_WASM"
        );
        status = 1;
    }
    // wasmi as configured by default, then with fuel metering (belljar
    // meters fuel: its watchdog and yields need it).
    for (engine, fuel) in [("wasmi", false), ("wasmi-fuel", true)] {
        if status != 0 {
            break;
        }
        let _ = writeln!(Console, "engine {engine}");
        if let Err(e) = run_wasmi(SPEED_WASM, fuel) {
            let _ = writeln!(Console, "error: {engine}: {e}");
            status = 1;
        }
    }
    let _ = writeln!(Console, "speed-bench: exit status {status}");
    exit::exit(status)
}

/// Instantiates the core module with its two imports and calls `run`, with
/// fuel metering if `fuel`.
fn run_wasmi(wasm: &[u8], fuel: bool) -> Result<(), wasmi::Error> {
    use wasmi::{Caller, CompilationMode, Config, Engine, Extern, Linker, Module, Store};
    let mut config = Config::default();
    // belljar links guests with 1-byte pages.
    config.wasm_custom_page_sizes(true);
    // Translated before `run`, as belljar's guests are precompiled: no
    // kernel pays for its own translation.
    config.compilation_mode(CompilationMode::Eager);
    config.consume_fuel(fuel);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, wasm)?;
    let mut store = Store::new(&engine, ());
    if fuel {
        store.set_fuel(u64::MAX)?;
    }
    let mut linker = Linker::<()>::new(&engine);
    linker.func_wrap("embedded:platform/gpio", "set-high", |pin: u32| {
        set_high(pin)
    })?;
    linker.func_wrap(
        "embedded:platform/log",
        "log",
        |caller: Caller<'_, ()>, _level: i32, ptr: u32, len: u32| {
            let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                return;
            };
            let bytes = memory.data(&caller);
            let (ptr, len) = (ptr as usize, len as usize);
            if let Some(text) = bytes
                .get(ptr..ptr + len)
                .and_then(|b| core::str::from_utf8(b).ok())
            {
                mark(text);
            }
        },
    )?;
    let instance = linker.instantiate_and_start(&mut store, &module)?;
    let run = instance.get_typed_func::<(), ()>(&store, "run")?;
    run.call(&mut store, ())?;
    Ok(())
}
