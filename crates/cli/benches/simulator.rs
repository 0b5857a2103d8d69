//! `cargo bench -p belljar-cli --bench simulator`: how fast the desktop
//! simulator runs guests, through the same loader as `belljar run`.
//! Prints a table; the baseline is real time (what `--realtime` would take).

use std::time::{Duration, Instant};

use belljar_build::GuestCrate;
use belljar_cli::run::SimApp;
use belljar_host::runtime::Runtime;
use belljar_profile::Target;
use belljar_sim::{SimBoard, SimConfig};

fn main() {
    let guests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests");
    println!("| guest | virtual time | host calls | fuel | wall (median of 5) | x real time |");
    println!("|---|---|---|---|---|---|");
    for (name, virtual_ms) in [
        ("blinky", 3_600_000u64),
        ("button-led", 600_000),
        ("servo-sweep", 3_600_000),
    ] {
        let artifacts = GuestCrate::open(&guests.join(name))
            .unwrap()
            .build(&[Target::Pulley64])
            .unwrap();
        let bytes = std::fs::read(artifacts.cwasm(Target::Pulley64).unwrap()).unwrap();
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let runtime = Runtime::<SimBoard>::new().unwrap();
        // SAFETY: built by belljar's own pipeline just now.
        let app = unsafe { runtime.load(bytes) }.unwrap();
        let mut walls = Vec::new();
        let mut stats = (0, 0);
        for _ in 0..5 {
            let config = SimConfig {
                time_limit_ms: Some(virtual_ms),
                ..SimConfig::default()
            };
            let started = Instant::now();
            let mut sim_app = SimApp::start(&app, name, config).unwrap();
            sim_app.run();
            walls.push(started.elapsed());
            stats = (
                sim_app.running.store().data().host_calls,
                sim_app.fuel_used(),
            );
        }
        walls.sort();
        let wall: Duration = walls[2];
        println!(
            "| {name} | {} s | {} | {} | {:.1} ms | {:.0}x |",
            virtual_ms / 1000,
            stats.0,
            stats.1,
            wall.as_secs_f64() * 1000.0,
            virtual_ms as f64 / 1000.0 / wall.as_secs_f64()
        );
    }
}
