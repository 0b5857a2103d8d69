//! UARTE0 on P0.06 (TX) / P0.08 (RX), 115200 8N1: the DK's J-Link virtual
//! COM port, the firmware's console and the guests' `uart`. nrf52840-hal's
//! split `UarteTx`/`UarteRx` (EasyDMA from small RAM buffers) live in a
//! critical-section mutex shared by the console (also used by the panic and
//! fault handlers) and every app's view.

use core::cell::RefCell;
use core::fmt;

use critical_section::Mutex;
use embedded_io::{Read as _, ReadReady as _, Write as _, WriteReady as _};
use nrf52840_hal::pac::UARTE0;
use nrf52840_hal::uarte::{UarteRx, UarteTx};

/// Bytes sent per DMA transfer: 8 bytes take 0.7 ms at 115200 baud, so a
/// critical section that waits for one stays under the millisecond tick.
pub const TX_CHUNK: usize = 8;

/// The transmitter and the receiver.
type Halves = (UarteTx<UARTE0>, UarteRx<UARTE0>);

static UART: Mutex<RefCell<Option<Halves>>> = Mutex::new(RefCell::new(None));

/// Hands UARTE0 to the console and the apps (once, at boot).
pub fn init(tx: UarteTx<UARTE0>, rx: UarteRx<UARTE0>) {
    critical_section::with(|cs| UART.replace(cs, Some((tx, rx))));
}

/// Runs `f` on the UART, if [`init`] has been called.
fn with<R>(f: impl FnOnce(&mut UarteTx<UARTE0>, &mut UarteRx<UARTE0>) -> R) -> Option<R> {
    critical_section::with(|cs| UART.borrow_ref_mut(cs).as_mut().map(|(tx, rx)| f(tx, rx)))
}

/// Sends `bytes`, a DMA chunk per critical section.
fn put(bytes: &[u8]) {
    for chunk in bytes.chunks(TX_CHUNK) {
        with(|tx, _| {
            let _ = tx.write_all(chunk).and_then(|()| tx.flush());
        });
    }
}

/// A received byte, if one is waiting (a receive error drops it).
pub fn try_read() -> Option<u8> {
    let mut byte = [0u8];
    with(|_, rx| match rx.read_ready() {
        Ok(true) => matches!(rx.read(&mut byte), Ok(1)).then_some(byte[0]),
        _ => None,
    })
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

/// Sends a byte from a guest (`uart.write-byte`, raw) if no transfer is
/// under way.
pub fn try_write_guest_byte(byte: u8) -> bool {
    with(|tx, _| {
        matches!(tx.write_ready(), Ok(true))
            && tx.write_all(&[byte]).and_then(|()| tx.flush()).is_ok()
    })
    .unwrap_or(false)
}
