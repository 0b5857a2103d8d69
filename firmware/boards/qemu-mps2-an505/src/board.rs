//! The mps2-an505 as guests see it: GPIO 0..=29 like a Pico 2 (pin 25, the
//! LED, drives FPGA IO LED0; the others are recorded outputs), scripted
//! buttons, software servo PWM, SysTick delays and UART0.

use core::convert::Infallible;
use core::fmt::Write as _;
use core::ptr::{read_volatile, write_volatile};

use belljar_device::belljar_host::{Board, Event, Stop, TimelineLine};
use belljar_device::{Press, RunLimits, UartStopped};
use cortex_m::peripheral::SYST;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

use crate::settings;
use crate::{clock, uart};

/// Pin numbers guests may use (a Pico 2's GPIO numbers).
pub const PINS: usize = 30;
/// The guest pin wired to FPGA IO LED0.
pub const LED_PIN: u32 = 25;

/// FPGA IO block (AN505 "FPGA system control and I/O"), Secure alias.
const FPGAIO: usize = 0x5030_2000;
/// LED0 register: bit n drives user LED n.
const FPGAIO_LED0: usize = FPGAIO;

/// The time limit and the UART idle limit (build-time settings).
const LIMITS: RunLimits = RunLimits {
    for_ms: settings::FOR_MS,
    uart_idle_ms: settings::UART_IDLE_MS,
};

/// A digital output. Pin 25 drives LED0 of the FPGA IO block.
#[derive(Debug)]
pub struct Output {
    pin: u32,
    level: Option<bool>,
}

impl Output {
    fn drive(&mut self, high: bool) {
        self.level = Some(high);
        if self.pin == LED_PIN {
            // SAFETY: the FPGA IO LED register; only pin 25 writes it.
            unsafe {
                let leds = read_volatile(FPGAIO_LED0 as *const u32);
                let leds = if high { leds | 1 } else { leds & !1 };
                write_volatile(FPGAIO_LED0 as *mut u32, leds);
            }
        }
    }
}

impl ErrorType for Output {
    type Error = Infallible;
}

impl OutputPin for Output {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.drive(true);
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.drive(false);
        Ok(())
    }
}

/// A push button wired active-low: low while a scripted press holds it.
#[derive(Debug)]
pub struct Button {
    pin: u32,
}

impl ErrorType for Button {
    type Error = Infallible;
}

impl InputPin for Button {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(Press::held(settings::PRESSES, self.pin, clock::now_ms()))
    }
}

/// A servo channel: the duty cycle is recorded (no PWM hardware in QEMU).
#[derive(Debug, Default)]
pub struct Servo {
    duty: Option<u16>,
}

impl embedded_hal::pwm::ErrorType for Servo {
    type Error = Infallible;
}

impl SetDutyCycle for Servo {
    fn max_duty_cycle(&self) -> u16 {
        u16::MAX
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.duty = Some(duty);
        Ok(())
    }
}

/// `timing.delay-ms`: sleeps on the SysTick clock. A delay ends when the
/// board's millisecond clock has advanced by the requested amount, so board
/// time and the timeline advance in whole milliseconds, as on the simulator.
/// It is cut short at the time limit, if any.
#[derive(Debug)]
pub struct Delay;

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let ms = u64::from(ns / 1_000_000);
        if ms > 0 {
            self.delay_ms(ms as u32);
        }
        clock::spin_ns(u64::from(ns % 1_000_000));
    }

    fn delay_us(&mut self, us: u32) {
        if us >= 1000 {
            self.delay_ms(us / 1000);
        }
        clock::spin_ns(u64::from(us % 1000) * 1000);
    }

    fn delay_ms(&mut self, ms: u32) {
        let until = LIMITS.delay_end_ms(clock::now_ms(), ms);
        clock::sleep_until_ms(until);
    }
}

/// UART0 as the guests' `uart`. Reads block (sleeping between ticks) until a
/// byte arrives, the time limit is reached, or no input came for
/// `BELLJAR_UART_IDLE_MS`.
#[derive(Debug, Default)]
pub struct Uart {
    stop: Option<Stop>,
}

impl embedded_io::ErrorType for Uart {
    type Error = UartStopped;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartStopped> {
        LIMITS.read_into(
            buf,
            &mut self.stop,
            uart::try_read,
            clock::now_ms,
            cortex_m::asm::wfi,
        )
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartStopped> {
        buf.iter().copied().for_each(uart::write_guest_byte);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), UartStopped> {
        Ok(())
    }
}

/// The board handed to a guest.
pub struct Mps2Board {
    outputs: [Output; PINS],
    buttons: [Button; PINS],
    servos: [Servo; PINS],
    delay: Delay,
    uart: Uart,
}

impl Mps2Board {
    /// The board, with its clock restarted at 0 ms: board time counts from
    /// the moment the guest is handed the board, as on the simulator.
    pub fn new(syst: &mut SYST) -> Self {
        let board = Mps2Board {
            outputs: core::array::from_fn(|pin| Output {
                pin: pin as u32,
                level: None,
            }),
            buttons: core::array::from_fn(|pin| Button { pin: pin as u32 }),
            servos: core::array::from_fn(|_| Servo::default()),
            delay: Delay,
            uart: Uart::default(),
        };
        clock::restart(syst);
        board
    }
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl Board for Mps2Board {
    type Output = Output;
    type Input = Button;
    type Servo = Servo;
    type Delay = Delay;
    type Uart = Uart;

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.outputs.get_mut(index(pin)?)
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button> {
        self.buttons.get_mut(index(pin)?)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Servo> {
        self.servos.get_mut(index(pin)?)
    }
    fn delay(&mut self) -> &mut Delay {
        &mut self.delay
    }
    fn uart(&mut self) -> Option<&mut Uart> {
        Some(&mut self.uart)
    }
    fn now_ms(&mut self) -> u64 {
        clock::now_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        if settings::TRACE {
            let _ = writeln!(uart::Console, "{}", TimelineLine { at_ms, event });
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.uart.stop.take() {
            return Some(stop);
        }
        LIMITS.time_limit(clock::now_ms())
    }
}
