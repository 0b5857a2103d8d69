//! The mps2-an505 as guests see it: GPIO 0..=29 like a Pico 2 (pin 25, the
//! LED, drives FPGA IO LED0; the others are recorded outputs), scripted
//! buttons (also the `digital` inputs, whose waits sleep until the scripted
//! edge), recorded servo and PWM duty cycles (QEMU models no PWM), embassy-time
//! delays, UART0, and I2C bus `i2c0`: the SBCon controller of Shield 1, where
//! QEMU attaches `-device tmp105,address=0x48` and `-device at24c-eeprom`.
//! QEMU models no ADC, and its PL022 SPI controllers have no chip select on
//! this board, so `analog` and `wasi:spi` find no channel or device here (the
//! simulator has both). Each app gets its own `Mps2Board` view; the host
//! decides who owns which pin.

use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::Future;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use belljar_device::belljar_host::{Absent, Board, Change, Event, Stop, TimelineLine, WaitInput};
use belljar_device::clock::{self, board_ms};
use belljar_device::{Press, RunLimits};
use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

use crate::i2c::SbconI2c;
use crate::settings;
use crate::uart;

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
    /// Why a wait gave up, for `Board::poll_stop`.
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
        Ok(Press::held(settings::PRESSES, self.pin, board_ms()))
    }
}

impl WaitInput for Button {
    /// Sleeps until the scripted presses make `change`; a change no press
    /// makes stops the app (recorded for `poll_stop`).
    async fn wait_for(&mut self, change: Change) -> Result<(), Infallible> {
        if let Err(stop) = LIMITS
            .wait_scripted(settings::PRESSES, self.pin, change)
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

/// One app's view of the board.
pub struct Mps2Board {
    /// Prefix of this app's console lines when several apps run.
    name: Option<&'static str>,
    outputs: [Output; PINS],
    buttons: [Button; PINS],
    servos: [Servo; PINS],
    /// General PWM outputs: recorded duty cycles, like the servos.
    pwms: [Servo; PINS],
    /// Bus `i2c0`: Shield 1's SBCon controller.
    i2c0: SbconI2c,
    stop: Option<Stop>,
}

impl Mps2Board {
    pub fn new(name: Option<&'static str>) -> Self {
        Mps2Board {
            name,
            outputs: core::array::from_fn(|pin| Output {
                pin: pin as u32,
                level: None,
            }),
            buttons: core::array::from_fn(|pin| Button {
                pin: pin as u32,
                stop: None,
            }),
            servos: core::array::from_fn(|_| Servo::default()),
            pwms: core::array::from_fn(|_| Servo::default()),
            i2c0: SbconI2c::new(SbconI2c::SHIELD1),
            stop: None,
        }
    }
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl Board for Mps2Board {
    type Output = Output;
    type Input = Button;
    type Servo = Servo;
    type Pwm = Servo;
    type Analog = Absent;
    type I2c = SbconI2c;
    type Spi = Absent;

    fn pwm(&mut self, pin: u32) -> Option<&mut Servo> {
        self.pwms.get_mut(index(pin)?)
    }
    fn i2c_bus(&self, name: &str) -> Option<usize> {
        (name == "i2c0").then_some(0)
    }
    fn i2c(&mut self, index: usize) -> Option<&mut SbconI2c> {
        (index == 0).then_some(&mut self.i2c0)
    }
    fn delay_ns(&mut self, ns: u64) -> impl Future<Output = ()> + Send + '_ {
        LIMITS.delay_ns(ns)
    }

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.outputs.get_mut(index(pin)?)
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button> {
        self.buttons.get_mut(index(pin)?)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Servo> {
        self.servos.get_mut(index(pin)?)
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

    /// Waits for room in the TX FIFO (other tasks run meanwhile).
    async fn write_byte(&mut self, byte: u8) -> Result<(), ()> {
        belljar_device::write_when_room(byte, uart::try_write_guest_byte).await;
        Ok(())
    }

    fn now_ms(&mut self) -> u64 {
        board_ms()
    }

    fn event(&mut self, at_ms: u64, event: &Event<'_>) {
        // Runs on the guest's fiber, during its host call.
        if settings::FP_PROBE {
            belljar_device::fp::check_fiber_side();
        }
        // The speed bench's marks (`belljar_kernels::MARK`): stamped with
        // the instruction counter (QEMU -icount), printed even without trace.
        if let Event::Log { message, .. } = event
            && message.starts_with("mark speed ")
        {
            let at = clock::now_ns();
            let _ = writeln!(uart::Console, "{message} at {at} ns");
        }
        if settings::TRACE {
            let line = TimelineLine {
                at_ms,
                source: self.name,
                event,
            };
            let _ = writeln!(uart::Console, "{line}");
        }
    }

    fn poll_stop(&mut self) -> Option<Stop> {
        if let Some(stop) = self.stop.take() {
            return Some(stop);
        }
        if BUTTON_STOPS.load(Relaxed) > 0
            && let Some(stop) = self.buttons.iter_mut().find_map(|b| b.stop.take())
        {
            BUTTON_STOPS.fetch_sub(1, Relaxed);
            return Some(stop);
        }
        LIMITS.time_limit(board_ms())
    }
}
