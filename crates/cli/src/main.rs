use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use belljar_cli::guest::Source;
use belljar_cli::{inspect, run};
use belljar_host::runtime::{Exit, Limits};
use belljar_profile::Target;
use belljar_sim::SimConfig;
use clap::{Parser, Subcommand, ValueEnum};

/// belljar: sandboxed, updatable WebAssembly apps for microcontrollers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    /// Microcontrollers (32-bit).
    Pulley32,
    /// Desktops (64-bit): the simulator.
    Pulley64,
    /// Both.
    All,
}

#[derive(Subcommand)]
enum Command {
    /// Build a guest crate into a component and Pulley .cwasm files.
    Build {
        /// The guest crate (directory or Cargo.toml).
        guest: PathBuf,
        #[arg(long, value_enum, default_value = "all")]
        target: TargetArg,
    },
    /// Run guests' `run` exports on the simulated board (Pico 2 pinout).
    /// Several guests run side by side, each with its own memory and fuel;
    /// a pin used by one cannot be used by another.
    Run {
        /// Guest crates, .wasm/.wat components or modules, or .cwasm files.
        /// Without --uart-input, piped stdin is the UART input. With
        /// --listen: at most one signed .bjpkg, the factory app.
        #[arg(required_unless_present = "listen")]
        guests: Vec<PathBuf>,
        /// Run as an update target: the device's supervisor on the simulated
        /// board, its update link on this TCP address (`tcp:127.0.0.1:7000`
        /// or a port), for `belljar push`. Implies --realtime.
        #[arg(long, value_name = "ADDRESS", requires = "pubkey")]
        listen: Option<String>,
        /// With --listen: the public key (`belljar keygen` .pub) packages must
        /// be signed with.
        #[arg(long)]
        pubkey: Option<PathBuf>,
        #[command(flatten)]
        script: ScriptArgs,
        /// Make `delay-ms` sleep for real instead of advancing virtual time.
        #[arg(long)]
        realtime: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Call an export of a library-style component with WAVE arguments,
    /// e.g. `belljar call greeter 'run(some("Kevin"))'`.
    Call {
        guest: PathBuf,
        /// `name(args...)` in the WAVE format.
        call: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Create a new app crate in DIR that builds and runs from anywhere (it
    /// carries the belljar SDK and WIT contract this belljar was built with).
    New { dir: PathBuf },
    /// Show what a .wasm, component, .cwasm or .bjpkg contains.
    Inspect { file: PathBuf },
    /// Make an Ed25519 signing key pair: <BASE>.key (secret) and <BASE>.pub.
    Keygen { base: PathBuf },
    /// Package a guest (crate or .cwasm) and sign it: a .bjpkg a device accepts.
    Sign {
        guest: PathBuf,
        /// The secret key from `belljar keygen`.
        #[arg(long)]
        key: PathBuf,
        /// App version; devices refuse versions older than the installed one.
        #[arg(long)]
        version: u32,
        #[arg(long, value_enum, default_value = "pulley32")]
        target: TargetArg,
        /// App name (default: the crate or file name).
        #[arg(long)]
        app: Option<String>,
        /// The WIT world the app targets.
        #[arg(long, default_value = "app")]
        world: String,
        /// Pins the app may drive (comma-separated).
        #[arg(long, value_delimiter = ',')]
        outputs: Vec<u32>,
        /// Pins the app may read.
        #[arg(long, value_delimiter = ',')]
        inputs: Vec<u32>,
        /// ADC channels the app may read.
        #[arg(long, value_delimiter = ',')]
        analog: Vec<u32>,
        /// I2C devices the app may address, BUS:ADDRESS (e.g. i2c0:0x48,i2c0:0x50).
        #[arg(long, value_delimiter = ',', value_parser = belljar_cli::package::parse_i2c_grant)]
        i2c: Vec<(String, u16)>,
        /// SPI devices the app may open, by board name (e.g. display0).
        #[arg(long, value_delimiter = ',')]
        spi: Vec<String>,
        /// Interfaces the app may use (default: those its component imports;
        /// required when signing a .cwasm).
        #[arg(long, value_delimiter = ',')]
        interfaces: Option<Vec<String>>,
        /// Output file (default: <app>.bjpkg next to the payload).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Check a package as a device would: signature, hash, target, versions.
    Verify {
        package: PathBuf,
        /// The public key the device trusts.
        #[arg(long)]
        pubkey: PathBuf,
        #[arg(long, value_enum, default_value = "pulley32")]
        target: TargetArg,
        /// The installed app version (anti-rollback).
        #[arg(long)]
        installed: Option<u32>,
    },
    /// Send a signed package to a device's update agent over a serial port
    /// or a TCP stream (`tcp:HOST:PORT`, e.g. QEMU's `-serial tcp::PORT,server,nowait`).
    Push {
        package: PathBuf,
        /// A serial device (/dev/ttyACM0, COM3) or tcp:HOST:PORT.
        #[arg(long)]
        port: String,
        /// Run it once from RAM instead of installing it.
        #[arg(long)]
        run_once: bool,
        /// Serial speed (8N1).
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// How long to wait for each answer before sending again.
        #[arg(long, default_value = "5s", value_name = "DURATION")]
        timeout: String,
        /// Tries without an answer (or reopenings of the link) before giving up.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        tries: u32,
    },
    /// Build guests into the firmware of QEMU's mps2-an505 (Cortex-M33) and
    /// boot it; several guests run side by side. Exits with the firmware's
    /// status.
    Qemu {
        /// Guest crates.
        #[arg(required = true)]
        guests: Vec<PathBuf>,
        /// The QEMU board: mps2-an505 (Cortex-M33) or riscv32-virt (RV32IMAC).
        #[arg(long, default_value = "mps2-an505", value_name = "BOARD")]
        board: String,
        /// Print a firmware heartbeat line at this period (e.g. 100ms).
        #[arg(long, value_name = "DURATION")]
        heartbeat: Option<String>,
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Roll a signed package out to a fleet through an MQTT broker: a
    /// canary stage first, the next stage when enough devices confirm, a
    /// halt when too many fail. Resumable from any machine.
    Rollout {
        /// The signed package (.bjpkg); not with --resume or --stop.
        #[arg(required_unless_present_any = ["resume", "stop"])]
        package: Option<PathBuf>,
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long)]
        fleet: String,
        /// Only devices of this group.
        #[arg(long)]
        group: Option<String>,
        /// Share of the devices in the first (canary) stage.
        #[arg(long, default_value = "10%")]
        canary: String,
        /// Every stage as cumulative shares instead, e.g. 5%,25%,100%.
        #[arg(long, value_delimiter = ',', conflicts_with = "canary")]
        stages: Vec<String>,
        /// A device that has not confirmed this long after its stage began counts as failed.
        #[arg(long, default_value = "10m", value_name = "DURATION")]
        confirm_within: String,
        /// Halt when more than this share of the admitted devices failed.
        #[arg(long, default_value = "5%")]
        halt_on: String,
        /// Drive the fleet's active rollout (started by any belljar).
        #[arg(long, conflicts_with_all = ["package", "stop"])]
        resume: bool,
        /// Stop the fleet's active rollout: devices not yet updated keep their app.
        #[arg(long, conflicts_with = "package")]
        stop: bool,
    },
    /// Fleets in an MQTT broker.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Join a device on a serial port or TCP link (`belljar run --listen`,
    /// QEMU) to a fleet: its agent takes releases from the broker to the
    /// device's update agent and reports what became of them.
    Gateway {
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long)]
        fleet: String,
        #[arg(long)]
        group: Option<String>,
        /// The device's name in the fleet.
        #[arg(long)]
        device: String,
        /// A serial device (/dev/ttyACM0) or tcp:HOST:PORT.
        #[arg(long)]
        port: String,
    },
}

/// A broker to reach.
#[derive(clap::Args)]
struct BrokerArgs {
    /// mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://... (a password may also
    /// come from BELLJAR_MQTT_PASSWORD).
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The CA certificate (PEM) that signed the broker's (mqtts://; the
    /// system's roots otherwise).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that ask for one.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    client_key: Option<PathBuf>,
}

impl BrokerArgs {
    fn broker(&self) -> Result<belljar_fleet::Broker> {
        let mut b = belljar_fleet::Broker::parse(&self.broker)?;
        if b.password.is_none()
            && let Ok(password) = std::env::var("BELLJAR_MQTT_PASSWORD")
        {
            b.password = Some(password);
        }
        b.ca = self.ca.clone();
        b.client_cert = self.client_cert.clone().zip(self.client_key.clone());
        Ok(b)
    }
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Every device's state and the rollout, as the broker holds them.
    Status {
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long)]
        fleet: String,
    },
    /// Simulated devices that join the fleet: each the supervisor on A/B
    /// slots of a simulated flash, with the factory app installed, and its
    /// agent (as `belljar run --listen` + `belljar gateway`).
    Simulate {
        /// The factory app (a signed .bjpkg for pulley64).
        factory: PathBuf,
        #[command(flatten)]
        broker: BrokerArgs,
        #[arg(long)]
        fleet: String,
        #[arg(long)]
        group: Option<String>,
        /// How many devices.
        #[arg(long, default_value_t = 10)]
        devices: usize,
        /// Device names are PREFIX000, PREFIX001, ...
        #[arg(long, default_value = "sim")]
        prefix: String,
        /// The public key (`belljar keygen` .pub) the devices trust.
        #[arg(long)]
        pubkey: PathBuf,
        /// Stop after this long (default: until killed).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
}

