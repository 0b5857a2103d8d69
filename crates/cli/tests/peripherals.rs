//! Peripherals on the simulator: unmodified driver crates in apps (lm75,
//! eeprom24x, max7219), edge waits that use no CPU, and every bad input of
//! the bus interfaces refused with an error the app handles or a trap that
//! names what was refused, the host carrying on.

mod common;

use belljar_cli::run::SimApp;
use belljar_host::runtime::{App, Exit, TrapKind};
use belljar_host::{Grants, I2cGrant, PinSet};
use belljar_sim::devices::{I2cSpec, SpiSpec};
use belljar_sim::{Press, SimBoard, SimConfig};
use common::*;
use wasmtime::component::Val;

fn i2c(spec: &str) -> I2cSpec {
    spec.parse().unwrap()
}

/// The `log.info` messages of a timeline, with their times.
fn infos(trace: &[belljar_sim::TraceLine]) -> Vec<(u64, String)> {
    trace
        .iter()
        .filter_map(|l| {
            l.text
                .strip_prefix("log.info: ")
                .map(|m| (l.at_ms, m.to_string()))
        })
        .collect()
}

/// The `gpio.*` lines of a timeline, with their times.
fn gpio_lines(trace: &[belljar_sim::TraceLine]) -> Vec<(u64, String)> {
    pairs(trace)
        .into_iter()
        .filter(|(_, t)| t.starts_with("gpio."))
        .collect()
}

#[test]
fn thermometer_reports_the_sensor_through_the_unmodified_lm75_driver() {
    let config = SimConfig {
        i2c: vec![i2c("tmp105@0x48=21.5C")],
        ..SimConfig::default()
    };
    let (exit, trace) = run_for("thermometer", 3000, config);
    assert!(matches!(exit, Exit::Stopped(_)), "{exit}");
    assert_eq!(
        infos(&trace),
        [
            (0, "temperature 21.5 C".to_string()),
            (1000, "temperature 21.5 C".to_string()),
            (2000, "temperature 21.5 C".to_string()),
        ]
    );
    // Every transaction is a line: bus, address, bytes written and read.
    assert!(
        pairs(&trace).contains(&(
            0,
            "i2c.write-read(i2c0, 0x48, write [00], read 2) -> ok [15 80]".to_string()
        )),
        "{trace:#?}"
    );
}

#[test]
fn thermometer_follows_a_ramp_and_switches_the_led_above_30_c() {
    let config = SimConfig {
        i2c: vec![i2c("tmp105@0x48=20C..35C/3s")],
        ..SimConfig::default()
    };
    let (_, trace) = run_for("thermometer", 4000, config);
    let readings: Vec<String> = infos(&trace).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        readings,
        [
            "temperature 20.0 C",
            "temperature 25.0 C",
            "temperature 30.0 C",
            "temperature 35.0 C"
        ]
    );
    assert_eq!(
        gpio_lines(&trace),
        [
            (0, "gpio.set-low(25)  pin 25 = low".to_string()),
            (1000, "gpio.set-low(25)  pin 25 = low".to_string()),
            (2000, "gpio.set-low(25)  pin 25 = low".to_string()),
            (3000, "gpio.set-high(25)  pin 25 = high".to_string()),
        ]
    );
}

#[test]
fn an_absent_sensor_nacks_and_the_app_handles_it() {
    // No device at 0x48: the bus does not acknowledge, the driver returns
    // the error, the app logs it and keeps running.
    let (exit, trace) = run_for("thermometer", 2500, SimConfig::default());
    assert!(matches!(exit, Exit::Stopped(_)), "{exit}");
    let lines = pairs(&trace);
    assert!(
        lines.contains(&(
            1000,
            "i2c.write-read(i2c0, 0x48, write [00], read 2) -> error no-acknowledge(address)"
                .to_string()
        ))
    );
    let warnings = lines
        .iter()
        .filter(|(_, t)| t.contains("sensor did not answer: ErrorCode::NoAcknowledge"))
        .count();
    assert_eq!(warnings, 3, "{lines:#?}");
}

#[test]
fn boot_counter_counts_its_starts_in_a_file_backed_eeprom() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eeprom.bin");
    let spec = i2c(&format!("at24c256@0x50={}", file.display()));
    for boot in 1..=3 {
        let config = SimConfig {
            i2c: vec![spec.clone()],
            ..SimConfig::default()
        };
        let (exit, trace) = run_for("boot-counter", 1000, config);
        assert!(matches!(exit, Exit::Returned), "{exit}");
        assert_eq!(infos(&trace), [(5, format!("boot {boot}"))]);
    }
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len(), 32768);
    assert_eq!(&bytes[..4], &3u32.to_le_bytes());
}

#[test]
fn spi_display_shows_the_count_through_the_unmodified_max7219_driver() {
    let config = SimConfig {
        spi: vec!["display0=max7219".parse::<SpiSpec>().unwrap()],
        time_limit_ms: Some(2500),
        ..SimConfig::default()
    };
    let mut app = start("spi-display", config);
    app.run();
    assert_eq!(app.sim.display_text("display0").unwrap(), "       2");
    let trace = app.board().trace();
    assert!(
        trace
            .iter()
            .any(|l| l.text == "spi.transaction(display0, write [0c 01]) -> ok"),
        "power-on frame missing"
    );
}

