//! The rollout's rules, with no I/O: which devices a stage admits, when a
//! stage is done, when a release halts. The controller applies them to
//! what the broker holds each time something changes, so any controller
//! (a new process, after a crash) reaches the same decisions.

use std::collections::BTreeMap;

use crate::msg::{DeviceState, Phase, Rollout, SCHEMA, Status};

/// What the broker holds about one device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub state: Option<DeviceState>,
    pub online: bool,
}

/// Every device of a fleet, by name.
pub type Fleet = BTreeMap<String, Device>;

/// How to roll a release out.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub group: Option<String>,
    /// Cumulative percent per stage; the last must be 100.
    pub stages: Vec<u32>,
    pub confirm_within_s: u64,
    pub halt_on_pct: f64,
}

impl Plan {
    /// `--canary N%` then everyone.
    pub fn canary(pct: u32) -> Vec<u32> {
        if pct >= 100 {
            vec![100]
        } else {
            vec![pct, 100]
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.stages.last() == Some(&100),
            "the last stage must be 100% (got {:?})",
            self.stages
        );
        anyhow::ensure!(
            self.stages.windows(2).all(|w| w[0] < w[1]) && self.stages[0] > 0,
            "stages must grow from above 0% to 100% (got {:?})",
            self.stages
        );
        anyhow::ensure!(
            (0.0..100.0).contains(&self.halt_on_pct),
            "--halt-on must be at least 0% and below 100%"
        );
        Ok(())
    }
}

/// Where a device is with respect to a release.
pub fn phase_of(rollout: &Rollout, device: &Device) -> Option<Phase> {
    let state = device.state.as_ref()?;
    if state.release.as_deref() == Some(rollout.id.as_str()) {
        return Some(state.phase);
    }
    // Already running this version (or a newer one) of the app: nothing to do.
    let has_it = state.app.as_deref() == Some(rollout.app.as_str())
        && state.version.is_some_and(|v| v >= rollout.version)
        && state.phase != Phase::Trial;
    has_it.then_some(Phase::Confirmed)
}

/// The devices of the rollout's group.
fn members<'f>(rollout: &Rollout, fleet: &'f Fleet) -> Vec<(&'f String, &'f Device)> {
    fleet
        .iter()
        .filter(|(_, d)| {
            d.state
                .as_ref()
                .is_some_and(|s| rollout.in_group(s.group.as_deref()))
        })
        .collect()
}

/// A device's place in the canary order of a release: a hash, so that
/// each release picks other canaries and every controller picks the same.
fn rank(release: &str, device: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(release.as_bytes());
    h.update([0]);
    h.update(device.as_bytes());
    h.finalize().into()
}

/// The counts a live view shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Devices of the group.
    pub members: usize,
    pub admitted: usize,
    /// Admitted devices per phase (`None`: not started yet).
    pub phases: BTreeMap<Option<Phase>, usize>,
    /// Admitted devices that failed (rolled back, refused, failed, timed out).
    pub failed: Vec<String>,
    /// Admitted devices not done yet that are online.
    pub open: usize,
    pub offline: usize,
}

impl Tally {
    pub fn count(&self, phase: Option<Phase>) -> usize {
        self.phases.get(&phase).copied().unwrap_or(0)
    }
}

/// Counts the admitted devices by phase at `now_ms`.
pub fn tally(rollout: &Rollout, fleet: &Fleet, now_ms: u64) -> Tally {
    let members = members(rollout, fleet);
    let mut t = Tally {
        members: members.len(),
        ..Tally::default()
    };
    let late = now_ms.saturating_sub(rollout.stage_started_ms) > rollout.confirm_within_s * 1000;
    for (name, device) in members {
        if !(rollout.everyone || rollout.admitted.contains(name)) {
            continue;
        }
        t.admitted += 1;
        let phase = phase_of(rollout, device);
        *t.phases.entry(phase).or_default() += 1;
        let done = phase.is_some_and(Phase::is_final);
        if phase.is_some_and(Phase::is_failure) || (!done && late && device.online) {
            t.failed.push(name.clone());
        } else if !done {
            if device.online {
                t.open += 1;
            } else {
                t.offline += 1;
            }
        }
    }
    t
}