/// A percentage: `10%` or `10`.
fn parse_pct(text: &str) -> Result<f64> {
    let n: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .with_context(|| format!("`{text}` is not a percentage (e.g. 10%)"))?;
    anyhow::ensure!(
        (0.0..=100.0).contains(&n),
        "`{text}`: a percentage is 0-100%"
    );
    Ok(n)
}

/// What a run sees from outside, the same on the simulator and on a board.
#[derive(clap::Args)]
struct ScriptArgs {
    /// Stop after this much virtual / board time (e.g. 10s, 1h).
    #[arg(long = "for", value_name = "DURATION")]
    duration: Option<String>,
    /// Hold a button down: PIN@START..END, e.g. 15@1200ms..1800ms. Repeatable.
    #[arg(long, value_name = "SCRIPT")]
    press: Vec<String>,
    /// Bytes the guest reads from the UART (escapes: \r \n \t \\ \xNN).
    #[arg(long, value_name = "TEXT")]
    uart_input: Option<String>,
    /// Print only the outcome, not the timeline.
    #[arg(long, short)]
    quiet: bool,
    /// An I2C device on the board: MODEL@ADDRESS[=VALUE], e.g.
    /// tmp105@0x48=21.5C, tmp105@0x48=20C..30C/10s, at24c256@0x50[=FILE]. Repeatable.
    #[arg(long, value_name = "DEVICE")]
    i2c: Vec<belljar_sim::devices::I2cSpec>,
    /// An SPI device and the name apps open it by: NAME=MODEL, e.g. display0=max7219.
    #[arg(long, value_name = "DEVICE")]
    spi: Vec<belljar_sim::devices::SpiSpec>,
    /// An analog input's voltage: CHANNEL=VOLTAGE, e.g. 26=1.65V or 26=0V..3.3V/10s.
    #[arg(long, value_name = "INPUT")]
    analog: Vec<belljar_sim::devices::AnalogSpec>,
}

