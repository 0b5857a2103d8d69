//! The `embedded:platform` interfaces, implemented once for every [`Board`].

use alloc::string::String;

use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;
use wasmtime::component::{HasSelf, Linker};

use crate::access::Access;
use crate::board::{Board, Event, Fault, Peripherals};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "device",
        // Only the imports that wait are async (they suspend the guest's
        // fiber); every other import is a plain host function, with no
        // suspend point on its path.
        imports: {
            "embedded:platform/timing.delay-ms": async | trappable,
            "embedded:platform/uart.read-byte": async | trappable,
            "embedded:platform/uart.write-byte": async | trappable,
            "embedded:platform/digital.wait-for-edge": async | trappable,
            "embedded:platform/digital.wait-for-level": async | trappable,
            "embedded:platform/delay.delay-us": async | trappable,
            "embedded:platform/delay.delay-ns": async | trappable,
            default: trappable,
        },
    });
}

pub use bindings::embedded::platform::log::Level;
use bindings::embedded::platform::{button, clock, gpio, log, servo, timing, uart};

/// The interfaces a board provides, as a guest names them in its imports.
pub const INTERFACES: [&str; 14] = [
    "embedded:platform/gpio",
    "embedded:platform/timing",
    "embedded:platform/button",
    "embedded:platform/uart",
    "embedded:platform/servo",
    "embedded:platform/log",
    "embedded:platform/clock",
    "embedded:platform/buses",
    "embedded:platform/digital",
    "embedded:platform/pwm",
    "embedded:platform/analog",
    "embedded:platform/delay",
    crate::peripherals::WASI_I2C,
    crate::peripherals::WASI_SPI,
];

/// Servo pulse: 0 deg = 500 us, 180 deg = 2500 us, in a 20 ms (50 Hz) period.
pub const SERVO_PERIOD_US: u32 = 20_000;
pub const SERVO_MIN_PULSE_US: u32 = 500;
pub const SERVO_MAX_PULSE_US: u32 = 2_500;

/// The pulse width for `angle` degrees (0..=180).
pub const fn servo_pulse_us(angle: u32) -> u32 {
    SERVO_MIN_PULSE_US + angle * (SERVO_MAX_PULSE_US - SERVO_MIN_PULSE_US) / 180
}

/// The data of a guest's `Store`: its board, what it may touch, and what
/// the runtime tracks.
pub struct Host<B> {
    pub board: B,
    pub access: Access,
    /// Host calls made so far (the fuel watchdog refills on each).
    pub host_calls: u64,
    pub(crate) meter: crate::runtime::Meter,
    /// The I2C buses and SPI devices the app has open.
    pub(crate) handles: crate::peripherals::Handles,
    /// The app's resource limits (Wasmtime's limiter).
    pub(crate) limiter: crate::runtime::Limiter,
}

impl<B: Board> Host<B> {
    pub fn new(board: B, access: Access) -> Self {
        Host {
            board,
            access,
            host_calls: 0,
            meter: Default::default(),
            handles: Default::default(),
            limiter: Default::default(),
        }
    }

    /// Ends one host call: the event (the board stamps it), then the stop
    /// check. A failure while the board is stopping the guest (e.g.
    /// simulated input ran out) is a stop, not a fault.
    pub(crate) fn finish<T>(
        &mut self,
        result: Result<(T, Event<'_>), Fault>,
    ) -> wasmtime::Result<T> {
        self.host_calls += 1;
        match result {
            Ok((value, event)) => {
                self.board.event(&event);
                match self.board.poll_stop() {
                    Some(stop) => Err(wasmtime::Error::new(stop)),
                    None => Ok(value),
                }
            }
            Err(fault) => match self.board.poll_stop() {
                Some(stop) => Err(wasmtime::Error::new(stop)),
                None => Err(wasmtime::Error::new(fault)),
            },
        }
    }

    fn output(
        &mut self,
        interface: &'static str,
        pin: u32,
    ) -> Result<&mut <B::Peripherals as Peripherals>::Output, Fault> {
        self.access.output(interface, pin)?;
        self.board
            .peripherals()
            .output(pin)
            .ok_or(Fault::NoSuchPin { interface, pin })
    }

    fn set(&mut self, pin: u32, high: bool) -> wasmtime::Result<()> {
        let result = self.output("gpio", pin).and_then(|out| {
            if high { out.set_high() } else { out.set_low() }.map_err(|_| Fault::Driver {
                interface: "gpio",
                pin: Some(pin),
            })
        });
        let event = if high {
            Event::SetHigh { pin }
        } else {
            Event::SetLow { pin }
        };
        self.finish(result.map(|()| ((), event)))
    }
}

/// Adds one board interface, named as a guest imports it, to `linker`;
/// `false` if the board has no interface of that name. A runtime links only
/// what an app imports: defining all fourteen costs a blinky more boot time
/// and heap than its two.
pub fn add_interface<B: Board>(linker: &mut Linker<Host<B>>, name: &str) -> wasmtime::Result<bool> {
    use bindings::embedded::platform::{analog, buses, delay, digital, pwm};
    use bindings::wasi::{i2c::i2c as wasi_i2c, spi::spi as wasi_spi};
    fn this<B>(host: &mut Host<B>) -> &mut Host<B> {
        host
    }
    type Me<B> = HasSelf<Host<B>>;
    match name {
        "embedded:platform/gpio" => gpio::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/timing" => timing::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/button" => button::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/uart" => uart::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/servo" => servo::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/log" => log::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/clock" => clock::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/buses" => buses::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/digital" => digital::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/pwm" => pwm::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/analog" => analog::add_to_linker::<_, Me<B>>(linker, this)?,
        "embedded:platform/delay" => delay::add_to_linker::<_, Me<B>>(linker, this)?,
        crate::peripherals::WASI_I2C => wasi_i2c::add_to_linker::<_, Me<B>>(linker, this)?,
        crate::peripherals::WASI_SPI => wasi_spi::add_to_linker::<_, Me<B>>(linker, this)?,
        _ => return Ok(false),
    }
    Ok(true)
}

impl<B: Board> gpio::Host for Host<B> {
    fn set_high(&mut self, pin: u32) -> wasmtime::Result<()> {
        self.set(pin, true)
    }

