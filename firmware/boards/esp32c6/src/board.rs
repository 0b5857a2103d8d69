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
//! critical-section mutex; each app gets its own [`Esp`] view (in a
//! `belljar_device::board::DeviceBoard`; the host decides which app owns
//! which pin).

use belljar_device::belljar_host::{Absent, Change, Peripherals, WaitInput};
use belljar_device::board::{Hardware, Rules};
use core::cell::RefCell;
use core::convert::Infallible;
use critical_section::Mutex;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use esp_hal::gpio::{AnyPin, Input, InputConfig, Level, Output, OutputConfig, Pull};

use crate::settings;
use crate::uart;

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

/// One app's view of the board's hardware.
pub struct Esp {
    leds: [Led; 4],
    buttons: [Button; 2],
}

impl Esp {
    pub fn new() -> Self {
        Esp {
            leds: core::array::from_fn(Led),
            buttons: core::array::from_fn(Button),
        }
    }
}

impl Peripherals for Esp {
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

impl Hardware for Esp {
    type Console = uart::Console;
    const RULES: Rules = settings::RULES;

    fn try_read() -> Option<u8> {
        uart::try_read()
    }
    fn try_write(byte: u8) -> bool {
        uart::try_write_guest_byte(byte)
    }
}
