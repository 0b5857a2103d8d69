//! Counts seconds on a MAX7219 8-digit display (SPI device `display0`)
//! through the `max7219` driver from crates.io, unmodified.
#![no_std]

use belljar_guest::hal::Spi;
use belljar_guest::timing;
use max7219::MAX7219;

struct SpiDisplay;

impl belljar_guest::Guest for SpiDisplay {
    fn run() {
        let spi = Spi::open("display0").expect("SPI device display0");
        let mut display = MAX7219::from_spi(1, spi).expect("display");
        display.power_on().expect("power on");
        let mut seconds = 0;
        loop {
            display.write_integer(0, seconds).expect("write");
            timing::delay_ms(1000);
            seconds += 1;
        }
    }
}

belljar_guest::export!(SpiDisplay);
