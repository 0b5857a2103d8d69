//! UART0 on GPIO16 (TX) / GPIO17 (RX), 115200 8N1: the DevKitC's USB-UART
//! bridge (its "UART" USB port), the firmware's console and the guests'
//! `uart`. esp-hal's blocking `Uart` lives in a critical-section mutex
//! shared by the console (also used by the panic and fault handlers) and
//! every app's view; bytes go into its 128-byte TX FIFO, a few at a time.

use core::cell::RefCell;
use core::fmt;

use critical_section::Mutex;
use esp_hal::Blocking;
use esp_hal::uart::Uart;

static UART: Mutex<RefCell<Option<Uart<'static, Blocking>>>> = Mutex::new(RefCell::new(None));

/// Hands UART0 to the console and the apps (once, at boot).
pub fn init(uart: Uart<'static, Blocking>) {
    critical_section::with(|cs| UART.replace(cs, Some(uart)));
}

/// Runs `f` on the UART, if [`init`] has been called.
fn with<R>(f: impl FnOnce(&mut Uart<'static, Blocking>) -> R) -> Option<R> {
    critical_section::with(|cs| UART.borrow_ref_mut(cs).as_mut().map(f))
}

/// Sends `bytes`: what fits in the TX FIFO per critical section, waiting
/// outside it for room.
fn put(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let sent = with(|uart| {
            if uart.write_ready() {
                uart.write(bytes).unwrap_or(bytes.len())
            } else {
                0
            }
        });
        // No UART yet: the bytes are dropped.
        bytes = &bytes[sent.unwrap_or(bytes.len())..];
    }
}

/// A received byte, if one is waiting (a receive error drops it).
pub fn try_read() -> Option<u8> {
    let mut byte = [0u8];
    with(|uart| (uart.read_ready() && matches!(uart.read(&mut byte), Ok(1))).then_some(byte[0]))
        .flatten()
}

/// The firmware's console; lines end with `\r\n` (`belljar_device::write_lines`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        belljar_device::write_lines(s, put);
        Ok(())
    }
}

/// Sends a byte from a guest (`uart.write-byte`, raw) if the TX FIFO has
/// room.
pub fn try_write_guest_byte(byte: u8) -> bool {
    with(|uart| uart.write_ready() && matches!(uart.write(&[byte]), Ok(1))).unwrap_or(false)
}
