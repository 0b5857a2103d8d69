//! Bad input never takes the host down: traps, runaway guests, missing pins,
//! wrong or corrupt artifacts each end in a classified, explained error.

mod common;

use belljar_cli::run::SimApp;
use belljar_host::Fault;
use belljar_host::runtime::{App, Exit, Limits, LoadError, Runtime, TrapKind};
use belljar_profile::Target;
use belljar_sim::{SimBoard, SimConfig};
use common::*;
use wasmtime::Trap;
use wasmtime::component::Val;

fn load(bytes: Vec<u8>) -> Result<App<SimBoard>, LoadError> {
    let runtime = Runtime::<SimBoard>::new().unwrap();
    // SAFETY: test inputs are belljar-built artifacts or deliberately broken
    // ones that the header checks must reject before deserialization.
    unsafe { runtime.load(Box::leak(bytes.into_boxed_slice())) }
}

fn faults() -> App<SimBoard> {
    load(cwasm("faults", Target::Pulley64).to_vec()).unwrap()
}

/// Calls an export of the faults guest; returns the exit on failure.
fn call(app: &App<SimBoard>, name: &str, params: &[Val], limits: Limits) -> Result<Vec<Val>, Exit> {
    let config = SimConfig {
        limits,
        ..SimConfig::default()
    };
    let mut sim_app = SimApp::start(app, "faults", config).unwrap();
    let func = sim_app
        .running
        .func(name)
        .unwrap_or_else(|| panic!("no export {name}"));
    let n = func.ty(sim_app.running.store()).results().len();
    let mut results = vec![Val::Bool(false); n];
    sim_app.call(func, params, &mut results)?;
    Ok(results)
}

fn trapped(exit: Exit) -> belljar_host::runtime::Trapped {
    match exit {
        Exit::Trapped(t) => t,
        other => panic!("expected a trap, got {other}"),
    }
}

