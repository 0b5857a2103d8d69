//! The simulated board: a Raspberry Pi Pico 2 as guests see it (GPIO 0..=29,
//! LED on 25, UART0), with a virtual clock and a deterministic executor, so
//! one or several apps run side by side exactly as on a board, only faster:
//! an hour of blinky takes a few milliseconds.
//!
//! * `delay-ms` is a timer in virtual time. When every task waits, the clock
//!   jumps to the next deadline (with `realtime`, virtual time is held back
//!   so that it never runs ahead of the wall clock).
//! * A guest that computes without waiting yields every `yield_fuel` units
//!   of fuel (Wasmtime's fuel yielding); each such slice costs
//!   `yield_fuel * ns_per_fuel` of virtual time, so a spinning guest takes
//!   simulated CPU time and timers of other tasks still fire on schedule.
//!   Computation between two host calls that ends before a yield costs no
//!   virtual time.
//! * Host calls take the time they take on the reference board: every call
//!   [`DEFAULT_HOST_CALL_NS`], a UART byte written ten bit times at
//!   [`DEFAULT_UART_BAUD`]; `delay-ms` ends on a millisecond boundary as on
//!   the boards. So a guest that calls the host in a loop still moves
//!   virtual time, and `--for` always ends.
//! * Tasks run in a fixed order: the same inputs give the same timeline.
//!
//! Timeline lines use the board console's format ([`belljar_host::TimelineLine`]).
//!
//! The board implements `embedded-hal` traits; the `embedded:platform`
//! interfaces come from `belljar-host`, exactly as on the device.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use belljar_host::runtime::{Exit, Limits};
use belljar_host::{
    Access, AnalogInput, Board, Change, Claims, Event, Peripherals, Stop, TimelineLine, WaitInput,
};
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

pub mod devices;
use devices::{
    AnalogSpec, At24c, I2cDevice, I2cModel, I2cSpec, Max7219, SpiModel, SpiSpec, Tmp105,
};

/// GPIO numbers of a Pico 2 (RP2350A).
pub const PINS: core::ops::RangeInclusive<u32> = 0..=29;

/// Virtual time one unit of fuel costs by default: a Pulley guest on a
/// 150 MHz Cortex-M33 burns about 15 instructions per unit of fuel
/// (measured on the QEMU board), i.e. ~100 ns.
pub const DEFAULT_NS_PER_FUEL: u64 = 100;

/// Virtual time every host call takes by default: a host-call round trip on
/// the reference board (a Pico 2 at 150 MHz; ~2 800 instructions measured
/// on the Cortex-M33 firmware) is about 19 us. So a guest that calls the
/// host in a loop without waiting still moves time, and `--for` ends.
pub const DEFAULT_HOST_CALL_NS: u64 = 20_000;

/// The UART's speed by default (8N1: ten bits on the wire per byte, 86.8 us
/// per byte at 115 200 baud); `uart.write-byte` takes that long.
pub const DEFAULT_UART_BAUD: u32 = 115_200;

/// A button held down on `pin` from `from_ms` (inclusive) to `to_ms` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Press {
    pub pin: u32,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// Where UART bytes for the guest come from.
#[derive(Debug)]
pub enum UartInput {
    /// These bytes, then the input is exhausted (the reading app stops cleanly).
    Bytes(VecDeque<u8>),
    /// The simulator's standard input, read as the guest asks.
    Stdin,
}

/// One line of the timeline: when (virtual ms), who and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub at_ms: u64,
    /// The app (or firmware task) the line comes from (shared with every
    /// line of it: recording a host call copies no name).
    pub source: Arc<str>,
    pub text: String,
}

