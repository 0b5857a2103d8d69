//! The loader and runner every belljar runtime uses (simulator and boards):
//! engine from the one profile, artifact checks, `deserialize_raw`, import
//! checks, fuel watchdog, and a classified [`Exit`].

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use belljar_profile::Target;
use core::marker::PhantomData;
use wasmtime::component::{Component, Func, Instance, InstancePre, Linker, Val};
use wasmtime::{CallHook, Engine, Store, Trap, WasmBacktrace};

use crate::access::Access;
use crate::artifact::{self, Kind};
use crate::board::{Board, Fault, Stop};
use crate::platform::{self, Host};

/// How much a guest may compute, and how often it yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly: wasm instructions) a guest may burn between two host
    /// calls before it is stopped as a runaway loop (less up to two
    /// `yield_fuel`: see [`Meter`]).
    pub watchdog_fuel: u64,
    /// Fuel for the whole run, if limited.
    pub total_fuel: Option<u64>,
    /// A guest that computes without waiting yields to the executor after
    /// this much fuel, so other apps and firmware tasks run.
    pub yield_fuel: u64,
    /// What one app's instances may hold, enforced by Wasmtime for every
    /// board and the simulator alike.
    pub resources: AppResources,
}

/// The most one app may hold. Past a limit WebAssembly's own failure is
/// what the app sees (`memory.grow` and `table.grow` return -1); an app
/// that needs more to start fails to instantiate with an error naming the
/// limit. The host, the other apps and the update agent carry on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppResources {
    /// Bytes of linear memory, each memory.
    pub memory: usize,
    /// Elements, each table.
    pub table_elements: usize,
    /// Core instances (a component made by `belljar build` has a few).
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
}

impl AppResources {
    /// 64 KiB of linear memory (belljar apps have 6-16 KiB), 1024 table
    /// elements, 16 core instances, tables and memories.
    pub const DEFAULT: AppResources = AppResources {
        memory: 64 * 1024,
        table_elements: 1024,
        instances: 16,
        tables: 16,
        memories: 16,
    };
}

impl Default for AppResources {
    fn default() -> Self {
        AppResources::DEFAULT
    }
}

/// Which limit stopped an app's growth, for the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Memory {
        desired: usize,
        limit: usize,
    },
    Table {
        desired: usize,
        limit: usize,
    },
    /// The shared heap could not give the growth and keep
    /// [`HEAP_RESERVE`] for the host and the other apps.
    Heap {
        growth: usize,
        free: usize,
    },
}

/// Bytes of the shared heap no app's growth may take: the host, the update
/// agent and the other apps' next allocations live there.
pub const HEAP_RESERVE: usize = 8 * 1024;

/// The board's free heap, if it has one to share (0: no hook).
static FREE_HEAP: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// A board whose apps share one fixed heap (every firmware) tells the host
/// how much of it is free: an app's memory or table growth that would leave
/// less than [`HEAP_RESERVE`] is refused the WebAssembly way (-1), so one
/// app cannot take the heap the others and the host need.
pub fn share_heap(free: fn() -> usize) {
    FREE_HEAP.store(free as usize, core::sync::atomic::Ordering::Relaxed);
}

/// Whether the shared heap can give `growth` more bytes; `Err(free)` if not.
fn heap_allows(growth: usize) -> Result<(), usize> {
    let hook = FREE_HEAP.load(core::sync::atomic::Ordering::Relaxed);
    if hook == 0 {
        return Ok(());
    }
    // SAFETY: only `share_heap` stores it, from a `fn() -> usize`.
    let free: fn() -> usize = unsafe { core::mem::transmute(hook) };
    let free = free();
    if growth.saturating_add(HEAP_RESERVE) <= free {
        Ok(())
    } else {
        Err(free)
    }
}

