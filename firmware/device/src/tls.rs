//! The platform symbols Wasmtime's `custom` platform needs on bare metal.
//!
//! Wasmtime keeps a pointer per thread for its runtime state (slot 0) and one
//! for component-model-async state (slot 1). A single-core firmware that runs
//! guests from thread mode only has one "thread": two static cells suffice.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

static SLOTS: [AtomicPtr<u8>; 2] = [AtomicPtr::new(null_mut()), AtomicPtr::new(null_mut())];

/// Wasmtime's TLS getter (`wasmtime-platform.h`). Slots default to null.
#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_tls_get(slot: usize) -> *mut u8 {
    SLOTS[slot].load(Ordering::Relaxed)
}

/// Wasmtime's TLS setter (`wasmtime-platform.h`).
#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_tls_set(slot: usize, ptr: *mut u8) {
    SLOTS[slot].store(ptr, Ordering::Relaxed);
}
