//! Cross-target equivalence: the same guest on the desktop simulator
//! (pulley64) and on real firmware in QEMU (pulley32) makes the same host
//! calls, with the same effects, at the same times; on the Cortex-M33 of
//! QEMU's mps2-an505 and on the 32-bit RISC-V core of QEMU's virt machine
//! alike (each example guest's check runs once per board, and the RISC-V
//! board's timeline is also compared with the Cortex-M33's).
//!
//! These tests boot QEMU; they need `qemu-system-arm`, `qemu-system-riscv32`
//! and the thumbv8m.main-none-eabihf and riscv32imac-unknown-none-elf
//! targets (`./scripts/test` installs them).

mod common;

use std::collections::VecDeque;

use belljar_cli::qemu::{self, FirmwareSettings, MPS2_AN505, QemuBoard, QemuOutcome, RISCV32_VIRT};
use belljar_sim::{Press, SimConfig, UartInput};
use common::*;

/// Timeline lines `[   1.500 s] text` from a console, as `(ms, text)`.
fn timeline(console: &str) -> Vec<(u64, String)> {
    console
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (stamp, text) = rest.split_once(" s] ")?;
            let (s, ms) = stamp.trim().split_once('.')?;
            Some((
                s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?,
                text.to_string(),
            ))
        })
        .collect()
}

fn on_qemu(guest: &str, settings: FirmwareSettings, uart: &[u8]) -> QemuOutcome {
    on_board(&MPS2_AN505, guest, settings, uart)
}

fn on_board(
    board: &QemuBoard,
    guest: &str,
    settings: FirmwareSettings,
    uart: &[u8],
) -> QemuOutcome {
    let cwasm = qemu::build_guest(&guest_dir(guest)).unwrap();
    let elf = qemu::build_firmware_for(board, &[cwasm.as_path()], &settings).unwrap();
    qemu::boot_on(board, &elf, uart, false).unwrap()
}

/// Same calls in the same order; times equal within `tolerance_ms` (the
/// device spends real, if tiny, time executing between delays).
fn assert_equivalent(sim: &[(u64, String)], device: &[(u64, String)], tolerance_ms: u64) {
    assert!(!sim.is_empty());
    let texts = |t: &[(u64, String)]| t.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
    assert_eq!(
        texts(device),
        texts(sim),
        "the device's host calls differ from the simulator's"
    );
    for ((ts, text), (td, _)) in sim.iter().zip(device) {
        assert!(
            ts.abs_diff(*td) <= tolerance_ms,
            "`{text}` at {ts} ms on the simulator, {td} ms on the device"
        );
    }
}

fn settings(for_ms: u64) -> FirmwareSettings {
    FirmwareSettings {
        for_ms: Some(for_ms),
        trace: true,
        ..FirmwareSettings::default()
    }
}

/// blinky on `board` against the simulator; the device's timeline.
fn blinky_matches_the_simulator(board: &QemuBoard) -> Vec<(u64, String)> {
    let (_, sim) = run_for("blinky", 3000, SimConfig::default());
    let device = on_board(board, "blinky", settings(3000), b"");
    assert_eq!(device.status, 0, "{}", device.console);
    let device = timeline(&device.console);
    assert_equivalent(&pairs(&sim), &device, 1);
    device
}

/// button-led with the same scripted presses on `board` and the simulator.
fn button_led_matches_the_simulator(board: &QemuBoard) -> Vec<(u64, String)> {
    let press = Press {
        pin: 15,
        from_ms: 1205,
        to_ms: 1805,
    };
    let config = SimConfig {
        presses: vec![press],
        ..SimConfig::default()
    };
    let (_, sim) = run_for("button-led", 2500, config);
    let mut s = settings(2500);
    s.presses = vec!["15@1205ms..1805ms".to_string()];
    let device = on_board(board, "button-led", s, b"");
    assert_eq!(device.status, 0, "{}", device.console);
    let device = timeline(&device.console);
    assert_equivalent(&pairs(&sim), &device, 2);
    device
}

