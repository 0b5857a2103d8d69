//! embedded-hal 1.0 on belljar's imports: hand these to a driver crate from
//! crates.io and it runs in the sandbox unmodified.
//!
//! | type | traits | imports |
//! | --- | --- | --- |
//! | [`I2c`] | `i2c::I2c` (with `transaction`) | `embedded:platform/buses`, `wasi:i2c/i2c` |
//! | [`Spi`] | `spi::SpiDevice` | `wasi:spi/spi` |
//! | [`Delay`] | `delay::DelayNs`, and embedded-hal-async's | `embedded:platform/delay`, `timing` |
//! | [`Output`] | `digital::OutputPin` | `gpio` |
//! | [`Input`] | `digital::InputPin`, embedded-hal-async `digital::Wait` | `digital` |
//! | [`Pwm`] | `pwm::SetDutyCycle` | `pwm` |
//! | [`Analog`] | (belljar: `read`, `full_scale`, `millivolts`) | `analog` |
//!
//! Waits are real sleeps on the board: the app's call returns when the
//! change comes, so an async driver's future is ready when first polled and
//! [`block_on`] runs it.

use alloc::vec::Vec;
use core::convert::Infallible;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::i2c::{self as hal_i2c, NoAcknowledgeSource as Source};
use embedded_hal::pwm::SetDutyCycle;
use embedded_hal::spi::{self as hal_spi};

use crate::bindings::embedded::platform::{analog, buses, delay, digital, gpio, pwm, timing};
use crate::bindings::wasi::i2c::i2c::{self as wasi_i2c, ErrorCode, NoAcknowledgeSource};
use crate::bindings::wasi::spi::spi as wasi_spi;

extern crate alloc;

/// Runs a future whose work is done by host calls (an async driver on
/// these types): they complete inside the call, so it is ready at once.
/// Panics (traps) if a future really waits on something else.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

impl hal_i2c::Error for ErrorCode {
    fn kind(&self) -> hal_i2c::ErrorKind {
        match self {
            ErrorCode::Bus => hal_i2c::ErrorKind::Bus,
            ErrorCode::ArbitrationLoss => hal_i2c::ErrorKind::ArbitrationLoss,
            ErrorCode::NoAcknowledge(source) => hal_i2c::ErrorKind::NoAcknowledge(match source {
                NoAcknowledgeSource::Address => Source::Address,
                NoAcknowledgeSource::Data => Source::Data,
                NoAcknowledgeSource::Unknown => Source::Unknown,
            }),
            ErrorCode::Overrun => hal_i2c::ErrorKind::Overrun,
            ErrorCode::Other => hal_i2c::ErrorKind::Other,
        }
    }
}

/// An I2C bus of the board (`I2c::open("i2c0")`).
pub struct I2c(wasi_i2c::I2c);

impl I2c {
    /// Opens the bus the board calls `name`. A bus the app's package does
    /// not grant traps; a bus the board lacks is `Err(ErrorCode::Other)`.
    pub fn open(name: &str) -> Result<I2c, ErrorCode> {
        buses::open_i2c(name).map(I2c)
    }
}

impl hal_i2c::ErrorType for I2c {
    type Error = ErrorCode;
}

impl hal_i2c::I2c for I2c {
    fn read(&mut self, address: u8, read: &mut [u8]) -> Result<(), ErrorCode> {
        let bytes = self.0.read(address.into(), read.len() as u64)?;
        read.copy_from_slice(&bytes[..read.len()]);
        Ok(())
    }

    fn write(&mut self, address: u8, write: &[u8]) -> Result<(), ErrorCode> {
        self.0.write(address.into(), write)
    }

    fn write_read(&mut self, address: u8, write: &[u8], read: &mut [u8]) -> Result<(), ErrorCode> {
        let bytes = self
            .0
            .write_read(address.into(), write, read.len() as u64)?;
        read.copy_from_slice(&bytes[..read.len()]);
        Ok(())
    }

    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [hal_i2c::Operation<'_>],
    ) -> Result<(), ErrorCode> {
        let ops: Vec<wasi_i2c::Operation> = operations
            .iter()
            .map(|op| match op {
                hal_i2c::Operation::Read(buf) => wasi_i2c::Operation::Read(buf.len() as u64),
                hal_i2c::Operation::Write(bytes) => wasi_i2c::Operation::Write(bytes.to_vec()),
            })
            .collect();
        let mut reads = self.0.transaction(address.into(), &ops)?.into_iter();
        for op in operations {
            if let hal_i2c::Operation::Read(buf) = op {
                let bytes = reads.next().unwrap_or_default();
                buf.copy_from_slice(&bytes[..buf.len()]);
            }
        }
        Ok(())
    }
}

impl hal_spi::Error for wasi_spi::Error {
    fn kind(&self) -> hal_spi::ErrorKind {
        match self {
            wasi_spi::Error::Overrun => hal_spi::ErrorKind::Overrun,
            wasi_spi::Error::ModeFault => hal_spi::ErrorKind::ModeFault,
            wasi_spi::Error::FrameFormat => hal_spi::ErrorKind::FrameFormat,
            wasi_spi::Error::ChipSelectFault => hal_spi::ErrorKind::ChipSelectFault,
            wasi_spi::Error::Other(_) => hal_spi::ErrorKind::Other,
        }
    }
}

/// An SPI device of the board, its chip select included (`Spi::open("spi0")`).
pub struct Spi(wasi_spi::SpiDevice);

