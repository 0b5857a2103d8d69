//! The LED on pin 25 follows the button on pin 15, polled every 10 ms.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "button-led", path: "../../wit" });

use embedded::platform::{button, gpio, timing};

const LED: u32 = 25;
const BUTTON: u32 = 15;
const POLL_MS: u32 = 10;

struct ButtonLed;

impl Guest for ButtonLed {
    fn run() {
        loop {
            if button::is_pressed(BUTTON) {
                gpio::set_high(LED);
            } else {
                gpio::set_low(LED);
            }
            timing::delay_ms(POLL_MS);
        }
    }
}

export!(ButtonLed);