fn servo_sweep_matches_the_simulator(board: &QemuBoard) -> Vec<(u64, String)> {
    let (_, sim) = run_for("servo-sweep", 8000, SimConfig::default());
    let device = on_board(board, "servo-sweep", settings(8000), b"");
    assert_eq!(device.status, 0, "{}", device.console);
    let device = timeline(&device.console);
    assert_equivalent(&pairs(&sim), &device, 2);
    device
}

/// uart-echo's bytes through `board`'s emulated UART, as on the simulator.
fn uart_echo_matches_the_simulator(board: &QemuBoard) -> Vec<(u64, String)> {
    let input = b"hi\x7f!\r";
    let config = SimConfig {
        uart: UartInput::Bytes(VecDeque::from(input.to_vec())),
        ..SimConfig::default()
    };
    let mut running = start("uart-echo", config);
    running.run();
    let sim: Vec<String> = running
        .board()
        .trace()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    let s = FirmwareSettings {
        uart_idle_ms: Some(200),
        trace: true,
        ..FirmwareSettings::default()
    };
    let device = on_board(board, "uart-echo", s, input);
    let lines = timeline(&device.console);
    let texts: Vec<String> = lines.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(texts, sim, "{}", device.console);
    lines
}

#[test]
fn blinky_is_the_same_on_the_simulator_and_the_cortex_m33() {
    blinky_matches_the_simulator(&MPS2_AN505);
}

#[test]
fn button_led_follows_the_same_scripted_presses() {
    button_led_matches_the_simulator(&MPS2_AN505);
}

#[test]
fn servo_sweep_makes_the_same_moves() {
    servo_sweep_matches_the_simulator(&MPS2_AN505);
}

#[test]
fn uart_echo_echoes_the_same_bytes_through_the_emulated_uart() {
    uart_echo_matches_the_simulator(&MPS2_AN505);
}

// The same four on the RISC-V board: each against the simulator, then
// against the Cortex-M33 (same calls; times within the same tolerance).

#[test]
fn blinky_is_the_same_on_the_riscv32_the_simulator_and_the_cortex_m33() {
    let riscv = blinky_matches_the_simulator(&RISCV32_VIRT);
    assert_equivalent(&blinky_matches_the_simulator(&MPS2_AN505), &riscv, 1);
}

#[test]
fn button_led_follows_the_same_presses_on_the_riscv32() {
    let riscv = button_led_matches_the_simulator(&RISCV32_VIRT);
    assert_equivalent(&button_led_matches_the_simulator(&MPS2_AN505), &riscv, 2);
}

#[test]
fn servo_sweep_makes_the_same_moves_on_the_riscv32() {
    let riscv = servo_sweep_matches_the_simulator(&RISCV32_VIRT);
    assert_equivalent(&servo_sweep_matches_the_simulator(&MPS2_AN505), &riscv, 2);
}

#[test]
fn uart_echo_echoes_the_same_bytes_through_the_riscv32_uart() {
    let riscv = uart_echo_matches_the_simulator(&RISCV32_VIRT);
    let texts = |t: Vec<(u64, String)>| t.into_iter().map(|(_, s)| s).collect::<Vec<_>>();
    assert_eq!(
        texts(riscv),
        texts(uart_echo_matches_the_simulator(&MPS2_AN505))
    );
}

#[test]
fn the_device_refuses_a_pulley64_artifact_and_stays_up() {
    let cwasm64 = cwasm_path("blinky", belljar_profile::Target::Pulley64);
    let elf = qemu::build_firmware(&[cwasm64.as_path()], &settings(1000)).unwrap();
    let device = qemu::boot(&elf, b"", false).unwrap();
    assert_eq!(device.status, 1, "{}", device.console);
    assert!(
        device
            .console
            .contains("pulley64 bytecode but this runtime executes pulley32"),
        "{}",
        device.console
    );
}

#[test]
fn the_device_stops_a_runaway_guest_with_its_watchdog() {
    let mut s = settings(10_000);
    s.watchdog_fuel = Some(1_000_000);
    let device = on_qemu("faults", s, b"");
    assert_eq!(device.status, 1, "{}", device.console);
    assert!(
        device.console.contains("runaway guest"),
        "{}",
        device.console
    );
    assert!(
        device.console.contains("faults.wasm!run"),
        "{}",
        device.console
    );
}

