//! Over-the-air updates end to end on the QEMU boards (the mps2-an505's
//! Cortex-M33, update link on UART1; the virt machine's RV32IMAC, update
//! link on a PCI serial port) in supervisor mode: factory app A runs; signed app B is pushed over the
//! emulated UART with `belljar push` and runs; a tampered package and one
//! signed by another key are refused while B keeps running; app C, which
//! loops forever from its start, and app D, which drives a pin it was not
//! granted, are each rolled back to B automatically.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use belljar_cli::qemu::{self, FirmwareSettings, LiveBoard, MPS2_AN505, QemuBoard, RISCV32_VIRT};
use common::*;

fn sign(guest: &str, key: &Path, version: u32, outputs: &str, out: &Path) {
    sign_for("pulley32", guest, key, version, outputs, out);
}

/// `belljar push` to a local TCP port; `extra` flags such as `--run-once`.
fn push_to(port: u16, package: &Path, extra: &[&str]) -> (bool, String) {
    let port = format!("tcp:127.0.0.1:{port}");
    let mut args = vec!["push", package.to_str().unwrap(), "--port", &port];
    args.extend_from_slice(extra);
    belljar(&args)
}

fn push(board: &LiveBoard, package: &Path) -> (bool, String) {
    push_to(board.link_port, package, &["--timeout", "10s"])
}

/// `belljar run --listen` on a free port with `factory` installed, for
/// `seconds` of (real-time) virtual time; returns once it listens.
fn listening_sim(key: &Path, factory: &Path, seconds: u32) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = Command::new(env!("CARGO_BIN_EXE_belljar"))
        .args([
            "run",
            "--listen",
            &format!("tcp:127.0.0.1:{port}"),
            "--pubkey",
            key.with_extension("pub").to_str().unwrap(),
            factory.to_str().unwrap(),
            "--for",
            &format!("{seconds}s"),
        ])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(port);
    (sim, port)
}

const WAIT: Duration = Duration::from_secs(90);

#[test]
fn a_device_updates_over_its_uart_refuses_bad_packages_and_rolls_back_bad_apps() {
    updates_over_the_air(&MPS2_AN505, "ota-test");
}

#[test]
fn the_riscv32_board_updates_over_its_pci_serial_port_like_the_cortex_m33() {
    updates_over_the_air(&RISCV32_VIRT, "ota-riscv32-test");
}

