//! Native stacks of running guests (Wasmtime fibers), from the heap, painted
//! so that their deepest use can be reported like the main stack's.
//!
//! No MMU means no guard page. Instead the Cortex-M33's stack limit register
//! guards them ([`Guarded`]): while an app's fiber runs, MSPLIM is the bottom
//! of that fiber's stack, so an overflow is a stack-limit fault that names
//! the app (the HardFault report) instead of silent corruption of the heap
//! below it; between polls MSPLIM guards the main stack again.
//!
//! Armv7-M (the Cortex-M4F) has no MSPLIM, but its MPU restricts
//! privileged code: one no-access region over the bottom 32 bytes of the
//! running stack (`mpu`) stops an overflow the same way (a MemManage fault
//! escalated to HardFault, the same report).
//!
//! RISC-V (RV32IMAC) has no stack limit register, and its PMP does not
//! restrict machine mode short of locking an entry until reset. There the
//! lowest [`GUARD_BYTES`] of each fiber stack are guard words: [`Guarded`]
//! checks that they still hold the paint after every poll and stops the
//! firmware with the same report if not. That finds an overflow once it has
//! happened (the heap below may already be damaged); it does not prevent it. A fiber
//! stack is sized from the measured peak (`stack peak` on the console) with
//! headroom. Guest code cannot grow it: Pulley runs WebAssembly on its own,
//! bounds-checked stack (`max_wasm_stack`); only the interpreter and host
//! functions use this one.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::ops::Range;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use core::task::{Context, Poll};

use belljar_host::wasmtime::{self, StackCreator, StackMemory};

const PAINT: u32 = 0xCCCC_CCCC;

static PEAK: AtomicUsize = AtomicUsize::new(0);
static SIZE: AtomicUsize = AtomicUsize::new(0);
/// Whether fiber stacks are guarded ([`guard_fibers`]).
static GUARDING: AtomicBool = AtomicBool::new(false);
/// The bottom of the fiber stack created last, and how many were created.
static LAST_BOTTOM: AtomicUsize = AtomicUsize::new(0);
static CREATED: AtomicUsize = AtomicUsize::new(0);
/// The app whose fiber is being polled, for the fault report.
static CURRENT: critical_section::Mutex<core::cell::Cell<Option<&'static str>>> =
    critical_section::Mutex::new(core::cell::Cell::new(None));

/// From now on each new fiber stack is the stack limit while it first runs,
/// and [`Guarded`] sets it for every later poll.
pub fn guard_fibers() {
    GUARDING.store(true, Relaxed);
}

/// The app whose fiber runs now, if any (a fault handler asks).
pub fn current_app() -> Option<&'static str> {
    critical_section::with(|cs| CURRENT.borrow(cs).get())
}

/// Names the app whose fiber runs from now on (`None`: none does), for
/// code that runs a fiber outside [`Guarded`] (instantiation).
pub fn set_current_app(app: Option<&'static str>) {
    critical_section::with(|cs| CURRENT.borrow(cs).set(app));
}

/// The size of the fiber stacks made so far.
pub fn size() -> usize {
    SIZE.load(Relaxed)
}

#[cfg(belljar_msplim)]
fn set_limit(bottom: usize) {
    // SAFETY: only called on the main stack (above every heap allocation,
    // so above `bottom`) or with the fiber's own bottom; the limit is below
    // the stack pointer either way.
    unsafe { cortex_m::register::msplim::write(bottom as u32) };
}

/// Armv7-M: an MPU region over the bottom of the stack (`mpu`).
#[cfg(all(target_arch = "arm", not(belljar_msplim)))]
fn set_limit(bottom: usize) {
    crate::mpu::guard(bottom);
}

/// No stack limit register (RISC-V): the guard words are checked after each
/// poll, and by the exception handler if one comes during it (an overflow
/// that damaged the heap may fault before the poll ends).
#[cfg(not(target_arch = "arm"))]
fn set_limit(bottom: usize) {
    RUNNING_BOTTOM.store(bottom, Relaxed);
}

/// RISC-V: the bottom of the fiber stack being polled (0: none).
#[cfg(not(target_arch = "arm"))]
static RUNNING_BOTTOM: AtomicUsize = AtomicUsize::new(0);

