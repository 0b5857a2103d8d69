//! SysTick (Arm Cortex-M): interrupts every millisecond; each tick wakes the
//! timers that are due.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;

use super::QUEUE;

/// Processor cycles per millisecond (set by [`start`]).
static CYCLES_PER_MS: AtomicU32 = AtomicU32::new(1);

/// Milliseconds since [`start`] (64-bit: never wraps; Armv8-M has no 64-bit
/// atomics, hence the critical section).
static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = TICKS.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        QUEUE.borrow_ref_mut(cs).next_expiration(now);
    });
}

/// embassy-time's clock: SysTick milliseconds (`tick-hz-1_000`).
struct SysTickDriver;

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        now_ms()
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = QUEUE.borrow_ref_mut(cs);
            queue.schedule_wake(at, waker);
            // Already due: do not wait for the next tick.
            queue.next_expiration(TICKS.borrow(cs).get());
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver);

/// Starts the clock at 0 ms (once, at boot); `cpu_hz` is the processor
/// (system) clock.
pub fn start(syst: &mut SYST, cpu_hz: u32) {
    let cycles = cpu_hz / 1000;
    CYCLES_PER_MS.store(cycles, Relaxed);
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(cycles - 1);
    syst.clear_current();
    critical_section::with(|cs| TICKS.borrow(cs).set(0));
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Board time in milliseconds.
pub fn now_ms() -> u64 {
    critical_section::with(|cs| TICKS.borrow(cs).get())
}

/// Board time in nanoseconds, at SysTick resolution (one processor cycle,
/// rounded down to whole nanoseconds): the heartbeat's fine clock.
pub fn now_ns() -> u64 {
    let cycles = u64::from(CYCLES_PER_MS.load(Relaxed));
    loop {
        let ms = now_ms();
        let current = u64::from(SYST::get_current());
        // A tick between the two reads makes `current` ambiguous: retry.
        if now_ms() == ms {
            let into_ms = cycles.saturating_sub(1 + current);
            return ms * 1_000_000 + into_ms * 1_000_000 / cycles;
        }
    }
}
