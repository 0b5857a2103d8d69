//! The device agent: a device's member of the fleet. It subscribes to its
//! fleet's rollout, fetches a release that admits it, hands the package to
//! the device's update agent ([`Device`]: the framed update protocol over a
//! UART or TCP link) and reports what became of it.
//!
//! Idempotent by construction: what the agent did about a release is in its
//! own retained state, which it reads back when it (re)connects, so a
//! redelivered rollout, a restarted agent or a restarted broker installs
//! nothing twice; a device that already runs the version reports it
//! confirmed without installing.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::broker::{Broker, Connection, Incoming, Session};
use crate::msg::{DeviceState, Phase, Rollout, SCHEMA, Topics, now_ms, release_id};

/// What the device says about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The confirmed app's version.
    pub installed: Option<u32>,
    /// A candidate is installed and waits for its trial (pending).
    pub pending: bool,
    /// A candidate runs on trial.
    pub testing: bool,
    pub app: Option<String>,
    pub version: Option<u32>,
    pub slot: Option<String>,
    pub trial: bool,
    pub fault: Option<String>,
}

/// How the agent reaches the device's update agent.
pub trait Device {
    fn snapshot(&mut self) -> Result<Snapshot>;
    /// Sends the package for installation. `Ok(Err(why))`: the device
    /// refused it.
    fn install(&mut self, package: &[u8]) -> Result<Result<(), String>>;
}

/// Who the agent is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub fleet: String,
    pub device: String,
    pub group: Option<String>,
}

/// How patient the agent is.
#[derive(Clone, Debug)]
pub struct Patience {
    /// How often the device is asked while an update is on trial.
    pub poll: Duration,
    /// An installed update that has not confirmed or rolled back by then
    /// is reported failed.
    pub trial_limit: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            poll: Duration::from_millis(250),
            trial_limit: Duration::from_secs(600),
        }
    }
}

struct Agent<'a, D> {
    me: &'a Identity,
    topics: Topics,
    conn: Connection,
    device: D,
    patience: Patience,
    /// The last state published (and read back at start).
    state: DeviceState,
    rollout: Option<Rollout>,
    /// The release being fetched.
    fetching: Option<String>,
    log: &'a dyn Fn(&str),
}

/// Runs the agent of `device` until `stop` returns true (checked every
/// 100 ms).
pub fn run(
    broker: &Broker,
    me: &Identity,
    device: impl Device,
    patience: Patience,
    log: &dyn Fn(&str),
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    crate::msg::check_name("device", &me.device)?;
    if let Some(g) = &me.group {
        crate::msg::check_name("group", g)?;
    }
    let topics = Topics::new(&me.fleet)?;
    let conn = Connection::open(
        broker,
        Session {
            client_id: &format!("belljar-device-{}-{}", me.fleet, me.device),
            clean: false,
            will: Some((topics.online(&me.device), b"false".to_vec())),
        },
    )?;
    conn.connected(broker, Duration::from_secs(30))?;
    let mut agent = Agent {
        me,
        state: DeviceState {
            v: SCHEMA,
            device: me.device.clone(),
            group: me.group.clone(),
            app: None,
            version: None,
            slot: None,
            phase: Phase::Idle,
            release: None,
            fault: None,
            detail: None,
            at_ms: 0,
        },
        topics,
        conn,
        device,
        patience,
        rollout: None,
        fetching: None,
        log,
    };
    agent.recall()?;
    agent.greet()?;
    while !stop() {
        let Some(event) = agent.conn.next(Duration::from_millis(100)) else {
            continue;
        };
        match event {
            Incoming::Connected => agent.greet()?,
            Incoming::Down(e) => (agent.log)(&format!("broker connection down ({e}); retrying")),
            Incoming::Message { topic, payload } => agent.on_message(&topic, payload)?,
        }
    }
    Ok(())
}

