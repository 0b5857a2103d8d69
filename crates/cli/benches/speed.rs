//! `cargo bench -p belljar-cli --features speed --bench speed`: how fast
//! guest code computes, against the same kernels compiled natively and run
//! by wasmi 2.x.
//!
//! The kernels (`crates/kernels`) are written once: the speed guest
//! (`guests/speed`) compiles them to wasm, the native runs compile the same
//! source. After each kernel the guest logs a mark line with the kernel's
//! result; every runner stamps marks with its clock, and a kernel's cost is
//! the span from the previous mark less the span of the empty kernel (what
//! a mark costs there). Every run of a kernel must produce the same result
//! (the bench fails otherwise).
//!
//! * QEMU mps2-an505 (Cortex-M33), `-icount shift=0`: instructions
//!   (SysTick resolution, 50). native and wasmi: the bench firmware
//!   (`firmware/bench`, a bench tool), native kernels then wasmi 2.x running
//!   the guest's core module; belljar: the real QEMU firmware with the
//!   guest's pulley32 `.cwasm`. All in the firmware's release profile
//!   (opt-level "z", fat LTO) with the interpreters (Pulley, wasmi) at "s"
//!   and the native kernels at 3, the guest in the guests' profile ("s").
//! * Desktop: wall-clock medians of 11 runs: native, belljar pulley64
//!   through the simulator's runtime and board (`belljar run`'s path), and
//!   wasmi with std.
//!
//! A second table measures levers on the QEMU figures: the guest's memory
//! size declared as its maximum too (as belljar apps did before: Wasmtime
//! then bounds-checks against a constant, which Pulley cannot fuse), the
//! Pulley interpreter built at "z" (as the rest of the firmware) and at 3
//! instead of "s", and the guest built at opt-level 3.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use belljar_build::GuestCrate;
use belljar_cli::qemu::{self, FirmwareSettings};
use belljar_host::runtime::{Exit, Runtime};
use belljar_host::{Board, Event, Stop};
use belljar_kernels::{KERNELS, MARK};
use belljar_profile::Target;
use belljar_sim::{Sim, SimBoard, SimConfig};
use object::{Object, ObjectSection};

/// Desktop runs per engine (the median is reported).
const RUNS: usize = 11;

/// One run's marks in order: (kernel, or `start`; result; stamp in ns or
/// instructions).
type Marks = Vec<(String, Option<u32>, f64)>;

/// One run, per kernel (the empty one left out): its result and its cost
/// net of a mark's.
#[derive(Clone, Debug, PartialEq)]
struct Costs {
    results: Vec<u32>,
    costs: Vec<f64>,
}

/// The measured kernels' names (all but the empty one).
fn kernel_names() -> Vec<&'static str> {
    KERNELS[1..].iter().map(|(name, _)| *name).collect()
}

fn push_mark(marks: &mut Marks, line: &str, at: f64) {
    let (name, result) =
        belljar_kernels::parse_mark(line).unwrap_or_else(|| panic!("not a mark line: `{line}`"));
    marks.push((name.to_string(), result, at));
}

/// Costs from one run's marks; `what` names the run in failures.
fn costs(what: &str, marks: &Marks) -> Costs {
    let expected: Vec<&str> = std::iter::once("start")
        .chain(KERNELS.iter().map(|(name, _)| *name))
        .collect();
    let names: Vec<&str> = marks.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(
        names, expected,
        "{what}: the marks are not the kernels in order"
    );
    let spans: Vec<f64> = marks.windows(2).map(|w| w[1].2 - w[0].2).collect();
    // spans[0] is the empty kernel's: a mark and nothing else.
    Costs {
        results: marks[2..].iter().map(|(_, r, _)| r.unwrap()).collect(),
        costs: spans[1..].iter().map(|span| span - spans[0]).collect(),
    }
}

/// The stamped mark lines of a QEMU console (`<mark> at <n> ns`).
fn console_marks(console: &str) -> Marks {
    let mut marks = Marks::new();
    for line in console.lines().filter(|l| l.starts_with(MARK)) {
        let (mark, at) = line
            .rsplit_once(" at ")
            .unwrap_or_else(|| panic!("unstamped mark: `{line}`"));
        let ns: u64 = at.trim_end_matches(" ns").parse().expect("a stamp in ns");
        push_mark(&mut marks, mark, ns as f64);
    }
    marks
}

