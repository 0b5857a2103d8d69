//! The simulated board: a Raspberry Pi Pico 2 as guests see it (GPIO 0..=29,
//! LED on 25, UART0), with a virtual clock. `delay-ms` advances virtual time
//! instantly (or sleeps for real with `realtime`), so an hour of blinky runs in
//! a fraction of a second. Every host call is recorded in a timeline.
//!
//! The board implements `embedded-hal` traits; the `embedded:platform`
//! interfaces come from `belljar-host`, exactly as on the device.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Read as _;
use std::rc::Rc;
use std::time::Duration;

use belljar_host::{Board, Event, Stop, TimelineLine};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

/// GPIO numbers of a Pico 2 (RP2350A).
pub const PINS: core::ops::RangeInclusive<u32> = 0..=29;

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
    /// These bytes, then the input is exhausted (the run stops cleanly).
    Bytes(VecDeque<u8>),
    /// The simulator's standard input, read as the guest asks.
    Stdin,
}

/// One line of the timeline: when (virtual ms) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub at_ms: u64,
    pub text: String,
}

/// How a simulated run is set up.
#[derive(Debug)]
pub struct SimConfig {
    pub presses: Vec<Press>,
    pub uart: UartInput,
    /// Stop after this much virtual time.
    pub time_limit_ms: Option<u64>,
    /// Sleep for real in `delay-ms`.
    pub realtime: bool,
    /// Print each timeline line to stdout as it happens.
    pub echo: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            presses: Vec::new(),
            uart: UartInput::Bytes(VecDeque::new()),
            time_limit_ms: None,
            realtime: false,
            echo: false,
        }
    }
}

/// Board state shared by its pins and drivers.
#[derive(Debug)]
struct State {
    now_ns: u64,
    limit_ns: Option<u64>,
    realtime: bool,
    presses: Vec<Press>,
    levels: [Option<bool>; 30],
    duty: [Option<(u16, u16)>; 30],
    uart_in: UartInput,
    uart_out: Vec<u8>,
    stop: Option<Stop>,
}

impl State {
    fn now_ms(&self) -> u64 {
        self.now_ns / 1_000_000
    }
}

type Shared = Rc<RefCell<State>>;

/// A GPIO of the simulated board, usable as output, input or servo PWM.
#[derive(Debug)]
pub struct SimPin {
    pin: u32,
    state: Shared,
}

impl ErrorType for SimPin {
    type Error = Infallible;
}

impl OutputPin for SimPin {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.state.borrow_mut().levels[self.pin as usize] = Some(true);
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.state.borrow_mut().levels[self.pin as usize] = Some(false);
        Ok(())
    }
}

impl InputPin for SimPin {
    /// Pulled up: low while a scripted press holds the button down.
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        let state = self.state.borrow();
        let now = state.now_ms();
        Ok(state
            .presses
            .iter()
            .any(|p| p.pin == self.pin && p.from_ms <= now && now < p.to_ms))
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
        self.state.borrow_mut().duty[self.pin as usize] = Some((duty, u16::MAX));
        Ok(())
    }
}

/// The virtual clock behind `timing.delay-ms`.
#[derive(Debug)]
pub struct SimDelay {
    state: Shared,
}

impl DelayNs for SimDelay {
    fn delay_ns(&mut self, ns: u32) {
        let mut state = self.state.borrow_mut();
        let mut until = state.now_ns + u64::from(ns);
        if let Some(limit) = state.limit_ns {
            until = until.min(limit);
        }
        if state.realtime {
            std::thread::sleep(Duration::from_nanos(until - state.now_ns));
        }
        state.now_ns = until;
    }
}

/// UART0 of the simulated board.
#[derive(Debug)]
pub struct SimUart {
    state: Shared,
}

/// The scripted UART input ran out.
#[derive(Debug)]
pub struct Exhausted;

