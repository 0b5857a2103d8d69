//! The controller: publishes a release, applies the [`plan`](crate::plan)
//! rules to what the devices report, and shows it. All of its state is in
//! the broker: `resume` picks up a rollout any controller started.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::broker::{Broker, Connection, Incoming, Session};
use crate::msg::{DeviceState, Phase, Rollout, SCHEMA, Status, Topics, now_ms, release_id};
use crate::plan::{self, Fleet, Plan, Tally};

/// What the broker holds about a fleet.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub rollout: Option<Rollout>,
    pub fleet: Fleet,
}

impl View {
    fn take(&mut self, topics: &Topics, topic: &str, payload: &[u8]) {
        if topic == topics.rollout() {
            self.rollout = serde_json::from_slice::<Rollout>(payload)
                .ok()
                .filter(|r| r.v == SCHEMA);
        } else if let Some((device, leaf)) = topics.device_topic(topic) {
            let entry = self.fleet.entry(device.to_string()).or_default();
            match leaf {
                "state" => {
                    entry.state = serde_json::from_slice::<DeviceState>(payload)
                        .ok()
                        .filter(|s| s.v == SCHEMA)
                }
                "online" => entry.online = payload == b"true",
                _ => {}
            }
        }
    }

    /// One line: the stage and the admitted devices per phase (the live view).
    pub fn summary(&self) -> String {
        let Some(r) = &self.rollout else {
            return format!("{} devices, no rollout", self.fleet.len());
        };
        let t = plan::tally(r, &self.fleet, now_ms());
        format!(
            "{} · stage {}/{} ({}) · {}/{} admitted · {}",
            status_name(r.status),
            r.stage + 1,
            r.stages.len(),
            stage_name(r),
            t.admitted,
            t.members,
            phase_table(&t).trim()
        )
    }

    /// The table `belljar fleet status` and the end of a rollout print.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let now = now_ms();
        let online = self.fleet.values().filter(|d| d.online).count();
        let _ = writeln!(
            out,
            "{} devices ({online} online, {} offline)",
            self.fleet.len(),
            self.fleet.len() - online
        );
        match &self.rollout {
            None => out.push_str("no rollout\n"),
            Some(r) => {
                let t = plan::tally(r, &self.fleet, now);
                let stage = stage_name(r);
                let _ = writeln!(
                    out,
                    "rollout {} v{} ({}, {} bytes){}: {} · stage {}/{} ({stage}) · {} of {} devices admitted",
                    r.app,
                    r.version,
                    &r.id[..12.min(r.id.len())],
                    r.size,
                    r.group
                        .as_ref()
                        .map(|g| format!(" to group {g}"))
                        .unwrap_or_default(),
                    status_name(r.status),
                    r.stage + 1,
                    r.stages.len(),
                    t.admitted,
                    t.members,
                );
                out.push_str(&phase_table(&t));
                if let Some(reason) = &r.reason {
                    let _ = writeln!(out, "{}: {reason}", status_name(r.status));
                }
                for name in &t.failed {
                    let d = &self.fleet[name];
                    let s = d.state.as_ref();
                    let why = s
                        .and_then(|s| s.detail.clone().or(s.fault.clone()))
                        .unwrap_or_else(|| "did not confirm in time".into());
                    let phase = s.map_or("?", |s| s.phase.name());
                    let _ = writeln!(out, "  failed {name}: {phase}: {why}");
                }
            }
        }
        out
    }
}

fn stage_name(r: &Rollout) -> String {
    if r.everyone {
        "everyone".to_string()
    } else {
        format!("{}%", r.stages[r.stage.min(r.stages.len() - 1)])
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Complete => "complete",
        Status::Halted => "HALTED",
        Status::Stopped => "stopped",
    }
}