/// The median of each kernel over `runs`, whose results must agree.
fn median(what: &str, runs: &[Costs]) -> Costs {
    for run in runs {
        assert_eq!(
            run.results, runs[0].results,
            "{what}: results differ between runs"
        );
    }
    let costs = (0..runs[0].costs.len())
        .map(|k| {
            let mut v: Vec<f64> = runs.iter().map(|r| r.costs[k]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    Costs {
        results: runs[0].results.clone(),
        costs,
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The speed guest's artifacts, copied aside under `tag` (a later build
/// with other flags would overwrite them).
struct Guest {
    core_wasm: PathBuf,
    pulley32: PathBuf,
    pulley64: PathBuf,
}

/// The speed guest built with the guests' profile, or at `opt_level`;
/// `fixed`: its memory's size declared as the maximum too (belljar apps
/// declared that until the memory lever below).
fn build_guest(tag: &str, opt_level: Option<&str>, fixed: bool) -> Guest {
    let mut krate = GuestCrate::open(&repo().join("guests/speed")).unwrap();
    krate.memory.declare_maximum = fixed;
    // The guests' profile sets the opt-level; the variant overrides it.
    // SAFETY: the bench is single-threaded here.
    match opt_level {
        Some(level) => unsafe { std::env::set_var("CARGO_PROFILE_RELEASE_OPT_LEVEL", level) },
        None => unsafe { std::env::remove_var("CARGO_PROFILE_RELEASE_OPT_LEVEL") },
    }
    let artifacts = krate.build(&[Target::Pulley32, Target::Pulley64]);
    // SAFETY: as above.
    unsafe { std::env::remove_var("CARGO_PROFILE_RELEASE_OPT_LEVEL") };
    let artifacts = artifacts.unwrap();
    let aside = |from: &Path, name: &str| {
        let to = from.with_file_name(format!("speed.{tag}.{name}"));
        std::fs::copy(from, &to).unwrap();
        to
    };
    Guest {
        core_wasm: aside(&artifacts.core_wasm, "core.wasm"),
        pulley32: aside(artifacts.cwasm(Target::Pulley32).unwrap(), "pulley32.cwasm"),
        pulley64: aside(artifacts.cwasm(Target::Pulley64).unwrap(), "pulley64.cwasm"),
    }
}

/// Flash of a firmware ELF: vectors + text + rodata + data.
fn flash(elf: &Path) -> u64 {
    let bytes = std::fs::read(elf).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    file.sections()
        .filter(|s| {
            matches!(
                s.name().unwrap_or(""),
                ".vector_table" | ".text" | ".rodata" | ".data"
            )
        })
        .map(|s| s.size())
        .sum()
}

fn boot(what: &str, elf: &Path) -> String {
    let out = qemu::boot(elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{what} failed:\n{}", out.console);
    out.console
}

/// belljar's QEMU firmware running the guest; also its flash.
fn qemu_belljar(what: &str, cwasm: &Path, cargo_config: &[&str]) -> (Costs, u64) {
    let settings = FirmwareSettings {
        trace: false,
        cargo_config: cargo_config.iter().map(|c| c.to_string()).collect(),
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_firmware(&[cwasm], &settings).unwrap();
    let console = boot(what, &elf);
    (costs(what, &console_marks(&console)), flash(&elf))
}

/// The bench firmware's runs: native, wasmi, wasmi with fuel metering.
struct BenchFirmware {
    native: Costs,
    wasmi: Costs,
    wasmi_fuel: Costs,
}

fn qemu_bench(what: &str, core_wasm: &Path, cargo_config: &[&str]) -> BenchFirmware {
    let mut config: Vec<String> = cargo_config.iter().map(|c| c.to_string()).collect();
    config.push(format!(
        "env.BELLJAR_SPEED_WASM={:?}",
        core_wasm.canonicalize().unwrap().display().to_string()
    ));
    let settings = FirmwareSettings {
        cargo_config: config,
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_board("speed-bench", &[], &settings).unwrap();
    let console = boot(what, &elf);
    // The console is `engine <name>` lines, each followed by that run's marks.
    let run = |engine: &str| {
        let section = console
            .split("engine ")
            .find_map(|s| s.strip_prefix(&format!("{engine}\n")))
            .unwrap_or_else(|| panic!("{what}: no {engine} run:\n{console}"));
        costs(&format!("{what}: {engine}"), &console_marks(section))
    };
    BenchFirmware {
        native: run("native"),
        wasmi: run("wasmi"),
        wasmi_fuel: run("wasmi-fuel"),
    }
}

/// The desktop's GPIO "register" (a host call writes it).
static GPIO: AtomicU32 = AtomicU32::new(0);

struct NativeHost {
    epoch: Instant,
    marks: Marks,
}

impl belljar_kernels::Host for NativeHost {
    fn set_high(&mut self, pin: u32) {
        GPIO.store(pin, Relaxed);
    }
    fn mark(&mut self, line: &str) {
        let at = self.epoch.elapsed().as_nanos() as f64;
        push_mark(&mut self.marks, line, at);
    }
}

fn desktop_native() -> Costs {
    let runs: Vec<Costs> = (0..RUNS)
        .map(|_| {
            let mut host = NativeHost {
                epoch: Instant::now(),
                marks: Marks::new(),
            };
            belljar_kernels::run_all(&mut host);
            costs("desktop native", &host.marks)
        })
        .collect();
    median("desktop native", &runs)
}

/// The simulator's board with the marks stamped by the wall clock.
struct Stamped {
    board: SimBoard,
    epoch: Instant,
    marks: Arc<Mutex<Marks>>,
}

impl Board for Stamped {
    type Peripherals = SimBoard;
    fn peripherals(&mut self) -> &mut SimBoard {
        &mut self.board
    }
    fn delay_ms(&mut self, ms: u32) -> impl Future<Output = ()> + Send + '_ {
        self.board.delay_ms(ms)
    }
    fn has_uart(&self) -> bool {
        self.board.has_uart()
    }
    fn read_byte(&mut self) -> impl Future<Output = Result<u8, ()>> + Send + '_ {
        self.board.read_byte()
    }
    fn write_byte(&mut self, byte: u8) -> impl Future<Output = Result<(), ()>> + Send + '_ {
        self.board.write_byte(byte)
    }
    fn now_ms(&mut self) -> u64 {
        self.board.now_ms()
    }
    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_ {
        self.board.delay_ns(ns)
    }
    fn event(&mut self, event: &Event<'_>) {
        if let Event::Log { message, .. } = event
            && message.starts_with(MARK)
        {
            let at = self.epoch.elapsed().as_nanos() as f64;
            push_mark(&mut self.marks.lock().unwrap(), message, at);
        }
        self.board.event(event);
    }
    fn poll_stop(&mut self) -> Option<Stop> {
        self.board.poll_stop()
    }
}

fn desktop_belljar(cwasm: &Path) -> Costs {
    let bytes: &'static [u8] = Box::leak(std::fs::read(cwasm).unwrap().into_boxed_slice());
    let runtime = Runtime::<Stamped>::new().unwrap();
    // SAFETY: built by belljar's own pipeline just now.
    let app = unsafe { runtime.load(bytes) }.unwrap();
    let runs: Vec<Costs> = (0..RUNS)
        .map(|_| {
            let sim = Sim::new(SimConfig::default()).unwrap();
            let (board, access) = sim.board("speed");
            let marks = Arc::new(Mutex::new(Marks::new()));
            let board = Stamped {
                board,
                epoch: Instant::now(),
                marks: marks.clone(),
            };
            let mut running = sim
                .block_on(app.instantiate(board, access, sim.limits()))
                .unwrap_or_else(|exit| panic!("desktop belljar: {exit}"));
            let exit = sim
                .run(vec![Box::pin(running.run())], Vec::new())
                .pop()
                .flatten();
            assert!(
                matches!(exit, Some(Exit::Returned)),
                "desktop belljar: {}",
                exit.map_or("time limit".to_string(), |e| e.to_string())
            );
            let marks = marks.lock().unwrap().clone();
            costs("desktop belljar", &marks)
        })
        .collect();
    median("desktop belljar", &runs)
}

fn desktop_wasmi(core_wasm: &Path) -> Costs {
    use wasmi::{Caller, CompilationMode, Config, Engine, Extern, Linker, Module, Store};
    let wasm = std::fs::read(core_wasm).unwrap();
    let mut config = Config::default();
    config.wasm_custom_page_sizes(true);
    config.compilation_mode(CompilationMode::Eager);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<NativeHost>::new(&engine);
    linker
        .func_wrap("embedded:platform/gpio", "set-high", |pin: u32| {
            GPIO.store(pin, Relaxed)
        })
        .unwrap();
    linker
        .func_wrap(
            "embedded:platform/log",
            "log",
            |mut caller: Caller<'_, NativeHost>, _level: i32, ptr: u32, len: u32| {
                let at = caller.data().epoch.elapsed().as_nanos() as f64;
                let memory = caller
                    .get_export("memory")
                    .and_then(Extern::into_memory)
                    .expect("the guest exports its memory");
                let bytes = &memory.data(&caller)[ptr as usize..][..len as usize];
                let line = std::str::from_utf8(bytes).unwrap().to_string();
                push_mark(&mut caller.data_mut().marks, &line, at);
            },
        )
        .unwrap();
    let runs: Vec<Costs> = (0..RUNS)
        .map(|_| {
            let host = NativeHost {
                epoch: Instant::now(),
                marks: Marks::new(),
            };
            let mut store = Store::new(&engine, host);
            let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
            let run = instance.get_typed_func::<(), ()>(&store, "run").unwrap();
            run.call(&mut store, ()).unwrap();
            costs("desktop wasmi", &store.data().marks)
        })
        .collect();
    median("desktop wasmi", &runs)
}

/// Fails unless every engine got the same result for every kernel.
fn check_results(runs: &[(&str, &Costs)]) {
    let names = kernel_names();
    let mut bad = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let first = runs[0].1.results[k];
        for (what, costs) in runs {
            if costs.results[k] != first {
                bad.push(format!(
                    "{name}: {what} got {:08x}, {} got {first:08x}",
                    costs.results[k], runs[0].0
                ));
            }
        }
    }
    assert!(bad.is_empty(), "the engines disagree:\n{}", bad.join("\n"));
}

fn geomean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0), |(s, n), x| (s + x.ln(), n + 1));
    (sum / n as f64).exp()
}

