//! The belljar app SDK. Every `no_std` belljar guest links it
//! (`use belljar_guest as _;`) for:
//!
//! * A panic handler that traps (`unreachable`), so the host reports the
//!   panic as a guest trap with a backtrace instead of spinning.
//! * A global allocator over a fixed arena inside the guest's linear memory.
//!   wit-bindgen's `cabi_realloc` needs one (strings, lists). The arena never
//!   calls `memory.grow`, which is right for belljar's 1-byte pages and fixed
//!   memory size.
//!
//! With the `device` feature it also carries the bindings of the `device`
//! world (every board interface: [`bindings`]), the `export!` macro for an
//! app's `run`, and [`hal`]: embedded-hal 1.0 traits on those imports, so
//! that driver crates run in the app unmodified:
//!
//! ```ignore
//! struct App;
//! impl belljar_guest::Guest for App {
//!     fn run() {
//!         let i2c = belljar_guest::hal::I2c::open("i2c0").unwrap();
//!         let mut sensor = lm75::Lm75::new(i2c, 0x48);
//!         let _celsius = sensor.read_temperature();
//!     }
//! }
//! belljar_guest::export!(App);
//! ```
#![no_std]

#[cfg(feature = "device")]
pub mod bindings {
    //! The `device` world: `embedded::platform::*` and `wasi::{i2c, spi}`.
    wit_bindgen::generate!({
        world: "device",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "belljar_guest::bindings",
        generate_all,
    });
}

#[cfg(feature = "device")]
pub use bindings::embedded::platform::{
    analog, buses, button, clock, delay, digital, gpio, log, pwm, servo, timing, uart,
};
#[cfg(feature = "device")]
pub use bindings::{Guest, export};

#[cfg(feature = "device")]
pub mod hal;

/// Bytes of linear memory reserved for heap allocations (feature `heap`).
#[cfg(feature = "heap")]
pub const HEAP_SIZE: usize = 4096;
/// Bytes of linear memory reserved for heap allocations (no `heap` feature).
#[cfg(not(feature = "heap"))]
pub const HEAP_SIZE: usize = 256;

#[cfg(all(target_family = "wasm", feature = "heap"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmArenaTalc = {
    use core::mem::MaybeUninit;
    static mut HEAP: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: HEAP is used by nothing but this allocator.
    unsafe { talc::wasm::new_wasm_arena_allocator(&raw mut HEAP) }
};

/// Without `heap` the app's interfaces carry only numbers: nothing should
/// allocate, and the allocator wit-bindgen needs is a bump pointer over the
/// 256-byte arena that starts over once everything is freed (a fraction of
/// a general allocator's code in every `.cwasm`). Running out is a trap.
#[cfg(all(target_family = "wasm", not(feature = "heap")))]
mod bump {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    pub struct Bump {
        arena: UnsafeCell<[u8; super::HEAP_SIZE]>,
        /// (bytes used, live allocations)
        state: UnsafeCell<(usize, usize)>,
    }

    // SAFETY: a guest is single-threaded.
    unsafe impl Sync for Bump {}

    // SAFETY: every block is a fresh, aligned range of the arena that no
    // other live block overlaps; the arena is reused only when no block is
    // live.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: single-threaded; no reference to the state escapes.
            let (used, live) = unsafe { &mut *self.state.get() };
            let base = self.arena.get() as *mut u8;
            let start = (base as usize + *used).next_multiple_of(layout.align()) - base as usize;
            match start.checked_add(layout.size()) {
                Some(end) if end <= super::HEAP_SIZE => {
                    *used = end;
                    *live += 1;
                    // SAFETY: start..end is inside the arena.
                    unsafe { base.add(start) }
                }
                _ => core::ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {
            // SAFETY: as in `alloc`.
            let (used, live) = unsafe { &mut *self.state.get() };
            *live -= 1;
            if *live == 0 {
                *used = 0;
            }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Bump = Bump {
        arena: UnsafeCell::new([0; super::HEAP_SIZE]),
        state: UnsafeCell::new((0, 0)),
    };
}

#[cfg(target_family = "wasm")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
