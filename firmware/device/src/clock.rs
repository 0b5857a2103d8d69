//! Every board's millisecond clock and embassy time driver (`tick-hz-1_000`),
//! and *board time*: milliseconds since the guests were handed the board, as
//! on the simulator. The timer behind it depends on the architecture:
//!
//! * Arm Cortex-M ([`systick`](self)): SysTick on the processor clock,
//!   interrupting every millisecond; each tick wakes the timers that are due.
//! * RISC-V: the machine timer (`mtime`/`mtimecmp`, e.g. the CLINT), also
//!   interrupting every millisecond.
//!
//! Between interrupts the CPU sleeps (the executor's WFI). Under QEMU
//! `-icount shift=0` one instruction takes one nanosecond, so [`now_ns`]
//! counts instructions (at the timer's resolution). On a real chip, critical
//! sections must stay shorter than a millisecond or SysTick ticks are lost
//! and board time falls behind.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use critical_section::Mutex;
use embassy_time_queue_utils::Queue;

#[cfg(target_arch = "arm")]
#[path = "clock/systick.rs"]
mod timer;
#[cfg(target_arch = "riscv32")]
#[path = "clock/mtimer.rs"]
mod timer;

pub use timer::*;

/// Timers waiting to be due (embassy's generic queue).
static QUEUE: Mutex<RefCell<Queue>> = Mutex::new(RefCell::new(Queue::new()));

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
