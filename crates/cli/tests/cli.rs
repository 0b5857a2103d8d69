//! The `belljar` binary end to end: spawned as a user would run it.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

fn belljar(args: &[&str]) -> Output {
    belljar_with_stdin(args, b"")
}

fn belljar_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_belljar"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure: non-zero exit, exactly one `error:` line, no panic.
fn one_error_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure; stdout: {}",
        stdout(o)
    );
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    errors[0].to_string()
}

#[test]
fn run_prints_the_blinky_timeline() {
    let o = belljar(&["run", "guests/blinky", "--for", "2s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert_eq!(lines[0], "[   0.000 s] gpio.set-high(25)  pin 25 = high");
    assert_eq!(lines[1], "[   0.000 s] timing.delay-ms(500)");
    assert_eq!(lines[2], "[   0.500 s] gpio.set-low(25)  pin 25 = low");
    assert_eq!(lines[7], "[   1.500 s] timing.delay-ms(500)");
    assert!(
        stderr(&o).contains("stopped: time limit of 2000 ms reached"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_by_example_name_and_press_script() {
    let o = belljar(&[
        "run",
        "button-led",
        "--for",
        "1300ms",
        "--press",
        "15@1200ms..1800ms",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("[   1.190 s] gpio.set-low(25)"), "{out}");
    assert!(
        out.contains("[   1.200 s] button.is-pressed(15) -> true"),
        "{out}"
    );
    assert!(
        out.contains("[   1.200 s] gpio.set-high(25)  pin 25 = high"),
        "{out}"
    );
}

#[test]
fn run_feeds_uart_input_from_the_flag_and_from_stdin() {
    let o = belljar(&["run", "guests/uart-echo", "--uart-input", r"ok\x7f\r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let writes: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| {
            l.split("uart.write-byte(")
                .nth(1)
                .map(|r| r.trim_end_matches(')').to_string())
        })
        .collect();
    assert_eq!(
        writes,
        [
            "0x6f 'o'", "0x6b 'k'", "0x08", "0x20 ' '", "0x08", "0x0d", "0x0a"
        ]
    );
    assert!(
        stderr(&o).contains("UART input exhausted"),
        "{}",
        stderr(&o)
    );

    let o = belljar_with_stdin(&["run", "guests/uart-echo", "-q"], b"hi\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(r#"uart output: "hi\r\n""#),
        "{}",
        stderr(&o)
    );
}

#[test]
fn call_prints_wave_results() {
    let o = belljar(&["call", "guests/greeter", r#"run(some("Kevin"))"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "\"hello, Kevin!\"\n");
    let o = belljar(&["call", "greeter", "run(none)"]);
    assert_eq!(stdout(&o), "\"hello, world!\"\n");
}

#[test]
fn call_of_a_missing_export_is_one_error_line() {
    let line = one_error_line(&belljar(&["call", "guests/hello", "describe()"]));
    assert_eq!(line, "error: the component exports no function `describe`");
}

#[test]
fn call_with_ill_typed_arguments_is_one_error_line() {
    let line = one_error_line(&belljar(&["call", "guests/greeter", "run(42)"]));
    assert!(line.contains("arguments of `run` do not match"), "{line}");
}

#[test]
fn a_trapping_guest_is_reported_with_its_backtrace() {
    let o = belljar(&["call", "guests/faults", "divide(1, 0)"]);
    let line = one_error_line(&o);
    assert!(line.contains("integer divide by zero"), "{line}");
    assert!(stderr(&o).contains("guest backtrace:"), "{}", stderr(&o));
}

#[test]
fn a_crate_s_memory_is_its_budget_though_the_module_declares_no_maximum() {
    // belljar links apps with no maximum memory (Pulley's fused bounds
    // checks need a bound read at run time); the crate's `memory` (16 KiB
    // by default), which its signed package carries, still stops growth on
    // the simulator as on a device, though `--max-memory` allows more.
    let o = belljar(&["call", "guests/faults", "grow(0)", "--max-memory", "65536"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "16384\n");
    let o = belljar(&["call", "guests/faults", "grow(1)", "--max-memory", "65536"]);
    assert_eq!(stdout(&o), "-1\n");
}

#[test]
fn a_runaway_guest_is_stopped_with_a_message() {
    let o = belljar(&["run", "guests/faults", "--watchdog-fuel", "200000"]);
    let line = one_error_line(&o);
    assert!(line.contains("runaway guest"), "{line}");
    assert!(
        stderr(&o).contains("the simulated board is unaffected"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_import_is_named() {
    let dir = tempdir();
    let wat = dir.join("motor.wat");
    std::fs::write(
        &wat,
        r#"(component (import "embedded:platform/motor" (instance)))"#,
    )
    .unwrap();
    let line = one_error_line(&belljar(&["run", wat.to_str().unwrap()]));
    assert!(
        line.contains("imports `embedded:platform/motor`, which this board does not provide"),
        "{line}"
    );
}

#[test]
fn a_wrong_target_cwasm_says_how_to_rebuild() {
    let _ = cwasm("blinky", belljar_profile::Target::Pulley32);
    let out = belljar_build::GuestCrate::open(&guest_dir("blinky"))
        .unwrap()
        .out_dir();
    let path = out.join("blinky.pulley32.cwasm");
    let line = one_error_line(&belljar(&["run", path.to_str().unwrap()]));
    assert!(
        line.contains("pulley32 bytecode but this runtime executes pulley64"),
        "{line}"
    );
    assert!(line.contains("belljar build --target pulley64"), "{line}");
}

#[test]
fn a_missing_file_is_one_error_line() {
    let line = one_error_line(&belljar(&["run", "no/such/guest"]));
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn build_writes_both_targets_and_inspect_reads_them() {
    let o = belljar(&["build", "guests/blinky"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let path_of = |what: &str| -> String {
        out.lines()
            .find(|l| l.contains(what))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    let cwasm64 = path_of("pulley64 .cwasm");
    let cwasm32 = path_of("pulley32 .cwasm");
    let component = path_of("component");

    let o = belljar(&["inspect", &cwasm64]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("target:   pulley64"), "{text}");
    assert!(text.contains("profile:  matches"), "{text}");
    assert!(text.contains("embedded:platform/gpio"), "{text}");
    assert!(text.contains("set-high: func(pin: u32)"), "{text}");
    assert!(text.contains("run: func()"), "{text}");

    let text = stdout(&belljar(&["inspect", &cwasm32]));
    assert!(text.contains("target:   pulley32"), "{text}");

    let text = stdout(&belljar(&["inspect", &component]));
    assert!(text.contains("kind:     component"), "{text}");
    assert!(
        text.contains("6144 bytes initial, no maximum (its budget stops growth), 1-byte pages"),
        "{text}"
    );
    assert!(text.contains("import embedded:platform/gpio;"), "{text}");
    assert!(text.contains("export run: func();"), "{text}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "belljar-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn keygen_sign_verify_round_trip_and_refusals() {
    let dir = tempdir();
    let base = dir.join("dev");
    let other = dir.join("other");
    let _ = std::fs::remove_file(base.with_extension("key"));
    let _ = std::fs::remove_file(other.with_extension("key"));
    assert!(
        belljar(&["keygen", base.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        belljar(&["keygen", other.to_str().unwrap()])
            .status
            .success()
    );
    // A key is never overwritten.
    let line = one_error_line(&belljar(&["keygen", base.to_str().unwrap()]));
    assert!(line.contains("refusing to overwrite"), "{line}");

    let pkg = dir.join("blinky.bjpkg");
    let key = base.with_extension("key");
    let o = belljar(&[
        "sign",
        "guests/blinky",
        "--key",
        key.to_str().unwrap(),
        "--version",
        "2",
        "--world",
        "blinky",
        "--outputs",
        "25",
        "-o",
        pkg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pubkey = base.with_extension("pub");
    let o = belljar(&[
        "verify",
        pkg.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("app:      blinky v2"), "{}", stdout(&o));
    assert!(stdout(&o).contains("outputs [25]"), "{}", stdout(&o));

    let wrong = other.with_extension("pub");
    let line = one_error_line(&belljar(&[
        "verify",
        pkg.to_str().unwrap(),
        "--pubkey",
        wrong.to_str().unwrap(),
    ]));
    assert!(line.contains("signature does not verify"), "{line}");
    let line = one_error_line(&belljar(&[
        "verify",
        pkg.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
        "--installed",
        "3",
    ]));
    assert!(line.contains("anti-rollback"), "{line}");
    let mut bytes = std::fs::read(&pkg).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let tampered = dir.join("tampered.bjpkg");
    std::fs::write(&tampered, &bytes).unwrap();
    let line = one_error_line(&belljar(&[
        "verify",
        tampered.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]));
    assert!(line.contains("package refused"), "{line}");
}

/// `belljar new` makes an app crate outside the repository that builds and
/// runs there with nothing but crates.io: the SDK and WIT come with it.
#[test]
fn a_new_app_builds_and_runs_outside_the_repository() {
    let outside = tempfile::tempdir().unwrap();
    assert!(!outside.path().starts_with(repo()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_belljar"))
            .args(args)
            .current_dir(outside.path())
            .output()
            .unwrap()
    };
    let created = run(&["new", "sensor-app"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("created app `sensor-app`"));
    let app = outside.path().join("sensor-app");
    assert!(
        app.join("sdk/belljar-guest/wit/deps/wasi-i2c/i2c.wit")
            .is_file()
    );
    // Nothing in it points back into a belljar checkout.
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains(".."), "{manifest}");
    let built = run(&["build", "sensor-app"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(
        stdout(&built).contains("pulley32 .cwasm"),
        "{}",
        stdout(&built)
    );
    let ran = run(&["run", "sensor-app", "--for", "1200ms"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let out = stdout(&ran);
    assert!(out.contains("log.info: sensor-app started"), "{out}");
    assert!(
        out.contains("[   1.000 s] gpio.set-high(25)  pin 25 = high"),
        "{out}"
    );
    let summary = stderr(&ran);
    assert!(
        summary.contains("stopped: time limit of 1200 ms reached"),
        "{summary}"
    );
    // The component imports what the app uses, not the whole device world.
    let component = stdout(&built)
        .lines()
        .find(|l| l.trim_start().starts_with("component"))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_string)
        .expect("build names the component");
    let inspected = run(&["inspect", &component]);
    let text = stdout(&inspected);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    assert!(text.contains("import embedded:platform/gpio;"), "{text}");
    assert!(!text.contains("import wasi:i2c"), "{text}");
    // Its declared capabilities are what `belljar run` grants: the LED pin
    // taken away, the same app traps naming it, as a device would.
    let manifest_path = app.join("Cargo.toml");
    std::fs::write(
        &manifest_path,
        manifest.replace("outputs = [25]", "outputs = [24]"),
    )
    .unwrap();
    let refused = run(&["run", "sensor-app", "--for", "1s"]);
    let message = one_error_line(&refused);
    assert!(
        message.contains("gpio: pin 25 is not granted to this app"),
        "{message}"
    );
    // A second `new` into the same place refuses and loses nothing.
    let again = run(&["new", "sensor-app"]);
    assert!(one_error_line(&again).contains("exists and is not empty"));
    assert!(app.join("src/lib.rs").is_file());
}

/// `belljar sign` puts what the crate declares in the package, and the
/// command line can say otherwise (`--i2c BUS:ADDRESS`).
#[test]
fn sign_grants_the_declared_buses_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("dev");
    assert!(
        belljar(&["keygen", base.to_str().unwrap()])
            .status
            .success()
    );
    let key = base.with_extension("key");
    let pubkey = base.with_extension("pub");
    let sign_and_verify = |extra: &[&str]| {
        let pkg = dir.path().join("thermometer.bjpkg");
        let mut args = vec![
            "sign",
            "guests/thermometer",
            "--key",
            key.to_str().unwrap(),
            "--version",
            "1",
            "--world",
            "device",
            "-o",
            pkg.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = belljar(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = belljar(&[
            "verify",
            pkg.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let declared = sign_and_verify(&[]);
    assert!(declared.contains("outputs [25]"), "{declared}");
    // The memory it is built with is its signed budget.
    assert!(
        declared.contains("budget:   16384 bytes of linear memory"),
        "{declared}"
    );
    assert!(declared.contains("i2c [i2c0:0x48]"), "{declared}");
    assert!(
        declared.contains("wasi:i2c/i2c@0.2.0-draft")
            && declared.contains("embedded:platform/buses"),
        "{declared}"
    );
    let told = sign_and_verify(&["--i2c", "i2c0:0x49,i2c1:0x50", "--spi", "display0"]);
    assert!(told.contains("i2c [i2c0:0x49, i2c1:0x50]"), "{told}");
    assert!(told.contains("spi [\"display0\"]"), "{told}");
    assert!(told.contains("outputs []"), "{told}");
    let line = one_error_line(&belljar(&[
        "sign",
        "guests/thermometer",
        "--key",
        key.to_str().unwrap(),
        "--version",
        "1",
        "--i2c",
        "i2c0:0x148",
    ]));
    assert!(line.contains("not a 7-bit I2C address"), "{line}");
}

/// A core module built with wit-bindgen carries its component type:
/// `inspect` shows its world, imports and exports (not an empty world).
#[test]
fn inspect_shows_the_world_of_a_core_module_with_a_component_type() {
    let _ = cwasm("blinky", belljar_profile::Target::Pulley64);
    let core = belljar_build::GuestCrate::open(&guest_dir("blinky"))
        .unwrap()
        .core_wasm_path();
    let o = belljar(&["inspect", core.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("kind:     core module"), "{text}");
    assert!(text.contains("import embedded:platform/gpio;"), "{text}");
    assert!(text.contains("import embedded:platform/timing;"), "{text}");
    assert!(text.contains("export run: func();"), "{text}");
}

#[test]
fn qemu_names_its_boards_when_asked_for_an_unknown_one_and_refuses_i2c_on_the_riscv32() {
    let err = one_error_line(&belljar(&["qemu", "--board", "pdp-11", "guests/blinky"]));
    assert!(
        err.contains("there is no QEMU board `pdp-11`; the boards are: mps2-an505, riscv32-virt"),
        "{err}"
    );
    // Refused before anything is built: the virt machine has no I2C bus.
    let err = one_error_line(&belljar(&[
        "qemu",
        "--board",
        "riscv32-virt",
        "guests/blinky",
        "--i2c",
        "tmp105@0x48=21.5C",
    ]));
    assert!(
        err.contains("QEMU's riscv32-virt board has no I2C bus for devices"),
        "{err}"
    );
}
