//! The Pico 2 as guests see it (GPIO numbers as printed on the board):
//!
//! | GPIO | role |
//! | --- | --- |
//! | 0, 1 | UART0 TX / RX (console and the guests' `uart`) |
//! | 6, 7 | servos: PWM slice 3, 50 Hz, 1 us resolution |
//! | 14, 15 | buttons: inputs with pull-ups (wire the button to GND) |
//! | 2-5, 8-13, 16-22, 25 (LED), 26-28 | push-pull outputs |
//!
//! Any other pin number makes the guest trap ("not available"); GPIO 23, 24
//! and 29 drive or sense the board's own power circuitry and are not offered.

use core::fmt::Write as _;

use belljar_device::RunLimits;
use belljar_device::belljar_host::{Board, Event, Stop, TimelineLine};
use embedded_hal::pwm::SetDutyCycle;
use rp235x_hal as hal;

use hal::gpio::{DynPinId, FunctionSioInput, FunctionSioOutput, Pin, PullDown, PullUp};
use hal::pwm;

use crate::clock::{Clock, Delay};
use crate::uart::{self, Console, GuestUart};

/// GPIO numbers 0..=29.
const PINS: usize = 30;

/// A push-pull output (one type for every pin).
pub type Output = Pin<DynPinId, FunctionSioOutput, PullDown>;
/// A button input with its pull-up (read active-low by belljar-host).
pub type Input = Pin<DynPinId, FunctionSioInput, PullUp>;

/// Servo period: 20 ms (50 Hz) counted in microseconds.
const SERVO_PERIOD_US: u16 = 20_000;

type Slice3 = pwm::Slice<pwm::Pwm3, pwm::FreeRunning>;

/// A 50 Hz PWM channel of slice 3 (GPIO6 = channel A, GPIO7 = channel B).
/// The slice counts microseconds, so the duty cycle is the pulse width in
/// microseconds out of 20 000.
pub enum Servo {
    A(pwm::Channel<Slice3, pwm::A>),
    B(pwm::Channel<Slice3, pwm::B>),
}

impl embedded_hal::pwm::ErrorType for Servo {
    type Error = core::convert::Infallible;
}

impl SetDutyCycle for Servo {
    fn max_duty_cycle(&self) -> u16 {
        match self {
            Servo::A(channel) => channel.max_duty_cycle(),
            Servo::B(channel) => channel.max_duty_cycle(),
        }
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
        match self {
            Servo::A(channel) => channel.set_duty_cycle(duty),
            Servo::B(channel) => channel.set_duty_cycle(duty),
        }
    }
}

/// The pins, configured once at boot.
pub struct Gpio {
    outputs: [Option<Output>; PINS],
    inputs: [Option<Input>; PINS],
    servo6: Servo,
    servo7: Servo,
}

/// `pins.gpioN` into `array[N]` with `into`, for each `N`.
macro_rules! assign {
    ($array:ident, $pins:ident, $into:ident, [$($n:literal: $field:ident),* $(,)?]) => {
        $( $array[$n] = Some($pins.$field.$into().into_dyn_pin()); )*
    };
}

impl Gpio {
    /// Configures every pin for its role (see the module docs); returns the
    /// GPIO0/GPIO1 pair in UART function for UART0. `sys_hz` is the PWM
    /// clock (the system clock).
    pub fn configure(pins: hal::gpio::Pins, mut slice: Slice3, sys_hz: u32) -> (Gpio, uart::Pins) {
        let uart_pins = (pins.gpio0.into_function(), pins.gpio1.into_function());

        let mut outputs = [const { None }; PINS];
        assign!(outputs, pins, into_push_pull_output, [
            2: gpio2, 3: gpio3, 4: gpio4, 5: gpio5,
            8: gpio8, 9: gpio9, 10: gpio10, 11: gpio11, 12: gpio12, 13: gpio13,
            16: gpio16, 17: gpio17, 18: gpio18, 19: gpio19, 20: gpio20, 21: gpio21, 22: gpio22,
            25: gpio25, 26: gpio26, 27: gpio27, 28: gpio28,
        ]);
        let mut inputs = [const { None }; PINS];
        assign!(inputs, pins, into_pull_up_input, [14: gpio14, 15: gpio15]);

        // 1 MHz count (150 MHz / 150), wrapping every 20 000 counts: 50 Hz.
        // Both channels start at 0 % duty: no pulse until the guest sets an angle.
        let divider = (sys_hz / 1_000_000).clamp(1, 255) as u8;
        slice.set_div_int(divider);
        slice.set_div_frac(0);
        slice.set_top(SERVO_PERIOD_US - 1);
        slice.enable();
        let mut a = slice.channel_a;
        let mut b = slice.channel_b;
        let _ = a.set_duty_cycle(0);
        let _ = b.set_duty_cycle(0);
        a.output_to(pins.gpio6);
        b.output_to(pins.gpio7);

        let gpio = Gpio {
            outputs,
            inputs,
            servo6: Servo::A(a),
            servo7: Servo::B(b),
        };
        (gpio, uart_pins)
    }
}

/// The board handed to a guest.
pub struct PicoBoard {
    gpio: Gpio,
    clock: Clock,
    delay: Delay,
    uart: GuestUart,
    limits: RunLimits,
    trace: bool,
}

impl PicoBoard {
    /// `clock` at 0 ms: board time counts from the moment the guest is handed
    /// the board, as on the simulator.
    pub fn new(gpio: Gpio, clock: Clock, limits: RunLimits, trace: bool) -> Self {
        PicoBoard {
            gpio,
            clock,
            delay: Delay::new(clock, limits),
            uart: GuestUart::new(clock, limits),
            limits,
            trace,
        }
    }
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl Board for PicoBoard {
    type Output = Output;
    type Input = Input;
    type Servo = Servo;
    type Delay = Delay;
    type Uart = GuestUart;

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.gpio.outputs.get_mut(index(pin)?)?.as_mut()
    }
    fn input(&mut self, pin: u32) -> Option<&mut Input> {
        self.gpio.inputs.get_mut(index(pin)?)?.as_mut()
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Servo> {
        match pin {
            6 => Some(&mut self.gpio.servo6),
            7 => Some(&mut self.gpio.servo7),
            _ => None,
        }
    }
    fn delay(&mut self) -> &mut Delay {
        &mut self.delay
    }
    fn uart(&mut self) -> Option<&mut GuestUart> {
        Some(&mut self.uart)
    }
    fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        if self.trace {
            let _ = writeln!(Console, "{}", TimelineLine { at_ms, event });
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.uart.stop.take() {
            return Some(stop);
        }
        self.limits.time_limit(self.clock.now_ms())
    }
}
