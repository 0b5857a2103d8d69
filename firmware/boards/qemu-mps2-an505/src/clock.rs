//! The board's millisecond clock and embassy time driver: SysTick on the
//! 20 MHz processor clock, interrupting every millisecond; each tick wakes
//! the timers that are due. Between ticks the CPU sleeps (the executor's WFE).
//!
//! Under `qemu-system-arm -icount shift=0` board time is a function of the
//! instruction count (1 instruction = 1 ns), so runs are repeatable.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// Processor clock of the AN505 image (QEMU's mps2-tz: 20 MHz).
pub const CPU_HZ: u32 = 20_000_000;
const CYCLES_PER_MS: u32 = CPU_HZ / 1000;

/// Milliseconds since [`restart`]. Wraps after 49 days.
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Timers waiting for a tick (embassy's generic queue).
static QUEUE: Mutex<RefCell<Queue>> = Mutex::new(RefCell::new(Queue::new()));

#[exception]
fn SysTick() {
    // Only this handler writes TICKS.
    let now = TICKS.load(Relaxed).wrapping_add(1);
    TICKS.store(now, Relaxed);
    critical_section::with(|cs| {
        QUEUE.borrow_ref_mut(cs).next_expiration(u64::from(now));
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
            queue.next_expiration(now_ms());
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver);

/// Starts the clock at 0 ms (once, at boot).
pub fn start(syst: &mut SYST) {
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
