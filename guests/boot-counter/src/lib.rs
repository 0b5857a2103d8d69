//! Counts its own starts in a 24C256 EEPROM (0x50 on bus `i2c0`) through
//! the `eeprom24x` driver from crates.io, unmodified: it reads the count at
//! address 0 (an erased EEPROM, all 0xff, counts as 0), writes it back one
//! higher, logs `boot N` and returns.
#![no_std]

extern crate alloc;

use alloc::format;

use belljar_guest::hal::I2c;
use belljar_guest::{log, timing};
use eeprom24x::{Eeprom24x, SlaveAddr};

/// Where the count lives in the EEPROM.
const COUNT_AT: u32 = 0;

struct BootCounter;

impl belljar_guest::Guest for BootCounter {
    fn run() {
        let bus = I2c::open("i2c0").expect("bus i2c0");
        let mut eeprom = Eeprom24x::new_24x256(bus, SlaveAddr::default());
        let mut bytes = [0u8; 4];
        if let Err(e) = eeprom.read_data(COUNT_AT, &mut bytes) {
            log::log(log::Level::Error, &format!("eeprom read: {e:?}"));
            return;
        }
        let count = match u32::from_le_bytes(bytes) {
            u32::MAX => 0,
            n => n,
        };
        let boots = count + 1;
        if let Err(e) = eeprom.write_page(COUNT_AT, &boots.to_le_bytes()) {
            log::log(log::Level::Error, &format!("eeprom write: {e:?}"));
            return;
        }
        // A 24Cxx needs up to 5 ms to program a page.
        timing::delay_ms(5);
        log::log(log::Level::Info, &format!("boot {boots}"));
    }
}

belljar_guest::export!(BootCounter);
