//! `belljar run --listen`: the simulator as an update target. It runs the
//! same supervisor as a device (A/B slots on a simulated NOR flash, verify
//! before load, grants, restart with backoff, trial and rollback), with its
//! update link on a local TCP port that `belljar push --port tcp:...` reaches.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use anyhow::{Context, Result};
use belljar_host::runtime::Runtime;
use belljar_package::ed25519_dalek::VerifyingKey;
use belljar_sim::{Sim, SimBoard, Task};
use belljar_supervisor::{Platform, Settings, Supervisor, install_factory};
use belljar_update::sim_flash::SimFlash;
use belljar_update::{Config, Slots};

/// An update link to the simulated device: the bytes that came in so far,
/// and a way out.
pub trait Link {
    /// Takes waiting bytes into `buf`; 0 when none are waiting.
    fn try_read(&self, buf: &mut [u8]) -> usize;
    fn write(&self, bytes: &[u8]);
}

/// The simulator seen by the supervisor, its update link on `link`.
pub struct SimDevice<L> {
    pub sim: Sim,
    pub link: L,
    /// How often (virtual ms) the link is polled.
    pub poll_ms: u64,
    /// Print supervisor lines to stdout as `NAME supervisor: ...` instead of
    /// the timeline (a fleet of simulated devices in one process).
    pub name: Option<String>,
}

impl<L: Link> Platform for SimDevice<L> {
    type Board = SimBoard;

    fn board(&self, app: &str) -> SimBoard {
        self.sim.board(app).0
    }

    async fn sleep_ms(&self, ms: u64) {
        self.sim.sleep_ms(ms).await
    }

    /// Polls the link every `poll_ms` of virtual time.
    async fn receive(&self, buf: &mut [u8]) -> usize {
        loop {
            let n = self.link.try_read(buf);
            if n > 0 {
                return n;
            }
            self.sim.sleep_ms(self.poll_ms).await;
        }
    }

    fn send(&self, bytes: &[u8]) {
        self.link.write(bytes);
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        let line = line.to_string();
        let line = line.strip_prefix("supervisor: ").unwrap_or(&line);
        match &self.name {
            Some(name) => println!("{name} supervisor: {line}"),
            None => self.sim.note("supervisor", line),
        }
    }
}

/// A TCP update link: the first connection accepted, then the next when it
/// drops.
struct Tcp {
    listener: TcpListener,
    stream: RefCell<Option<TcpStream>>,
}

impl Link for Tcp {
    fn try_read(&self, buf: &mut [u8]) -> usize {
        let mut stream = self.stream.borrow_mut();
        if stream.is_none()
            && let Ok((accepted, _)) = self.listener.accept()
        {
            let _ = accepted.set_nonblocking(true);
            *stream = Some(accepted);
        }
        let Some(s) = stream.as_mut() else { return 0 };
        match s.read(buf) {
            Ok(0) => {
                *stream = None;
                0
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(_) => {
                *stream = None;
                0
            }
        }
    }

    fn write(&self, bytes: &[u8]) {
        if let Some(stream) = self.stream.borrow_mut().as_mut() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.write_all(bytes);
            let _ = stream.set_nonblocking(true);
        }
    }
}

/// Sectors (4 KiB) of the simulated flash: 2 for the boot state, 2 x 63
/// for the slots (252 KiB each).
const SECTORS: usize = 128;

/// Runs the supervisor on `sim` with its update link on `address`
/// (`tcp:HOST:PORT`, `HOST:PORT` or `PORT`), trusting `key`, after
/// installing `factory` (a signed package) if given. Returns when the
/// simulation's time limit is reached.
pub fn listen(sim: Sim, address: &str, key: &VerifyingKey, factory: Option<&[u8]>) -> Result<()> {
    listen_on(sim, bind(address)?, key, factory, 1, None)
}

/// A non-blocking listener on `address` (`tcp:HOST:PORT`, `HOST:PORT` or `PORT`).
pub fn bind(address: &str) -> Result<TcpListener> {
    let address = address.strip_prefix("tcp:").unwrap_or(address);
    let address = if address.contains(':') {
        address.to_string()
    } else {
        format!("127.0.0.1:{address}")
    };
    let listener =
        TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// [`listen`] on a bound listener, polling it every `poll_ms`; `name`: see
/// [`SimDevice::name`].
pub fn listen_on(
    sim: Sim,
    listener: TcpListener,
    key: &VerifyingKey,
    factory: Option<&[u8]>,
    poll_ms: u64,
    name: Option<String>,
) -> Result<()> {
    let config = Config {
        base: 0,
        state_sectors: 2,
        slot_sectors: (SECTORS as u32 - 2) / 2,
        max_boot_attempts: 3,
    };
    let mut slots = Slots::open(SimFlash::<8, 4096>::new(SECTORS), config)
        .map_err(|e| anyhow::anyhow!("cannot open the simulated flash: {e:?}"))?;
    let settings = Settings {
        limits: sim.limits(),
        max_len: slots.slot_size() as usize,
        ..Settings::default()
    };
    if let Some(package) = factory {
        let policy = belljar_package::Policy {
            key,
            target: belljar_profile::Target::host(),
            installed: None,
            allow_downgrade: false,
            max_len: settings.max_len,
        };
        let header = install_factory(&mut slots, package, &policy)
            .map_err(|e| anyhow::anyhow!("the factory package was refused: {e:?}"))?;
        if name.is_none() {
            sim.note(
                "supervisor",
                format!("factory app {} v{} installed", header.app, header.version),
            );
        }
    }
    if name.is_none() {
        sim.note(
            "supervisor",
            format!("update link on tcp:{}", listener.local_addr()?),
        );
    }
    let runtime = Runtime::<SimBoard>::new()
        .map_err(anyhow::Error::from)
        .context("cannot create the engine")?;
    let platform = SimDevice {
        sim: sim.clone(),
        link: Tcp {
            listener,
            stream: RefCell::new(None),
        },
        poll_ms,
        name,
    };
    let supervisor = Supervisor::new(platform, runtime, slots, key, settings);
    let task: Task<'_, ()> = Box::pin(async {
        supervisor.run().await;
    });
    sim.run(vec![task], Vec::new());
    Ok(())
}
