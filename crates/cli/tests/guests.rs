//! Each example guest's observable behaviour on the simulated board, through
//! the real pipeline (cargo -> component -> pulley64 .cwasm -> deserialize).

mod common;

use std::collections::VecDeque;

use belljar_host::Stop;
use belljar_host::runtime::Exit;
use belljar_profile::Target;
use belljar_sim::{Press, SimConfig, UartInput};
use common::*;
use wasmtime::component::Component;

fn stopped_by_time(exit: &Exit, ms: u64) {
    assert!(
        matches!(exit, Exit::Stopped(Stop::TimeLimit { ms: m }) if *m == ms),
        "expected a stop at {ms} ms, got {exit}"
    );
}

/// The Embedded-Wasm example apps and their C twins (`guests/c`, built
/// from `belljar.toml` with clang), and blinky in Zig (`guests/zig`): every
/// behaviour test below runs them all.
const BLINKY: [&str; 3] = ["blinky", "c/blinky", "zig/blinky"];
const BUTTON_LED: [&str; 2] = ["button-led", "c/button-led"];
const UART_ECHO: [&str; 2] = ["uart-echo", "c/uart-echo"];

#[test]
fn blinky_toggles_pin_25_every_500_ms() {
    for name in BLINKY {
        let (exit, trace) = run_for(name, 2000, SimConfig::default());
        stopped_by_time(&exit, 2000);
        let expected: Vec<(u64, String)> = (0..4)
            .flat_map(|i| {
                let t = i * 500;
                let set = if i % 2 == 0 {
                    "gpio.set-high(25)  pin 25 = high"
                } else {
                    "gpio.set-low(25)  pin 25 = low"
                };
                [
                    (t, set.to_string()),
                    (t, "timing.delay-ms(500)".to_string()),
                ]
            })
            .collect();
        assert_eq!(pairs(&trace), expected, "{name}");
    }
}

#[test]
fn blinky_runs_an_hour_of_virtual_time() {
    for name in BLINKY {
        let (exit, trace) = run_for(name, 3_600_000, SimConfig::default());
        stopped_by_time(&exit, 3_600_000);
        // 3600 s / 0.5 s = 7200 half periods, each a gpio call and a delay.
        assert_eq!(trace.len(), 14_400, "{name}");
        assert_eq!(trace.last().unwrap().at_ms, 3_599_500, "{name}");
    }
}

fn button_config() -> SimConfig {
    SimConfig {
        presses: vec![Press {
            pin: 15,
            from_ms: 1200,
            to_ms: 1800,
        }],
        ..SimConfig::default()
    }
}

#[test]
fn button_led_follows_the_scripted_button() {
    for name in BUTTON_LED {
        let (exit, trace) = run_for(name, 3000, button_config());
        stopped_by_time(&exit, 3000);
        // Every 10 ms: poll, drive the LED, wait.
        let polls: Vec<_> = trace
            .iter()
            .filter(|l| l.text.starts_with("button.is-pressed(15)"))
            .collect();
        assert_eq!(polls.len(), 300, "{name}");
        for (i, poll) in polls.iter().enumerate() {
            assert_eq!(poll.at_ms, i as u64 * 10, "{name}");
        }
        let highs: Vec<u64> = trace
            .iter()
            .filter(|l| l.text.starts_with("gpio.set-high(25)"))
            .map(|l| l.at_ms)
            .collect();
        assert_eq!(
            highs,
            (1200..1800).step_by(10).collect::<Vec<_>>(),
            "{name}"
        );
        let lows = trace
            .iter()
            .filter(|l| l.text.starts_with("gpio.set-low(25)"))
            .count();
        assert_eq!(lows, 300 - 60, "{name}");
    }
}

fn uart_config(input: &[u8]) -> SimConfig {
    SimConfig {
        uart: UartInput::Bytes(VecDeque::from(input.to_vec())),
        ..SimConfig::default()
    }
}

