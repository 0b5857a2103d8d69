//! A board's side of supervisor mode when its update link is a polled
//! serial port without interrupts (the QEMU boards): a
//! [`belljar_supervisor::Platform`] from a few board functions.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use belljar_host::Board;

use crate::clock;

/// Bytes arrived on the update link recently (a transfer is going on).
static LINK_ACTIVE: AtomicBool = AtomicBool::new(false);

/// The supervisor's platform over a polled update link.
pub struct PolledLink<B> {
    /// A fresh board view for an app.
    pub board: fn() -> B,
    /// Takes the bytes waiting on the link into the buffer; how many.
    pub read: fn(&mut [u8]) -> usize,
    /// Sends bytes on the link.
    pub write: fn(&[u8]),
    /// Prints a console line.
    pub log: fn(fmt::Arguments<'_>),
}

impl<B: Board> belljar_supervisor::Platform for PolledLink<B> {
    type Board = B;

    fn board(&self, _app: &str) -> B {
        (self.board)()
    }

    async fn sleep_ms(&self, ms: u64) {
        embassy_time::Timer::after_millis(ms).await
    }

    /// Polls the link: every millisecond while it is quiet; during a
    /// transfer it keeps polling for up to 2 ms between bytes, since the
    /// next one follows at once (a one-byte-deep UART would lose it).
    async fn receive(&self, buf: &mut [u8]) -> usize {
        loop {
            let started = clock::now_ns();
            loop {
                let n = (self.read)(buf);
                if n > 0 {
                    LINK_ACTIVE.store(true, Relaxed);
                    return n;
                }
                if !LINK_ACTIVE.load(Relaxed) || clock::now_ns() - started > 2_000_000 {
                    break;
                }
            }
            LINK_ACTIVE.store(false, Relaxed);
            embassy_time::Timer::after_millis(1).await;
        }
    }

    fn send(&self, bytes: &[u8]) {
        (self.write)(bytes)
    }

    fn log(&self, line: fmt::Arguments<'_>) {
        (self.log)(line)
    }
}
