//! Sweeps the servo on pin 6 from 0 to 180 degrees and back in 10 degree
//! steps, 200 ms per step, forever.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "servo-sweep", path: "../../wit" });

use embedded::platform::{servo, timing};

const SERVO: u32 = 6;
const STEP_DEG: usize = 10;
const STEP_MS: u32 = 200;

struct ServoSweep;

impl Guest for ServoSweep {
    fn run() {
        // 0, 10, ..., 180, 170, ..., 0, 10, ...: every angle held STEP_MS.
        step(0);
        loop {
            for angle in (STEP_DEG..=180).step_by(STEP_DEG) {
                step(angle as u32);
            }
            for angle in (0..=180 - STEP_DEG).rev().step_by(STEP_DEG) {
                step(angle as u32);
            }
        }
    }
}

fn step(angle: u32) {
    servo::set_angle(SERVO, angle);
    timing::delay_ms(STEP_MS);
}

export!(ServoSweep);
