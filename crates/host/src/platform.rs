//! The `embedded:platform` interfaces, implemented once for every [`Board`].

use alloc::string::String;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;
use wasmtime::component::{HasSelf, Linker};

use crate::board::{Board, Event, Fault};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "app",
        imports: { default: trappable },
    });
}

pub use bindings::embedded::platform::log::Level;
use bindings::embedded::platform::{button, clock, gpio, log, servo, timing, uart};

/// The interfaces a board provides, as a guest names them in its imports.
pub const INTERFACES: [&str; 7] = [
    "embedded:platform/gpio",
    "embedded:platform/timing",
    "embedded:platform/button",
    "embedded:platform/uart",
    "embedded:platform/servo",
    "embedded:platform/log",
    "embedded:platform/clock",
];

/// Servo pulse: 0 deg = 500 us, 180 deg = 2500 us, in a 20 ms (50 Hz) period.
pub const SERVO_PERIOD_US: u32 = 20_000;
pub const SERVO_MIN_PULSE_US: u32 = 500;
pub const SERVO_MAX_PULSE_US: u32 = 2_500;

/// The pulse width for `angle` degrees (0..=180).
pub const fn servo_pulse_us(angle: u32) -> u32 {
    SERVO_MIN_PULSE_US + angle * (SERVO_MAX_PULSE_US - SERVO_MIN_PULSE_US) / 180
}

/// The data of a guest's `Store`: its board and what the runtime tracks.
pub struct Host<B> {
    pub board: B,
    /// Host calls made so far (the fuel watchdog refills on each).
    pub host_calls: u64,
    pub(crate) meter: crate::runtime::Meter,
}

impl<B: Board> Host<B> {
    pub fn new(board: B) -> Self {
        Host {
            board,
            host_calls: 0,
            meter: Default::default(),
        }
    }

    /// Runs one host call: time stamp, effect, event, stop check.
    fn call<T>(
        &mut self,
        op: impl FnOnce(&mut B) -> Result<(T, Event<'static>), Fault>,
    ) -> wasmtime::Result<T> {
        self.host_calls += 1;
        let at = self.board.now_ms();
        match op(&mut self.board) {
            Ok((value, event)) => {
                self.board.event(at, &event);
                match self.board.poll_stop() {
                    Some(stop) => Err(wasmtime::Error::new(stop)),
                    None => Ok(value),
                }
            }
            // A driver that fails because the board is stopping the guest
            // (e.g. simulated input ran out) is a stop, not a fault.
            Err(fault) => match self.board.poll_stop() {
                Some(stop) => Err(wasmtime::Error::new(stop)),
                None => Err(wasmtime::Error::new(fault)),
            },
        }
    }
}

/// Adds every `embedded:platform` interface to `linker`.
pub fn add_to_linker<B: Board + 'static>(linker: &mut Linker<Host<B>>) -> wasmtime::Result<()> {
    bindings::App::add_to_linker::<Host<B>, HasSelf<Host<B>>>(linker, |host| host)
}

fn output<B: Board>(board: &mut B, pin: u32) -> Result<&mut B::Output, Fault> {
    board.output(pin).ok_or(Fault::NoSuchPin {
        interface: "gpio",
        pin,
    })
}

impl<B: Board> gpio::Host for Host<B> {
    fn set_high(&mut self, pin: u32) -> wasmtime::Result<()> {
        self.call(|b| {
            output(b, pin)?.set_high().map_err(|_| Fault::Driver {
                interface: "gpio",
                pin: Some(pin),
            })?;
            Ok(((), Event::SetHigh { pin }))
        })
    }

    fn set_low(&mut self, pin: u32) -> wasmtime::Result<()> {
        self.call(|b| {
            output(b, pin)?.set_low().map_err(|_| Fault::Driver {
                interface: "gpio",
                pin: Some(pin),
            })?;
            Ok(((), Event::SetLow { pin }))
        })
    }
}

impl<B: Board> timing::Host for Host<B> {
    fn delay_ms(&mut self, ms: u32) -> wasmtime::Result<()> {
        self.call(|b| {
            b.delay().delay_ms(ms);
            Ok(((), Event::Delay { ms }))
        })
    }
}

impl<B: Board> button::Host for Host<B> {
    fn is_pressed(&mut self, pin: u32) -> wasmtime::Result<bool> {
        self.call(|b| {
            let input = b.input(pin).ok_or(Fault::NoSuchPin {
                interface: "button",
                pin,
            })?;
            let pressed = input.is_low().map_err(|_| Fault::Driver {
                interface: "button",
                pin: Some(pin),
            })?;
            Ok((pressed, Event::IsPressed { pin, pressed }))
        })
    }
}

impl<B: Board> uart::Host for Host<B> {
    fn read_byte(&mut self) -> wasmtime::Result<u8> {
        self.call(|b| {
            let uart = b.uart().ok_or(Fault::NoUart)?;
            let mut byte = [0u8];
            embedded_io::Read::read_exact(uart, &mut byte).map_err(|_| Fault::Driver {
                interface: "uart",
                pin: None,
            })?;
            Ok((byte[0], Event::ReadByte { byte: byte[0] }))
        })
    }

    fn write_byte(&mut self, byte: u8) -> wasmtime::Result<()> {
        self.call(|b| {
            let uart = b.uart().ok_or(Fault::NoUart)?;
            embedded_io::Write::write_all(uart, &[byte]).map_err(|_| Fault::Driver {
                interface: "uart",
                pin: None,
            })?;
            Ok(((), Event::WriteByte { byte }))
        })
    }
}

impl<B: Board> servo::Host for Host<B> {
    fn set_angle(&mut self, pin: u32, angle: u32) -> wasmtime::Result<()> {
        self.call(|b| {
            if angle > 180 {
                return Err(Fault::AngleOutOfRange { pin, angle });
            }
            let servo = b.servo(pin).ok_or(Fault::NoSuchPin {
                interface: "servo",
                pin,
            })?;
            servo
                .set_duty_cycle_fraction(servo_pulse_us(angle) as u16, SERVO_PERIOD_US as u16)
                .map_err(|_| Fault::Driver {
                    interface: "servo",
                    pin: Some(pin),
                })?;
            Ok(((), Event::SetAngle { pin, angle }))
        })
    }
}

impl<B: Board> log::Host for Host<B> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.host_calls += 1;
        let at = self.board.now_ms();
        self.board.event(
            at,
            &Event::Log {
                level,
                message: &message,
            },
        );
        match self.board.poll_stop() {
            Some(stop) => Err(wasmtime::Error::new(stop)),
            None => Ok(()),
        }
    }
}

impl<B: Board> clock::Host for Host<B> {
    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        self.call(|b| {
            let ms = b.now_ms();
            Ok((ms, Event::NowMs { ms }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servo_pulse_spans_half_to_two_and_a_half_ms() {
        assert_eq!(servo_pulse_us(0), 500);
        assert_eq!(servo_pulse_us(90), 1500);
        assert_eq!(servo_pulse_us(180), 2500);
    }
}
