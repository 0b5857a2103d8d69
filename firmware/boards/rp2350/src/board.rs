//! The Pico 2 as guests see it (GPIO numbers as printed on the board):
//!
//! | GPIO | role |
//! | --- | --- |
//! | 0, 1 | UART0 TX / RX (console and the guests' `uart`) |
//! | 4, 5 | I2C0 SDA / SCL: bus `i2c0` (`wasi:i2c`), 100 kHz, internal pull-ups on (fit 4.7 kOhm ones for long wires) |
//! | 6, 7 | servos: PWM slice 3, 50 Hz, 1 us resolution |
//! | 8-13 | `pwm`: slices 4-6 (8 = 4A, 9 = 4B, 10 = 5A, 11 = 5B, 12 = 6A, 13 = 6B), 1 kHz; `max-duty` 50 000 at 150 MHz |
//! | 14, 15 | buttons: inputs with pull-ups (wire the button to GND) |
//! | 16-19 | SPI0: device `spi0` (`wasi:spi`), mode 0, 1 MHz: 16 MISO (RX), 17 chip select (push-pull, active low), 18 SCK, 19 MOSI (TX) |
//! | 2, 3, 20-22, 25 (LED) | push-pull outputs (20 and 21 only without supervisor mode) |
//! | 20, 21 | supervisor mode (`BELLJAR_PUBKEY`): UART1 TX / RX, the update link, 115200 8N1 (Pico 2 pins 26, 27) |
//! | 26-28 | `analog` channels 26, 27, 28 (ADC0-2): 12 bits, 0..=4095 over 0..3.3 V |
//! | (none) | `analog` channel 8: the on-chip temperature sensor (ADC4), raw; about 27 - (V - 0.706) / 0.001721 degrees Celsius |
//!
//! Any other pin number makes the guest trap ("not available"); GPIO 23, 24
//! and 29 drive or sense the board's own power circuitry and are not offered.
//!
//! The peripherals are configured once at boot into a static [`Gpio`] behind
//! a critical-section mutex; each app gets its own [`Pico`] view (in a
//! `belljar_device::board::DeviceBoard`) whose
//! handles lock it for each access (the host decides which app owns which
//! pin, bus and channel). An I2C or SPI transaction can take milliseconds (a
//! 1024-byte read at 100 kHz: about 93 ms) while a critical section must stay
//! under one (it masks the SysTick tick, see `belljar_device::clock`), so a
//! bus handle only locks to take its bus out of the static and to put it
//! back; the transfer itself runs with interrupts on. Nothing else can want
//! the bus meanwhile: the transaction is blocking, the executor cooperative,
//! and no interrupt handler touches a bus.

use core::cell::RefCell;
use core::convert::Infallible;

use belljar_device::belljar_host::Peripherals;
use belljar_device::belljar_host::{AnalogInput, Change, WaitInput};
use belljar_device::board::{Hardware, Rules};
use critical_section::Mutex;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin, PinState};
use embedded_hal::i2c as hal_i2c;
use embedded_hal::pwm::SetDutyCycle;
use embedded_hal::spi as hal_spi;
use embedded_hal_bus::spi::ExclusiveDevice;
use rp235x_hal as hal;

use hal::adc::{AdcPin, TempSense};
use hal::fugit::RateExtU32;
use hal::gpio::bank0::{Gpio4, Gpio5, Gpio16, Gpio17, Gpio18, Gpio19};
use hal::gpio::{
    AnyPin, DynPinId, FunctionI2C, FunctionSioInput, FunctionSioOutput, FunctionSpi, Pin, PullDown,
    PullNone, PullUp,
};
use hal::pac;
use hal::pwm::{self, FreeRunning, ValidPwmOutputPin};

use crate::settings;
use crate::uart;

/// GPIO numbers 0..=29.
const PINS: usize = 30;

