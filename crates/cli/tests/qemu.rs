//! Cross-target equivalence: the same guest on the desktop simulator
//! (pulley64) and on real firmware in QEMU's Cortex-M33 (pulley32) makes the
//! same host calls, with the same effects, at the same times.
//!
//! These tests boot QEMU; they need `qemu-system-arm` and the
//! thumbv8m.main-none-eabihf target (`./scripts/test` installs both).

mod common;

use std::collections::VecDeque;

use belljar_cli::qemu::{self, FirmwareSettings, QemuOutcome};
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
    let cwasm = qemu::build_guest(&guest_dir(guest)).unwrap();
    let elf = qemu::build_firmware(&cwasm, &settings).unwrap();
    qemu::boot(&elf, uart, false).unwrap()
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

#[test]
fn blinky_is_the_same_on_the_simulator_and_the_cortex_m33() {
    let (_, sim) = run_for("blinky", 3000, SimConfig::default());
    let device = on_qemu("blinky", settings(3000), b"");
    assert_eq!(device.status, 0, "{}", device.console);
    assert_equivalent(&pairs(&sim), &timeline(&device.console), 1);
}

#[test]
fn button_led_follows_the_same_scripted_presses() {
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
    let device = on_qemu("button-led", s, b"");
    assert_eq!(device.status, 0, "{}", device.console);
    assert_equivalent(&pairs(&sim), &timeline(&device.console), 2);
}

#[test]
fn servo_sweep_makes_the_same_moves() {
    let (_, sim) = run_for("servo-sweep", 8000, SimConfig::default());
    let device = on_qemu("servo-sweep", settings(8000), b"");
    assert_eq!(device.status, 0, "{}", device.console);
    assert_equivalent(&pairs(&sim), &timeline(&device.console), 2);
}

#[test]
fn uart_echo_echoes_the_same_bytes_through_the_emulated_uart() {
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
    let device = on_qemu("uart-echo", s, input);
    let texts: Vec<String> = timeline(&device.console)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(texts, sim, "{}", device.console);
}

#[test]
fn the_device_refuses_a_pulley64_artifact_and_stays_up() {
    let cwasm64 = cwasm_path("blinky", belljar_profile::Target::Pulley64);
    let elf = qemu::build_firmware(&cwasm64, &settings(1000)).unwrap();
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
    s.heap = Some(20 * 1024);
    let device = on_qemu("blinky", s, b"");
    assert_eq!(device.status, 1, "{}", device.console);
    assert!(device.console.contains("error:"), "{}", device.console);
    assert!(
        !device.console.contains("firmware panic"),
        "{}",
        device.console
    );
    assert!(!device.console.contains("hard fault"), "{}", device.console);
}
