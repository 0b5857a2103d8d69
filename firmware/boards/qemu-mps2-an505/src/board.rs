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

use core::fmt::Write as _;
use core::future::Future;
use core::ptr::{read_volatile, write_volatile};

use belljar_device::RunLimits;
use belljar_device::belljar_host::{Absent, Board, Event, Stop, TimelineLine};
use belljar_device::clock::{self, board_ms};
use belljar_device::pins::{Button, Output, Pins, Recorded};

use crate::i2c::SbconI2c;
use crate::settings;
use crate::uart;

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

/// Pin 25 drives LED0 of the FPGA IO block; every level is recorded.
fn drive(pin: u32, high: bool) {
    if pin == LED_PIN {
        // SAFETY: the FPGA IO LED register; only pin 25 writes it.
        unsafe {
            let leds = read_volatile(FPGAIO_LED0 as *const u32);
            let leds = if high { leds | 1 } else { leds & !1 };
            write_volatile(FPGAIO_LED0 as *mut u32, leds);
        }
    }
}

/// One app's view of the board.
pub struct Mps2Board {
    /// Prefix of this app's console lines when several apps run.
    name: Option<&'static str>,
    pins: Pins,
    /// Bus `i2c0`: Shield 1's SBCon controller.
    i2c0: SbconI2c,
    stop: Option<Stop>,
}

impl Mps2Board {
    pub fn new(name: Option<&'static str>) -> Self {
        Mps2Board {
            name,
            pins: Pins::new(settings::PRESSES, LIMITS, drive),
            i2c0: SbconI2c::new(SbconI2c::SHIELD1),
            stop: None,
        }
    }
}

impl Board for Mps2Board {
    type Output = Output;
    type Input = Button;
    type Servo = Recorded;
    type Pwm = Recorded;
    type Analog = Absent;
    type I2c = SbconI2c;
    type Spi = Absent;

    fn pwm(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.pwm(pin)
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
        self.pins.output(pin)
    }
    fn input(&mut self, pin: u32) -> Option<&mut Button> {
        self.pins.input(pin)
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Recorded> {
        self.pins.servo(pin)
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
        if let Some(stop) = self.pins.take_stop() {
            return Some(stop);
        }
        LIMITS.time_limit(board_ms())
    }
}
