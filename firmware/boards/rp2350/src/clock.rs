//! Board time from TIMER0 (1 MHz, 64-bit: never wraps) through the hal
//! `Timer`. Milliseconds count from the moment the guest is handed the board.

use belljar_device::RunLimits;
use embedded_hal::delay::DelayNs;
use rp235x_hal as hal;

use hal::timer::{CopyableTimer0, Timer};

/// The board clock: the hal timer and where board time 0 is.
#[derive(Clone, Copy)]
pub struct Clock {
    timer: Timer<CopyableTimer0>,
    start_us: u64,
}

impl Clock {
    /// A clock at 0 ms now.
    pub fn start(timer: Timer<CopyableTimer0>) -> Self {
        Clock {
            timer,
            start_us: timer.get_counter().ticks(),
        }
    }

    /// Microseconds since [`Clock::start`].
    pub fn now_us(&self) -> u64 {
        self.timer.get_counter().ticks() - self.start_us
    }

    /// Milliseconds since [`Clock::start`].
    pub fn now_ms(&self) -> u64 {
        self.now_us() / 1000
    }
}

/// `timing.delay-ms`: waits on the timer until the board's millisecond clock
/// has advanced by the requested amount (board time and the timeline move in
/// whole milliseconds, as on the simulator), cut short at the time limit.
/// Sub-millisecond delays are the hal timer's.
pub struct Delay {
    clock: Clock,
    limits: RunLimits,
}

impl Delay {
    pub fn new(clock: Clock, limits: RunLimits) -> Self {
        Delay { clock, limits }
    }
}

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        if ns >= 1_000_000 {
            self.delay_ms(ns / 1_000_000);
        }
        self.clock.timer.delay_ns(ns % 1_000_000);
    }

    fn delay_us(&mut self, us: u32) {
        if us >= 1000 {
            self.delay_ms(us / 1000);
        }
        self.clock.timer.delay_us(us % 1000);
    }

    fn delay_ms(&mut self, ms: u32) {
        let end_us = self.limits.delay_end_ms(self.clock.now_ms(), ms) * 1000;
        while self.clock.now_us() < end_us {
            core::hint::spin_loop();
        }
    }
}
