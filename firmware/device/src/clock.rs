//! Every board's millisecond clock and embassy time driver (`tick-hz-1_000`),
//! and *board time*: milliseconds since the guests were handed the board, as
//! on the simulator. The timer behind it depends on the architecture:
//!
//! * Arm Cortex-M ([`systick`](self)): SysTick on the processor clock,
//!   interrupting every millisecond; each tick wakes the timers that are due.
//! * RISC-V on riscv-rt (feature `riscv-rt`, [`mtimer`](self)): the machine
//!   timer (`mtime`/`mtimecmp`, e.g. the CLINT), also interrupting every
//!   millisecond.
//! * RISC-V under a HAL's own runtime (no `riscv-rt`, [`ticked`](self): the
//!   ESP32-C6's SYSTIMER under esp-hal): the board's HAL runs a periodic
//!   millisecond interrupt and its handler calls `tick`.
//!
//! Whatever the timer, the milliseconds are the ticks counted here and the
//! embassy time driver is the one below; a timer module arms its interrupt
//! and reads its counter for `now_ns`.
//!
//! Between interrupts the CPU sleeps (the executor's WFI). Under QEMU
//! `-icount shift=0` one instruction takes one nanosecond, so [`now_ns`]
//! counts instructions (at the timer's resolution). On a real chip, critical
//! sections must stay shorter than a millisecond or SysTick ticks are lost
//! and board time falls behind.

use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::Waker;

use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

#[cfg(target_arch = "arm")]
#[path = "clock/systick.rs"]
mod timer;
#[cfg(all(target_arch = "riscv32", feature = "riscv-rt"))]
#[path = "clock/mtimer.rs"]
mod timer;
#[cfg(all(target_arch = "riscv32", not(feature = "riscv-rt")))]
#[path = "clock/ticked.rs"]
mod timer;

pub use timer::*;

/// Timers waiting to be due (embassy's generic queue).
static QUEUE: Mutex<RefCell<Queue>> = Mutex::new(RefCell::new(Queue::new()));

/// Milliseconds since the timer started: its ticks counted (64-bit: never
/// wraps; neither Armv8-M nor RV32 has 64-bit atomics, hence the critical
/// section).
static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Counts a tick (from the timer's interrupt) and wakes the timers that are
/// due.
fn count_tick(cs: CriticalSection<'_>) {
    let ticks = TICKS.borrow(cs);
    let now = ticks.get() + 1;
    ticks.set(now);
    QUEUE.borrow_ref_mut(cs).next_expiration(now);
}

/// Restarts the count at 0 ms (a timer's `start`).
fn reset_ticks(cs: CriticalSection<'_>) {
    TICKS.borrow(cs).set(0);
}

/// Clock (embassy) time in milliseconds: the ticks counted.
pub fn now_ms() -> u64 {
    critical_section::with(|cs| TICKS.borrow(cs).get())
}

/// embassy-time's clock: the ticks (`tick-hz-1_000`).
struct TickDriver;

impl Driver for TickDriver {
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

embassy_time_driver::time_driver_impl!(static DRIVER: TickDriver = TickDriver);

/// Clock time (ms) at which the guests were handed the board. (Set once,
/// shortly after boot: 32 bits are plenty.)
static START_MS: AtomicU32 = AtomicU32::new(0);

/// Marks now as board time 0; returns the clock (embassy) time of it.
pub fn start_board_time() -> u64 {
    let now = now_ms();
    START_MS.store(now as u32, Relaxed);
    now
}

/// Clock (embassy) time of board time 0.
pub fn start_ms() -> u64 {
    u64::from(START_MS.load(Relaxed))
}

/// Milliseconds since [`start_board_time`].
pub fn board_ms() -> u64 {
    now_ms() - start_ms()
}