/// [`AppResources`] as Wasmtime's resource limiter, kept in the store.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    resources: AppResources,
    /// The last growth refused.
    pub(crate) hit: Option<LimitHit>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.resources.memory;
        if desired > limit {
            self.hit = Some(LimitHit::Memory { desired, limit });
            return Ok(false);
        }
        let growth = desired.saturating_sub(current);
        if let Err(free) = heap_allows(growth) {
            self.hit = Some(LimitHit::Heap { growth, free });
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.resources.table_elements;
        let ok = desired <= limit;
        if !ok {
            self.hit = Some(LimitHit::Table { desired, limit });
        }
        Ok(ok)
    }

    fn instances(&self) -> usize {
        self.resources.instances
    }

    fn tables(&self) -> usize {
        self.resources.tables
    }

    fn memories(&self) -> usize {
        self.resources.memories
    }
}

/// Fuel between two yields of a computing guest by default: about 0.15 M
/// instructions on a Cortex-M33 (1 ms at 150 MHz).
pub const DEFAULT_YIELD_FUEL: u64 = 10_000;

impl Limits {
    /// These limits with each linear memory capped at the `asked` bytes an
    /// app declares (its signed package's or its crate's `memory`) when
    /// that is less: an app never gets more than its budget, nor more than
    /// the device allows.
    pub fn memory_at_most(mut self, asked: Option<usize>) -> Limits {
        if let Some(asked) = asked {
            self.resources.memory = self.resources.memory.min(asked);
        }
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            watchdog_fuel: 20_000_000,
            total_fuel: None,
            yield_fuel: DEFAULT_YIELD_FUEL,
            resources: AppResources::DEFAULT,
        }
    }
}

/// Why a `.cwasm` cannot run on this runtime.
#[derive(Debug)]
pub enum LoadError {
    NotAnArtifact(artifact::NotAnArtifact),
    NotAComponent,
    NativeCode {
        triple: String,
    },
    WrongTarget {
        found: Target,
        expected: Target,
    },
    WrongWasmtime {
        found: String,
    },
    /// Same target and version, but the engine settings differ.
    WrongProfile(wasmtime::Error),
    /// The app imports something this board does not provide.
    MissingImport {
        name: String,
    },
    /// The app imports a board interface with other signatures.
    ImportMismatch(wasmtime::Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = Target::host();
        match self {
            LoadError::NotAnArtifact(e) => write!(f, "{e}; build one with `belljar build`"),
            LoadError::NotAComponent => f.write_str(
                "this .cwasm holds a core module, not a component; build the app with `belljar build`",
            ),
            LoadError::NativeCode { triple } => write!(
                f,
                "this .cwasm holds native code for {triple}, not Pulley bytecode; \
                 rebuild it with `belljar build --target {host}`"
            ),
            LoadError::WrongTarget { found, expected } => write!(
                f,
                "this .cwasm is {found} bytecode but this runtime executes {expected}; \
                 rebuild it with `belljar build --target {expected}`"
            ),
            LoadError::WrongWasmtime { found } => write!(
                f,
                "this .cwasm was made by Wasmtime {found} but this runtime is Wasmtime {}; \
                 rebuild it with this version of `belljar build`",
                belljar_profile::WASMTIME_VERSION
            ),
            LoadError::WrongProfile(e) => write!(
                f,
                "this .cwasm was compiled with another engine profile ({e}); \
                 rebuild it with this version of `belljar build`"
            ),
            LoadError::MissingImport { name } => write!(
                f,
                "the app imports `{name}`, which this board does not provide \
                 (it provides: {})",
                platform::INTERFACES.join(", ")
            ),
            LoadError::ImportMismatch(e) => {
                write!(f, "the app's imports do not match this board's interfaces: {e:#}")
            }
        }
    }
}

impl core::error::Error for LoadError {}

/// Refuses artifacts this runtime cannot run, with a message that says how
/// to rebuild them, before Wasmtime sees them.
fn check_header(cwasm: &[u8]) -> Result<(), LoadError> {
    let header = artifact::header(cwasm).map_err(LoadError::NotAnArtifact)?;
    if header.kind != Kind::Component {
        return Err(LoadError::NotAComponent);
    }
    let expected = Target::host();
    match header.target {
        None => {
            return Err(LoadError::NativeCode {
                triple: header.triple.to_string(),
            });
        }
        Some(found) if found != expected => {
            return Err(LoadError::WrongTarget { found, expected });
        }
        Some(_) => {}
    }
    if header.wasmtime_version != belljar_profile::ARTIFACT_VERSION {
        return Err(LoadError::WrongWasmtime {
            found: header.wasmtime_version.to_string(),
        });
    }
    Ok(())
}

