//! The board's millisecond clock: SysTick on the 20 MHz processor clock,
//! interrupting every millisecond. Between ticks the CPU sleeps (WFI).
//!
//! Under `qemu-system-arm -icount shift=0` board time is a function of the
//! instruction count (1 instruction = 1 ns), so runs are repeatable.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

/// Processor clock of the AN505 image (QEMU's mps2-tz: 20 MHz).
pub const CPU_HZ: u32 = 20_000_000;
const CYCLES_PER_MS: u32 = CPU_HZ / 1000;

/// Milliseconds since [`restart`]. Wraps after 49 days.
static TICKS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    // Only this handler writes TICKS.
    TICKS.store(TICKS.load(Relaxed).wrapping_add(1), Relaxed);
}

/// Starts (or restarts) the clock at 0 ms.
pub fn restart(syst: &mut SYST) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CYCLES_PER_MS - 1);
    syst.clear_current();
    TICKS.store(0, Relaxed);
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Board time in milliseconds.
pub fn now_ms() -> u64 {
    u64::from(TICKS.load(Relaxed))
}

/// Board time in processor cycles (for sub-millisecond delays).
pub fn now_cycles() -> u64 {
    loop {
        let ms = TICKS.load(Relaxed);
        let current = SYST::get_current();
        // A tick between the two reads makes `current` ambiguous: retry.
        if TICKS.load(Relaxed) == ms {
            return u64::from(ms) * u64::from(CYCLES_PER_MS)
                + u64::from(CYCLES_PER_MS - 1 - current);
        }
    }
}

/// Board time in nanoseconds, at SysTick resolution (50 ns). Under QEMU's
/// `-icount shift=0` one instruction takes one nanosecond, so this counts
/// instructions (to within 50): deterministic figures for the benchmark.
pub fn now_instructions() -> u64 {
    now_cycles() * u64::from(1_000_000_000 / CPU_HZ)
}

/// Sleeps until board time reaches `ms` (wakes on every tick).
pub fn sleep_until_ms(ms: u64) {
    while now_ms() < ms {
        cortex_m::asm::wfi();
    }
}

/// Busy-waits `ns` nanoseconds (for the sub-millisecond part of a delay).
pub fn spin_ns(ns: u64) {
    let until = now_cycles() + ns * u64::from(CPU_HZ / 1_000_000) / 1000;
    while now_cycles() < until {}
}