/// How a simulated run is set up.
#[derive(Debug)]
pub struct SimConfig {
    pub presses: Vec<Press>,
    pub uart: UartInput,
    /// Stop after this much virtual time.
    pub time_limit_ms: Option<u64>,
    /// Sleep for real while every task waits.
    pub realtime: bool,
    /// Print each timeline line to stdout as it happens.
    pub echo: bool,
    /// Keep the timeline in memory ([`Sim::timeline`], [`SimBoard::trace`]):
    /// for tests and tools that read it afterwards. `belljar run` does not
    /// (a long run would hold every line); with neither this nor `echo` the
    /// lines are not even formatted.
    pub keep_timeline: bool,
    /// Fuel limits and yield interval of every app.
    pub limits: Limits,
    /// Virtual time per unit of fuel of a computing guest.
    pub ns_per_fuel: u64,
    /// Virtual time every host call takes.
    pub host_call_ns: u64,
    /// UART speed: each byte written takes ten bit times.
    pub uart_baud: u32,
    /// Devices on the I2C buses (`--i2c`).
    pub i2c: Vec<I2cSpec>,
    /// SPI devices (`--spi`).
    pub spi: Vec<SpiSpec>,
    /// Analog channels (`--analog`).
    pub analog: Vec<AnalogSpec>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            presses: Vec::new(),
            uart: UartInput::Bytes(VecDeque::new()),
            time_limit_ms: None,
            realtime: false,
            echo: false,
            keep_timeline: true,
            limits: Limits::default(),
            ns_per_fuel: DEFAULT_NS_PER_FUEL,
            host_call_ns: DEFAULT_HOST_CALL_NS,
            uart_baud: DEFAULT_UART_BAUD,
            i2c: Vec::new(),
            spi: Vec::new(),
            analog: Vec::new(),
        }
    }
}

/// A simulated I2C bus: its name and the devices on it by address.
#[derive(Debug)]
struct I2cBus {
    name: String,
    devices: Vec<(u16, Box<dyn I2cDevice>)>,
}

/// A simulated SPI device and the name apps open it by.
#[derive(Debug)]
struct SpiSlot {
    name: String,
    device: Max7219,
}

/// Board and clock state shared by every app and task of a simulation.
#[derive(Debug)]
struct World {
    now_ns: u64,
    limit_ns: Option<u64>,
    realtime: bool,
    echo: bool,
    presses: Vec<Press>,
    levels: [Option<bool>; 30],
    duty: [Option<(u16, u16)>; 30],
    uart_in: UartInput,
    uart_out: Vec<u8>,
    /// Per app: a stop to report at its next host call.
    stops: Vec<Option<Stop>>,
    names: Vec<Arc<str>>,
    /// Pending timers by (deadline, registration order).
    timers: BTreeMap<(u64, u64), Waker>,
    next_timer: u64,
    /// The wake flags of the tasks [`Sim::run`] is running (empty outside
    /// it): an app's delay checks them before it jumps the clock itself.
    ready: Vec<Arc<Flag>>,
    trace: Vec<TraceLine>,
    keep_timeline: bool,
    i2c: Vec<I2cBus>,
    spi: Vec<SpiSlot>,
    analog: Vec<AnalogSpec>,
    host_call_ns: u64,
    uart_byte_ns: u64,
    /// Host calls of every app so far (each one charged `host_call_ns`).
    host_calls: u64,
}

impl World {
    fn now_ms(&self) -> u64 {
        self.now_ns / 1_000_000
    }

    /// Whether timeline lines go anywhere (printed or kept).
    fn records(&self) -> bool {
        self.echo || self.keep_timeline
    }

    fn record(&mut self, at_ms: u64, source: &str, text: String) {
        // One app: exactly the board console's format, unprefixed.
        let alone = self.names.len() == 1 && &*self.names[0] == source;
        let source = match self.names.iter().find(|n| &***n == source) {
            Some(name) => name.clone(),
            None => Arc::from(source),
        };
        self.emit(at_ms, source, alone, text);
    }

    fn emit(&mut self, at_ms: u64, source: Arc<str>, alone: bool, text: String) {
        if self.echo {
            let line = TimelineLine {
                at_ms,
                source: (!alone).then_some(&*source),
                event: &text,
            };
            // A closed pipe (`belljar run | head`) must not panic the run.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        if self.keep_timeline {
            self.trace.push(TraceLine {
                at_ms,
                source,
                text,
            });
        }
    }

    /// An app's host call on the timeline (formatted only if it goes
    /// somewhere).
    fn record_event(&mut self, at_ms: u64, app: usize, event: &Event<'_>) {
        if self.records() {
            let alone = self.names.len() == 1;
            let name = self.names[app].clone();
            self.emit(at_ms, name, alone, event.to_string());
        }
    }

    /// Whether the run loop, with every task waiting, would next jump the
    /// clock to `deadline` and wake nothing else: no task is woken, no timer
    /// ends at or before it, and virtual time is not paced to the wall clock.
    fn nothing_before(&self, deadline: u64) -> bool {
        !self.realtime
            && self
                .timers
                .first_key_value()
                .is_none_or(|(&(first, _), _)| first > deadline)
            && !self.ready.iter().any(|f| f.0.load(Ordering::Acquire))
    }

