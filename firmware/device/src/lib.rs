//! What every belljar firmware shares, whatever the board:
//!
//! * [`heap`]: the global allocator, counting bytes in use and their peak;
//! * the two platform symbols Wasmtime needs on bare metal
//!   (`wasmtime_tls_get` / `wasmtime_tls_set`);
//! * [`run_guest`]: engine from the belljar profile, load, instantiate, run,
//!   and the outcome printed on the board's console;
//! * board-time rules shared by boards ([`RunLimits`], [`Press`], console
//!   lines kept whole: [`guest_wrote`]) and [`ram`] figures;
//! * `build/settings.rs`: the build-time settings (`BELLJAR_*`), included by
//!   each board's build script.
//!
//! A board crate provides a [`Board`] (its `event` prints
//! [`belljar_host::TimelineLine`]s on its console), the heap memory, a panic
//! handler and the way to stop (e.g. semihosting exit on QEMU).
#![no_std]

extern crate alloc;

pub mod fault;
pub mod heap;
pub mod ram;
mod support;
mod tls;

use core::fmt::{self, Write};

pub use belljar_host;
use belljar_host::runtime::{Exit, Limits, Runtime, TrapKind};
use belljar_host::{Board, wasmtime};
use belljar_profile::Target;
pub use support::{Press, RunLimits, UartStopped, console_needs_newline, guest_wrote};

/// Pulley stack per guest (bytes, heap-allocated per Store). Deep enough for
/// the example guests (their shadow stack lives in linear memory, not here);
/// a guest that recurses deeper traps with a stack overflow, the board stays up.
pub const DEFAULT_WASM_STACK: usize = 4096;

/// How a guest is run.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Fuel watchdog and budget.
    pub limits: Limits,
    /// `Config::max_wasm_stack` (runtime-only: does not affect which
    /// artifacts load).
    pub max_wasm_stack: usize,
    /// Copy the artifact into the heap (`Component::deserialize`) instead of
    /// running it in place from flash (`deserialize_raw`). Only for the
    /// footprint benchmark's baseline.
    pub copy_artifact: bool,
    /// A monotonic instruction (or cycle) counter of the board, if it has
    /// one: [`Report::counts`] then says what each step cost.
    pub counter: Option<fn() -> u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            max_wasm_stack: DEFAULT_WASM_STACK,
            copy_artifact: false,
            counter: None,
        }
    }
}

impl Settings {
    /// The defaults with a board's build-time overrides (`None`: default).
    pub fn with_overrides(
        watchdog_fuel: Option<u64>,
        total_fuel: Option<u64>,
        max_wasm_stack: Option<usize>,
    ) -> Self {
        let defaults = Limits::default();
        Settings {
            limits: Limits {
                watchdog_fuel: watchdog_fuel.unwrap_or(defaults.watchdog_fuel),
                total_fuel: total_fuel.or(defaults.total_fuel),
            },
            max_wasm_stack: max_wasm_stack.unwrap_or(DEFAULT_WASM_STACK),
            ..Settings::default()
        }
    }
}

impl From<Limits> for Settings {
    fn from(limits: Limits) -> Self {
        Settings {
            limits,
            ..Settings::default()
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The engine could not be made or the artifact does not fit this board.
    LoadFailed,
    /// The guest ran (or failed to instantiate, as a trap).
    Exited(Exit),
}

impl Outcome {
    /// The process-style status a board reports: 0 when the guest returned
    /// or the board stopped it, 1 when it trapped or could not be loaded.
    pub fn status(&self) -> u32 {
        match self {
            Outcome::Exited(Exit::Returned | Exit::Stopped(_)) => 0,
            Outcome::Exited(Exit::Trapped(_)) | Outcome::LoadFailed => 1,
        }
    }
}

/// The outcome of [`run_guest`] and what the guest did until then.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// Board time when the guest ended (ms since the board was handed over).
    pub board_ms: u64,
    pub host_calls: u64,
    pub fuel: u64,
    /// Heap bytes in use after each step (what each step keeps).
    pub heap: HeapUse,
    /// What each step cost in the board counter's unit, if it has one.
    pub counts: Option<Counts>,
}

/// Board counter (instructions under QEMU `-icount`) spent in each step of
/// [`run_guest`] that was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub engine: u64,
    pub linker: u64,
    pub load: u64,
    pub instantiate: u64,
    /// The guest's `run`, host calls included.
    pub run: u64,
}

impl Counts {
    /// Engine + load + link + instantiate: everything before the guest's
    /// first instruction.
    pub fn boot(&self) -> u64 {
        self.engine + self.linker + self.load + self.instantiate
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "counts: engine {}, linker {}, load {}, instantiate {}, boot {}, run {}",
            self.engine,
            self.linker,
            self.load,
            self.instantiate,
            self.boot(),
            self.run
        )
    }
}

/// Measures the steps with the board counter.
struct Meter {
    counter: Option<fn() -> u64>,
    last: u64,
}

impl Meter {
    fn new(counter: Option<fn() -> u64>) -> Self {
        Meter {
            counter,
            last: counter.map_or(0, |c| c()),
        }
    }

    /// Counter units since the previous lap.
    fn lap(&mut self) -> u64 {
        let Some(counter) = self.counter else {
            return 0;
        };
        let now = counter();
        let spent = now - self.last;
        self.last = now;
        spent
    }
}

/// Heap bytes in use after each step of [`run_guest`] that was reached, and
/// the peak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapUse {
    /// The engine (belljar profile).
    pub engine: Option<usize>,
    /// + the linker with every board interface.
    pub runtime: Option<usize>,
    /// + the deserialized component (its code stays in flash).
    pub load: Option<usize>,
    /// + the store and instance (guest linear memory, Pulley stack).
    pub instantiate: Option<usize>,
    /// The most in use at any time, the guest's run included.
    pub peak: usize,
}