/// RISC-V: whether the fiber being polled has overwritten its guard words
/// (the exception handler asks: the fault may be the overflow's doing).
#[cfg(not(target_arch = "arm"))]
pub(crate) fn running_guard_broken() -> bool {
    let bottom = RUNNING_BOTTOM.load(Relaxed);
    bottom != 0 && guard_broken(bottom)
}

/// Bytes at the bottom of each fiber stack that must keep their paint
/// (RISC-V's overflow check; on Armv7-M the MPU guard region lies within them).
pub const GUARD_BYTES: usize = 64;

/// Whether the guard words of the fiber stack whose bottom is `bottom` were
/// overwritten.
#[cfg_attr(target_arch = "arm", allow(dead_code))]
fn guard_broken(bottom: usize) -> bool {
    // SAFETY: `bottom` is the start of a live painted stack (the app's
    // fiber stack, which Wasmtime keeps while the store lives), at least
    // GUARD_BYTES long.
    (0..GUARD_BYTES / 4).any(|i| unsafe { (bottom as *const u32).add(i).read_volatile() } != PAINT)
}

/// The bottom of the fiber stack created last. Wasmtime keeps a store's
/// fiber stack for its next call: the stack an app was instantiated on is
/// the one its `run` call uses.
pub fn last_bottom() -> usize {
    LAST_BOTTOM.load(Relaxed)
}

/// A guest's future whose fiber runs with the stack limit at the bottom of
/// its own stack; `name` is reported if it overflows.
pub struct Guarded<F> {
    inner: F,
    name: &'static str,
    /// The fiber stack's bottom (0: not known, the poll runs unguarded).
    bottom: usize,
}

impl<F> Guarded<F> {
    /// `bottom`: the stack the app was instantiated on ([`last_bottom`]
    /// right after its instantiation).
    pub fn new(name: &'static str, bottom: usize, inner: F) -> Self {
        Guarded {
            inner,
            name,
            bottom,
        }
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned; the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        set_current_app(Some(this.name));
        if this.bottom != 0 {
            set_limit(this.bottom);
        } else {
            crate::ram::lower_stack_limit();
        }
        let created = CREATED.load(Relaxed);
        // SAFETY: pinned with `self`.
        let result = unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        // A new stack (Wasmtime did not reuse the store's) guarded itself
        // when it was made; remember it for the next polls.
        if CREATED.load(Relaxed) != created {
            this.bottom = LAST_BOTTOM.load(Relaxed);
        }
        // RISC-V: no hardware guard, check the guard words. (On Arm the
        // stack limit or the MPU region stops an overflow as it happens; the
        // MPU region also forbids reading the guard words here.)
        #[cfg(not(target_arch = "arm"))]
        {
            if this.bottom != 0 && guard_broken(this.bottom) {
                crate::fault::stack_overflowed();
            }
            RUNNING_BOTTOM.store(0, Relaxed);
        }
        crate::ram::guard_main_stack();
        set_current_app(None);
        result
    }
}

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
        // Painted 16 bytes a step: a word at a time took 1.5 instructions a
        // byte (9 300 for a 6 KiB stack, an eighth of an instantiation).
        let chunks = size.div_ceil(16);
        let mut memory: Vec<[u32; 4]> = Vec::new();
        memory
            .try_reserve_exact(chunks)
            .map_err(|_| wasmtime::format_err!("out of memory for a {size}-byte fiber stack"))?;
        memory.resize(chunks, [PAINT; 4]);
        SIZE.store(chunks * 16, Relaxed);
        let stack = Painted(memory.into_flattened().into_boxed_slice());
        let bottom = stack.range().start;
        LAST_BOTTOM.store(bottom, Relaxed);
        CREATED.fetch_add(1, Relaxed);
        if GUARDING.load(Relaxed) {
            // Wasmtime switches to it within this poll: guard it from the start.
            set_limit(bottom);
        }
        Ok(Box::new(stack))
    }
}

struct Painted(Box<[u32]>);

impl Painted {
    /// Bytes used, from the top down to the deepest word that lost its
    /// paint. The guard words at the bottom are not read (on Armv7-M the MPU
    /// region over them may still be on: reading them would fault); they
    /// count as used only if the word just above them was reached.
    fn used(&self) -> usize {
        let guard = (GUARD_BYTES / 4).min(self.0.len());
        let untouched = self.0[guard..].iter().take_while(|w| **w == PAINT).count();
        if untouched == 0 {
            return self.0.len() * 4;
        }
        (self.0.len() - guard - untouched) * 4
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