    fn set_low(&mut self, pin: u32) -> wasmtime::Result<()> {
        self.set(pin, false)
    }
}

impl<B: Board> timing::Host for Host<B> {
    /// The event is stamped when the wait starts; the guest resumes `ms`
    /// later while other apps and firmware tasks run.
    async fn delay_ms(&mut self, ms: u32) -> wasmtime::Result<()> {
        if let Err(fault) = self.access.interface("timing") {
            return self.finish(Err(fault));
        }
        self.board.event(&Event::Delay { ms });
        self.board.delay_ms(ms).await;
        self.host_calls += 1;
        match self.board.poll_stop() {
            Some(stop) => Err(wasmtime::Error::new(stop)),
            None => Ok(()),
        }
    }
}

impl<B: Board> button::Host for Host<B> {
    fn is_pressed(&mut self, pin: u32) -> wasmtime::Result<bool> {
        let result = (|| {
            self.access.input("button", pin)?;
            let input = self
                .board
                .peripherals()
                .input(pin)
                .ok_or(Fault::NoSuchPin {
                    interface: "button",
                    pin,
                })?;
            let pressed = input.is_low().map_err(|_| Fault::Driver {
                interface: "button",
                pin: Some(pin),
            })?;
            Ok((pressed, Event::IsPressed { pin, pressed }))
        })();
        self.finish(result)
    }
}

impl<B: Board> Host<B> {
    fn uart(&mut self) -> Result<(), Fault> {
        self.access.uart()?;
        if self.board.has_uart() {
            Ok(())
        } else {
            Err(Fault::NoUart)
        }
    }
}

const UART_DRIVER: Fault = Fault::Driver {
    interface: "uart",
    pin: None,
};

impl<B: Board> uart::Host for Host<B> {
    /// Completes when a byte arrives; the event is stamped then.
    async fn read_byte(&mut self) -> wasmtime::Result<u8> {
        let result = match self.uart() {
            Ok(()) => self.board.read_byte().await.map_err(|()| UART_DRIVER),
            Err(fault) => Err(fault),
        };
        self.finish(result.map(|byte| (byte, Event::ReadByte { byte })))
    }

    async fn write_byte(&mut self, byte: u8) -> wasmtime::Result<()> {
        let result = match self.uart() {
            Ok(()) => self.board.write_byte(byte).await.map_err(|()| UART_DRIVER),
            Err(fault) => Err(fault),
        };
        self.finish(result.map(|()| ((), Event::WriteByte { byte })))
    }
}

impl<B: Board> servo::Host for Host<B> {
    fn set_angle(&mut self, pin: u32, angle: u32) -> wasmtime::Result<()> {
        let result = (|| {
            self.access.output("servo", pin)?;
            if angle > 180 {
                return Err(Fault::AngleOutOfRange { pin, angle });
            }
            let servo = self
                .board
                .peripherals()
                .servo(pin)
                .ok_or(Fault::NoSuchPin {
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
        })();
        self.finish(result)
    }
}

impl<B: Board> log::Host for Host<B> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let result = self.access.interface("log").map(|()| {
            (
                (),
                Event::Log {
                    level,
                    message: &message,
                },
            )
        });
        self.finish(result)
    }
}

impl<B: Board> clock::Host for Host<B> {
    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        let result = self.access.interface("clock").map(|()| {
            let ms = self.board.now_ms();
            (ms, Event::NowMs { ms })
        });
        self.finish(result)
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
