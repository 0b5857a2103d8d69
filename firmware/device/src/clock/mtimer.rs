//! The RISC-V machine timer (`mtime`, `mtimecmp`: the CLINT / ACLINT MTIMER),
//! interrupting every millisecond like SysTick on the Arm boards; each tick
//! wakes the timers that are due, and the milliseconds are the ticks
//! counted, as there. A tick handled more than a period late does not make
//! up for the ticks it missed (the next is due a period after it): board
//! time then falls behind `mtime`, like a SysTick that lost ticks, but stays
//! whole milliseconds apart. `mtime` is 64 bits wide, read on RV32 as two
//! halves (high, low, high again).
//!
//! Why not tickless (`mtimecmp` at the next timer that is due, board time
//! = `mtime`)? Under QEMU `-icount shift=0` an idle CPU's virtual clock
//! waits for the host's real clock and then jumps; a jump overshoots by the
//! host's wake-up latency (seen: 2 ms after every 500 ms delay on a loaded
//! machine), and the timeline with it. Counted ticks do not see it.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use critical_section::Mutex;

use super::TICKS;

/// Where the timer's registers are (set by [`start`]).
static MTIME: AtomicUsize = AtomicUsize::new(0);
static MTIMECMP: AtomicUsize = AtomicUsize::new(0);
/// Timer counts per millisecond.
static COUNTS_PER_MS: AtomicU32 = AtomicU32::new(1);
/// The `mtime` at which the next tick is due.
static DUE: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// A machine timer: the addresses of `mtime` and of this hart's `mtimecmp`,
/// and the rate at which `mtime` counts.
#[derive(Clone, Copy, Debug)]
pub struct Mtimer {
    pub mtime: usize,
    pub mtimecmp: usize,
    pub hz: u32,
}

fn mtime() -> u64 {
    let lo = MTIME.load(Relaxed) as *const u32;
    // SAFETY: the timer's registers, given to `start`.
    unsafe {
        let hi = lo.add(1);
        loop {
            let h = hi.read_volatile();
            let l = lo.read_volatile();
            if hi.read_volatile() == h {
                return u64::from(h) << 32 | u64::from(l);
            }
        }
    }
}

/// Sets `mtimecmp` without a spurious interrupt in between (low half to
/// all ones first, as the privileged spec recommends on RV32).
fn set_mtimecmp(at: u64) {
    let lo = MTIMECMP.load(Relaxed) as *mut u32;
    // SAFETY: this hart's compare register, given to `start`.
    unsafe {
        lo.write_volatile(u32::MAX);
        lo.add(1).write_volatile((at >> 32) as u32);
        lo.write_volatile(at as u32);
    }
}

/// Counts a tick, wakes what is due and arms the next one.
fn tick(cs: critical_section::CriticalSection<'_>) {
    super::count_tick(cs);
    let per_ms = u64::from(COUNTS_PER_MS.load(Relaxed));
    let due = DUE.borrow(cs);
    // A period after this tick was due; a period from now if that has
    // passed already (missed ticks are not made up).
    let next = (due.get() + per_ms).max(mtime() + per_ms);
    due.set(next);
    set_mtimecmp(next);
}

/// The machine timer interrupt (riscv-rt's `MachineTimer` handler).
#[unsafe(export_name = "MachineTimer")]
fn machine_timer() {
    critical_section::with(tick);
}

/// Starts the clock at 0 ms (once, at boot) and enables the machine timer
/// interrupt (and machine interrupts).
pub fn start(timer: Mtimer) {
    MTIME.store(timer.mtime, Relaxed);
    MTIMECMP.store(timer.mtimecmp, Relaxed);
    COUNTS_PER_MS.store(timer.hz / 1000, Relaxed);
    set_mtimecmp(u64::MAX);
    let due = mtime() + u64::from(timer.hz / 1000);
    critical_section::with(|cs| {
        super::reset_ticks(cs);
        DUE.borrow(cs).set(due);
    });
    set_mtimecmp(due);
    // SAFETY: the handler above is ready; nothing else runs yet.
    unsafe {
        riscv::register::mie::set_mtimer();
        riscv::register::mstatus::set_mie();
    }
}

/// Board time in nanoseconds, at the timer's resolution (QEMU virt: 10 MHz,
/// 100 ns): the heartbeat's fine clock. Within a millisecond it counts from
/// when the last tick was due, and never reaches the next millisecond.
pub fn now_ns() -> u64 {
    let per_ms = u64::from(COUNTS_PER_MS.load(Relaxed));
    let (ms, due) = critical_section::with(|cs| (TICKS.borrow(cs).get(), DUE.borrow(cs).get()));
    let into = (mtime() + per_ms).saturating_sub(due).min(per_ms - 1);
    ms * 1_000_000 + into * 1_000_000 / per_ms
}
