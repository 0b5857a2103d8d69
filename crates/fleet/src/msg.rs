//! Topics and payloads, version 1.
//!
//! Everything lives under `belljar/v1/<fleet>/`:
//!
//! | topic | retained | written by | payload |
//! |---|---|---|---|
//! | `release/<id>` | yes | controller | the signed package, raw bytes; `<id>` is its SHA-256 (hex) |
//! | `rollout` | yes | controller | [`Rollout`] (JSON) |
//! | `device/<device>/state` | yes | the device's agent | [`DeviceState`] (JSON) |
//! | `device/<device>/online` | yes | the agent; the broker (last will) | `true` or `false` |
//!
//! All are published with QoS 1. A payload carries its schema version in
//! `v`; a reader skips a payload whose `v` it does not know. The package
//! signature is the only root of trust: a device installs nothing the key
//! in its firmware did not sign, whatever the broker holds.

use serde::{Deserialize, Serialize};

/// The topic layout version (in every topic) and payload schema version.
pub const SCHEMA: u32 = 1;

/// The topics of one fleet.
#[derive(Clone, Debug)]
pub struct Topics {
    root: String,
}

/// Fleet, group and device names: 1-64 of `A-Za-z0-9._-` (no MQTT
/// wildcards or separators).
pub fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    anyhow::ensure!(
        ok,
        "{what} name `{name}` must be 1-64 characters of A-Z, a-z, 0-9, `.`, `_` and `-`"
    );
    Ok(())
}

impl Topics {
    pub fn new(fleet: &str) -> anyhow::Result<Topics> {
        check_name("fleet", fleet)?;
        Ok(Topics {
            root: format!("belljar/v{SCHEMA}/{fleet}"),
        })
    }

    pub fn rollout(&self) -> String {
        format!("{}/rollout", self.root)
    }

    pub fn release(&self, id: &str) -> String {
        format!("{}/release/{id}", self.root)
    }

    pub fn state(&self, device: &str) -> String {
        format!("{}/device/{device}/state", self.root)
    }

    pub fn online(&self, device: &str) -> String {
        format!("{}/device/{device}/online", self.root)
    }

    /// Every device's state and online flag.
    pub fn devices(&self) -> String {
        format!("{}/device/+/+", self.root)
    }

    /// `(device, "state" | "online")` of a device topic.
    pub fn device_topic<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        let rest = topic.strip_prefix(&self.root)?.strip_prefix("/device/")?;
        let (device, leaf) = rest.split_once('/')?;
        Some((device, leaf))
    }

    /// The release id of a release topic.
    pub fn release_id<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic.strip_prefix(&self.root)?.strip_prefix("/release/")
    }
}

/// Where a rollout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Devices admitted to the current stage install it.
    Active,
    /// Every stage passed; devices that come online later still install it.
    Complete,
    /// Too many admitted devices failed: nobody else installs it.
    Halted,
    /// Stopped by hand (`belljar rollout --stop`): nobody else installs it.
    Stopped,
}

/// The release and its stages: `belljar/v1/<fleet>/rollout`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub v: u32,
    /// SHA-256 of the signed package (hex): the release's identity.
    pub id: String,
    pub app: String,
    pub version: u32,
    /// Package length in bytes.
    pub size: u32,
    /// Only devices of this group take part (all when `None`).
    pub group: Option<String>,
    /// Cumulative share of the fleet per stage, in percent; the last is 100.
    pub stages: Vec<u32>,
    /// Index into `stages`.
    pub stage: usize,
    /// Devices admitted so far (all stages).
    pub admitted: Vec<String>,
    /// The last stage: every device of the group is admitted, also those
    /// that join later.
    pub everyone: bool,
    pub status: Status,
    /// An admitted device that has not confirmed this long after its stage
    /// started counts as failed.
    pub confirm_within_s: u64,
    /// Halt when more than this share (percent) of the admitted devices failed.
    pub halt_on_pct: f64,
    /// Unix time (ms) the current stage started.
    pub stage_started_ms: u64,
    /// Why it halted or stopped.
    pub reason: Option<String>,
}

