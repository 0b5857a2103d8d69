//! Build-time settings shared by every board's `build.rs` (a board includes
//! this file with `#[path = "../../device/build/settings.rs"] mod settings;`;
//! it runs on the build host, with std).
//!
//! | variable | meaning |
//! | --- | --- |
//! | `BELLJAR_GUEST` | path(s) of the pulley32 `.cwasm`(s) to embed, comma-separated (absolute, or relative to `firmware/`); several run side by side |
//! | `BELLJAR_HEARTBEAT_MS` | print a firmware heartbeat line at this period (shows the firmware keeps running beside the guests) |
//! | `BELLJAR_FIBER_STACK` | native stack per running guest, bytes |
//! | `BELLJAR_PUBKEY` | supervisor mode: the `.pub` file (hex, from `belljar keygen`) whose signatures the device accepts; apps come from flash slots and updates over the update UART |
//! | `BELLJAR_INITIAL` | supervisor mode: the signed package installed at first boot (factory app) |
//! | `BELLJAR_FP_PROBE` | `1`: check s16-s31 across every guest poll and on the fibers, print a `fp probe:` line (test) |
//! | `BELLJAR_FP_ISOLATION` | `0`: leave out the fiber FP-register workaround (to show Wasmtime's bug in the test) |
//! | `BELLJAR_FOR_MS` | stop the guest after this much board time (like `belljar run --for`) |
//! | `BELLJAR_PRESS` | scripted button presses, `PIN@START..END[,...]`, e.g. `15@1205ms..1805ms` |
//! | `BELLJAR_UART_IDLE_MS` | stop a guest waiting for UART input after this long without any |
//! | `BELLJAR_WATCHDOG_FUEL` | fuel a guest may burn between two host calls |
//! | `BELLJAR_FUEL` | fuel for the whole run |
//! | `BELLJAR_WASM_STACK` | Pulley stack per guest, bytes |
//! | `BELLJAR_HEAP` | heap size, bytes (the board's default otherwise) |
//! | `BELLJAR_RAM` | RAM given to the firmware, bytes (default: the board's memory.x); the native stack is what the heap and statics leave |
//! | `BELLJAR_TRACE` | `0` to print no timeline lines (only the outcome) |
//! | `BELLJAR_DESERIALIZE` | `copy`: copy the artifact into the heap instead of running it from flash (benchmark baseline) |
//!
//! [`memory_x`] copies the board's `memory.x` where cortex-m-rt's `link.x`
//! finds it; [`rust_source`] returns the constants a board includes from
//! `$OUT_DIR/settings.rs` (a board may append its own before writing them).
#![allow(dead_code)]

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Copies `<board>/memory.x` into `OUT_DIR` (on the linker's search path),
/// with the RAM length from `BELLJAR_RAM` if set.
pub fn memory_x() {
    memory_x_from("memory.x");
}

/// [`memory_x`] from the board's `file` (a board built for two
/// architectures has a layout for each); written as `memory.x`.
pub fn memory_x_from(file: &str) {
    let out = out_dir();
    let manifest_dir = manifest_dir();
    let mut memory_x = fs::read_to_string(manifest_dir.join(file)).unwrap();
    if let Some(ram) = var("BELLJAR_RAM") {
        let bytes = number("BELLJAR_RAM", &ram);
        let line = memory_x
            .lines()
            .find(|l| l.trim_start().starts_with("RAM "))
            .expect("memory.x has a RAM line")
            .to_string();
        let origin = line.split(',').next().unwrap();
        memory_x = memory_x.replace(&line, &format!("{origin}, LENGTH = {bytes}"));
    }
    fs::write(out.join("memory.x"), memory_x).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={file}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../device/build/settings.rs");
}

/// riscv-rt's link scripts for a RISC-V board on riscv-rt: the board's
/// `memory.x` ([`memory_x`]), then riscv-rt's `link.x`. (Arm boards get
/// cortex-m-rt's `link.x` from `.cargo/config.toml`; the ESP32-C6 esp-hal's
/// `linkall.x` from its build script.)
pub fn riscv_rt_link() {
    println!("cargo:rustc-link-arg-bins=-Tmemory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}

/// The settings as Rust constants: `GUESTS`, `HEARTBEAT_MS`, `FIBER_STACK`, `FOR_MS`,
/// `UART_IDLE_MS`, `WATCHDOG_FUEL`, `TOTAL_FUEL`, `WASM_STACK`, `HEAP`,
/// `COPY_ARTIFACT`, `TRACE`, `RULES` and `PRESSES` (`belljar_device::Press`es).
pub fn rust_source() -> String {
    let mut s = String::new();
    // One or more guests, comma-separated; each runs as its own app.
    let guests: Vec<PathBuf> = var("BELLJAR_GUEST")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(guest_path)
                .collect()
        })
        .unwrap_or_default();
    if guests.is_empty() {
        println!(
            "cargo:warning=BELLJAR_GUEST is not set: the firmware embeds no guest and will say so"
        );
    }
    s.push_str("pub static GUESTS: &[belljar_device::Guest] = &[\n");
    for path in &guests {
        println!("cargo:rerun-if-changed={}", path.display());
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let name = file.split('.').next().unwrap_or(&file).to_string();
        writeln!(
            s,
            "    belljar_device::Guest {{ name: {name:?}, cwasm: include_bytes!({path:?}) }},"
        )
        .unwrap();
    }
    s.push_str("];\n");
    let heartbeat = var("BELLJAR_HEARTBEAT_MS").map(|v| duration_ms("BELLJAR_HEARTBEAT_MS", &v));
    writeln!(s, "pub const HEARTBEAT_MS: Option<u64> = {heartbeat:?};").unwrap();
    // Supervisor mode: the app comes from flash slots, verified with this
    // public key (a `belljar keygen` .pub file, hex).
    println!("cargo:rustc-check-cfg=cfg(belljar_supervisor)");
    match var("BELLJAR_PUBKEY") {
        Some(path) => {
            println!("cargo:rustc-cfg=belljar_supervisor");
            let path = guest_path(&path);
            println!("cargo:rerun-if-changed={}", path.display());
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("BELLJAR_PUBKEY: {e}")));
            let text = text.trim();
            if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                fail("BELLJAR_PUBKEY: expected a `belljar keygen` .pub file (64 hex digits)");
            }
            let bytes: Vec<String> = (0..32)
                .map(|i| format!("0x{}", &text[2 * i..2 * i + 2]))
                .collect();
            writeln!(
                s,
                "pub const PUBKEY: Option<[u8; 32]> = Some([{}]);",
                bytes.join(", ")
            )
            .unwrap();
        }
        None => writeln!(s, "pub const PUBKEY: Option<[u8; 32]> = None;").unwrap(),
    }
    match var("BELLJAR_INITIAL") {
        Some(path) => {
            let path = guest_path(&path);
            println!("cargo:rerun-if-changed={}", path.display());
            writeln!(
                s,
                "#[allow(dead_code)]\npub static INITIAL: &[u8] = include_bytes!({path:?});"
            )
            .unwrap();
        }
        None => writeln!(s, "#[allow(dead_code)]\npub static INITIAL: &[u8] = &[];").unwrap(),
    }
    let probe = var("BELLJAR_FP_PROBE").is_some_and(|v| v == "1");
    writeln!(s, "pub const FP_PROBE: bool = {probe};").unwrap();
    let isolation = var("BELLJAR_FP_ISOLATION").is_none_or(|v| v != "0");
    writeln!(s, "pub const FP_ISOLATION: bool = {isolation};").unwrap();
    let fiber = var("BELLJAR_FIBER_STACK").map(|v| number("BELLJAR_FIBER_STACK", &v) as usize);
    writeln!(s, "pub const FIBER_STACK: Option<usize> = {fiber:?};").unwrap();

    let for_ms = var("BELLJAR_FOR_MS").map(|v| duration_ms("BELLJAR_FOR_MS", &v));
    writeln!(s, "pub const FOR_MS: Option<u64> = {for_ms:?};").unwrap();
    let idle = var("BELLJAR_UART_IDLE_MS").map(|v| duration_ms("BELLJAR_UART_IDLE_MS", &v));
    writeln!(s, "pub const UART_IDLE_MS: Option<u64> = {idle:?};").unwrap();
    let watchdog = var("BELLJAR_WATCHDOG_FUEL").map(|v| number("BELLJAR_WATCHDOG_FUEL", &v));
    writeln!(s, "pub const WATCHDOG_FUEL: Option<u64> = {watchdog:?};").unwrap();
    let fuel = var("BELLJAR_FUEL").map(|v| number("BELLJAR_FUEL", &v));
    writeln!(s, "pub const TOTAL_FUEL: Option<u64> = {fuel:?};").unwrap();
    let stack = var("BELLJAR_WASM_STACK").map(|v| number("BELLJAR_WASM_STACK", &v) as usize);
    writeln!(s, "pub const WASM_STACK: Option<usize> = {stack:?};").unwrap();
    let heap = var("BELLJAR_HEAP").map(|v| number("BELLJAR_HEAP", &v) as usize);
    writeln!(s, "pub const HEAP: Option<usize> = {heap:?};").unwrap();
    let copy = var("BELLJAR_DESERIALIZE").is_some_and(|v| v == "copy");
    writeln!(s, "pub const COPY_ARTIFACT: bool = {copy};").unwrap();
    let trace = var("BELLJAR_TRACE").is_none_or(|v| !matches!(v.as_str(), "0" | "off" | "no"));
    writeln!(s, "pub const TRACE: bool = {trace};").unwrap();

    // How guests run, from the settings above (the same for every board).
    s.push_str(
        "/// The run settings these build settings give.\n\
         pub fn run_settings() -> belljar_device::Settings {\n\
         \x20   let mut run = belljar_device::Settings::with_overrides(WATCHDOG_FUEL, TOTAL_FUEL, WASM_STACK);\n\
         \x20   run.copy_artifact = COPY_ARTIFACT;\n\
         \x20   if let Some(bytes) = FIBER_STACK {\n\
         \x20       run.fiber_stack = bytes;\n\
         \x20   }\n\
         \x20   run.fp_isolation = FP_ISOLATION;\n\
         \x20   run.fp_probe = FP_PROBE;\n\
         \x20   run\n\
         }\n",
    );
    s.push_str(
        "/// The rules the apps' board views follow (`belljar_device::board`).\n\
         pub const RULES: belljar_device::board::Rules = belljar_device::board::Rules {\n\
         \x20   limits: belljar_device::RunLimits { for_ms: FOR_MS, uart_idle_ms: UART_IDLE_MS },\n\
         \x20   trace: TRACE,\n\
         \x20   fp_probe: FP_PROBE,\n\
         };\n",
    );
    s.push_str("pub const PRESSES: &[belljar_device::Press] = &[\n");
    if let Some(script) = var("BELLJAR_PRESS") {
        for press in script.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (pin, from_ms, to_ms) = parse_press(press);
            writeln!(
                s,
                "    belljar_device::Press {{ pin: {pin}, from_ms: {from_ms}, to_ms: {to_ms} }},"
            )
            .unwrap();
        }
    }
    s.push_str("];\n");
    s
}