/// An engine for boards of type `B`; each app is linked against the board
/// interfaces it imports.
pub struct Runtime<B: 'static> {
    engine: Engine,
    board: PhantomData<fn() -> B>,
}

impl<B: Board + 'static> Runtime<B> {
    /// A runtime for this host's Pulley flavour with the belljar profile.
    pub fn new() -> wasmtime::Result<Self> {
        Self::with_engine(belljar_profile::engine(Target::host())?)
    }

    /// A runtime on an engine made from the belljar profile (a board may
    /// lower runtime-only limits such as `max_wasm_stack` first).
    pub fn with_engine(engine: Engine) -> wasmtime::Result<Self> {
        Ok(Runtime {
            engine,
            board: PhantomData,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Checks a `.cwasm`'s header against this runtime and deserializes it in
    /// place (no copy), then links it ([`Runtime::prepare`]).
    ///
    /// # Safety
    /// As for [`Runtime::deserialize`].
    pub unsafe fn load(&self, cwasm: &'static [u8]) -> Result<App<B>, LoadError> {
        // SAFETY: the caller vouches for the bytes.
        self.prepare(unsafe { self.deserialize(cwasm) }?)
    }

    /// Checks a `.cwasm`'s header against this runtime and deserializes it in
    /// place: its code stays where it is (flash on a board).
    ///
    /// # Safety
    /// `cwasm` must be a trusted artifact: Wasmtime does not validate
    /// precompiled code, and deserializing crafted bytes can run arbitrary code.
    /// Only artifacts built by `belljar build` or signature-verified packages
    /// may reach this. The same bytes must not be loaded again while a
    /// component from an earlier load of them is alive (Wasmtime registers
    /// code by address, process-wide): load once, instantiate many times.
    pub unsafe fn deserialize(&self, cwasm: &'static [u8]) -> Result<Component, LoadError> {
        check_header(cwasm)?;
        // SAFETY: the caller vouches for the bytes; they live for 'static and
        // are never modified.
        unsafe { Component::deserialize_raw(&self.engine, NonNull::from(cwasm)) }
            .map_err(LoadError::WrongProfile)
    }

    /// [`Runtime::load`] of bytes that are not `'static` but stay put: a
    /// package in a memory-mapped flash slot, or in a RAM buffer that
    /// outlives the app. Deserialized in place (`deserialize_raw`, no copy).
    ///
    /// # Safety
    /// As for [`Runtime::deserialize`], and `cwasm` must stay at this
    /// address, unchanged, until the returned [`App`] and everything
    /// instantiated from it are dropped (Wasmtime keeps using the bytes: on
    /// Pulley they are the bytecode it interprets).
    pub unsafe fn load_in_place(&self, cwasm: &[u8]) -> Result<App<B>, LoadError> {
        check_header(cwasm)?;
        // SAFETY: the caller vouches for the bytes and for their lifetime.
        let component = unsafe { Component::deserialize_raw(&self.engine, NonNull::from(cwasm)) }
            .map_err(LoadError::WrongProfile)?;
        self.prepare(component)
    }

    /// Like [`Runtime::load`] but copies the artifact into the heap
    /// (`Component::deserialize`): for artifacts that do not stay in place,
    /// and as the baseline the footprint benchmark compares against.
    ///
    /// # Safety
    /// As for [`Runtime::deserialize`]: `cwasm` must be a trusted artifact.
    pub unsafe fn load_copied(&self, cwasm: &[u8]) -> Result<App<B>, LoadError> {
        // SAFETY: the caller vouches for the bytes.
        self.prepare(unsafe { self.deserialize_copied(cwasm) }?)
    }

    /// [`Runtime::deserialize`] from a heap copy of `cwasm`.
    ///
    /// # Safety
    /// As for [`Runtime::deserialize`].
    pub unsafe fn deserialize_copied(&self, cwasm: &[u8]) -> Result<Component, LoadError> {
        check_header(cwasm)?;
        // SAFETY: the caller vouches for the bytes.
        unsafe { Component::deserialize(&self.engine, cwasm) }.map_err(LoadError::WrongProfile)
    }

    /// Checks a component's imports and pre-instantiates it, linking only
    /// the interfaces it imports (the linker is dropped once resolved).
    pub fn prepare(&self, component: Component) -> Result<App<B>, LoadError> {
        let mut linker = Linker::new(&self.engine);
        for (name, _) in component.component_type().imports(&self.engine) {
            let linked =
                platform::add_interface(&mut linker, name).map_err(LoadError::ImportMismatch)?;
            if !linked {
                return Err(LoadError::MissingImport {
                    name: name.to_string(),
                });
            }
        }
        let pre = linker
            .instantiate_pre(&component)
            .map_err(LoadError::ImportMismatch)?;
        Ok(App { pre })
    }
}

/// A loaded app, ready to be instantiated on a board (any number of times).
pub struct App<B: 'static> {
    pre: InstancePre<Host<B>>,
}

impl<B: Board + 'static> App<B> {
    pub fn component(&self) -> &Component {
        self.pre.component()
    }

    /// Instantiates the app on `board` with fresh linear memory; `access`
    /// says which pins and interfaces it may use.
    pub async fn instantiate(
        &self,
        board: B,
        access: Access,
        limits: Limits,
    ) -> Result<Running<B>, Exit> {
        // `try_new`: a full heap is an error for this app, not a panic.
        let mut store = match Store::try_new(self.pre.engine(), Host::new(board, access)) {
            Ok(store) => store,
            Err(e) => return Err(Exit::Trapped(Trapped::host(&format!("{e}")))),
        };
        store.data_mut().meter = Meter::new(limits);
        store.data_mut().limiter = Limiter {
            resources: limits.resources,
            hit: None,
        };
        store.limiter(|host| &mut host.limiter);
        let first = store.data().meter.granted;
        store.set_fuel(first).map_err(|e| classify(&store, e))?;
        store
            .fuel_async_yield_interval(Some(limits.yield_fuel.max(1)))
            .map_err(|e| classify(&store, e))?;
        store.call_hook(refill_on_host_call);
        let instance = match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => return Err(classify(&store, e)),
        };
        Ok(Running { store, instance })
    }
}

