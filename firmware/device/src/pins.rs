//! Pins as an emulated board without GPIO hardware models them, the same on
//! every such board: GPIO 0..[`PINS`] like a Pico 2, outputs recorded (a
//! board may drive real hardware for some: `drive`), scripted buttons
//! (active-low, also the `digital` inputs, whose waits sleep until the
//! scripted edge), servo and PWM duty cycles recorded. Used by the
//! QEMU boards (`boards/qemu-mps2-an505`, `boards/qemu-riscv32-virt`).

use core::convert::Infallible;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use belljar_host::{Change, Stop, WaitInput};
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

use crate::{NoScriptedChange, Press, RunLimits, clock};

/// Pin numbers guests may use (a Pico 2's GPIO numbers).
pub const PINS: usize = 30;

/// What a board's emulated pins follow. Constants of the board's type, not
/// fields: a pin holds only its number and its state, so an app's pins cost
/// the same on every board however long the script is.
pub trait Script: 'static {
    /// The scripted button presses (`settings::PRESSES`).
    const PRESSES: &'static [Press];
    /// A button wait ends at these limits' time limit.
    const LIMITS: RunLimits;
    /// Told every level an output is set to (a board may drive real
    /// hardware for some pins).
    fn drive(_pin: u32, _high: bool) {}
}

/// A digital output: its level is recorded, and [`Script::drive`] is told.
#[derive(Debug)]
pub struct Output<S> {
    pin: u8,
    level: Option<bool>,
    script: PhantomData<fn() -> S>,
}

impl<S: Script> Output<S> {
    /// The level last driven, if any.
    pub fn level(&self) -> Option<bool> {
        self.level
    }

    fn set(&mut self, high: bool) {
        self.level = Some(high);
        S::drive(self.pin.into(), high);
    }
}

impl<S> ErrorType for Output<S> {
    type Error = Infallible;
}

impl<S: Script> OutputPin for Output<S> {
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
pub struct Button<S> {
    pin: u8,
    /// A wait gave up (no scripted press makes its change), for
    /// [`Pins::take_stop`]. A flag, not a [`Stop`]: 2 bytes a button.
    stopped: bool,
    script: PhantomData<fn() -> S>,
}

impl<S> ErrorType for Button<S> {
    type Error = Infallible;
}

impl<S: Script> InputPin for Button<S> {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        self.is_low().map(|low| !low)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(Press::held(S::PRESSES, self.pin.into(), clock::board_ms()))
    }
}

impl<S: Script> WaitInput for Button<S> {
    /// Sleeps until the scripted presses make `change`; a change no press
    /// makes stops the app (recorded for [`Pins::take_stop`]).
    async fn wait_for(&mut self, change: Change) -> Result<(), Infallible> {
        if S::LIMITS
            .wait_scripted(S::PRESSES, self.pin.into(), change)
            .await
            .is_err()
            && !self.stopped
        {
            self.stopped = true;
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

/// One app's pins, following the script `S`.
pub struct Pins<S> {
    outputs: [Output<S>; PINS],
    buttons: [Button<S>; PINS],
    servos: [Recorded; PINS],
    pwms: [Recorded; PINS],
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl<S: Script> Pins<S> {
    /// Every pin unset, no button pressed yet.
    pub fn new() -> Self {
        Pins {
            outputs: core::array::from_fn(|pin| Output {
                pin: pin as u8,
                level: None,
                script: PhantomData,
            }),
            buttons: core::array::from_fn(|pin| Button {
                pin: pin as u8,
                stopped: false,
                script: PhantomData,
            }),
            servos: core::array::from_fn(|_| Recorded::default()),
            pwms: core::array::from_fn(|_| Recorded::default()),
        }
    }

    pub fn output(&mut self, pin: u32) -> Option<&mut Output<S>> {
        self.outputs.get_mut(index(pin)?)
    }
    pub fn input(&mut self, pin: u32) -> Option<&mut Button<S>> {
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
        let button = self.buttons.iter_mut().find(|b| b.stopped)?;
        button.stopped = false;
        BUTTON_STOPS.fetch_sub(1, Relaxed);
        Some(NoScriptedChange.into())
    }
}

impl<S: Script> Default for Pins<S> {
    fn default() -> Self {
        Self::new()
    }
}
