//! A millisecond interrupt the board's HAL owns: RISC-V boards whose HAL
//! brings its own runtime and interrupt dispatch (esp-hal on the ESP32-C6,
//! whose SYSTIMER is no `mtime`/`mtimecmp` machine timer). The board starts
//! a periodic 1 ms interrupt, calls [`tick`] from its handler and gives
//! [`start`] the free-running counter behind it for [`now_ns`]. As with
//! SysTick, the milliseconds are the ticks counted: a handler held up for
//! more than a period loses ticks and board time falls behind the counter.

use core::cell::Cell;

use critical_section::Mutex;

use super::TICKS;

/// The board's free-running counter: how to read it and how fast it counts.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    pub read: fn() -> u64,
    pub hz: u32,
}

/// The counter (set by [`start`]) and its value at the last tick.
static COUNTER: Mutex<Cell<Option<Counter>>> = Mutex::new(Cell::new(None));
static LAST: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts the clock at 0 ms (once, at boot, before the board's millisecond
/// interrupt is started) and enables machine interrupts (`mstatus.MIE`, as
/// `mtimer` does: the runtime leaves it as the boot loader did).
pub fn start(counter: Counter) {
    critical_section::with(|cs| {
        super::reset_ticks(cs);
        LAST.borrow(cs).set((counter.read)());
        COUNTER.borrow(cs).set(Some(counter));
    });
    // SAFETY: the clock is ready for the board's interrupt; the board's
    // HAL routes and dispatches its interrupts.
    unsafe { riscv::register::mstatus::set_mie() };
}

/// A millisecond has passed: counts it and wakes what is due. Call from
/// the board's periodic timer interrupt.
pub fn tick() {
    critical_section::with(|cs| {
        if let Some(counter) = COUNTER.borrow(cs).get() {
            LAST.borrow(cs).set((counter.read)());
        }
        super::count_tick(cs);
    });
}

/// Board time in nanoseconds, at the counter's resolution (the ESP32-C6's
/// SYSTIMER: 16 MHz, 62.5 ns): the heartbeat's fine clock. Within a
/// millisecond it counts from the last tick, and never reaches the next
/// millisecond.
pub fn now_ns() -> u64 {
    let (ms, last, counter) = critical_section::with(|cs| {
        (
            TICKS.borrow(cs).get(),
            LAST.borrow(cs).get(),
            COUNTER.borrow(cs).get(),
        )
    });
    let Some(counter) = counter else {
        return ms * 1_000_000;
    };
    let hz = u64::from(counter.hz);
    let into = (counter.read)().wrapping_sub(last).min(hz / 1000 - 1);
    ms * 1_000_000 + into * 1_000_000_000 / hz
}
