//! Floating-point registers across Wasmtime's fiber switches.
//!
//! The hard-float ABI (`thumbv8m.main-none-eabihf`) makes s16-s31 (d8-d15)
//! callee-saved. Wasmtime 48's ARM fiber switch (`wasmtime_fiber_switch` in
//! `wasmtime-internal-fiber`'s `stackswitch/arm.rs`) saves and restores only
//! r4-r11 and lr, so these registers leak across every resume and suspend:
//! when the executor polls a guest, the guest's fiber continues with the
//! executor's s16-s31 instead of its own, and the executor gets back the
//! fiber's. Any frame on either side holding a float in s16-s31 across the
//! switch sees it change.
//!
//! Workaround ([`FpIsolated`]): every poll of a guest's future runs with the
//! fiber's own s16-s31 loaded (saved from its previous poll) and the
//! caller's preserved, so each side keeps its registers as the ABI promises.
//! The frames between the wrapper and the switch (Wasmtime's `FiberFuture`
//! poll and `resume`) are integer code.
//!
//! [`FpProbe`] is the test that catches the bug: it polls with a fresh
//! pattern in s16-s31 and checks it after the poll (main side), and
//! [`check_fiber_side`], called by a board on the fiber during host calls,
//! checks that the fiber never sees the executor's pattern.

use core::arch::asm;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::{Context, Poll};

/// s16..=s31.
type Regs = [u32; 16];

/// Calls `f(arg)` with s16-s31 loaded from `regs` and stores s16-s31 back
/// into `regs` when it returns. The caller's own s16-s31 are preserved
/// (declared clobbered, so the compiler saves them around this).
#[inline(never)]
fn with_fp_regs(regs: &mut Regs, f: extern "C" fn(*mut ()), arg: *mut ()) {
    // SAFETY: `regs` is 16 words; r4 is callee-saved, so it still points to
    // them after the call; `f` is an AAPCS function taking `arg`.
    unsafe {
        asm!(
            "vldmia r4, {{s16-s31}}",
            "blx r12",
            "vstmia r4, {{s16-s31}}",
            in("r4") regs.as_mut_ptr(),
            inout("r0") arg => _,
            inout("r12") f => _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            out("s28") _, out("s29") _, out("s30") _, out("s31") _,
            // The rest of what an AAPCS call may clobber (`clobber_abi("C")`
            // would also name d16-d31, which this FPU does not have).
            out("r1") _, out("r2") _, out("r3") _, out("lr") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
        );
    }
}

struct PollCall<'a, 'b, F: Future> {
    inner: Pin<&'a mut F>,
    cx: &'a mut Context<'b>,
    result: Poll<F::Output>,
}

extern "C" fn poll_trampoline<F: Future>(arg: *mut ()) {
    // SAFETY: `arg` is the `PollCall<F>` that `poll_with` passed.
    let call = unsafe { &mut *(arg as *mut PollCall<'_, '_, F>) };
    call.result = call.inner.as_mut().poll(call.cx);
}

/// Polls `inner` once with s16-s31 = `regs`; `regs` gets s16-s31 as the
/// poll left them.
fn poll_with<F: Future>(
    inner: Pin<&mut F>,
    cx: &mut Context<'_>,
    regs: &mut Regs,
) -> Poll<F::Output> {
    let mut call = PollCall {
        inner,
        cx,
        result: Poll::Pending,
    };
    with_fp_regs(
        regs,
        poll_trampoline::<F>,
        (&mut call as *mut PollCall<'_, '_, F>).cast(),
    );
    call.result
}

/// A guest's future whose fiber keeps its own s16-s31 across polls.
pub struct FpIsolated<F> {
    inner: F,
    fiber_regs: Regs,
}

impl<F> FpIsolated<F> {
    pub fn new(inner: F) -> Self {
        FpIsolated {
            inner,
            fiber_regs: [0; 16],
        }
    }
}

impl<F: Future> Future for FpIsolated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        poll_with(inner, cx, &mut this.fiber_regs)
    }
}

/// The executor's pattern of the poll in progress (0 when none).
static CURRENT: AtomicU32 = AtomicU32::new(0);
static POLLS: AtomicU32 = AtomicU32::new(0);
static MAIN_CORRUPTED: AtomicU32 = AtomicU32::new(0);
static FIBER_LEAKS: AtomicU32 = AtomicU32::new(0);
static FIBER_CHECKS: AtomicU32 = AtomicU32::new(0);

fn pattern(seed: u32) -> Regs {
    core::array::from_fn(|i| 0x5A00_0000 ^ seed.wrapping_mul(0x9E37_79B9) ^ (i as u32) << 20)
}

/// Test probe: each poll runs with a fresh pattern in s16-s31 and checks
/// that the pattern is still there when the poll returns.
pub struct FpProbe<F> {
    inner: F,
}

impl<F> FpProbe<F> {
    pub fn new(inner: F) -> Self {
        FpProbe { inner }
    }
}

impl<F: Future> Future for FpProbe<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        let seed = POLLS.fetch_add(1, Relaxed) + 1;
        let expected = pattern(seed);
        let mut regs = expected;
        CURRENT.store(expected[0], Relaxed);
        let result = poll_with(inner, cx, &mut regs);
        CURRENT.store(0, Relaxed);
        if regs != expected {
            MAIN_CORRUPTED.fetch_add(1, Relaxed);
        }
        result
    }
}

/// Called on a guest's fiber (e.g. from `Board::event` during a host call):
/// counts a leak when the fiber sees the executor's s16 pattern.
pub fn check_fiber_side() {
    let current = CURRENT.load(Relaxed);
    if current == 0 {
        return;
    }
    let s16: u32;
    // SAFETY: reads s16 only.
    unsafe { asm!("vmov {}, s16", out(reg) s16, options(nomem, nostack)) };
    FIBER_CHECKS.fetch_add(1, Relaxed);
    if s16 == current {
        FIBER_LEAKS.fetch_add(1, Relaxed);
    }
}

/// `fp probe: <polls> polls, <n> main-side corruptions, <checks> fiber-side
/// checks, <n> leaks`.
pub struct ProbeLine;

impl core::fmt::Display for ProbeLine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "fp probe: {} polls, {} main-side corruptions, {} fiber-side checks, {} fiber-side leaks",
            POLLS.load(Relaxed),
            MAIN_CORRUPTED.load(Relaxed),
            FIBER_CHECKS.load(Relaxed),
            FIBER_LEAKS.load(Relaxed)
        )
    }
}
