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

// The runtime (`_start`, trap entry) of the RISC-V boards that use it.
#[cfg(all(target_arch = "riscv32", feature = "riscv-rt"))]
use riscv_rt as _;

pub mod board;
pub mod clock;
pub mod executor;
pub mod fault;
/// Arm hard-float only: RISC-V boards (RV32IMAC) have no FP registers, and
/// Wasmtime's riscv32imac fiber switch saves every callee-saved integer
/// register (ra, s0-s11), so nothing leaks across a switch there.
#[cfg(target_arch = "arm")]
pub mod fp;
pub mod heap;
/// Armv7-M's stack guard (an MPU region), where there is no MSPLIM.
#[cfg(all(target_arch = "arm", not(belljar_msplim)))]
pub mod mpu;
pub mod pins;
pub mod ram;
pub mod stacks;
pub mod supervised;
mod support;
mod tls;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::future::Future;
use core::pin::Pin;

pub use belljar_host;
use belljar_host::runtime::{Exit, Limits, Runtime, TrapKind};
use belljar_host::{Access, Board, Claims, Stop, wasmtime};
use belljar_profile::Target;
pub use belljar_supervisor;
pub use belljar_update;
use embassy_futures::select::{Either, select};
use embassy_time::{Instant, Timer};
use futures_util::future::join_all;
pub use support::{
    NoScriptedChange, Press, RunLimits, console_needs_newline, guest_wrote, sample_until,
    write_lines, write_when_room,
};

/// Pulley stack per guest (bytes, heap-allocated per Store). Deep enough for
/// the example guests (their shadow stack lives in linear memory, not here);
/// a guest that recurses deeper traps with a stack overflow, the board stays up.
pub const DEFAULT_WASM_STACK: usize = 4096;

/// Native stack of each running guest's fiber (bytes, from the heap). The
/// peak use is measured ([`stacks::peak`]) and printed on the console.
pub const DEFAULT_FIBER_STACK: usize = 6 * 1024;

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
    /// What the counter counts, printed after the `counts:` line.
    pub counter_note: &'static str,
    /// Native stack of each running guest (a fiber: the Pulley interpreter
    /// and the host functions it calls run on it), bytes, from the heap.
    pub fiber_stack: usize,
    /// Stop every guest at this embassy time (ms), if set.
    pub time_limit_ms: Option<u64>,
    /// Embassy time (ms) at which the guests were handed the board.
    pub board_start_ms: u64,
    /// Keep each guest fiber's s16-s31 its own across polls (`fp`): the
    /// workaround for Wasmtime 48's ARM fiber switch. Only the FP test turns
    /// it off, to show the bug. (No effect on RISC-V: no FP registers.)
    pub fp_isolation: bool,
    /// Check s16-s31 around every guest poll and on the fiber (`fp::FpProbe`;
    /// Arm only).
    pub fp_probe: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            max_wasm_stack: DEFAULT_WASM_STACK,
            copy_artifact: false,
            counter: None,
            counter_note: "",
            fiber_stack: DEFAULT_FIBER_STACK,
            time_limit_ms: None,
            board_start_ms: 0,
            fp_isolation: true,
            fp_probe: false,
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
                ..defaults
            },
            max_wasm_stack: max_wasm_stack.unwrap_or(DEFAULT_WASM_STACK),
            ..Settings::default()
        }
    }
}