    /// Moves the clock forward and wakes every timer that is due.
    fn advance_to(&mut self, ns: u64) {
        if ns > self.now_ns {
            self.now_ns = ns;
        }
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > self.now_ns {
                break;
            }
            entry.remove().wake();
        }
    }
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A simulation: one virtual board, any number of apps and tasks.
#[derive(Clone, Debug)]
pub struct Sim {
    world: Shared,
    limits: Limits,
    ns_per_fuel: u64,
}

/// A task for [`Sim::run`].
pub type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The buses of a simulation with the devices `config` asks for (`i2c0` is
/// always there, so that an app can open it and find nothing).
fn buses(config: &SimConfig) -> anyhow::Result<(Vec<I2cBus>, Vec<SpiSlot>)> {
    let mut i2c = vec![I2cBus {
        name: "i2c0".into(),
        devices: Vec::new(),
    }];
    for spec in &config.i2c {
        let device: Box<dyn I2cDevice> = match &spec.model {
            I2cModel::Tmp105(signal) => Box::new(Tmp105::new(*signal)),
            I2cModel::At24c { size, file } => Box::new(At24c::new(*size, file.clone())?),
        };
        let bus = match i2c.iter().position(|b| b.name == spec.bus) {
            Some(i) => i,
            None => {
                i2c.push(I2cBus {
                    name: spec.bus.clone(),
                    devices: Vec::new(),
                });
                i2c.len() - 1
            }
        };
        if i2c[bus].devices.iter().any(|(a, _)| *a == spec.address) {
            anyhow::bail!(
                "two devices at address 0x{:02x} on {}",
                spec.address,
                spec.bus
            );
        }
        i2c[bus].devices.push((spec.address, device));
    }
    let mut spi = Vec::new();
    for spec in &config.spi {
        if spi.iter().any(|s: &SpiSlot| s.name == spec.name) {
            anyhow::bail!("two SPI devices named {}", spec.name);
        }
        let SpiModel::Max7219 = spec.model;
        spi.push(SpiSlot {
            name: spec.name.clone(),
            device: Max7219::default(),
        });
    }
    Ok((i2c, spi))
}

impl Sim {
    /// A simulation; fails if a device cannot be set up (an EEPROM file that
    /// cannot be read, two devices at one address).
    pub fn new(config: SimConfig) -> anyhow::Result<Sim> {
        let (i2c, spi) = buses(&config)?;
        Ok(Sim {
            world: Arc::new(Mutex::new(World {
                now_ns: 0,
                limit_ns: config.time_limit_ms.map(|ms| ms.saturating_mul(1_000_000)),
                realtime: config.realtime,
                echo: config.echo,
                keep_timeline: config.keep_timeline,
                presses: config.presses,
                levels: [None; 30],
                duty: [None; 30],
                uart_in: config.uart,
                uart_out: Vec::new(),
                stops: Vec::new(),
                names: Vec::new(),
                timers: BTreeMap::new(),
                next_timer: 0,
                ready: Vec::new(),
                trace: Vec::new(),
                i2c,
                spi,
                analog: config.analog,
                host_call_ns: config.host_call_ns,
                host_calls: 0,
                uart_byte_ns: 10_000_000_000 / u64::from(config.uart_baud.max(1)),
            })),
            limits: config.limits,
            ns_per_fuel: config.ns_per_fuel,
        })
    }

    /// The text the MAX7219 display named `name` shows.
    pub fn display_text(&self, name: &str) -> Option<String> {
        let world = lock(&self.world);
        world
            .spi
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.device.text())
    }

    /// The limits every app of this simulation runs with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A board for each app, sharing this simulation's hardware, with the
    /// access each may have: everything, but a pin (or the UART) used by one
    /// app cannot be used by another.
    pub fn boards(&self, names: &[&str]) -> Vec<(SimBoard, Access)> {
        let claims = Claims::new(names.iter().copied());
        let mut world = lock(&self.world);
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let app = world.names.len();
                world.names.push(Arc::from(*name));
                world.stops.push(None);
                let board = SimBoard {
                    pins: PINS
                        .map(|pin| SimPin {
                            pin,
                            app,
                            world: self.world.clone(),
                        })
                        .collect(),
                    i2c: (0..world.i2c.len())
                        .map(|bus| SimI2c {
                            bus,
                            world: self.world.clone(),
                        })
                        .collect(),
                    spi: (0..world.spi.len())
                        .map(|device| SimSpi {
                            device,
                            world: self.world.clone(),
                        })
                        .collect(),
                    analog: world
                        .analog
                        .iter()
                        .map(|a| SimAnalog {
                            channel: a.channel,
                            world: self.world.clone(),
                        })
                        .collect(),
                    world: self.world.clone(),
                    app,
                };
                (board, Access::all().shared(claims.clone(), claims.app(i)))
            })
            .collect()
    }

    /// One app alone on the board.
    pub fn board(&self, name: &str) -> (SimBoard, Access) {
        self.boards(&[name]).pop().expect("one board")
    }

    /// Completes after `ms` of virtual time (for firmware-like tasks).
    pub fn sleep_ms(&self, ms: u64) -> Sleep {
        Sleep::new(self.world.clone(), ms.saturating_mul(1_000_000))
    }

    /// Completes when virtual time reaches `ms` (for periodic tasks that
    /// must not drift).
    pub fn sleep_until_ms(&self, ms: u64) -> Sleep {
        let world = self.world.clone();
        let now = lock(&world).now_ns;
        Sleep::new(world, (ms.saturating_mul(1_000_000)).saturating_sub(now))
    }

    /// Adds a line from a firmware task to the timeline.
    pub fn note(&self, source: &str, text: impl Into<String>) {
        let mut world = lock(&self.world);
        if world.records() {
            let at = world.now_ms();
            world.record(at, source, text.into());
        }
    }

    /// Bytes the guests wrote to the UART.
    pub fn uart_output(&self) -> Vec<u8> {
        lock(&self.world).uart_out.clone()
    }

    /// Virtual time elapsed.
    pub fn elapsed_ms(&self) -> u64 {
        lock(&self.world).now_ms()
    }

    /// Every line of the timeline (all apps and tasks).
    pub fn timeline(&self) -> Vec<TraceLine> {
        lock(&self.world).trace.clone()
    }

    /// Runs one future to completion (e.g. instantiating an app).
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let mut results = self.run(vec![Box::pin(future)], Vec::new());
        results
            .pop()
            .flatten()
            .expect("a lone task either ends or hits the time limit")
    }

    /// Runs `apps` and `background` tasks together until every app has
    /// ended or the time limit is reached. Returns each app's result, or
    /// `None` for an app still running at the time limit (it is dropped,
    /// which stops a guest). Background tasks are dropped at the end.
    pub fn run<'a, T: 'a>(
        &self,
        apps: Vec<Task<'a, T>>,
        background: Vec<Task<'a, ()>>,
    ) -> Vec<Option<T>> {
        let n = apps.len();
        let mut tasks: Vec<Option<Task<'a, Option<T>>>> = apps
            .into_iter()
            .map(|f| Some(Box::pin(async move { Some(f.await) }) as Task<'a, Option<T>>))
            .chain(background.into_iter().map(|f| {
                Some(Box::pin(async move {
                    f.await;
                    None
                }) as Task<'a, Option<T>>)
            }))
            .collect();
        let flags: Vec<Arc<Flag>> = tasks
            .iter()
            .map(|_| Arc::new(Flag(AtomicBool::new(true))))
            .collect();
        let wakers: Vec<Waker> = flags.iter().map(|f| Waker::from(f.clone())).collect();
        let outer = std::mem::replace(&mut lock(&self.world).ready, flags.clone());
        let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
        let slice_ns = self.limits.yield_fuel.saturating_mul(self.ns_per_fuel);
        // With `realtime`, virtual time never runs ahead of the wall clock.
        let wall = std::time::Instant::now();
        let virtual_start = lock(&self.world).now_ns;
        let pace = |world: &World| {
            if world.realtime {
                let ahead = Duration::from_nanos(world.now_ns - virtual_start)
                    .saturating_sub(wall.elapsed());
                if !ahead.is_zero() {
                    std::thread::sleep(ahead);
                }
            }
        };
        let mut apps_left = n;
        while apps_left > 0 {
            let mut ran = false;
            for (i, slot) in tasks.iter_mut().enumerate() {
                let Some(task) = slot else { continue };
                if !flags[i].0.swap(false, Ordering::AcqRel) {
                    continue;
                }
                ran = true;
                let mut cx = Context::from_waker(&wakers[i]);
                let calls_before = lock(&self.world).host_calls;
                match task.as_mut().poll(&mut cx) {
                    Poll::Ready(result) => {
                        *slot = None;
                        if i < n {
                            results[i] = result;
                            apps_left -= 1;
                        }
                    }
                    // Woken during its own poll: a guest yielding after a
                    // slice of fuel. A slice without a host call took CPU
                    // time; one with calls was charged by its calls (their
                    // `host_call_ns` stands for the guest's work between
                    // them, as before a guest making calls could yield).
                    Poll::Pending if flags[i].0.load(Ordering::Acquire) => {
                        let mut world = lock(&self.world);
                        if world.host_calls == calls_before {
                            let now = world.now_ns + slice_ns;
                            world.advance_to(now);
                        }
                        pace(&world);
                    }
                    Poll::Pending => {}
                }
            }
            let mut world = lock(&self.world);
            if world.limit_ns.is_some_and(|limit| world.now_ns > limit) {
                break;
            }
            if ran {
                continue;
            }
            // Everything waits: jump to the next timer.
            let Some((&(deadline, _), _)) = world.timers.first_key_value() else {
                break;
            };
            world.advance_to(deadline);
            pace(&world);
        }
        lock(&self.world).ready = outer;
        // Drop unfinished tasks (stopping their guests) before reporting.
        drop(tasks);
        results
    }
}

#[derive(Debug)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// A virtual-time timer.
pub struct Sleep {
    world: Shared,
    duration_ns: u64,
    deadline: Option<u64>,
    /// Its key in the timer queue once registered (a poll while pending only
    /// renews the waker).
    key: Option<(u64, u64)>,
    /// An app's wait (a delay, an edge wait, a UART byte's wire time), the
    /// only future its task awaits. It is cut short at the time limit, so
    /// that the app sees the limit at its next host call; and when nothing
    /// else can run before it ends (no task woken, no earlier timer, not
    /// `realtime`), it moves the clock to its end itself and is done, as the
    /// run loop would after switching away from the guest and back.
    app_wait: bool,
}

impl Sleep {
    fn new(world: Shared, duration_ns: u64) -> Sleep {
        Sleep {
            world,
            duration_ns,
            deadline: None,
            key: None,
            app_wait: false,
        }
    }

    /// An app's wait ([`Sleep::app_wait`]).
    fn app_wait(world: Shared, duration_ns: u64) -> Sleep {
        let mut sleep = Sleep::new(world, duration_ns);
        sleep.app_wait = true;
        sleep
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut world = lock(&this.world);
        let deadline = *this.deadline.get_or_insert_with(|| {
            let until = world.now_ns.saturating_add(this.duration_ns);
            match world.limit_ns {
                Some(limit) if this.app_wait => until.min(limit),
                _ => until,
            }
        });
        if world.now_ns >= deadline {
            return Poll::Ready(());
        }
        if this.app_wait && this.key.is_none() && world.nothing_before(deadline) {
            world.now_ns = deadline;
            return Poll::Ready(());
        }
        let key = *this.key.get_or_insert_with(|| {
            world.next_timer += 1;
            (deadline, world.next_timer - 1)
        });
        world.timers.insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    /// A dropped timer (its task stopped) leaves the queue.
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(&self.world).timers.remove(&key);
        }
    }
}

/// A GPIO of the simulated board, usable as output, input, servo or PWM.
#[derive(Debug)]
pub struct SimPin {
    pin: u32,
    /// The app whose board view this pin belongs to.
    app: usize,
    world: Shared,
}

impl World {
    /// An input's level at `ms`: pulled up, low while a scripted press holds it.
    fn input_high(&self, pin: u32, ms: u64) -> bool {
        !self
            .presses
            .iter()
            .any(|p| p.pin == pin && p.from_ms <= ms && ms < p.to_ms)
    }

    /// When (virtual ns) `pin` next satisfies `change` (see
    /// [`belljar_host::next_scripted_change`]).
    fn next_change(&self, pin: u32, change: Change) -> Option<u64> {
        let presses: Vec<(u32, u64, u64)> = self
            .presses
            .iter()
            .map(|p| (p.pin, p.from_ms, p.to_ms))
            .collect();
        let at_ms = belljar_host::next_scripted_change(&presses, pin, change, self.now_ms())?;
        Some((at_ms * 1_000_000).max(self.now_ns))
    }
}

impl embedded_hal_async::digital::Wait for SimPin {
    async fn wait_for_high(&mut self) -> Result<(), Infallible> {
        self.wait_for(Change::High).await
    }
    async fn wait_for_low(&mut self) -> Result<(), Infallible> {
        self.wait_for(Change::Low).await
    }
    async fn wait_for_rising_edge(&mut self) -> Result<(), Infallible> {
        self.wait_for(Change::Rising).await
    }
    async fn wait_for_falling_edge(&mut self) -> Result<(), Infallible> {
        self.wait_for(Change::Falling).await
    }
    async fn wait_for_any_edge(&mut self) -> Result<(), Infallible> {
        self.wait_for(Change::AnyEdge).await
    }
}

impl WaitInput for SimPin {
    /// Sleeps in virtual time until the scripted presses make the change
    /// (cut short at the time limit). When no scripted input ever will, the
    /// app is stopped at once: waiting would never end.
    fn wait_for(
        &mut self,
        change: Change,
    ) -> impl Future<Output = Result<(), Infallible>> + Send + '_ {
        let mut world = lock(&self.world);
        let now = world.now_ns;
        let duration = match world.next_change(self.pin, change) {
            Some(at) => at - now,
            None if world.limit_ns.is_some() => u64::MAX,
            None => {
                world.stops[self.app] = Some(Stop::Other(
                    "the app waits for an input change that no scripted input (--press) makes",
                ));
                0
            }
        };
        drop(world);
        let sleep = Sleep::app_wait(self.world.clone(), duration);
        async move {
            sleep.await;
            Ok(())
        }
    }
}

