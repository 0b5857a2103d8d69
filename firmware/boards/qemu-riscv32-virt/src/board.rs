//! The virt machine as guests see it: it has no GPIO, PWM, I2C, SPI or ADC
//! models, so its pins are `belljar_device::pins` (GPIO 0..=29 like a Pico
//! 2, recorded; scripted buttons, also the `digital` inputs; recorded servo
//! and PWM duty cycles), with embassy-time delays and UART0. `wasi:i2c`,
//! `wasi:spi` and `analog` find no bus, device or channel here (the
//! simulator and the mps2-an505 board have them). Each app gets its own
//! `Virt` view (in a `belljar_device::board::DeviceBoard`); the host
//! decides who owns which pin.

use belljar_device::belljar_host::Peripherals;
use belljar_device::belljar_host::{Absent, Stop};
use belljar_device::board::{Hardware, Rules};
use belljar_device::pins::{Button, Output, Pins, Recorded, Script};
use belljar_device::{Press, RunLimits};

use crate::settings;
use crate::uart;

/// One app's view of the board's hardware.
pub struct Virt {
    pins: Pins<Self>,
}

impl Virt {
    pub fn new() -> Self {
        Virt { pins: Pins::new() }
    }
}

/// The virt machine has nothing to drive: levels are only recorded.
impl Script for Virt {
    const PRESSES: &'static [Press] = settings::PRESSES;
    const LIMITS: RunLimits = settings::RULES.limits;
}

impl Peripherals for Virt {
    type Output = Output<Self>;
    type Input = Button<Self>;
    type Servo = Recorded;
    type Pwm = Recorded;
    type Analog = Absent;
    type I2c = Absent;
    type Spi = Absent;

    fn output(&mut self, pin: u32) -> Option<&mut Output<Self>> {
        self.pins.output(pin)
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button<Self>> {
        self.pins.input(pin)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.servo(pin)
    }
    fn pwm(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.pwm(pin)
    }
}

impl Hardware for Virt {
    type Console = uart::Console;
    const RULES: Rules = settings::RULES;

    fn try_read() -> Option<u8> {
        uart::try_read()
    }
    fn try_write(byte: u8) -> bool {
        uart::try_write_guest_byte(byte)
    }
    fn take_stop(&mut self) -> Option<Stop> {
        self.pins.take_stop()
    }
}