impl Settings {
    /// Board time starts now (as on the simulator, from when the guests are
    /// handed the board): the time limit is `for_ms` after it, and the
    /// firmware heartbeat task starts if `heartbeat_ms` is set.
    pub fn start_board(
        &mut self,
        for_ms: Option<u64>,
        heartbeat_ms: Option<u64>,
        spawner: embassy_executor::Spawner,
        print: PrintLine,
    ) {
        self.board_start_ms = clock::start_board_time();
        self.time_limit_ms = for_ms.map(|ms| self.board_start_ms + ms);
        if let Some(period) = heartbeat_ms {
            spawner.spawn(heartbeat(self.board_start_ms, period, print).unwrap());
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
    /// The engine could not be made or an artifact does not fit this board.
    LoadFailed,
    /// The guests ran (or failed to instantiate, as a trap).
    Ran { trapped: bool },
}

impl Outcome {
    /// The process-style status a board reports: 0 when every guest
    /// returned or the board stopped it, 1 when one trapped or could not be
    /// loaded.
    pub fn status(&self) -> u32 {
        match self {
            Outcome::Ran { trapped: false } => 0,
            Outcome::Ran { trapped: true } | Outcome::LoadFailed => 1,
        }
    }
}

/// The outcome of [`run_guest`] and what the guest did until then.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// Each app's exit, in the order given.
    pub apps: Vec<AppReport>,
    /// Board time when the guests ended (ms since they were handed the board).
    pub board_ms: u64,
    /// Host calls and fuel of the first app.
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
    pub load: u64,
    pub linker: u64,
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
            "counts: engine {}, load {}, linker {}, instantiate {}, boot {}, run {}",
            self.engine,
            self.load,
            self.linker,
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
    /// + the deserialized components (their code stays in flash).
    pub load: Option<usize>,
    /// + each app linked against the interfaces it imports.
    pub runtime: Option<usize>,
    /// + the store and instance (guest linear memory, Pulley stack).
    pub instantiate: Option<usize>,
    /// The most in use at any time, the guest's run included.
    pub peak: usize,
    /// The most in use while the guests ran (after their instantiation):
    /// minus `instantiate`, what their host calls allocate at once.
    pub run_peak: Option<usize>,
}

impl fmt::Display for HeapUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("heap in use after")?;
        let steps = [
            ("engine", self.engine),
            ("load", self.load),
            ("linker", self.runtime),
            ("instantiate", self.instantiate),
        ];
        for (step, bytes) in steps {
            if let Some(bytes) = bytes {
                write!(f, " {step} {bytes} B,")?;
            }
        }
        write!(f, " peak {} B", self.peak)?;
        if let Some(run) = self.run_peak {
            write!(f, ", while running {run} B")?;
        }
        Ok(())
    }
}

/// One app the firmware runs: a pulley32 component built by `belljar build`.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    pub name: &'static str,
    pub cwasm: &'static [u8],
}