impl fmt::Display for HeapUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("heap in use after")?;
        let steps = [
            ("engine", self.engine),
            ("linker", self.runtime),
            ("load", self.load),
            ("instantiate", self.instantiate),
        ];
        for (step, bytes) in steps {
            if let Some(bytes) = bytes {
                write!(f, " {step} {bytes} B,")?;
            }
        }
        write!(f, " peak {} B", self.peak)
    }
}

/// Loads `cwasm` (a pulley32 component built by `belljar build`), runs its
/// `run` export on `board` and prints how it ended on `console`. Never
/// panics on a bad artifact: a load error is printed and reported.
///
/// The `.cwasm` must be trusted (see `Runtime::load`): boards embed it at
/// build time.
pub fn run_guest<B: Board + 'static>(
    board: B,
    cwasm: &'static [u8],
    console: &mut impl Write,
    settings: impl Into<Settings>,
) -> Report {
    let settings = settings.into();
    let mut report = Report {
        outcome: Outcome::LoadFailed,
        board_ms: 0,
        host_calls: 0,
        fuel: 0,
        heap: HeapUse::default(),
        counts: None,
    };
    let mut counts = Counts::default();
    let mut meter = Meter::new(settings.counter);
    let in_use = || Some(heap::stats().in_use);
    let engine = match engine(settings.max_wasm_stack) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = writeln!(console, "error: cannot create the engine: {e}");
            return report.with_peak();
        }
    };
    counts.engine = meter.lap();
    report.heap.engine = in_use();
    let runtime = match Runtime::<B>::with_engine(engine) {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(console, "error: cannot link the board interfaces: {e}");
            return report.with_peak();
        }
    };
    counts.linker = meter.lap();
    report.heap.runtime = in_use();
    // SAFETY: the artifact is embedded in the firmware at build time from a
    // `belljar build` output; this is the only load of these bytes.
    let loaded = unsafe {
        if settings.copy_artifact {
            runtime.load_copied(cwasm)
        } else {
            runtime.load(cwasm)
        }
    };
    let app = match loaded {
        Ok(app) => app,
        Err(e) => {
            let _ = writeln!(console, "error: cannot load the app: {e}");
            return report.with_peak();
        }
    };
    counts.load = meter.lap();
    report.heap.load = in_use();
    let mut running = match app.instantiate(board, settings.limits) {
        Ok(running) => running,
        Err(exit) => {
            report.outcome = Outcome::Exited(exit);
            print_outcome(console, &report);
            return report.with_peak();
        }
    };
    counts.instantiate = meter.lap();
    report.heap.instantiate = in_use();
    let exit = running.run();
    counts.run = meter.lap();
    if settings.counter.is_some() {
        report.counts = Some(counts);
    }
    report.board_ms = running.board_mut().now_ms();
    report.host_calls = running.store().data().host_calls;
    report.fuel = running.fuel_used();
    report.outcome = Outcome::Exited(exit);
    print_outcome(console, &report);
    report.with_peak()
}

impl Report {
    fn with_peak(mut self) -> Self {
        self.heap.peak = heap::stats().peak;
        self
    }
}

/// The belljar profile's engine, with this board's Pulley stack size (a
/// runtime-only setting: artifacts load the same).
fn engine(max_wasm_stack: usize) -> wasmtime::Result<wasmtime::Engine> {
    let mut config = belljar_profile::config(Target::Pulley32)?;
    config.max_wasm_stack(max_wasm_stack);
    wasmtime::Engine::new(&config)
}

/// `error: guest trapped: ...` (with the guest backtrace) or `stopped: ...`,
/// then what the guest did, as the simulator says it.
fn print_outcome(console: &mut impl Write, report: &Report) {
    let summary = Summary(report);
    let _ = match &report.outcome {
        Outcome::LoadFailed => Ok(()),
        Outcome::Exited(Exit::Trapped(trap)) => writeln!(
            console,
            "error: {trap}\ntrap kind: {}\nafter {summary}; the board is unaffected",
            kind_name(&trap.kind)
        ),
        Outcome::Exited(exit) => writeln!(console, "{exit} after {summary}"),
    };
}

struct Summary<'a>(&'a Report);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} board ms, {} host calls, {} fuel",
            self.0.board_ms, self.0.host_calls, self.0.fuel
        )
    }
}

/// A short, stable name for what stopped a guest.
pub fn kind_name(kind: &TrapKind) -> &'static str {
    match kind {
        TrapKind::Wasm(_) => "wasm trap",
        TrapKind::Fault(_) => "board fault",
        TrapKind::Runaway { .. } => "watchdog (runaway guest)",
        TrapKind::OutOfFuel { .. } => "fuel budget exhausted",
        TrapKind::Host => "host error",
    }
}

/// The first console line of every board (`belljar <board>: <guest> (<n>
/// bytes), heap .., RAM ..<extra>`); when no guest was embedded it also says
/// how to embed one and returns `false`.
pub fn announce(
    console: &mut impl Write,
    board: &str,
    guest_name: &str,
    guest: &[u8],
    heap_size: usize,
    extra: impl fmt::Display,
) -> bool {
    let name = if guest_name.is_empty() {
        "no guest"
    } else {
        guest_name
    };
    let _ = writeln!(
        console,
        "belljar {board}: {name} ({} bytes), heap {heap_size} bytes, RAM {} bytes{extra}",
        guest.len(),
        ram::total(),
    );
    if guest.is_empty() {
        let _ = writeln!(
            console,
            "error: no guest embedded: build the firmware with \
             BELLJAR_GUEST=<path of a .pulley32.cwasm>"
        );
        return false;
    }
    true
}
