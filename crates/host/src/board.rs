use alloc::string::String;
use core::fmt;
use core::future::Future;

use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::i2c::I2c;
use embedded_hal::pwm::SetDutyCycle;
use embedded_hal::spi::SpiDevice;

pub use crate::peripherals::{AnalogInput, Change, WaitInput};
pub use crate::platform::Level;

/// What a board provides to one guest. Its peripherals are `embedded-hal`
/// drivers ([`Peripherals`]); the waiting operations (`delay-ms`,
/// `read-byte`) are futures, so the CPU sleeps (or other apps and firmware
/// tasks run) while a guest waits. The WIT interfaces are implemented on top
/// of this once, in [`crate::platform`], for every board.
///
/// When several apps share a board, each gets its own `Board` value (a view
/// of the shared hardware); who may use which pin is decided by the host
/// ([`crate::Access`]), not by the board.
///
/// Futures must be `Send` because Wasmtime's async calls are; boards on one
/// core satisfy that with `Send` wakers and shared state behind a
/// critical-section mutex.
pub trait Board: Send + 'static {
    /// The pins, buses and channels (often the board itself).
    type Peripherals: Peripherals;
    fn peripherals(&mut self) -> &mut Self::Peripherals;

    /// `timing.delay-ms`: completes `ms` milliseconds later (a timer on a
    /// board, virtual time on the simulator).
    fn delay_ms(&mut self, ms: u32) -> impl Future<Output = ()> + Send + '_;
    /// Whether the board exposes a UART to apps.
    fn has_uart(&self) -> bool;
    /// `uart.read-byte`: completes when a byte arrives. `Err` when the input
    /// ended or the driver failed (the host then asks [`Board::poll_stop`]).
    fn read_byte(&mut self) -> impl Future<Output = Result<u8, ()>> + Send + '_;
    /// `uart.write-byte`.
    fn write_byte(&mut self, byte: u8) -> impl Future<Output = Result<(), ()>> + Send + '_;
    /// Monotonic milliseconds since the board started.
    fn now_ms(&mut self) -> u64;

    /// `delay.delay-us/ns`: completes at least `ns` nanoseconds later
    /// (boards round up to their timer's resolution or spin for short waits).
    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_;

    /// Every host call, as it takes effect. Boards print these (simulator
    /// timeline, firmware console), stamped with their own clock
    /// ([`Board::now_ms`]) when they do, or ignore them: a board that
    /// records nothing reads no clock on a host call.
    fn event(&mut self, _event: &Event<'_>) {}

    /// Checked after every host call: `Some` ends the guest cleanly (a
    /// simulator time limit, scripted input that ran out, a supervisor).
    fn poll_stop(&mut self) -> Option<Stop> {
        None
    }
}

/// A board's pins, buses and channels as one guest sees them, each an
/// `embedded-hal` driver ([`Absent`] for a kind the board lacks).
///
/// Pins are looked up by the number the guest passes (board GPIO numbers),
/// buses and devices by name. `None` means the board has no such pin: the
/// guest traps with a message.
pub trait Peripherals: Send + 'static {
    type Output: OutputPin + Send;
    /// Buttons and digital inputs; `digital.wait-for-*` sleeps on them.
    type Input: InputPin + WaitInput + Send;
    type Servo: SetDutyCycle + Send;
    /// General PWM outputs (`pwm`); [`Absent`] on a board without them.
    type Pwm: SetDutyCycle + Send;
    /// ADC channels (`analog`); [`Absent`] on a board without them.
    type Analog: AnalogInput + Send;
    /// I2C buses (`wasi:i2c`), blocking `embedded-hal` drivers.
    type I2c: I2c + Send;
    /// SPI devices (`wasi:spi`): a bus with its chip select, as
    /// `embedded-hal`'s `SpiDevice` (e.g. `embedded-hal-bus`'s `ExclusiveDevice`).
    type Spi: SpiDevice + Send;

    /// A digital output (LED, relay...).
    fn output(&mut self, pin: u32) -> Option<&mut Self::Output>;
    /// A button input, wired active-low (pressed = low).
    fn input(&mut self, pin: u32) -> Option<&mut Self::Input>;
    /// A 50 Hz PWM channel driving a hobby servo.
    fn servo(&mut self, _pin: u32) -> Option<&mut Self::Servo> {
        None
    }
    /// A general PWM output on `pin`.
    fn pwm(&mut self, _pin: u32) -> Option<&mut Self::Pwm> {
        None
    }
    /// ADC channel `channel`.
    fn analog(&mut self, _channel: u32) -> Option<&mut Self::Analog> {
        None
    }
    /// The index of the I2C bus the board calls `name` (`i2c0`...).
    fn i2c_bus(&self, _name: &str) -> Option<usize> {
        None
    }
    /// I2C bus number `index` (from [`Peripherals::i2c_bus`]).
    fn i2c(&mut self, _index: usize) -> Option<&mut Self::I2c> {
        None
    }
    /// The index of the SPI device the board calls `name`.
    fn spi_device(&self, _name: &str) -> Option<usize> {
        None
    }
    /// SPI device number `index` (from [`Peripherals::spi_device`]).
    fn spi(&mut self, _index: usize) -> Option<&mut Self::Spi> {
        None
    }
}