/// Loads each guest, instantiates it on its own board view (own Store,
/// linear memory and fuel) and runs their `run` exports concurrently on the
/// embassy executor, beside the firmware's other tasks: a guest that waits
/// lets the others run, and one that computes yields every
/// `limits.yield_fuel`. Prints how each ended on `console` and never panics
/// on a bad artifact: a load error is printed and reported.
///
/// The first guest's boot steps are counted ([`Report::counts`]); with
/// several guests the later ones' load and instantiation are added to those
/// steps.
///
/// The `.cwasm`s must be trusted (see `Runtime::load`): boards embed them at
/// build time. Each must be distinct bytes (Wasmtime registers code by
/// address).
pub async fn run_guests<B: Board>(
    guests: &[Guest],
    mut board: impl FnMut(usize) -> B,
    console: &mut impl Write,
    settings: impl Into<Settings>,
) -> Report {
    let settings = settings.into();
    let mut report = Report {
        outcome: Outcome::LoadFailed,
        apps: Vec::new(),
        board_ms: 0,
        host_calls: 0,
        fuel: 0,
        heap: HeapUse::default(),
        counts: None,
    };
    let mut counts = Counts::default();
    let mut meter = Meter::new(settings.counter);
    let in_use = || Some(heap::stats().in_use);
    let engine = match engine(&settings) {
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
            let _ = writeln!(console, "error: cannot create the runtime: {e}");
            return report.with_peak();
        }
    };
    let mut components = Vec::new();
    for guest in guests {
        // SAFETY: the artifacts are embedded in the firmware at build time
        // from `belljar build` outputs; each is loaded once.
        let loaded = unsafe {
            if settings.copy_artifact {
                runtime.deserialize_copied(guest.cwasm)
            } else {
                runtime.deserialize(guest.cwasm)
            }
        };
        match loaded {
            Ok(component) => components.push(component),
            Err(e) => {
                let _ = writeln!(console, "error: cannot load {}: {e}", guest.name);
                return report.with_peak();
            }
        }
    }
    counts.load = meter.lap();
    report.heap.load = in_use();
    let mut apps = Vec::new();
    for (guest, component) in guests.iter().zip(components) {
        match runtime.prepare(component) {
            Ok(app) => apps.push(app),
            Err(e) => {
                let _ = writeln!(console, "error: cannot link {}: {e}", guest.name);
                return report.with_peak();
            }
        }
    }
    counts.linker = meter.lap();
    report.heap.runtime = in_use();
    // Guests run on fiber stacks in the heap, below the main stack region
    // that MSPLIM guards (cortex-m-rt's `set-msplim`): each fiber runs with
    // the limit at its own stack's bottom, the main stack with its own
    // (`stacks::Guarded`).
    stacks::guard_fibers();
    let claims = Claims::new(guests.iter().map(|g| g.name));
    let mut running = Vec::new();
    for (i, (guest, app)) in guests.iter().zip(&apps).enumerate() {
        let access = Access::all().shared(claims.clone(), claims.app(i));
        stacks::set_current_app(Some(guest.name));
        let instantiated = app.instantiate(board(i), access, settings.limits).await;
        stacks::set_current_app(None);
        match instantiated {
            // The fiber stack it was instantiated on is the one it runs on.
            Ok(r) => running.push((i, r, stacks::last_bottom())),
            Err(exit) => report.apps.push(AppReport::new(guest.name, exit)),
        }
    }
    counts.instantiate = meter.lap();
    report.heap.instantiate = in_use();
    heap::start_window();
    ram::guard_main_stack();
    let limit = settings.time_limit_ms;
    let runs = running.iter_mut().map(|(i, r, bottom)| {
        let name = guests[*i].name;
        let bottom = *bottom;
        async move {
            let run = r.run();
            #[cfg(target_arch = "arm")]
            let run: Pin<Box<dyn Future<Output = Exit> + Send + '_>> =
                match (settings.fp_isolation, settings.fp_probe) {
                    (true, true) => Box::pin(fp::FpProbe::new(fp::FpIsolated::new(run))),
                    (true, false) => Box::pin(fp::FpIsolated::new(run)),
                    (false, true) => Box::pin(fp::FpProbe::new(run)),
                    (false, false) => Box::pin(run),
                };
            // No FP registers to isolate (see `fp`).
            #[cfg(not(target_arch = "arm"))]
            let run: Pin<Box<dyn Future<Output = Exit> + Send + '_>> = Box::pin(run);
            let run = stacks::Guarded::new(name, bottom, run);
            let exit = match limit {
                None => run.await,
                Some(ms) => match select(run, Timer::at(Instant::from_millis(ms))).await {
                    Either::First(exit) => exit,
                    Either::Second(()) => Exit::Stopped(Stop::TimeLimit {
                        ms: ms - settings.board_start_ms,
                    }),
                },
            };
            let mut app = AppReport::new(name, exit);
            app.host_calls = r.store().data().host_calls;
            app.fuel = r.fuel_used();
            app
        }
    });
    let exits = join_all(runs).await;
    #[cfg(target_arch = "arm")]
    if settings.fp_probe {
        let _ = writeln!(console, "{}", fp::ProbeLine);
    }
    counts.run = meter.lap();
    if settings.counter.is_some() {
        report.counts = Some(counts);
    }
    if let Some((_, first, _)) = running.first_mut() {
        report.board_ms = first.board_mut().now_ms();
    }
    report.apps.extend(exits);
    if let Some(first) = report.apps.first() {
        report.host_calls = first.host_calls;
        report.fuel = first.fuel;
    }
    let several = guests.len() > 1;
    for app in &report.apps {
        print_outcome(console, app, several, report.board_ms);
    }
    report.outcome = Outcome::Ran {
        trapped: report
            .apps
            .iter()
            .any(|a| matches!(a.exit, Exit::Trapped(_))),
    };
    report.with_peak()
}

/// How one app ended.
#[derive(Debug)]
pub struct AppReport {
    pub name: &'static str,
    pub exit: Exit,
    pub host_calls: u64,
    pub fuel: u64,
}

impl AppReport {
    fn new(name: &'static str, exit: Exit) -> Self {
        AppReport {
            name,
            exit,
            host_calls: 0,
            fuel: 0,
        }
    }
}

impl Report {
    fn with_peak(mut self) -> Self {
        self.heap.peak = heap::stats().peak;
        if self.heap.instantiate.is_some() {
            self.heap.run_peak = Some(heap::stats().window_peak);
        }
        self
    }
}

