//! `cargo bench -p belljar-cli --bench footprint`: what belljar costs on a
//! Cortex-M33, measured on the QEMU mps2-an505 firmware, next to the last
//! synchronous firmware and a seed-style baseline, all built and measured the
//! same way in the same run.
//!
//! * flash and static RAM: ELF sections of the firmware (guest included);
//! * heap peak: the firmware's counting allocator (guest fiber stacks are
//!   allocated in the heap, so they are inside it); stack peak: painted
//!   main stack; fiber stack peak: painted fiber stacks;
//! * instructions: QEMU `-icount shift=0` (1 instruction = 1 ns of board
//!   time, read at SysTick resolution: 50 instructions), deterministic.
//!
//! Configurations:
//! * belljar: blinky linked with 1-byte pages and 6 KiB of memory,
//!   `deserialize_raw` from flash, 4 KiB Pulley stack; the async firmware
//!   (embassy executor, guests on fibers);
//! * sync (bf78cfb): the same `.cwasm` files and settings in the firmware of
//!   commit `bf78cfb`, the last synchronous one (no executor, no fibers),
//!   checked out in a temporary git worktree and built with its own
//!   defaults (56 KiB RAM, 44 KiB heap);
//! * before peripherals (4a16f6d): the same, in the firmware of the last
//!   commit before the peripheral interfaces (I2C, SPI, PWM, analog, edge
//!   waits, delays) were added: what they cost in flash and boot;
//! * baseline (seed-style): blinky with a 64 KiB page, 16 KiB Pulley stack,
//!   copying `deserialize`, in the current firmware (with 16 KiB fibers:
//!   Wasmtime wants the fiber stack at least as large as the Pulley one).
//!
//! A second table measures the peripheral interfaces on the current
//! firmware: an I2C write-read to QEMU's tmp105 (through the bit-banged
//! SBCon driver) round trip in instructions, and what it allocates.

use std::path::{Path, PathBuf};

use belljar_build::{GuestCrate, Memory};
use belljar_cli::qemu::{self, FirmwareSettings};
use belljar_profile::Target;
use object::{Object, ObjectSection};

#[path = "common/worktree.rs"]
mod worktree;
use worktree::{Worktree, repo};

/// The last synchronous firmware.
const SYNC_COMMIT: &str = "bf78cfb";
/// The last firmware before the peripheral interfaces.
const PERIPHERALS_COMMIT: &str = "4a16f6d";
const BOARD: &str = "qemu-mps2-an505";
const THUMB: &str = "thumbv8m.main-none-eabihf";

struct Config {
    name: &'static str,
    memory: Option<Memory>,
    wasm_stack: Option<u64>,
    copy: bool,
    ram: Option<u64>,
    heap: Option<u64>,
    /// Native stack of each guest fiber (current firmware only).
    fiber_stack: Option<u64>,
}

impl Config {
    fn settings(&self, for_ms: Option<u64>) -> FirmwareSettings {
        FirmwareSettings {
            for_ms,
            trace: false,
            wasm_stack: self.wasm_stack,
            copy_artifact: self.copy,
            ram: self.ram,
            heap: self.heap,
            fiber_stack: self.fiber_stack,
            ..FirmwareSettings::default()
        }
    }
}

#[derive(Default, Clone)]
struct Figures {
    sections: Vec<(String, u64)>,
    flash: u64,
    static_ram: u64,
    heap_peak: u64,
    stack_peak: u64,
    /// `None` when the firmware has no fibers (the synchronous one).
    fiber_peak: Option<u64>,
    fiber_size: Option<u64>,
    cwasm: u64,
    boot: u64,
    engine: u64,
    load: u64,
    linker: u64,
    instantiate: u64,
    host_call: f64,
    ram_given: u64,
    /// Total RAM of blinky + uart-echo minus blinky's alone (current
    /// firmware only: the older ones take one guest).
    second_app: Option<u64>,
    /// The blinky `.cwasm` signed as a package (header + signature).
    package: u64,
    /// `.text` by crate, from the symbol table ([`text_by_crate`]).
    text_by_crate: Sizes,
    /// The largest functions in `.text` (name without hash, bytes).
    largest: Sizes,
}