/// Starts a rollout of a release: its first stage admitted.
pub fn start(
    id: &str,
    app: &str,
    version: u32,
    size: u32,
    plan: &Plan,
    fleet: &Fleet,
    now_ms: u64,
) -> Rollout {
    let mut rollout = Rollout {
        v: SCHEMA,
        id: id.to_string(),
        app: app.to_string(),
        version,
        size,
        group: plan.group.clone(),
        stages: plan.stages.clone(),
        stage: 0,
        admitted: Vec::new(),
        everyone: false,
        status: Status::Active,
        confirm_within_s: plan.confirm_within_s,
        halt_on_pct: plan.halt_on_pct,
        stage_started_ms: now_ms,
        reason: None,
    };
    admit(&mut rollout, fleet);
    rollout
}

/// Admits devices up to the current stage's share (online ones first, in
/// rank order). Returns whether anyone was admitted.
fn admit(rollout: &mut Rollout, fleet: &Fleet) -> bool {
    let pct = rollout.stages[rollout.stage.min(rollout.stages.len() - 1)];
    if pct >= 100 {
        let changed = !rollout.everyone;
        rollout.everyone = true;
        return changed;
    }
    let members = members(rollout, fleet);
    let want = (members.len() * pct as usize).div_ceil(100);
    if rollout.admitted.len() >= want {
        return false;
    }
    let mut candidates: Vec<_> = members
        .iter()
        .filter(|(name, _)| !rollout.admitted.contains(name))
        .map(|(name, d)| (!d.online, rank(&rollout.id, name), (*name).clone()))
        .collect();
    candidates.sort();
    let more = want - rollout.admitted.len();
    rollout
        .admitted
        .extend(candidates.into_iter().take(more).map(|(_, _, name)| name));
    true
}