/// The belljar profile's engine, with this board's Pulley and fiber stack
/// sizes (runtime-only settings: artifacts load the same).
fn engine(settings: &Settings) -> wasmtime::Result<wasmtime::Engine> {
    let mut config = belljar_profile::config(Target::Pulley32)?;
    config.max_wasm_stack(settings.max_wasm_stack);
    config.async_stack_size(settings.fiber_stack);
    config.with_host_stack(alloc::sync::Arc::new(stacks::PaintedStacks));
    wasmtime::Engine::new(&config)
}

/// `error: guest trapped: ...` (with the guest backtrace) or `stopped: ...`,
/// then what the guest did, as the simulator says it; prefixed with the
/// app's name when several run.
fn print_outcome(console: &mut impl Write, app: &AppReport, several: bool, board_ms: u64) {
    let who = Who(several.then_some(app.name));
    let summary = format_args!(
        "{board_ms} board ms, {} host calls, {} fuel",
        app.host_calls, app.fuel
    );
    let _ = match &app.exit {
        Exit::Trapped(trap) => writeln!(
            console,
            "{who}error: {trap}\n{who}trap kind: {}\n{who}after {summary}; the board is unaffected",
            kind_name(&trap.kind)
        ),
        exit => writeln!(console, "{who}{exit} after {summary}"),
    };
    let heap = heap::stats();
    if matches!(&app.exit, Exit::Trapped(t) if t.kind == TrapKind::Host) && heap.failures > 0 {
        // What it takes: at least the failed request on top of what was in
        // use, rounded up to whole KiB with 4 KiB to spare.
        let needed = (heap.in_use + heap.largest_failure + 4096).div_ceil(1024) * 1024;
        let _ = writeln!(
            console,
            "{who}the heap is full: it has {} bytes and a {}-byte request failed; \
             build the firmware with BELLJAR_HEAP={} or more (and BELLJAR_RAM to match)",
            heap.size,
            heap.largest_failure,
            needed.max(heap.size + 4096)
        );
    }
}

/// `name: ` when several apps share the console.
struct Who(Option<&'static str>);

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, "{name}: "),
            None => Ok(()),
        }
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
/// bytes)[, <guest> (<n> bytes)...], heap .., RAM ..<extra>`, or `belljar
/// <board>: supervisor, heap ...` when `guests` is `None`: supervisor mode);
/// when no guest was embedded it also says how to embed one and returns
/// `false`.
pub fn announce(
    console: &mut impl Write,
    board: &str,
    guests: Option<&[Guest]>,
    heap_size: usize,
    extra: impl fmt::Display,
) -> bool {
    let _ = write!(console, "belljar {board}: ");
    let Some(guests) = guests else {
        let _ = writeln!(
            console,
            "supervisor, heap {heap_size} bytes, RAM {} bytes{extra}",
            ram::total()
        );
        return true;
    };
    if guests.is_empty() {
        let _ = write!(console, "no guest (0 bytes)");
    }
    for (i, guest) in guests.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(console, "{sep}{} ({} bytes)", guest.name, guest.cwasm.len());
    }
    let _ = writeln!(
        console,
        ", heap {heap_size} bytes, RAM {} bytes{extra}",
        ram::total(),
    );
    if guests.is_empty() {
        let _ = writeln!(
            console,
            "error: no guest embedded: build the firmware with \
             BELLJAR_GUEST=<path of a .pulley32.cwasm>"
        );
        return false;
    }
    true
}

/// Runs the guests embedded at build time side by side, each on its own
/// [`board::DeviceBoard`] over a fresh `hardware()` view (named after the
/// guest when there are several), prints what they kept of the heap and,
/// with a board counter, what each boot step cost; returns the exit status
/// ([`Outcome::status`]).
pub async fn run_embedded<H: board::Hardware>(
    guests: &'static [Guest],
    mut hardware: impl FnMut() -> H,
    console: &mut impl Write,
    run: Settings,
) -> u32 {
    let several = guests.len() > 1;
    let report = run_guests(
        guests,
        |i| board::DeviceBoard::new(several.then_some(guests[i].name), hardware()),
        console,
        run,
    )
    .await;
    let _ = writeln!(console, "{}", report.heap);
    if let Some(counts) = report.counts {
        let _ = writeln!(console, "{counts}{}", run.counter_note);
    }
    report.outcome.status()
}