/// What `name` sends back for `input`, the same for every uart-echo.
fn echo(input: &[u8]) -> Vec<u8> {
    let outputs: Vec<Vec<u8>> = UART_ECHO
        .iter()
        .map(|name| {
            let mut running = start(name, uart_config(input));
            let exit = running.run();
            assert!(
                matches!(exit, Exit::Stopped(Stop::InputExhausted)),
                "{name}: got {exit}"
            );
            running.board().uart_output()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1], "{UART_ECHO:?} differ");
    outputs[0].clone()
}

#[test]
fn uart_echo_echoes_plain_text() {
    assert_eq!(echo(b"hello belljar"), b"hello belljar");
}

#[test]
fn uart_echo_erases_on_backspace_and_delete() {
    assert_eq!(echo(b"ab\x08"), b"ab\x08 \x08");
    assert_eq!(echo(b"ab\x7f"), b"ab\x08 \x08");
}

#[test]
fn uart_echo_turns_cr_and_lf_into_crlf() {
    assert_eq!(echo(b"a\rb\nc"), b"a\r\nb\r\nc");
}

/// A Rust app and its twins in other languages, how long to run them and
/// with what.
type Twins = (&'static [&'static str], u64, fn() -> SimConfig);

const TWINS: [Twins; 5] = [
    (&BLINKY, 5000, SimConfig::default),
    (&BUTTON_LED, 3000, button_config),
    (&UART_ECHO, 1000, || {
        uart_config(b"hi\x7f there\r\nbye\x08\n")
    }),
    (&["thermometer", "c/thermometer"], 6500, || SimConfig {
        i2c: vec!["tmp105@0x48=-3.5C..35C/5s".parse().unwrap()],
        ..SimConfig::default()
    }),
    // No sensor: every read is a no-acknowledge, logged and retried.
    (&["thermometer", "c/thermometer"], 2500, SimConfig::default),
];

#[test]
fn c_and_zig_apps_make_exactly_the_rust_apps_timelines() {
    for (names, ms, config) in TWINS {
        let (rust, twins) = names.split_first().unwrap();
        let (rust_exit, rust_trace) = run_for(rust, ms, config());
        assert!(rust_trace.len() > 4, "{rust}: {rust_trace:?}");
        for twin in twins {
            let (exit, trace) = run_for(twin, ms, config());
            assert_eq!(pairs(&trace), pairs(&rust_trace), "{twin} against {rust}");
            assert_eq!(
                exit.to_string(),
                rust_exit.to_string(),
                "{twin} against {rust}"
            );
        }
    }
}

#[test]
fn servo_sweeps_0_to_180_and_back_in_10_degree_steps() {
    let steps = 40;
    let (exit, trace) = run_for("servo-sweep", 200 * steps, SimConfig::default());
    stopped_by_time(&exit, 200 * steps);
    let angles: Vec<(u64, u32)> = trace
        .iter()
        .filter_map(|l| {
            let rest = l.text.strip_prefix("servo.set-angle(6, ")?;
            Some((l.at_ms, rest.split(')').next()?.parse().ok()?))
        })
        .collect();
    let expected: Vec<u32> = (0..=180)
        .step_by(10)
        .chain((0..=170).rev().step_by(10))
        .chain([10, 20, 30])
        .collect();
    assert_eq!(angles.iter().map(|(_, a)| *a).collect::<Vec<_>>(), expected);
    for (i, (t, _)) in angles.iter().enumerate() {
        assert_eq!(*t, i as u64 * 200);
    }
}

#[test]
fn servo_pulse_width_follows_the_angle() {
    let mut running = start(
        "servo-sweep",
        SimConfig {
            time_limit_ms: Some(1900),
            ..SimConfig::default()
        },
    );
    running.run();
    // Last step at 1800 ms is 90 degrees: 1.5 ms of a 20 ms period.
    let duty = running.board().duty(6).unwrap();
    assert!((duty - 1500.0 / 20000.0).abs() < 1e-4, "duty {duty}");
}

