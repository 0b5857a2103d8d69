use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

pub use crate::platform::Level;

/// What a board provides to guests. Each method hands out an `embedded-hal`
/// (or `embedded-io`) driver; the WIT interfaces are implemented on top of
/// these once, in [`crate::platform`], for every board.
///
/// Pins are looked up by the number the guest passes (board GPIO numbers).
/// `None` means the board has no such pin: the guest traps with a message.
pub trait Board {
    type Output: OutputPin;
    type Input: InputPin;
    type Servo: SetDutyCycle;
    type Delay: DelayNs;
    type Uart: embedded_io::Read + embedded_io::Write;

    /// A digital output (LED, relay...).
    fn output(&mut self, pin: u32) -> Option<&mut Self::Output>;
    /// A button input, wired active-low (pressed = low).
    fn input(&mut self, pin: u32) -> Option<&mut Self::Input>;
    /// A 50 Hz PWM channel driving a hobby servo.
    fn servo(&mut self, pin: u32) -> Option<&mut Self::Servo>;
    /// The timer behind `timing.delay-ms`.
    fn delay(&mut self) -> &mut Self::Delay;
    /// The application UART, if the board exposes one to guests.
    fn uart(&mut self) -> Option<&mut Self::Uart>;
    /// Monotonic milliseconds since the board started the guest.
    fn now_ms(&mut self) -> u64;

    /// Every host call, after it happened, with the time it started. Boards
    /// print these (simulator timeline, firmware console) or ignore them.
    fn event(&mut self, _at_ms: u64, _event: &Event<'_>) {}

    /// Checked after every host call: `Some` ends the guest cleanly (a
    /// simulator time limit, scripted input that ran out, a supervisor).
    fn poll_stop(&mut self) -> Option<Stop> {
        None
    }
}

/// One host call made by a guest, with its effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    SetHigh { pin: u32 },
    SetLow { pin: u32 },
    Delay { ms: u32 },
    IsPressed { pin: u32, pressed: bool },
    ReadByte { byte: u8 },
    WriteByte { byte: u8 },
    SetAngle { pin: u32, angle: u32 },
    Log { level: Level, message: &'a str },
    NowMs { ms: u64 },
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
    AngleOutOfRange {
        pin: u32,
        angle: u32,
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
                    "{interface}: pin {pin} is not available to this app on this board"
                )
            }
            Fault::NoUart => f.write_str("uart: this board exposes no UART to apps"),
            Fault::AngleOutOfRange { pin, angle } => {
                write!(
                    f,
                    "servo: angle {angle} on pin {pin} is out of range 0..=180"
                )
            }
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
/// `[   1.500 s] gpio.set-low(25)  pin 25 = low`. Cross-target tests compare
/// these lines, so there is one formatter for all.
pub struct TimelineLine<'a, 'b> {
    pub at_ms: u64,
    pub event: &'a Event<'b>,
}

impl fmt::Display for TimelineLine<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}.{:03} s] {}",
            self.at_ms / 1000,
            self.at_ms % 1000,
            self.event
        )
    }
}