/// The firmware's last lines: the memory figures and the exit status (the
/// board then ends QEMU or idles).
pub fn print_end(console: &mut impl Write, status: u32) {
    let _ = writeln!(console, "{}", ram::MemoryLine);
    let _ = writeln!(console, "belljar: exit status {status}");
}

/// Prints a line on a board's console.
pub type PrintLine = for<'a> fn(&'a dyn fmt::Display);

/// A firmware task beside the guests: every `period_ms` of board time
/// (counted from `start_ms` of embassy time) it prints
/// `[   1.000 s] firmware: heartbeat 1 (+1234 ns)` with `print`, where the
/// lateness is how far after its tick the beat ran by the board's fine clock
/// ([`clock::now_ns`]; the measure of how well the firmware keeps its own duties
/// while guests run).
#[embassy_executor::task]
pub async fn heartbeat(start_ms: u64, period_ms: u64, print: PrintLine) {
    let mut at_ms = period_ms;
    for n in 1.. {
        let due_ms = start_ms + at_ms;
        Timer::at(Instant::from_millis(due_ms)).await;
        let late_ns = clock::now_ns().saturating_sub(due_ms * 1_000_000);
        print(&belljar_host::TimelineLine {
            at_ms,
            source: Some("firmware"),
            event: format_args!("heartbeat {n} (+{late_ns} ns)"),
        });
        at_ms += period_ms;
    }
}

/// Supervisor mode: the device runs whatever verified app its flash slots
/// hold, under [`belljar_supervisor::Supervisor`] (restart with backoff,
/// trial and rollback, the update agent on `platform`'s update link).
/// `initial` (a signed package, may be empty) is installed at first boot.
///
/// The slots live in `flash` (a NOR flash of `sectors` 4 KiB sectors: 2
/// for the boot state, the rest split between slot A and slot B).
pub async fn supervise<P, F>(
    platform: P,
    flash: F,
    key: [u8; 32],
    initial: &[u8],
    settings: &Settings,
    console: &mut impl Write,
) where
    P: belljar_supervisor::Platform,
    F: embedded_storage::nor_flash::NorFlash + belljar_update::MappedFlash,
{
    use belljar_package::ed25519_dalek::VerifyingKey;
    use belljar_update::{Config, Slots};

    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        let _ = writeln!(
            console,
            "error: the built-in public key is not a valid Ed25519 key"
        );
        return;
    };
    let sectors = (flash.capacity() / F::ERASE_SIZE) as u32;
    let config = Config {
        base: 0,
        state_sectors: 2,
        slot_sectors: (sectors - 2) / 2,
        max_boot_attempts: 3,
    };
    let mut slots = match Slots::open_mapped(flash, config) {
        Ok(slots) => slots,
        Err(e) => {
            let _ = writeln!(console, "error: cannot open the app slots: {e:?}");
            return;
        }
    };
    let supervisor_settings = belljar_supervisor::Settings {
        limits: settings.limits,
        max_len: slots.slot_size() as usize,
        ..Default::default()
    };
    if slots.active().is_none() && !initial.is_empty() {
        let policy = belljar_package::Policy {
            key: &key,
            target: Target::Pulley32,
            installed: None,
            allow_downgrade: false,
            max_len: supervisor_settings.max_len,
        };
        match belljar_supervisor::install_factory(&mut slots, initial, &policy) {
            Ok(header) => {
                let _ = writeln!(
                    console,
                    "supervisor: factory app {} v{} installed",
                    header.app, header.version
                );
            }
            Err(e) => {
                let _ = writeln!(console, "error: the factory app was refused: {e:?}");
            }
        }
    }
    let engine = match engine(settings) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = writeln!(console, "error: cannot create the engine: {e}");
            return;
        }
    };
    let runtime = match Runtime::with_engine(engine) {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(console, "error: cannot link the board interfaces: {e}");
            return;
        }
    };
    ram::lower_stack_limit();
    let supervisor =
        belljar_supervisor::Supervisor::new(platform, runtime, slots, &key, supervisor_settings);
    // The guests' fibers are polled inside the supervisor: isolate the FP
    // registers around every poll of it (see [`fp`]).
    #[cfg(target_arch = "arm")]
    if settings.fp_isolation {
        fp::FpIsolated::new(supervisor.run()).await;
    } else {
        supervisor.run().await;
    }
    #[cfg(not(target_arch = "arm"))]
    supervisor.run().await;
}
