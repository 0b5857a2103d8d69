//! The supervisor: what runs the app on a device (and on the simulator in
//! `belljar run --listen`), and what no app can take down.
//!
//! * The app comes from the A/B flash [`Slots`] (a [`MappedFlash`]). Its
//!   package is **verified** where it lies in the flash (signature against
//!   the key built into the firmware, hash, target, engine, anti-rollback)
//!   before a byte of it reaches Wasmtime's deserializer; the verified
//!   bytes are the ones deserialized, in place (`deserialize_raw`: no RAM
//!   copy of the package; Pulley runs the bytecode from the flash).
//! * The signed header's capabilities become the app's [`Grants`]: a pin or
//!   interface it was not granted is a guest trap with a message.
//! * The app runs on the async host (fuel-sliced: it yields every
//!   `yield_fuel`), beside the **update agent**, which keeps answering the
//!   framed protocol on the update link whatever the app does.
//! * A trap, a runaway loop or an exhausted budget is logged; the app is
//!   restarted after a backoff (doubling up to `max_backoff_ms`). Every
//!   start is a boot of the slots: an app on trial that fails
//!   `max_boot_attempts` times is rolled back to the previous one
//!   automatically; an app on trial that runs `health_ms` without failing
//!   (or returns) is confirmed.
//! * A verified update switches at once to a warm boot of the new app (on
//!   trial); a one-off (`RunOnce`) package runs from RAM and is not
//!   installed.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::ptr::NonNull;

use belljar_host::runtime::{App, Exit, Limits, Runtime};
use belljar_host::{Access, Board, Grants};
use belljar_package::ed25519_dalek::VerifyingKey;
use belljar_package::{Capabilities, Header, Policy};
use belljar_profile::Target;
use belljar_update::MappedFlash;
use belljar_update::frame::{self, Decoder};
use belljar_update::proto::{DeviceMsg, HostMsg};
use belljar_update::{BootChoice, Receiver, Slots};
use embassy_futures::select::{Either, Either3, select, select3};
use embedded_storage::nor_flash::NorFlash;

pub use belljar_update;

/// What the supervisor needs from a board (or the simulator) besides the
/// app's [`Board`] views: time, the update link and a console.
pub trait Platform {
    type Board: Board;
    /// A fresh view of the board for the app named `app`.
    fn board(&self, app: &str) -> Self::Board;
    /// Completes `ms` milliseconds later.
    fn sleep_ms(&self, ms: u64) -> impl Future<Output = ()>;
    /// Waits for bytes on the update link; returns how many were put in `buf`
    /// (at least one).
    fn receive(&self, buf: &mut [u8]) -> impl Future<Output = usize>;
    /// Sends bytes on the update link.
    fn send(&self, bytes: &[u8]);
    /// One console line from the supervisor.
    fn log(&self, line: fmt::Arguments<'_>);
}

/// How patient the supervisor is.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub limits: Limits,
    /// An app on trial that runs this long without failing is confirmed.
    pub health_ms: u64,
    /// First restart delay after a failure; doubles on each failure in a row.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Development override of anti-rollback.
    pub allow_downgrade: bool,
    /// Largest package accepted (bytes).
    pub max_len: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            health_ms: 2_000,
            backoff_ms: 100,
            max_backoff_ms: 10_000,
            allow_downgrade: false,
            max_len: 256 * 1024,
        }
    }
}

/// The grants a signed header's capabilities give: exactly the listed pins
/// and interfaces.
pub fn grants(caps: &Capabilities) -> Grants {
    Grants {
        outputs: caps.outputs.iter().copied().collect(),
        inputs: caps.inputs.iter().copied().collect(),
        analog: caps.analog.iter().copied().collect(),
        i2c: Some(
            caps.i2c
                .iter()
                .map(|(bus, address)| belljar_host::I2cGrant {
                    bus: bus.clone(),
                    address: *address,
                })
                .collect(),
        ),
        spi: Some(caps.spi.clone()),
        interfaces: Some(caps.interfaces.clone()),
    }
}

/// The limits an app runs with: the device's, with the linear memory its
/// signed package asks for when that is less (the device caps it).
pub fn budget(device: Limits, caps: &Capabilities) -> Limits {
    device.memory_at_most(caps.memory.map(|asked| asked as usize))
}