impl ErrorType for SimPin {
    type Error = Infallible;
}

impl OutputPin for SimPin {
    fn set_high(&mut self) -> Result<(), Infallible> {
        lock(&self.world).levels[self.pin as usize] = Some(true);
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        lock(&self.world).levels[self.pin as usize] = Some(false);
        Ok(())
    }
}

impl InputPin for SimPin {
    /// Pulled up: low while a scripted press holds the button down.
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        let world = lock(&self.world);
        Ok(!world.input_high(self.pin, world.now_ms()))
    }
}

impl embedded_hal::pwm::ErrorType for SimPin {
    type Error = Infallible;
}

impl SetDutyCycle for SimPin {
    fn max_duty_cycle(&self) -> u16 {
        u16::MAX
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        lock(&self.world).duty[self.pin as usize] = Some((duty, u16::MAX));
        Ok(())
    }
}

/// An I2C bus of the simulated board, as `embedded-hal` sees it.
#[derive(Debug)]
pub struct SimI2c {
    bus: usize,
    world: Shared,
}

impl embedded_hal::i2c::ErrorType for SimI2c {
    type Error = embedded_hal::i2c::ErrorKind;
}

impl embedded_hal::i2c::I2c for SimI2c {
    /// One START, the operations (a repeated START where the direction
    /// changes), one STOP. An address with no device does not acknowledge.
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), Self::Error> {
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource, Operation};
        let mut world = lock(&self.world);
        let now = world.now_ns;
        let bus = &mut world.i2c[self.bus];
        let Some((_, device)) = bus
            .devices
            .iter_mut()
            .find(|(a, _)| *a == u16::from(address))
        else {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        };
        device.start();
        let mut writing = None;
        for op in operations.iter_mut() {
            let is_write = matches!(op, Operation::Write(_));
            if writing.is_some_and(|w| w != is_write) {
                device.start();
            }
            writing = Some(is_write);
            match op {
                Operation::Write(bytes) => {
                    device.write(bytes, now).map_err(|_| ErrorKind::Other)?
                }
                Operation::Read(buf) => device.read(buf, now),
            }
        }
        device.stop().map_err(|_| ErrorKind::Other)
    }
}