impl Figures {
    /// Static + heap peak + main stack peak (fiber stacks are in the heap).
    fn total_ram(&self) -> u64 {
        self.static_ram + self.heap_peak + self.stack_peak
    }
}

/// The guests a configuration runs: blinky (3 s), hostcall, and uart-echo
/// beside blinky.
struct Guests {
    blinky: PathBuf,
    hostcall: PathBuf,
    uart_echo: PathBuf,
}

fn guests() -> PathBuf {
    repo().join("guests")
}

/// Builds `guest` for pulley32 (with `memory` if given) and copies the
/// `.cwasm` aside so later builds do not overwrite it.
fn guest_cwasm(guest: &str, memory: Option<Memory>, tag: &str) -> PathBuf {
    let mut krate = GuestCrate::open(&guests().join(guest)).unwrap();
    if let Some(memory) = memory {
        krate.memory = memory;
    }
    let artifacts = krate.build(&[Target::Pulley32]).unwrap();
    let from = artifacts.cwasm(Target::Pulley32).unwrap();
    let to = from.with_file_name(format!("{guest}.{tag}.pulley32.cwasm"));
    std::fs::copy(from, &to).unwrap();
    to
}

fn build_guests(config: &Config) -> Guests {
    Guests {
        blinky: guest_cwasm("blinky", config.memory, config.name),
        hostcall: guest_cwasm("hostcall", config.memory, config.name),
        uart_echo: guest_cwasm("uart-echo", config.memory, config.name),
    }
}

fn number_after(text: &str, key: &str) -> u64 {
    try_number_after(text, key).unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
}

