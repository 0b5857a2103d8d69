//! UART0 on GPIO0 (TX) / GPIO1 (RX), 115200 8N1: the firmware's console and
//! the guests' `uart` interface. The hal's `UartPeripheral` lives in a
//! critical-section mutex so that the console (also used by the panic and
//! fault handlers) and every app's view share it.

use core::cell::OnceCell;
use core::fmt;

use critical_section::Mutex;
use rp235x_hal as hal;

use hal::gpio::bank0::{Gpio0, Gpio1};
use hal::gpio::{FunctionUart, Pin, PullDown};
use hal::uart::{Enabled, UartPeripheral};

/// TX on GPIO0, RX on GPIO1 (Pico 2 pins 1 and 2).
pub type Pins = (
    Pin<Gpio0, FunctionUart, PullDown>,
    Pin<Gpio1, FunctionUart, PullDown>,
);
pub type Uart0 = UartPeripheral<Enabled, hal::pac::UART0, Pins>;

static UART: Mutex<OnceCell<Uart0>> = Mutex::new(OnceCell::new());

/// Hands UART0 to the console and the apps (once, at boot).
pub fn init(uart: Uart0) {
    critical_section::with(|cs| {
        let _ = UART.borrow(cs).set(uart);
    });
}

/// Runs `f` on the UART, if [`init`] has been called.
fn with<R>(f: impl FnOnce(&Uart0) -> R) -> Option<R> {
    critical_section::with(|cs| UART.borrow(cs).get().map(f))
}

/// Sends `bytes`, a FIFO's worth at a time: each critical section is short
/// (a blocking write of a whole line would mask the millisecond tick for
/// several milliseconds, and board time would lose them).
fn put(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match with(|uart| uart.write_raw(bytes)) {
            Some(Ok(rest)) => bytes = rest,
            // The FIFO is full: wait outside the critical section.
            Some(Err(_)) => core::hint::spin_loop(),
            None => return,
        }
    }
}

/// A received byte, if one is waiting (bytes with framing, parity or
/// overrun errors are dropped).
pub fn try_read() -> Option<u8> {
    let mut byte = [0u8];
    with(|uart| match uart.read_raw(&mut byte) {
        Ok(1) => Some(byte[0]),
        _ => None,
    })
    .flatten()
}

/// The firmware's console: banner, timeline lines, outcome. Lines end with
/// `\r\n` (a serial terminal's newline); the text is the simulator's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        belljar_device::write_lines(s, put);
        Ok(())
    }
}

/// Puts a byte from a guest (`uart.write-byte`, sent raw) into the TX
/// FIFO if it has room.
pub fn try_write_guest_byte(byte: u8) -> bool {
    with(|uart| matches!(uart.write_raw(&[byte]), Ok(rest) if rest.is_empty())).unwrap_or(false)
}

/// The update link (supervisor mode): UART1, TX on GPIO20 / RX on GPIO21
/// (Pico 2 pins 26 and 27), 115200 8N1.
#[cfg(belljar_supervisor)]
pub mod link {
    use super::*;
    use hal::gpio::bank0::{Gpio20, Gpio21};

    pub type Pins = (
        Pin<Gpio20, FunctionUart, PullDown>,
        Pin<Gpio21, FunctionUart, PullDown>,
    );
    pub type Uart1 = UartPeripheral<Enabled, hal::pac::UART1, Pins>;

    static LINK: Mutex<OnceCell<Uart1>> = Mutex::new(OnceCell::new());

    /// Hands UART1 to the update agent (once, at boot).
    pub fn init(uart: Uart1) {
        critical_section::with(|cs| {
            let _ = LINK.borrow(cs).set(uart);
        });
    }

    /// Takes the bytes waiting in UART1's receive FIFO into `buf`.
    pub fn read(buf: &mut [u8]) -> usize {
        // Framing, parity, break or overrun errors give 0 bytes: the frame
        // layer's CRC and the protocol's resends recover what was lost.
        critical_section::with(|cs| {
            LINK.borrow(cs)
                .get()
                .map_or(0, |uart| uart.read_raw(buf).unwrap_or_default())
        })
    }

    /// Sends `bytes` on UART1, a FIFO's worth per critical section.
    pub fn write(mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let sent = critical_section::with(|cs| {
                LINK.borrow(cs).get().map(|uart| uart.write_raw(bytes))
            });
            match sent {
                Some(Ok(rest)) => bytes = rest,
                Some(Err(_)) => core::hint::spin_loop(),
                None => return,
            }
        }
    }
}
