//! `cargo bench -p belljar-cli --bench footprint`: what belljar costs on a
//! Cortex-M33, measured on the QEMU mps2-an505 firmware, next to a seed-style
//! baseline built and measured the same way in the same run.
//!
//! * flash and static RAM: ELF sections of the firmware (guest included);
//! * heap peak: the firmware's counting allocator; stack peak: painted stack;
//! * instructions: QEMU `-icount shift=0` (1 instruction = 1 ns of board
//!   time, read at SysTick resolution: 50 instructions), deterministic.
//!
//! Configurations:
//! * belljar: blinky linked with 1-byte pages and 6 KiB of memory,
//!   `deserialize_raw` from flash, 4 KiB Pulley stack;
//! * baseline (seed-style): blinky with a 64 KiB page, 16 KiB Pulley stack,
//!   copying `deserialize`.

use std::path::{Path, PathBuf};

use belljar_build::{GuestCrate, Memory};
use belljar_cli::qemu::{self, FirmwareSettings};
use belljar_profile::Target;
use object::{Object, ObjectSection};

struct Config {
    name: &'static str,
    memory: Option<Memory>,
    wasm_stack: Option<u64>,
    copy: bool,
    ram: Option<u64>,
    heap: Option<u64>,
}

#[derive(Default, Clone)]
struct Figures {
    sections: Vec<(String, u64)>,
    flash: u64,
    static_ram: u64,
    heap_peak: u64,
    stack_peak: u64,
    cwasm: u64,
    boot: u64,
    engine: u64,
    load: u64,
    linker: u64,
    instantiate: u64,
    host_call: f64,
    ram_given: u64,
}

fn guests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests")
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

fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"));
    text[at + key.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The firmware's `counts: ...` line (instructions by step).
fn counts_line(console: &str) -> &str {
    console
        .lines()
        .find(|l| l.starts_with("counts:"))
        .unwrap_or_else(|| panic!("no counts line in:\n{console}"))
}

fn measure(config: &Config) -> Figures {
    let settings = |guest_for: Option<u64>| FirmwareSettings {
        for_ms: guest_for,
        trace: false,
        wasm_stack: config.wasm_stack,
        copy_artifact: config.copy,
        ram: config.ram,
        heap: config.heap,
        ..FirmwareSettings::default()
    };
    let mut f = Figures::default();

    // Blinky for 3 s: memory, flash, boot.
    let cwasm = guest_cwasm("blinky", config.memory, config.name);
    f.cwasm = std::fs::metadata(&cwasm).unwrap().len();
    let elf = qemu::build_firmware(&[cwasm.as_path()], &settings(Some(3000))).unwrap();
    let out = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    let c = &out.console;
    f.heap_peak = number_after(c, "memory: heap peak");
    f.stack_peak = number_after(c, "stack peak");
    f.ram_given = number_after(c, "bytes, RAM");
    let counts = counts_line(c);
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

    // 10 000 host calls in a row: the round trip.
    let cwasm = guest_cwasm("hostcall", config.memory, config.name);
    let elf = qemu::build_firmware(&[cwasm.as_path()], &settings(None)).unwrap();
    let out = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(out.status, 0, "{}", out.console);
    f.host_call = number_after(counts_line(&out.console), ", run") as f64 / 10_000.0;
    f
}

fn main() {
    let belljar = Config {
        name: "belljar",
        memory: None,
        wasm_stack: None,
        copy: false,
        ram: None,
        heap: None,
    };
    let baseline = Config {
        name: "baseline",
        memory: Some(Memory {
            memory: 65536,
            stack: 4096,
            page_size: 65536,
        }),
        wasm_stack: Some(16 * 1024),
        copy: true,
        ram: Some(256 * 1024),
        heap: Some(192 * 1024),
    };
    let b = measure(&belljar);
    let s = measure(&baseline);
    let total = |f: &Figures| f.static_ram + f.heap_peak + f.stack_peak;
    let kib = |n: u64| format!("{:.1} KiB", n as f64 / 1024.0);
    println!(
        "| blinky on QEMU mps2-an505 (Cortex-M33) | belljar | seed-style baseline | belljar / baseline |"
    );
    println!("|---|---|---|---|");
    let row = |name: &str, a: String, b: String, ratio: f64| {
        println!("| {name} | {a} | {b} | {ratio:.2} |");
    };
    for (name, size) in &b.sections {
        let base = s
            .sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v);
        row(
            &format!("section {name}"),
            size.to_string(),
            base.to_string(),
            *size as f64 / base.max(1) as f64,
        );
    }
    row(
        "flash (vectors + text + rodata + data)",
        kib(b.flash),
        kib(s.flash),
        b.flash as f64 / s.flash as f64,
    );
    row(
        "static RAM (data + bss)",
        format!("{} B", b.static_ram),
        format!("{} B", s.static_ram),
        b.static_ram as f64 / s.static_ram.max(1) as f64,
    );
    row(
        "peak heap",
        kib(b.heap_peak),
        kib(s.heap_peak),
        b.heap_peak as f64 / s.heap_peak as f64,
    );
    row(
        "peak main stack",
        kib(b.stack_peak),
        kib(s.stack_peak),
        b.stack_peak as f64 / s.stack_peak as f64,
    );
    row(
        "total RAM used (static + heap + stack)",
        kib(total(&b)),
        kib(total(&s)),
        total(&b) as f64 / total(&s) as f64,
    );
    row(
        "RAM the firmware was given",
        kib(b.ram_given),
        kib(s.ram_given),
        b.ram_given as f64 / s.ram_given as f64,
    );
    row(
        ".cwasm",
        format!("{} B", b.cwasm),
        format!("{} B", s.cwasm),
        b.cwasm as f64 / s.cwasm as f64,
    );
    row(
        "boot: engine (instructions)",
        b.engine.to_string(),
        s.engine.to_string(),
        b.engine as f64 / s.engine.max(1) as f64,
    );
    row(
        "boot: load / deserialize",
        b.load.to_string(),
        s.load.to_string(),
        b.load as f64 / s.load as f64,
    );
    row(
        "boot: linker",
        b.linker.to_string(),
        s.linker.to_string(),
        b.linker as f64 / s.linker as f64,
    );
    row(
        "boot: instantiate",
        b.instantiate.to_string(),
        s.instantiate.to_string(),
        b.instantiate as f64 / s.instantiate as f64,
    );
    row(
        "boot to first guest instruction",
        b.boot.to_string(),
        s.boot.to_string(),
        b.boot as f64 / s.boot as f64,
    );
    row(
        "host-call round trip (instructions)",
        format!("{:.0}", b.host_call),
        format!("{:.0}", s.host_call),
        b.host_call / s.host_call,
    );
}