/// The whole story on `board`, in `dir_name` under the target directory.
fn updates_over_the_air(target_board: &QemuBoard, dir_name: &str) {
    let dir = fresh_dir(dir_name);
    let key = keygen(&dir, "device");
    let other = keygen(&dir, "other");
    let a = dir.join("a.bjpkg");
    let b = dir.join("b.bjpkg");
    let c = dir.join("c.bjpkg");
    let d = dir.join("d.bjpkg");
    let forged = dir.join("forged.bjpkg");
    let tampered = dir.join("tampered.bjpkg");
    sign("blinky", &key, 1, "25", &a);
    sign("servo-sweep", &key, 2, "6", &b);
    sign("faults", &key, 3, "25", &c);
    sign("blinky", &key, 3, "24", &d);
    sign("servo-sweep", &other, 3, "6", &forged);
    let mut bytes = std::fs::read(&b).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();

    let settings = FirmwareSettings {
        pubkey: Some(key.with_extension("pub")),
        initial: Some(a.clone()),
        trace: true,
        ram: Some(1024 * 1024),
        heap: Some(768 * 1024),
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_firmware_for(target_board, &[], &settings).unwrap();
    let board = LiveBoard::spawn_on(target_board, &elf).unwrap();

    // A, the factory app, runs.
    let at = board
        .wait_for("supervisor: running blinky v1", 0, WAIT)
        .unwrap();
    let at = board.wait_for("gpio.set-high(25)", at, WAIT).unwrap();

    // Garbage on the update link, then a link dropped mid-stream: ignored.
    {
        use std::io::Write as _;
        let mut link = std::net::TcpStream::connect(("127.0.0.1", board.link_port)).unwrap();
        let mut x: u32 = 12345;
        let garbage: Vec<u8> = (0..3000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        link.write_all(&garbage).unwrap();
    }

    // B is pushed, verified, switched to, and confirmed once healthy.
    let (ok, out) = push(&board, &b);
    assert!(ok, "{out}");
    assert!(out.contains("installed servo-sweep v2"), "{out}");
    let at = board
        .wait_for("supervisor: booting slot B (v2, on trial)", at, WAIT)
        .unwrap();
    let at = board.wait_for("servo.set-angle(6, 0)", at, WAIT).unwrap();
    let at = board
        .wait_for("supervisor: servo-sweep v2 is healthy: confirmed", at, WAIT)
        .unwrap();

    // A tampered package and one signed by another key are refused; B
    // keeps running.
    for (package, reason) in [(&tampered, "signature"), (&forged, "signature")] {
        let (ok, out) = push(&board, package);
        assert!(!ok, "{out}");
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{out}");
        assert!(
            errors[0].contains("refused") && errors[0].contains(reason),
            "{out}"
        );
    }
    let at = board
        .wait_for("supervisor: update rejected", at, WAIT)
        .unwrap();
    let at = board.wait_for("servo.set-angle(6,", at, WAIT).unwrap();
    assert!(
        !board.console()[at..].contains("booting"),
        "a refused package must not switch: {}",
        board.console()
    );

    // C loops forever from its start: the watchdog stops it, the supervisor
    // restarts it with backoff, and after 3 failed boots on trial rolls back.
    let (ok, out) = push(&board, &c);
    assert!(ok, "{out}");
    let at = board
        .wait_for("supervisor: booting slot A (v3, on trial)", at, WAIT)
        .unwrap();
    let at = board.wait_for("runaway guest", at, WAIT).unwrap();
    let at = board
        .wait_for("supervisor: booting slot B (v2)\n", at, WAIT)
        .unwrap();
    let at = board
        .wait_for("supervisor: running servo-sweep v2", at, WAIT)
        .unwrap();
    let at = board.wait_for("servo.set-angle(6,", at, WAIT).unwrap();
    let trial = &board.console()[..at];
    assert_eq!(
        trial
            .matches("supervisor: booting slot A (v3, on trial)")
            .count(),
        3,
        "{trial}"
    );

    // D drives pin 25, but its package grants only pin 24: a guest trap with
    // a message, then the same rollback.
    let (ok, out) = push(&board, &d);
    assert!(ok, "{out}");
    let at = board
        .wait_for("gpio: pin 25 is not granted to this app", at, WAIT)
        .unwrap();
    let at = board
        .wait_for("supervisor: booting slot B (v2)\n", at, WAIT)
        .unwrap();
    board.wait_for("servo.set-angle(6,", at, WAIT).unwrap();
    let console = board.console();
    assert!(!console.contains("firmware panic"), "{console}");
    assert!(!console.contains("hard fault"), "{console}");
}

/// The simulator as an update target: `belljar run --listen` runs the same
/// supervisor, `belljar push` reaches it over TCP.
#[test]
fn the_simulator_takes_pushed_updates_like_a_device() {
    let dir = fresh_dir("ota-sim-test");
    let key = keygen(&dir, "device");
    let a = dir.join("a.bjpkg");
    let b = dir.join("b.bjpkg");
    let once = dir.join("once.bjpkg");
    sign_for("pulley64", "blinky", &key, 1, "25", &a);
    sign_for("pulley64", "servo-sweep", &key, 2, "6", &b);
    sign_for("pulley64", "blinky", &key, 3, "25", &once);
    let (sim, port) = listening_sim(&key, &a, 8);
    let (ok, out) = push_to(port, &b, &[]);
    assert!(ok, "{out}");
    std::thread::sleep(Duration::from_secs(3));
    // A one-off run from RAM: not installed.
    let (ok, out) = push_to(port, &once, &["--run-once"]);
    assert!(ok, "{out}");
    assert!(out.contains("loaded blinky v3"), "{out}");
    let output = sim.wait_with_output().unwrap();
    let console = String::from_utf8_lossy(&output.stdout);
    for line in [
        "supervisor: running blinky v1",
        "gpio.set-high(25)",
        "supervisor: update: servo-sweep v2 verified and installed; switching",
        "supervisor: running servo-sweep v2",
        "servo.set-angle(6, 0)",
        "supervisor: servo-sweep v2 is healthy: confirmed",
        "supervisor: update: blinky v3 verified; one-off run",
    ] {
        assert!(console.contains(line), "no `{line}` in:\n{console}");
    }
}

/// The update agent answers while the running app computes forever: a
/// factory app stuck in `loop {}` (stopped by the watchdog, restarted with
/// backoff, again and again) does not keep an update out.
#[test]
fn the_update_agent_answers_while_the_app_spins() {
    let dir = fresh_dir("ota-spin-test");
    let key = keygen(&dir, "device");
    let spinner = dir.join("spinner.bjpkg");
    let blinky = dir.join("blinky.bjpkg");
    sign_for("pulley64", "faults", &key, 1, "25", &spinner);
    sign_for("pulley64", "blinky", &key, 2, "25", &blinky);
    let (sim, port) = listening_sim(&key, &spinner, 6);
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out) = push_to(port, &blinky, &[]);
    assert!(ok, "{out}");
    let output = sim.wait_with_output().unwrap();
    let console = String::from_utf8_lossy(&output.stdout);
    let update = console
        .find("supervisor: update: blinky v2 verified and installed")
        .unwrap_or_else(|| panic!("no update in:\n{console}"));
    // The push landed while the spinner was running (it had not been
    // stopped for good: it never is, it is the confirmed app).
    assert!(
        console[..update].contains("supervisor: running faults v1"),
        "{console}"
    );
    assert!(console[update..].contains("gpio.set-high(25)"), "{console}");
}
