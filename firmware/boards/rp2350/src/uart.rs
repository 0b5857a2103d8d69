//! UART0 on GPIO0 (TX) / GPIO1 (RX), 115200 8N1: the firmware's console and
//! the guests' `uart` interface. The hal's `UartPeripheral` lives in a
//! critical-section mutex so that the console (also used by the panic and
//! fault handlers) and the guest's UART share it.

use core::cell::OnceCell;
use core::fmt;

use belljar_device::belljar_host::Stop;
use belljar_device::{RunLimits, UartStopped};
use critical_section::Mutex;
use rp235x_hal as hal;

use hal::gpio::bank0::{Gpio0, Gpio1};
use hal::gpio::{FunctionUart, Pin, PullDown};
use hal::uart::{Enabled, UartPeripheral};

use crate::clock::Clock;

/// TX on GPIO0, RX on GPIO1 (Pico 2 pins 1 and 2).
pub type Pins = (
    Pin<Gpio0, FunctionUart, PullDown>,
    Pin<Gpio1, FunctionUart, PullDown>,
);
pub type Uart0 = UartPeripheral<Enabled, hal::pac::UART0, Pins>;

static UART: Mutex<OnceCell<Uart0>> = Mutex::new(OnceCell::new());

/// Hands UART0 to the console and the guest UART (once, at boot).
pub fn init(uart: Uart0) {
    critical_section::with(|cs| {
        let _ = UART.borrow(cs).set(uart);
    });
}

/// Runs `f` on the UART, if [`init`] has been called.
fn with<R>(f: impl FnOnce(&Uart0) -> R) -> Option<R> {
    critical_section::with(|cs| UART.borrow(cs).get().map(f))
}

fn put(bytes: &[u8]) {
    with(|uart| uart.write_full_blocking(bytes));
}

/// A received byte, if one is waiting (bytes with framing, parity or
/// overrun errors are dropped).
fn try_read() -> Option<u8> {
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
        if belljar_device::console_needs_newline() {
            put(b"\r\n");
        }
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                put(b"\r\n");
            }
            put(line.as_bytes());
        }
        Ok(())
    }
}

/// UART0 as the guests' `uart` (embedded-io 0.6, which belljar-host takes;
/// the hal implements 0.7). Bytes go out raw. Reads poll until a byte
/// arrives, or until the time limit or the UART idle limit, if set.
pub struct GuestUart {
    clock: Clock,
    limits: RunLimits,
    /// Why the last read gave up, for `Board::poll_stop`.
    pub stop: Option<Stop>,
}

impl GuestUart {
    pub fn new(clock: Clock, limits: RunLimits) -> Self {
        GuestUart {
            clock,
            limits,
            stop: None,
        }
    }
}

impl embedded_io::ErrorType for GuestUart {
    type Error = UartStopped;
}

impl embedded_io::Read for GuestUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartStopped> {
        let clock = self.clock;
        self.limits.read_into(
            buf,
            &mut self.stop,
            try_read,
            || clock.now_ms(),
            core::hint::spin_loop,
        )
    }
}

impl embedded_io::Write for GuestUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartStopped> {
        put(buf);
        if let Some(&last) = buf.last() {
            belljar_device::guest_wrote(last);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), UartStopped> {
        Ok(())
    }
}
