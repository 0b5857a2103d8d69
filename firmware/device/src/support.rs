//! Board-time rules every board applies the same way, so that a board's
//! timeline matches the simulator's: scripted presses, the time limit
//! (`BELLJAR_FOR_MS`), the UART idle limit, and console lines that stay whole
//! while the guest writes to the same UART.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use belljar_host::{Change, Stop};

/// A wait for an input change that no scripted press makes, and no time
/// limit ends: it would never end, so the app is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoScriptedChange;

impl From<NoScriptedChange> for Stop {
    fn from(_: NoScriptedChange) -> Stop {
        Stop::Other(
            "the app waits for an input change that no scripted input (BELLJAR_PRESS) makes",
        )
    }
}

/// A button held down on `pin` from `from_ms` (inclusive) to `to_ms`
/// (exclusive) of board time, as `belljar run --press` scripts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Press {
    pub pin: u32,
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Press {
    /// Whether one of `presses` holds `pin` down at `now_ms`.
    pub fn held(presses: &[Press], pin: u32, now_ms: u64) -> bool {
        presses
            .iter()
            .any(|p| p.pin == pin && p.from_ms <= now_ms && now_ms < p.to_ms)
    }
}

/// When a board stops a guest that did nothing wrong (board milliseconds
/// since the guest was handed the board).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Stop at this board time (`belljar run --for`).
    pub for_ms: Option<u64>,
    /// Stop a guest that waits this long for UART input without any.
    pub uart_idle_ms: Option<u64>,
}

impl RunLimits {
    /// Where `delay-ms(ms)` started at `now_ms` ends: when the millisecond
    /// clock has advanced by `ms` (board time moves in whole milliseconds, as
    /// on the simulator), cut short at the time limit.
    pub fn delay_end_ms(&self, now_ms: u64, ms: u32) -> u64 {
        let end = now_ms + u64::from(ms);
        self.for_ms.map_or(end, |limit| end.min(limit))
    }

    /// `timing.delay-ms(ms)` on a board: a timer to [`Self::delay_end_ms`]
    /// of board time.
    pub fn delay(&self, ms: u32) -> embassy_time::Timer {
        let end = self.delay_end_ms(crate::clock::board_ms(), ms);
        embassy_time::Timer::at(embassy_time::Instant::from_millis(
            crate::clock::start_ms() + end,
        ))
    }

    /// `delay.delay-ns(ns)` on a board: a millisecond timer for waits of a
    /// millisecond or more (rounded up, cut short at the time limit); a spin
    /// on the processor clock for shorter ones, which a 1 kHz tick cannot time.
    pub async fn delay_ns(&self, ns: u64) {
        if ns >= 1_000_000 {
            let ms = u32::try_from(ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
            self.delay(ms).await;
        } else {
            let end = crate::clock::now_ns() + ns;
            while crate::clock::now_ns() < end {
                core::hint::spin_loop();
            }
        }
    }

    /// `digital.wait-for-*` on a scripted input: a timer to the board
    /// millisecond at which the presses make `change` on `pin`, cut short at
    /// the time limit. `Err` when no scripted press ever will and there is no
    /// time limit: the wait could never end, the app is stopped instead.
    pub async fn wait_scripted(
        &self,
        presses: &[Press],
        pin: u32,
        change: Change,
    ) -> Result<(), NoScriptedChange> {
        let now = crate::clock::board_ms();
        let mut script = [(0, 0, 0); 16];
        for (slot, p) in script.iter_mut().zip(presses) {
            *slot = (p.pin, p.from_ms, p.to_ms);
        }
        let script = &script[..presses.len().min(16)];
        let at = match belljar_host::next_scripted_change(script, pin, change, now) {
            Some(at) => self.for_ms.map_or(at, |limit| at.min(limit)),
            None => match self.for_ms {
                Some(limit) => limit,
                None => return Err(NoScriptedChange),
            },
        };
        embassy_time::Timer::at(embassy_time::Instant::from_millis(
            crate::clock::start_ms() + at,
        ))
        .await;
        Ok(())
    }

    /// `Some` once the time limit is reached.
    pub fn time_limit(&self, now_ms: u64) -> Option<Stop> {
        match self.for_ms {
            Some(limit) if now_ms >= limit => Some(Stop::TimeLimit { ms: limit }),
            _ => None,
        }
    }

    /// Waits for a UART byte: polls `try_read` every millisecond (the
    /// executor runs other tasks or the CPU sleeps in between) until a byte
    /// comes, the time limit is reached or no byte came for `uart_idle_ms`.
    pub async fn read_byte(
        &self,
        mut try_read: impl FnMut() -> Option<u8>,
        mut now_ms: impl FnMut() -> u64,
    ) -> Result<u8, Stop> {
        let waiting_since = now_ms();
        loop {
            if let Some(byte) = try_read() {
                return Ok(byte);
            }
            let now = now_ms();
            if let Some(stop) = self.time_limit(now) {
                return Err(stop);
            }
            if let Some(idle) = self.uart_idle_ms
                && now >= waiting_since + idle
            {
                return Err(Stop::InputExhausted);
            }
            embassy_time::Timer::after_millis(1).await;
        }
    }
}

/// `uart.write-byte` on a board: offers the byte to `try_put` (false while
/// the TX FIFO is full) until it is taken, yielding to the executor in
/// between, so other apps and firmware tasks run instead of the CPU
/// spinning, and no byte is dropped.
pub async fn write_when_room(byte: u8, mut try_put: impl FnMut(u8) -> bool) {
    while !try_put(byte) {
        embassy_futures::yield_now().await;
    }
    guest_wrote(byte);
}

/// The guest wrote bytes that did not end a line: the console starts its
/// next message on a new line so that timeline lines stay whole lines.
static GUEST_MID_LINE: AtomicBool = AtomicBool::new(false);

/// Records a byte the guest wrote to the UART the console shares.
pub fn guest_wrote(byte: u8) {
    GUEST_MID_LINE.store(byte != b'\n', Relaxed);
}

/// Whether the console must put a `\n` before its next message (the guest
/// left a line open); clears the flag.
pub fn console_needs_newline() -> bool {
    GUEST_MID_LINE.swap(false, Relaxed)
}

/// Writes console text `s` through `put` with `\r\n` line ends (a serial
/// terminal's newline), after starting a new line if a guest left one open
/// ([`console_needs_newline`]): the `fmt::Write` of a board console on a
/// real UART.
pub fn write_lines(s: &str, mut put: impl FnMut(&[u8])) {
    if console_needs_newline() {
        put(b"\r\n");
    }
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            put(b"\r\n");
        }
        put(line.as_bytes());
    }
}

/// `digital.wait-for-*` on a real input without an edge interrupt: samples
/// `is_high` every millisecond (the CPU sleeps in between) until the level
/// makes `change`; edges shorter than that can be missed.
pub async fn sample_until(change: belljar_host::Change, mut is_high: impl FnMut() -> bool) {
    let mut before = is_high();
    loop {
        let now = is_high();
        if change.satisfied(before, now) {
            return;
        }
        before = now;
        embassy_time::Timer::after_millis(1).await;
    }
}