/// A push-pull output (one type for every pin).
type OutputPad = Pin<DynPinId, FunctionSioOutput, PullDown>;
/// A button input with its pull-up (read active-low by belljar-host).
type InputPad = Pin<DynPinId, FunctionSioInput, PullUp>;
/// An ADC input: digital circuitry off, no pull (one type for GPIO26-28).
type AnalogPad = AdcPin<Pin<DynPinId, FunctionSioInput, PullNone>>;

/// Servo period: 20 ms (50 Hz) counted in microseconds.
const SERVO_PERIOD_US: u16 = 20_000;
/// Frequency of the general PWM outputs (GPIO 8..=13).
const PWM_HZ: u32 = 1_000;

/// Channel A / B of a free-running PWM slice (`pwm::Pwm3`...).
type ChannelA<S> = pwm::Channel<pwm::Slice<S, FreeRunning>, pwm::A>;
type ChannelB<S> = pwm::Channel<pwm::Slice<S, FreeRunning>, pwm::B>;

/// I2C0 in controller mode on GPIO4 (SDA) / GPIO5 (SCL). rp235x-hal's
/// blocking `I2C` implements embedded-hal 1.0's `I2c` itself.
type I2c0 = hal::I2C<
    pac::I2C0,
    (
        Pin<Gpio4, FunctionI2C, PullUp>,
        Pin<Gpio5, FunctionI2C, PullUp>,
    ),
>;
/// SPI0 as a bus (`SpiBus`): TX (MOSI) GPIO19, RX (MISO) GPIO16, SCK GPIO18.
type Spi0Bus = hal::Spi<
    hal::spi::Enabled,
    pac::SPI0,
    (
        Pin<Gpio19, FunctionSpi, PullDown>,
        Pin<Gpio16, FunctionSpi, PullDown>,
        Pin<Gpio18, FunctionSpi, PullDown>,
    ),
>;
/// Device `spi0`: the bus with its chip select on GPIO17, as an
/// embedded-hal `SpiDevice` (embedded-hal-bus's `ExclusiveDevice`).
type Spi0 = ExclusiveDevice<Spi0Bus, Pin<Gpio17, FunctionSioOutput, PullDown>, SpinDelay>;

/// The `DelayNs` that [`ExclusiveDevice`] runs for a guest's
/// `delay-ns` operation inside an SPI transaction: spins for at least that
/// many system clock cycles (`hal::arch::delay`). It runs outside the
/// critical section, so interrupts (the millisecond tick) keep running; the
/// longest a guest can ask for (`u32` nanoseconds) is 4.3 s.
pub struct SpinDelay {
    sys_hz: u32,
}

impl DelayNs for SpinDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = (u64::from(ns) * u64::from(self.sys_hz)).div_ceil(1_000_000_000);
        hal::arch::delay(u32::try_from(cycles).unwrap_or(u32::MAX));
    }
}

/// The ADC with its inputs: GPIO26-28 and the temperature sensor.
struct Analogs {
    adc: hal::Adc,
    /// GPIO26, 27, 28.
    pins: [Option<AnalogPad>; 3],
    temperature: Option<TempSense>,
}

/// The board's `analog` channel number of the temperature sensor (ADC4; not
/// a GPIO).
const TEMPERATURE_CHANNEL: u32 = 8;

/// The peripherals, configured once at boot.
pub struct Gpio {
    outputs: [Option<OutputPad>; PINS],
    inputs: [Option<InputPad>; PINS],
    /// Slice 3: the servos on GPIO6 (A) and GPIO7 (B).
    servos: (ChannelA<pwm::Pwm3>, ChannelB<pwm::Pwm3>),
    /// Slices 4, 5, 6: `pwm` on GPIO 8..=13.
    pwm4: (ChannelA<pwm::Pwm4>, ChannelB<pwm::Pwm4>),
    pwm5: (ChannelA<pwm::Pwm5>, ChannelB<pwm::Pwm5>),
    pwm6: (ChannelA<pwm::Pwm6>, ChannelB<pwm::Pwm6>),
    /// `None` only while a transaction has it out (see the module docs).
    i2c0: Option<I2c0>,
    spi0: Option<Spi0>,
    analogs: Analogs,
}

