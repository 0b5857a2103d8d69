//! What every board prints when the firmware itself fails (a panic, a
//! HardFault), before it stops (QEMU) or idles (a real board).

use core::fmt::Write;

/// Exit status of a firmware panic.
pub const PANIC_STATUS: u32 = 2;
/// Exit status of a HardFault (e.g. native stack overflow).
pub const HARD_FAULT_STATUS: u32 = 3;

/// `firmware panic: ...` and the final status line.
pub fn print_panic(console: &mut impl Write, info: &core::panic::PanicInfo) {
    let _ = writeln!(console, "firmware panic: {info}");
    let _ = writeln!(console, "belljar: exit status {PANIC_STATUS}");
}

/// Where the fault happened, whether it was a native stack overflow (the
/// Cortex-M33 stack limit, MSPLIM), and the final status line.
pub fn print_hard_fault(console: &mut impl Write, pc: u32) {
    // SAFETY: reading the Configurable Fault Status Register.
    let cfsr = unsafe { (*cortex_m::peripheral::SCB::PTR).cfsr.read() };
    const STKOF: u32 = 1 << 20;
    let _ = writeln!(
        console,
        "firmware hard fault at pc {pc:#010x} (CFSR {cfsr:#010x}){}",
        if cfsr & STKOF != 0 {
            ": native stack overflow (the stack is what RAM leaves after the heap)"
        } else {
            ""
        }
    );
    let _ = writeln!(console, "belljar: exit status {HARD_FAULT_STATUS}");
}