/// An SPI device of the simulated board (its chip select included).
#[derive(Debug)]
pub struct SimSpi {
    device: usize,
    world: Shared,
}

impl embedded_hal::spi::ErrorType for SimSpi {
    type Error = embedded_hal::spi::ErrorKind;
}

impl embedded_hal::spi::SpiDevice for SimSpi {
    /// Chip select low, the operations, chip select high (which latches
    /// the frame). The MAX7219 drives nothing back: reads give zeros.
    fn transaction(
        &mut self,
        operations: &mut [embedded_hal::spi::Operation<'_, u8>],
    ) -> Result<(), Self::Error> {
        use embedded_hal::spi::Operation;
        let mut world = lock(&self.world);
        let device = &mut world.spi[self.device].device;
        for op in operations.iter_mut() {
            match op {
                Operation::Write(bytes) => device.shift(bytes),
                Operation::Transfer(read, write) => {
                    device.shift(write);
                    read.fill(0);
                }
                Operation::TransferInPlace(bytes) => {
                    device.shift(bytes);
                    bytes.fill(0);
                }
                Operation::Read(buf) => buf.fill(0),
                Operation::DelayNs(_) => {}
            }
        }
        device.latch();
        Ok(())
    }
}

/// An analog channel of the simulated board: a 12-bit ADC, 3.3 V reference.
#[derive(Debug)]
pub struct SimAnalog {
    channel: u32,
    world: Shared,
}

impl AnalogInput for SimAnalog {
    type Error = Infallible;
    fn read(&mut self) -> Result<u16, Infallible> {
        let world = lock(&self.world);
        let volts = world
            .analog
            .iter()
            .find(|a| a.channel == self.channel)
            .map_or(0.0, |a| a.volts.at(world.now_ns));
        Ok(devices::adc_raw(volts))
    }
    fn full_scale(&self) -> u16 {
        devices::ADC_FULL_SCALE
    }
    fn reference_mv(&self) -> u32 {
        devices::ADC_REFERENCE_MV
    }
}

/// One app's view of the simulated Pico 2.
#[derive(Debug)]
pub struct SimBoard {
    world: Shared,
    app: usize,
    pins: Vec<SimPin>,
    i2c: Vec<SimI2c>,
    spi: Vec<SimSpi>,
    analog: Vec<SimAnalog>,
}

impl SimBoard {
    fn pin(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pins.get_mut(usize::try_from(pin).ok()?)
    }

