//! Fleet rollouts through a real MQTT broker: each test starts its own
//! Mosquitto on a free loopback port, simulated devices (`belljar fleet
//! simulate`: the real supervisor on A/B slots of a simulated NOR flash,
//! each with its agent and its own MQTT session), and `belljar rollout`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::{Devices, Mosquitto};
use common::*;

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i:03}")).collect()
}

/// `belljar fleet status`, until `done` holds (or a minute passed).
fn status_until(m: &Mosquitto, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, out) = belljar(&["fleet", "status", "--broker", &m.url(), "--fleet", "plant"]);
        assert!(ok, "{out}");
        if done(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet never got there:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The status lines of the devices named `prefix...`.
fn device_lines<'s>(status: &'s str, prefix: &str) -> Vec<&'s str> {
    status
        .lines()
        .filter(|l| l.trim_start().starts_with(prefix))
        .collect()
}

fn wait_online(m: &Mosquitto, prefix: &str, count: usize) {
    status_until(m, |s| {
        device_lines(s, prefix)
            .iter()
            .filter(|l| l.contains(" online "))
            .count()
            == count
    });
}

/// A fresh directory with the fleet key, v1 and v2 of blinky, a v3 that
/// spins from its start (the `faults` guest signed as blinky) and a
/// tampered v2, all for the simulator (pulley64).
fn setup(name: &str) -> PathBuf {
    let dir = fresh_dir(name);
    let key = keygen(&dir, "fleet");
    sign_for("pulley64", "blinky", &key, 1, "25", &dir.join("v1.bjpkg"));
    sign_for("pulley64", "blinky", &key, 2, "25", &dir.join("v2.bjpkg"));
    let (ok, out) = belljar(&[
        "sign",
        "guests/faults",
        "--app",
        "blinky",
        "--key",
        key.with_extension("key").to_str().unwrap(),
        "--version",
        "3",
        "--outputs",
        "25",
        "--target",
        "pulley64",
        "-o",
        dir.join("v3.bjpkg").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let mut tampered = std::fs::read(dir.join("v2.bjpkg")).unwrap();
    *tampered.last_mut().unwrap() ^= 0x40;
    std::fs::write(dir.join("v2-tampered.bjpkg"), tampered).unwrap();
    dir
}

/// Every device `prefix000..` installed v2 exactly once.
fn installed_once(devices: &Devices, prefix: &str, count: usize) {
    for name in names(prefix, count) {
        assert_eq!(
            devices.count(&name, "blinky v2 verified and installed"),
            1,
            "{name}:\n{}",
            devices.log()
        );
    }
}

/// A rollout of v2 in three stages, in the background, once it has
/// reached its second stage; its output goes to the returned file.
fn three_stages_until_the_second(m: &Mosquitto, dir: &Path) -> (std::process::Child, PathBuf) {
    let log = dir.join("rollout.log");
    let controller = rollout_command(m, &dir.join("v2.bjpkg"), &["--stages", "10%,50%,100%"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&log).unwrap().contains("stage 2/3") {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (controller, log)
}

/// `belljar rollout` (bounded by `timeout`, so a stuck rollout fails the test).
fn rollout(m: &Mosquitto, package: &Path, flags: &[&str]) -> (bool, String) {
    let out = rollout_command(m, package, flags).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn rollout_command(m: &Mosquitto, package: &Path, flags: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.arg("240")
        .arg(env!("CARGO_BIN_EXE_belljar"))
        .arg("rollout")
        .arg(package)
        .args([
            "--broker",
            &m.url(),
            "--fleet",
            "plant",
            "--confirm-within",
            "90s",
        ])
        .args(flags);
    c
}

#[test]
fn a_staged_rollout_reaches_fifty_devices_each_confirms_once_and_redelivery_installs_nothing() {
    let dir = setup("fleet-fifty");
    let m = Mosquitto::start(&dir);
    let devices = Devices::start(&m, &dir, "d", 50);
    wait_online(&m, "d", 50);

    let (ok, out) = rollout(&m, &dir.join("v2.bjpkg"), &["--canary", "10%"]);
    assert!(ok, "{out}");
    assert!(out.contains("stage 1/2 (10%) · 5/50 admitted"), "{out}");
    assert!(
        out.contains("confirmed 50") && out.contains("rollout of blinky v2 complete"),
        "{out}"
    );

    // The same release again (a redelivered rollout, as a controller that
    // starts over would send): every device has it already.
    let (ok, again) = rollout(&m, &dir.join("v2.bjpkg"), &["--canary", "10%"]);
    assert!(ok, "{again}");
    assert!(again.contains("confirmed 50"), "{again}");
    std::thread::sleep(Duration::from_secs(1));
    installed_once(&devices, "d", 50);
    for name in names("d", 50) {
        assert_eq!(devices.count(&name, "blinky v2 is healthy: confirmed"), 1);
    }
    let status = status_until(&m, |_| true);
    let lines = device_lines(&status, "d");
    assert_eq!(lines.len(), 50, "{status}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" v2 ") && l.contains("confirmed")),
        "{status}"
    );
}

#[test]
fn a_spinning_release_is_caught_by_the_canaries_which_roll_back_and_the_rest_never_install_it() {
    let dir = setup("fleet-spin");
    let m = Mosquitto::start(&dir);
    let devices = Devices::start(&m, &dir, "s", 20);
    wait_online(&m, "s", 20);

    let (ok, out) = rollout(&m, &dir.join("v3.bjpkg"), &["--canary", "10%"]);
    assert!(!ok, "a halted rollout is a failure:\n{out}");
    assert!(
        out.contains("HALTED") && out.contains("rolled-back 2"),
        "{out}"
    );
    assert!(
        out.contains("runaway guest"),
        "the canaries' fault is shown:\n{out}"
    );
    let canaries: Vec<String> = names("s", 20)
        .into_iter()
        .filter(|n| devices.count(n, "blinky v3 verified and installed") > 0)
        .collect();
    assert_eq!(canaries.len(), 2, "{}", devices.log());
    for name in names("s", 20) {
        if canaries.contains(&name) {
            assert!(
                devices.count(&name, "rolled-back") == 1,
                "{}",
                devices.log()
            );
        } else {
            assert_eq!(devices.count(&name, "v3"), 0, "{name} never saw v3");
        }
    }
    let status = status_until(&m, |_| true);
    let lines = device_lines(&status, "s");
    assert_eq!(lines.len(), 20, "{status}");
    assert!(
        lines.iter().all(|l| l.contains(" v1 ")),
        "everyone runs v1 again:\n{status}"
    );
}

#[test]
fn a_tampered_package_is_refused_by_every_device_and_reported() {
    let dir = setup("fleet-tampered");
    let m = Mosquitto::start(&dir);
    let devices = Devices::start(&m, &dir, "t", 10);
    wait_online(&m, "t", 10);

    let (ok, out) = rollout(
        &m,
        &dir.join("v2-tampered.bjpkg"),
        &["--canary", "100%", "--halt-on", "99%"],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("refused 10"), "{out}");
    assert_eq!(
        out.matches("refused: the device refused the package")
            .count(),
        10,
        "every device's refusal is reported:\n{out}"
    );
    for name in names("t", 10) {
        assert_eq!(devices.count(&name, "verified and installed"), 0);
        assert_eq!(
            devices.count(&name, "update rejected"),
            1,
            "{}",
            devices.log()
        );
    }
}

#[test]
fn a_rollout_survives_the_broker_being_killed_and_restarted_midway() {
    let dir = setup("fleet-restart");
    let mut m = Mosquitto::start(&dir);
    let devices = Devices::start(&m, &dir, "r", 20);
    wait_online(&m, "r", 20);

    let (mut controller, log) = three_stages_until_the_second(&m, &dir);
    m.kill();
    std::thread::sleep(Duration::from_secs(2));
    m.spawn();
    let status = controller.wait().unwrap();
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("broker connection down"), "{out}");
    assert!(
        out.contains("confirmed 20") && out.contains("complete"),
        "{out}"
    );
    installed_once(&devices, "r", 20);
}

#[test]
fn a_device_that_was_offline_gets_the_release_when_it_comes_back() {
    let dir = setup("fleet-offline");
    let m = Mosquitto::start(&dir);
    let _online = Devices::start(&m, &dir, "o", 4);
    let mut late = Devices::start(&m, &dir, "late", 1);
    wait_online(&m, "o", 4);
    wait_online(&m, "late", 1);
    late.kill();
    // Its broker session ends; the broker publishes its last will.
    status_until(&m, |s| {
        device_lines(s, "late")
            .iter()
            .any(|l| l.contains(" offline "))
    });

    let (ok, out) = rollout(&m, &dir.join("v2.bjpkg"), &["--canary", "50%"]);
    assert!(ok, "an offline device does not hold the rollout up:\n{out}");
    assert!(out.contains("confirmed 4"), "{out}");

    let late = Devices::start(&m, &dir, "late", 1);
    let status = status_until(&m, |s| {
        device_lines(s, "late000")
            .iter()
            .any(|l| l.contains(" v2 ") && l.contains("confirmed"))
    });
    assert!(status.contains("confirmed 5"), "{status}");
    assert_eq!(late.count("late000", "blinky v2 verified and installed"), 1);
}

#[test]
fn a_rollout_whose_controller_dies_is_resumed_by_another_belljar() {
    let dir = setup("fleet-resume");
    let m = Mosquitto::start(&dir);
    let devices = Devices::start(&m, &dir, "c", 10);
    wait_online(&m, "c", 10);

    let (mut first, _) = three_stages_until_the_second(&m, &dir);
    first.kill().unwrap();
    first.wait().unwrap();

    // Everything the controller knew is in the broker.
    let (ok, out) = belljar(&[
        "rollout",
        "--resume",
        "--broker",
        &m.url(),
        "--fleet",
        "plant",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("resuming") && out.contains("confirmed 10"),
        "{out}"
    );
    installed_once(&devices, "c", 10);
    let (ok, out) = belljar(&[
        "rollout",
        "--stop",
        "--broker",
        &m.url(),
        "--fleet",
        "plant",
    ]);
    assert!(!ok && out.contains("already complete"), "{out}");
}

/// `openssl`, in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rollouts_run_over_tls_with_a_password_and_a_wrong_password_is_one_clear_error() {
    let dir = setup("fleet-tls");
    // A CA and a broker certificate for 127.0.0.1; a password file.
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=belljar test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "broker.pem",
        ],
    );
    let passwd = dir.join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["ops", "s3cret"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["broker.key", "passwd"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let m = Mosquitto::start_with(
        &dir,
        &format!(
            "allow_anonymous false\npassword_file {}\ncafile {d}/ca.pem\ncertfile {d}/broker.pem\nkeyfile {d}/broker.key\n",
            passwd.display(),
            d = dir.display()
        ),
    );
    let url = format!("mqtts://ops:s3cret@127.0.0.1:{}", m.port);
    let ca = dir.join("ca.pem");
    let broker = ["--broker", &url, "--ca", ca.to_str().unwrap()];
    let devices = Devices::start_on(&broker, &dir, "tls", 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut args = vec!["fleet", "status", "--fleet", "plant"];
        args.extend_from_slice(&broker);
        let (ok, out) = belljar(&args);
        assert!(ok, "{out}");
        if out.contains("3 devices (3 online") {
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let v2 = dir.join("v2.bjpkg");
    let mut args = vec![
        "rollout",
        v2.to_str().unwrap(),
        "--fleet",
        "plant",
        "--canary",
        "34%",
    ];
    args.extend_from_slice(&broker);
    let (ok, out) = belljar(&args);
    assert!(ok && out.contains("confirmed 3"), "{out}");
    assert_eq!(
        devices.count("tls000", "blinky v2 verified and installed"),
        1
    );

    let wrong = format!("mqtts://ops:wrong@127.0.0.1:{}", m.port);
    let (ok, out) = belljar(&[
        "fleet",
        "status",
        "--fleet",
        "plant",
        "--broker",
        &wrong,
        "--ca",
        ca.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("cannot reach the broker at mqtts://ops@127.0.0.1"),
        "{out}"
    );
    assert!(
        !out.contains("wrong"),
        "the password is not printed:\n{out}"
    );
}

/// A board on a UART joins the fleet through `belljar gateway`: the QEMU
/// Cortex-M33 in supervisor mode, its update link (UART1) on a TCP port.
#[test]
fn a_qemu_board_takes_a_rollout_through_its_gateway() {
    use belljar_cli::qemu::{self, FirmwareSettings, LiveBoard};
    let dir = fresh_dir("fleet-qemu");
    let key = keygen(&dir, "fleet");
    sign_for("pulley32", "blinky", &key, 1, "25", &dir.join("v1.bjpkg"));
    sign_for("pulley32", "blinky", &key, 2, "25", &dir.join("v2.bjpkg"));
    let settings = FirmwareSettings {
        pubkey: Some(key.with_extension("pub")),
        initial: Some(dir.join("v1.bjpkg")),
        trace: true,
        ram: Some(1024 * 1024),
        heap: Some(768 * 1024),
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_firmware(&[], &settings).unwrap();
    let board = LiveBoard::spawn(&elf).unwrap();
    let at = board
        .wait_for("gpio.set-high(25)", 0, Duration::from_secs(90))
        .unwrap();
    let m = Mosquitto::start(&dir);
    let port = format!("tcp:127.0.0.1:{}", board.link_port);
    let gateway = Devices::gateway(&m, &dir, "m33", &port);
    wait_online(&m, "m33", 1);

    let (ok, out) = rollout(&m, &dir.join("v2.bjpkg"), &["--canary", "100%"]);
    assert!(ok, "{out}\n{}\n{}", gateway.log(), board.console());
    assert!(out.contains("confirmed 1"), "{out}");
    // The board runs v2, from slot B, confirmed.
    board
        .wait_for("running blinky v2", at, Duration::from_secs(30))
        .unwrap();
    let console = board.console();
    assert!(
        console.contains("blinky v2 is healthy: confirmed"),
        "{console}"
    );
    let status = status_until(&m, |_| true);
    let line = device_lines(&status, "m33").join("\n");
    assert!(
        line.contains(" v2 ") && line.contains("slot B") && line.contains("confirmed"),
        "{status}"
    );
}
