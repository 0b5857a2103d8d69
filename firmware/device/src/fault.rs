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
/// Cortex-M33 stack limit, MSPLIM) and of which app's fiber, and the final
/// status line.
pub fn print_hard_fault(console: &mut impl Write, pc: u32) {
    // SAFETY: reading the Configurable Fault Status Register.
    let cfsr = unsafe { (*cortex_m::peripheral::SCB::PTR).cfsr.read() };
    const STKOF: u32 = 1 << 20;
    if cfsr & STKOF == 0 {
        let _ = writeln!(
            console,
            "firmware hard fault at pc {pc:#010x} (CFSR {cfsr:#010x})"
        );
    } else {
        // The exception frame may not have been stacked whole: no pc.
        match crate::stacks::current_app() {
            Some(app) => {
                let size = crate::stacks::size();
                let _ = writeln!(
                    console,
                    "firmware hard fault: native stack overflow: app `{app}` overflowed its \
                     {size}-byte fiber stack (the stack limit caught it before the heap below \
                     was touched); give it more with BELLJAR_FIBER_STACK"
                );
            }
            None => {
                let _ = writeln!(
                    console,
                    "firmware hard fault: native stack overflow of the main stack (the stack \
                     is what RAM leaves after the heap: BELLJAR_RAM, BELLJAR_HEAP)"
                );
            }
        }
    }
    let _ = writeln!(console, "belljar: exit status {HARD_FAULT_STATUS}");
}

// Every board's HardFault handler. A HardFault may come from a stack
// overflow (the stack limit, MSPLIM, caught a fiber or the main stack going
// too deep); running the report on that stack would fault again and lock
// the CPU up. So before touching any stack it takes the faulting PC from the
// exception frame, switches the limit off and the stack pointer to the top
// of the main stack region (the firmware is ending: what the main stack
// held is no longer needed), and calls the board's
// `extern "C" fn belljar_hard_fault(pc: u32) -> !`, which reports and stops.
// It replaces cortex-m-rt's default `HardFault` (its link.x only PROVIDEs one).
core::arch::global_asm!(
    ".section .HardFault.belljar, \"ax\"",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "    mov r0, lr",
    "    movs r1, #4",
    "    tst r0, r1",
    "    bne 0f",
    "    mrs r0, MSP",
    "    b 1f",
    "0:  mrs r0, PSP",
    "1:  ldr r0, [r0, #24]",
    "    movs r1, #0",
    "    msr MSPLIM, r1",
    "    ldr r1, =_stack_start",
    "    mov sp, r1",
    "    b belljar_hard_fault",
    ".size HardFault, . - HardFault",
);
