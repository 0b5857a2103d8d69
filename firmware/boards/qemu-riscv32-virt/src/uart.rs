//! NS16550A UARTs: the virt machine's own at 0x1000_0000 (QEMU: the first
//! `-serial`), the console and the guests' `uart` interface; and in
//! supervisor mode the update link, a second 16550 on the PCI bus (QEMU:
//! `-device pci-serial`, see [`crate::pci`]): QEMU 7.2's virt machine has
//! one UART of its own and takes no second one on its system bus.
//!
//! Registers (byte wide, one byte apart): RBR/THR 0, IER 1, FCR 2, LCR 3,
//! LSR 5 (bit 0 data ready, bit 5 transmit holding register empty);
//! with LCR.DLAB set, 0 and 1 are the divisor latch.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

/// The virt machine's UART.
pub const UART0: usize = 0x1000_0000;

const RBR_THR: usize = 0;
const IER: usize = 1;
const FCR: usize = 2;
const LCR: usize = 3;
const LSR: usize = 5;

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// The UARTs' input clock on QEMU virt (3.6864 MHz).
const CLOCK_HZ: u32 = 3_686_400;
const BAUD: u32 = 115_200;

fn reg(uart: usize, offset: usize) -> *mut u8 {
    (uart + offset) as *mut u8
}

/// 115200 baud, 8N1, FIFOs on and cleared, no interrupts (polled).
pub fn init(uart: usize) {
    let divisor = CLOCK_HZ / (16 * BAUD);
    // SAFETY: the UART's registers, owned by this module.
    unsafe {
        write_volatile(reg(uart, IER), 0);
        write_volatile(reg(uart, LCR), 0x80);
        write_volatile(reg(uart, RBR_THR), divisor as u8);
        write_volatile(reg(uart, IER), (divisor >> 8) as u8);
        write_volatile(reg(uart, LCR), 0x03);
        write_volatile(reg(uart, FCR), 0x07);
    }
}

/// Puts `byte` into the transmitter if it has room.
pub fn try_put(uart: usize, byte: u8) -> bool {
    // SAFETY: the UART's registers; single hart, no interrupt handler writes
    // them.
    unsafe {
        if read_volatile(reg(uart, LSR)) & LSR_THR_EMPTY == 0 {
            return false;
        }
        write_volatile(reg(uart, RBR_THR), byte);
    }
    true
}

fn put_on(uart: usize, byte: u8) {
    while !try_put(uart, byte) {}
}

/// A received byte, if one is waiting.
pub fn try_get(uart: usize) -> Option<u8> {
    // SAFETY: the UART's registers; reading RBR takes the byte.
    unsafe {
        (read_volatile(reg(uart, LSR)) & LSR_DATA_READY != 0)
            .then(|| read_volatile(reg(uart, RBR_THR)))
    }
}

/// Puts a byte from the guest into UART0 if it has room.
pub fn try_write_guest_byte(byte: u8) -> bool {
    try_put(UART0, byte)
}

/// A byte received on UART0, if one is waiting.
pub fn try_read() -> Option<u8> {
    try_get(UART0)
}

/// Sends bytes on the update link.
#[cfg(belljar_supervisor)]
pub fn link_write(link: usize, bytes: &[u8]) {
    bytes.iter().for_each(|&b| put_on(link, b));
}

/// Takes the bytes waiting on the update link into `buf`.
#[cfg(belljar_supervisor)]
pub fn link_read(link: usize, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        let Some(byte) = try_get(link) else { break };
        buf[n] = byte;
        n += 1;
    }
    n
}

/// The firmware's console on UART0: timeline lines and messages. Lines end
/// with `\n` only, exactly as the simulator prints them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if belljar_device::console_needs_newline() {
            put_on(UART0, b'\n');
        }
        s.bytes().for_each(|b| put_on(UART0, b));
        Ok(())
    }
}