    /// This app's host calls so far.
    pub fn trace(&self) -> Vec<TraceLine> {
        let world = lock(&self.world);
        let name = &world.names[self.app];
        world
            .trace
            .iter()
            .filter(|l| l.source == *name)
            .cloned()
            .collect()
    }

    /// Every line of the simulation's timeline (all apps and tasks).
    pub fn timeline(&self) -> Vec<TraceLine> {
        lock(&self.world).trace.clone()
    }

    /// Bytes the guests wrote to the UART.
    pub fn uart_output(&self) -> Vec<u8> {
        lock(&self.world).uart_out.clone()
    }

    /// The level last driven on `pin`, if it was driven.
    pub fn level(&self, pin: u32) -> Option<bool> {
        lock(&self.world)
            .levels
            .get(pin as usize)
            .copied()
            .flatten()
    }

    /// The PWM duty cycle last set on `pin`, as a fraction of the period.
    pub fn duty(&self, pin: u32) -> Option<f64> {
        let duty = lock(&self.world).duty.get(pin as usize).copied().flatten();
        duty.map(|(d, max)| f64::from(d) / f64::from(max))
    }

    /// Virtual time elapsed.
    pub fn elapsed_ms(&self) -> u64 {
        lock(&self.world).now_ms()
    }
}

impl Peripherals for SimBoard {
    type Output = SimPin;
    type Input = SimPin;
    type Servo = SimPin;
    type Pwm = SimPin;
    type Analog = SimAnalog;
    type I2c = SimI2c;
    type Spi = SimSpi;