impl ScriptArgs {
    fn for_ms(&self) -> Result<Option<u64>> {
        self.duration
            .as_deref()
            .map(|d| run::parse_duration(d).map(|d| d.as_millis() as u64))
            .transpose()
    }

    fn presses(&self) -> Result<Vec<belljar_sim::Press>> {
        self.press.iter().map(|p| run::parse_press(p)).collect()
    }
}

#[derive(clap::Args)]
struct LimitArgs {
    /// Total fuel for the run (about one unit per wasm instruction).
    #[arg(long)]
    fuel: Option<u64>,
    /// Fuel a guest may burn between two host calls before it is stopped as a runaway
    /// (less up to twice --yield-fuel).
    #[arg(long, default_value_t = Limits::default().watchdog_fuel)]
    watchdog_fuel: u64,
    /// Fuel a computing guest burns before it yields to other tasks (one that only
    /// calls host functions that do not wait yields within twice this).
    #[arg(long, default_value_t = Limits::default().yield_fuel)]
    yield_fuel: u64,
    /// Bytes of linear memory an app may have (as on the boards).
    #[arg(long, default_value_t = belljar_host::runtime::AppResources::DEFAULT.memory)]
    max_memory: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            watchdog_fuel: self.watchdog_fuel,
            total_fuel: self.fuel,
            yield_fuel: self.yield_fuel.max(1),
            resources: belljar_host::runtime::AppResources {
                memory: self.max_memory,
                ..Default::default()
            },
        }
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Build { guest, target } => {
            let targets: &[Target] = match target {
                TargetArg::Pulley32 => &[Target::Pulley32],
                TargetArg::Pulley64 => &[Target::Pulley64],
                TargetArg::All => &Target::ALL,
            };
            let artifacts = belljar_build::GuestCrate::open(&guest)?.build(targets)?;
            println!("built {}", artifacts.name);
            print_file("core module", &artifacts.core_wasm)?;
            print_file("component", &artifacts.component)?;
            for (target, path) in &artifacts.cwasm {
                print_file(&format!("{target} .cwasm"), path)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            guests,
            listen,
            pubkey,
            script,
            realtime,
            limits,
        } => {
            let config = SimConfig {
                presses: script.presses()?,
                uart: run::uart_input(script.uart_input.as_deref())?,
                time_limit_ms: script.for_ms()?,
                realtime: realtime || listen.is_some(),
                echo: !script.quiet,
                // Printed as it happens; a long run must not hold it all.
                keep_timeline: false,
                limits: limits.limits(),
                i2c: script.i2c.clone(),
                spi: script.spi.clone(),
                analog: script.analog.clone(),
                ..SimConfig::default()
            };
            if let (Some(address), Some(pubkey)) = (listen, pubkey) {
                let key = belljar_cli::package::verifying_key(&pubkey)?;
                let factory = match guests.as_slice() {
                    [] => None,
                    [package] => Some(belljar_cli::guest::read(package)?),
                    _ => anyhow::bail!("--listen takes at most one package (the factory app)"),
                };
                let sim = belljar_sim::Sim::new(config)?;
                belljar_cli::listen::listen(sim, &address, &key, factory.as_deref())?;
                return Ok(ExitCode::SUCCESS);
            }
            let loader = run::Loader::new()?;
            let mut apps = Vec::new();
            for guest in &guests {
                let source = Source::resolve(guest)?;
                let mut name = source.name();
                while apps.iter().any(|a: &run::RunApp| a.name == name) {
                    name.push('\'');
                }
                let declared = run::Declared::of(&source)?;
                apps.push(run::RunApp {
                    name,
                    app: loader.load(&source)?,
                    grants: declared.grants,
                    memory: declared.memory,
                });
            }
            let sim = belljar_sim::Sim::new(config)?;
            let report = run::run(&sim, &apps);
            let mut failed = false;
            let several = report.apps.len() > 1;
            for app in &report.apps {
                let who = if several {
                    format!("{}: ", app.name)
                } else {
                    String::new()
                };
                let summary = format!("{} host calls, {} fuel", app.host_calls, app.fuel);
                match &app.exit {
                    Exit::Trapped(trap) => {
                        failed = true;
                        eprintln!("{who}error: {trap}");
                        eprintln!("{who}after {summary}; the simulated board is unaffected");
                    }
                    exit => eprintln!("{who}{exit} after {summary}"),
                }
            }
            let uart = sim.uart_output();
            if !uart.is_empty() {
                eprintln!("uart output: {:?}", String::from_utf8_lossy(&uart));
            }
            eprintln!(
                "{} virtual ms, {:.3} s wall",
                report.virtual_ms,
                report.wall.as_secs_f64()
            );
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Call {
            guest,
            call,
            limits,
        } => {
            let source = Source::resolve(&guest)?;
            let config = SimConfig {
                limits: limits.limits(),
                ..SimConfig::default()
            };
            let mut app = run::start(&source, config)?;
            for result in run::call(&mut app, &call)? {
                println!("{result}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Qemu {
            guests,
            board,
            heartbeat,
            script,
            limits,
        } => {
            let board = belljar_cli::qemu::QemuBoard::named(&board)?;
            let heartbeat_ms = heartbeat
                .as_deref()
                .map(|d| run::parse_duration(d).map(|d| d.as_millis() as u64))
                .transpose()?;
            let for_ms = script.for_ms()?;
            script.presses()?;
            if !script.spi.is_empty() {
                anyhow::bail!(
                    "QEMU's {} has no SPI device model with a chip select; \
                     run SPI devices on the simulator (`belljar run --spi ...`)",
                    board.name
                );
            }
            if !script.analog.is_empty() {
                anyhow::bail!(
                    "QEMU's {} models no ADC; run analog inputs on the simulator \
                     (`belljar run --analog ...`)",
                    board.name
                );
            }
            let input = match script.uart_input.as_deref() {
                Some(text) => run::unescape(text)?,
                None => Vec::new(),
            };
            let devices = belljar_cli::qemu::Devices {
                i2c: script.i2c.clone(),
            };
            devices.check(board)?;
            let mut cwasms = Vec::new();
            for guest in &guests {
                let Source::Crate(dir) = Source::resolve(guest)? else {
                    anyhow::bail!(
                        "`belljar qemu` takes guest crates (it builds the guests and the firmware)"
                    );
                };
                cwasms.push(belljar_cli::qemu::build_guest(&dir)?);
            }
            let settings = belljar_cli::qemu::FirmwareSettings {
                for_ms,
                presses: script.press,
                uart_idle_ms: (!input.is_empty()).then_some(100),
                watchdog_fuel: Some(limits.watchdog_fuel),
                total_fuel: limits.fuel,
                trace: !script.quiet,
                heartbeat_ms,
                ..Default::default()
            };
            let cwasms: Vec<&std::path::Path> = cwasms.iter().map(|p| p.as_path()).collect();
            let elf = belljar_cli::qemu::build_firmware_for(board, &cwasms, &settings)?;
            let outcome =
                belljar_cli::qemu::boot_board_with(board, &elf, &input, true, &devices, |_, _| {
                    Ok(())
                })?;
            Ok(ExitCode::from(u8::try_from(outcome.status).unwrap_or(1)))
        }
        Command::New { dir } => {
            let files = belljar_cli::new::create(&dir)?;
            println!(
                "created app `{}` ({} files) in {}\nbuild it:  belljar build {}\nrun it:    belljar run {} --for 5s",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                files.len(),
                dir.display(),
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { base } => {
            let (secret, public) = belljar_cli::package::keygen(&base)?;
            println!(
                "secret key {} (keep it private)\npublic key {} (build it into the firmware)",
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign {
            guest,
            key,
            version,
            target,
            app,
            world,
            outputs,
            inputs,
            analog,
            i2c,
            spi,
            interfaces,
            out,
        } => {
            let target = single_target(target)?;
            let mut imports = None;
            let mut declared = None;
            let mut memory = None;
            let key = belljar_cli::package::signing_key(&key)?;
            let (payload, name, dir) = match Source::resolve(&guest)? {
                Source::Crate(dir) => {
                    let krate = belljar_build::GuestCrate::open(&dir)?;
                    declared = krate.capabilities.clone();
                    memory = Some(krate.memory.memory);
                    let artifacts = krate.build(&[target])?;
                    let path = artifacts.cwasm(target).expect("built").to_path_buf();
                    imports = Some(belljar_cli::package::component_imports(
                        &belljar_cli::guest::read(&artifacts.component)?,
                    )?);
                    (
                        belljar_cli::guest::read(&path)?,
                        krate.name,
                        path.parent().unwrap().to_path_buf(),
                    )
                }
                Source::Cwasm(path) => {
                    let stem = path.file_stem().unwrap().to_string_lossy();
                    let name = stem.split('.').next().unwrap_or("app").to_string();
                    (
                        belljar_cli::guest::read(&path)?,
                        name,
                        path.parent().unwrap().to_path_buf(),
                    )
                }
                Source::Wasm(_) => anyhow::bail!("sign a guest crate or a .cwasm, not a .wasm"),
            };
            let app = app.unwrap_or(name);
            let Some(interfaces) = interfaces.or(imports) else {
                anyhow::bail!(
                    "name the interfaces the app may use with --interfaces (e.g. \
                     embedded:platform/gpio,embedded:platform/timing), or sign its crate"
                );
            };
            // What the crate declares, unless the command line says otherwise.
            let flags_given = !(outputs.is_empty()
                && inputs.is_empty()
                && analog.is_empty()
                && i2c.is_empty()
                && spi.is_empty());
            let (outputs, inputs, analog, i2c, spi) = match declared {
                Some(caps) if !flags_given => (
                    caps.outputs,
                    caps.inputs,
                    caps.analog,
                    caps.i2c
                        .iter()
                        .map(|g| belljar_cli::package::parse_i2c_grant(g))
                        .collect::<anyhow::Result<Vec<_>>>()?,
                    caps.spi,
                ),
                _ => (outputs, inputs, analog, i2c, spi),
            };
            let request = belljar_cli::package::SignRequest {
                target,
                world: &world,
                app: &app,
                version,
                outputs,
                inputs,
                analog,
                i2c,
                spi,
                interfaces,
                memory,
            };
            let bytes = belljar_cli::package::sign(&payload, &request, &key)?;
            let out = out.unwrap_or_else(|| dir.join(format!("{app}.bjpkg")));
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "signed {app} v{version} for {target}: {} ({} bytes)",
                out.display(),
                bytes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            package,
            pubkey,
            target,
            installed,
        } => {
            let key = belljar_cli::package::verifying_key(&pubkey)?;
            let bytes = belljar_cli::guest::read(&package)?;
            let header =
                belljar_cli::package::verify(&bytes, &key, single_target(target)?, installed)?;
            print!("verified\n{}", belljar_cli::package::describe(&header));
            Ok(ExitCode::SUCCESS)
        }
        Command::Push {
            package,
            port,
            run_once,
            baud,
            timeout,
            tries,
        } => {
            let options = belljar_cli::push::Options {
                port,
                baud,
                mode: match run_once {
                    true => belljar_update::proto::Mode::RunOnce,
                    false => belljar_update::proto::Mode::Install,
                },
                timeout: run::parse_duration(&timeout)?,
                tries,
            };
            belljar_cli::push::push(&package, &options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollout {
            package,
            broker,
            fleet,
            group,
            canary,
            stages,
            confirm_within,
            halt_on,
            resume: _,
            stop,
        } => {
            let broker = broker.broker()?;
            if stop {
                let r = belljar_fleet::controller::stop(&broker, &fleet)?;
                println!(
                    "stopped the rollout of {} v{} in fleet {fleet}",
                    r.app, r.version
                );
                return Ok(ExitCode::SUCCESS);
            }
            let stages = if stages.is_empty() {
                belljar_fleet::plan::Plan::canary(parse_pct(&canary)?.ceil() as u32)
            } else {
                stages
                    .iter()
                    .map(|s| parse_pct(s).map(|p| p.ceil() as u32))
                    .collect::<Result<_>>()?
            };
            let plan = belljar_fleet::plan::Plan {
                group,
                stages,
                confirm_within_s: run::parse_duration(&confirm_within)?.as_secs().max(1),
                halt_on_pct: parse_pct(&halt_on)?,
            };
            let bytes = package
                .as_ref()
                .map(|p| belljar_cli::guest::read(p))
                .transpose()?;
            let header = bytes
                .as_ref()
                .map(|b| belljar_package::parse(b).map(|p| p.header))
                .transpose()
                .map_err(|e| anyhow::anyhow!("not a package: {e}"))?;
            let release = bytes.as_deref().zip(header.as_ref()).map(|(package, h)| {
                belljar_fleet::controller::Release {
                    package,
                    app: &h.app,
                    version: h.version,
                }
            });
            if let Some(h) = &header {
                println!(
                    "rolling out {} v{} ({}) to fleet {fleet} on {}: stages {:?}%",
                    h.app,
                    h.version,
                    h.target,
                    broker.display(),
                    plan.stages
                );
            }
            let started = std::time::Instant::now();
            let mut show = |view: &belljar_fleet::controller::View, note: &str| {
                let at = started.elapsed().as_secs_f64();
                if note.is_empty() {
                    println!("[{at:6.1}s] {}", view.summary());
                } else {
                    println!("[{at:6.1}s] {note}");
                }
            };
            let r = belljar_fleet::controller::rollout(
                &broker,
                &fleet,
                release,
                Some(&plan),
                &mut show,
            )?;
            // The final table, as `belljar fleet status` prints it.
            print!(
                "{}",
                belljar_fleet::controller::status(&broker, &fleet)?.render()
            );
            use belljar_fleet::msg::Status;
            match r.status {
                Status::Complete => {
                    println!("rollout of {} v{} complete", r.app, r.version);
                    Ok(ExitCode::SUCCESS)
                }
                status => {
                    println!(
                        "rollout of {} v{} {status:?}: {}",
                        r.app,
                        r.version,
                        r.reason.unwrap_or_default()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Fleet {
            command: FleetCommand::Status { broker, fleet },
        } => {
            let view = belljar_fleet::controller::status(&broker.broker()?, &fleet)?;
            print!("{}", view.render());
            for (name, d) in &view.fleet {
                let Some(s) = &d.state else { continue };
                println!(
                    "  {name:<12} {:<8} {:<12} v{:<4} slot {:<2} {:<12}{}",
                    if d.online { "online" } else { "offline" },
                    s.app.as_deref().unwrap_or("-"),
                    s.version.map_or("-".into(), |v| v.to_string()),
                    s.slot.as_deref().unwrap_or("-"),
                    s.phase.name(),
                    s.detail
                        .as_ref()
                        .or(s.fault.as_ref())
                        .map(|f| format!(" {}", f.lines().next().unwrap_or_default()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fleet {
            command:
                FleetCommand::Simulate {
                    factory,
                    broker,
                    fleet,
                    group,
                    devices,
                    prefix,
                    pubkey,
                    duration,
                },
        } => {
            let broker = broker.broker()?;
            belljar_fleet::msg::Topics::new(&fleet)?;
            belljar_cli::fleet::simulate(&belljar_cli::fleet::Simulated {
                broker: &broker,
                fleet: &fleet,
                group: group.as_deref(),
                prefix: &prefix,
                count: devices,
                key: belljar_cli::package::verifying_key(&pubkey)?,
                factory: belljar_cli::guest::read(&factory)?,
                duration: duration.as_deref().map(run::parse_duration).transpose()?,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gateway {
            broker,
            fleet,
            group,
            device,
            port,
        } => {
            let me = belljar_fleet::agent::Identity {
                fleet,
                device,
                group,
            };
            belljar_cli::fleet::gateway(&broker.broker()?, &me, &port)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file } => {
            print!("{}", inspect::inspect(&file)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn single_target(target: TargetArg) -> Result<Target> {
    match target {
        TargetArg::Pulley32 => Ok(Target::Pulley32),
        TargetArg::Pulley64 => Ok(Target::Pulley64),
        TargetArg::All => anyhow::bail!("a package holds one target: pulley32 or pulley64"),
    }
}

fn print_file(what: &str, path: &std::path::Path) -> Result<()> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    println!("  {what:<16} {:>8} bytes  {}", len, path.display());
    Ok(())
}
