//! Native stacks of running guests (Wasmtime fibers), from the heap, painted
//! so that their deepest use can be reported like the main stack's.
//!
//! No MMU means no guard page: a fiber stack is sized from the measured
//! peak (`stack peak` on the console) with headroom. Guest code cannot grow
//! it: Pulley runs WebAssembly on its own, bounds-checked stack
//! (`max_wasm_stack`); only the interpreter and host functions use this one.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use belljar_host::wasmtime::{self, StackCreator, StackMemory};

const PAINT: u32 = 0xCCCC_CCCC;

static PEAK: AtomicUsize = AtomicUsize::new(0);
static SIZE: AtomicUsize = AtomicUsize::new(0);

/// Deepest use of any fiber stack that has ended, and the stack size.
pub fn peak() -> (usize, usize) {
    (PEAK.load(Relaxed), SIZE.load(Relaxed))
}

/// Hands Wasmtime painted fiber stacks from the heap.
pub struct PaintedStacks;

// SAFETY: each stack is a distinct heap allocation of the requested size,
// 16-byte aligned, alive until Wasmtime drops the `StackMemory`.
unsafe impl StackCreator for PaintedStacks {
    fn new_stack(&self, size: usize, _zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let words = size.div_ceil(16) * 4;
        let mut memory: Vec<u32> = Vec::new();
        memory
            .try_reserve_exact(words)
            .map_err(|_| wasmtime::format_err!("out of memory for a {size}-byte fiber stack"))?;
        memory.resize(words, PAINT);
        SIZE.store(words * 4, Relaxed);
        Ok(Box::new(Painted(memory.into_boxed_slice())))
    }
}

struct Painted(Box<[u32]>);

impl Painted {
    fn used(&self) -> usize {
        let untouched = self.0.iter().take_while(|w| **w == PAINT).count();
        (self.0.len() - untouched) * 4
    }
}

// SAFETY: the range is exactly the allocation; `top` is its end.
unsafe impl StackMemory for Painted {
    fn top(&self) -> *mut u8 {
        self.range().end as *mut u8
    }
    fn range(&self) -> Range<usize> {
        let start = self.0.as_ptr() as usize;
        // Aligned down to 16 bytes (AAPCS requires 8 at calls).
        start..(start + self.0.len() * 4) & !15
    }
    fn guard_range(&self) -> Range<*mut u8> {
        let base = self.0.as_ptr() as *mut u8;
        base..base
    }
}

impl Drop for Painted {
    fn drop(&mut self) {
        PEAK.fetch_max(self.used(), Relaxed);
    }
}
