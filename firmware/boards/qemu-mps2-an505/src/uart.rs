//! CMSDK APB UART0 of the AN505 image (QEMU: `-serial stdio`, or stdio with
//! `-nographic`): the console and the guests' `uart` interface.
//!
//! Registers (Arm CMSDK APB UART): DATA 0x00, STATE 0x04 (bit 0 TX full,
//! bit 1 RX full), CTRL 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV 0x10.
//! UART0 sits at 0x40200000; the Secure alias is 0x50200000.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

const UART0: usize = 0x5020_0000;
/// UART1 (Secure alias of 0x40201000): the update link in supervisor mode
/// (QEMU: the second `-serial`).
const UART1: usize = 0x5020_1000;
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// APB clock of the AN505 image (QEMU: 20 MHz).
const PCLK_HZ: u32 = 20_000_000;
const BAUD: u32 = 115_200;

fn reg(offset: usize) -> *mut u32 {
    (UART0 + offset) as *mut u32
}

fn reg_of(uart: usize, offset: usize) -> *mut u32 {
    (uart + offset) as *mut u32
}

/// Enables UART0 and UART1 for transmit and receive at 115200 baud.
pub fn init() {
    for uart in [UART0, UART1] {
        // SAFETY: the UARTs' registers, owned by this module.
        unsafe {
            write_volatile(reg_of(uart, BAUDDIV), PCLK_HZ / BAUD);
            write_volatile(reg_of(uart, CTRL), CTRL_TX_EN | CTRL_RX_EN);
        }
    }
}

fn put_on(uart: usize, byte: u8) {
    // SAFETY: the UART's registers; single core, thread mode (and the panic
    // / fault handlers, which never return to an interrupted write).
    unsafe {
        while read_volatile(reg_of(uart, STATE)) & STATE_TX_FULL != 0 {}
        write_volatile(reg_of(uart, DATA), u32::from(byte));
    }
}

fn put(byte: u8) {
    put_on(UART0, byte);
}

/// Sends bytes on the update link (UART1).
#[cfg(belljar_supervisor)]
pub fn link_write(bytes: &[u8]) {
    bytes.iter().for_each(|&b| put_on(UART1, b));
}

/// Takes the bytes waiting on the update link (UART1) into `buf`.
#[cfg(belljar_supervisor)]
pub fn link_read(buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        // SAFETY: UART1's registers; reading DATA clears RX full.
        let byte = unsafe {
            if read_volatile(reg_of(UART1, STATE)) & STATE_RX_FULL == 0 {
                break;
            }
            read_volatile(reg_of(UART1, DATA)) as u8
        };
        buf[n] = byte;
        n += 1;
    }
    n
}

/// Puts a byte from the guest into UART0's TX FIFO if it has room.
pub fn try_write_guest_byte(byte: u8) -> bool {
    // SAFETY: UART0's registers; single core, thread mode.
    unsafe {
        if read_volatile(reg(STATE)) & STATE_TX_FULL != 0 {
            return false;
        }
        write_volatile(reg(DATA), u32::from(byte));
    }
    true
}

/// A received byte, if one is waiting.
pub fn try_read() -> Option<u8> {
    // SAFETY: UART0's registers; reading DATA clears RX full.
    unsafe {
        if read_volatile(reg(STATE)) & STATE_RX_FULL != 0 {
            Some(read_volatile(reg(DATA)) as u8)
        } else {
            None
        }
    }
}

/// The firmware's console on UART0: timeline lines and messages. Lines end
/// with `\n` only, exactly as the simulator prints them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if belljar_device::console_needs_newline() {
            put(b'\n');
        }
        s.bytes().for_each(put);
        Ok(())
    }
}