#[test]
fn an_edge_wait_sleeps_without_burning_fuel() {
    let presses = vec![
        Press {
            pin: 15,
            from_ms: 1000,
            to_ms: 1200,
        },
        Press {
            pin: 15,
            from_ms: 40_000,
            to_ms: 40_100,
        },
    ];
    let config = SimConfig {
        presses: presses.clone(),
        time_limit_ms: Some(60_000),
        ..SimConfig::default()
    };
    let mut app = start("button-wait", config);
    app.run();
    assert_eq!(
        gpio_lines(&app.board().trace()),
        [
            (1000, "gpio.set-high(25)  pin 25 = high".to_string()),
            (40_000, "gpio.set-low(25)  pin 25 = low".to_string()),
        ]
    );
    let waiting = app.fuel_used();
    // The polling button-led over the same minute, for comparison.
    let config = SimConfig {
        presses,
        time_limit_ms: Some(60_000),
        ..SimConfig::default()
    };
    let mut polling = start("button-led", config);
    polling.run();
    let polled = polling.fuel_used();
    println!("fuel over 60 s: edge wait {waiting}, polling button-led {polled}");
    assert!(waiting < 500, "the waiting app burnt {waiting} fuel");
    assert!(
        polled > 100 * waiting,
        "polling {polled} vs waiting {waiting}"
    );
}

#[test]
fn a_wait_for_an_edge_that_never_comes_ends_at_the_time_limit_or_at_once() {
    let app = load("bus-faults");
    let config = SimConfig {
        time_limit_ms: Some(2000),
        ..SimConfig::default()
    };
    let exit = call(&app, "wait-edge", &[Val::U32(15)], config).unwrap_err();
    assert!(
        matches!(
            exit,
            Exit::Stopped(belljar_host::Stop::TimeLimit { ms: 2000 })
        ),
        "{exit}"
    );
    let exit = call(&app, "wait-edge", &[Val::U32(15)], SimConfig::default()).unwrap_err();
    assert!(
        exit.to_string()
            .contains("waits for an input change that no scripted input (--press) makes"),
        "{exit}"
    );
}

/// Calls an export of the bus-faults fixture on a fresh board.
fn call(app: &App<SimBoard>, name: &str, params: &[Val], config: SimConfig) -> Result<Val, Exit> {
    call_granted(app, name, params, config, Grants::ALL)
}

fn call_granted(
    app: &App<SimBoard>,
    name: &str,
    params: &[Val],
    config: SimConfig,
    grants: Grants,
) -> Result<Val, Exit> {
    let mut sim_app = SimApp::start_granted(app, "bus-faults", config, grants).unwrap();
    let func = sim_app.running.func(name).unwrap();
    let n = func.ty(sim_app.running.store()).results().len();
    let mut results = vec![Val::Bool(false); n];
    sim_app.call(func, params, &mut results)?;
    Ok(results.pop().unwrap_or(Val::Bool(true)))
}

fn err_text(val: Val) -> String {
    match val {
        Val::Result(Err(Some(e))) => match *e {
            Val::String(s) => s,
            other => panic!("{other:?}"),
        },
        other => panic!("expected an error, got {other:?}"),
    }
}

fn i2c_read(bus: &str, address: u16, len: u64) -> Vec<Val> {
    vec![Val::String(bus.into()), Val::U16(address), Val::U64(len)]
}

#[test]
fn oversized_and_malformed_transfers_get_errors_before_the_host_allocates() {
    let app = load("bus-faults");
    let config = || SimConfig {
        i2c: vec![i2c("tmp105@0x48=25C")],
        ..SimConfig::default()
    };
    // 1 MiB read: refused with `other`, nothing allocated.
    let got = call(&app, "i2c-read", &i2c_read("i2c0", 0x48, 1 << 20), config()).unwrap();
    assert_eq!(err_text(got), "ErrorCode::Other");
    // The limit itself is fine.
    let got = call(&app, "i2c-read", &i2c_read("i2c0", 0x48, 1024), config()).unwrap();
    assert!(matches!(got, Val::Result(Ok(_))), "{got:?}");
    // 17 operations in one transaction: over the limit of 16.
    let got = call(&app, "i2c-reads", &[Val::U32(17)], config()).unwrap();
    assert_eq!(err_text(got), "ErrorCode::Other");
    let got = call(&app, "i2c-reads", &[Val::U32(16)], config()).unwrap();
    assert!(matches!(got, Val::Result(Ok(_))), "{got:?}");
    // A 10-bit address.
    let got = call(&app, "i2c-read", &i2c_read("i2c0", 0x248, 2), config()).unwrap();
    assert_eq!(err_text(got), "ErrorCode::Other");
    // A bus the board does not have, an SPI device it does not have.
    let got = call(&app, "i2c-read", &i2c_read("i2c7", 0x48, 2), config()).unwrap();
    assert_eq!(err_text(got), "ErrorCode::Other");
    let got = call(&app, "spi-open", &[Val::String("nope".into())], config()).unwrap();
    assert_eq!(
        err_text(got),
        r#"Error::Other("no such device on this board")"#
    );
    // An absent address: no-acknowledge(address), as on a real bus.
    let got = call(&app, "i2c-read", &i2c_read("i2c0", 0x33, 2), config()).unwrap();
    assert_eq!(
        err_text(got),
        "ErrorCode::NoAcknowledge(NoAcknowledgeSource::Address)"
    );
}

