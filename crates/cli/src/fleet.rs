//! `belljar gateway` and `belljar fleet simulate`: fleet members. A gateway
//! is the device agent of one board attached by UART or TCP (the update
//! protocol of `belljar push`); `fleet simulate` runs many simulated
//! devices, each the real supervisor on A/B slots of a simulated NOR flash
//! (`belljar run --listen`) with a gateway of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use belljar_fleet::Broker;
use belljar_fleet::agent::{self, Device, Identity, Patience, Snapshot};
use belljar_package::ed25519_dalek::VerifyingKey;
use belljar_sim::{Sim, SimConfig};
use belljar_update::proto::{CandidateState, DeviceMsg, Mode};

use crate::push::{self, Options, Refused};

/// A device reached over the update protocol.
pub struct Linked {
    pub options: Options,
}

impl Linked {
    pub fn new(port: &str) -> Linked {
        Linked {
            options: Options {
                port: port.to_string(),
                baud: 115_200,
                mode: Mode::Install,
                timeout: Duration::from_secs(2),
                tries: 5,
            },
        }
    }
}

impl Device for Linked {
    fn snapshot(&mut self) -> Result<Snapshot> {
        let (status, report) = push::query(&self.options)?;
        let mut s = Snapshot::default();
        if let DeviceMsg::Status {
            installed,
            candidate,
            ..
        } = status
        {
            s.installed = installed;
            s.pending = matches!(candidate, CandidateState::Pending { .. });
            s.testing = matches!(candidate, CandidateState::Testing { .. });
        }
        if let Some(DeviceMsg::Report {
            app,
            version,
            slot,
            trial,
            fault,
        }) = report
        {
            s.app = app;
            s.version = version;
            s.slot = slot.map(|slot| format!("{slot:?}"));
            s.trial = trial;
            s.fault = fault;
        }
        Ok(s)
    }

    fn install(&mut self, package: &[u8]) -> Result<Result<(), String>> {
        let header = belljar_package::parse(package)
            .map_err(|e| anyhow::anyhow!("not a package: {e}"))?
            .header;
        match push::send(package, &header, &self.options) {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.downcast::<Refused>() {
                Ok(refused) => Ok(Err(refused.0)),
                Err(e) => Err(e),
            },
        }
    }
}

/// `belljar gateway`: the agent of the device on `port` until killed.
pub fn gateway(broker: &Broker, me: &Identity, port: &str) -> Result<()> {
    let name = me.device.clone();
    let log = move |line: &str| println!("{name}: {line}");
    println!(
        "{}: gateway for {port} in fleet {} on {}",
        me.device,
        me.fleet,
        broker.display()
    );
    agent::run(
        broker,
        me,
        Linked::new(port),
        Patience::default(),
        &log,
        &|| false,
    )
}

/// `belljar fleet simulate`.
pub struct Simulated<'a> {
    pub broker: &'a Broker,
    pub fleet: &'a str,
    pub group: Option<&'a str>,
    /// Device names are `{prefix}{index:03}`.
    pub prefix: &'a str,
    pub count: usize,
    pub key: VerifyingKey,
    pub factory: Vec<u8>,
    /// Stop after this long (forever if `None`).
    pub duration: Option<Duration>,
}

/// Runs `count` simulated devices, each the supervisor on simulated flash
/// with the factory app installed, and its agent.
pub fn simulate(s: &Simulated<'_>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..s.count {
        let name = format!("{}{i:03}", s.prefix);
        let listener = crate::listen::bind("127.0.0.1:0")?;
        let port = format!("tcp:{}", listener.local_addr()?);
        let (key, factory) = (s.key, s.factory.clone());
        let device_name = name.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("{name} device"))
                .spawn(move || -> Result<()> {
                    let sim = Sim::new(SimConfig {
                        realtime: true,
                        keep_timeline: false,
                        ..SimConfig::default()
                    })?;
                    // Polled every 10 ms: hundreds of devices share the CPU.
                    crate::listen::listen_on(
                        sim,
                        listener,
                        &key,
                        Some(&factory),
                        10,
                        Some(device_name),
                    )
                })
                .context("cannot start a device thread")?,
        );
        let me = Identity {
            fleet: s.fleet.to_string(),
            device: name.clone(),
            group: s.group.map(String::from),
        };
        let broker = s.broker.clone();
        let stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("{name} agent"))
                .spawn(move || -> Result<()> {
                    let log = |line: &str| println!("{}: {line}", me.device);
                    let done = || stop.load(Ordering::Relaxed);
                    let run = agent::run(
                        &broker,
                        &me,
                        Linked::new(&port),
                        Patience::default(),
                        &log,
                        &done,
                    );
                    if let Err(e) = &run {
                        eprintln!("{}: agent stopped: {e:#}", me.device);
                    }
                    run
                })
                .context("cannot start an agent thread")?,
        );
    }
    println!(
        "{} simulated devices ({}000..{}{:03}) in fleet {} on {}",
        s.count,
        s.prefix,
        s.prefix,
        s.count.saturating_sub(1),
        s.fleet,
        s.broker.display()
    );
    match s.duration {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
    stop.store(true, Ordering::Relaxed);
    std::process::exit(0);
}