fn phase_table(t: &Tally) -> String {
    let mut cells: Vec<String> = Vec::new();
    let waiting = t.count(None);
    if waiting > 0 {
        cells.push(format!("waiting {waiting}"));
    }
    for phase in Phase::ALL {
        let n = t.count(Some(phase));
        if n > 0 {
            cells.push(format!("{} {n}", phase.name()));
        }
    }
    if t.offline > 0 {
        cells.push(format!("(offline, not started {})", t.offline));
    }
    format!("  {}\n", cells.join(" · "))
}

fn connect(broker: &Broker, who: &str) -> Result<(Connection, String)> {
    let id = format!(
        "belljar-{who}-{}-{}",
        std::process::id(),
        now_ms() % 100_000
    );
    let conn = Connection::open(
        broker,
        Session {
            client_id: &id,
            clean: true,
            will: None,
        },
    )?;
    conn.connected(broker, Duration::from_secs(10))?;
    Ok((conn, id))
}

/// Reads what the broker holds about `fleet` (retained messages: until
/// `quiet` passes without one).
fn gather(conn: &Connection, topics: &Topics, quiet: Duration) -> Result<View> {
    conn.subscribe(topics.rollout())?;
    conn.subscribe(topics.devices())?;
    let mut view = View::default();
    let mut deadline = Instant::now() + quiet * 2;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(Incoming::Message { topic, payload }) = conn.next(left) {
            view.take(topics, &topic, &payload);
            deadline = Instant::now() + quiet;
        }
    }
    Ok(view)
}

/// `belljar fleet status`.
pub fn status(broker: &Broker, fleet: &str) -> Result<View> {
    let topics = Topics::new(fleet)?;
    let (conn, _) = connect(broker, "status")?;
    gather(&conn, &topics, Duration::from_millis(500))
}

/// `belljar rollout --stop`.
pub fn stop(broker: &Broker, fleet: &str) -> Result<Rollout> {
    let topics = Topics::new(fleet)?;
    let (conn, _) = connect(broker, "stop")?;
    let view = gather(&conn, &topics, Duration::from_millis(500))?;
    let mut r = view
        .rollout
        .with_context(|| format!("fleet {fleet} has no rollout"))?;
    if r.status != Status::Active {
        bail!(
            "the rollout of {} v{} is already {}",
            r.app,
            r.version,
            status_name(r.status)
        );
    }
    r.status = Status::Stopped;
    r.reason = Some("stopped by hand".into());
    conn.put(topics.rollout(), serde_json::to_vec(&r)?)?;
    conn.client.disconnect().ok();
    std::thread::sleep(Duration::from_millis(200));
    Ok(r)
}

/// The package of release `id`, from the broker.
fn fetch(conn: &Connection, topics: &Topics, id: &str) -> Result<Vec<u8>> {
    let topic = topics.release(id);
    conn.subscribe(topic.clone())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(Incoming::Message { topic: t, payload }) = conn.next(left)
            && t == topic
        {
            let _ = conn.client.unsubscribe(topic);
            if release_id(&payload) == id {
                return Ok(payload);
            }
            bail!(
                "the broker's copy of release {id} does not match its id; run `belljar rollout PACKAGE` to publish it again"
            );
        }
    }
    bail!(
        "the broker holds no package for release {id}; run `belljar rollout PACKAGE` to publish it again"
    )
}

/// What to roll out.
pub struct Release<'a> {
    pub package: &'a [u8],
    pub app: &'a str,
    pub version: u32,
}