impl embedded_io::Error for Exhausted {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io::ErrorType for SimUart {
    type Error = Exhausted;
}

impl embedded_io::Read for SimUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Exhausted> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.state.borrow_mut();
        let byte = match &mut state.uart_in {
            UartInput::Bytes(bytes) => bytes.pop_front(),
            UartInput::Stdin => {
                let mut b = [0u8];
                match std::io::stdin().read(&mut b) {
                    Ok(1) => Some(b[0]),
                    _ => None,
                }
            }
        };
        match byte {
            Some(b) => {
                buf[0] = b;
                Ok(1)
            }
            None => {
                state.stop = Some(Stop::InputExhausted);
                Err(Exhausted)
            }
        }
    }
}

impl embedded_io::Write for SimUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Exhausted> {
        self.state.borrow_mut().uart_out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Exhausted> {
        Ok(())
    }
}

/// The simulated Pico 2.
#[derive(Debug)]
pub struct SimBoard {
    state: Shared,
    pins: Vec<SimPin>,
    delay: SimDelay,
    uart: SimUart,
    echo: bool,
    trace: Vec<TraceLine>,
}

impl SimBoard {
    pub fn new(config: SimConfig) -> SimBoard {
        let state = Rc::new(RefCell::new(State {
            now_ns: 0,
            limit_ns: config.time_limit_ms.map(|ms| ms.saturating_mul(1_000_000)),
            realtime: config.realtime,
            presses: config.presses,
            levels: [None; 30],
            duty: [None; 30],
            uart_in: config.uart,
            uart_out: Vec::new(),
            stop: None,
        }));
        let pins = PINS
            .map(|pin| SimPin {
                pin,
                state: state.clone(),
            })
            .collect();
        SimBoard {
            delay: SimDelay {
                state: state.clone(),
            },
            uart: SimUart {
                state: state.clone(),
            },
            pins,
            state,
            echo: config.echo,
            trace: Vec::new(),
        }
    }

    fn pin(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pins.get_mut(usize::try_from(pin).ok()?)
    }

    /// Every host call so far.
    pub fn trace(&self) -> &[TraceLine] {
        &self.trace
    }

    /// Bytes the guest wrote to the UART.
    pub fn uart_output(&self) -> Vec<u8> {
        self.state.borrow().uart_out.clone()
    }

    /// The level last driven on `pin`, if it was driven.
    pub fn level(&self, pin: u32) -> Option<bool> {
        self.state
            .borrow()
            .levels
            .get(pin as usize)
            .copied()
            .flatten()
    }

    /// The PWM duty cycle last set on `pin`, as a fraction of the period.
    pub fn duty(&self, pin: u32) -> Option<f64> {
        let duty = self
            .state
            .borrow()
            .duty
            .get(pin as usize)
            .copied()
            .flatten();
        duty.map(|(d, max)| f64::from(d) / f64::from(max))
    }

    /// Virtual time elapsed.
    pub fn elapsed_ms(&self) -> u64 {
        self.state.borrow().now_ms()
    }
}

impl Board for SimBoard {
    type Output = SimPin;
    type Input = SimPin;
    type Servo = SimPin;
    type Delay = SimDelay;
    type Uart = SimUart;

    fn output(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn input(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut SimPin> {
        self.pin(pin)
    }
    fn delay(&mut self) -> &mut SimDelay {
        &mut self.delay
    }
    fn uart(&mut self) -> Option<&mut SimUart> {
        Some(&mut self.uart)
    }
    fn now_ms(&mut self) -> u64 {
        self.state.borrow().now_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        if self.echo {
            println!("{}", TimelineLine { at_ms, event });
        }
        self.trace.push(TraceLine {
            at_ms,
            text: event.to_string(),
        });
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        let mut state = self.state.borrow_mut();
        if let Some(stop) = state.stop.take() {
            return Some(stop);
        }
        match state.limit_ns {
            Some(limit) if state.now_ns >= limit => Some(Stop::TimeLimit {
                ms: limit / 1_000_000,
            }),
            _ => None,
        }
    }
}
