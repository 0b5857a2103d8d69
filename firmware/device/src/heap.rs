//! The firmware heap: a first-fit allocator (`embedded-alloc`'s LLFF heap)
//! that counts what is in use and remembers the high-water mark, so a board
//! can report how much RAM a guest really needed.
//!
//! The board hands the heap its memory once, at boot ([`init`]); the size is
//! the board's choice.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use embedded_alloc::LlffHeap;

/// A global allocator that counts bytes in use and their peak.
pub struct CountingHeap {
    heap: LlffHeap,
    size: AtomicUsize,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    /// The peak since [`start_window`].
    window_peak: AtomicUsize,
    allocations: AtomicUsize,
    failures: AtomicUsize,
    largest_failure: AtomicUsize,
}

/// What the heap has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes the board gave the heap.
    pub size: usize,
    /// Bytes requested and not yet freed.
    pub in_use: usize,
    /// The most bytes in use at any one time (requested sizes, without the
    /// allocator's own alignment padding and bookkeeping).
    pub peak: usize,
    /// The most bytes in use since [`start_window`] (e.g. while the guests
    /// run, after their instantiation).
    pub window_peak: usize,
    /// Successful allocations (a `realloc` counts as one).
    pub allocations: usize,
    /// Allocations the heap could not satisfy (Wasmtime copes with some,
    /// e.g. by capturing no backtrace).
    pub failures: usize,
    /// The largest request among them.
    pub largest_failure: usize,
}

impl CountingHeap {
    pub const fn empty() -> Self {
        CountingHeap {
            heap: LlffHeap::empty(),
            size: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            window_peak: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            largest_failure: AtomicUsize::new(0),
        }
    }

    pub fn stats(&self) -> HeapStats {
        HeapStats {
            size: self.size.load(Relaxed),
            in_use: self.in_use.load(Relaxed),
            peak: self.peak.load(Relaxed),
            window_peak: self.window_peak.load(Relaxed),
            allocations: self.allocations.load(Relaxed),
            failures: self.failures.load(Relaxed),
            largest_failure: self.largest_failure.load(Relaxed),
        }
    }

    fn count_alloc(&self, ptr: *mut u8, size: usize) -> *mut u8 {
        if ptr.is_null() {
            self.failures.fetch_add(1, Relaxed);
            self.largest_failure.fetch_max(size, Relaxed);
        } else {
            self.allocations.fetch_add(1, Relaxed);
            let now = self.in_use.fetch_add(size, Relaxed) + size;
            self.peak.fetch_max(now, Relaxed);
            self.window_peak.fetch_max(now, Relaxed);
        }
        ptr
    }
}

unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { self.heap.alloc(layout) };
        self.count_alloc(ptr, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { self.heap.alloc_zeroed(layout) };
        self.count_alloc(ptr, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.heap.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Relaxed);
    }

    /// The LLFF heap cannot grow a block in place: a reallocation holds both
    /// blocks for a moment, and the peak says so.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded contract.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and at least this long; they are
            // distinct allocations.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            self.allocations.fetch_sub(1, Relaxed);
        }
        new
    }
}

/// The one heap of the firmware.
#[global_allocator]
static HEAP: CountingHeap = CountingHeap::empty();

/// Gives the heap its memory. Call once, first thing at boot, before anything
/// allocates.
pub fn init(memory: &'static mut [MaybeUninit<u8>]) {
    assert!(
        HEAP.size.load(Relaxed) == 0,
        "belljar_device::heap::init called twice"
    );
    HEAP.size.store(memory.len(), Relaxed);
    // Apps' memory growth may not take what the host and the others need.
    belljar_host::runtime::share_heap(free);
    // SAFETY: the region is 'static, exclusively ours, and handed over once.
    unsafe { HEAP.heap.init(memory.as_mut_ptr() as usize, memory.len()) }
}

/// Starts a window over which [`HeapStats::window_peak`] is kept: from the
/// bytes in use now.
pub fn start_window() {
    HEAP.window_peak.store(HEAP.in_use.load(Relaxed), Relaxed);
}

/// Bytes of the heap not in use (before the allocator's own overhead).
pub fn free() -> usize {
    let stats = HEAP.stats();
    stats.size.saturating_sub(stats.in_use)
}

/// The heap's figures so far.
pub fn stats() -> HeapStats {
    HEAP.stats()
}