fn count(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(ns: f64) -> String {
    format!("{:.1} µs", ns / 1000.0)
}

fn main() {
    let guest = build_guest("s", None, false);
    let guest3 = build_guest("o3", Some("3"), false);
    let fixed = build_guest("fixed", None, true);

    const PULLEY_Z: &str = "profile.release.package.pulley-interpreter.opt-level=\"z\"";
    const PULLEY_O3: &str = "profile.release.package.pulley-interpreter.opt-level=3";
    let bench = qemu_bench("QEMU bench firmware", &guest.core_wasm, &[]);
    let (q_native, q_wasmi, q_wasmi_fuel) = (bench.native, bench.wasmi, bench.wasmi_fuel);
    let (q_belljar, flash_s) = qemu_belljar("QEMU belljar", &guest.pulley32, &[]);
    let (q_pulley_z, flash_z) =
        qemu_belljar("QEMU belljar, Pulley \"z\"", &guest.pulley32, &[PULLEY_Z]);
    let (q_pulley_3, flash_3) =
        qemu_belljar("QEMU belljar, Pulley O3", &guest.pulley32, &[PULLEY_O3]);
    let (q_guest3, _) = qemu_belljar("QEMU belljar, guest O3", &guest3.pulley32, &[]);
    let (q_fixed, _) = qemu_belljar("QEMU belljar, fixed memory", &fixed.pulley32, &[]);

    let d_native = desktop_native();
    let d_belljar = desktop_belljar(&guest.pulley64);
    let d_wasmi = desktop_wasmi(&guest.core_wasm);

    check_results(&[
        ("QEMU native", &q_native),
        ("QEMU belljar", &q_belljar),
        ("QEMU wasmi", &q_wasmi),
        ("QEMU wasmi with fuel", &q_wasmi_fuel),
        ("QEMU belljar Pulley z", &q_pulley_z),
        ("QEMU belljar Pulley O3", &q_pulley_3),
        ("QEMU belljar guest O3", &q_guest3),
        ("QEMU belljar fixed memory", &q_fixed),
        ("desktop native", &d_native),
        ("desktop belljar", &d_belljar),
        ("desktop wasmi", &d_wasmi),
    ]);

    let names = kernel_names();
    let x = |a: f64, b: f64| format!("{:.1}x", a / b);
    println!(
        "| kernel (result) | QEMU native (instructions) | belljar | x native (target <= 15) | wasmi 2.0 | x native | belljar speed / wasmi's (target >= 1.2) | wasmi, fuel metered | belljar speed / its | desktop native (median of {RUNS}) | belljar pulley64 | x native | wasmi | x native | belljar speed / wasmi's |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (k, name) in names.iter().enumerate() {
        let (n, b, w) = (q_native.costs[k], q_belljar.costs[k], q_wasmi.costs[k]);
        let wf = q_wasmi_fuel.costs[k];
        let (dn, db, dw) = (d_native.costs[k], d_belljar.costs[k], d_wasmi.costs[k]);
        println!(
            "| {name} ({:08x}) | {} | {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {} | {:.2} |",
            q_native.results[k],
            count(n),
            count(b),
            x(b, n),
            count(w),
            x(w, n),
            w / b,
            count(wf),
            wf / b,
            micros(dn),
            micros(db),
            x(db, dn),
            micros(dw),
            x(dw, dn),
            dw / db,
        );
    }
    let g = |a: &Costs, b: &Costs| geomean(a.costs.iter().zip(&b.costs).map(|(a, b)| a / b));
    println!(
        "| geometric mean | | | {:.1}x | | {:.1}x | {:.2} | | {:.2} | | | {:.1}x | | {:.1}x | {:.2} |",
        g(&q_belljar, &q_native),
        g(&q_wasmi, &q_native),
        g(&q_wasmi, &q_belljar),
        g(&q_wasmi_fuel, &q_belljar),
        g(&d_belljar, &d_native),
        g(&d_wasmi, &d_native),
        g(&d_wasmi, &d_belljar),
    );

    println!();
    println!(
        "| QEMU instructions, levers | belljar (Pulley \"s\", guest \"s\") | memory size declared as its maximum (before) | no maximum is faster by | Pulley \"z\" | \"s\" is faster by | Pulley O3 | O3 is faster by | guest O3 | faster by | guest O3: x native | guest O3: speed / wasmi's |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (k, name) in names.iter().enumerate() {
        let b = q_belljar.costs[k];
        let (z, o3, gu) = (q_pulley_z.costs[k], q_pulley_3.costs[k], q_guest3.costs[k]);
        let fx = q_fixed.costs[k];
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            count(b),
            count(fx),
            x(fx, b),
            count(z),
            x(z, b),
            count(o3),
            x(b, o3),
            count(gu),
            x(b, gu),
            x(gu, q_native.costs[k]),
            q_wasmi.costs[k] / gu,
        );
    }
    println!(
        "| geometric mean | | | {:.2}x | | {:.2}x | | {:.2}x | | {:.2}x | {:.1}x | {:.2} |",
        g(&q_fixed, &q_belljar),
        g(&q_pulley_z, &q_belljar),
        g(&q_belljar, &q_pulley_3),
        g(&q_belljar, &q_guest3),
        g(&q_guest3, &q_native),
        g(&q_wasmi, &q_guest3),
    );
    let kib = |b: u64| b as f64 / 1024.0;
    println!(
        "| firmware flash (speed guest embedded) | {:.1} KiB | | | {:.1} KiB | {:+.1} KiB | {:.1} KiB | {:+.1} KiB | | | | |",
        kib(flash_s),
        kib(flash_z),
        kib(flash_s) - kib(flash_z),
        kib(flash_3),
        kib(flash_3) - kib(flash_s),
    );
}