impl Rollout {
    /// Whether `device` (in `group`) should install this release now.
    pub fn admits(&self, device: &str, group: Option<&str>) -> bool {
        matches!(self.status, Status::Active | Status::Complete)
            && self.group.as_deref().is_none_or(|g| Some(g) == group)
            && (self.everyone || self.admitted.iter().any(|d| d == device))
    }

    pub fn in_group(&self, group: Option<&str>) -> bool {
        self.group.as_deref().is_none_or(|g| Some(g) == group)
    }
}

/// What a device is doing about a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Running its app; nothing in progress.
    Idle,
    /// Fetching the release from the broker.
    Downloading,
    /// Sending it to the device's update agent.
    Installing,
    /// Installed; the new app runs on trial.
    Trial,
    /// The new app proved healthy.
    Confirmed,
    /// The new app failed on trial; the previous one runs again.
    RolledBack,
    /// The device refused the package (signature, hash, target, version...).
    Refused,
    /// The update could not be carried out (device unreachable, timeout).
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Idle,
        Phase::Downloading,
        Phase::Installing,
        Phase::Trial,
        Phase::Confirmed,
        Phase::RolledBack,
        Phase::Refused,
        Phase::Failed,
    ];

    /// The release is done with on this device, one way or the other.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Confirmed | Phase::RolledBack | Phase::Refused | Phase::Failed
        )
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Phase::RolledBack | Phase::Refused | Phase::Failed)
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Downloading => "downloading",
            Phase::Installing => "installing",
            Phase::Trial => "trial",
            Phase::Confirmed => "confirmed",
            Phase::RolledBack => "rolled-back",
            Phase::Refused => "refused",
            Phase::Failed => "failed",
        }
    }
}

/// A device's report: `belljar/v1/<fleet>/device/<device>/state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    pub v: u32,
    pub device: String,
    pub group: Option<String>,
    /// The app running and its version.
    pub app: Option<String>,
    pub version: Option<u32>,
    /// `A` or `B`.
    pub slot: Option<String>,
    /// What it is doing about `release`.
    pub phase: Phase,
    /// The release (id) `phase` is about.
    pub release: Option<String>,
    /// The device's last fault (a trap, a refused package).
    pub fault: Option<String>,
    /// Why it refused or failed, in words.
    pub detail: Option<String>,
    /// Unix time (ms) of this report.
    pub at_ms: u64,
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// SHA-256 of `bytes`, lowercase hex: a release id.
pub fn release_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_mqtt_wildcards_and_separators() {
        for bad in ["", "a/b", "a+", "#", "a b", &"x".repeat(65)] {
            assert!(check_name("fleet", bad).is_err(), "{bad:?}");
        }
        check_name("fleet", "plant-3.line_A").unwrap();
    }

    #[test]
    fn device_topics_split_into_device_and_leaf() {
        let t = Topics::new("f").unwrap();
        assert_eq!(t.device_topic(&t.state("d7")), Some(("d7", "state")));
        assert_eq!(t.device_topic(&t.online("d7")), Some(("d7", "online")));
        assert_eq!(t.device_topic("belljar/v1/g/device/d7/state"), None);
        assert_eq!(t.release_id(&t.release("abc")), Some("abc"));
    }

    #[test]
    fn payloads_are_json_with_kebab_case_enums() {
        let s = DeviceState {
            v: SCHEMA,
            device: "d1".into(),
            group: None,
            app: Some("blinky".into()),
            version: Some(2),
            slot: Some("B".into()),
            phase: Phase::RolledBack,
            release: Some("ab".into()),
            fault: None,
            detail: None,
            at_ms: 5,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""phase":"rolled-back""#), "{text}");
        assert_eq!(serde_json::from_str::<DeviceState>(&text).unwrap(), s);
    }
}
