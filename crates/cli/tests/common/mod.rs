//! Shared by the integration tests: example guests built once per test
//! process through the real pipeline, loaded through the real loader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub mod broker;

use belljar_build::GuestCrate;
use belljar_cli::run::SimApp;
use belljar_host::runtime::{App, Exit, Limits, Runtime};
use belljar_profile::Target;
use belljar_sim::{SimBoard, SimConfig, TraceLine};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `guests/<name>`: a Rust crate, or a C app (`c/blinky`).
pub fn guest_dir(name: &str) -> PathBuf {
    repo().join("guests").join(name)
}

/// The `.cwasm` of an example guest for `target`, built once per process.
pub fn cwasm(name: &str, target: Target) -> &'static [u8] {
    type Cache = Mutex<HashMap<(String, Target), &'static [u8]>>;
    static BUILT: OnceLock<Cache> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built.entry((name.to_string(), target)).or_insert_with(|| {
        let artifacts = GuestCrate::open(&guest_dir(name))
            .unwrap()
            .build(&[target])
            .unwrap();
        let bytes = std::fs::read(artifacts.cwasm(target).unwrap()).unwrap();
        Box::leak(bytes.into_boxed_slice())
    })
}

/// An example guest loaded through the real loader (pulley64, the desktop
/// path), from a private copy of its bytes: `deserialize_raw` registers the
/// bytes' address with Wasmtime's global code registry, so each live load
/// needs its own copy (tests run in parallel).
pub fn load(name: &str) -> App<SimBoard> {
    let runtime = Runtime::<SimBoard>::new().unwrap();
    let bytes: &'static [u8] = Box::leak(cwasm(name, Target::Pulley64).to_vec().into_boxed_slice());
    // SAFETY: built by belljar's own pipeline just now.
    unsafe { runtime.load(bytes) }.unwrap()
}

/// An example guest instantiated alone on a simulated board.
pub fn start(name: &str, config: SimConfig) -> SimApp {
    SimApp::start(&load(name), name, config).unwrap()
}

pub fn start_with(name: &str, mut config: SimConfig, limits: Limits) -> SimApp {
    config.limits = limits;
    start(name, config)
}

/// Runs `name` for `ms` of virtual time and returns its timeline.
pub fn run_for(name: &str, ms: u64, mut config: SimConfig) -> (Exit, Vec<TraceLine>) {
    config.time_limit_ms = Some(ms);
    let mut running = start(name, config);
    let exit = running.run();
    (exit, running.board().trace().to_vec())
}

/// The trace as `(ms, text)` pairs, for readable assertions.
pub fn pairs(trace: &[TraceLine]) -> Vec<(u64, String)> {
    trace.iter().map(|l| (l.at_ms, l.text.clone())).collect()
}

/// The component (`.wasm`) of an example guest, as `belljar build` wrote it.
pub fn component(name: &str) -> Vec<u8> {
    let _ = cwasm(name, Target::Pulley64);
    let app = GuestCrate::open(&guest_dir(name)).unwrap();
    std::fs::read(app.out_dir().join(format!("{}.wasm", app.name))).unwrap()
}

/// Where the `.cwasm` of an example guest for `target` was written.
pub fn cwasm_path(name: &str, target: Target) -> PathBuf {
    let _ = cwasm(name, target);
    let app = GuestCrate::open(&guest_dir(name)).unwrap();
    app.out_dir().join(format!("{}.{target}.cwasm", app.name))
}

// The `belljar` command line, as the OTA and fleet tests drive it.

/// Runs `belljar` in the repository; (success, stdout + stderr).
pub fn belljar(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_belljar"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let base = dir.join(name);
    let (ok, out) = belljar(&["keygen", base.to_str().unwrap()]);
    assert!(ok, "{out}");
    base
}

/// An empty directory under the target dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = repo().join("target").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `belljar sign` for `target` (`pulley32` for the board, `pulley64` for
/// the simulator).
pub fn sign_for(target: &str, guest: &str, key: &Path, version: u32, outputs: &str, out: &Path) {
    let (ok, text) = belljar(&[
        "sign",
        &format!("guests/{guest}"),
        "--key",
        key.with_extension("key").to_str().unwrap(),
        "--version",
        &version.to_string(),
        "--outputs",
        outputs,
        "--target",
        target,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
}

/// Waits until something listens on `port` (the simulator starting up).
pub fn wait_listening(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A component written as WAT, precompiled for this host and loaded.
pub fn wat_app(name: &str, text: &str) -> App<SimBoard> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.wat"));
    std::fs::write(&path, text).unwrap();
    let component = belljar_cli::guest::component_bytes(&path).unwrap();
    let bytes = belljar_build::precompile(&component, Target::host()).unwrap();
    let runtime = Runtime::<SimBoard>::new().unwrap();
    // SAFETY: precompiled by belljar's own pipeline just now.
    unsafe { runtime.load(Box::leak(bytes.into_boxed_slice())) }.unwrap()
}

/// A component whose `run` calls `interface.func` in a loop forever:
/// `ty` is the import's component type, `core_ty` its lowered core type and
/// `call` the core instructions of one iteration.
pub fn host_call_loop(interface: &str, func: &str, ty: &str, core_ty: &str, call: &str) -> String {
    format!(
        r#"
(component
  (import "embedded:platform/{interface}" (instance $imp (export "{func}" (func {ty}))))
  (core func $f (canon lower (func $imp "{func}")))
  (core module $m
    (import "host" "f" (func $f {core_ty}))
    (func (export "run") (loop {call} (br 0))))
  (core instance $i (instantiate $m (with "host" (instance (export "f" (func $f))))))
  (func (export "run") (canon lift (core func $i "run"))))
"#
    )
}

/// An app whose `run` calls `clock.now-ms` in a loop forever (2 fuel a
/// turn): a guest that never waits but is always making host calls.
pub fn clock_spammer() -> App<SimBoard> {
    let text = host_call_loop(
        "clock",
        "now-ms",
        "(result u64)",
        "(result i64)",
        "(drop (call $f))",
    );
    wat_app("spammer", &text)
}
