//! Several apps on one board, on the simulator (virtual time): they run side
//! by side as they do alone, a guest that computes forever neither starves
//! the other app nor a firmware task, and a pin belongs to one app.

mod common;

use std::collections::VecDeque;

use belljar_cli::run::{self, AppReport};
use belljar_host::Fault;
use belljar_host::runtime::{Exit, TrapKind};
use belljar_sim::{Sim, SimConfig, Task, TraceLine, UartInput};
use common::*;

/// `names` side by side on one simulated board, plus a firmware heartbeat
/// every `heartbeat_ms` when given. Returns each app's report and the whole
/// timeline.
fn side_by_side(
    names: &[&str],
    config: SimConfig,
    heartbeat_ms: Option<u64>,
) -> (Vec<AppReport>, Vec<TraceLine>) {
    // `blinky#2`: a second instance of the blinky guest.
    let apps: Vec<_> = names
        .iter()
        .map(|n| run::RunApp::new(*n, load(n.split('#').next().unwrap())))
        .collect();
    apps_side_by_side(apps, config, heartbeat_ms)
}

/// [`side_by_side`] for apps already loaded.
fn apps_side_by_side(
    apps: Vec<run::RunApp>,
    config: SimConfig,
    heartbeat_ms: Option<u64>,
) -> (Vec<AppReport>, Vec<TraceLine>) {
    let sim = Sim::new(config).unwrap();
    let background: Vec<Task<'_, ()>> = heartbeat_ms
        .map(|period| {
            let sim = sim.clone();
            Box::pin(async move {
                for n in 1.. {
                    sim.sleep_until_ms(n * period).await;
                    sim.note("firmware", format!("heartbeat {n}"));
                }
            }) as Task<'_, ()>
        })
        .into_iter()
        .collect();
    let report = run::run_with(&sim, &apps, background);
    (report.apps, sim.timeline())
}

fn lines_of(timeline: &[TraceLine], source: &str) -> Vec<(u64, String)> {
    timeline
        .iter()
        .filter(|l| &*l.source == source)
        .map(|l| (l.at_ms, l.text.clone()))
        .collect()
}

fn uart(input: &[u8]) -> UartInput {
    UartInput::Bytes(VecDeque::from(input.to_vec()))
}

#[test]
fn blinky_and_uart_echo_run_side_by_side_as_they_do_alone() {
    let input = b"hi\x7f!\r";
    let config = || SimConfig {
        uart: uart(input),
        time_limit_ms: Some(3000),
        ..SimConfig::default()
    };
    let (apps, timeline) = side_by_side(&["blinky", "uart-echo"], config(), None);
    assert!(
        matches!(apps[0].exit, Exit::Stopped(_)),
        "blinky: {}",
        apps[0].exit
    );
    assert!(
        matches!(apps[1].exit, Exit::Stopped(_)),
        "uart-echo: {}",
        apps[1].exit
    );
    let (_, blinky_alone) = run_for("blinky", 3000, SimConfig::default());
    assert_eq!(lines_of(&timeline, "blinky"), pairs(&blinky_alone));
    let (_, echo_alone) = run_for("uart-echo", 3000, config());
    assert_eq!(lines_of(&timeline, "uart-echo"), pairs(&echo_alone));
    // Deterministic: the same inputs give the same interleaving.
    let (_, again) = side_by_side(&["blinky", "uart-echo"], config(), None);
    assert_eq!(again, timeline);
}

#[test]
fn a_spinning_guest_starves_neither_the_firmware_nor_the_other_app() {
    let config = SimConfig {
        time_limit_ms: Some(4000),
        ..SimConfig::default()
    };
    // `faults`' run is `loop {}` with no host call: it yields every
    // `yield_fuel` until the watchdog stops it (20 M fuel, 2 s of virtual CPU
    // time at 100 ns per unit).
    let (apps, timeline) = side_by_side(&["blinky", "faults"], config, Some(100));
    let spinner = match &apps[1].exit {
        Exit::Trapped(t) => t,
        other => panic!("the spinner should be stopped, got {other}"),
    };
    assert_eq!(spinner.kind, TrapKind::Runaway { fuel: 20_000_000 });
    assert!(matches!(apps[0].exit, Exit::Stopped(_)), "{}", apps[0].exit);

    // The heartbeat kept its period, within one yield slice (1 ms), while the
    // spinner ran (0..2 s) and after.
    assert_heartbeats(&timeline, 100, 4000, 1);
    // Blinky kept blinking through the spin and after it, on time.
    let (_, alone) = run_for("blinky", 4000, SimConfig::default());
    let shared = lines_of(&timeline, "blinky");
    assert_eq!(shared.len(), alone.len());
    for ((t_shared, text), line) in shared.iter().zip(&alone) {
        assert_eq!(text, &line.text);
        assert!(
            t_shared.abs_diff(line.at_ms) <= 1,
            "`{text}` at {t_shared} ms beside the spinner, {} ms alone",
            line.at_ms
        );
    }
}