/// The configured peripherals, shared by every app's view (see [`init`]).
static GPIO: Mutex<RefCell<Option<Gpio>>> = Mutex::new(RefCell::new(None));

/// Hands the configured peripherals to the apps' views (once, at boot).
pub fn init(gpio: Gpio) {
    critical_section::with(|cs| GPIO.replace(cs, Some(gpio)));
}

/// Runs `f` on the peripherals, if [`init`] has been called.
fn with_gpio<R>(f: impl FnOnce(&mut Gpio) -> R) -> Option<R> {
    critical_section::with(|cs| GPIO.borrow_ref_mut(cs).as_mut().map(f))
}

/// Runs `f` on the bus in `slot` with the bus taken out of [`GPIO`]: the
/// critical section covers only taking it and putting it back (see the
/// module docs). `None` before [`init`] (or if the bus were already out).
fn with_bus<T, R>(slot: fn(&mut Gpio) -> &mut Option<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    let mut bus = with_gpio(|g| slot(g).take()).flatten()?;
    let result = f(&mut bus);
    with_gpio(|g| *slot(g) = Some(bus));
    Some(result)
}

/// `pins.gpioN` into `array[N]` with `into`, for each `N`.
macro_rules! assign {
    ($array:ident, $pins:ident, $into:ident, [$($n:literal: $field:ident),* $(,)?]) => {
        $( $array[$n] = Some($pins.$field.$into().into_dyn_pin()); )*
    };
}

/// Starts `slice` counting system clock cycles divided by `divider`,
/// wrapping after `top` (so `max_duty_cycle` is `top + 1`), with both
/// channels at 0 % duty on pins `a` and `b`.
fn start_slice<S: pwm::SliceId, PA: AnyPin, PB: AnyPin>(
    mut slice: pwm::Slice<S, FreeRunning>,
    divider: u8,
    top: u16,
    a: PA,
    b: PB,
) -> (ChannelA<S>, ChannelB<S>)
where
    PA::Id: ValidPwmOutputPin<S, pwm::A>,
    PB::Id: ValidPwmOutputPin<S, pwm::B>,
{
    slice.set_div_int(divider);
    slice.set_div_frac(0);
    slice.set_top(top);
    slice.enable();
    let mut channel_a = slice.channel_a;
    let mut channel_b = slice.channel_b;
    let _ = channel_a.set_duty_cycle(0);
    let _ = channel_b.set_duty_cycle(0);
    channel_a.output_to(a);
    channel_b.output_to(b);
    (channel_a, channel_b)
}

/// The divider and TOP of a [`PWM_HZ`] slice: the smallest integer divider
/// that lets the period fit the 16-bit counter, so the resolution is as fine
/// as it gets (150 MHz: divider 3, TOP 49 999, `max-duty` 50 000).
fn pwm_timing(sys_hz: u32) -> (u8, u16) {
    let counts = sys_hz / PWM_HZ;
    let divider = counts.div_ceil(u32::from(u16::MAX)).clamp(1, 255);
    let top = (counts / divider).saturating_sub(1);
    (divider as u8, u16::try_from(top).unwrap_or(u16::MAX - 1))
}

/// What [`Gpio::configure`] gives back.
pub struct Configured {
    pub gpio: Gpio,
    /// UART0's pins (console and the guests' `uart`).
    pub uart: uart::Pins,
    /// UART1's pins (the update link).
    #[cfg(belljar_supervisor)]
    pub link: uart::link::Pins,
}

/// What [`Gpio::configure`] takes over.
pub struct Parts {
    pub pins: hal::gpio::Pins,
    pub pwm: pwm::Slices,
    pub i2c0: pac::I2C0,
    pub spi0: pac::SPI0,
    pub adc: pac::ADC,
}

