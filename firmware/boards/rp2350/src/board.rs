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
//!
//! The pins are configured once at boot into a static [`Gpio`] behind a
//! critical-section mutex; each app gets its own [`PicoBoard`] view whose
//! pins lock it for each access (the host decides which app owns which pin).

use core::cell::RefCell;
use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::Future;

use belljar_device::RunLimits;
use belljar_device::belljar_host::{Absent, Board, Change, Event, Stop, TimelineLine, WaitInput};
use belljar_device::clock::board_ms;
use critical_section::Mutex;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;
use rp235x_hal as hal;

use hal::gpio::{DynPinId, FunctionSioInput, FunctionSioOutput, Pin, PullDown, PullUp};
use hal::pwm;

use crate::settings;
use crate::uart::{self, Console};

/// GPIO numbers 0..=29.
const PINS: usize = 30;

/// A push-pull output (one type for every pin).
type OutputPad = Pin<DynPinId, FunctionSioOutput, PullDown>;
/// A button input with its pull-up (read active-low by belljar-host).
type InputPad = Pin<DynPinId, FunctionSioInput, PullUp>;

/// Servo period: 20 ms (50 Hz) counted in microseconds.
const SERVO_PERIOD_US: u16 = 20_000;

type Slice3 = pwm::Slice<pwm::Pwm3, pwm::FreeRunning>;

/// A 50 Hz PWM channel of slice 3 (GPIO6 = channel A, GPIO7 = channel B).
/// The slice counts microseconds, so the duty cycle is the pulse width in
/// microseconds out of 20 000.
enum Channel {
    A(pwm::Channel<Slice3, pwm::A>),
    B(pwm::Channel<Slice3, pwm::B>),
}

impl embedded_hal::pwm::ErrorType for Channel {
    type Error = Infallible;
}

impl SetDutyCycle for Channel {
    fn max_duty_cycle(&self) -> u16 {
        match self {
            Channel::A(channel) => channel.max_duty_cycle(),
            Channel::B(channel) => channel.max_duty_cycle(),
        }
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        match self {
            Channel::A(channel) => channel.set_duty_cycle(duty),
            Channel::B(channel) => channel.set_duty_cycle(duty),
        }
    }
}

/// The pins, configured once at boot.
pub struct Gpio {
    outputs: [Option<OutputPad>; PINS],
    inputs: [Option<InputPad>; PINS],
    servo6: Channel,
    servo7: Channel,
}

/// The configured pins, shared by every app's view (see [`init`]).
static GPIO: Mutex<RefCell<Option<Gpio>>> = Mutex::new(RefCell::new(None));

/// Hands the configured pins to the apps' views (once, at boot).
pub fn init(gpio: Gpio) {
    critical_section::with(|cs| GPIO.replace(cs, Some(gpio)));
}

/// Runs `f` on the pins, if [`init`] has been called.
fn with_gpio<R>(f: impl FnOnce(&mut Gpio) -> R) -> Option<R> {
    critical_section::with(|cs| GPIO.borrow_ref_mut(cs).as_mut().map(f))
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
            servo6: Channel::A(a),
            servo7: Channel::B(b),
        };
        (gpio, uart_pins)
    }
}

/// An app's handle on a push-pull output.
pub struct Output {
    pin: usize,
}

impl ErrorType for Output {
    type Error = Infallible;
}

impl OutputPin for Output {
    fn set_high(&mut self) -> Result<(), Infallible> {
        with_gpio(|g| g.outputs[self.pin].as_mut().map(|pad| pad.set_high()));
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        with_gpio(|g| g.outputs[self.pin].as_mut().map(|pad| pad.set_low()));
        Ok(())
    }
}

/// An app's handle on a button input.
pub struct Input {
    pin: usize,
}

impl ErrorType for Input {
    type Error = Infallible;
}

impl InputPin for Input {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        let low = with_gpio(|g| {
            g.inputs[self.pin]
                .as_mut()
                .is_some_and(|pad| pad.is_low() == Ok(true))
        });
        Ok(low.unwrap_or(false))
    }
}

