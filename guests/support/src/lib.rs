//! What every `no_std` belljar guest needs besides its bindings. Link it with
//! `use belljar_guest as _;`.
//!
//! * A panic handler that traps (`unreachable`), so the host reports the
//!   panic as a guest trap with a backtrace instead of spinning.
//! * A global allocator over a fixed arena inside the guest's linear memory.
//!   wit-bindgen's `cabi_realloc` needs one (strings, lists). The arena never
//!   calls `memory.grow`, which is right for belljar's 1-byte pages and fixed
//!   memory size.
#![no_std]

/// Bytes of linear memory reserved for heap allocations (feature `heap`).
#[cfg(feature = "heap")]
pub const HEAP_SIZE: usize = 4096;
/// Bytes of linear memory reserved for heap allocations (no `heap` feature).
#[cfg(not(feature = "heap"))]
pub const HEAP_SIZE: usize = 256;

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmArenaTalc = {
    use core::mem::MaybeUninit;
    static mut HEAP: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: HEAP is used by nothing but this allocator.
    unsafe { talc::wasm::new_wasm_arena_allocator(&raw mut HEAP) }
};

#[cfg(target_family = "wasm")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
