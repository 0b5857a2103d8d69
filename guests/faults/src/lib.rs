//! Test fixture: misbehaves on demand. Every export but `run` is reached with
//! `belljar call faults '<export>(...)'`.
#![no_std]

use belljar_guest as _;
use core::hint::black_box;
use core::num::NonZeroU32;

wit_bindgen::generate!({ world: "faults", path: "wit", generate_all });

use embedded::platform::gpio;

struct Faults;

impl Guest for Faults {
    fn run() {
        let mut x: u32 = 0;
        loop {
            x = black_box(x.wrapping_add(1));
        }
    }

    fn trap_unreachable() {
        core::arch::wasm32::unreachable()
    }

    fn out_of_bounds() -> u32 {
        let far = black_box(0x7fff_0000usize) as *const u32;
        // SAFETY: it is not; the point is the wasm bounds check trapping.
        unsafe { far.read_volatile() }
    }

    fn read(address: u32) -> u32 {
        let at = black_box(address as usize) as *const u32;
        // SAFETY: any address is fine to the wasm sandbox; past the memory's
        // end the bounds check traps (what the tests look at).
        unsafe { at.read_unaligned() }
    }

    fn grow(bytes: u32) -> i32 {
        core::arch::wasm32::memory_grow(0, bytes as usize) as i32
    }

    fn divide(a: u32, b: u32) -> u32 {
        // A plain `a / b` would panic before dividing; this emits the bare
        // `i32.div_u` so the WebAssembly divide-by-zero trap is what fires.
        // SAFETY: deliberately not upheld for b = 0 (that is the test).
        a / unsafe { NonZeroU32::new_unchecked(black_box(b)) }
    }

    fn recurse(depth: u32) -> u32 {
        if depth == 0 {
            0
        } else {
            black_box(Self::recurse(black_box(depth - 1))).wrapping_add(1)
        }
    }

    fn bad_pin(pin: u32) {
        gpio::set_high(pin);
    }

    fn panics() {
        panic!("the app panicked on purpose");
    }
}

export!(Faults);