/// The firmware heartbeat came every `period` ms for `ms`, each at most
/// `late` ms late.
fn assert_heartbeats(timeline: &[TraceLine], period: u64, ms: u64, late: u64) {
    let beats = lines_of(timeline, "firmware");
    assert_eq!(beats.len() as u64, ms / period, "{beats:?}");
    for (i, (at, text)) in beats.iter().enumerate() {
        let due = (i as u64 + 1) * period;
        assert!(
            (due..=due + late).contains(at),
            "{text} at {at} ms, due at {due} ms"
        );
    }
}

#[test]
fn a_guest_looping_on_host_calls_that_do_not_wait_starves_no_one() {
    // `clock.now-ms` in a loop forever (2 fuel and one 20 us host call a
    // turn): no call waits, so only fuel yields let anything else run, and
    // each call is progress to the watchdog.
    let apps = vec![
        run::RunApp::new("spammer", clock_spammer()),
        run::RunApp::new("blinky", load("blinky")),
    ];
    let config = SimConfig {
        time_limit_ms: Some(3000),
        ..SimConfig::default()
    };
    let (apps, timeline) = apps_side_by_side(apps, config, Some(100));
    for app in &apps {
        assert!(
            matches!(app.exit, Exit::Stopped(_)),
            "{}: {}",
            app.name,
            app.exit
        );
    }
    assert!(apps[0].host_calls > 100_000, "{}", apps[0].host_calls);
    // It yields at least every two slices of fuel (`Meter`): 10 000 of its
    // calls at 20 us (a slice with host calls is charged by its calls).
    let yield_fuel = belljar_host::runtime::Limits::default().yield_fuel;
    let late = yield_fuel * belljar_sim::DEFAULT_HOST_CALL_NS / 1_000_000;
    // The heartbeat (absolute deadlines) came every 100 ms, at most that late.
    assert_heartbeats(&timeline, 100, 3000, late);
    // Blinky (relative delays) did what it does alone, each step at most
    // that much later than its delay.
    let (_, alone) = run_for("blinky", 3000, SimConfig::default());
    let shared = lines_of(&timeline, "blinky");
    assert!(shared.len() >= 8, "{shared:?}");
    assert!(shared[0].0 <= late, "{shared:?}");
    for i in 1..shared.len() {
        assert_eq!(shared[i].1, alone[i].text);
        let gap = shared[i].0 - shared[i - 1].0;
        let alone_gap = alone[i].at_ms - alone[i - 1].at_ms;
        assert!(
            (alone_gap..=alone_gap + late).contains(&gap),
            "`{}` {gap} ms after the line before, {alone_gap} ms alone",
            shared[i].1
        );
    }
}

#[test]
fn a_pin_used_by_one_app_traps_another_that_touches_it() {
    let config = SimConfig {
        time_limit_ms: Some(2000),
        ..SimConfig::default()
    };
    let (apps, timeline) = side_by_side(&["blinky", "blinky#2"], config, None);
    let second = match &apps[1].exit {
        Exit::Trapped(t) => t,
        other => panic!("the second blinky should trap, got {other}"),
    };
    assert_eq!(
        second.kind,
        TrapKind::Fault(Fault::InUse {
            interface: "gpio",
            pin: Some(25),
            owner: "blinky".to_string()
        })
    );
    assert_eq!(second.message, "gpio: pin 25 is in use by app `blinky`");
    // The owner is unaffected.
    assert!(matches!(apps[0].exit, Exit::Stopped(_)), "{}", apps[0].exit);
    assert_eq!(lines_of(&timeline, "blinky").len(), 8);
}
