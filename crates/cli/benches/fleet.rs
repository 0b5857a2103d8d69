//! Rollouts to 50 and 500 simulated devices through a real Mosquitto:
//! wall time, broker messages and bytes per device, broker CPU.
//!
//! `cargo bench -p belljar-cli --bench fleet` (needs `mosquitto`). Each
//! device is the real supervisor on simulated flash with its own agent and
//! MQTT session (`belljar fleet simulate`); the rollout is `belljar rollout
//! --canary 10%` of a signed blinky v2 over v1. The broker's `$SYS` counters
//! give messages and bytes; `/proc` its CPU time.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use belljar_fleet::broker::{Broker, Connection, Incoming, Session};
use common::broker::{Devices, Mosquitto};

/// `belljar ARGS` must succeed; its output.
fn run(args: &[&str]) -> String {
    let (ok, out) = common::belljar(args);
    assert!(ok, "belljar {args:?}:\n{out}");
    out
}

/// The broker's totals: messages received + sent, bytes received + sent.
fn counters(m: &Mosquitto) -> (u64, u64) {
    let broker = Broker::parse(&m.url()).unwrap();
    let conn = Connection::open(
        &broker,
        Session {
            client_id: "belljar-bench-sys",
            clean: true,
            will: None,
        },
    )
    .unwrap();
    conn.connected(&broker, Duration::from_secs(5)).unwrap();
    conn.subscribe("$SYS/broker/messages/+".into()).unwrap();
    conn.subscribe("$SYS/broker/bytes/+".into()).unwrap();
    let mut values = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while values.len() < 4 && Instant::now() < deadline {
        if let Some(Incoming::Message { topic, payload }) = conn.next(Duration::from_millis(200))
            && (topic.ends_with("/received") || topic.ends_with("/sent"))
        {
            let n: u64 = String::from_utf8_lossy(&payload)
                .trim()
                .parse()
                .unwrap_or(0);
            values.insert(topic, n);
        }
    }
    let sum = |kind: &str| {
        values
            .iter()
            .filter(|(t, _)| t.contains(kind))
            .map(|(_, n)| n)
            .sum()
    };
    (sum("/messages/"), sum("/bytes/"))
}

fn wait_online(m: &Mosquitto, count: usize) -> Duration {
    let started = Instant::now();
    loop {
        let status = run(&["fleet", "status", "--broker", &m.url(), "--fleet", "plant"]);
        if status.contains(&format!("{count} devices ({count} online")) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{status}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

struct Row {
    devices: usize,
    join: Duration,
    wall: Duration,
    messages: f64,
    bytes: f64,
    cpu: Duration,
}

fn measure(count: usize) -> Row {
    let dir = common::fresh_dir(&format!("bench-fleet-{count}"));
    let key = common::keygen(&dir, "fleet");
    for v in [1, 2] {
        let out = dir.join(format!("v{v}.bjpkg"));
        common::sign_for("pulley64", "blinky", &key, v, "25", &out);
    }
    let m = Mosquitto::start(&dir);
    let _devices = Devices::start(&m, &dir, "d", count);
    let join = wait_online(&m, count);
    std::thread::sleep(Duration::from_secs(2));
    let (msgs0, bytes0) = counters(&m);
    let cpu0 = m.cpu();
    let started = Instant::now();
    let out = run(&[
        "rollout",
        dir.join("v2.bjpkg").to_str().unwrap(),
        "--broker",
        &m.url(),
        "--fleet",
        "plant",
        "--canary",
        "10%",
        "--confirm-within",
        "10m",
    ]);
    let wall = started.elapsed();
    assert!(out.contains(&format!("confirmed {count}")), "{out}");
    let cpu = m.cpu() - cpu0;
    std::thread::sleep(Duration::from_secs(2));
    let (msgs1, bytes1) = counters(&m);
    Row {
        devices: count,
        join,
        wall,
        messages: (msgs1 - msgs0) as f64 / count as f64,
        bytes: (bytes1 - bytes0) as f64 / count as f64,
        cpu,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("BELLJAR_FLEET_SIZES")
        .ok()
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![50, 500]);
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n)).collect();
    println!();
    println!(
        "| devices | all online after | rollout wall time (canary 10%, then all) | broker messages per device | broker bytes per device | broker CPU |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.1} s | {:.1} s | {:.1} | {:.0} | {:.2} s |",
            r.devices,
            r.join.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.messages,
            r.bytes,
            r.cpu.as_secs_f64()
        );
    }
}