fn try_number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)?;
    text[at + key.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The firmware's `counts: ...` line (instructions by step).
fn counts_line(console: &str) -> &str {
    console
        .lines()
        .find(|l| l.starts_with("counts:"))
        .unwrap_or_else(|| panic!("no counts line in:\n{console}"))
}

/// The firmware's `memory: ...` line.
fn memory_line(console: &str) -> &str {
    console
        .lines()
        .find(|l| l.starts_with("memory:"))
        .unwrap_or_else(|| panic!("no memory line in:\n{console}"))
}

/// Builds a firmware embedding one `.cwasm` with these settings; returns
/// the ELF.
type Build<'a> = dyn Fn(&Path, &FirmwareSettings) -> PathBuf + 'a;

/// The current firmware (`firmware/` of this checkout).
fn current_firmware(cwasm: &Path, settings: &FirmwareSettings) -> PathBuf {
    qemu::build_firmware(&[cwasm], settings).unwrap()
}

/// The key the bench signs with.
fn key() -> belljar_package::ed25519_dalek::SigningKey {
    belljar_package::ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}

/// The size of `cwasm` signed as a package ([`signed`]).
fn signed_len(cwasm: &[u8]) -> u64 {
    signed(cwasm).len() as u64
}

/// `cwasm` signed as a package, as `belljar sign` makes it (blinky's
/// capabilities: gpio and timing, pin 25).
fn signed(cwasm: &[u8]) -> Vec<u8> {
    let key = key();
    let mut header =
        belljar_package::Header::for_payload(Target::Pulley32, "blinky", "blinky", 1, cwasm);
    header.capabilities.interfaces = vec![
        "embedded:platform/gpio".into(),
        "embedded:platform/timing".into(),
    ];
    header.capabilities.outputs = vec![25];
    belljar_package::sign(&header, cwasm, &key)
}

/// Heap and main stack peaks of blinky and uart-echo together on the
/// current firmware's defaults, minus `alone` (blinky's; the static RAM is
/// the same firmware's).
fn second_app(guests: &Guests, settings: &FirmwareSettings, alone: u64) -> u64 {
    let elf = qemu::build_firmware(&[&guests.blinky, &guests.uart_echo], settings).unwrap();
    let out = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    let memory = memory_line(&out.console);
    let heap = number_after(memory, "memory: heap peak");
    let stack = number_after(memory, "), stack peak");
    (heap + stack).saturating_sub(alone)
}

fn measure(config: &Config, guests: &Guests, build: &Build) -> Figures {
    // Blinky for 3 s: memory, flash, boot.
    let cwasm = std::fs::read(&guests.blinky).unwrap();
    let mut f = Figures {
        cwasm: cwasm.len() as u64,
        package: signed_len(&cwasm),
        ..Figures::default()
    };
    let elf = build(&guests.blinky, &config.settings(Some(3000)));
    let out = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    let memory = memory_line(&out.console);
    f.heap_peak = number_after(memory, "memory: heap peak");
    f.stack_peak = number_after(memory, "), stack peak");
    f.ram_given = number_after(memory, "bytes, RAM");
    // Only the async firmware has fibers (and prints this part).
    f.fiber_peak = try_number_after(memory, "fiber stack peak");
    f.fiber_size = f
        .fiber_peak
        .map(|_| number_after(memory.split("fiber stack peak").nth(1).unwrap(), " of"));
    let counts = counts_line(&out.console);
    f.engine = number_after(counts, "counts: engine");
    f.linker = number_after(counts, ", linker");
    f.load = number_after(counts, ", load");
    f.instantiate = number_after(counts, ", instantiate");
    f.boot = number_after(counts, ", boot");
    let bytes = std::fs::read(&elf).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    for section in file.sections() {
        let name = section.name().unwrap_or("").to_string();
        let size = section.size();
        match name.as_str() {
            ".vector_table" | ".text" | ".rodata" | ".data" => f.flash += size,
            _ => {}
        }
        if matches!(name.as_str(), ".data" | ".bss") {
            f.static_ram += size;
        }
        if matches!(
            name.as_str(),
            ".vector_table" | ".text" | ".rodata" | ".data" | ".bss" | ".uninit"
        ) {
            f.sections.push((name, size));
        }
    }
    (f.text_by_crate, f.largest) = text_by_crate(&file);

    // 10 000 host calls in a row: the round trip.
    let elf = build(&guests.hostcall, &config.settings(None));
    let out = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    f.host_call = number_after(counts_line(&out.console), ", run") as f64 / 10_000.0;
    f
}

/// The crate a (demangled) symbol's code belongs to: the first path
/// segment, so `<wasmtime::X as serde::Deserialize>::deserialize` counts for
/// `wasmtime` and `<u32 as core::fmt::Display>::fmt` for `core`. Symbols
/// that are no Rust path (the C/assembly runtime, compiler intrinsics) are
/// one group. Drop glue counts for the type dropped.
fn crate_of(demangled: &str) -> &str {
    if let Some(dropped) = demangled.strip_prefix("core::ptr::drop_in_place<") {
        return crate_of(dropped);
    }
    let bytes = demangled.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_';
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                if demangled[i..].starts_with("::") {
                    return &demangled[s..i];
                }
                start = None;
            }
            _ => {}
        }
    }
    "(not Rust: runtime, intrinsics, assembly)"
}

/// Names and their sizes in bytes.
type Sizes = Vec<(String, u64)>;

/// `.text` summed by crate over the ELF's function symbols, largest first,
/// and the 12 largest functions. With fat LTO, code inlined into a function
/// counts for the function's crate, so this is where the bytes end up, not
/// who wrote each one.
fn text_by_crate(file: &object::File) -> (Sizes, Sizes) {
    use object::ObjectSymbol;
    let text = file.section_by_name(".text").unwrap().index();
    let mut by_crate: std::collections::BTreeMap<String, u64> = Default::default();
    let mut functions = Vec::new();
    for symbol in file.symbols() {
        if symbol.section_index() != Some(text) || symbol.size() == 0 {
            continue;
        }
        let name = format!(
            "{:#}",
            rustc_demangle::demangle(symbol.name().unwrap_or("?"))
        );
        *by_crate.entry(crate_of(&name).to_string()).or_default() += symbol.size();
        functions.push((name, symbol.size()));
    }
    let mut by_crate: Vec<_> = by_crate.into_iter().collect();
    by_crate.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    functions.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    functions.truncate(12);
    (by_crate, functions)
}

