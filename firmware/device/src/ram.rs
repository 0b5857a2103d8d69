//! Where RAM went, from the runtime crate's linker symbols (`_ram_start`,
//! `_ram_end`, `_stack_start`, `_stack_end`: cortex-m-rt's `link.x`
//! defines them; a RISC-V board's `memory.x` defines them over riscv-rt's).
//! The stack region is painted with 0xCCCCCCCC at reset (cortex-m-rt's
//! `paint-stack`; on RISC-V, [`paint_stack`] early in `main`), so its deepest
//! use shows.

use core::fmt;

use crate::heap;

unsafe extern "C" {
    static _ram_start: u32;
    static _ram_end: u32;
    static _stack_start: u32;
    static _stack_end: u32;
}

fn addr(symbol: &u32) -> usize {
    symbol as *const u32 as usize
}

/// RAM given to the firmware (memory.x).
pub fn total() -> usize {
    // SAFETY: linker symbols: only their addresses are used.
    unsafe { addr(&_ram_end) - addr(&_ram_start) }
}

/// The native stack region (what the statics leave of RAM).
pub fn stack_size() -> usize {
    // SAFETY: as above.
    unsafe { addr(&_stack_start) - addr(&_stack_end) }
}

/// .data, .bss and .uninit (the heap included).
pub fn statics() -> usize {
    // SAFETY: as above.
    unsafe { addr(&_stack_end) - addr(&_ram_start) }
}

/// Moves the main stack limit (MSPLIM) down to the start of RAM, so that
/// code running on stacks allocated in the heap (Wasmtime fibers) does not
/// trip it.
pub fn lower_stack_limit() {
    // SAFETY: only lowers the limit; the stack pointer is above it.
    #[cfg(belljar_msplim)]
    unsafe {
        cortex_m::register::msplim::write(addr(&_ram_start) as u32)
    };
    #[cfg(all(target_arch = "arm", not(belljar_msplim)))]
    crate::mpu::off();
}

/// Puts the main stack limit (MSPLIM) back at the bottom of the main stack
/// region (what cortex-m-rt's `set-msplim` set at reset).
pub fn guard_main_stack() {
    // SAFETY: called on the main stack, which is above its own bottom.
    #[cfg(belljar_msplim)]
    unsafe {
        cortex_m::register::msplim::write(addr(&_stack_end) as u32)
    };
    // SAFETY: as above.
    #[cfg(all(target_arch = "arm", not(belljar_msplim)))]
    crate::mpu::guard(unsafe { addr(&_stack_end) });
}

/// Paints the unused part of the main stack (from its bottom to a little
/// below the stack pointer) with 0xCCCCCCCC, for [`stack_peak`]: what
/// cortex-m-rt's `paint-stack` does at reset. Call first thing in `main`.
/// (On Arm, cortex-m-rt's `paint-stack` has done it.)
#[cfg(target_arch = "riscv32")]
pub fn paint_stack() {
    let sp: usize;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    // SAFETY: from the stack region's bottom to 256 bytes below the stack
    // pointer: stack memory no frame uses yet.
    unsafe {
        let mut p = addr(&_stack_end) as *mut u32;
        let end = (sp - 256) as *mut u32;
        while p < end {
            p.write_volatile(0xCCCC_CCCC);
            p = p.add(1);
        }
    }
}

/// Deepest native stack use so far (bytes).
pub fn stack_peak() -> usize {
    // SAFETY: as above; the painted region is plain RAM inside ours.
    unsafe {
        let mut p = addr(&_stack_end) as *const u32;
        // Armv7-M: not the MPU guard over the bottom (`mpu`): reading it
        // faults (a stack that reached it has faulted already).
        #[cfg(all(target_arch = "arm", not(belljar_msplim)))]
        {
            p = (((p as usize + 31) & !31) + 32) as *const u32;
        }
        let top = addr(&_stack_start) as *const u32;
        while p < top && p.read_volatile() == 0xCCCC_CCCC {
            p = p.add(1);
        }
        top as usize - p as usize
    }
}

/// The `memory: heap peak ... RAM ... bytes` line boards print at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryLine;

impl fmt::Display for MemoryLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let heap = heap::stats();
        write!(
            f,
            "memory: heap peak {} of {} bytes ({} allocations, {} failed",
            heap.peak, heap.size, heap.allocations, heap.failures
        )?;
        if heap.largest_failure != 0 {
            write!(f, ", largest {} bytes", heap.largest_failure)?;
        }
        write!(
            f,
            "), stack peak {} of {} bytes, statics {} bytes, RAM {} bytes",
            stack_peak(),
            stack_size(),
            statics(),
            total()
        )?;
        let (fiber_peak, fiber_size) = crate::stacks::peak();
        if fiber_size != 0 {
            write!(
                f,
                ", fiber stack peak {fiber_peak} of {fiber_size} bytes (in the heap)"
            )?;
        }
        Ok(())
    }
}
