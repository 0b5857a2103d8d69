//! The LED (pin 25) toggles on each press of the button on pin 15 (active
//! low: a press is a falling edge). The app sleeps in `wait_for_falling_edge`
//! (embedded-hal-async's `Wait`) between presses: no polling, no CPU.
#![no_std]

use belljar_guest::hal::{Input, Output, block_on};
use embedded_hal::digital::OutputPin;
use embedded_hal_async::digital::Wait;

struct ButtonWait;

impl belljar_guest::Guest for ButtonWait {
    fn run() {
        let mut button = Input(15);
        let mut led = Output(25);
        let mut on = false;
        loop {
            let _ = block_on(button.wait_for_falling_edge());
            on = !on;
            let _ = led.set_state(on.into());
        }
    }
}

belljar_guest::export!(ButtonWait);
