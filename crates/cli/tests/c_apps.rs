//! Apps in C and Zig (`belljar.toml`): `belljar build` end to end, as a
//! user runs it, and the errors that say what to do. The apps' behaviour
//! against their Rust twins is in `guests.rs` (simulator) and `qemu.rs`
//! (board).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use belljar_build::{Capabilities, GuestCrate, Kind};
use common::*;

fn belljar(args: &[&str], configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_belljar"));
    command.args(args).current_dir(repo());
    configure(&mut command);
    command.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `error:` line of a failed run (exactly one, no panic).
fn error_line(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure: {}", stdout(o));
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    errors[0].to_string()
}

/// A C app in `dir`: `belljar.toml` with `toml` and `app.c` with `c`.
fn c_app(dir: &Path, toml: &str, c: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("belljar.toml"), toml).unwrap();
    std::fs::write(dir.join("app.c"), c).unwrap();
}

const BLINKY_C: &str = include_str!("../../../guests/c/blinky/blinky.c");

#[test]
fn belljar_build_and_run_a_c_app_outside_the_repository() {
    // No `wit` key: the contract this belljar carries; no CARGO_TARGET_DIR:
    // the artifacts go to the app's own target/.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-blinky");
    c_app(
        &dir,
        "world = \"blinky\"\nsources = [\"app.c\"]\nmemory = 6144\nstack = 2048\n",
        BLINKY_C,
    );
    let dir_arg = dir.to_str().unwrap();
    let o = belljar(&["build", dir_arg, "--target", "all"], |c| {
        c.env_remove("CARGO_TARGET_DIR");
    });
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("built my-blinky\n"), "{out}");
    for artifact in [
        "belljar-c/my-blinky/my_blinky.wasm",
        "belljar/my-blinky.wasm",
        "belljar/my-blinky.pulley32.cwasm",
        "belljar/my-blinky.pulley64.cwasm",
    ] {
        let path = dir.join("target").join(artifact);
        assert!(path.is_file(), "{} missing; {out}", path.display());
        assert!(out.contains(path.to_str().unwrap()), "{out}");
    }
    let o = belljar(&["run", dir_arg, "--for", "1s"], |c| {
        c.env_remove("CARGO_TARGET_DIR");
    });
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        lines[..4],
        [
            "[   0.000 s] gpio.set-high(25)  pin 25 = high",
            "[   0.000 s] timing.delay-ms(500)",
            "[   0.500 s] gpio.set-low(25)  pin 25 = low",
            "[   0.500 s] timing.delay-ms(500)",
        ]
    );
}

#[test]
fn a_missing_c_toolchain_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let o = belljar(&["build", "guests/c/blinky"], |c| {
        c.env("PATH", empty.path())
            .env_remove("BELLJAR_CC")
            .env_remove("BELLJAR_WASM_LD");
    });
    let err = error_line(&o);
    assert!(
        err.contains("clang-14 not found: apt install clang-14 lld-14 wasi-libc"),
        "{err}"
    );
}

#[test]
fn a_zig_app_without_zig_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let o = belljar(&["build", "guests/zig/blinky"], |c| {
        c.env("PATH", empty.path())
            .env("BELLJAR_CC", "/usr/bin/clang-14")
            .env("BELLJAR_WASM_LD", "/usr/bin/wasm-ld-14")
            .env_remove("BELLJAR_ZIG");
    });
    let err = error_line(&o);
    assert!(err.contains("zig not found: pip install ziglang"), "{err}");
}

#[test]
fn a_c_app_that_calls_libc_is_told_there_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("printer");
    c_app(
        &dir,
        "world = \"blinky\"\nsources = [\"app.c\"]\n",
        "#include <stdio.h>\n#include \"blinky.h\"\nvoid exports_blinky_run(void) { printf(\"%d\\n\", 42); }\n",
    );
    let o = belljar(&["build", dir.to_str().unwrap()], |_| {});
    let err = error_line(&o);
    assert!(err.contains("C app `printer` failed to link"), "{err}");
    assert!(err.contains("C apps link no libc"), "{err}");
    assert!(
        stderr(&o).contains("undefined symbol: printf"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_c_app_too_big_for_its_memory_names_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hog");
    c_app(
        &dir,
        "world = \"blinky\"\nsources = [\"app.c\"]\nmemory = 6144\nstack = 2048\n",
        "#include \"blinky.h\"\nstatic volatile char big[8000];\n\
         void exports_blinky_run(void) { big[7999] = 1; }\n",
    );
    let o = belljar(&["build", dir.to_str().unwrap()], |_| {});
    let err = error_line(&o);
    assert!(err.contains("C app `hog`"), "{err}");
    assert!(err.contains("but has 6144"), "{err}");
    assert!(err.contains("raise `memory`"), "{err}");
}

#[test]
fn a_c_app_naming_an_unknown_world_is_told_the_worlds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lost");
    c_app(
        &dir,
        "world = \"blinkyy\"\nsources = [\"app.c\"]\n",
        BLINKY_C,
    );
    let o = belljar(&["build", dir.to_str().unwrap()], |_| {});
    let err = error_line(&o);
    assert!(err.contains("no world `blinkyy`"), "{err}");
    assert!(err.contains("blinky, button-led, uart-echo"), "{err}");
}