#[test]
fn heap_exhaustion_while_instantiating_is_an_error_not_an_abort() {
    let mut s = settings(1000);
    // Enough for the engine and the loaded and linked component (about
    // 9 KiB), not for the store and instance (about 22 KiB more): the
    // fiber stack or the linear memory is refused, both fallible requests.
    s.heap = Some(14 * 1024);
    let device = on_qemu("blinky", s, b"");
    assert_eq!(device.status, 1, "{}", device.console);
    assert!(device.console.contains("error:"), "{}", device.console);
    // The error says what to change.
    assert!(
        device
            .console
            .contains("the heap is full: it has 14336 bytes and a"),
        "{}",
        device.console
    );
    assert!(
        device.console.contains("BELLJAR_HEAP="),
        "{}",
        device.console
    );
    assert!(
        !device.console.contains("firmware panic"),
        "{}",
        device.console
    );
    assert!(!device.console.contains("hard fault"), "{}", device.console);
}

/// Timeline lines of one app (or `firmware`) when several share the
/// console (`[   1.500 s] blinky: gpio.set-low(25) ...`), as `(ms, text)`.
fn lines_of(console: &str, source: &str) -> Vec<(u64, String)> {
    let prefix = format!("{source}: ");
    timeline(console)
        .into_iter()
        .filter_map(|(ms, text)| Some((ms, text.strip_prefix(&prefix)?.to_string())))
        .collect()
}

fn on_qemu_together(guests: &[&str], settings: FirmwareSettings, uart: &[u8]) -> QemuOutcome {
    let cwasms: Vec<_> = guests
        .iter()
        .map(|g| qemu::build_guest(&guest_dir(g)).unwrap())
        .collect();
    let paths: Vec<&std::path::Path> = cwasms.iter().map(|p| p.as_path()).collect();
    let elf = qemu::build_firmware(&paths, &settings).unwrap();
    qemu::boot(&elf, uart, false).unwrap()
}

/// Three example apps side by side on the board's default RAM and heap.
#[test]
fn blinky_uart_echo_and_servo_sweep_run_at_the_same_time_on_the_default_board() {
    let input = b"hi\x7f!\r";
    let mut s = settings(3000);
    s.uart_idle_ms = Some(200);
    let device = on_qemu_together(&["blinky", "uart-echo", "servo-sweep"], s, input);
    let console = &device.console;
    assert_eq!(device.status, 0, "{console}");
    assert!(
        console.contains("uart-echo: stopped: UART input exhausted"),
        "{console}"
    );
    assert!(
        console.contains("blinky: stopped: time limit of 3000 ms reached"),
        "{console}"
    );
    // Each app does exactly what it does alone on the simulator.
    let (_, blinky) = run_for("blinky", 3000, SimConfig::default());
    assert_equivalent(&pairs(&blinky), &lines_of(console, "blinky"), 1);
    let config = SimConfig {
        uart: UartInput::Bytes(VecDeque::from(input.to_vec())),
        ..SimConfig::default()
    };
    let (_, echo) = run_for("uart-echo", 3000, config);
    let texts = |t: Vec<(u64, String)>| t.into_iter().map(|(_, s)| s).collect::<Vec<_>>();
    assert_eq!(
        texts(lines_of(console, "uart-echo")),
        texts(pairs(&echo)),
        "{console}"
    );
    let (_, servo) = run_for("servo-sweep", 3000, SimConfig::default());
    assert_equivalent(&pairs(&servo), &lines_of(console, "servo-sweep"), 2);
    assert!(console.contains(" 0 failed)"), "{console}");
}

