//! The ESP32-C6-DevKitC-1 as guests see it. Guests use a Pico 2's GPIO
//! numbers (the contract every board keeps); the DevKitC's pins answer to
//! them:
//!
//! | guest pin | DevKitC | ESP32-C6 pin |
//! | --- | --- | --- |
//! | 25 | LED (an external one, to GND through a resistor) | GPIO23 |
//! | 20, 21, 22 | LEDs, likewise | GPIO20, GPIO21, GPIO22 |
//! | 15 | the BOOT button | GPIO9 |
//! | 14 | a button to GND | GPIO18 |
//!
//! The DevKitC's own RGB LED (GPIO8) is a WS2812, which a plain GPIO
//! cannot drive: the LEDs are plain outputs on header pins, lit when high.
//! The buttons pull to GND when pressed (inputs with pull-ups, read
//! active-low by belljar-host); BOOT (GPIO9) is a strapping pin, read only
//! after boot. Servos, `pwm`, `analog`, `wasi:i2c` and `wasi:spi` are not
//! wired on this board yet (the guest traps: "not available").
//!
//! The pins are configured once at boot into a static [`Gpio`] behind a
//! critical-section mutex; each app gets its own [`EspBoard`] view (the
//! host decides which app owns which pin).

use core::cell::RefCell;
use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::Future;

use belljar_device::RunLimits;
use belljar_device::belljar_host::{Absent, Board, Change, Event, Stop, TimelineLine, WaitInput};
use belljar_device::clock::board_ms;
use critical_section::Mutex;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use esp_hal::gpio::{AnyPin, Input, InputConfig, Level, Output, OutputConfig, Pull};

use crate::settings;
use crate::uart::{self, Console};

/// Guest pin numbers of the four LEDs and the two buttons.
const LED_PINS: [u32; 4] = [25, 20, 21, 22];
const BUTTON_PINS: [u32; 2] = [15, 14];

/// The configured pins.
pub struct Gpio {
    leds: [Output<'static>; 4],
    buttons: [Input<'static>; 2],
}

impl Gpio {
    /// LEDs off (low), buttons with pull-ups; in the order of `LED_PINS`
    /// and `BUTTON_PINS`.
    pub fn configure(leds: [AnyPin<'static>; 4], buttons: [AnyPin<'static>; 2]) -> Self {
        let pull_up = InputConfig::default().with_pull(Pull::Up);
        Gpio {
            leds: leds.map(|pin| Output::new(pin, Level::Low, OutputConfig::default())),
            buttons: buttons.map(|pin| Input::new(pin, pull_up)),
        }
    }
}

static GPIO: Mutex<RefCell<Option<Gpio>>> = Mutex::new(RefCell::new(None));

/// Hands the configured pins to the apps' views (once, at boot).
pub fn init(gpio: Gpio) {
    critical_section::with(|cs| GPIO.replace(cs, Some(gpio)));
}

fn with_gpio<R>(f: impl FnOnce(&mut Gpio) -> R) -> Option<R> {
    critical_section::with(|cs| GPIO.borrow_ref_mut(cs).as_mut().map(f))
}

/// An app's handle on an LED (`set-high` lights it).
pub struct Led(usize);

impl ErrorType for Led {
    type Error = Infallible;
}

impl OutputPin for Led {
    fn set_high(&mut self) -> Result<(), Infallible> {
        with_gpio(|g| g.leds[self.0].set_high());
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        with_gpio(|g| g.leds[self.0].set_low());
        Ok(())
    }
}

/// An app's handle on a button.
pub struct Button(usize);

impl ErrorType for Button {
    type Error = Infallible;
}

impl InputPin for Button {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(with_gpio(|g| g.buttons[self.0].is_high()).unwrap_or(true))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|high| !high)
    }
}

impl WaitInput for Button {
    async fn wait_for(&mut self, change: Change) -> Result<(), Infallible> {
        belljar_device::sample_until(change, || self.is_high() == Ok(true)).await;
        Ok(())
    }
}

const LIMITS: RunLimits = RunLimits {
    for_ms: settings::FOR_MS,
    uart_idle_ms: settings::UART_IDLE_MS,
};

/// One app's view of the board.
pub struct EspBoard {
    /// Prefix of this app's console lines when several apps run.
    name: Option<&'static str>,
    leds: [Led; 4],
    buttons: [Button; 2],
    /// Why the last UART read gave up, for `Board::poll_stop`.
    stop: Option<Stop>,
}

impl EspBoard {
    pub fn new(name: Option<&'static str>) -> Self {
        EspBoard {
            name,
            leds: core::array::from_fn(Led),
            buttons: core::array::from_fn(Button),
            stop: None,
        }
    }
}

impl Board for EspBoard {
    type Output = Led;
    type Input = Button;
    type Servo = Absent;
    type Pwm = Absent;
    type Analog = Absent;
    type I2c = Absent;
    type Spi = Absent;

    fn output(&mut self, pin: u32) -> Option<&mut Led> {
        let i = LED_PINS.iter().position(|&p| p == pin)?;
        Some(&mut self.leds[i])
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button> {
        let i = BUTTON_PINS.iter().position(|&p| p == pin)?;
        Some(&mut self.buttons[i])
    }
    fn servo(&mut self, _pin: u32) -> Option<&mut Absent> {
        None
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
            let _ = writeln!(Console, "{line}");
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.stop.take() {
            return Some(stop);
        }
        LIMITS.time_limit(board_ms())
    }
}