impl Gpio {
    /// Configures every pin and peripheral for its role (see the module
    /// docs); returns the GPIO0/GPIO1 pair in UART function for UART0 (and
    /// in supervisor mode GPIO20/GPIO21 for UART1, the update link).
    /// `sys_hz` clocks the PWM slices and I2C, `peri_hz` SPI.
    pub fn configure(p: Parts, resets: &mut pac::RESETS, sys_hz: u32, peri_hz: u32) -> Configured {
        let pins = p.pins;
        let uart_pins = (pins.gpio0.into_function(), pins.gpio1.into_function());

        let mut outputs = [const { None }; PINS];
        #[cfg(not(belljar_supervisor))]
        assign!(outputs, pins, into_push_pull_output, [
            2: gpio2, 3: gpio3, 20: gpio20, 21: gpio21, 22: gpio22, 25: gpio25,
        ]);
        #[cfg(belljar_supervisor)]
        assign!(outputs, pins, into_push_pull_output, [
            2: gpio2, 3: gpio3, 22: gpio22, 25: gpio25,
        ]);
        #[cfg(belljar_supervisor)]
        let link = (pins.gpio20.into_function(), pins.gpio21.into_function());
        let mut inputs = [const { None }; PINS];
        assign!(inputs, pins, into_pull_up_input, [14: gpio14, 15: gpio15]);

        // Servos: 1 MHz count (150 MHz / 150), wrapping every 20 000 counts:
        // 50 Hz. No pulse until the guest sets an angle.
        let servo_divider = (sys_hz / 1_000_000).clamp(1, 255) as u8;
        let servos = start_slice(
            p.pwm.pwm3,
            servo_divider,
            SERVO_PERIOD_US - 1,
            pins.gpio6,
            pins.gpio7,
        );
        let (divider, top) = pwm_timing(sys_hz);
        let pwm4 = start_slice(p.pwm.pwm4, divider, top, pins.gpio8, pins.gpio9);
        let pwm5 = start_slice(p.pwm.pwm5, divider, top, pins.gpio10, pins.gpio11);
        let pwm6 = start_slice(p.pwm.pwm6, divider, top, pins.gpio12, pins.gpio13);

        let i2c0 = hal::I2C::i2c0(
            p.i2c0,
            pins.gpio4.reconfigure(),
            pins.gpio5.reconfigure(),
            100.kHz(),
            resets,
            sys_hz.Hz(),
        );

        let spi0_bus = hal::Spi::<_, _, _, 8>::new(
            p.spi0,
            (
                pins.gpio19.into_function(),
                pins.gpio16.into_function(),
                pins.gpio18.into_function(),
            ),
        )
        .init(resets, peri_hz.Hz(), 1.MHz(), hal_spi::MODE_0);
        let chip_select = pins.gpio17.into_push_pull_output_in_state(PinState::High);
        let Ok(spi0) = ExclusiveDevice::new(spi0_bus, chip_select, SpinDelay { sys_hz });

        let mut adc = hal::Adc::new(p.adc, resets);
        let temperature = adc.take_temp_sensor();
        let analogs = Analogs {
            adc,
            pins: [
                AdcPin::new(pins.gpio26.into_floating_input().into_dyn_pin()).ok(),
                AdcPin::new(pins.gpio27.into_floating_input().into_dyn_pin()).ok(),
                AdcPin::new(pins.gpio28.into_floating_input().into_dyn_pin()).ok(),
            ],
            temperature,
        };

        let gpio = Gpio {
            outputs,
            inputs,
            servos,
            pwm4,
            pwm5,
            pwm6,
            i2c0: Some(i2c0),
            spi0: Some(spi0),
            analogs,
        };
        Configured {
            gpio,
            uart: uart_pins,
            #[cfg(belljar_supervisor)]
            link,
        }
    }