#[test]
fn the_firmware_heartbeat_keeps_its_period_while_a_guest_spins() {
    // `faults`' run is `loop {}` without host calls. 100 M fuel of watchdog
    // is about 1.5 s of Cortex-M33 time: the heartbeat (every 100 ms) and
    // blinky must keep their schedule through it, and blinky must go on
    // after the spinner is stopped.
    let mut s = settings(2500);
    s.heartbeat_ms = Some(100);
    s.watchdog_fuel = Some(100_000_000);
    let device = on_qemu_together(&["blinky", "faults"], s, b"");
    let console = &device.console;
    assert_eq!(device.status, 1, "the spinner traps: {console}");
    assert!(
        console.contains("faults: trap kind: watchdog (runaway guest)"),
        "{console}"
    );

    let beats = lines_of(console, "firmware");
    assert!(beats.len() >= 24, "{console}");
    let mut latest = 0;
    for (i, (at, text)) in beats.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(text.split(" (").next().unwrap(), format!("heartbeat {n}"));
        assert_eq!(*at, n * 100, "{text}");
        let late_ns: u64 = text
            .split("(+")
            .nth(1)
            .and_then(|t| t.strip_suffix(" ns)"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no lateness in `{text}`"));
        latest = latest.max(late_ns);
    }
    // A beat waits at most for the fuel slice in progress (10 000 fuel,
    // a few hundred thousand instructions = a few tenths of a ms under
    // -icount shift=0): well within one 1 ms tick.
    assert!(latest <= 1_000_000, "a heartbeat ran {latest} ns late");
    eprintln!("heartbeat: {} beats, at most {latest} ns late", beats.len());

    // The spinner ran for many beats before it was stopped...
    let trap_line = console.find("faults: error").unwrap();
    let beats_before = console[..trap_line].matches("firmware: heartbeat").count();
    assert!(beats_before >= 10, "{console}");
    // ...and blinky was on time throughout and after.
    let (_, alone) = run_for("blinky", 2500, SimConfig::default());
    assert_equivalent(&pairs(&alone), &lines_of(console, "blinky"), 1);
}

/// `fp probe: P polls, M main-side corruptions, C fiber-side checks, L
/// fiber-side leaks` as numbers.
fn fp_probe(console: &str) -> [u64; 4] {
    let line = console
        .lines()
        .find(|l| l.starts_with("fp probe:"))
        .unwrap_or_else(|| panic!("no fp probe line in:\n{console}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    numbers.try_into().unwrap()
}

fn fp_run(isolation: bool) -> (QemuOutcome, [u64; 4]) {
    let mut s = settings(1500);
    s.fp_probe = true;
    s.fp_isolation = isolation;
    s.watchdog_fuel = Some(5_000_000);
    // blinky awaits timers (host calls on its fiber); faults computes and
    // yields every 10 000 fuel: both kinds of fiber switch.
    let device = on_qemu_together(&["blinky", "faults"], s, b"");
    let probe = fp_probe(&device.console);
    (device, probe)
}

#[test]
fn fp_registers_s16_to_s31_survive_every_fiber_switch() {
    let (device, [polls, main, checks, leaks]) = fp_run(true);
    eprintln!(
        "isolated: {polls} polls, {main} main-side corruptions, {checks} fiber-side checks, {leaks} leaks"
    );
    assert!(polls > 100, "{}", device.console);
    assert!(checks > 0, "{}", device.console);
    assert_eq!((main, leaks), (0, 0), "{}", device.console);
    // The guests behaved as without the probe.
    let (_, alone) = run_for("blinky", 1500, SimConfig::default());
    assert_equivalent(&pairs(&alone), &lines_of(&device.console, "blinky"), 1);
}

#[test]
fn without_belljar_isolation_wasmtime_48_leaks_fp_registers_across_the_switch() {
    // Wasmtime 48.0.8's ARM `wasmtime_fiber_switch` saves r4-r11 and lr
    // only: the fiber runs with the executor's s16-s31. This test shows the
    // probe catches it (if it ever passes, upstream fixed the switch and the
    // workaround can go).
    let (device, [polls, main, checks, leaks]) = fp_run(false);
    eprintln!(
        "not isolated: {polls} polls, {main} main-side corruptions, {checks} fiber-side checks, {leaks} leaks"
    );
    assert!(checks > 0, "{}", device.console);
    assert!(main + leaks > 0, "{}", device.console);
}

/// Device apps on the Cortex-M33 with QEMU's own I2C device models on the
/// SBCon bus: the thermometer (unmodified `lm75` driver) reads QEMU's
/// tmp105 and the boot counter (unmodified `eeprom24x`) counts in QEMU's
/// at24c EEPROM, side by side on the board's default RAM and heap.
#[test]
fn i2c_apps_read_qemus_sensor_and_eeprom_as_on_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let eeprom = dir.path().join("eeprom.bin");
    let sensor: belljar_sim::devices::I2cSpec = "tmp105@0x48=21.5C".parse().unwrap();
    let memory: belljar_sim::devices::I2cSpec = format!("at24c256@0x50={}", eeprom.display())
        .parse()
        .unwrap();
    let devices = qemu::Devices {
        i2c: vec![sensor.clone(), memory.clone()],
    };
    let cwasms: Vec<_> = ["thermometer", "boot-counter"]
        .iter()
        .map(|g| qemu::build_guest(&guest_dir(g)).unwrap())
        .collect();
    let paths: Vec<&std::path::Path> = cwasms.iter().map(|p| p.as_path()).collect();
    let elf = qemu::build_firmware(&paths, &settings(3500)).unwrap();

    // First boot: the same timeline as each app alone on the simulator.
    let device = qemu::boot_with(&elf, b"", false, &devices, |_, _| Ok(())).unwrap();
    let console = &device.console;
    assert_eq!(device.status, 0, "{console}");
    let sim_devices = SimConfig {
        i2c: vec![sensor.clone()],
        ..SimConfig::default()
    };
    let (_, thermometer) = run_for("thermometer", 3500, sim_devices);
    assert_equivalent(&pairs(&thermometer), &lines_of(console, "thermometer"), 1);
    let sim_eeprom = SimConfig {
        i2c: vec!["at24c256@0x50".parse().unwrap()],
        ..SimConfig::default()
    };
    let (_, counter) = run_for("boot-counter", 3500, sim_eeprom);
    assert_equivalent(&pairs(&counter), &lines_of(console, "boot-counter"), 1);
    assert!(
        console.contains("boot-counter: log.info: boot 1"),
        "{console}"
    );

    // Second boot: the count went on in QEMU's EEPROM file, and the
    // thermometer follows the sensor when QEMU's value changes mid-run.
    let mut changed = false;
    let device = qemu::boot_with(&elf, b"", false, &devices, |console, qmp| {
        if !changed && console.contains("thermometer: log.info: temperature 21.5 C") {
            qmp.expect("QMP with devices")
                .set_temperature("i2c0", 31.0)?;
            changed = true;
        }
        Ok(())
    })
    .unwrap();
    let console = &device.console;
    assert_eq!(device.status, 0, "{console}");
    assert!(
        console.contains("boot-counter: log.info: boot 2"),
        "{console}"
    );
    let readings: Vec<String> = lines_of(console, "thermometer")
        .into_iter()
        .filter(|(_, t)| t.starts_with("log.info") || t.starts_with("gpio"))
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        readings.first().map(String::as_str),
        Some("log.info: temperature 21.5 C")
    );
    assert!(
        readings
            .windows(2)
            .any(|w| w[0] == "log.info: temperature 31.0 C"
                && w[1] == "gpio.set-high(25)  pin 25 = high"),
        "{console}"
    );
    assert_eq!(&std::fs::read(&eeprom).unwrap()[..4], &2u32.to_le_bytes());
}

/// A fiber stack too small for the app: the Cortex-M33's stack limit stops
/// it at the stack's bottom, and the report names the app, instead of the
/// overflow silently running into the heap below.
#[test]
fn a_fiber_stack_overflow_is_caught_by_the_stack_limit_and_names_the_app() {
    let mut s = settings(1000);
    s.fiber_stack = Some(1024);
    s.wasm_stack = Some(1024);
    let device = on_qemu("blinky", s, b"");
    let console = &device.console;
    assert_eq!(device.status, 3, "{console}");
    assert!(
        console
            .contains("native stack overflow: app `blinky` overflowed its 1024-byte fiber stack"),
        "{console}"
    );
}

/// Grows its 1 KiB memory by 31 KiB (pin 24 high if that worked), then
/// past 64 KiB (pin 24 low if that was refused, as it must be).
const GROWER: &str = r#"
(component
  (import "embedded:platform/gpio" (instance $gpio
    (export "set-high" (func (param "pin" u32)))
    (export "set-low" (func (param "pin" u32)))))
  (core func $high (canon lower (func $gpio "set-high")))
  (core func $low (canon lower (func $gpio "set-low")))
  (core module $m
    (import "gpio" "high" (func $high (param i32)))
    (import "gpio" "low" (func $low (param i32)))
    (memory 1024 (pagesize 1))
    (func (export "run")
      (if (i32.ne (memory.grow (i32.const 31744)) (i32.const -1))
        (then (call $high (i32.const 24))))
      (if (i32.eq (memory.grow (i32.const 65536)) (i32.const -1))
        (then (call $low (i32.const 24))))))
  (core instance $i (instantiate $m (with "gpio" (instance
    (export "high" (func $high)) (export "low" (func $low))))))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

/// A component written as WAT, precompiled for the Cortex-M33 into `dir`.
fn wat_cwasm(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.wat"));
    std::fs::write(&path, text).unwrap();
    let component = belljar_cli::guest::component_bytes(&path).unwrap();
    let bytes = belljar_build::precompile(&component, belljar_profile::Target::Pulley32).unwrap();
    let out = dir.join(format!("{name}.pulley32.cwasm"));
    std::fs::write(&out, bytes).unwrap();
    out
}

/// The per-app resource limits hold on the Cortex-M33 as on the simulator:
/// `memory.grow` past 64 KiB gives -1 (the app sees it and says so on pin
/// 24), an app asking for more memory than allowed fails to instantiate with
/// the limit named, and blinky beside them keeps its timeline.
#[test]
fn app_memory_limits_hold_on_the_cortex_m33() {
    let big = r#"
(component
  (core module $m (memory 2 (pagesize 65536)) (func (export "run")))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;
    let dir = tempfile::tempdir().unwrap();
    let blinky = qemu::build_guest(&guest_dir("blinky")).unwrap();
    let grower = wat_cwasm(dir.path(), "grower", GROWER);
    let big = wat_cwasm(dir.path(), "big", big);
    let elf = qemu::build_firmware(
        &[blinky.as_path(), grower.as_path(), big.as_path()],
        &settings(1500),
    )
    .unwrap();
    let device = qemu::boot(&elf, b"", false).unwrap();
    let console = &device.console;
    assert_eq!(
        lines_of(console, "grower"),
        [
            (0, "gpio.set-high(24)  pin 24 = high".to_string()),
            (0, "gpio.set-low(24)  pin 24 = low".to_string())
        ],
        "{console}"
    );
    assert!(
        console.contains(
            "big: error: the app asks for 131072 bytes of linear memory; an app may have 65536"
        ),
        "{console}"
    );
    let (_, sim) = run_for("blinky", 1500, SimConfig::default());
    assert_equivalent(&pairs(&sim), &lines_of(console, "blinky"), 1);
}

/// A component whose core module imports `gpio.set-high` as `$high` and
/// has `body` (its memory and an exported `run`).
fn gpio_app(body: &str) -> String {
    format!(
        r#"
(component
  (import "embedded:platform/gpio" (instance $gpio
    (export "set-high" (func (param "pin" u32)))))
  (core func $high (canon lower (func $gpio "set-high")))
  (core module $m
    (import "gpio" "high" (func $high (param i32))){body})
  (core instance $i (instantiate $m (with "gpio" (instance (export "high" (func $high))))))
  (func (export "run") (canon lift (core func $i "run"))))
"#
    )
}

/// Wasmtime expands a `memory.copy` of a constant 16..=128 bytes into
/// 128-bit loads and stores (Pulley vector opcodes), whatever the wasm
/// features: Rust guests emit such copies for any struct moved by value. The
/// board's interpreter must run them (it once had its SIMD opcodes compiled
/// out, and such an app trapped on the board but not on the simulator).
#[test]
fn constant_length_memory_copies_run_on_the_cortex_m33() {
    let copier = gpio_app(
        r#"
    (memory 1024 (pagesize 1))
    (data (i32.const 0) "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?")
    (func (export "run")
      (memory.copy (i32.const 100) (i32.const 0) (i32.const 64))
      (if (i64.eq (i64.load (i32.const 156)) (i64.load (i32.const 56)))
        (then (call $high (i32.const 24)))))"#,
    );
    // Beside it, pulley32's bounds checks at the end of a memory with no
    // declared maximum (as belljar links apps): the last word reads (pin 26
    // high), one byte further traps before pin 27 is touched.
    let edge = gpio_app(
        r#"
    (memory 1024 (pagesize 1))
    (func (export "run")
      (drop (i32.load (i32.const 1020)))
      (call $high (i32.const 26))
      (drop (i32.load (i32.const 1021)))
      (call $high (i32.const 27)))"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let copier = wat_cwasm(dir.path(), "copier", &copier);
    let edge = wat_cwasm(dir.path(), "edge", &edge);
    let elf = qemu::build_firmware(&[copier.as_path(), edge.as_path()], &settings(100)).unwrap();
    let device = qemu::boot(&elf, b"", false).unwrap();
    let console = &device.console;
    let high = |pin| (0, format!("gpio.set-high({pin})  pin {pin} = high"));
    assert_eq!(lines_of(console, "copier"), [high(24)], "{console}");
    assert_eq!(lines_of(console, "edge"), [high(26)], "{console}");
    assert!(
        console.contains("edge: error: guest trapped: wasm trap: out of bounds memory access"),
        "{console}"
    );
}

/// A button wait on the board sleeps until the scripted press makes its
/// edge; a wait no press will ever end (no time limit either) stops that
/// app with an error that says why, and the app beside it carries on.
#[test]
fn a_button_wait_no_press_can_end_stops_only_that_app() {
    let waiter = r#"
(component
  (import "embedded:platform/gpio" (instance $gpio
    (export "set-high" (func (param "pin" u32)))))
  (import "embedded:platform/digital" (instance $digital
    (type $e (enum "rising" "falling" "any"))
    (export "edge" (type $edge (eq $e)))
    (export "wait-for-edge" (func (param "pin" u32) (param "edge" $edge)))))
  (core func $high (canon lower (func $gpio "set-high")))
  (core func $wait (canon lower (func $digital "wait-for-edge")))
  (core module $m
    (import "gpio" "high" (func $high (param i32)))
    (import "digital" "wait" (func $wait (param i32 i32)))
    (func (export "run")
      (call $wait (i32.const 15) (i32.const 1))
      (call $high (i32.const 16))
      (call $wait (i32.const 15) (i32.const 1))
      (call $high (i32.const 17))))
  (core instance $i (instantiate $m
    (with "gpio" (instance (export "high" (func $high))))
    (with "digital" (instance (export "wait" (func $wait))))))
  (func (export "run") (canon lift (core func $i "run"))))
"#;
    let dir = tempfile::tempdir().unwrap();
    let waiter = wat_cwasm(dir.path(), "waiter", waiter);
    let beside = gpio_app(
        r#"
    (func (export "run") (call $high (i32.const 24)))"#,
    );
    let beside = wat_cwasm(dir.path(), "beside", &beside);
    let settings = FirmwareSettings {
        for_ms: None,
        presses: vec!["15@50..80".into()],
        trace: true,
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_firmware(&[waiter.as_path(), beside.as_path()], &settings).unwrap();
    let device = qemu::boot(&elf, b"", false).unwrap();
    let console = &device.console;
    // The press (active low) falls at 50 ms; no press falls after it, so
    // the second wait stops the app before pin 17.
    let wait = (50, "digital.wait-for-edge(15, falling)".to_string());
    let high = (50, "gpio.set-high(16)  pin 16 = high".to_string());
    assert_eq!(
        lines_of(console, "waiter"),
        [wait.clone(), high, wait],
        "{console}"
    );
    assert_eq!(
        lines_of(console, "beside"),
        [(0, "gpio.set-high(24)  pin 24 = high".to_string())],
        "{console}"
    );
    assert!(
        console.contains(
            "waiter: stopped: the app waits for an input change that no scripted input \
             (BELLJAR_PRESS) makes"
        ),
        "{console}"
    );
}

/// An app cannot take the heap the host and the other apps need: on a small
/// heap its growth is refused (-1) although its own limit would allow it,
/// and the board carries on.
#[test]
fn an_apps_growth_leaves_the_shared_heap_its_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let grower = wat_cwasm(dir.path(), "grower", GROWER);
    let mut s = settings(500);
    s.heap = Some(64 * 1024);
    let elf = qemu::build_firmware(&[grower.as_path()], &s).unwrap();
    let device = qemu::boot(&elf, b"", false).unwrap();
    let console = &device.console;
    assert_eq!(device.status, 0, "{console}");
    // Both growths refused: only the second check's pin write happens.
    assert_eq!(
        timeline(console),
        [(0, "gpio.set-low(24)  pin 24 = low".to_string())],
        "{console}"
    );
    assert!(console.contains(" 0 failed)"), "{console}");
}

/// The C twins of the example apps (`guests/c`, built from `belljar.toml`
/// with clang) and blinky in Zig on the Cortex-M33: each makes the
/// timeline its Rust app makes on the simulator. Several boots: blinky,
/// button-led and the thermometer all drive the LED on pin 25.
#[test]
fn c_apps_on_the_cortex_m33_make_the_rust_apps_timelines() {
    // uart-echo and the thermometer side by side, on QEMU's tmp105.
    let input = b"hi\x7f!\r";
    let sensor: belljar_sim::devices::I2cSpec = "tmp105@0x48=21.5C".parse().unwrap();
    let mut s = settings(3500);
    s.uart_idle_ms = Some(200);
    let cwasms: Vec<_> = ["c/uart-echo", "c/thermometer"]
        .iter()
        .map(|g| qemu::build_guest(&guest_dir(g)).unwrap())
        .collect();
    let paths: Vec<&std::path::Path> = cwasms.iter().map(|p| p.as_path()).collect();
    let elf = qemu::build_firmware(&paths, &s).unwrap();
    let devices = qemu::Devices {
        i2c: vec![sensor.clone()],
    };
    let device = qemu::boot_with(&elf, input, false, &devices, |_, _| Ok(())).unwrap();
    let console = &device.console;
    assert_eq!(device.status, 0, "{console}");
    let config = SimConfig {
        uart: UartInput::Bytes(VecDeque::from(input.to_vec())),
        ..SimConfig::default()
    };
    let (_, echo) = run_for("uart-echo", 3500, config);
    let texts = |t: Vec<(u64, String)>| t.into_iter().map(|(_, s)| s).collect::<Vec<_>>();
    assert_eq!(
        texts(lines_of(console, "uart-echo-c")),
        texts(pairs(&echo)),
        "{console}"
    );
    let sim_sensor = SimConfig {
        i2c: vec![sensor],
        ..SimConfig::default()
    };
    let (_, thermometer) = run_for("thermometer", 3500, sim_sensor);
    assert_equivalent(&pairs(&thermometer), &lines_of(console, "thermometer-c"), 1);

    // Blinky in C and in Zig.
    let (_, blinky) = run_for("blinky", 3000, SimConfig::default());
    for twin in ["c/blinky", "zig/blinky"] {
        let device = on_qemu(twin, settings(3000), b"");
        assert_eq!(device.status, 0, "{twin}: {}", device.console);
        assert_equivalent(&pairs(&blinky), &timeline(&device.console), 1);
    }

    let config = SimConfig {
        presses: vec![Press {
            pin: 15,
            from_ms: 1205,
            to_ms: 1805,
        }],
        ..SimConfig::default()
    };
    let (_, button_led) = run_for("button-led", 2500, config);
    let mut s = settings(2500);
    s.presses = vec!["15@1205ms..1805ms".to_string()];
    let device = on_qemu("c/button-led", s, b"");
    assert_eq!(device.status, 0, "{}", device.console);
    assert_equivalent(&pairs(&button_led), &timeline(&device.console), 2);
}

/// The same too-small fiber stack on the RISC-V board, which has no stack
/// limit register: the guard words at the stack's bottom are found
/// overwritten after the poll, and the report names the app (the overflow
/// is found, not prevented: the heap below may have been written).
#[test]
fn a_fiber_stack_overflow_on_the_riscv32_is_found_by_its_guard_words_and_names_the_app() {
    let mut s = settings(1000);
    s.fiber_stack = Some(1024);
    s.wasm_stack = Some(1024);
    let device = on_board(&RISCV32_VIRT, "blinky", s, b"");
    let console = &device.console;
    assert_eq!(device.status, 3, "{console}");
    assert!(
        console.contains(
            "native stack overflow: app `blinky` overflowed its 1024-byte fiber stack \
             (its guard words at the bottom were overwritten"
        ),
        "{console}"
    );
}