/// One host call made by a guest, with its effect.
#[derive(Clone, Copy)]
pub enum Event<'a> {
    SetHigh {
        pin: u32,
    },
    SetLow {
        pin: u32,
    },
    Delay {
        ms: u32,
    },
    IsPressed {
        pin: u32,
        pressed: bool,
    },
    ReadByte {
        byte: u8,
    },
    WriteByte {
        byte: u8,
    },
    SetAngle {
        pin: u32,
        angle: u32,
    },
    Log {
        level: Level,
        message: &'a str,
    },
    NowMs {
        ms: u64,
    },
    /// `digital.is-high`.
    IsHigh {
        pin: u32,
        high: bool,
    },
    /// `digital.wait-for-*`: stamped when the wait ends.
    Waited {
        pin: u32,
        change: Change,
    },
    SetDuty {
        pin: u32,
        duty: u16,
        max: u16,
    },
    MaxDuty {
        pin: u32,
        max: u16,
    },
    Analog {
        channel: u32,
        raw: u16,
    },
    FullScale {
        channel: u32,
        raw: u16,
    },
    ReferenceMv {
        channel: u32,
        mv: u32,
    },
    DelayNs {
        ns: u64,
    },
    /// An I2C or SPI call, already formatted by [`crate::peripherals`].
    Bus(&'a dyn fmt::Display),
}

impl fmt::Display for Event<'_> {
    /// `interface.call(args)  effect`, the form of timeline and console lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SetHigh { pin } => write!(f, "gpio.set-high({pin})  pin {pin} = high"),
            Event::SetLow { pin } => write!(f, "gpio.set-low({pin})  pin {pin} = low"),
            Event::Delay { ms } => write!(f, "timing.delay-ms({ms})"),
            Event::IsPressed { pin, pressed } => {
                write!(f, "button.is-pressed({pin}) -> {pressed}")
            }
            Event::ReadByte { byte } => write!(f, "uart.read-byte() -> {}", Byte(*byte)),
            Event::WriteByte { byte } => write!(f, "uart.write-byte({})", Byte(*byte)),
            Event::SetAngle { pin, angle } => {
                write!(
                    f,
                    "servo.set-angle({pin}, {angle})  pin {pin} = {angle} deg"
                )
            }
            Event::Log { level, message } => write!(f, "log.{}: {message}", level_name(*level)),
            Event::NowMs { ms } => write!(f, "clock.now-ms() -> {ms}"),
            Event::IsHigh { pin, high } => write!(f, "digital.is-high({pin}) -> {high}"),
            Event::Waited { pin, change } => {
                write!(f, "digital.{}({pin}{})", change.call(), change.arg())
            }
            Event::SetDuty { pin, duty, max } => {
                write!(f, "pwm.set-duty({pin}, {duty})  pin {pin} = {duty}/{max}")
            }
            Event::MaxDuty { pin, max } => write!(f, "pwm.max-duty({pin}) -> {max}"),
            Event::Analog { channel, raw } => write!(f, "analog.read({channel}) -> {raw}"),
            Event::FullScale { channel, raw } => {
                write!(f, "analog.full-scale({channel}) -> {raw}")
            }
            Event::ReferenceMv { channel, mv } => {
                write!(f, "analog.reference-mv({channel}) -> {mv}")
            }
            Event::DelayNs { ns } => write!(f, "delay.delay-ns({ns})"),
            Event::Bus(call) => call.fmt(f),
        }
    }
}

/// A byte as a number and, when printable, as a character: `0x61 'a'`.
struct Byte(u8);

impl fmt::Display for Byte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b.is_ascii_graphic() || b == b' ' {
            write!(f, "0x{b:02x} '{}'", b as char)
        } else {
            write!(f, "0x{b:02x}")
        }
    }
}

pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// A guest did something the board refuses: the guest traps with this
/// message, the host carries on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    NoSuchPin {
        interface: &'static str,
        pin: u32,
    },
    NoUart,
    /// The app's grants do not include this pin or interface.
    NotGranted {
        interface: &'static str,
        pin: Option<u32>,
    },
    /// Another app running on the board owns this pin (or the UART).
    InUse {
        interface: &'static str,
        pin: Option<u32>,
        owner: String,
    },
    AngleOutOfRange {
        pin: u32,
        angle: u32,
    },
    DutyOutOfRange {
        pin: u32,
        duty: u16,
        max: u16,
    },
    /// An I2C bus, I2C device or SPI device the app's grants do not list.
    BusNotGranted {
        what: &'static str,
        name: String,
        address: Option<u16>,
    },
    /// The app holds more open bus handles than the host allows.
    TooManyHandles {
        max: usize,
    },
    Driver {
        interface: &'static str,
        pin: Option<u32>,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NoSuchPin { interface, pin } => {
                write!(
                    f,
                    "{interface}: {} {pin} is not available to this app on this board",
                    pin_word(interface)
                )
            }
            Fault::NoUart => f.write_str("uart: this board exposes no UART to apps"),
            Fault::NotGranted {
                interface,
                pin: Some(pin),
            } => write!(
                f,
                "{interface}: {} {pin} is not granted to this app (its package's capabilities do not list it)",
                pin_word(interface)
            ),
            Fault::NotGranted {
                interface,
                pin: None,
            } => write!(
                f,
                "{interface}: this interface is not granted to this app (its package's capabilities do not list it)"
            ),
            Fault::InUse {
                interface,
                pin: Some(pin),
                owner,
            } => write!(f, "{interface}: pin {pin} is in use by app `{owner}`"),
            Fault::InUse {
                interface,
                pin: None,
                owner,
            } => write!(f, "{interface}: in use by app `{owner}`"),
            Fault::AngleOutOfRange { pin, angle } => {
                write!(
                    f,
                    "servo: angle {angle} on pin {pin} is out of range 0..=180"
                )
            }
            Fault::DutyOutOfRange { pin, duty, max } => write!(
                f,
                "pwm: duty {duty} on pin {pin} is above its maximum {max}"
            ),
            Fault::BusNotGranted {
                what,
                name,
                address: Some(address),
            } => write!(
                f,
                "{what}: device 0x{address:02x} on bus `{name}` is not granted to this app \
                 (its package's capabilities do not list it)"
            ),
            Fault::BusNotGranted {
                what,
                name,
                address: None,
            } => write!(
                f,
                "{what}: `{name}` is not granted to this app (its package's capabilities do not list it)"
            ),
            Fault::TooManyHandles { max } => write!(
                f,
                "buses: more than {max} I2C/SPI handles open at once (drop the ones you no longer use)"
            ),
            Fault::Driver {
                interface,
                pin: Some(pin),
            } => {
                write!(f, "{interface}: the driver for pin {pin} failed")
            }
            Fault::Driver {
                interface,
                pin: None,
            } => write!(f, "{interface}: the driver failed"),
        }
    }
}

impl core::error::Error for Fault {}

/// What the number in a fault names: ADC channels are not pins.
fn pin_word(interface: &str) -> &'static str {
    if interface == "analog" {
        "channel"
    } else {
        "pin"
    }
}

/// Why a board ended a guest that did nothing wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The run's time limit was reached (`belljar run --for`).
    TimeLimit { ms: u64 },
    /// The guest waits for UART input and no more will come.
    InputExhausted,
    /// Anything else the board wants to say.
    Other(&'static str),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::TimeLimit { ms } => write!(f, "time limit of {ms} ms reached"),
            Stop::InputExhausted => {
                f.write_str("UART input exhausted while the app waits for more")
            }
            Stop::Other(why) => f.write_str(why),
        }
    }
}

impl core::error::Error for Stop {}

/// A timeline line as the simulator and every board console print it:
/// `[   1.500 s] gpio.set-low(25)  pin 25 = low`, or with several apps
/// `[   1.500 s] blinky: gpio.set-low(25)  pin 25 = low`. Cross-target tests
/// compare these lines, so there is one formatter for all.
pub struct TimelineLine<'a, E> {
    pub at_ms: u64,
    /// The app (or firmware task) the line is from, when several share the
    /// console.
    pub source: Option<&'a str>,
    pub event: E,
}

impl<E: fmt::Display> fmt::Display for TimelineLine<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>4}.{:03} s] ", self.at_ms / 1000, self.at_ms % 1000)?;
        if let Some(source) = self.source {
            write!(f, "{source}: ")?;
        }
        self.event.fmt(f)
    }
}