#[test]
fn the_refusal_reason_is_on_the_timeline() {
    let app = load("bus-faults");
    let config = SimConfig::default();
    let mut sim_app = SimApp::start(&app, "bus-faults", config).unwrap();
    let func = sim_app.running.func("i2c-read").unwrap();
    let mut results = vec![Val::Bool(false)];
    sim_app
        .call(func, &i2c_read("i2c0", 0x48, 1 << 20), &mut results)
        .unwrap();
    let lines: Vec<String> = sim_app
        .board()
        .trace()
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(
        lines,
        [
            r#"buses.open-i2c("i2c0") -> ok"#,
            "i2c.read(i2c0, 0x48, read 1048576) -> error other (a read, write or transfer longer than the 1024 bytes allowed)"
        ]
    );
}

fn expect_fault(exit: Exit, message: &str) {
    match exit {
        Exit::Trapped(t) => {
            assert!(matches!(t.kind, TrapKind::Fault(_)), "{t}");
            assert_eq!(t.message, message);
        }
        other => panic!("expected a trap, got {other}"),
    }
}

#[test]
fn ungranted_buses_devices_and_pins_trap_with_a_message_naming_them() {
    let app = load("bus-faults");
    let config = || SimConfig {
        i2c: vec![i2c("tmp105@0x48=25C"), i2c("at24c256@0x50")],
        spi: vec!["display0=max7219".parse().unwrap()],
        ..SimConfig::default()
    };
    let grants = || Grants {
        outputs: [25].into_iter().collect(),
        inputs: PinSet::NONE,
        analog: PinSet::NONE,
        i2c: Some(vec![I2cGrant {
            bus: "i2c0".into(),
            address: 0x48,
        }]),
        spi: Some(Vec::new()),
        interfaces: None,
    };
    // The granted device works.
    let granted_read_works = || {
        let got = call_granted(
            &app,
            "i2c-read",
            &i2c_read("i2c0", 0x48, 2),
            config(),
            grants(),
        );
        assert!(matches!(got, Ok(Val::Result(Ok(_)))), "{got:?}");
    };
    granted_read_works();
    let cases: [(&str, Vec<Val>, &str); 6] = [
        (
            "i2c-read",
            i2c_read("i2c0", 0x50, 2),
            "i2c: device 0x50 on bus `i2c0` is not granted to this app (its package's capabilities do not list it)",
        ),
        (
            "i2c-read",
            i2c_read("i2c1", 0x48, 2),
            "i2c: `i2c1` is not granted to this app (its package's capabilities do not list it)",
        ),
        (
            "spi-open",
            vec![Val::String("display0".into())],
            "spi: `display0` is not granted to this app (its package's capabilities do not list it)",
        ),
        (
            "set-duty",
            vec![Val::U32(3), Val::U16(100)],
            "pwm: pin 3 is not granted to this app (its package's capabilities do not list it)",
        ),
        (
            "wait-edge",
            vec![Val::U32(15)],
            "digital: pin 15 is not granted to this app (its package's capabilities do not list it)",
        ),
        (
            "read-analog",
            vec![Val::U32(26)],
            "analog: channel 26 is not granted to this app (its package's capabilities do not list it)",
        ),
    ];
    for (export, params, message) in cases {
        let exit = call_granted(&app, export, &params, config(), grants()).unwrap_err();
        expect_fault(exit, message);
    }
    // And the host carries on: the granted device still answers.
    granted_read_works();
}

#[test]
fn handles_duty_cycles_and_channels_are_bounded() {
    let app = load("bus-faults");
    let got = call(&app, "open-many", &[Val::U32(8)], SimConfig::default()).unwrap();
    assert_eq!(got, Val::U32(8));
    let exit = call(&app, "open-many", &[Val::U32(9)], SimConfig::default()).unwrap_err();
    expect_fault(
        exit,
        "buses: more than 8 I2C/SPI handles open at once (drop the ones you no longer use)",
    );
    let exit = call(&app, "read-analog", &[Val::U32(26)], SimConfig::default()).unwrap_err();
    expect_fault(
        exit,
        "analog: channel 26 is not available to this app on this board",
    );
    let config = SimConfig {
        analog: vec!["26=1.65V".parse().unwrap()],
        ..SimConfig::default()
    };
    let got = call(&app, "read-analog", &[Val::U32(26)], config).unwrap();
    assert_eq!(got, Val::U16(2048));
    let exit = call(
        &app,
        "set-duty",
        &[Val::U32(40), Val::U16(1)],
        SimConfig::default(),
    )
    .unwrap_err();
    expect_fault(
        exit,
        "pwm: pin 40 is not available to this app on this board",
    );
}
