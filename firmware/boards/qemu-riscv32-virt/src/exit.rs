//! How the QEMU RISC-V firmware ends: the virt machine's SiFive test device
//! (`sifive_test` at 0x10_0000) powers QEMU off with a status, and the panic
//! and exception handlers print through the UART console first.

use crate::uart::Console;

/// The SiFive test ("finisher") device of QEMU's virt machine.
const FINISHER: usize = 0x0010_0000;
/// Ends QEMU with status 0.
const FINISHER_PASS: u32 = 0x5555;
/// Ends QEMU with the status in the upper 16 bits.
const FINISHER_FAIL: u32 = 0x3333;

/// Ends QEMU with `status`.
pub(crate) fn exit(status: u32) -> ! {
    let word = match status {
        0 => FINISHER_PASS,
        s => (s << 16) | FINISHER_FAIL,
    };
    // SAFETY: the finisher's register; writing it ends the machine.
    unsafe { (FINISHER as *mut u32).write_volatile(word) };
    loop {
        riscv::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    belljar_device::fault::print_panic(&mut Console, info);
    exit(belljar_device::fault::PANIC_STATUS)
}

/// The board's part of the exception handler (`belljar_device::fault`).
#[unsafe(no_mangle)]
extern "C" fn belljar_hard_fault(pc: u32) -> ! {
    belljar_device::fault::print_hard_fault(&mut Console, pc);
    exit(belljar_device::fault::HARD_FAULT_STATUS)
}