impl Spi {
    /// Opens the device the board calls `name`. A device the app's package
    /// does not grant traps; one the board lacks is `Err(Error::Other(..))`.
    pub fn open(name: &str) -> Result<Spi, wasi_spi::Error> {
        wasi_spi::open(name).map(Spi)
    }
}

impl hal_spi::ErrorType for Spi {
    type Error = wasi_spi::Error;
}

impl hal_spi::SpiDevice for Spi {
    /// One `wasi:spi` transaction: chip select stays asserted throughout.
    /// A `Transfer` with buffers of different lengths clocks the longer one
    /// (the write padded with zeros), as embedded-hal specifies.
    fn transaction(
        &mut self,
        operations: &mut [hal_spi::Operation<'_, u8>],
    ) -> Result<(), wasi_spi::Error> {
        use hal_spi::Operation;
        let ops: Vec<wasi_spi::Operation> = operations
            .iter()
            .map(|op| match op {
                Operation::Read(buf) => wasi_spi::Operation::Read(buf.len() as u64),
                Operation::Write(bytes) => wasi_spi::Operation::Write(bytes.to_vec()),
                Operation::Transfer(read, write) => {
                    let mut bytes = write.to_vec();
                    bytes.resize(read.len().max(write.len()), 0);
                    wasi_spi::Operation::Transfer(bytes)
                }
                Operation::TransferInPlace(buf) => wasi_spi::Operation::Transfer(buf.to_vec()),
                Operation::DelayNs(ns) => wasi_spi::Operation::DelayNs(*ns),
            })
            .collect();
        let results = self.0.transaction(&ops)?;
        for (op, result) in operations.iter_mut().zip(results) {
            let bytes = match result {
                wasi_spi::OperationResult::Read(bytes)
                | wasi_spi::OperationResult::Transfer(bytes) => bytes,
                _ => continue,
            };
            let buf: &mut [u8] = match op {
                Operation::Read(buf) | Operation::TransferInPlace(buf) => buf,
                Operation::Transfer(read, _) => read,
                _ => continue,
            };
            let n = buf.len().min(bytes.len());
            buf[..n].copy_from_slice(&bytes[..n]);
        }
        Ok(())
    }
}

/// Delays: the app sleeps, other apps run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delay;

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        delay::delay_ns(ns);
    }
    fn delay_us(&mut self, us: u32) {
        delay::delay_us(us);
    }
    fn delay_ms(&mut self, ms: u32) {
        timing::delay_ms(ms);
    }
}

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        delay::delay_ns(ns);
    }
    async fn delay_us(&mut self, us: u32) {
        delay::delay_us(us);
    }
    async fn delay_ms(&mut self, ms: u32) {
        timing::delay_ms(ms);
    }
}

/// A digital output (board GPIO number).
#[derive(Debug)]
pub struct Output(pub u32);

impl ErrorType for Output {
    type Error = Infallible;
}

impl OutputPin for Output {
    fn set_high(&mut self) -> Result<(), Infallible> {
        gpio::set_high(self.0);
        Ok(())
    }
    fn set_low(&mut self) -> Result<(), Infallible> {
        gpio::set_low(self.0);
        Ok(())
    }
}

/// A digital input (board GPIO number) that can sleep until it changes.
#[derive(Debug)]
pub struct Input(pub u32);

impl ErrorType for Input {
    type Error = Infallible;
}

impl InputPin for Input {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(digital::is_high(self.0))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!digital::is_high(self.0))
    }
}

impl embedded_hal_async::digital::Wait for Input {
    async fn wait_for_high(&mut self) -> Result<(), Infallible> {
        digital::wait_for_level(self.0, true);
        Ok(())
    }
    async fn wait_for_low(&mut self) -> Result<(), Infallible> {
        digital::wait_for_level(self.0, false);
        Ok(())
    }
    async fn wait_for_rising_edge(&mut self) -> Result<(), Infallible> {
        digital::wait_for_edge(self.0, digital::Edge::Rising);
        Ok(())
    }
    async fn wait_for_falling_edge(&mut self) -> Result<(), Infallible> {
        digital::wait_for_edge(self.0, digital::Edge::Falling);
        Ok(())
    }
    async fn wait_for_any_edge(&mut self) -> Result<(), Infallible> {
        digital::wait_for_edge(self.0, digital::Edge::Any);
        Ok(())
    }
}

/// A PWM output (board GPIO number).
#[derive(Debug)]
pub struct Pwm(pub u32);

impl embedded_hal::pwm::ErrorType for Pwm {
    type Error = Infallible;
}

impl SetDutyCycle for Pwm {
    fn max_duty_cycle(&self) -> u16 {
        pwm::max_duty(self.0)
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        pwm::set_duty(self.0, duty);
        Ok(())
    }
}

/// An analog input (ADC channel).
#[derive(Debug)]
pub struct Analog(pub u32);

impl Analog {
    /// A raw conversion, 0 ..= [`Analog::full_scale`].
    pub fn read(&mut self) -> u16 {
        analog::read(self.0)
    }
    pub fn full_scale(&self) -> u16 {
        analog::full_scale(self.0)
    }
    /// A conversion in millivolts.
    pub fn millivolts(&mut self) -> u32 {
        let raw = u32::from(self.read());
        raw * analog::reference_mv(self.0) / u32::from(self.full_scale().max(1))
    }
}