    /// The PWM channel on `pin`: a servo (6, 7) or a general output (8..=13).
    fn pwm_channel(&mut self, pin: u32) -> Option<&mut dyn SetDutyCycle<Error = Infallible>> {
        let channel: &mut dyn SetDutyCycle<Error = Infallible> = match pin {
            6 => &mut self.servos.0,
            7 => &mut self.servos.1,
            8 => &mut self.pwm4.0,
            9 => &mut self.pwm4.1,
            10 => &mut self.pwm5.0,
            11 => &mut self.pwm5.1,
            12 => &mut self.pwm6.0,
            13 => &mut self.pwm6.1,
            _ => return None,
        };
        Some(channel)
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
        belljar_device::sample_until(change, || self.is_high() == Ok(true)).await;
        Ok(())
    }
}

/// An app's handle on a PWM channel: a servo (GPIO6, GPIO7; the duty cycle
/// is the pulse width in microseconds out of 20 000) or a general output
/// (GPIO 8..=13; out of the slice's TOP + 1, see [`pwm_timing`]).
pub struct Pwm {
    pin: u32,
}

impl embedded_hal::pwm::ErrorType for Pwm {
    type Error = Infallible;
}

impl SetDutyCycle for Pwm {
    /// TOP + 1 (0 before [`init`]: no duty but 0 is accepted).
    fn max_duty_cycle(&self) -> u16 {
        with_gpio(|g| g.pwm_channel(self.pin).map(|c| c.max_duty_cycle()))
            .flatten()
            .unwrap_or(0)
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        with_gpio(|g| g.pwm_channel(self.pin).map(|c| c.set_duty_cycle(duty)));
        Ok(())
    }
}

/// An app's handle on an ADC channel (26, 27, 28 or [`TEMPERATURE_CHANNEL`]).
/// One conversion takes 2 us (48 MHz ADC clock), short enough to hold the
/// lock for.
pub struct Analog {
    channel: u32,
}

impl AnalogInput for Analog {
    type Error = hal::adc::Error;

    fn read(&mut self) -> Result<u16, hal::adc::Error> {
        let read = with_gpio(|g| {
            let Analogs {
                adc,
                pins,
                temperature,
            } = &mut g.analogs;
            match self.channel {
                26..=28 => pins[self.channel as usize - 26]
                    .as_mut()
                    .map(|pin| adc.read(pin)),
                TEMPERATURE_CHANNEL => temperature.as_mut().map(|sensor| adc.read(sensor)),
                _ => None,
            }
        });
        read.flatten()
            .unwrap_or(Err(hal::adc::Error::ConversionFailed))
    }
    /// 12 bits.
    fn full_scale(&self) -> u16 {
        4095
    }
    /// ADC_AVDD: the Pico 2's 3.3 V rail (filtered).
    fn reference_mv(&self) -> u32 {
        3300
    }
}

/// An app's handle on bus `i2c0`: each transaction takes the bus (see the
/// module docs). 7-bit addresses (the host refuses 10-bit ones).
pub struct I2cBus;

impl hal_i2c::ErrorType for I2cBus {
    type Error = hal_i2c::ErrorKind;
}

impl hal_i2c::I2c for I2cBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [hal_i2c::Operation<'_>],
    ) -> Result<(), hal_i2c::ErrorKind> {
        use hal_i2c::Error as _;
        with_bus(
            |g| &mut g.i2c0,
            |bus| hal_i2c::I2c::transaction(bus, address, operations).map_err(|e| e.kind()),
        )
        .unwrap_or(Err(hal_i2c::ErrorKind::Bus))
    }
}

/// An app's handle on SPI device `spi0`: each transaction takes the device
/// (see the module docs); `ExclusiveDevice` asserts chip select for it.
pub struct SpiBus;

impl hal_spi::ErrorType for SpiBus {
    type Error = hal_spi::ErrorKind;
}