/// The rollout after the devices' latest reports, if it changed: more
/// devices admitted (the group grew), the next stage, complete, or halted.
pub fn advance(rollout: &Rollout, fleet: &Fleet, now_ms: u64) -> Option<Rollout> {
    if rollout.status != Status::Active {
        return None;
    }
    let mut next = rollout.clone();
    let mut changed = admit(&mut next, fleet);
    let t = tally(&next, fleet, now_ms);
    let failed = t.failed.len();
    if t.admitted > 0 && failed as f64 * 100.0 > next.halt_on_pct * t.admitted as f64 {
        next.status = Status::Halted;
        next.reason = Some(format!(
            "{failed} of {} admitted devices failed ({:.0}% > {}%): {}",
            t.admitted,
            failed as f64 * 100.0 / t.admitted as f64,
            next.halt_on_pct,
            t.failed.join(", ")
        ));
        return Some(next);
    }
    let done = t.admitted > 0 && t.open == 0;
    if done && !next.everyone {
        next.stage += 1;
        next.stage_started_ms = now_ms;
        admit(&mut next, fleet);
        changed = true;
    } else if done && next.everyone {
        next.status = Status::Complete;
        changed = true;
    }
    changed.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(version: u32, phase: Phase, release: Option<&str>) -> Device {
        Device {
            online: true,
            state: Some(DeviceState {
                v: SCHEMA,
                device: String::new(),
                group: None,
                app: Some("blinky".into()),
                version: Some(version),
                slot: None,
                phase,
                release: release.map(String::from),
                fault: None,
                detail: None,
                at_ms: 0,
            }),
        }
    }

    fn fleet(n: usize) -> Fleet {
        (0..n)
            .map(|i| (format!("d{i:02}"), device(1, Phase::Idle, None)))
            .collect()
    }

    fn plan(stages: Vec<u32>) -> Plan {
        Plan {
            group: None,
            stages,
            confirm_within_s: 600,
            halt_on_pct: 5.0,
        }
    }

    fn report(fleet: &mut Fleet, name: &str, phase: Phase, version: u32) {
        *fleet.get_mut(name).unwrap() = device(version, phase, Some("r"));
    }

    #[test]
    fn a_canary_stage_admits_its_share_then_everyone_once_they_confirm() {
        let mut fleet = fleet(50);
        let r = start("r", "blinky", 2, 100, &plan(vec![10, 100]), &fleet, 0);
        assert_eq!(r.admitted.len(), 5);
        assert!(!r.everyone);
        assert_eq!(advance(&r, &fleet, 1), None, "nobody reported yet");
        let canaries = r.admitted.clone();
        for (i, name) in canaries.iter().enumerate() {
            report(&mut fleet, name, Phase::Confirmed, 2);
            let next = advance(&r, &fleet, 1);
            assert_eq!(
                next.is_some(),
                i == 4,
                "advances when the last canary confirms"
            );
        }
        let r = advance(&r, &fleet, 1).unwrap();
        assert!(r.everyone && r.stage == 1 && r.status == Status::Active);
        for name in fleet.keys().cloned().collect::<Vec<_>>() {
            report(&mut fleet, &name, Phase::Confirmed, 2);
        }
        assert_eq!(advance(&r, &fleet, 2).unwrap().status, Status::Complete);
    }

    #[test]
    fn failing_canaries_halt_the_release() {
        let mut fleet = fleet(50);
        let r = start("r", "blinky", 3, 100, &plan(vec![10, 100]), &fleet, 0);
        report(&mut fleet, &r.admitted[0], Phase::RolledBack, 1);
        let halted = advance(&r, &fleet, 1).unwrap();
        assert_eq!(halted.status, Status::Halted);
        assert!(halted.reason.as_ref().unwrap().contains(&r.admitted[0]));
        assert!(!halted.admits(&r.admitted[1], None), "halted admits nobody");
    }

    #[test]
    fn a_device_that_does_not_confirm_in_time_counts_as_failed() {
        let mut fleet = fleet(10);
        let r = start("r", "blinky", 2, 100, &plan(vec![100]), &fleet, 0);
        for name in fleet.keys().cloned().collect::<Vec<_>>() {
            report(&mut fleet, &name, Phase::Confirmed, 2);
        }
        report(&mut fleet, "d03", Phase::Trial, 1);
        assert_eq!(advance(&r, &fleet, 599_000), None);
        let late = advance(&r, &fleet, 601_000).unwrap();
        assert_eq!(late.status, Status::Halted, "1 of 10 is above 5%");
    }

    #[test]
    fn offline_devices_do_not_hold_a_stage_and_are_not_picked_as_canaries() {
        let mut fleet = fleet(20);
        for name in ["d00", "d01", "d02"] {
            fleet.get_mut(name).unwrap().online = false;
        }
        let r = start("r", "blinky", 2, 100, &plan(vec![50, 100]), &fleet, 0);
        assert_eq!(r.admitted.len(), 10);
        assert!(
            !r.admitted
                .iter()
                .any(|d| ["d00", "d01", "d02"].contains(&d.as_str()))
        );
        let r = Rollout {
            everyone: true,
            stage: 1,
            ..r
        };
        for (name, d) in fleet.clone() {
            if d.online {
                report(&mut fleet, &name, Phase::Confirmed, 2);
            }
        }
        assert_eq!(advance(&r, &fleet, 1).unwrap().status, Status::Complete);
        // They install it when they come back: the release still admits them.
        assert!(r.admits("d00", None));
    }

    #[test]
    fn devices_already_on_the_version_count_as_confirmed() {
        let mut fleet = fleet(4);
        report(&mut fleet, "d00", Phase::Idle, 2);
        fleet
            .get_mut("d00")
            .unwrap()
            .state
            .as_mut()
            .unwrap()
            .release = None;
        let r = start("r", "blinky", 2, 100, &plan(vec![100]), &fleet, 0);
        assert_eq!(tally(&r, &fleet, 0).count(Some(Phase::Confirmed)), 1);
    }

    #[test]
    fn a_group_rollout_leaves_other_groups_alone() {
        let mut fleet = fleet(4);
        for (i, d) in fleet.values_mut().enumerate() {
            d.state.as_mut().unwrap().group = Some(if i < 2 { "a" } else { "b" }.into());
        }
        let plan = Plan {
            group: Some("a".into()),
            ..plan(vec![100])
        };
        let r = start("r", "blinky", 2, 100, &plan, &fleet, 0);
        assert_eq!(tally(&r, &fleet, 0).members, 2);
        assert!(r.admits("d00", Some("a")) && !r.admits("d03", Some("b")));
    }

    #[test]
    fn plans_are_checked() {
        assert!(plan(vec![10, 100]).check().is_ok());
        assert!(plan(vec![10, 50]).check().is_err());
        assert!(plan(vec![50, 10, 100]).check().is_err());
        assert_eq!(Plan::canary(100), vec![100]);
    }
}