impl WaitInput for Input {
    /// Samples the input every millisecond (the CPU sleeps in between)
    /// until it makes `change`; edges shorter than that can be missed.
    async fn wait_for(&mut self, change: Change) -> Result<(), Infallible> {
        let mut before = self.is_high()?;
        loop {
            let now = self.is_high()?;
            if change.satisfied(before, now) {
                return Ok(());
            }
            before = now;
            embassy_time::Timer::after_millis(1).await;
        }
    }
}

/// An app's handle on a servo channel (GPIO6 or GPIO7).
pub struct Servo {
    pin: u32,
}

impl Servo {
    fn with<R>(&self, f: impl FnOnce(&mut Channel) -> R) -> Option<R> {
        with_gpio(|g| {
            f(if self.pin == 6 {
                &mut g.servo6
            } else {
                &mut g.servo7
            })
        })
    }
}

impl embedded_hal::pwm::ErrorType for Servo {
    type Error = Infallible;
}

impl SetDutyCycle for Servo {
    fn max_duty_cycle(&self) -> u16 {
        self.with(|channel| channel.max_duty_cycle())
            .unwrap_or(SERVO_PERIOD_US)
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.with(|channel| channel.set_duty_cycle(duty));
        Ok(())
    }
}

/// The time limit and the UART idle limit (build-time settings).
const LIMITS: RunLimits = RunLimits {
    for_ms: settings::FOR_MS,
    uart_idle_ms: settings::UART_IDLE_MS,
};

/// One app's view of the board.
pub struct PicoBoard {
    /// Prefix of this app's console lines when several apps run.
    name: Option<&'static str>,
    outputs: [Option<Output>; PINS],
    inputs: [Option<Input>; PINS],
    servos: [Servo; 2],
    /// Why the last UART read gave up, for `Board::poll_stop`.
    stop: Option<Stop>,
}

impl PicoBoard {
    /// A view with a handle on every pin [`init`] configured.
    pub fn new(name: Option<&'static str>) -> Self {
        let (outputs, inputs) = with_gpio(|g| {
            (
                core::array::from_fn(|pin| g.outputs[pin].as_ref().map(|_| Output { pin })),
                core::array::from_fn(|pin| g.inputs[pin].as_ref().map(|_| Input { pin })),
            )
        })
        .unwrap_or(([const { None }; PINS], [const { None }; PINS]));
        PicoBoard {
            name,
            outputs,
            inputs,
            servos: [Servo { pin: 6 }, Servo { pin: 7 }],
            stop: None,
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
    type Pwm = Absent;
    type Analog = Absent;
    type I2c = Absent;
    type Spi = Absent;

    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_ {
        LIMITS.delay_ns(ns)
    }

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.outputs.get_mut(index(pin)?)?.as_mut()
    }
    fn input(&mut self, pin: u32) -> Option<&mut Input> {
        self.inputs.get_mut(index(pin)?)?.as_mut()
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Servo> {
        self.servos.iter_mut().find(|servo| servo.pin == pin)
    }

    /// Ends when the millisecond clock has advanced by `ms` (board time
    /// moves in whole milliseconds, as on the simulator), cut short at the
    /// time limit.
    fn delay_ms(&mut self, ms: u32) -> impl Future<Output = ()> + Send + '_ {
        LIMITS.delay(ms)
    }

    fn has_uart(&self) -> bool {
        true
    }

    /// Waits for a byte on UART0 until the time limit, or until no input
    /// came for `BELLJAR_UART_IDLE_MS`.
    async fn read_byte(&mut self) -> Result<u8, ()> {
        LIMITS
            .read_byte(uart::try_read, board_ms)
            .await
            .map_err(|stop| self.stop = Some(stop))
    }

    fn write_byte(&mut self, byte: u8) -> impl Future<Output = Result<(), ()>> + Send + '_ {
        uart::write_guest_byte(byte);
        core::future::ready(Ok(()))
    }

    fn now_ms(&mut self) -> u64 {
        board_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        if settings::TRACE {
            let line = TimelineLine {
                at_ms,
                source: self.name,
                event,
            };
            let _ = writeln!(Console, "{line}");
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.stop.take() {
            return Some(stop);
        }
        LIMITS.time_limit(board_ms())
    }
}
