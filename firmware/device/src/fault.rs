//! What every board prints when the firmware itself fails (a panic, a
//! HardFault on Arm, an exception on RISC-V), before it stops (QEMU) or
//! idles (a real board).
//!
//! Each board provides `extern "C" fn belljar_hard_fault(pc: u32) -> !`,
//! which prints [`print_hard_fault`] on its console and stops; the handlers
//! here call it:
//!
//! * Arm: the `HardFault` handler, from a fresh stack (a stack-limit fault
//!   must not fault again);
//! * RISC-V: the `ExceptionHandler` that riscv-rt's trap entry, and
//!   esp-hal's, call (any synchronous exception in machine mode: access
//!   faults, illegal instructions, misaligned accesses, esp-hal's stack
//!   guard watchpoint...), and [`crate::stacks`] when a fiber stack's guard words
//!   were overwritten (RISC-V has no stack limit register: the overflow is
//!   found after the poll, not prevented).

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

/// The native stack overflow report: of which app's fiber, or of the main
/// stack. `caught` says how it was found.
fn print_overflow(console: &mut impl Write, caught: &str) {
    match crate::stacks::current_app() {
        Some(app) => {
            let size = crate::stacks::size();
            let _ = writeln!(
                console,
                "firmware hard fault: native stack overflow: app `{app}` overflowed its \
                 {size}-byte fiber stack ({caught}); give it more with BELLJAR_FIBER_STACK"
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

/// Where the fault happened, whether it was a native stack overflow (the
/// Cortex-M33 stack limit, MSPLIM; on Armv7-M the MPU guard region) and of
/// which app's fiber, and the final status line.
#[cfg(target_arch = "arm")]
pub fn print_hard_fault(console: &mut impl Write, pc: u32) {
    // SAFETY: reading the Configurable Fault Status Register.
    let cfsr = unsafe { (*cortex_m::peripheral::SCB::PTR).cfsr.read() };
    // UFSR.STKOF (Armv8-M; reserved, reads 0, on Armv7-M).
    const STKOF: u32 = 1 << 20;
    if overflowed() {
        print_overflow(
            console,
            "its guard words at the bottom were overwritten; the heap below may be damaged",
        );
    } else if mpu_guard_hit(cfsr) {
        print_overflow(
            console,
            "the MPU guard at its bottom caught it before the heap below was touched",
        );
    } else if cfsr & STKOF == 0 {
        let _ = writeln!(
            console,
            "firmware hard fault at pc {pc:#010x} (CFSR {cfsr:#010x})"
        );
    } else {
        // The exception frame may not have been stacked whole: no pc.
        print_overflow(
            console,
            "the stack limit caught it before the heap below was touched",
        );
    }
    let _ = writeln!(console, "belljar: exit status {HARD_FAULT_STATUS}");
}

// Every Arm board's HardFault handler. A HardFault may come from a stack
// overflow (the stack limit, MSPLIM, caught a fiber or the main stack going
// too deep); running the report on that stack would fault again and lock
// the CPU up. So before touching any stack it takes the faulting PC from the
// exception frame, switches the limit off (Armv8-M Mainline only: Armv7E-M
// has no MSPLIM), and the stack pointer to the top of the main stack region
// (the firmware is ending: what the main stack held is no longer needed),
// and calls the board's `extern "C" fn belljar_hard_fault(pc: u32) -> !`,
// which reports and stops. It replaces cortex-m-rt's default `HardFault`
// (its link.x only PROVIDEs one).
#[cfg(target_arch = "arm")]
macro_rules! hard_fault_handler {
    ($($limit_off:literal),*) => {
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
            $($limit_off,)*
            "    ldr r1, =_stack_start",
            "    mov sp, r1",
            "    b belljar_hard_fault",
            ".size HardFault, . - HardFault",
        );
    };
}
#[cfg(belljar_msplim)]
hard_fault_handler!("    movs r1, #0", "    msr MSPLIM, r1");
#[cfg(all(target_arch = "arm", not(belljar_msplim)))]
hard_fault_handler!();

/// A fiber's guard words were found overwritten ([`crate::stacks`]).
#[cfg(not(target_arch = "arm"))]
static OVERFLOWED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether the Armv7-M MPU stack guard (`mpu`) caused the fault.
#[cfg(target_arch = "arm")]
fn mpu_guard_hit(cfsr: u32) -> bool {
    #[cfg(not(belljar_msplim))]
    return crate::mpu::guard_was_hit(cfsr);
    #[cfg(belljar_msplim)]
    {
        let _ = cfsr;
        false
    }
}

/// Whether a fiber's guard words were found overwritten, after a poll or
/// (the fault came during one) now (RISC-V only: Arm stops an overflow in
/// hardware).
fn overflowed() -> bool {
    #[cfg(not(target_arch = "arm"))]
    return OVERFLOWED.load(core::sync::atomic::Ordering::Relaxed)
        || crate::stacks::running_guard_broken();
    #[cfg(target_arch = "arm")]
    false
}

/// Stops the firmware with the native stack overflow report (RISC-V: found
/// by the fiber stack's guard words after a poll).
#[cfg(not(target_arch = "arm"))]
pub(crate) fn stack_overflowed() -> ! {
    OVERFLOWED.store(true, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: provided by the board: prints and stops.
    unsafe { belljar_hard_fault(0) }
}

#[cfg(not(target_arch = "arm"))]
unsafe extern "C" {
    fn belljar_hard_fault(pc: u32) -> !;
}

/// What the exception was (`mcause`), where (`mepc`) and its `mtval`, or the
/// native stack overflow report; then the final status line.
#[cfg(target_arch = "riscv32")]
pub fn print_hard_fault(console: &mut impl Write, pc: u32) {
    if overflowed() {
        print_overflow(
            console,
            "its guard words at the bottom were overwritten; the heap below may be damaged",
        );
    } else {
        let cause = riscv::register::mcause::read();
        let tval = riscv::register::mtval::read();
        let name = match cause.code() {
            0 => "instruction address misaligned",
            1 => "instruction access fault",
            2 => "illegal instruction",
            3 => "breakpoint",
            4 => "load address misaligned",
            5 => "load access fault",
            6 => "store address misaligned",
            7 => "store access fault",
            11 => "environment call from machine mode",
            _ => "exception",
        };
        let _ = writeln!(
            console,
            "firmware hard fault: {name} at pc {pc:#010x} (mcause {:#x}, mtval {tval:#010x})",
            cause.bits()
        );
    }
    let _ = writeln!(console, "belljar: exit status {HARD_FAULT_STATUS}");
}

/// The handler of every machine-mode exception, by the name riscv-rt and
/// esp-hal (its `exception-handler` feature off) both call, with a pointer
/// to the saved registers (unused): hands the faulting pc to the board's
/// `belljar_hard_fault`, which reports and stops.
#[cfg(target_arch = "riscv32")]
#[unsafe(export_name = "ExceptionHandler")]
extern "C" fn exception_handler(_trap_frame: *const u32) -> ! {
    let pc = riscv::register::mepc::read() as u32;
    // SAFETY: provided by the board: prints and stops.
    unsafe { belljar_hard_fault(pc) }
}
