//! The stack guard of Armv7-M cores (no MSPLIM; e.g. the Cortex-M4F): one
//! MPU region, no access, over the lowest 32 bytes of the stack that runs
//! (a fiber's while it is polled, the main stack's otherwise), the way
//! MSPLIM is moved on Armv8-M. A push into it is a MemManage fault, which
//! (not enabled) escalates to HardFault: `fault` reports the overflow before
//! anything below the stack is written. The region lies within the stack's
//! [`GUARD_BYTES`](crate::stacks::GUARD_BYTES) of guard words (its base is
//! rounded up to 32 bytes). With `HFNMIENA` clear, the MPU is off inside the
//! HardFault handler, so the report can run.

use core::ptr::write_volatile;

const MPU_CTRL: *mut u32 = 0xE000_ED94 as *mut u32;
const MPU_RNR: *mut u32 = 0xE000_ED98 as *mut u32;
const MPU_RBAR: *mut u32 = 0xE000_ED9C as *mut u32;
const MPU_RASR: *mut u32 = 0xE000_EDA0 as *mut u32;

/// MPU_CTRL: the default memory map for privileged code, MPU on.
const PRIVDEFENA_ENABLE: u32 = 1 << 2 | 1;
/// MPU_RASR: execute never, AP = 000 (no access), SIZE = 4 (32 bytes), on.
const NO_ACCESS_32: u32 = 1 << 28 | 4 << 1 | 1;

/// Guards the 32 bytes at `bottom` rounded up to 32 (the stack's bottom).
pub fn guard(bottom: usize) {
    let base = (bottom + 31) & !31;
    // SAFETY: the MPU's registers; region 0 covers only the guard bytes of
    // a stack, which nothing reads or writes unless it overflows.
    unsafe {
        write_volatile(MPU_CTRL, 0);
        cortex_m::asm::dsb();
        write_volatile(MPU_RNR, 0);
        write_volatile(MPU_RBAR, base as u32);
        write_volatile(MPU_RASR, NO_ACCESS_32);
        write_volatile(MPU_CTRL, PRIVDEFENA_ENABLE);
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// No guard (code running on a stack that is not the one guarded).
pub fn off() {
    // SAFETY: turns the MPU off: the default memory map.
    unsafe { write_volatile(MPU_CTRL, 0) };
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// MemManage status (CFSR bits 0-7): a data access violation (DACCVIOL) or
/// a fault while stacking for an exception (MSTKERR): the guard was hit.
pub fn guard_was_hit(cfsr: u32) -> bool {
    cfsr & (1 << 1 | 1 << 4) != 0
}