fn call(name: &str, expr: &str) -> anyhow::Result<Vec<String>> {
    let mut running = start(name, SimConfig::default());
    belljar_cli::run::call(&mut running, expr)
}

#[test]
fn hello_returns_its_greeting() {
    assert_eq!(call("hello", "run()").unwrap(), [r#""hello, world!""#]);
}

#[test]
fn greeter_greets_by_name_and_defaults_to_world() {
    assert_eq!(
        call("greeter", r#"run(some("Kevin"))"#).unwrap(),
        [r#""hello, Kevin!""#]
    );
    assert_eq!(
        call("greeter", "run(none)").unwrap(),
        [r#""hello, world!""#]
    );
}

#[test]
fn describe_exists_on_greeter_and_not_on_hello() {
    let d = call("greeter", "describe()").unwrap();
    assert!(d[0].contains("greeter"), "{d:?}");
    let err = call("hello", "describe()").unwrap_err().to_string();
    assert!(err.contains("exports no function `describe`"), "{err}");
}

#[test]
fn guests_import_nothing_but_the_platform() {
    let engine = belljar_profile::engine(Target::Pulley64).unwrap();
    for name in [
        "blinky",
        "button-led",
        "uart-echo",
        "servo-sweep",
        "hello",
        "greeter",
        "c/blinky",
        "c/button-led",
        "c/uart-echo",
        "zig/blinky",
    ] {
        // SAFETY: built by belljar's own pipeline.
        let component =
            unsafe { Component::deserialize(&engine, cwasm(name, Target::Pulley64)) }.unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(n, _)| n.to_string())
            .collect();
        for import in &imports {
            assert!(
                import.starts_with("embedded:platform/"),
                "{name} imports {import}"
            );
        }
        if name == "hello" || name == "greeter" {
            assert!(imports.is_empty(), "{name} imports {imports:?}");
        }
    }
}

#[test]
fn guests_get_small_fixed_memory() {
    let engine = belljar_profile::engine(Target::Pulley64).unwrap();
    // A Rust crate's [package.metadata.belljar] and a C app's belljar.toml.
    for name in BLINKY {
        // SAFETY: built by belljar's own pipeline.
        let component =
            unsafe { Component::deserialize(&engine, cwasm(name, Target::Pulley64)) }.unwrap();
        let res = component.resources_required().unwrap();
        assert_eq!(res.num_memories, 1, "{name}");
        // 1-byte pages: the initial size is in bytes, as the app asks.
        let asked = belljar_build::GuestCrate::open(&guest_dir(name))
            .unwrap()
            .memory
            .memory;
        assert_eq!(asked, 6144, "{name}");
        assert_eq!(
            res.max_initial_memory_size,
            Some(u64::from(asked)),
            "{name}"
        );
    }
}

#[test]
fn speed_guest_kernels_agree_with_the_same_kernels_compiled_natively() {
    // The speed table's premise: the guest does the native kernels' work.
    let mut running = start("speed", SimConfig::default());
    let exit = running.run();
    assert!(matches!(exit, Exit::Returned), "{exit}");
    let marks: Vec<(String, u32)> = running
        .board()
        .trace()
        .iter()
        .filter_map(|l| l.text.strip_prefix("log.info: "))
        .filter_map(belljar_kernels::parse_mark)
        .filter_map(|(name, result)| Some((name.to_string(), result?)))
        .collect();
    struct Native(u32);
    impl belljar_kernels::Host for Native {
        fn set_high(&mut self, _pin: u32) {
            self.0 += 1;
        }
        fn mark(&mut self, _line: &str) {}
    }
    let mut host = Native(0);
    let native: Vec<(String, u32)> = belljar_kernels::KERNELS
        .iter()
        .map(|(name, kernel)| (name.to_string(), kernel(&mut host)))
        .collect();
    assert_eq!(marks, native);
    // The host-call kernel's calls reached the board.
    assert_eq!(running.board().level(25), Some(true));
    assert_eq!(host.0, 2_000);
}
