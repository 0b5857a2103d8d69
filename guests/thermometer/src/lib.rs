//! A thermometer: the `lm75` driver from crates.io, unmodified, reads a
//! TMP105/LM75 at 0x48 on bus `i2c0` once a second. The reading is logged;
//! the LED (pin 25) is on while it is above 30 C. A sensor that does not
//! answer is logged and retried: the app keeps running.
#![no_std]

extern crate alloc;

use alloc::format;

use belljar_guest::hal::I2c;
use belljar_guest::{gpio, log, timing};

const LED: u32 = 25;
const THRESHOLD_C: f32 = 30.0;

struct Thermometer;

impl belljar_guest::Guest for Thermometer {
    fn run() {
        let bus = match I2c::open("i2c0") {
            Ok(bus) => bus,
            Err(e) => {
                log::log(log::Level::Error, &format!("no I2C bus i2c0: {e:?}"));
                return;
            }
        };
        let mut sensor = lm75::Lm75::new(bus, lm75::Address::from(0x48));
        loop {
            match sensor.read_temperature() {
                Ok(celsius) => {
                    // Tenths of a degree, formatted as integers: float
                    // formatting would triple the app's size.
                    let tenths = (celsius * 10.0) as i32;
                    let sign = if tenths < 0 { "-" } else { "" };
                    let (whole, tenth) = (tenths.abs() / 10, tenths.abs() % 10);
                    log::log(
                        log::Level::Info,
                        &format!("temperature {sign}{whole}.{tenth} C"),
                    );
                    if celsius > THRESHOLD_C {
                        gpio::set_high(LED);
                    } else {
                        gpio::set_low(LED);
                    }
                }
                Err(lm75::Error::I2C(e)) => {
                    log::log(log::Level::Warn, &format!("sensor did not answer: {e:?}"))
                }
                Err(_) => log::log(log::Level::Warn, "sensor: invalid input"),
            }
            timing::delay_ms(1000);
        }
    }
}

belljar_guest::export!(Thermometer);