/// Fuel accounting kept in the store. The watchdog grant is renewed at a
/// real host call (not at libcalls such as `memory.grow`) once two yield
/// slices of it have been burnt: Wasmtime's `set_fuel` starts a new yield
/// slice, so renewing at every call would let a guest that loops on calls
/// that do not wait (`gpio.set-high`, `clock.now-ms`) run forever without
/// yielding, starving every other app and firmware task. Two slices, not
/// one: a slice ends at the first fuel check after it is used up, which may
/// come after the call. So such a guest yields at least every two slices,
/// and a guest is stopped after burning between `watchdog_fuel - 2 *
/// yield_fuel` and `watchdog_fuel` since its last host call (the trap says
/// how much exactly).
#[derive(Clone, Copy, Debug, Default)]
pub struct Meter {
    limits: Option<Limits>,
    /// Fuel granted at the last refill.
    granted: u64,
    /// Fuel burnt before the last refill.
    used: u64,
    /// `host_calls` at the last host call seen.
    calls_seen: u64,
    /// Fuel left when the guest returned from its last host call (or
    /// started): what it burns until a watchdog stop.
    left_at_call: u64,
}

impl Meter {
    fn new(limits: Limits) -> Self {
        let mut m = Meter {
            limits: Some(limits),
            ..Meter::default()
        };
        m.granted = m.next_grant();
        m.left_at_call = m.granted;
        m
    }

    /// Whether to renew the grant, `left` of it unburnt: once two yield
    /// slices have been burnt since the last renewal (so the guest has
    /// yielded since), or at every call if the grant is no longer than that
    /// (such a guest cannot yield on fuel before the watchdog stops it).
    fn renews(&self, left: u64) -> bool {
        let slices = self.limits.unwrap_or_default().yield_fuel.max(1) * 2;
        self.granted <= slices || self.granted - left >= slices
    }

