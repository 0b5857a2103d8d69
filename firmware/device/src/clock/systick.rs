//! SysTick (Arm Cortex-M): interrupts every millisecond; each tick wakes the
//! timers that are due.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

/// Processor cycles per millisecond (set by [`start`]).
static CYCLES_PER_MS: AtomicU32 = AtomicU32::new(1);

#[exception]
fn SysTick() {
    critical_section::with(super::count_tick);
}

/// Starts the clock at 0 ms (once, at boot); `cpu_hz` is the processor
/// (system) clock.
pub fn start(syst: &mut SYST, cpu_hz: u32) {
    let cycles = cpu_hz / 1000;
    CYCLES_PER_MS.store(cycles, Relaxed);
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(cycles - 1);
    syst.clear_current();
    critical_section::with(super::reset_ticks);
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Board time in nanoseconds, at SysTick resolution (one processor cycle,
/// rounded down to whole nanoseconds): the heartbeat's fine clock.
pub fn now_ns() -> u64 {
    let cycles = u64::from(CYCLES_PER_MS.load(Relaxed));
    loop {
        let ms = super::now_ms();
        let current = u64::from(SYST::get_current());
        // A tick between the two reads makes `current` ambiguous: retry.
        if super::now_ms() == ms {
            let into_ms = cycles.saturating_sub(1 + current);
            return ms * 1_000_000 + into_ms * 1_000_000 / cycles;
        }
    }
}
