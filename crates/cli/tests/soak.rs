//! Soak: many hours of virtual time on the simulator with the device
//! supervisor (A/B slots on a simulated NOR flash) and a second app beside
//! it. Every simulated hour is one boot of the device; an update is pushed
//! through the real update protocol each hour: good ones, ones that trap,
//! ones that spin, tampered ones, and some good ones with the power cut
//! part-way. Every good update must end confirmed (a cut one is pushed
//! again on the next boot, as a fleet manager would), every bad one refused
//! or rolled back, the second app must run throughout, and the heap in use
//! after each boot must be what it was after the first (no leak).
//!
//! CI runs 8 hours (`cargo test --test soak`); the documented long run:
//! `BELLJAR_SOAK_HOURS=24 cargo test --release -p belljar-cli --test soak -- --nocapture`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use belljar_cli::package::{SignRequest, sign};
use belljar_host::runtime::Runtime;
use belljar_package::ed25519_dalek::SigningKey;
use belljar_profile::Target;
use belljar_sim::{Sim, SimBoard, SimConfig, Task};
use belljar_supervisor::{Settings, Supervisor, install_factory};
use belljar_update::frame::{self, Decoder};
use belljar_update::host::{Step, Upload};
use belljar_update::proto::{DeviceMsg, HostMsg, Mode};
use belljar_update::sim_flash::SimFlash;
use belljar_update::{Config, Slots};
use common::*;

/// Bytes in use by the process (this test binary's allocator).
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

type Flash = SimFlash<8, 4096>;
const SECTORS: usize = 128;
const HOUR_MS: u64 = 3_600_000;

/// The update link: bytes each way, shared by the device and the pusher.
#[derive(Clone, Default)]
struct Link {
    to_device: Rc<RefCell<VecDeque<u8>>>,
    to_host: Rc<RefCell<VecDeque<u8>>>,
}

impl belljar_cli::listen::Link for Link {
    fn try_read(&self, buf: &mut [u8]) -> usize {
        let mut inbox = self.to_device.borrow_mut();
        let n = buf.len().min(inbox.len());
        for (slot, byte) in buf.iter_mut().zip(inbox.drain(..n)) {
            *slot = byte;
        }
        n
    }

    fn write(&self, bytes: &[u8]) {
        self.to_host.borrow_mut().extend(bytes);
    }
}

/// Sends `msg` and waits (virtual time, up to a second) for the device's
/// answer; `None` also when the device lost power meanwhile.
async fn exchange(
    sim: &Sim,
    link: &Link,
    msg: &HostMsg,
    powered: &dyn Fn() -> bool,
) -> Option<DeviceMsg> {
    let mut bytes = vec![0u8];
    bytes.extend(frame::encode_vec(msg).unwrap());
    link.to_device.borrow_mut().extend(bytes);
    let mut decoder = Decoder::<DeviceMsg>::new();
    for _ in 0..1000 {
        if !powered() {
            return None;
        }
        while let Some(byte) = link.to_host.borrow_mut().pop_front() {
            if let Some(reply) = decoder.push(byte) {
                return Some(reply);
            }
        }
        sim.sleep_ms(1).await;
    }
    None
}