    fn next_grant(&self) -> u64 {
        let limits = self.limits.unwrap_or_default();
        match limits.total_fuel {
            Some(total) => limits.watchdog_fuel.min(total.saturating_sub(self.used)),
            None => limits.watchdog_fuel,
        }
    }

    fn total_exhausted(&self) -> bool {
        let limits = self.limits.unwrap_or_default();
        matches!(limits.total_fuel, Some(total) if self.used + self.granted >= total)
    }
}

fn refill_on_host_call<B>(
    mut cx: wasmtime::StoreContextMut<'_, Host<B>>,
    hook: CallHook,
) -> wasmtime::Result<()> {
    if let CallHook::ReturningFromHost = hook {
        let calls = cx.data().host_calls;
        if calls != cx.data().meter.calls_seen {
            let left = cx.get_fuel()?;
            let meter = &mut cx.data_mut().meter;
            meter.calls_seen = calls;
            meter.left_at_call = left;
            if meter.renews(left) {
                meter.used += meter.granted - left;
                meter.granted = meter.next_grant();
                meter.left_at_call = meter.granted;
                let grant = meter.granted;
                cx.set_fuel(grant)?;
            }
        }
    }
    Ok(())
}

/// An instantiated app.
pub struct Running<B: 'static> {
    store: Store<Host<B>>,
    instance: Instance,
}

impl<B: Board + 'static> Running<B> {
    /// Calls the app's `run: func()` export until it returns, traps, runs out
    /// of fuel or the board stops it. While the guest waits (a delay, a UART
    /// byte) and every `yield_fuel` of computing, the future is pending and
    /// the executor runs other tasks. Dropping the future stops the guest.
    pub async fn run(&mut self) -> Exit {
        let Some(func) = self.instance.get_func(&mut self.store, "run") else {
            return Exit::Trapped(Trapped::host(
                "the app exports no `run` function; is it a library component? use `belljar call`",
            ));
        };
        let mut results = [];
        match func.call_async(&mut self.store, &[], &mut results).await {
            Ok(()) => Exit::Returned,
            Err(e) => classify(&self.store, e),
        }
    }

    /// An exported function by name, e.g. for `belljar call`.
    pub fn func(&mut self, name: &str) -> Option<Func> {
        self.instance.get_func(&mut self.store, name)
    }

    /// Calls an export with dynamically typed values.
    pub async fn call(
        &mut self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Exit> {
        match func.call_async(&mut self.store, params, results).await {
            Ok(()) => Ok(()),
            Err(e) => Err(classify(&self.store, e)),
        }
    }

    pub fn store(&self) -> &Store<Host<B>> {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store<Host<B>> {
        &mut self.store
    }

    pub fn board(&self) -> &B {
        &self.store.data().board
    }

    pub fn board_mut(&mut self) -> &mut B {
        &mut self.store.data_mut().board
    }

    /// Fuel burnt so far.
    pub fn fuel_used(&self) -> u64 {
        let meter = self.store.data().meter;
        meter.used + meter.granted - self.store.get_fuel().unwrap_or(0)
    }
}

/// How a guest's execution ended.
#[derive(Debug)]
pub enum Exit {
    /// `run` returned.
    Returned,
    /// The board ended it (time limit, input exhausted).
    Stopped(Stop),
    /// The guest failed; the host is unaffected.
    Trapped(Trapped),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Returned => f.write_str("the app returned"),
            Exit::Stopped(stop) => write!(f, "stopped: {stop}"),
            Exit::Trapped(t) => t.fmt(f),
        }
    }
}

/// What kind of failure stopped a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// A WebAssembly trap (unreachable, out of bounds, divide by zero, stack
    /// overflow...).
    Wasm(Trap),
    /// The guest asked the board for something it refuses (no such pin...).
    Fault(Fault),
    /// The guest computed `watchdog_fuel` without a host call.
    Runaway { fuel: u64 },
    /// The run's total fuel is spent.
    OutOfFuel { fuel: u64 },
    /// An error in the host or the runtime (e.g. out of memory).
    Host,
}

