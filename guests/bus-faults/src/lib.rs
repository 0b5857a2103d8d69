//! Test fixture: misuses the peripheral interfaces on demand (oversized
//! transfers, absent devices, ungranted buses and pins, waits that never
//! end). Reached with `belljar call bus-faults '<export>(...)'` or the tests.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use belljar_guest as _;

wit_bindgen::generate!({ world: "bus-faults", path: "wit", generate_all });

use embedded::platform::{analog, buses, digital, pwm};
use wasi::i2c::i2c::Operation;

struct BusFaults;

impl Guest for BusFaults {
    fn i2c_read(bus: String, address: u16, len: u64) -> Result<Vec<u8>, String> {
        let bus = buses::open_i2c(&bus).map_err(|e| format!("{e:?}"))?;
        bus.read(address, len).map_err(|e| format!("{e:?}"))
    }

    fn i2c_reads(count: u32) -> Result<(), String> {
        let bus = buses::open_i2c("i2c0").map_err(|e| format!("{e:?}"))?;
        let ops: Vec<Operation> = (0..count).map(|_| Operation::Read(1)).collect();
        bus.transaction(0x48, &ops)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    fn open_many(count: u32) -> u32 {
        let mut open = Vec::new();
        for _ in 0..count {
            match buses::open_i2c("i2c0") {
                Ok(bus) => open.push(bus),
                Err(_) => break,
            }
        }
        open.len() as u32
    }

    fn spi_open(name: String) -> Result<(), String> {
        wasi::spi::spi::open(&name)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    fn wait_edge(pin: u32) {
        digital::wait_for_edge(pin, digital::Edge::Falling);
    }

    fn set_duty(pin: u32, duty: u16) {
        pwm::set_duty(pin, duty);
    }

    fn read_analog(channel: u32) -> u16 {
        analog::read(channel)
    }
}

export!(BusFaults);