#[test]
fn a_c_app_with_a_compile_error_points_at_clangs_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("broken");
    c_app(
        &dir,
        "world = \"blinky\"\nsources = [\"app.c\"]\n",
        "#include \"blinky.h\"\nvoid exports_blinky_run(void) { nope(); }\n",
    );
    let o = belljar(&["build", dir.to_str().unwrap()], |_| {});
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("app.c:2"), "{err}");
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("error: C app `broken`"), "{err}");
    assert!(
        last.contains("failed to compile (clang's errors are above)"),
        "{err}"
    );
}

#[test]
fn a_c_app_declares_capabilities_and_memory_as_a_rust_crate_does() {
    let c = GuestCrate::open(&guest_dir("c/thermometer")).unwrap();
    let rust = GuestCrate::open(&guest_dir("thermometer")).unwrap();
    assert!(matches!(c.kind, Kind::C(_)), "{:?}", c.kind);
    assert_eq!(rust.kind, Kind::Rust);
    assert_eq!(
        c.capabilities,
        Some(Capabilities {
            outputs: vec![25],
            i2c: vec!["i2c0:0x48".to_string()],
            ..Capabilities::default()
        })
    );
    assert_eq!(c.capabilities, rust.capabilities);
    assert_eq!(c.memory, rust.memory);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("typo");
    c_app(
        &dir,
        "world = \"blinky\"\nsources = [\"app.c\"]\n[capabilities]\noutput = [25]\n",
        BLINKY_C,
    );
    let err = GuestCrate::open(&dir).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown key `output` in capabilities"),
        "{err:#}"
    );
}

/// `belljar run` grants a C app exactly what its belljar.toml declares, as
/// it does a Rust crate: the thermometer may not address 0x49.
#[test]
fn belljar_run_grants_a_c_app_its_declared_capabilities() {
    let o = belljar(
        &[
            "run",
            "c/thermometer",
            "--for",
            "500ms",
            "--i2c",
            "tmp105@0x48=22C",
        ],
        |_| {},
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("log.info: temperature 22.0 C"), "{out}");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snoop");
    let source = include_str!("../../../guests/c/thermometer/thermometer.c")
        .replace("#define SENSOR 0x48", "#define SENSOR 0x49");
    c_app(
        &dir,
        &format!(
            "world = \"device\"\nsources = [\"app.c\"]\nwit = \"{}\"\n\
             [capabilities]\noutputs = [25]\ni2c = [\"i2c0:0x48\"]\n",
            repo().join("wit").display()
        ),
        &source,
    );
    let o = belljar(
        &[
            "run",
            dir.to_str().unwrap(),
            "--for",
            "500ms",
            "--i2c",
            "tmp105@0x49=22C",
        ],
        |_| {},
    );
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("0x49"), "{all}");
    assert!(!all.contains("temperature 22.0 C"), "{all}");
}

/// `belljar sign` signs what a C app's belljar.toml declares, and the
/// interfaces its component imports, as for a Rust crate.
#[test]
fn belljar_sign_signs_a_c_apps_declared_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("dev");
    let o = belljar(&["keygen", base.to_str().unwrap()], |_| {});
    assert!(o.status.success(), "{}", stderr(&o));
    let pkg = dir.path().join("thermometer-c.bjpkg");
    let o = belljar(
        &[
            "sign",
            "guests/c/thermometer",
            "--key",
            base.with_extension("key").to_str().unwrap(),
            "--version",
            "1",
            "--world",
            "device",
            "-o",
            pkg.to_str().unwrap(),
        ],
        |_| {},
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = belljar(
        &[
            "verify",
            pkg.to_str().unwrap(),
            "--pubkey",
            base.with_extension("pub").to_str().unwrap(),
        ],
        |_| {},
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("app:      thermometer-c v1"), "{out}");
    assert!(
        out.contains(
            "grants:   outputs [25], inputs [], analog [], i2c [i2c0:0x48], spi [], interfaces \
             [\"embedded:platform/gpio\", \"embedded:platform/timing\", \"embedded:platform/log\", \
             \"wasi:i2c/i2c@0.2.0-draft\", \"embedded:platform/buses\"]"
        ),
        "{out}"
    );
    assert!(
        out.contains("budget:   16384 bytes of linear memory"),
        "{out}"
    );
}
