//! Shared by the integration tests and the fuzz targets (fuzz/ compiles this
//! file too): real signed packages, a device on a simulated NOR flash, a
//! link that carries every message as real frame bytes through both
//! decoders, and [`Device`], which applies arbitrary [`Action`]s to a device
//! whose confirmed app must survive them all.
#![allow(dead_code)]

use belljar_package::ed25519_dalek::{SigningKey, VerifyingKey};
use belljar_package::{Header, Policy, sign};
use belljar_profile::Target;
use belljar_update::embedded_storage::nor_flash::NorFlash;
use belljar_update::frame::{Decoder, encode_vec};
use belljar_update::host::{Step, Upload};
use belljar_update::proto::{DeviceMsg, HostMsg, Mode};
use belljar_update::sim_flash::SimFlash;
use belljar_update::xip::{self, XipFlash};
use belljar_update::{Config, MappedFlash, Receiver, Slots};

/// 4 KiB sectors written in 8-byte words (like many Cortex-M33 parts).
pub type Flash = SimFlash<8, 4096>;

/// A QSPI flash as the RP2350's ROM changes it (4 KiB sectors, 256-byte
/// pages) behind [`XipFlash`], with [`XIP_FIRMWARE_SECTORS`] of "firmware"
/// before the region the slots get: the XIP glue under the same tests.
pub type Xip = XipFlash<SimFlash<{ xip::PAGE }, { xip::SECTOR }>>;
pub const XIP_FIRMWARE_SECTORS: usize = 3;

/// What the tests do to a simulated flash: the [`SimFlash`] controls, for
/// the bare simulator and for [`XipFlash`] over it (offsets and counts are
/// the region's).
pub trait TestFlash: NorFlash + MappedFlash + Clone {
    /// A blank flash of `sectors` 4 KiB sectors.
    fn blank(sectors: usize) -> Self;
    fn memory(&self) -> &[u8];
    fn erase_counts(&self) -> &[u32];
    fn ops(&self) -> u64;
    fn cut_power(&mut self, after: u64, done: u16);
    fn power_lost(&self) -> bool;
    fn reboot(&mut self);
}

impl TestFlash for Flash {
    fn blank(sectors: usize) -> Self {
        Flash::new(sectors)
    }
    fn memory(&self) -> &[u8] {
        SimFlash::memory(self)
    }
    fn erase_counts(&self) -> &[u32] {
        SimFlash::erase_counts(self)
    }
    fn ops(&self) -> u64 {
        SimFlash::ops(self)
    }
    fn cut_power(&mut self, after: u64, done: u16) {
        SimFlash::cut_power(self, after, done)
    }
    fn power_lost(&self) -> bool {
        SimFlash::power_lost(self)
    }
    fn reboot(&mut self) {
        SimFlash::reboot(self)
    }
}

impl TestFlash for Xip {
    fn blank(sectors: usize) -> Self {
        let chip = SimFlash::new(XIP_FIRMWARE_SECTORS + sectors);
        let start = (XIP_FIRMWARE_SECTORS * xip::SECTOR) as u32;
        XipFlash::new(chip, start..start + (sectors * xip::SECTOR) as u32).unwrap()
    }
    fn memory(&self) -> &[u8] {
        let region = self.region();
        &self.raw().memory()[region.start as usize..region.end as usize]
    }
    fn erase_counts(&self) -> &[u32] {
        &self.raw().erase_counts()[XIP_FIRMWARE_SECTORS..]
    }
    fn ops(&self) -> u64 {
        self.raw().ops()
    }
    fn cut_power(&mut self, after: u64, done: u16) {
        self.raw_mut().cut_power(after, done)
    }
    fn power_lost(&self) -> bool {
        self.raw().power_lost()
    }
    fn reboot(&mut self) {
        self.raw_mut().reboot()
    }
}

/// Two state sectors, two slots of 12 sectors (48 KiB).
pub const CFG: Config = Config {
    base: 0,
    state_sectors: 2,
    slot_sectors: 12,
    max_boot_attempts: 3,
};
pub const SECTORS: usize = 2 + 2 * 12;

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn verifying_key() -> VerifyingKey {
    key().verifying_key()
}

/// A payload of `len` bytes (the tests never deserialize it).
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// A package signed with [`key`], for pulley32 and this belljar's engine.
pub fn package_for(
    target: Target,
    app: &str,
    version: u32,
    payload: &[u8],
    key: &SigningKey,
) -> Vec<u8> {
    let header = Header::for_payload(target, "blinky", app, version, payload);
    sign(&header, payload, key)
}

pub fn package(app: &str, version: u32, payload_len: usize) -> Vec<u8> {
    let seed = app.bytes().fold(version as u8, |a, b| a.wrapping_add(b));
    package_for(
        Target::Pulley32,
        app,
        version,
        &payload(payload_len, seed),
        &key(),
    )
}

