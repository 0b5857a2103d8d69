//! The firmware's executor: embassy's task machinery (`raw::Executor`) with a
//! run loop that sleeps with WFI until an interrupt, when no task is ready.
//!
//! embassy's own Cortex-M thread executor sleeps with WFE. QEMU treats WFE
//! as a mere yield, so a waiting firmware would spin and, under `-icount`,
//! board time would only advance at the speed of emulated instructions; WFI
//! halts the CPU until the next interrupt (SysTick, at worst one tick
//! later) on QEMU and on real chips alike. On RISC-V the same loop sleeps
//! with `wfi`, which wakes on a pending enabled interrupt (the machine timer)
//! even with interrupts masked in `mstatus`.

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{Spawner, raw};

/// A task was woken: poll before sleeping.
static WOKEN: AtomicBool = AtomicBool::new(true);

#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WOKEN.store(true, Ordering::Release);
}

/// Runs the executor forever; `init` spawns the first tasks. Call once.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    static mut EXECUTOR: MaybeUninit<raw::Executor> = MaybeUninit::uninit();
    // SAFETY: `run` is called once, at boot; nothing else touches EXECUTOR.
    let executor: &'static raw::Executor =
        unsafe { (*addr_of_mut!(EXECUTOR)).write(raw::Executor::new(core::ptr::null_mut())) };
    init(executor.spawner());
    loop {
        // SAFETY: polled from this loop only, never reentrantly.
        unsafe { executor.poll() };
        sleep_unless_woken();
    }
}

/// Sleeps until an interrupt unless a task was woken. With interrupts
/// masked, a wake-up between the check and the WFI still ends the WFI (the
/// interrupt is pending) and is handled once they are unmasked.
#[cfg(target_arch = "arm")]
fn sleep_unless_woken() {
    cortex_m::interrupt::free(|_| {
        if !WOKEN.swap(false, Ordering::AcqRel) {
            cortex_m::asm::wfi();
        }
    });
}

#[cfg(target_arch = "riscv32")]
fn sleep_unless_woken() {
    riscv::interrupt::free(|| {
        if !WOKEN.swap(false, Ordering::AcqRel) {
            riscv::asm::wfi();
        }
    });
}