impl hal_spi::SpiDevice for SpiBus {
    fn transaction(
        &mut self,
        operations: &mut [hal_spi::Operation<'_, u8>],
    ) -> Result<(), hal_spi::ErrorKind> {
        use hal_spi::Error as _;
        with_bus(
            |g| &mut g.spi0,
            |device| hal_spi::SpiDevice::transaction(device, operations).map_err(|e| e.kind()),
        )
        .unwrap_or(Err(hal_spi::ErrorKind::Other))
    }
}

/// One app's view of the board's hardware.
pub struct Pico {
    outputs: [Option<Output>; PINS],
    inputs: [Option<Input>; PINS],
    /// GPIO6, GPIO7.
    servos: [Pwm; 2],
    /// GPIO 8..=13.
    pwms: [Pwm; 6],
    /// 26, 27, 28 and [`TEMPERATURE_CHANNEL`] (those that configured).
    analogs: [Option<Analog>; 4],
    i2c0: I2cBus,
    spi0: SpiBus,
}

impl Pico {
    /// A view with a handle on every pin and channel [`init`] configured.
    pub fn new() -> Self {
        let (outputs, inputs, analogs) = with_gpio(|g| {
            let a = &g.analogs;
            let present = [
                a.pins[0].is_some(),
                a.pins[1].is_some(),
                a.pins[2].is_some(),
                a.temperature.is_some(),
            ];
            let channels = [26, 27, 28, TEMPERATURE_CHANNEL];
            (
                core::array::from_fn(|pin| g.outputs[pin].as_ref().map(|_| Output { pin })),
                core::array::from_fn(|pin| g.inputs[pin].as_ref().map(|_| Input { pin })),
                core::array::from_fn(|i| {
                    present[i].then_some(Analog {
                        channel: channels[i],
                    })
                }),
            )
        })
        .unwrap_or((
            [const { None }; PINS],
            [const { None }; PINS],
            [const { None }; 4],
        ));
        Pico {
            outputs,
            inputs,
            servos: [Pwm { pin: 6 }, Pwm { pin: 7 }],
            pwms: core::array::from_fn(|i| Pwm { pin: 8 + i as u32 }),
            analogs,
            i2c0: I2cBus,
            spi0: SpiBus,
        }
    }
}

fn index(pin: u32) -> Option<usize> {
    usize::try_from(pin).ok().filter(|&i| i < PINS)
}

impl Peripherals for Pico {
    type Output = Output;
    type Input = Input;
    type Servo = Pwm;
    type Pwm = Pwm;
    type Analog = Analog;
    type I2c = I2cBus;
    type Spi = SpiBus;

    fn output(&mut self, pin: u32) -> Option<&mut Output> {
        self.outputs.get_mut(index(pin)?)?.as_mut()
    }
    fn input(&mut self, pin: u32) -> Option<&mut Input> {
        self.inputs.get_mut(index(pin)?)?.as_mut()
    }
    fn servo(&mut self, pin: u32) -> Option<&mut Pwm> {
        self.servos.iter_mut().find(|servo| servo.pin == pin)
    }
    fn pwm(&mut self, pin: u32) -> Option<&mut Pwm> {
        self.pwms.iter_mut().find(|pwm| pwm.pin == pin)
    }
    fn analog(&mut self, channel: u32) -> Option<&mut Analog> {
        self.analogs
            .iter_mut()
            .flatten()
            .find(|analog| analog.channel == channel)
    }
    fn i2c_bus(&self, name: &str) -> Option<usize> {
        (name == "i2c0").then_some(0)
    }
    fn i2c(&mut self, index: usize) -> Option<&mut I2cBus> {
        (index == 0).then_some(&mut self.i2c0)
    }
    fn spi_device(&self, name: &str) -> Option<usize> {
        (name == "spi0").then_some(0)
    }
    fn spi(&mut self, index: usize) -> Option<&mut SpiBus> {
        (index == 0).then_some(&mut self.spi0)
    }
}

impl Hardware for Pico {
    type Console = uart::Console;
    const RULES: Rules = settings::RULES;

    fn try_read() -> Option<u8> {
        uart::try_read()
    }
    fn try_write(byte: u8) -> bool {
        uart::try_write_guest_byte(byte)
    }
}