/// Pushes `package` through the update protocol; the device's last word.
async fn push(
    sim: &Sim,
    link: &Link,
    package: &[u8],
    powered: &dyn Fn() -> bool,
) -> Option<DeviceMsg> {
    let status = exchange(sim, link, &HostMsg::Hello, powered).await?;
    let DeviceMsg::Status {
        max_chunk, align, ..
    } = status
    else {
        return Some(status);
    };
    let chunk = belljar_cli::push::chunk_len(max_chunk, align)?;
    let mut upload = Upload::new(package, Mode::Install).with_chunk(chunk);
    let mut msg = upload.begin();
    loop {
        let reply = exchange(sim, link, &msg, powered).await?;
        match upload.on_reply(&reply) {
            Step::Send(next) => msg = next,
            Step::Done(reply) | Step::Failed(reply) => return Some(reply),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Good,
    Traps,
    Spins,
    Tampered,
}

/// What one boot (hour) of the device did.
#[derive(Debug, Default)]
struct HourReport {
    answer: Option<String>,
    power_cut: bool,
    confirmed_after: Option<u32>,
    second_app_ok: bool,
}

fn signed(payload: &[u8], version: u32, outputs: Vec<u32>, key: &SigningKey) -> Vec<u8> {
    let request = SignRequest {
        target: Target::host(),
        world: "blinky",
        app: "blinky",
        version,
        outputs,
        inputs: Vec::new(),
        analog: Vec::new(),
        i2c: Vec::new(),
        spi: Vec::new(),
        interfaces: vec![
            "embedded:platform/gpio".into(),
            "embedded:platform/timing".into(),
        ],
        memory: None,
    };
    sign(payload, &request, key).unwrap()
}

/// One boot: the supervisor and the second app for an hour, `update`
/// pushed a minute in (with the power cut after `cut` flash operations).
fn boot(
    slots: Slots<Flash>,
    update: Option<&[u8]>,
    servo: &belljar_host::runtime::App<SimBoard>,
) -> (Slots<Flash>, HourReport) {
    let sim = Sim::new(SimConfig {
        time_limit_ms: Some(HOUR_MS),
        ..SimConfig::default()
    })
    .unwrap();
    let link = Link::default();
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let settings = Settings {
        limits: sim.limits(),
        max_len: slots.slot_size() as usize,
        ..Settings::default()
    };
    let runtime = Runtime::<SimBoard>::new().unwrap();
    let device = belljar_cli::listen::SimDevice {
        sim: sim.clone(),
        link: link.clone(),
        poll_ms: 1,
        name: None,
    };
    let supervisor = Supervisor::new(device, runtime, slots, &key, settings);
    let report = RefCell::new(HourReport::default());
    {
        // A planned cut: the flash says when the power died; the boot ends there.
        let powered = || !supervisor.slots().flash().power_lost();
        let controller: Task<'_, ()> = Box::pin(async {
            sim.sleep_ms(60_000).await;
            if let Some(package) = update {
                let answer = push(&sim, &link, package, &powered).await;
                report.borrow_mut().answer = answer.map(|a| format!("{a:?}"));
            }
            // Long enough for a trial to be confirmed or rolled back.
            for _ in 0..1200 {
                if !powered() {
                    break;
                }
                sim.sleep_ms(100).await;
            }
            report.borrow_mut().power_cut = !powered();
        });
        let running: Task<'_, ()> = Box::pin(async {
            supervisor.run().await;
        });
        let (board, access) = sim.board("servo-sweep");
        let second_exit = RefCell::new(None);
        let second: Task<'_, ()> = Box::pin(async {
            let exit = match servo.instantiate(board, access, sim.limits()).await {
                Ok(mut app) => app.run().await,
                Err(exit) => exit,
            };
            *second_exit.borrow_mut() = Some(exit);
        });
        sim.run(vec![controller], vec![running, second]);
        // Still running (dropped when the boot ended), or stopped cleanly.
        report.borrow_mut().second_app_ok = match &*second_exit.borrow() {
            None => true,
            Some(exit) => matches!(exit, belljar_host::runtime::Exit::Stopped(_)),
        };
    }
    let slots = supervisor.into_slots();
    let mut report = report.into_inner();
    report.confirmed_after = slots.installed_version();
    let mut flash = slots.into_inner();
    flash.reboot();
    (Slots::open(flash, config()).unwrap(), report)
}

fn config() -> Config {
    Config {
        base: 0,
        state_sectors: 2,
        slot_sectors: (SECTORS as u32 - 2) / 2,
        max_boot_attempts: 3,
    }
}