/// An older commit's QEMU firmware, built in a worktree of it.
struct OldFirmware(Worktree);

impl OldFirmware {
    fn add(commit: &'static str) -> OldFirmware {
        OldFirmware(Worktree::add(commit, "footprint"))
    }

    /// Builds the worktree's QEMU firmware around `cwasm` with the
    /// settings the old firmware knows (it takes a single guest and has no
    /// fiber, heartbeat or FP settings); returns the ELF.
    fn build(&self, cwasm: &Path, settings: &FirmwareSettings) -> PathBuf {
        let mut cmd = self.0.cargo("firmware");
        // The same source-path remapping as the current firmware's build.
        let remapped = qemu::remapped_paths(qemu::THUMB, &self.0.dir.join("firmware"));
        cmd.args(["build", "--release", "-p", BOARD, "--config", &remapped])
            .env("BELLJAR_GUEST", cwasm.canonicalize().unwrap())
            .env("BELLJAR_TRACE", if settings.trace { "1" } else { "0" });
        let vars = [
            ("BELLJAR_FOR_MS", settings.for_ms.map(|v| v.to_string())),
            (
                "BELLJAR_WASM_STACK",
                settings.wasm_stack.map(|v| v.to_string()),
            ),
            ("BELLJAR_RAM", settings.ram.map(|v| v.to_string())),
            ("BELLJAR_HEAP", settings.heap.map(|v| v.to_string())),
            (
                "BELLJAR_DESERIALIZE",
                settings.copy_artifact.then(|| "copy".to_string()),
            ),
            (
                "BELLJAR_UART_IDLE_MS",
                settings.uart_idle_ms.map(|v| v.to_string()),
            ),
            (
                "BELLJAR_WATCHDOG_FUEL",
                settings.watchdog_fuel.map(|v| v.to_string()),
            ),
            ("BELLJAR_FUEL", settings.total_fuel.map(|v| v.to_string())),
            (
                "BELLJAR_PRESS",
                (!settings.presses.is_empty()).then(|| settings.presses.join(",")),
            ),
            (
                "BELLJAR_PUBKEY",
                settings.pubkey.as_ref().map(|p| p.display().to_string()),
            ),
            (
                "BELLJAR_INITIAL",
                settings.initial.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        for (name, value) in vars {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let status = cmd.status().expect("cannot run cargo");
        assert!(
            status.success(),
            "the {} firmware failed to build (cargo's errors are above)",
            self.0.commit
        );
        self.0.target_dir.join(THUMB).join("release").join(BOARD)
    }
}

/// `a / b` to two decimals, `-` when either is missing or `b` is 0.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
        _ => "-".to_string(),
    }
}

/// The last firmware whose supervisor verified a RAM copy of the package
/// and had Wasmtime copy the payload again (`load_copied`).
const COPYING_SUPERVISOR_COMMIT: &str = "bfd102d";

/// Supervisor mode on QEMU (blinky's signed package as the factory app,
/// 3 s; the board's 256 KiB emulated NOR flash is in the heap of both):
/// the heap peak with packages verified and deserialized in place, and in
/// the last firmware that copied them.
fn measure_supervisor(blinky: &Path) {
    let dir = repo().join("target").join("footprint-supervisor");
    std::fs::create_dir_all(&dir).unwrap();
    let pubkey = dir.join("bench.pub");
    let hex: String = key()
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(&pubkey, hex).unwrap();
    let cwasm = std::fs::read(blinky).unwrap();
    let package = signed(&cwasm);
    let initial = dir.join("blinky.bjpkg");
    std::fs::write(&initial, &package).unwrap();
    let settings = FirmwareSettings {
        for_ms: Some(3000),
        pubkey: Some(pubkey.canonicalize().unwrap()),
        initial: Some(initial.canonicalize().unwrap()),
        ram: Some(1024 * 1024),
        heap: Some(768 * 1024),
        ..FirmwareSettings::default()
    };
    let peak = |elf: &Path| {
        let out = qemu::boot(elf, b"", false).unwrap();
        assert_eq!(out.status, 0, "{}", out.console);
        assert!(out.console.contains("running blinky v1"), "{}", out.console);
        number_after(memory_line(&out.console), "memory: heap peak")
    };
    let in_place = peak(&qemu::build_firmware(&[], &settings).unwrap());
    let old = OldFirmware::add(COPYING_SUPERVISOR_COMMIT);
    let copied = peak(&old.build(blinky, &settings));
    println!();
    println!(
        "| supervisor mode on QEMU (blinky package {} B, payload {} B, 3 s) | heap peak |",
        package.len(),
        cwasm.len()
    );
    println!("|---|---|");
    println!("| verified and deserialized in place (this firmware) | {in_place} B |");
    println!("| RAM copy + Wasmtime copy ({COPYING_SUPERVISOR_COMMIT}) | {copied} B |");
    println!("| saved | {} B |", copied as i64 - in_place as i64);
}

fn main() {
    // `BELLJAR_FOOTPRINT_ONLY=supervisor`: only the supervisor-mode table.
    if std::env::var("BELLJAR_FOOTPRINT_ONLY").as_deref() == Ok("supervisor") {
        let blinky = guest_cwasm("blinky", None, "supervisor");
        measure_supervisor(&blinky);
        return;
    }
    let belljar = Config {
        name: "belljar",
        memory: None,
        wasm_stack: None,
        copy: false,
        ram: None,
        heap: None,
        fiber_stack: None,
    };
    let baseline = Config {
        name: "baseline",
        memory: Some(Memory {
            memory: 65536,
            stack: 4096,
            page_size: 65536,
            declare_maximum: true,
        }),
        wasm_stack: Some(16 * 1024),
        copy: true,
        ram: Some(256 * 1024),
        heap: Some(192 * 1024),
        // Wasmtime refuses a `max_wasm_stack` above the async (fiber) stack
        // size, even though Pulley's stack is in the heap: the fiber gets
        // the 16 KiB the seed's Pulley stack needs, the least it accepts.
        fiber_stack: Some(16 * 1024),
    };
    let belljar_guests = build_guests(&belljar);
    let mut b = measure(&belljar, &belljar_guests, &current_firmware);
    b.second_app = Some(second_app(
        &belljar_guests,
        &belljar.settings(Some(3000)),
        b.heap_peak + b.stack_peak,
    ));
    // The same .cwasm files and settings as belljar's, in the old firmware.
    let old = |commit| {
        let worktree = OldFirmware::add(commit);
        measure(&belljar, &belljar_guests, &|cwasm, settings| {
            worktree.build(cwasm, settings)
        })
    };
    let y = old(SYNC_COMMIT);
    let p = old(PERIPHERALS_COMMIT);
    let s = measure(&baseline, &build_guests(&baseline), &current_firmware);

    let figures = [&b, &y, &p, &s];
    println!(
        "| blinky on QEMU mps2-an505 (Cortex-M33) | target | belljar | sync ({SYNC_COMMIT}) | belljar / sync | before peripherals ({PERIPHERALS_COMMIT}) | belljar / before | seed-style baseline | belljar / baseline |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // One row: the figure of each configuration (`None`: the firmware has
    // no such thing), shown with `show`; the target, if it sets one.
    let targets: &[(&str, &str)] = &[
        ("flash (vectors + text + rodata + data)", "<= 300 KiB"),
        ("total RAM used (static + heap + stack)", "<= 32 KiB"),
        (
            "RAM a second app adds (uart-echo beside blinky)",
            "<= 12 KiB",
        ),
        (".cwasm", "<= 6 KiB"),
        ("signed package", "<= 6 KiB"),
        ("boot to first guest instruction", "<= 150000"),
        ("host-call round trip (instructions)", "<= 1000"),
    ];
    let row = |name: &str, get: &dyn Fn(&Figures) -> Option<f64>, show: &dyn Fn(f64) -> String| {
        let [b, y, p, s] = figures.map(get);
        let cell = |v: Option<f64>| v.map_or("-".to_string(), show);
        let target = targets
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, t)| *t);
        println!(
            "| {name} | {target} | {} | {} | {} | {} | {} | {} | {} |",
            cell(b),
            cell(y),
            ratio(b, y),
            cell(p),
            ratio(b, p),
            cell(s),
            ratio(b, s)
        );
    };
    let kib = |n: f64| format!("{:.1} KiB", n / 1024.0);
    let bytes = |n: f64| format!("{n:.0} B");
    let count = |n: f64| format!("{n:.0}");
    let names: Vec<String> = b.sections.iter().map(|(n, _)| n.clone()).collect();
    for name in &names {
        let get = |f: &Figures| {
            Some(
                f.sections
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, v)| *v) as f64,
            )
        };
        row(&format!("section {name}"), &get, &count);
    }
    row(
        "flash (vectors + text + rodata + data)",
        &|f| Some(f.flash as f64),
        &kib,
    );
    row(
        "static RAM (data + bss)",
        &|f| Some(f.static_ram as f64),
        &bytes,
    );
    row(
        "peak heap (fiber stacks included)",
        &|f| Some(f.heap_peak as f64),
        &kib,
    );
    row("peak main stack", &|f| Some(f.stack_peak as f64), &kib);
    // The synchronous firmware has no fibers: "-".
    row(
        "peak fiber stack (in the heap)",
        &|f| f.fiber_peak.map(|p| p as f64),
        &kib,
    );
    row(
        "fiber stack size (each guest)",
        &|f| f.fiber_size.map(|p| p as f64),
        &kib,
    );
    row(
        "total RAM used (static + heap + stack)",
        &|f| Some(f.total_ram() as f64),
        &kib,
    );
    row(
        "RAM the firmware was given",
        &|f| Some(f.ram_given as f64),
        &kib,
    );
    row(
        "RAM a second app adds (uart-echo beside blinky)",
        &|f| f.second_app.map(|v| v as f64),
        &kib,
    );
    row(".cwasm", &|f| Some(f.cwasm as f64), &bytes);
    row("signed package", &|f| Some(f.package as f64), &bytes);
    row(
        "boot: engine (instructions)",
        &|f| Some(f.engine as f64),
        &count,
    );
    row("boot: load / deserialize", &|f| Some(f.load as f64), &count);
    row("boot: linker", &|f| Some(f.linker as f64), &count);
    row("boot: instantiate", &|f| Some(f.instantiate as f64), &count);
    row(
        "boot to first guest instruction",
        &|f| Some(f.boot as f64),
        &count,
    );
    row(
        "host-call round trip (instructions)",
        &|f| Some(f.host_call),
        &count,
    );

    // Blinky's duty cycle: 4 host calls per 1 s period (set-high, delay,
    // set-low, delay), each counted at the measured round trip.
    let per_second = 4.0 * b.host_call;
    println!();
    println!(
        "blinky's host-call overhead: 4 calls per second x {:.0} instructions = {:.0} \
         instructions per second; at 150 MHz (RP2350, 1 instruction per cycle) {:.1} us, \
         {:.4} % of the time",
        b.host_call,
        per_second,
        per_second / 150.0,
        per_second / 150e6 * 100.0
    );

    print_text_by_crate(&b, &y, &p);

    let i2c = measure_i2c(&belljar);
    println!();
    println!("| peripherals on the current firmware (QEMU tmp105 on the SBCon bus) | figure |");
    println!("|---|---|");
    println!(
        "| flash above the firmware before them (belljar - before: the peripheral interfaces, and since then Pulley's SIMD opcodes and Pulley at \"s\") | {:.1} KiB |",
        (b.flash as f64 - p.flash as f64) / 1024.0
    );
    println!(
        "| boot instructions they add (belljar - before; an app is linked only against what it imports) | {} |",
        b.boot as i64 - p.boot as i64
    );
    println!(
        "| I2C write-read round trip, 1 byte out, 2 in (instructions, bus bit-banged) | {:.0} |",
        i2c.round_trip
    );
    println!(
        "| heap above instantiation while it runs (1 000 write-reads; the first call's one-time handle and resource tables included) | {} B |",
        i2c.heap_per_call
    );
    println!(
        "| heap in use once the I2C app is instantiated (engine, component linked against its imports, store, 16 KiB memory) | {:.1} KiB |",
        i2c.instantiated as f64 / 1024.0
    );
    println!("| .cwasm of the I2C app | {} B |", i2c.cwasm);
    measure_supervisor(&belljar_guests.blinky);
}