/// Starts (or, for the same release, resumes) a rollout and drives it
/// until it completes, halts or stops. `show` gets the view each time it
/// changes.
pub fn rollout(
    broker: &Broker,
    fleet: &str,
    release: Option<Release<'_>>,
    plan: Option<&Plan>,
    show: &mut dyn FnMut(&View, &str),
) -> Result<Rollout> {
    let topics = Topics::new(fleet)?;
    let (conn, _) = connect(broker, "rollout")?;
    let mut view = gather(&conn, &topics, Duration::from_millis(700))?;
    // The package, to publish again to a broker that lost it.
    let mut package: Option<Vec<u8>> = release.as_ref().map(|r| r.package.to_vec());
    let mut rollout = match (release, view.rollout.clone()) {
        (Some(rel), existing) => {
            let plan = plan.context("a new rollout needs a plan")?;
            plan.check()?;
            let id = release_id(rel.package);
            match existing {
                Some(r) if r.id == id && r.status == Status::Active => {
                    show(&view, "resuming the rollout of this release");
                    r
                }
                Some(r) if r.status == Status::Active => bail!(
                    "fleet {fleet} is rolling out {} v{} already: `belljar rollout --stop --fleet {fleet}` first, or `--resume` it",
                    r.app,
                    r.version
                ),
                _ => {
                    if view.fleet.is_empty() {
                        show(
                            &view,
                            "no device has reported yet; waiting for devices to join",
                        );
                    }
                    conn.put(topics.release(&id), rel.package.to_vec())?;
                    let size = u32::try_from(rel.package.len()).unwrap_or(u32::MAX);
                    let r =
                        plan::start(&id, rel.app, rel.version, size, plan, &view.fleet, now_ms());
                    conn.put(topics.rollout(), serde_json::to_vec(&r)?)?;
                    r
                }
            }
        }
        (None, Some(r)) if r.status == Status::Active => {
            show(&view, "resuming");
            r
        }
        (None, Some(r)) => bail!(
            "the rollout of {} v{} in fleet {fleet} is {}: nothing to resume",
            r.app,
            r.version,
            status_name(r.status)
        ),
        (None, None) => bail!("fleet {fleet} has no rollout to resume"),
    };
    let package = match package.take() {
        Some(p) => p,
        None => fetch(&conn, &topics, &rollout.id)?,
    };
    view.rollout = Some(rollout.clone());
    show(&view, "");
    let mut shown = (view.summary(), Instant::now(), rollout.stage);
    let mut tick = Instant::now();
    loop {
        match conn.next(Duration::from_millis(250)) {
            Some(Incoming::Message { topic, payload }) => {
                if topic == topics.rollout() {
                    // Another process may have stopped it.
                    if let Ok(r) = serde_json::from_slice::<Rollout>(&payload)
                        && r.id == rollout.id
                        && r.status != Status::Active
                        && rollout.status == Status::Active
                    {
                        rollout = r;
                    }
                } else {
                    view.take(&topics, &topic, &payload);
                }
            }
            Some(Incoming::Connected) => {
                // A broker that lost its store gets the release again.
                show(&view, "reconnected to the broker");
                conn.subscribe(topics.rollout())?;
                conn.subscribe(topics.devices())?;
                conn.put(topics.release(&rollout.id), package.clone())?;
                conn.put(topics.rollout(), serde_json::to_vec(&rollout)?)?;
            }
            Some(Incoming::Down(e)) if tick.elapsed() > Duration::from_secs(1) => {
                show(&view, &format!("broker connection down ({e}); retrying"));
                tick = Instant::now();
            }
            Some(Incoming::Down(_)) => {}
            None => {}
        }
        if let Some(next) = plan::advance(&rollout, &view.fleet, now_ms()) {
            rollout = next;
            conn.put(topics.rollout(), serde_json::to_vec(&rollout)?)?;
        }
        view.rollout = Some(rollout.clone());
        // A line when the counts change, at most every 500 ms, and at once
        // when the stage or status does.
        let text = view.summary();
        let urgent = rollout.stage != shown.2 || rollout.status != Status::Active;
        if text != shown.0 && (urgent || shown.1.elapsed() >= Duration::from_millis(500)) {
            show(&view, "");
            shown = (text, Instant::now(), rollout.stage);
        }
        if rollout.status != Status::Active {
            // Let the last publish leave before the connection goes.
            conn.client.disconnect().ok();
            std::thread::sleep(Duration::from_millis(300));
            return Ok(rollout);
        }
    }
}