/// Installs `package` as the confirmed app of empty slots (the factory
/// image a firmware carries for its first boot), through the same
/// verification as an update.
pub fn install_factory<F: NorFlash>(
    slots: &mut Slots<F>,
    package: &[u8],
    policy: &Policy<'_>,
) -> Result<Header, belljar_update::slots::Error<F::Error>> {
    use sha2::Digest;
    let len = u32::try_from(package.len()).unwrap_or(u32::MAX);
    let sha256: [u8; 32] = sha2::Sha256::digest(package).into();
    let mut offset = slots.begin_candidate(len, sha256)?;
    while (offset as usize) < package.len() {
        let end = (offset as usize + 512).min(package.len());
        offset = slots.write_candidate(offset, &package[offset as usize..end])?;
    }
    let header = slots.mark_pending(policy)?;
    slots.boot()?;
    slots.confirm()?;
    Ok(header)
}

/// Why [`load_verified`] loaded nothing.
#[derive(Debug)]
pub enum NotLoaded<E> {
    /// The package was refused; `load` was not called.
    Unverified(belljar_package::Error),
    /// The package verified; `load` failed on its payload.
    Load {
        app: alloc::string::String,
        error: E,
    },
}

/// Verification before load, the only way the supervisor hands bytes to
/// Wasmtime: `load` (the deserializer) is called only if `package` verifies
/// under `policy`, with exactly the payload just verified, and at most once.
/// The fuzz target `load` (fuzz/) counts its calls on arbitrary bytes.
pub fn load_verified<'p, T, E>(
    package: &'p [u8],
    policy: &Policy<'_>,
    load: impl FnOnce(&'p [u8]) -> Result<T, E>,
) -> Result<(Header, T), NotLoaded<E>> {
    let verified = belljar_package::verify(package, policy).map_err(NotLoaded::Unverified)?;
    match load(verified.payload) {
        Ok(loaded) => Ok((verified.header, loaded)),
        Err(error) => Err(NotLoaded::Load {
            app: verified.header.app,
            error,
        }),
    }
}

/// Why the app stopped running.
enum Switch {
    /// A verified package was installed: boot it.
    Install,
    /// A verified one-off package: run it from RAM.
    RunOnce(Vec<u8>),
}

/// What the device reports in [`DeviceMsg::Report`].
#[derive(Default)]
struct Report {
    app: Option<alloc::string::String>,
    version: Option<u32>,
    slot: Option<belljar_update::Slot>,
    trial: bool,
    fault: Option<alloc::string::String>,
}

/// The supervisor of one device.
pub struct Supervisor<'k, P: Platform, F: NorFlash + MappedFlash> {
    platform: P,
    report: RefCell<Report>,
    runtime: Runtime<P::Board>,
    slots: RefCell<Slots<F>>,
    agent: RefCell<(Decoder<HostMsg>, Receiver)>,
    key: &'k VerifyingKey,
    target: Target,
    settings: Settings,
}

impl<'k, P: Platform, F: NorFlash + MappedFlash> Supervisor<'k, P, F> {
    pub fn new(
        platform: P,
        runtime: Runtime<P::Board>,
        slots: Slots<F>,
        key: &'k VerifyingKey,
        settings: Settings,
    ) -> Self {
        Supervisor {
            platform,
            report: RefCell::new(Report::default()),
            runtime,
            slots: RefCell::new(slots),
            agent: RefCell::new((Decoder::new(), Receiver::new())),
            key,
            target: Target::host(),
            settings,
        }
    }