/// The device's policy; `installed` is filled in from the slots.
pub fn policy(key: &VerifyingKey) -> Policy<'_> {
    Policy {
        key,
        target: Target::Pulley32,
        installed: None,
        allow_downgrade: false,
        max_len: 64 * 1024,
    }
}

/// A UART in both directions: each message is encoded to frame bytes, fed
/// byte by byte into the other side's decoder, and must come out whole.
#[derive(Default)]
pub struct Link {
    device: Decoder<HostMsg>,
    host: Decoder<DeviceMsg>,
}

impl Link {
    pub fn carry_to_device(&mut self, msg: &HostMsg) -> HostMsg {
        let bytes = encode_vec(msg).unwrap();
        let mut input = bytes.as_slice();
        let got = self.device.feed(&mut input).expect("a frame decodes");
        assert!(input.is_empty());
        assert_eq!(&got, msg);
        got
    }

    pub fn carry_to_host(&mut self, msg: &DeviceMsg) -> DeviceMsg {
        let bytes = encode_vec(msg).unwrap();
        let mut input = bytes.as_slice();
        let got = self.host.feed(&mut input).expect("a frame decodes");
        assert!(input.is_empty());
        assert_eq!(&got, msg);
        got
    }

    /// One request and its reply, over the wire.
    pub fn exchange<F: TestFlash>(
        &mut self,
        msg: &HostMsg,
        rx: &mut Receiver,
        slots: &mut Slots<&mut F>,
        policy: &Policy<'_>,
    ) -> DeviceMsg {
        let msg = self.carry_to_device(msg);
        let reply = rx.handle(&msg, slots, policy);
        self.carry_to_host(&reply)
    }
}

/// How an upload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Done(DeviceMsg),
    Failed(DeviceMsg),
    /// The device's flash lost power.
    PowerLost,
}

/// What an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub end: Sent,
    /// `resume_from` of the first `Ready`.
    pub resumed_from: Option<u32>,
    /// Messages sent.
    pub messages: u32,
}

/// Drives [`Upload`] against the device until it is done, fails, or the
/// power goes.
pub fn upload<F: TestFlash>(
    pkg: &[u8],
    mode: Mode,
    rx: &mut Receiver,
    slots: &mut Slots<&mut F>,
    policy: &Policy<'_>,
) -> Report {
    let mut link = Link::default();
    let mut up = Upload::new(pkg, mode);
    let mut msg = up.begin();
    let mut resumed_from = None;
    for messages in 1..10_000 {
        let reply = link.exchange(&msg, rx, slots, policy);
        if slots.flash().power_lost() {
            return Report {
                end: Sent::PowerLost,
                resumed_from,
                messages,
            };
        }
        if let (DeviceMsg::Ready { resume_from }, None) = (&reply, resumed_from) {
            resumed_from = Some(*resume_from);
        }
        match up.on_reply(&reply) {
            Step::Send(next) => msg = next,
            Step::Done(reply) => {
                return Report {
                    end: Sent::Done(reply),
                    resumed_from,
                    messages,
                };
            }
            Step::Failed(reply) => {
                return Report {
                    end: Sent::Failed(reply),
                    resumed_from,
                    messages,
                };
            }
        }
    }
    panic!("the upload does not end");
}

/// Installs `pkg` completely: upload, reboot, trial boot, confirm.
pub fn install<F: TestFlash>(flash: &mut F, pkg: &[u8]) {
    let vk = verifying_key();
    let policy = policy(&vk);
    let mut slots = Slots::open_mapped(&mut *flash, CFG).unwrap();
    let report = upload(
        pkg,
        Mode::Install,
        &mut Receiver::new(),
        &mut slots,
        &policy,
    );
    assert!(
        matches!(report.end, Sent::Done(DeviceMsg::Installed { .. })),
        "{report:?}"
    );
    let mut slots = Slots::open(&mut *flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(choice.trial);
    assert!(slots.confirm().unwrap());
}

/// What happens to the device between two checks of [`Device::apply`].
#[derive(Clone, Debug)]
pub enum Action {
    /// The next message of an honest host uploading B (it follows the replies
    /// to its own messages).
    Honest,
    /// Any message.
    Msg(Box<HostMsg>),
    /// The device resets (and boots).
    Reset,
    /// The power goes during the flash operation after `after` more.
    Cut { after: u8, done: u16 },
    /// The supervisor reports that the app on trial trapped.
    Fail,
}

/// A device with app A confirmed, a host that may upload B honestly, and
/// whatever else [`Action`]s do to it.
pub struct Device<'p> {
    a: &'p [u8],
    b: &'p [u8],
    policy: &'p Policy<'p>,
    /// `None` only while [`Device::reopen`] has the flash.
    slots: Option<Slots<Flash>>,
    active: Option<belljar_update::Image>,
    rx: Receiver,
    device: Decoder<HostMsg>,
    host: Decoder<DeviceMsg>,
    honest: Upload<'p>,
    honest_next: HostMsg,
    honest_done: bool,
    /// Uploads that reached `Installed`.
    pub installs: u32,
    /// Boots of B on trial.
    pub trials: u32,
}