    fn output(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn input(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn pwm(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn analog(&mut self, channel: u32) -> Option<&mut SimAnalog> {
        self.analog.iter_mut().find(|a| a.channel == channel)
    }
    fn i2c_bus(&self, name: &str) -> Option<usize> {
        lock(&self.world).i2c.iter().position(|b| b.name == name)
    }
    fn i2c(&mut self, index: usize) -> Option<&mut SimI2c> {
        self.i2c.get_mut(index)
    }
    fn spi_device(&self, name: &str) -> Option<usize> {
        lock(&self.world).spi.iter().position(|s| s.name == name)
    }
    fn spi(&mut self, index: usize) -> Option<&mut SimSpi> {
        self.spi.get_mut(index)
    }
}

impl Board for SimBoard {
    type Peripherals = Self;
    fn peripherals(&mut self) -> &mut Self {
        self
    }

    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_ {
        Sleep::app_wait(self.world.clone(), ns)
    }

    /// Ends when the millisecond clock has advanced by `ms`, as on the
    /// boards (board time moves in whole milliseconds): the time host calls
    /// took before it does not add up into drift.
    fn delay_ms(&mut self, ms: u32) -> impl Future<Output = ()> + Send + '_ {
        let world = lock(&self.world);
        let end = (world.now_ms() + u64::from(ms)) * 1_000_000;
        let duration = end.saturating_sub(world.now_ns);
        drop(world);
        Sleep::app_wait(self.world.clone(), duration)
    }

    fn has_uart(&self) -> bool {
        true
    }

    fn read_byte(&mut self) -> impl Future<Output = Result<u8, ()>> + Send + '_ {
        let mut world = lock(&self.world);
        let byte = match &mut world.uart_in {
            UartInput::Bytes(bytes) => bytes.pop_front(),
            UartInput::Stdin => {
                let mut b = [0u8];
                match std::io::stdin().read(&mut b) {
                    Ok(1) => Some(b[0]),
                    _ => None,
                }
            }
        };
        if byte.is_none() {
            world.stops[self.app] = Some(Stop::InputExhausted);
        }
        std::future::ready(byte.ok_or(()))
    }

    /// Takes the byte's time on the wire (ten bit times).
    fn write_byte(&mut self, byte: u8) -> impl Future<Output = Result<(), ()>> + Send + '_ {
        let mut world = lock(&self.world);
        world.uart_out.push(byte);
        let sleep = Sleep::app_wait(self.world.clone(), world.uart_byte_ns);
        async move {
            sleep.await;
            Ok(())
        }
    }

