//! Blinks the LED on pin 25: 500 ms on, 500 ms off, forever.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "blinky", path: "../../wit" });

use embedded::platform::{gpio, timing};

const LED: u32 = 25;
const HALF_PERIOD_MS: u32 = 500;

struct Blinky;

impl Guest for Blinky {
    fn run() {
        loop {
            gpio::set_high(LED);
            timing::delay_ms(HALF_PERIOD_MS);
            gpio::set_low(LED);
            timing::delay_ms(HALF_PERIOD_MS);
        }
    }
}

export!(Blinky);
