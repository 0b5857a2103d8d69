//! Supervisor mode, shared by the boards (built with `BELLJAR_PUBKEY`): the
//! app comes from A/B slots on the board's flash (a [`NorFlash`] that is
//! also [`MappedFlash`], so packages are verified and deserialized in
//! place), verified with the built-in key; updates arrive on a second UART,
//! the update link. A board provides the flash, the link's two byte
//! functions, its [`Board`] views and its console ([`LinkPlatform`]), then
//! calls [`run`].

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use belljar_host::Board;
use belljar_update::MappedFlash;
use embedded_storage::nor_flash::NorFlash;

use crate::{PrintLine, Settings, clock};

/// What the supervisor needs from a board: its app views, the update link
/// (polled: a byte FIFO) and a console.
pub struct LinkPlatform<B> {
    /// A fresh view of the board for an app.
    pub board: fn() -> B,
    /// Moves the bytes waiting in the link's receive FIFO into the buffer;
    /// returns how many (0: none yet). Must not block.
    pub link_read: fn(&mut [u8]) -> usize,
    /// Sends bytes on the link (may wait for FIFO room).
    pub link_write: fn(&[u8]),
    /// One console line.
    pub print: PrintLine,
}

/// Bytes arrived on the update link recently (a transfer is going on).
static LINK_ACTIVE: AtomicBool = AtomicBool::new(false);

impl<B: Board> belljar_supervisor::Platform for LinkPlatform<B> {
    type Board = B;

    fn board(&self, _app: &str) -> B {
        (self.board)()
    }

    async fn sleep_ms(&self, ms: u64) {
        embassy_time::Timer::after_millis(ms).await
    }

    /// Polls the link: every millisecond while it is quiet; during a
    /// transfer it keeps polling for up to 2 ms between bytes, since the
    /// next one follows at once (a FIFO may be one byte deep).
    async fn receive(&self, buf: &mut [u8]) -> usize {
        loop {
            let started = clock::now_ns();
            loop {
                let n = (self.link_read)(buf);
                if n > 0 {
                    LINK_ACTIVE.store(true, Ordering::Relaxed);
                    return n;
                }
                let active = LINK_ACTIVE.load(Ordering::Relaxed);
                if !active || clock::now_ns() - started > 2_000_000 {
                    break;
                }
            }
            LINK_ACTIVE.store(false, Ordering::Relaxed);
            embassy_time::Timer::after_millis(1).await;
        }
    }

    fn send(&self, bytes: &[u8]) {
        (self.link_write)(bytes)
    }

    fn log(&self, line: fmt::Arguments<'_>) {
        (self.print)(&line)
    }
}

/// Runs the supervisor ([`crate::supervise`]) on `flash` until the time
/// limit `for_ms` (board time, `BELLJAR_FOR_MS`), if any, then returns.
pub async fn run<B, F>(
    platform: LinkPlatform<B>,
    flash: F,
    key: [u8; 32],
    initial: &[u8],
    settings: &Settings,
    for_ms: Option<u64>,
    console: &mut impl Write,
) where
    B: Board,
    F: NorFlash + MappedFlash,
{
    let supervise = crate::supervise(platform, flash, key, initial, settings, console);
    match for_ms {
        Some(ms) => {
            let limit = embassy_time::Timer::at(embassy_time::Instant::from_millis(
                settings.board_start_ms + ms,
            ));
            embassy_futures::select::select(supervise, limit).await;
        }
        None => supervise.await,
    }
}