fn expect_trap(name: &str, params: &[Val], kind: TrapKind, frame: &str) {
    let app = faults();
    let t = trapped(call(&app, name, params, Limits::default()).unwrap_err());
    assert_eq!(t.kind, kind, "{t}");
    assert!(
        t.backtrace.iter().any(|f| f.contains(frame)),
        "no `{frame}` in backtrace:\n{t}"
    );
    // The host is still up: the same app instantiates and runs again.
    let ok = call(
        &app,
        "divide",
        &[Val::U32(7), Val::U32(2)],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(ok, [Val::U32(3)]);
}

#[test]
fn unreachable_traps_with_backtrace() {
    expect_trap(
        "trap-unreachable",
        &[],
        TrapKind::Wasm(Trap::UnreachableCodeReached),
        "trap-unreachable",
    );
}

#[test]
fn out_of_bounds_access_traps() {
    expect_trap(
        "out-of-bounds",
        &[],
        TrapKind::Wasm(Trap::MemoryOutOfBounds),
        "out-of-bounds",
    );
}

#[test]
fn accesses_are_bounds_checked_to_the_last_byte_of_memory() {
    // Loads compile to Pulley's fused bounds-checked loads (the memory has
    // no declared maximum): the last whole word reads, one byte further
    // traps, and so does the top of the address space.
    let app = faults();
    let size = match call(&app, "grow", &[Val::U32(0)], Limits::default()).unwrap()[..] {
        [Val::S32(size)] => size as u32,
        ref other => panic!("grow(0) gave {other:?}"),
    };
    assert_eq!(size, 16 * 1024, "the faults crate's memory");
    let read = |address: u32| call(&app, "read", &[Val::U32(address)], Limits::default());
    assert!(read(size - 4).is_ok());
    for address in [size - 3, size - 1, size, u32::MAX - 2, u32::MAX] {
        let t = trapped(read(address).unwrap_err());
        assert_eq!(
            t.kind,
            TrapKind::Wasm(Trap::MemoryOutOfBounds),
            "{address}: {t}"
        );
    }
}

#[test]
fn divide_by_zero_traps() {
    expect_trap(
        "divide",
        &[Val::U32(1), Val::U32(0)],
        TrapKind::Wasm(Trap::IntegerDivisionByZero),
        "divide",
    );
}

#[test]
fn stack_overflow_traps() {
    expect_trap(
        "recurse",
        &[Val::U32(1_000_000)],
        TrapKind::Wasm(Trap::StackOverflow),
        "recurse",
    );
}

#[test]
fn a_panic_traps_and_names_the_panicking_frames() {
    expect_trap(
        "panics",
        &[],
        TrapKind::Wasm(Trap::UnreachableCodeReached),
        "panic",
    );
}

#[test]
fn a_pin_the_board_lacks_is_a_guest_trap() {
    expect_trap(
        "bad-pin",
        &[Val::U32(99)],
        TrapKind::Fault(Fault::NoSuchPin {
            interface: "gpio",
            pin: 99,
        }),
        "bad-pin",
    );
    let app = faults();
    let t = trapped(call(&app, "bad-pin", &[Val::U32(99)], Limits::default()).unwrap_err());
    assert_eq!(
        t.message,
        "gpio: pin 99 is not available to this app on this board"
    );
}

#[test]
fn a_runaway_loop_is_stopped_by_the_watchdog() {
    let limits = Limits {
        watchdog_fuel: 1_000_000,
        total_fuel: None,
        ..Limits::default()
    };
    let mut running = start_with("faults", SimConfig::default(), limits);
    let t = trapped(running.run());
    assert_eq!(t.kind, TrapKind::Runaway { fuel: 1_000_000 });
    assert!(
        t.message.contains("without calling the host"),
        "{}",
        t.message
    );
    assert_eq!(running.fuel_used(), 1_000_000);
}

#[test]
fn the_total_fuel_budget_stops_a_guest() {
    let limits = Limits {
        watchdog_fuel: 1_000_000,
        total_fuel: Some(300),
        ..Limits::default()
    };
    let mut running = start_with("blinky", SimConfig::default(), limits);
    let t = trapped(running.run());
    assert_eq!(t.kind, TrapKind::OutOfFuel { fuel: 300 });
    // Blinky got some way before the budget ran out: the watchdog was refilled
    // by its host calls, but never beyond the total.
    assert!(running.board().trace().len() > 10);
    assert!(running.fuel_used() <= 300);
}

#[test]
fn the_watchdog_is_refilled_by_host_calls() {
    // Blinky burns a handful of fuel between host calls: a tiny watchdog that
    // would stop it over a whole run is enough when refilled on each call.
    let limits = Limits {
        watchdog_fuel: 50,
        total_fuel: None,
        ..Limits::default()
    };
    let mut running = start_with(
        "blinky",
        SimConfig {
            time_limit_ms: Some(60_000),
            ..SimConfig::default()
        },
        limits,
    );
    let exit = running.run();
    assert!(matches!(exit, Exit::Stopped(_)), "{exit}");
    assert!(
        running.fuel_used() > 50 * 10,
        "fuel used {}",
        running.fuel_used()
    );
}

#[test]
fn a_pulley32_artifact_is_refused_with_a_rebuild_hint() {
    let err = load(cwasm("blinky", Target::Pulley32).to_vec())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        LoadError::WrongTarget {
            found: Target::Pulley32,
            expected: Target::Pulley64
        }
    ));
    assert!(
        err.to_string().contains("belljar build --target pulley64"),
        "{err}"
    );
}

