//! The virt machine as guests see it: it has no GPIO, PWM, I2C, SPI or ADC
//! models, so its pins are `belljar_device::pins` (GPIO 0..=29 like a Pico
//! 2, recorded; scripted buttons, also the `digital` inputs; recorded servo
//! and PWM duty cycles), with embassy-time delays and UART0. `wasi:i2c`,
//! `wasi:spi` and `analog` find no bus, device or channel here (the
//! simulator and the mps2-an505 board have them). Each app gets its own
//! `VirtBoard` view; the host decides who owns which pin.

use core::fmt::Write as _;
use core::future::Future;

use belljar_device::RunLimits;
use belljar_device::belljar_host::{Absent, Board, Event, Stop, TimelineLine};
use belljar_device::clock::board_ms;
use belljar_device::pins::{Button, Output, Pins, Recorded};

use crate::settings;
use crate::uart;

/// The time limit and the UART idle limit (build-time settings).
const LIMITS: RunLimits = RunLimits {
    for_ms: settings::FOR_MS,
    uart_idle_ms: settings::UART_IDLE_MS,
};

/// The virt machine has nothing to drive: levels are only recorded.
fn drive(_pin: u32, _high: bool) {}

/// One app's view of the board.
pub struct VirtBoard {
    /// Prefix of this app's console lines when several apps run.
    name: Option<&'static str>,
    pins: Pins,
    stop: Option<Stop>,
}

impl VirtBoard {
    pub fn new(name: Option<&'static str>) -> Self {
        VirtBoard {
            name,
            pins: Pins::new(settings::PRESSES, LIMITS, drive),
            stop: None,
        }
    }
}

impl Board for VirtBoard {
    type Output = Output;
    type Input = Button;
    type Servo = Recorded;
    type Pwm = Recorded;
    type Analog = Absent;
    type I2c = Absent;
    type Spi = Absent;

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.pins.output(pin)
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button> {
        self.pins.input(pin)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.servo(pin)
    }
    fn pwm(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.pwm(pin)
    }

    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_ {
        LIMITS.delay_ns(ns)
    }

    /// Ends when the millisecond clock has advanced by `ms`, cut short at
    /// the time limit.
    fn delay_ms(&mut self, ms: u32) -> impl Future<Output = ()> + Send + '_ {
        LIMITS.delay(ms)
    }

    fn has_uart(&self) -> bool {
        true
    }

    /// Waits for a byte on UART0 until the time limit, or until no input
    /// came for `BELLJAR_UART_IDLE_MS`.
    async fn read_byte(&mut self) -> Result<u8, ()> {
        LIMITS
            .read_byte(uart::try_read, board_ms)
            .await
            .map_err(|stop| self.stop = Some(stop))
    }

    /// Waits for room in the transmitter (other tasks run meanwhile).
    async fn write_byte(&mut self, byte: u8) -> Result<(), ()> {
        belljar_device::write_when_room(byte, uart::try_write_guest_byte).await;
        Ok(())
    }

    fn now_ms(&mut self) -> u64 {
        board_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        if settings::TRACE {
            let line = TimelineLine {
                at_ms,
                source: self.name,
                event,
            };
            let _ = writeln!(uart::Console, "{line}");
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.stop.take() {
            return Some(stop);
        }
        if let Some(stop) = self.pins.take_stop() {
            return Some(stop);
        }
        LIMITS.time_limit(board_ms())
    }
}
