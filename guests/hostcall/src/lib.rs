//! Benchmark fixture: `run` makes `CALLS` scalar host calls
//! (`gpio.set-high(25)`) and returns, so the cost of one host-call round trip
//! is the run's instruction count divided by `CALLS`.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "blinky", path: "../../wit" });

use embedded::platform::gpio;

pub const CALLS: u32 = 10_000;

struct HostCall;

impl Guest for HostCall {
    fn run() {
        for _ in 0..CALLS {
            gpio::set_high(25);
        }
    }
}

export!(HostCall);