    pub fn slots(&self) -> core::cell::Ref<'_, Slots<F>> {
        self.slots.borrow()
    }

    /// The slots back (the device powers off: its flash outlives it).
    pub fn into_slots(self) -> Slots<F> {
        self.slots.into_inner()
    }

    fn policy(&self) -> Policy<'_> {
        Policy {
            key: self.key,
            target: self.target,
            installed: self.slots.borrow().installed_version(),
            allow_downgrade: self.settings.allow_downgrade,
            max_len: self.settings.max_len,
        }
    }

    /// Runs the device forever: boot, run, supervise, update.
    pub async fn run(&self) -> ! {
        let mut failures: u32 = 0;
        let mut once: Option<Vec<u8>> = None;
        loop {
            if let Some(package) = once.take() {
                // A one-off run; the installed app comes back afterwards.
                self.report.borrow_mut().slot = None;
                let (switch, _) = self.run_package(&package, false).await;
                once = self.after_switch(switch);
                continue;
            }
            let choice = {
                let mut slots = self.slots.borrow_mut();
                match slots.boot() {
                    Ok(choice) => choice,
                    Err(e) => {
                        self.platform.log(format_args!(
                            "supervisor: boot state: {e:?}; running the active app"
                        ));
                        slots.active()
                    }
                }
            };
            let Some(choice) = choice else {
                self.platform.log(format_args!(
                    "supervisor: no app installed; waiting for an update"
                ));
                let switch = self.agent().await;
                once = self.after_switch(Some(switch));
                continue;
            };
            let (switch, failed) = self.run_choice(&choice).await;
            if let Some(switch) = switch {
                failures = 0;
                once = self.after_switch(Some(switch));
                continue;
            }
            if !failed {
                failures = 0;
                // Ended cleanly: nothing to run until an update comes.
                let switch = self.agent().await;
                once = self.after_switch(Some(switch));
                continue;
            }
            failures += 1;
            let delay = self
                .settings
                .backoff_ms
                .saturating_mul(1 << (failures - 1).min(16))
                .min(self.settings.max_backoff_ms);
            self.platform.log(format_args!(
                "supervisor: restarting in {delay} ms (failure {failures} in a row)"
            ));
            if let Either::Second(switch) =
                select(self.platform.sleep_ms(delay), self.agent()).await
            {
                failures = 0;
                once = self.after_switch(Some(switch));
            }
        }
    }

    fn after_switch(&self, switch: Option<Switch>) -> Option<Vec<u8>> {
        match switch {
            Some(Switch::RunOnce(package)) => Some(package),
            Some(Switch::Install) | None => None,
        }
    }

    /// Boots `choice`: verify, load, run beside the agent. Returns a switch
    /// if an update interrupted it, and whether the app failed. The package
    /// is verified and deserialized where it lies in the flash (no RAM copy).
    async fn run_choice(&self, choice: &BootChoice) -> (Option<Switch>, bool) {
        let image = choice.image;
        let mapped = {
            let slots = self.slots.borrow();
            slots
                .mapped_image(&image)
                .map(|bytes| (NonNull::from(bytes), slots.may_write(image.slot)))
        };
        let Some((bytes, writable)) = mapped else {
            self.platform.log(format_args!(
                "supervisor: slot {:?} does not hold {} bytes",
                image.slot, image.len
            ));
            return (None, true);
        };
        self.report.borrow_mut().slot = Some(image.slot);
        self.platform.log(format_args!(
            "supervisor: booting slot {:?} (v{}{})",
            image.slot,
            image.version,
            if choice.trial { ", on trial" } else { "" }
        ));
        if writable {
            // An update could be written into this very slot while the app
            // runs from it (no state of the slots allows it today): run a
            // RAM copy instead of the flash bytes.
            // SAFETY: as below, for the moment of the copy.
            let copy = unsafe { bytes.as_ref() }.to_vec();
            return self.run_package(&copy, choice.trial).await;
        }
        // SAFETY: `MappedFlash` keeps the bytes at this address while the
        // flash lives (it lives in `self`), changed only by the slots' erase
        // and write, which touch only a slot for which `may_write` is true.
        // For the booted slot it is false and stays false while the app
        // runs: the agent writes only the candidate slot, which is the other
        // one, or this one on trial, where `begin_candidate` is refused
        // until the trial is confirmed (then the other slot is the
        // candidate slot). Nothing rolls a trial back while it runs.
        let package: &[u8] = unsafe { bytes.as_ref() };
        self.run_package(package, choice.trial).await
    }

    /// Verifies and runs one package until it ends or an update comes.
    async fn run_package(&self, package: &[u8], trial: bool) -> (Option<Switch>, bool) {
        let (header, app) = match self.load(package) {
            Ok(loaded) => loaded,
            Err(()) => return (None, true),
        };
        let name = &header.app;
        {
            let mut report = self.report.borrow_mut();
            report.app = Some(name.clone());
            report.version = Some(header.version);
            report.trial = trial;
        }
        let board = self.platform.board(name);
        let access = Access::new(grants(&header.capabilities));
        let limits = budget(self.settings.limits, &header.capabilities);
        let mut running = match app.instantiate(board, access, limits).await {
            Ok(running) => running,
            Err(exit) => {
                self.fault(format_args!("{name} v{}: {exit}", header.version));
                return (None, true);
            }
        };
        self.platform.log(format_args!(
            "supervisor: running {name} v{}",
            header.version
        ));
        let mut run = pin!(running.run());
        let mut confirmed = !trial;
        loop {
            let health = async {
                if confirmed {
                    core::future::pending::<()>().await
                } else {
                    self.platform.sleep_ms(self.settings.health_ms).await
                }
            };
            match select3(&mut run, self.agent(), health).await {
                Either3::First(exit) => {
                    let failed = matches!(exit, Exit::Trapped(_));
                    if failed {
                        self.fault(format_args!("{name} v{}: {exit}", header.version));
                    } else {
                        self.platform.log(format_args!(
                            "supervisor: {name} v{}: {exit}",
                            header.version
                        ));
                    }
                    if !failed && !confirmed {
                        self.confirm(&header);
                    }
                    return (None, failed);
                }
                Either3::Second(switch) => return (Some(switch), false),
                Either3::Third(()) => {
                    confirmed = true;
                    self.report.borrow_mut().trial = false;
                    self.confirm(&header);
                }
            }
        }
    }

    fn confirm(&self, header: &Header) {
        match self.slots.borrow_mut().confirm() {
            Ok(true) => self.platform.log(format_args!(
                "supervisor: {} v{} is healthy: confirmed",
                header.app, header.version
            )),
            Ok(false) => {}
            Err(e) => self
                .platform
                .log(format_args!("supervisor: cannot confirm: {e:?}")),
        }
    }

    /// Verification before load (see [`load_verified`]), into this runtime:
    /// the verified payload is deserialized in place (`deserialize_raw`).
    ///
    /// The caller keeps `package` where it is, unchanged, until the returned
    /// [`App`] is dropped ([`Self::run_package`] drops it before it returns,
    /// so the same bytes are never deserialized twice at once).
    fn load(&self, package: &[u8]) -> Result<(Header, App<P::Board>), ()> {
        // SAFETY: `load_verified` hands over only the payload of a package
        // signed by the key built into this firmware, whose hash, target and
        // engine were checked; the bytes outlive the app (see above).
        let loaded = load_verified(package, &self.policy(), |payload| unsafe {
            self.runtime.load_in_place(payload)
        });
        match loaded {
            Ok(loaded) => Ok(loaded),
            Err(NotLoaded::Unverified(e)) => {
                self.fault(format_args!("the package does not verify: {e}"));
                Err(())
            }
            Err(NotLoaded::Load { app, error }) => {
                self.fault(format_args!("cannot load {app}: {error}"));
                Err(())
            }
        }
    }

    /// Logs a failure and keeps it as the last fault (for `Report`).
    fn fault(&self, line: fmt::Arguments<'_>) {
        use core::fmt::Write;
        self.platform.log(format_args!("supervisor: {line}"));
        let mut text = alloc::string::String::new();
        let _ = text.write_fmt(line);
        let mut end = text.len().min(belljar_update::proto::MAX_FAULT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        self.report.borrow_mut().fault = Some(text);
    }

    fn report(&self) -> DeviceMsg {
        let report = self.report.borrow();
        DeviceMsg::Report {
            app: report.app.clone(),
            version: report.version,
            slot: report.slot,
            trial: report.trial,
            fault: report.fault.clone(),
        }
    }

    /// The update agent: answers the protocol until a verified package is
    /// installed or loaded for a one-off run.
    async fn agent(&self) -> Switch {
        let mut buf = [0u8; 256];
        loop {
            let n = self.platform.receive(&mut buf).await;
            let mut input = &buf[..n];
            while !input.is_empty() {
                let msg = self.agent.borrow_mut().0.feed(&mut input);
                let Some(msg) = msg else { continue };
                let reply = if msg == HostMsg::Report {
                    self.report()
                } else {
                    let policy = self.policy();
                    let mut agent = self.agent.borrow_mut();
                    let mut slots = self.slots.borrow_mut();
                    agent.1.handle(&msg, &mut slots, &policy)
                };
                if let Ok(bytes) = frame::encode_vec(&reply) {
                    self.platform.send(&bytes);
                }
                match reply {
                    DeviceMsg::Installed { app, version } => {
                        self.platform.log(format_args!(
                            "supervisor: update: {app} v{version} verified and installed; switching"
                        ));
                        return Switch::Install;
                    }
                    DeviceMsg::Loaded { app, version } => {
                        if let Some(package) = self.agent.borrow_mut().1.take_loaded() {
                            self.platform.log(format_args!(
                                "supervisor: update: {app} v{version} verified; one-off run"
                            ));
                            return Switch::RunOnce(package);
                        }
                    }
                    DeviceMsg::Rejected { reason } => self.platform.log(format_args!(
                        "supervisor: update rejected: {reason:?}; the running app is unaffected"
                    )),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_budget_narrows_the_device_limit_never_widens_it() {
        let device = Limits::default();
        let cap = device.resources.memory;
        let asked = |memory| Capabilities {
            memory,
            ..Capabilities::default()
        };
        assert_eq!(budget(device, &asked(None)).resources.memory, cap);
        assert_eq!(budget(device, &asked(Some(6144))).resources.memory, 6144);
        assert_eq!(
            budget(device, &asked(Some(1 << 20))).resources.memory,
            cap,
            "a package cannot ask for more than the device allows"
        );
    }
}