#[test]
fn an_artifact_of_another_wasmtime_version_is_refused() {
    let mut bytes = cwasm("blinky", Target::Pulley64).to_vec();
    // Wasmtime's stamp: format 0, length, version; the profile must know it.
    let version = belljar_profile::ARTIFACT_VERSION.as_bytes();
    let mut stamp = vec![0u8, version.len() as u8];
    stamp.extend_from_slice(version);
    let at: Vec<usize> = bytes
        .windows(stamp.len())
        .enumerate()
        .filter(|(_, w)| *w == stamp)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the version stamp {:?} should appear once",
        belljar_profile::ARTIFACT_VERSION
    );
    let last = at[0] + stamp.len() - 1;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    let err = load(bytes).err().unwrap();
    assert!(matches!(&err, LoadError::WrongWasmtime { .. }), "{err}");
    assert!(err.to_string().contains("rebuild"), "{err}");
}

#[test]
fn an_artifact_of_another_engine_profile_is_refused() {
    let mut config = belljar_profile::config(Target::Pulley64).unwrap();
    config.consume_fuel(false);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let other = engine.precompile_component(&component("blinky")).unwrap();
    let err = load(other).err().unwrap();
    assert!(matches!(err, LoadError::WrongProfile(_)), "{err}");
    assert!(err.to_string().contains("another engine profile"), "{err}");
}

#[test]
fn a_truncated_artifact_is_refused() {
    let bytes = cwasm("blinky", Target::Pulley64)[..200].to_vec();
    let err = load(bytes).err().unwrap();
    assert!(matches!(err, LoadError::NotAnArtifact(_)), "{err}");
}

#[test]
fn garbage_is_refused() {
    let err = load(b"definitely not a cwasm".to_vec()).err().unwrap();
    assert!(matches!(err, LoadError::NotAnArtifact(_)), "{err}");
}

#[test]
fn a_core_module_artifact_is_refused() {
    let engine = belljar_profile::engine(Target::Pulley64).unwrap();
    let module = engine
        .precompile_module(&wat::parse_str("(module)").unwrap())
        .unwrap();
    assert!(matches!(
        load(module).err().unwrap(),
        LoadError::NotAComponent
    ));
}

fn precompile_wat(text: &str) -> Vec<u8> {
    belljar_build::precompile(&wat::parse_str(text).unwrap(), Target::Pulley64).unwrap()
}

#[test]
fn an_import_the_board_lacks_is_named() {
    let bytes = precompile_wat(
        r#"(component (import "embedded:platform/motor" (instance (export "spin" (func (param "speed" u32))))))"#,
    );
    let err = load(bytes).err().unwrap();
    assert!(
        matches!(&err, LoadError::MissingImport { name } if name == "embedded:platform/motor"),
        "{err}"
    );
    assert!(
        err.to_string().contains("`embedded:platform/motor`"),
        "{err}"
    );
}

#[test]
fn an_import_with_other_signatures_is_refused() {
    let bytes = precompile_wat(
        r#"(component (import "embedded:platform/gpio" (instance (export "set-high" (func (param "pin" string))))))"#,
    );
    let err = load(bytes).err().unwrap();
    assert!(matches!(err, LoadError::ImportMismatch(_)), "{err}");
}

