//! On a memory-mapped flash (`Slots::open_mapped`) a received candidate is
//! verified where it lies: `mark_pending` allocates nothing of the
//! package's size, where the plain `open` reads it into RAM. Measured with
//! a counting allocator (this test binary's own).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use belljar_update::Slots;
use common::*;
use sha2::{Digest, Sha256};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One test at a time (the harness runs tests on threads, and the counter
/// counts every thread's allocations: the other test's package building
/// must not land in a measurement).
static MEASURING: Mutex<()> = Mutex::new(());

// SAFETY: forwards to the system allocator, counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), SeqCst) + layout.size();
        PEAK.fetch_max(now, SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Receives `pkg` into fresh slots (opened with `open`, or `open_mapped`
/// if `mapped`) and returns the heap peak above what was in use during
/// `mark_pending` alone, which must accept it.
fn mark_pending_peak<F: TestFlash>(pkg: &[u8], mapped: bool) -> usize {
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut flash = F::blank(SECTORS);
    let mut slots = if mapped {
        Slots::open_mapped(&mut flash, CFG).unwrap()
    } else {
        Slots::open(&mut flash, CFG).unwrap()
    };
    let sha256: [u8; 32] = Sha256::digest(pkg).into();
    let mut at = slots.begin_candidate(pkg.len() as u32, sha256).unwrap();
    while (at as usize) < pkg.len() {
        let end = (at as usize + 512).min(pkg.len());
        at = slots.write_candidate(at, &pkg[at as usize..end]).unwrap();
    }
    let before = IN_USE.load(SeqCst);
    PEAK.store(before, SeqCst);
    let header = slots.mark_pending(&policy).unwrap();
    let peak = PEAK.load(SeqCst) - before;
    assert_eq!(header.version, 2);
    peak
}

fn check<F: TestFlash>(name: &str) {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let pkg = package("app-b", 2, 40_000);
    let copied = mark_pending_peak::<F>(&pkg, false);
    let in_place = mark_pending_peak::<F>(&pkg, true);
    eprintln!(
        "{name}: mark_pending of a {}-byte package: heap peak {copied} B with a RAM copy, {in_place} B in place",
        pkg.len()
    );
    assert!(copied >= pkg.len(), "{copied}");
    assert!(in_place < 4096, "{in_place}");
}

#[test]
fn a_candidate_is_verified_in_place_on_the_simulated_nor() {
    check::<Flash>("SimFlash");
}

#[test]
fn a_candidate_is_verified_in_place_on_the_xip_flash() {
    check::<Xip>("XipFlash");
}
