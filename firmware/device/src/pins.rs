//! Pins as an emulated board without GPIO hardware models them, the same on
//! every such board: GPIO 0..[`PINS`] like a Pico 2, outputs recorded (a
//! board may drive real hardware for some: `drive`), scripted buttons
//! (active-low, also the `digital` inputs, whose waits sleep until the
//! scripted edge), servo and PWM duty cycles recorded. Used by the
//! QEMU boards (`boards/qemu-mps2-an505`, `boards/qemu-riscv32-virt`).

use core::convert::Infallible;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use belljar_host::{Change, Stop, WaitInput};
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

use crate::{Press, RunLimits, clock};

/// Pin numbers guests may use (a Pico 2's GPIO numbers).
pub const PINS: usize = 30;

/// A digital output: its level is recorded, and `drive` is told.
#[derive(Debug)]
pub struct Output {
    pin: u32,
    level: Option<bool>,
    drive: fn(u32, bool),
}

impl Output {
    /// The level last driven, if any.
    pub fn level(&self) -> Option<bool> {
        self.level
    }

    fn set(&mut self, high: bool) {
        self.level = Some(high);
        (self.drive)(self.pin, high);
    }
}

impl ErrorType for Output {
    type Error = Infallible;
}

impl OutputPin for Output {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }
}

/// A push button wired active-low: low while a scripted press holds it.
#[derive(Debug)]
pub struct Button {
    pin: u32,
    presses: &'static [Press],
    limits: RunLimits,
    /// Why a wait gave up, for [`Pins::take_stop`].
    stop: Option<Stop>,
}

impl ErrorType for Button {
    type Error = Infallible;
}

impl InputPin for Button {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(Press::held(self.presses, self.pin, clock::board_ms()))
    }
}

impl WaitInput for Button {
    /// Sleeps until the scripted presses make `change`; a change no press
    /// makes stops the app (recorded for [`Pins::take_stop`]).
    async fn wait_for(&mut self, change: Change) -> Result<(), Infallible> {
        if let Err(stop) = self
            .limits
            .wait_scripted(self.presses, self.pin, change)
            .await
        {
            self.stop = Some(stop);
            BUTTON_STOPS.fetch_add(1, Relaxed);
        }
        Ok(())
    }
}

/// Buttons (of any app) holding a stop: `poll_stop` runs on every host call
/// and looks through the buttons only when one does.
static BUTTON_STOPS: AtomicU32 = AtomicU32::new(0);

/// A servo or PWM channel: the duty cycle is recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    duty: Option<u16>,
}

impl Recorded {
    /// The duty cycle last set, if any.
    pub fn duty(&self) -> Option<u16> {
        self.duty
    }
}

impl embedded_hal::pwm::ErrorType for Recorded {
    type Error = Infallible;
}

impl SetDutyCycle for Recorded {
    fn max_duty_cycle(&self) -> u16 {
        u16::MAX
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.duty = Some(duty);
        Ok(())
    }
}

/// One app's pins.
pub struct Pins {
    outputs: [Output; PINS],
    buttons: [Button; PINS],
    servos: [Recorded; PINS],
    pwms: [Recorded; PINS],
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl Pins {
    /// Buttons follow `presses`; their waits end at `limits`' time limit;
    /// outputs tell `drive` every level they are set to.
    pub fn new(presses: &'static [Press], limits: RunLimits, drive: fn(u32, bool)) -> Self {
        Pins {
            outputs: core::array::from_fn(|pin| Output {
                pin: pin as u32,
                level: None,
                drive,
            }),
            buttons: core::array::from_fn(|pin| Button {
                pin: pin as u32,
                presses,
                limits,
                stop: None,
            }),
            servos: core::array::from_fn(|_| Recorded::default()),
            pwms: core::array::from_fn(|_| Recorded::default()),
        }
    }

    pub fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.outputs.get_mut(index(pin)?)
    }
    pub fn input(&mut self, pin: u32) -> Option<&mut Button> {
        self.buttons.get_mut(index(pin)?)
    }
    pub fn servo(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.servos.get_mut(index(pin)?)
    }
    pub fn pwm(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pwms.get_mut(index(pin)?)
    }

    /// A stop a button's wait recorded, if any (for `Board::poll_stop`).
    pub fn take_stop(&mut self) -> Option<Stop> {
        if BUTTON_STOPS.load(Relaxed) == 0 {
            return None;
        }
        let stop = self.buttons.iter_mut().find_map(|b| b.stop.take())?;
        BUTTON_STOPS.fetch_sub(1, Relaxed);
        Some(stop)
    }
}