impl<D: Device> Agent<'_, D> {
    /// Reads back this device's own retained state: what it did about
    /// which release, before a restart.
    fn recall(&mut self) -> Result<()> {
        let own = self.topics.state(&self.me.device);
        self.conn.subscribe(own.clone())?;
        let deadline = Instant::now() + Duration::from_millis(700);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.conn.next(left) {
                Some(Incoming::Message { topic, payload }) if topic == own => {
                    if let Ok(state) = serde_json::from_slice::<DeviceState>(&payload)
                        && state.v == SCHEMA
                    {
                        self.state = state;
                    }
                    break;
                }
                Some(Incoming::Message { topic, payload }) => self.on_message(&topic, payload)?,
                _ => {}
            }
        }
        self.conn
            .client
            .unsubscribe(own)
            .map_err(anyhow::Error::from)?;
        Ok(())
    }

    /// (Re)connected: say who we are, what runs, and listen to the rollout.
    fn greet(&mut self) -> Result<()> {
        self.conn
            .put(self.topics.online(&self.me.device), b"true".to_vec())?;
        self.refresh();
        self.publish()?;
        // A release that was being installed when the agent stopped is
        // followed up when the rollout arrives (its fate is on the device).
        self.conn.subscribe(self.topics.rollout())?;
        if let Some(id) = &self.fetching {
            self.conn.subscribe(self.topics.release(id))?;
        }
        Ok(())
    }

    /// Takes the device's own view into the state.
    fn refresh(&mut self) -> Option<Snapshot> {
        match self.device.snapshot() {
            Ok(s) => {
                self.state.app = s.app.clone().or(self.state.app.take());
                self.state.version = s.version.or(s.installed);
                self.state.slot = s.slot.clone();
                self.state.fault = s.fault.clone();
                Some(s)
            }
            Err(e) => {
                (self.log)(&format!("the device does not answer: {e:#}"));
                None
            }
        }
    }

    fn publish(&mut self) -> Result<()> {
        self.state.at_ms = now_ms();
        let topic = self.topics.state(&self.me.device);
        self.conn.put(topic, serde_json::to_vec(&self.state)?)
    }

    fn set(&mut self, phase: Phase, release: Option<String>, detail: Option<String>) -> Result<()> {
        (self.log)(&format!(
            "{}{}",
            phase.name(),
            detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
        self.state.phase = phase;
        self.state.release = release;
        self.state.detail = detail;
        self.publish()
    }

    fn on_message(&mut self, topic: &str, payload: Vec<u8>) -> Result<()> {
        if topic == self.topics.rollout() {
            match serde_json::from_slice::<Rollout>(&payload) {
                Ok(r) if r.v == SCHEMA => {
                    self.rollout = Some(r);
                    self.act()?;
                }
                Ok(r) => (self.log)(&format!("skipping a rollout of schema v{}", r.v)),
                Err(_) if payload.is_empty() => self.rollout = None,
                Err(e) => (self.log)(&format!("skipping an unreadable rollout: {e}")),
            }
        } else if let Some(id) = self.topics.release_id(topic)
            && self.fetching.as_deref() == Some(id)
        {
            let id = id.to_string();
            self.fetching = None;
            let _ = self.conn.client.unsubscribe(topic);
            self.install(id, &payload)?;
        }
        Ok(())
    }

    /// Whether the current rollout asks something of this device.
    fn act(&mut self) -> Result<()> {
        let Some(r) = self.rollout.clone() else {
            return Ok(());
        };
        if !r.admits(&self.me.device, self.me.group.as_deref()) {
            if self.fetching.take().is_some() {
                (self.log)(&format!(
                    "rollout of {} v{} is {:?}: not installing",
                    r.app, r.version, r.status
                ));
                let _ = self.conn.client.unsubscribe(self.topics.release(&r.id));
                self.set(Phase::Idle, None, None)?;
            }
            return Ok(());
        }
        let handled = self.state.release.as_deref() == Some(r.id.as_str());
        if handled && (self.state.phase.is_final() || self.fetching.is_some()) {
            return Ok(()); // Redelivered: done (or under way) already.
        }
        if handled && matches!(self.state.phase, Phase::Installing | Phase::Trial) {
            return self.watch_trial(Some(r.id.clone()));
        }
        let snapshot = self.refresh();
        if let Some(s) = &snapshot
            && s.app.as_deref() == Some(r.app.as_str())
            && s.installed.is_some_and(|v| v >= r.version)
        {
            return self.set(
                Phase::Confirmed,
                Some(r.id.clone()),
                Some("already installed".into()),
            );
        }
        self.fetching = Some(r.id.clone());
        self.set(Phase::Downloading, Some(r.id.clone()), None)?;
        self.conn.subscribe(self.topics.release(&r.id))
    }

    fn install(&mut self, id: String, package: &[u8]) -> Result<()> {
        if release_id(package) != id {
            return self.set(
                Phase::Refused,
                Some(id),
                Some(
                    "the release's bytes do not match its id (SHA-256); not sent to the device"
                        .into(),
                ),
            );
        }
        self.set(Phase::Installing, Some(id.clone()), None)?;
        match self.device.install(package) {
            Ok(Ok(())) => self.watch_trial(Some(id)),
            Ok(Err(why)) => {
                self.refresh();
                self.set(Phase::Refused, Some(id), Some(why))
            }
            Err(e) => self.set(Phase::Failed, Some(id), Some(format!("{e:#}"))),
        }
    }

    /// Follows an installed release until the device confirms it or rolls
    /// it back.
    fn watch_trial(&mut self, id: Option<String>) -> Result<()> {
        let version = self
            .rollout
            .as_ref()
            .filter(|r| Some(&r.id) == id.as_ref())
            .map(|r| r.version);
        let deadline = Instant::now() + self.patience.trial_limit;
        let mut reported_trial = self.state.phase == Phase::Trial;
        loop {
            if let Some(s) = self.refresh() {
                let settled = !s.pending && !s.testing;
                if settled {
                    let confirmed = match version {
                        Some(v) => s.installed.is_some_and(|i| i >= v),
                        None => s.fault.is_none(),
                    };
                    return if confirmed {
                        self.set(Phase::Confirmed, id, None)
                    } else {
                        let fault = s.fault.clone();
                        self.set(Phase::RolledBack, id, fault)
                    };
                }
                if !reported_trial && s.testing {
                    reported_trial = true;
                    self.set(Phase::Trial, id.clone(), None)?;
                }
            }
            if Instant::now() >= deadline {
                return self.set(
                    Phase::Failed,
                    id,
                    Some("neither confirmed nor rolled back in time".into()),
                );
            }
            std::thread::sleep(self.patience.poll);
        }
    }
}
