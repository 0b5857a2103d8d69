//! The nRF52840 DK as guests see it. Guests use a Pico 2's GPIO numbers
//! (the contract every board keeps); the DK's parts answer to them:
//!
//! | guest pin | DK part | nRF52840 pin |
//! | --- | --- | --- |
//! | 25 | LED1 | P0.13 |
//! | 20, 21, 22 | LED2, LED3, LED4 | P0.14, P0.15, P0.16 |
//! | 15, 14 | Button 1, Button 2 | P0.11, P0.12 |
//!
//! The LEDs are wired active-low: a guest's `set-high` lights one. The
//! buttons pull to GND when pressed (inputs with pull-ups, read active-low
//! by belljar-host). Servos, `pwm`, `analog`, `wasi:i2c` and `wasi:spi` are
//! not wired on this board yet (the guest traps: "not available").
//!
//! The pins are configured once at boot into a static [`Gpio`] behind a
//! critical-section mutex; each app gets its own [`Nrf`] view (in a
//! `belljar_device::board::DeviceBoard`; the host decides which app owns
//! which pin).

use core::cell::RefCell;
use core::convert::Infallible;

use belljar_device::belljar_host::Peripherals;
use belljar_device::belljar_host::{Absent, Change, WaitInput};
use belljar_device::board::{Hardware, Rules};
use critical_section::Mutex;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use nrf52840_hal::gpio::{Input, Level, Output, Pin, PullUp, PushPull, p0};
use nrf52840_hal::uarte;

use crate::settings;
use crate::uart;

/// Guest pin numbers of LED1..LED4 and Button 1, Button 2.
const LED_PINS: [u32; 4] = [25, 20, 21, 22];
const BUTTON_PINS: [u32; 2] = [15, 14];

/// The configured pins.
pub struct Gpio {
    leds: [Pin<Output<PushPull>>; 4],
    buttons: [Pin<Input<PullUp>>; 2],
}

impl Gpio {
    /// LEDs off (high), buttons with pull-ups; and UARTE0's pins (P0.06
    /// TX, P0.08 RX).
    pub fn configure(p0: p0::Parts) -> (Self, uarte::Pins) {
        let led = |pin: Pin<_>| pin.into_push_pull_output(Level::High);
        let uart = uarte::Pins {
            txd: p0.p0_06.into_push_pull_output(Level::High).degrade(),
            rxd: p0.p0_08.into_floating_input().degrade(),
            cts: None,
            rts: None,
        };
        let gpio = Gpio {
            leds: [
                led(p0.p0_13.degrade()),
                led(p0.p0_14.degrade()),
                led(p0.p0_15.degrade()),
                led(p0.p0_16.degrade()),
            ],
            buttons: [
                p0.p0_11.into_pullup_input().degrade(),
                p0.p0_12.into_pullup_input().degrade(),
            ],
        };
        (gpio, uart)
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
        with_gpio(|g| g.leds[self.0].set_low());
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        with_gpio(|g| g.leds[self.0].set_high());
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
        let high = with_gpio(|g| g.buttons[self.0].is_high() == Ok(true));
        Ok(high.unwrap_or(true))
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

/// One app's view of the board's hardware.
pub struct Nrf {
    leds: [Led; 4],
    buttons: [Button; 2],
}

impl Nrf {
    pub fn new() -> Self {
        Nrf {
            leds: core::array::from_fn(Led),
            buttons: core::array::from_fn(Button),
        }
    }
}

impl Peripherals for Nrf {
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
}

impl Hardware for Nrf {
    type Console = uart::Console;
    const RULES: Rules = settings::RULES;

    fn try_read() -> Option<u8> {
        uart::try_read()
    }
    fn try_write(byte: u8) -> bool {
        uart::try_write_guest_byte(byte)
    }
}