impl<'p> Device<'p> {
    /// `base` holds A confirmed; `b` is the package the honest host uploads.
    pub fn new(base: &Flash, a: &'p [u8], b: &'p [u8], policy: &'p Policy<'p>) -> Self {
        let slots = Slots::open(base.clone(), CFG).unwrap();
        let active = slots.state().active;
        let honest = Upload::new(b, Mode::Install);
        let honest_next = honest.begin();
        Device {
            a,
            b,
            policy,
            slots: Some(slots),
            active,
            rx: Receiver::new(),
            device: Decoder::new(),
            host: Decoder::new(),
            honest,
            honest_next,
            honest_done: false,
            installs: 0,
            trials: 0,
        }
    }

    /// Does `f` to the flash, then opens the slots on it again.
    fn reopen(&mut self, f: impl FnOnce(&mut Flash)) -> Result<(), String> {
        let mut flash = self.slots.take().expect("slots").into_inner();
        f(&mut flash);
        self.slots = Some(Slots::open(flash, CFG).map_err(|e| format!("{e:?}"))?);
        Ok(())
    }

    fn slots(&self) -> &Slots<Flash> {
        self.slots.as_ref().expect("slots")
    }

    fn slots_mut(&mut self) -> &mut Slots<Flash> {
        self.slots.as_mut().expect("slots")
    }

    /// Applies `action`, then checks that A is still the confirmed app,
    /// byte for byte, and that a boot only ever picks A or B (verified).
    pub fn apply(&mut self, action: &Action) -> Result<(), String> {
        let mut reset = false;
        match action {
            Action::Honest | Action::Msg(_) => {
                let msg = match action {
                    Action::Msg(msg) => (**msg).clone(),
                    _ => self.honest_next.clone(),
                };
                // Over the wire and back, as real frame bytes.
                let msg = self
                    .device
                    .feed(&mut encode_vec(&msg).unwrap().as_slice())
                    .ok_or("a frame did not decode")?;
                let reply = self
                    .rx
                    .handle(&msg, self.slots.as_mut().expect("slots"), self.policy);
                let reply = self
                    .host
                    .feed(&mut encode_vec(&reply).unwrap().as_slice())
                    .ok_or("a reply frame did not decode")?;
                if let DeviceMsg::Installed { .. } = reply {
                    self.installs += 1;
                }
                if let (Action::Honest, false) = (action, self.honest_done) {
                    self.honest_next = match self.honest.on_reply(&reply) {
                        Step::Send(next) => next,
                        // Installed: the host is done and only says Hello.
                        Step::Done(_) => {
                            self.honest_done = true;
                            HostMsg::Hello
                        }
                        Step::Failed(_) => {
                            self.honest = Upload::new(self.b, Mode::Install);
                            self.honest.begin()
                        }
                    };
                }
            }
            Action::Reset => reset = true,
            Action::Cut { after, done } => {
                self.reopen(|flash| flash.cut_power(u64::from(*after), *done))?;
            }
            Action::Fail => {
                let _ = self.slots_mut().report_failure();
            }
        }
        if reset || self.slots().flash().power_lost() {
            self.reopen(Flash::reboot)?;
            self.rx = Receiver::new();
            let choice = self
                .slots_mut()
                .boot()
                .map_err(|e| format!("boot: {e:?}"))?
                .ok_or("nothing to boot")?;
            let bytes = &self.slots().flash().memory()
                [choice.range.start as usize..choice.range.end as usize];
            if belljar_package::verify(bytes, self.policy).is_err() {
                return Err("the boot choice does not verify".into());
            }
            if choice.trial {
                if bytes != self.b {
                    return Err("a trial boot of something other than B".into());
                }
            } else if bytes != self.a {
                return Err("a confirmed boot of something other than A".into());
            }
            self.trials += u32::from(choice.trial);
        }
        if self.slots().state().active != self.active {
            return Err(format!(
                "the active slot changed: {:?} -> {:?}",
                self.active,
                self.slots().state().active
            ));
        }
        let range = self.slots().active().ok_or("no active app")?.range;
        if self.slots().flash().memory()[range.start as usize..range.end as usize] != *self.a {
            return Err("the active app's bytes changed".into());
        }
        Ok(())
    }
}