/// A guest failure, with the guest's backtrace when there is one.
#[derive(Debug)]
pub struct Trapped {
    pub kind: TrapKind,
    pub message: String,
    /// Innermost frame first: `module!function`.
    pub backtrace: Vec<String>,
}

impl Trapped {
    fn host(message: &str) -> Self {
        Trapped {
            kind: TrapKind::Host,
            message: message.to_string(),
            backtrace: Vec::new(),
        }
    }
}

impl fmt::Display for Trapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TrapKind::Host => f.write_str(&self.message)?,
            _ => write!(f, "guest trapped: {}", self.message)?,
        }
        if !self.backtrace.is_empty() {
            f.write_str("\nguest backtrace:")?;
            // Deep recursion repeats one frame thousands of times: fold runs.
            let mut i = 0;
            while i < self.backtrace.len() {
                let frame = &self.backtrace[i];
                let run = self.backtrace[i..]
                    .iter()
                    .take_while(|f| *f == frame)
                    .count();
                write!(f, "\n  {i:>2}: {}", Demangled(frame))?;
                if run > 1 {
                    write!(f, "  (x{run}, frames {i}..={})", i + run - 1)?;
                }
                i += run;
            }
        }
        Ok(())
    }
}

fn classify<B>(store: &Store<Host<B>>, error: wasmtime::Error) -> Exit {
    if let Some(stop) = error.downcast_ref::<Stop>() {
        return Exit::Stopped(stop.clone());
    }
    let backtrace = error
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .map(|frame| {
                    let module = frame.module().name().unwrap_or("<module>");
                    match frame.func_name() {
                        Some(name) => format!("{module}!{name}"),
                        None => format!("{module}!<wasm function {}>", frame.func_index()),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let (kind, message) = if let Some(fault) = error.downcast_ref::<Fault>() {
        (TrapKind::Fault(fault.clone()), fault.to_string())
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        let meter = store.data().meter;
        match trap {
            Trap::OutOfFuel if meter.total_exhausted() => {
                let fuel = meter.limits.unwrap_or_default().total_fuel.unwrap_or(0);
                (
                    TrapKind::OutOfFuel { fuel },
                    format!("fuel budget of {fuel} exhausted"),
                )
            }
            Trap::OutOfFuel => {
                let fuel = meter.left_at_call;
                (
                    TrapKind::Runaway { fuel },
                    format!(
                        "runaway guest: it burnt {fuel} fuel without calling the host \
                         (an endless loop?) and was stopped by the watchdog"
                    ),
                )
            }
            trap => (TrapKind::Wasm(*trap), trap.to_string()),
        }
    } else if let Some(hit) = store.data().limiter.hit {
        let message = match hit {
            LimitHit::Memory { desired, limit } => format!(
                "the app asks for {desired} bytes of linear memory; an app may have {limit} \
                 on this board (Limits::resources.memory); give it less memory \
                 (`[package.metadata.belljar] memory`)"
            ),
            LimitHit::Table { desired, limit } => format!(
                "the app asks for a table of {desired} elements; an app may have {limit} \
                 on this board (Limits::resources.table_elements)"
            ),
            LimitHit::Heap { growth, free } => format!(
                "the app asks for {growth} more bytes of memory but the board's heap has \
                 {free} free, of which {HEAP_RESERVE} stay for the host and the other apps; \
                 give the firmware a larger heap (BELLJAR_HEAP) or the app less memory"
            ),
        };
        (TrapKind::Host, message)
    } else {
        (TrapKind::Host, format!("{error:#}"))
    };
    Exit::Trapped(Trapped {
        kind,
        message,
        backtrace,
    })
}

/// `module!symbol`, with the Rust symbol demangled when the `demangle`
/// feature is on.
struct Demangled<'a>(&'a str);

impl fmt::Display for Demangled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "demangle")]
        if let Some((module, symbol)) = self.0.split_once('!') {
            return write!(f, "{module}!{:#}", rustc_demangle::demangle(symbol));
        }
        f.write_str(self.0)
    }
}