fn soak(hours: u32) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let blinky = cwasm("blinky", Target::host()).to_vec();
    let spinner = cwasm("faults", Target::host()).to_vec();
    let servo = load("servo-sweep");
    let mut slots = Slots::open(Flash::new(SECTORS), config()).unwrap();
    let policy = belljar_package::Policy {
        key: &key.verifying_key(),
        target: Target::host(),
        installed: None,
        allow_downgrade: false,
        max_len: slots.slot_size() as usize,
    };
    install_factory(&mut slots, &signed(&blinky, 1, vec![25], &key), &policy).unwrap();
    let mut version = 1;
    let mut confirmed = 1;
    let mut retry: Option<Vec<u8>> = None;
    let mut rng: u64 = 0x5eed;
    // The heap a boot leaves behind (what it holds after minus before,
    // less the answer it reports), every boot after the first round
    // (which sets up what the runtime keeps once): 0 bytes.
    let mut leaked_total = 0i64;
    let mut counts = [0u32; 6]; // good, traps, spins, tampered, cut, retried
    println!(
        "| hour | update | device answered | power cut | confirmed after | heap the boot left |"
    );
    println!("|---|---|---|---|---|---|");
    for hour in 1..=hours {
        let (kind, package, cut) = if let Some(package) = retry.take() {
            // The update the power cut interrupted, once more (same version).
            counts[5] += 1;
            (Kind::Good, package, None)
        } else {
            version += 1;
            let kind =
                [Kind::Good, Kind::Traps, Kind::Spins, Kind::Tampered][(hour as usize - 1) % 4];
            let package = match kind {
                Kind::Good => signed(&blinky, version, vec![25], &key),
                // Granted pin 24 only: traps on its first set-high(25).
                Kind::Traps => signed(&blinky, version, vec![24], &key),
                Kind::Spins => signed(&spinner, version, vec![25], &key),
                Kind::Tampered => {
                    let mut p = signed(&blinky, version, vec![25], &key);
                    let middle = p.len() / 2;
                    p[middle] ^= 0x01;
                    p
                }
            };
            // Every other good update loses power part-way.
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cut = (kind == Kind::Good && hour % 8 == 1 && hour > 1).then_some(rng >> 59);
            (kind, package, cut)
        };
        counts[kind as usize] += 1;
        if let Some(after) = cut {
            let mut flash = slots.into_inner();
            flash.cut_power(after, 128);
            slots = Slots::open(flash, config()).unwrap();
            counts[4] += 1;
        }
        let before = IN_USE.load(Relaxed) as i64;
        let (next, report) = boot(slots, Some(&package), &servo);
        let answer = report.answer.as_ref().map_or(0, |a| a.capacity()) as i64;
        let left = IN_USE.load(Relaxed) as i64 - before - answer;
        if hour > 4 {
            assert_eq!(
                left, 0,
                "hour {hour}: the boot left {left} bytes on the heap"
            );
            leaked_total += left;
        }
        slots = next;
        println!(
            "| {hour} | {kind:?} v{version} | {} | {} | v{} | {left} B |",
            report.answer.as_deref().unwrap_or("-"),
            if report.power_cut { "yes" } else { "no" },
            report.confirmed_after.unwrap_or(0),
        );
        assert!(report.second_app_ok, "hour {hour}: the second app stopped");
        match kind {
            _ if report.power_cut => {
                // Whatever boots next is valid: the old app or the new one.
                let after = report.confirmed_after.unwrap_or(0);
                assert!(
                    after == confirmed || after == version,
                    "hour {hour}: v{after}"
                );
                if after == version {
                    confirmed = version;
                } else {
                    retry = Some(package);
                }
            }
            Kind::Good => {
                assert_eq!(
                    report.confirmed_after,
                    Some(version),
                    "hour {hour}: {report:?}"
                );
                confirmed = version;
            }
            Kind::Traps | Kind::Spins => {
                assert!(
                    report.answer.as_deref().unwrap_or("").contains("Installed"),
                    "hour {hour}: {report:?}"
                );
                assert_eq!(
                    report.confirmed_after,
                    Some(confirmed),
                    "hour {hour}: not rolled back: {report:?}"
                );
            }
            Kind::Tampered => {
                assert!(
                    report.answer.as_deref().unwrap_or("").contains("Rejected"),
                    "hour {hour}: {report:?}"
                );
                assert_eq!(report.confirmed_after, Some(confirmed));
            }
        }
    }
    println!(
        "{hours} h: {} good, {} trapping, {} spinning, {} tampered, {} power cuts, {} pushed again; confirmed v{confirmed}; heap left by the boots after the first round: {} B",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], leaked_total
    );
}

#[test]
fn hours_of_updates_good_bad_and_cut_end_confirmed_or_rolled_back() {
    let hours = std::env::var("BELLJAR_SOAK_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(8);
    soak(hours);
}