/// Where `.text` goes, by crate, in the current firmware and the two older
/// ones: the crates with at least 2 KiB in one of them, then the rest.
fn print_text_by_crate(b: &Figures, y: &Figures, p: &Figures) {
    let size = |f: &Figures, name: &str| {
        f.text_by_crate
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    let mut names: Vec<&str> = Vec::new();
    for f in [b, y, p] {
        for (name, bytes) in &f.text_by_crate {
            if *bytes >= 2048 && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names.sort_by_key(|n| std::cmp::Reverse(size(b, n)));
    println!();
    println!(
        "| .text by crate (function symbols; with fat LTO inlined code counts for its caller) | belljar | sync ({SYNC_COMMIT}) | belljar - sync | before peripherals ({PERIPHERALS_COMMIT}) | belljar - before |"
    );
    println!("|---|---|---|---|---|---|");
    let line = |label: &str, [b, y, p]: [u64; 3]| {
        let diff = |x: u64| format!("{:+}", b as i64 - x as i64);
        println!("| {label} | {b} | {y} | {} | {p} | {} |", diff(y), diff(p));
    };
    for name in &names {
        line(name, [b, y, p].map(|f| size(f, name)));
    }
    let rest = |f: &Figures| {
        let counted: u64 = names.iter().map(|n| size(f, n)).sum();
        f.text_by_crate.iter().map(|(_, v)| v).sum::<u64>() - counted
    };
    line("all other crates", [b, y, p].map(rest));
    let section = |f: &Figures| {
        f.sections
            .iter()
            .find(|(n, _)| n == ".text")
            .map_or(0, |(_, v)| *v)
    };
    line(
        "section .text (padding and unsized symbols included)",
        [b, y, p].map(section),
    );
    println!();
    println!("| largest functions in the current firmware's .text | bytes |");
    println!("|---|---|");
    for (name, bytes) in &b.largest {
        let short: String = name.chars().take(140).collect();
        println!("| `{}` | {bytes} |", short.replace('|', "\\|"));
    }
}

struct I2cFigures {
    round_trip: f64,
    heap_per_call: u64,
    instantiated: u64,
    cwasm: u64,
}

/// `i2c-bench`'s 1 000 write-reads to QEMU's tmp105 at 0x48.
fn measure_i2c(config: &Config) -> I2cFigures {
    let cwasm = guest_cwasm("i2c-bench", None, config.name);
    let elf = current_firmware(&cwasm, &config.settings(None));
    let devices = qemu::Devices {
        i2c: vec!["tmp105@0x48=21.5C".parse().unwrap()],
    };
    let out = qemu::boot_with(&elf, b"", false, &devices, |_, _| Ok(())).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    let heap = out
        .console
        .lines()
        .find(|l| l.starts_with("heap in use after"))
        .unwrap_or_else(|| panic!("no heap line in:\n{}", out.console));
    let instantiated = number_after(heap, "instantiate");
    I2cFigures {
        round_trip: number_after(counts_line(&out.console), ", run") as f64 / 1_000.0,
        heap_per_call: number_after(heap, "while running") - instantiated,
        instantiated,
        cwasm: std::fs::metadata(&cwasm).unwrap().len(),
    }
}
