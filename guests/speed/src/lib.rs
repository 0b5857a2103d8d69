//! Benchmark fixture: `run` runs the speed table's kernels
//! (`belljar_kernels::run_all`, the same source the native runs compile)
//! and logs a mark line after each (`mark speed <kernel> <result>`), which
//! the runners stamp with their clock. The host-call kernel's calls are
//! `gpio.set-high`.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "app", path: "../../wit" });

use embedded::platform::{gpio, log};

struct Imports;

impl belljar_kernels::Host for Imports {
    fn set_high(&mut self, pin: u32) {
        gpio::set_high(pin);
    }
    fn mark(&mut self, line: &str) {
        log::log(log::Level::Info, line);
    }
}

struct Speed;

impl Guest for Speed {
    fn run() {
        belljar_kernels::run_all(&mut Imports);
    }
}

export!(Speed);
