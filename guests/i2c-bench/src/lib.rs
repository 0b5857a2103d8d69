//! Benchmark fixture: `run` makes `CALLS` I2C write-read transactions (the
//! one a temperature driver makes: pointer 0, read 2 bytes from 0x48 on bus
//! `i2c0`) and returns, so the cost of one transaction is the run's
//! instruction count divided by `CALLS`.
#![no_std]

use belljar_guest::hal::I2c;
use embedded_hal::i2c::I2c as _;

pub const CALLS: u32 = 1_000;

struct I2cBench;

impl belljar_guest::Guest for I2cBench {
    fn run() {
        let mut bus = I2c::open("i2c0").expect("bus i2c0");
        let mut reading = [0u8; 2];
        for _ in 0..CALLS {
            bus.write_read(0x48, &[0], &mut reading)
                .expect("sensor at 0x48");
        }
    }
}

belljar_guest::export!(I2cBench);
