//! The mps2-an505 as guests see it: GPIO 0..=29 like a Pico 2 (pin 25, the
//! LED, drives FPGA IO LED0; the others are recorded outputs), scripted
//! buttons (also the `digital` inputs, whose waits sleep until the scripted
//! edge), recorded servo and PWM duty cycles (QEMU models no PWM), embassy-time
//! delays, UART0, and I2C bus `i2c0`: the SBCon controller of Shield 1, where
//! QEMU attaches `-device tmp105,address=0x48` and `-device at24c-eeprom`.
//! QEMU models no ADC, and its PL022 SPI controllers have no chip select on
//! this board, so `analog` and `wasi:spi` find no channel or device here (the
//! simulator has both). Each app gets its own `Mps2` view (in a
//! `belljar_device::board::DeviceBoard`); the host decides who owns which pin.

use core::ptr::{read_volatile, write_volatile};

use belljar_device::belljar_host::Peripherals;
use belljar_device::belljar_host::{Absent, Stop};
use belljar_device::board::{Hardware, Rules};
use belljar_device::pins::{Button, Output, Pins, Recorded, Script};
use belljar_device::{Press, RunLimits};

use crate::i2c::SbconI2c;
use crate::settings;
use crate::uart;

/// The guest pin wired to FPGA IO LED0.
pub const LED_PIN: u32 = 25;

/// FPGA IO block (AN505 "FPGA system control and I/O"), Secure alias.
const FPGAIO: usize = 0x5030_2000;
/// LED0 register: bit n drives user LED n.
const FPGAIO_LED0: usize = FPGAIO;

/// One app's view of the board's hardware.
pub struct Mps2 {
    pins: Pins<Self>,
    /// Bus `i2c0`: Shield 1's SBCon controller.
    i2c0: SbconI2c,
}

impl Mps2 {
    pub fn new() -> Self {
        Mps2 {
            pins: Pins::new(),
            i2c0: SbconI2c::new(SbconI2c::SHIELD1),
        }
    }
}

impl Script for Mps2 {
    const PRESSES: &'static [Press] = settings::PRESSES;
    const LIMITS: RunLimits = settings::RULES.limits;

    /// Pin 25 drives LED0 of the FPGA IO block; every level is recorded.
    fn drive(pin: u32, high: bool) {
        if pin == LED_PIN {
            // SAFETY: the FPGA IO LED register; only pin 25 writes it.
            unsafe {
                let leds = read_volatile(FPGAIO_LED0 as *const u32);
                let leds = if high { leds | 1 } else { leds & !1 };
                write_volatile(FPGAIO_LED0 as *mut u32, leds);
            }
        }
    }
}

impl Peripherals for Mps2 {
    type Output = Output<Self>;
    type Input = Button<Self>;
    type Servo = Recorded;
    type Pwm = Recorded;
    type Analog = Absent;
    type I2c = SbconI2c;
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
    fn i2c_bus(&self, name: &str) -> Option<usize> {
        (name == "i2c0").then_some(0)
    }
    fn i2c(&mut self, index: usize) -> Option<&mut SbconI2c> {
        (index == 0).then_some(&mut self.i2c0)
    }
}

impl Hardware for Mps2 {
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