/// A guest path: absolute, or relative to the firmware workspace (where
/// cargo is run).
fn guest_path(path: &str) -> PathBuf {
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        manifest_dir().join("../..").join(path)
    };
    path.canonicalize().unwrap_or_else(|e| {
        fail(&format!(
            "BELLJAR_GUEST={}: {e}; build one with `belljar build <guest> --target pulley32`",
            path.display()
        ))
    })
}

/// Writes `source` to `$OUT_DIR/settings.rs`.
pub fn write(source: &str) {
    fs::write(out_dir().join("settings.rs"), source).unwrap();
}

fn out_dir() -> PathBuf {
    PathBuf::from(env::var_os("OUT_DIR").unwrap())
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap())
}

/// A non-empty setting; cargo reruns the build script when it changes.
pub fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Ends the build with `error: <message>`.
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// A whole number (`_` separators allowed).
pub fn number(name: &str, value: &str) -> u64 {
    value
        .trim()
        .replace('_', "")
        .parse()
        .unwrap_or_else(|_| fail(&format!("{name}={value}: expected a whole number")))
}

/// `3000`, `3000ms`, `3s`, `1.5s`, `2m` as milliseconds.
pub fn duration_ms(name: &str, value: &str) -> u64 {
    parse_duration(value).unwrap_or_else(|| {
        fail(&format!(
            "{name}={value}: expected a duration such as 3000, 3000ms, 1.5s or 2m"
        ))
    })
}

fn parse_duration(value: &str) -> Option<u64> {
    let v = value.trim();
    let (number, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (v, 1.0)
    };
    let n: f64 = number.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| (n * scale).round() as u64)
}

/// `15@1205ms..1805ms`, as `belljar run --press` takes it.
fn parse_press(press: &str) -> (u32, u64, u64) {
    let bad = || -> ! {
        fail(&format!(
            "BELLJAR_PRESS: bad press `{press}`: expected PIN@START..END, e.g. 15@1200ms..1800ms"
        ))
    };
    let (pin, range) = press.split_once('@').unwrap_or_else(|| bad());
    let (from, to) = range.split_once("..").unwrap_or_else(|| bad());
    let pin: u32 = pin.trim().parse().unwrap_or_else(|_| bad());
    let from = parse_duration(from).unwrap_or_else(|| bad());
    let to = parse_duration(to).unwrap_or_else(|| bad());
    if to <= from {
        fail(&format!(
            "BELLJAR_PRESS: bad press `{press}`: the release must come after the press"
        ));
    }
    (pin, from, to)
}