/// A memory with no maximum, and exports to grow it and to grow it forever.
const GROWER: &str = r#"
(component
  (core module $m
    (memory (export "memory") 1024 (pagesize 1))
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
    (func (export "run") (loop (drop (memory.grow (i32.const 65536))) (br 0))))
  (core instance $i (instantiate $m))
  (func (export "grow") (param "bytes" u32) (result s32) (canon lift (core func $i "grow")))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

#[test]
fn memory_grow_past_the_app_limit_returns_minus_one_as_webassembly_defines() {
    let app = wat_app("grower", GROWER);
    let limit = belljar_host::runtime::AppResources::DEFAULT.memory as u32;
    // Growing up to the limit works; past it memory.grow says -1.
    let got = call(&app, "grow", &[Val::U32(limit - 1024)], Limits::default()).unwrap();
    assert_eq!(got, [Val::S32(1024)]);
    let got = call(&app, "grow", &[Val::U32(limit - 1023)], Limits::default()).unwrap();
    assert_eq!(got, [Val::S32(-1)]);
    // A tighter board limit is the one enforced.
    let limits = Limits {
        resources: belljar_host::runtime::AppResources {
            memory: 4096,
            ..Default::default()
        },
        ..Limits::default()
    };
    let got = call(&app, "grow", &[Val::U32(4096)], limits).unwrap();
    assert_eq!(got, [Val::S32(-1)]);
}

#[test]
fn a_guest_growing_memory_forever_is_held_at_the_limit_and_stopped() {
    // The loop never calls the host: the watchdog ends it. Memory stayed at
    // the limit the whole time (each grow said -1).
    let app = wat_app("grower", GROWER);
    let limits = Limits {
        watchdog_fuel: 2_000_000,
        ..Limits::default()
    };
    let config = SimConfig {
        limits,
        ..SimConfig::default()
    };
    let mut sim_app = SimApp::start(&app, "grower", config).unwrap();
    let t = trapped(sim_app.run());
    assert_eq!(t.kind, TrapKind::Runaway { fuel: 2_000_000 }, "{t}");
}

#[test]
fn an_app_needing_more_memory_than_allowed_fails_to_instantiate_naming_the_limit() {
    let big = r#"
(component
  (core module $m (memory 1 (pagesize 65536)) (func (export "run")))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;
    let app = wat_app("big", big);
    let limits = Limits {
        resources: belljar_host::runtime::AppResources {
            memory: 32 * 1024,
            ..Default::default()
        },
        ..Limits::default()
    };
    let config = SimConfig {
        limits,
        ..SimConfig::default()
    };
    let error = SimApp::start(&app, "big", config).err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("the app asks for 65536 bytes of linear memory; an app may have 32768"),
        "{message}"
    );
    // The same app within the default limit instantiates and runs.
    let ok = call(&app, "run", &[], Limits::default());
    assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.to_string()));
}

#[test]
fn a_uart_write_loop_takes_wire_time_and_ends_at_the_time_limit() {
    let writer = host_call_loop(
        "uart",
        "write-byte",
        r#"(param "byte" u8)"#,
        "(param i32)",
        "(call $f (i32.const 65))",
    );
    let app = wat_app("writer", &writer);
    let config = SimConfig {
        time_limit_ms: Some(1000),
        ..SimConfig::default()
    };
    let mut sim_app = SimApp::start(&app, "writer", config).unwrap();
    let exit = sim_app.run();
    assert!(
        matches!(
            exit,
            Exit::Stopped(belljar_host::Stop::TimeLimit { ms: 1000 })
        ),
        "{exit}"
    );
    // 115 200 baud, ten bits a byte, plus each call's own time: about
    // 9 400 bytes in a second, as a real UART would take them.
    let written = sim_app.board().uart_output().len() as u64;
    let per_byte = 10_000_000_000 / 115_200 + belljar_sim::DEFAULT_HOST_CALL_NS;
    assert!(
        written.abs_diff(1_000_000_000 / per_byte) <= 1,
        "{written} bytes"
    );
}

#[test]
fn a_loop_of_host_calls_that_do_not_wait_still_moves_time() {
    let app = clock_spammer();
    let config = SimConfig {
        time_limit_ms: Some(200),
        ..SimConfig::default()
    };
    let mut sim_app = SimApp::start(&app, "spammer", config).unwrap();
    let exit = sim_app.run();
    assert!(
        matches!(
            exit,
            Exit::Stopped(belljar_host::Stop::TimeLimit { ms: 200 })
        ),
        "{exit}"
    );
    // 20 us a call; its yields on fuel cost no more time (a slice with
    // host calls is charged by its calls).
    let calls = sim_app.running.store().data().host_calls;
    assert_eq!(calls, 200_000_000 / belljar_sim::DEFAULT_HOST_CALL_NS);
}
