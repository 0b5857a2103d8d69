//! How the QEMU firmware ends: semihosting exit with a status, and the panic
//! and HardFault handlers that print through the UART console first (also
//! compiled into the speed bench firmware, `firmware/bench`).

use crate::uart::Console;

/// Ends QEMU with `status` (semihosting SYS_EXIT_EXTENDED, so that statuses
/// other than 0 and 1 survive on 32-bit Arm).
pub(crate) fn exit(status: u32) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as usize];
    // SAFETY: a semihosting call; QEMU must run with semihosting enabled.
    unsafe { cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block) };
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    belljar_device::fault::print_panic(&mut Console, info);
    exit(belljar_device::fault::PANIC_STATUS)
}

/// The board's part of the HardFault handler (`belljar_device::fault`):
/// runs on a fresh stack with the stack limit off.
#[unsafe(no_mangle)]
extern "C" fn belljar_hard_fault(pc: u32) -> ! {
    belljar_device::fault::print_hard_fault(&mut Console, pc);
    exit(belljar_device::fault::HARD_FAULT_STATUS)
}