    fn now_ms(&mut self) -> u64 {
        lock(&self.world).now_ms()
    }

    /// Records the call, then charges its time on the reference board.
    fn event(&mut self, event: &Event<'_>) {
        let mut world = lock(&self.world);
        let at_ms = world.now_ms();
        world.record_event(at_ms, self.app, event);
        world.host_calls += 1;
        let now = world.now_ns + world.host_call_ns;
        world.advance_to(now);
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        let mut world = lock(&self.world);
        if let Some(stop) = world.stops[self.app].take() {
            return Some(stop);
        }
        match world.limit_ns {
            Some(limit) if world.now_ns >= limit => Some(Stop::TimeLimit {
                ms: limit / 1_000_000,
            }),
            _ => None,
        }
    }
}

/// How a run ended for an app the simulation stopped at its time limit.
pub fn time_limit_exit(sim: &Sim) -> Exit {
    let world = lock(&sim.world);
    Exit::Stopped(Stop::TimeLimit {
        ms: world.limit_ns.unwrap_or(world.now_ns) / 1_000_000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `app` (delays on its board, each end logged at its virtual ms)
    /// beside a firmware-like task that logs after sleeping 200 ms, then
    /// until 800 ms; returns the log and how many timers were queued.
    fn run(delays_ms: &[u32], time_limit_ms: Option<u64>) -> (Vec<(&'static str, u64)>, u64) {
        let sim = Sim::new(SimConfig {
            time_limit_ms,
            ..SimConfig::default()
        })
        .unwrap();
        let (mut board, _) = sim.board("app");
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = {
            let (log, sim) = (log.clone(), sim.clone());
            async move {
                for &ms in delays_ms {
                    board.delay_ms(ms).await;
                    log.lock().unwrap().push(("app", sim.elapsed_ms()));
                }
            }
        };
        let background = {
            let (log, sim) = (log.clone(), sim.clone());
            async move {
                sim.sleep_ms(200).await;
                log.lock().unwrap().push(("task", sim.elapsed_ms()));
                sim.sleep_until_ms(800).await;
                log.lock().unwrap().push(("task", sim.elapsed_ms()));
            }
        };
        sim.run(vec![Box::pin(app)], vec![Box::pin(background)]);
        let log = log.lock().unwrap().clone();
        (log, lock(&sim.world).next_timer)
    }

    #[test]
    fn an_app_delay_lets_every_earlier_timer_go_first() {
        // Each of the first two delays ends after one of the task's timers:
        // they wait in the queue (4 timers: 2 the task's, 2 the app's).
        let (log, timers) = run(&[500, 500], None);
        assert_eq!(
            log,
            [("task", 200), ("app", 500), ("task", 800), ("app", 1000)]
        );
        assert_eq!(timers, 4);
    }

    #[test]
    fn an_app_delay_with_nothing_due_before_it_moves_the_clock_itself() {
        // After 900 ms the task has ended: the last three delays queue no
        // timer (the same times as through the queue).
        let (log, timers) = run(&[900, 100, 100, 300], None);
        assert_eq!(
            log,
            [
                ("task", 200),
                ("task", 800),
                ("app", 900),
                ("app", 1000),
                ("app", 1100),
                ("app", 1400)
            ]
        );
        assert_eq!(timers, 3);
    }

    #[test]
    fn an_app_delay_moving_the_clock_itself_stops_at_the_time_limit() {
        let (log, timers) = run(&[900, 5000, 100], Some(1500));
        assert_eq!(
            log,
            [
                ("task", 200),
                ("task", 800),
                ("app", 900),
                ("app", 1500),
                ("app", 1500)
            ]
        );
        assert_eq!(timers, 3);
    }
}
