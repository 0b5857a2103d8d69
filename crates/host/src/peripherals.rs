//! The peripheral interfaces (`wasi:i2c`, `wasi:spi` and belljar's `buses`,
//! `digital`, `pwm`, `analog`, `delay`), implemented once for every
//! [`Board`] over `embedded-hal` 1.0 traits.
//!
//! Limits (a guest asking for more gets an error, not a host allocation):
//! at most [`MAX_OPERATIONS`] operations in one transaction, at most
//! [`MAX_TRANSFER`] bytes in one read, write or transfer, at most
//! [`MAX_HANDLES`] bus handles open at once. Read buffers are checked against
//! the limits before anything is allocated. (Bytes a guest *writes* arrive
//! already copied out of its linear memory by the canonical ABI, so they are
//! bounded by the app's memory, which the board fixes.)
//!
//! Every I2C and SPI call is one timeline line: bus, address, bytes written,
//! bytes read and the result.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::i2c::{self as hal_i2c, I2c};
use embedded_hal::pwm::SetDutyCycle;
use embedded_hal::spi::{self as hal_spi, SpiDevice};
use wasmtime::component::Resource;

use crate::board::{Board, Event, Fault, Peripherals};
use crate::platform::Host;
use crate::platform::bindings::embedded::platform::{analog, buses, delay, digital, pwm};
use crate::platform::bindings::wasi::i2c::i2c::{self as wasi_i2c, ErrorCode, NoAcknowledgeSource};
use crate::platform::bindings::wasi::spi::spi::{self as wasi_spi, OperationResult};

/// The WIT names of the vendored WASI interfaces.
pub const WASI_I2C: &str = "wasi:i2c/i2c@0.2.0-draft";
pub const WASI_SPI: &str = "wasi:spi/spi";

/// Operations in one I2C or SPI transaction.
pub const MAX_OPERATIONS: usize = 16;
/// Bytes in one read, write or transfer.
pub const MAX_TRANSFER: usize = 1024;
/// Bus handles (I2C buses and SPI devices) an app may hold open at once.
pub const MAX_HANDLES: usize = 8;
/// Bytes of a transfer shown on a timeline line before it is elided.
const SHOWN_BYTES: usize = 32;

/// An analog input (one ADC channel). embedded-hal 1.0 has no ADC trait;
/// this is the small one belljar boards implement.
pub trait AnalogInput {
    type Error: fmt::Debug;
    /// One conversion, 0 ..= [`AnalogInput::full_scale`].
    fn read(&mut self) -> Result<u16, Self::Error>;
    /// The raw value of the reference voltage (4095 for a 12-bit ADC).
    fn full_scale(&self) -> u16;
    /// The reference voltage in millivolts.
    fn reference_mv(&self) -> u32;
}

/// A change on a digital input that a guest can wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Rising,
    Falling,
    AnyEdge,
    High,
    Low,
}

impl Change {
    pub(crate) fn call(self) -> &'static str {
        match self {
            Change::Rising | Change::Falling | Change::AnyEdge => "wait-for-edge",
            Change::High | Change::Low => "wait-for-level",
        }
    }

    pub(crate) fn arg(self) -> &'static str {
        match self {
            Change::Rising => ", rising",
            Change::Falling => ", falling",
            Change::AnyEdge => ", any",
            Change::High => ", true",
            Change::Low => ", false",
        }
    }

    /// Whether a pin going from `before` to `after` satisfies this change.
    pub fn satisfied(self, before: bool, after: bool) -> bool {
        match self {
            Change::Rising => !before && after,
            Change::Falling => before && !after,
            Change::AnyEdge => before != after,
            Change::High => after,
            Change::Low => !after,
        }
    }
}

/// When a scripted input (the simulator's and the QEMU board's `--press`:
/// `(pin, from_ms, to_ms)`, held low from `from_ms` inclusive to `to_ms`
/// exclusive, pulled up otherwise) next satisfies `change` on `pin`: now for
/// a level it already has, else the board millisecond of the first
/// transition that makes it; `None` when no scripted press ever will.
pub fn next_scripted_change(
    presses: &[(u32, u64, u64)],
    pin: u32,
    change: Change,
    now_ms: u64,
) -> Option<u64> {
    let high = |ms: u64| {
        !presses
            .iter()
            .any(|&(p, from, to)| p == pin && from <= ms && ms < to)
    };
    if matches!(change, Change::High | Change::Low) && change.satisfied(high(now_ms), high(now_ms))
    {
        return Some(now_ms);
    }
    presses
        .iter()
        .filter(|&&(p, _, _)| p == pin)
        .flat_map(|&(_, from, to)| [from, to])
        .filter(|&ms| ms > now_ms)
        .filter(|&ms| change.satisfied(high(ms - 1), high(ms)))
        .min()
}

/// embedded-hal-async's `digital::Wait`, with `Send` futures: Wasmtime's
/// host futures must be `Send`, which a generic bound on `Wait` cannot
/// promise on stable Rust (that needs return-type notation). A board whose
/// pins implement `Wait` forwards to it in a few lines (see `belljar-sim`).
pub trait WaitInput: ErrorType {
    /// Completes when the input sees `change` (at once for a level it
    /// already has).
    fn wait_for(
        &mut self,
        change: Change,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + '_;
}

/// A peripheral a board does not have: `type I2c = Absent;`. It has no
/// values, so the board's lookup (`Board::i2c`...) can only say `None`.
#[derive(Debug)]
pub enum Absent {}

impl ErrorType for Absent {
    type Error = core::convert::Infallible;
}
impl InputPin for Absent {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        match *self {}
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        match *self {}
    }
}
impl OutputPin for Absent {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
    fn set_low(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
}
impl WaitInput for Absent {
    async fn wait_for(&mut self, _: Change) -> Result<(), Self::Error> {
        match *self {}
    }
}
impl embedded_hal::pwm::ErrorType for Absent {
    type Error = core::convert::Infallible;
}
impl SetDutyCycle for Absent {
    fn max_duty_cycle(&self) -> u16 {
        match *self {}
    }
    fn set_duty_cycle(&mut self, _: u16) -> Result<(), Self::Error> {
        match *self {}
    }
}
impl AnalogInput for Absent {
    type Error = core::convert::Infallible;
    fn read(&mut self) -> Result<u16, Self::Error> {
        match *self {}
    }
    fn full_scale(&self) -> u16 {
        match *self {}
    }
    fn reference_mv(&self) -> u32 {
        match *self {}
    }
}
impl hal_i2c::ErrorType for Absent {
    type Error = hal_i2c::ErrorKind;
}
impl I2c for Absent {
    fn transaction(&mut self, _: u8, _: &mut [hal_i2c::Operation<'_>]) -> Result<(), Self::Error> {
        match *self {}
    }
}
impl hal_spi::ErrorType for Absent {
    type Error = hal_spi::ErrorKind;
}
impl SpiDevice for Absent {
    fn transaction(&mut self, _: &mut [hal_spi::Operation<'_, u8>]) -> Result<(), Self::Error> {
        match *self {}
    }
}

/// A guest's `wasi:i2c` `i2c` handle: its representation indexes the app's
/// open [`Handles`].
type I2cHandle = wasi_i2c::I2c;
/// A guest's `wasi:spi` `spi-device` handle.
type SpiHandle = wasi_spi::SpiDevice;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    I2c,
    Spi,
}

/// An open bus handle: which bus or device, and the name the app used.
struct Open {
    kind: Kind,
    index: usize,
    name: String,
}

/// The app's open I2C buses and SPI devices.
#[derive(Default)]
pub struct Handles(Vec<Option<Open>>);

impl Handles {
    fn open(&mut self, kind: Kind, index: usize, name: String) -> Result<u32, Fault> {
        let open = Some(Open { kind, index, name });
        if let Some((rep, slot)) = self.0.iter_mut().enumerate().find(|(_, s)| s.is_none()) {
            *slot = open;
            return Ok(rep as u32);
        }
        if self.0.len() >= MAX_HANDLES {
            return Err(Fault::TooManyHandles { max: MAX_HANDLES });
        }
        self.0.push(open);
        Ok(self.0.len() as u32 - 1)
    }

    fn get(&self, kind: Kind, rep: u32) -> wasmtime::Result<(usize, &str)> {
        match self.0.get(rep as usize) {
            Some(Some(open)) if open.kind == kind => Ok((open.index, &open.name)),
            _ => Err(wasmtime::Error::msg("invalid bus handle")),
        }
    }

    fn close(&mut self, rep: u32) {
        if let Some(slot) = self.0.get_mut(rep as usize) {
            *slot = None;
        }
    }
}

/// Bytes as on a timeline line: `[00 1f]`, elided past [`SHOWN_BYTES`].
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.iter().take(SHOWN_BYTES).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > SHOWN_BYTES {
            write!(f, " ... {} bytes", self.0.len())?;
        }
        f.write_str("]")
    }
}

/// One operation of a bus call, as the guest asked for it.
enum Op {
    Read(u64),
    Write(Vec<u8>),
    Transfer(Vec<u8>),
    DelayNs(u32),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read(n) => write!(f, "read {n}"),
            Op::Write(bytes) => write!(f, "write {}", Hex(bytes)),
            Op::Transfer(bytes) => write!(f, "transfer {}", Hex(bytes)),
            Op::DelayNs(ns) => write!(f, "delay {ns} ns"),
        }
    }
}

/// What a bus call gave the guest.
enum Outcome<'a> {
    /// The bytes of each read or transfer, in order.
    Ok(&'a [Vec<u8>]),
    Err(&'a dyn fmt::Display),
    /// Refused before it reached the bus.
    Refused(&'a dyn fmt::Display, &'a str),
}

/// A bus call as a timeline line:
/// `i2c.write-read(i2c0, 0x48, write [00], read 2) -> ok [19 80]`.
struct BusCall<'a> {
    interface: &'static str,
    call: &'static str,
    bus: &'a str,
    address: Option<u16>,
    ops: &'a [Op],
    outcome: Outcome<'a>,
}

impl fmt::Display for BusCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}({}", self.interface, self.call, self.bus)?;
        if let Some(address) = self.address {
            write!(f, ", 0x{address:02x}")?;
        }
        for op in self.ops {
            write!(f, ", {op}")?;
        }
        f.write_str(") -> ")?;
        match &self.outcome {
            Outcome::Ok(reads) => {
                f.write_str("ok")?;
                for read in reads.iter() {
                    write!(f, " {}", Hex(read))?;
                }
                Ok(())
            }
            Outcome::Err(e) => write!(f, "error {e}"),
            Outcome::Refused(e, why) => write!(f, "error {e} ({why})"),
        }
    }
}

/// Checks a transaction against the limits before anything is allocated;
/// the reason when it is over them.
fn over_limits(ops: &[Op]) -> Option<&'static str> {
    if ops.len() > MAX_OPERATIONS {
        return Some("more operations than the 16 allowed in one transaction");
    }
    let too_long = ops.iter().any(|op| match op {
        Op::Read(n) => *n > MAX_TRANSFER as u64,
        Op::Write(b) | Op::Transfer(b) => b.len() > MAX_TRANSFER,
        Op::DelayNs(_) => false,
    });
    too_long.then_some("a read, write or transfer longer than the 1024 bytes allowed")
}

/// An error as a timeline shows it, in WIT spelling: `no-acknowledge(address)`.
struct Wit<'a, E>(&'a E);

impl fmt::Display for Wit<'_, ErrorCode> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ErrorCode::Bus => f.write_str("bus"),
            ErrorCode::ArbitrationLoss => f.write_str("arbitration-loss"),
            ErrorCode::NoAcknowledge(source) => {
                let source = match source {
                    NoAcknowledgeSource::Address => "address",
                    NoAcknowledgeSource::Data => "data",
                    NoAcknowledgeSource::Unknown => "unknown",
                };
                write!(f, "no-acknowledge({source})")
            }
            ErrorCode::Overrun => f.write_str("overrun"),
            ErrorCode::Other => f.write_str("other"),
        }
    }
}

impl fmt::Display for Wit<'_, wasi_spi::Error> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            wasi_spi::Error::Overrun => f.write_str("overrun"),
            wasi_spi::Error::ModeFault => f.write_str("mode-fault"),
            wasi_spi::Error::FrameFormat => f.write_str("frame-format"),
            wasi_spi::Error::ChipSelectFault => f.write_str("chip-select-fault"),
            wasi_spi::Error::Other(why) => write!(f, "other({why:?})"),
        }
    }
}

/// embedded-hal's I2C error kinds are exactly `wasi:i2c`'s error codes.
fn i2c_error(kind: hal_i2c::ErrorKind) -> ErrorCode {
    use hal_i2c::{ErrorKind, NoAcknowledgeSource as Source};
    match kind {
        ErrorKind::Bus => ErrorCode::Bus,
        ErrorKind::ArbitrationLoss => ErrorCode::ArbitrationLoss,
        ErrorKind::NoAcknowledge(source) => ErrorCode::NoAcknowledge(match source {
            Source::Address => NoAcknowledgeSource::Address,
            Source::Data => NoAcknowledgeSource::Data,
            Source::Unknown => NoAcknowledgeSource::Unknown,
        }),
        ErrorKind::Overrun => ErrorCode::Overrun,
        _ => ErrorCode::Other,
    }
}

fn spi_error(kind: hal_spi::ErrorKind) -> wasi_spi::Error {
    use hal_spi::ErrorKind;
    match kind {
        ErrorKind::Overrun => wasi_spi::Error::Overrun,
        ErrorKind::ModeFault => wasi_spi::Error::ModeFault,
        ErrorKind::FrameFormat => wasi_spi::Error::FrameFormat,
        ErrorKind::ChipSelectFault => wasi_spi::Error::ChipSelectFault,
        other => wasi_spi::Error::Other(alloc::format!("{other}")),
    }
}

impl<B: Board> Host<B> {
    /// Records a bus call on the timeline and checks for a stop.
    fn bus_event(&mut self, call: &BusCall<'_>) -> wasmtime::Result<()> {
        self.finish(Ok(((), Event::Bus(call))))
    }

    /// Runs one I2C call (every `wasi:i2c` call is a transaction).
    fn i2c_call(
        &mut self,
        call: &'static str,
        handle: &Resource<I2cHandle>,
        address: u16,
        ops: Vec<Op>,
    ) -> wasmtime::Result<Result<Vec<Vec<u8>>, ErrorCode>> {
        if let Err(fault) = self.access.interface(WASI_I2C) {
            return self.finish(Err(fault));
        }
        let (index, name) = self.handles.get(Kind::I2c, handle.rep())?;
        let name = String::from(name);
        if let Err(fault) = self.access.i2c_device(&name, address) {
            return self.finish(Err(fault));
        }
        let refused = if address > 0x7f {
            Some("10-bit addresses are not supported")
        } else {
            over_limits(&ops)
        };
        let mut reads: Vec<Vec<u8>> = Vec::new();
        let result = match refused {
            Some(why) => Err((ErrorCode::Other, Some(why))),
            None => {
                reads = ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Read(n) => Some(vec![0; *n as usize]),
                        _ => None,
                    })
                    .collect();
                let mut bufs = reads.iter_mut();
                let mut hal_ops: Vec<hal_i2c::Operation<'_>> = ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Read(_) => bufs.next().map(|b| hal_i2c::Operation::Read(b)),
                        Op::Write(bytes) => Some(hal_i2c::Operation::Write(bytes)),
                        Op::Transfer(_) | Op::DelayNs(_) => None,
                    })
                    .collect();
                match self.board.peripherals().i2c(index) {
                    Some(bus) => bus
                        .transaction(address as u8, &mut hal_ops)
                        .map_err(|e| (i2c_error(hal_i2c::Error::kind(&e)), None)),
                    None => Err((ErrorCode::Other, Some("the board lost this bus"))),
                }
            }
        };
        let shown = result.as_ref().err().map(|(code, _)| Wit(code));
        let outcome = match (&result, &shown) {
            (Err((_, None)), Some(code)) => Outcome::Err(code),
            (Err((_, Some(why))), Some(code)) => Outcome::Refused(code, why),
            _ => Outcome::Ok(&reads),
        };
        self.bus_event(&BusCall {
            interface: "i2c",
            call,
            bus: &name,
            address: Some(address),
            ops: &ops,
            outcome,
        })?;
        Ok(result.map(|()| reads).map_err(|(code, _)| code))
    }

    /// Runs one SPI call as a transaction (chip select held throughout).
    fn spi_call(
        &mut self,
        call: &'static str,
        handle: &Resource<SpiHandle>,
        ops: Vec<Op>,
    ) -> wasmtime::Result<Result<Vec<OperationResult>, wasi_spi::Error>> {
        if let Err(fault) = self.access.interface(WASI_SPI) {
            return self.finish(Err(fault));
        }
        let (index, name) = self.handles.get(Kind::Spi, handle.rep())?;
        let name = String::from(name);
        let mut reads: Vec<Vec<u8>> = Vec::new();
        let result = match over_limits(&ops) {
            Some(why) => Err((wasi_spi::Error::Other(why.into()), Some(why))),
            None => {
                reads = ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Read(n) => Some(vec![0; *n as usize]),
                        Op::Transfer(bytes) => Some(vec![0; bytes.len()]),
                        _ => None,
                    })
                    .collect();
                let mut bufs = reads.iter_mut();
                let mut hal_ops: Vec<hal_spi::Operation<'_, u8>> = ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Read(_) => bufs.next().map(|b| hal_spi::Operation::Read(b)),
                        Op::Write(bytes) => Some(hal_spi::Operation::Write(bytes)),
                        Op::Transfer(bytes) => {
                            bufs.next().map(|b| hal_spi::Operation::Transfer(b, bytes))
                        }
                        Op::DelayNs(ns) => Some(hal_spi::Operation::DelayNs(*ns)),
                    })
                    .collect();
                match self.board.peripherals().spi(index) {
                    Some(device) => device
                        .transaction(&mut hal_ops)
                        .map_err(|e| (spi_error(hal_spi::Error::kind(&e)), None)),
                    None => Err((
                        wasi_spi::Error::Other("the board lost this device".into()),
                        None,
                    )),
                }
            }
        };
        let shown = result.as_ref().err().map(|(error, _)| Wit(error));
        let outcome = match (&result, &shown) {
            (Err((_, None)), Some(error)) => Outcome::Err(error),
            (Err((_, Some(why))), Some(error)) => Outcome::Refused(error, why),
            _ => Outcome::Ok(&reads),
        };
        self.bus_event(&BusCall {
            interface: "spi",
            call,
            bus: &name,
            address: None,
            ops: &ops,
            outcome,
        })?;
        if let Err((error, _)) = result {
            return Ok(Err(error));
        }
        let mut reads = reads.into_iter();
        Ok(Ok(ops
            .iter()
            .map(|op| match op {
                Op::Read(_) => OperationResult::Read(reads.next().unwrap_or_default()),
                Op::Write(_) => OperationResult::Write,
                Op::Transfer(_) => OperationResult::Transfer(reads.next().unwrap_or_default()),
                Op::DelayNs(_) => OperationResult::Delay,
            })
            .collect()))
    }

    /// Waits on a digital input, then stamps the event.
    async fn wait(&mut self, pin: u32, change: Change) -> wasmtime::Result<()> {
        let fault = match self.access.input("digital", pin) {
            Err(fault) => Some(fault),
            Ok(()) => match self.board.peripherals().input(pin) {
                None => Some(Fault::NoSuchPin {
                    interface: "digital",
                    pin,
                }),
                Some(input) => input.wait_for(change).await.err().map(|_| Fault::Driver {
                    interface: "digital",
                    pin: Some(pin),
                }),
            },
        };
        match fault {
            Some(fault) => self.finish(Err(fault)),
            None => self.finish(Ok(((), Event::Waited { pin, change }))),
        }
    }
}

impl<B: Board> buses::Host for Host<B> {
    fn open_i2c(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<I2cHandle>, ErrorCode>> {
        let granted = self
            .access
            .interface("buses")
            .and_then(|()| self.access.i2c_bus(&name));
        if let Err(fault) = granted {
            return self.finish(Err(fault));
        }
        let result = match self.board.peripherals().i2c_bus(&name) {
            None => Err("no such bus on this board"),
            Some(index) => match self.handles.open(Kind::I2c, index, name.clone()) {
                Ok(rep) => Ok(rep),
                Err(fault) => return self.finish(Err(fault)),
            },
        };
        let event = OpenEvent {
            call: "buses.open-i2c",
            name: &name,
            result,
        };
        self.finish(Ok(((), Event::Bus(&event))))?;
        Ok(result.map(Resource::new_own).map_err(|_| ErrorCode::Other))
    }
}

/// `buses.open-i2c("i2c0") -> ok` / `-> error other (no such bus on this board)`.
struct OpenEvent<'a> {
    call: &'static str,
    name: &'a str,
    result: Result<u32, &'static str>,
}

impl fmt::Display for OpenEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?}) -> ", self.call, self.name)?;
        match self.result {
            Ok(_) => f.write_str("ok"),
            Err(why) => write!(f, "error other ({why})"),
        }
    }
}

impl<B: Board> wasi_i2c::Host for Host<B> {}

impl<B: Board> wasi_i2c::HostI2c for Host<B> {
    fn transaction(
        &mut self,
        handle: Resource<I2cHandle>,
        address: u16,
        operations: Vec<wasi_i2c::Operation>,
    ) -> wasmtime::Result<Result<Vec<Vec<u8>>, ErrorCode>> {
        let ops = operations
            .into_iter()
            .map(|op| match op {
                wasi_i2c::Operation::Read(n) => Op::Read(n),
                wasi_i2c::Operation::Write(bytes) => Op::Write(bytes),
            })
            .collect();
        self.i2c_call("transaction", &handle, address, ops)
    }

    fn read(
        &mut self,
        handle: Resource<I2cHandle>,
        address: u16,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, ErrorCode>> {
        let reads = self.i2c_call("read", &handle, address, vec![Op::Read(len)])?;
        Ok(reads.map(|mut r| r.pop().unwrap_or_default()))
    }

    fn write(
        &mut self,
        handle: Resource<I2cHandle>,
        address: u16,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let reads = self.i2c_call("write", &handle, address, vec![Op::Write(data)])?;
        Ok(reads.map(|_| ()))
    }

    fn write_read(
        &mut self,
        handle: Resource<I2cHandle>,
        address: u16,
        write: Vec<u8>,
        read_len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, ErrorCode>> {
        let ops = vec![Op::Write(write), Op::Read(read_len)];
        let reads = self.i2c_call("write-read", &handle, address, ops)?;
        Ok(reads.map(|mut r| r.pop().unwrap_or_default()))
    }

    fn drop(&mut self, handle: Resource<I2cHandle>) -> wasmtime::Result<()> {
        self.handles.close(handle.rep());
        Ok(())
    }
}

impl<B: Board> wasi_spi::Host for Host<B> {
    fn open(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<SpiHandle>, wasi_spi::Error>> {
        let granted = self
            .access
            .interface(WASI_SPI)
            .and_then(|()| self.access.spi(&name));
        if let Err(fault) = granted {
            return self.finish(Err(fault));
        }
        let result = match self.board.peripherals().spi_device(&name) {
            None => Err("no such device on this board"),
            Some(index) => match self.handles.open(Kind::Spi, index, name.clone()) {
                Ok(rep) => Ok(rep),
                Err(fault) => return self.finish(Err(fault)),
            },
        };
        let event = OpenEvent {
            call: "spi.open",
            name: &name,
            result,
        };
        self.finish(Ok(((), Event::Bus(&event))))?;
        Ok(result
            .map(Resource::new_own)
            .map_err(|why| wasi_spi::Error::Other(why.into())))
    }
}

impl<B: Board> wasi_spi::HostSpiDevice for Host<B> {
    fn read(
        &mut self,
        handle: Resource<SpiHandle>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, wasi_spi::Error>> {
        let results = self.spi_call("read", &handle, vec![Op::Read(len)])?;
        Ok(results.map(|r| match r.into_iter().next() {
            Some(OperationResult::Read(bytes)) => bytes,
            _ => Vec::new(),
        }))
    }

    fn write(
        &mut self,
        handle: Resource<SpiHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_spi::Error>> {
        let results = self.spi_call("write", &handle, vec![Op::Write(data)])?;
        Ok(results.map(|_| ()))
    }

    fn transfer(
        &mut self,
        handle: Resource<SpiHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, wasi_spi::Error>> {
        let results = self.spi_call("transfer", &handle, vec![Op::Transfer(data)])?;
        Ok(results.map(|r| match r.into_iter().next() {
            Some(OperationResult::Transfer(bytes)) => bytes,
            _ => Vec::new(),
        }))
    }

    fn transaction(
        &mut self,
        handle: Resource<SpiHandle>,
        operations: Vec<wasi_spi::Operation>,
    ) -> wasmtime::Result<Result<Vec<OperationResult>, wasi_spi::Error>> {
        let ops = operations
            .into_iter()
            .map(|op| match op {
                wasi_spi::Operation::Read(n) => Op::Read(n),
                wasi_spi::Operation::Write(bytes) => Op::Write(bytes),
                wasi_spi::Operation::Transfer(bytes) => Op::Transfer(bytes),
                wasi_spi::Operation::DelayNs(ns) => Op::DelayNs(ns),
            })
            .collect();
        self.spi_call("transaction", &handle, ops)
    }

    fn drop(&mut self, handle: Resource<SpiHandle>) -> wasmtime::Result<()> {
        self.handles.close(handle.rep());
        Ok(())
    }
}

impl<B: Board> digital::Host for Host<B> {
    fn is_high(&mut self, pin: u32) -> wasmtime::Result<bool> {
        let result = (|| {
            self.access.input("digital", pin)?;
            let input = self
                .board
                .peripherals()
                .input(pin)
                .ok_or(Fault::NoSuchPin {
                    interface: "digital",
                    pin,
                })?;
            let high = input.is_high().map_err(|_| Fault::Driver {
                interface: "digital",
                pin: Some(pin),
            })?;
            Ok((high, Event::IsHigh { pin, high }))
        })();
        self.finish(result)
    }

    async fn wait_for_edge(&mut self, pin: u32, edge: digital::Edge) -> wasmtime::Result<()> {
        let change = match edge {
            digital::Edge::Rising => Change::Rising,
            digital::Edge::Falling => Change::Falling,
            digital::Edge::Any => Change::AnyEdge,
        };
        self.wait(pin, change).await
    }

    async fn wait_for_level(&mut self, pin: u32, high: bool) -> wasmtime::Result<()> {
        let change = if high { Change::High } else { Change::Low };
        self.wait(pin, change).await
    }
}

impl<B: Board> Host<B> {
    fn pwm_pin(&mut self, pin: u32) -> Result<&mut <B::Peripherals as Peripherals>::Pwm, Fault> {
        self.access.output("pwm", pin)?;
        self.board.peripherals().pwm(pin).ok_or(Fault::NoSuchPin {
            interface: "pwm",
            pin,
        })
    }

    fn analog_channel(
        &mut self,
        channel: u32,
    ) -> Result<&mut <B::Peripherals as Peripherals>::Analog, Fault> {
        self.access.analog(channel)?;
        self.board
            .peripherals()
            .analog(channel)
            .ok_or(Fault::NoSuchPin {
                interface: "analog",
                pin: channel,
            })
    }
}

impl<B: Board> pwm::Host for Host<B> {
    fn max_duty(&mut self, pin: u32) -> wasmtime::Result<u16> {
        let result = self.pwm_pin(pin).map(|pwm| {
            let max = pwm.max_duty_cycle();
            (max, Event::MaxDuty { pin, max })
        });
        self.finish(result)
    }

    fn set_duty(&mut self, pin: u32, duty: u16) -> wasmtime::Result<()> {
        let result = self.pwm_pin(pin).and_then(|pwm| {
            let max = pwm.max_duty_cycle();
            if duty > max {
                return Err(Fault::DutyOutOfRange { pin, duty, max });
            }
            pwm.set_duty_cycle(duty).map_err(|_| Fault::Driver {
                interface: "pwm",
                pin: Some(pin),
            })?;
            Ok(((), Event::SetDuty { pin, duty, max }))
        });
        self.finish(result)
    }
}

impl<B: Board> analog::Host for Host<B> {
    fn read(&mut self, channel: u32) -> wasmtime::Result<u16> {
        let result = self.analog_channel(channel).and_then(|adc| {
            let raw = adc.read().map_err(|_| Fault::Driver {
                interface: "analog",
                pin: Some(channel),
            })?;
            Ok((raw, Event::Analog { channel, raw }))
        });
        self.finish(result)
    }

    fn full_scale(&mut self, channel: u32) -> wasmtime::Result<u16> {
        let result = self.analog_channel(channel).map(|adc| {
            let raw = adc.full_scale();
            (raw, Event::FullScale { channel, raw })
        });
        self.finish(result)
    }

    fn reference_mv(&mut self, channel: u32) -> wasmtime::Result<u32> {
        let result = self.analog_channel(channel).map(|adc| {
            let mv = adc.reference_mv();
            (mv, Event::ReferenceMv { channel, mv })
        });
        self.finish(result)
    }
}

impl<B: Board> Host<B> {
    async fn sleep_ns(&mut self, ns: u64) -> wasmtime::Result<()> {
        if let Err(fault) = self.access.interface("delay") {
            return self.finish(Err(fault));
        }
        self.board.event(&Event::DelayNs { ns });
        self.board.delay_ns(ns).await;
        self.host_calls += 1;
        match self.board.poll_stop() {
            Some(stop) => Err(wasmtime::Error::new(stop)),
            None => Ok(()),
        }
    }
}

impl<B: Board> delay::Host for Host<B> {
    async fn delay_us(&mut self, us: u32) -> wasmtime::Result<()> {
        self.sleep_ns(u64::from(us) * 1000).await
    }

    async fn delay_ns(&mut self, ns: u32) -> wasmtime::Result<()> {
        self.sleep_ns(u64::from(ns)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn limits_are_checked_before_allocating() {
        assert_eq!(over_limits(&[Op::Read(1024)]), None);
        assert!(over_limits(&[Op::Read(1 << 20)]).is_some());
        assert!(over_limits(&[Op::Write(vec![0; 1025])]).is_some());
        let many: Vec<Op> = (0..17).map(|_| Op::Read(1)).collect();
        assert!(over_limits(&many).is_some());
    }

    #[test]
    fn bus_lines_show_address_bytes_and_result() {
        let reads = [vec![0x19, 0x80]];
        let line = BusCall {
            interface: "i2c",
            call: "write-read",
            bus: "i2c0",
            address: Some(0x48),
            ops: &[Op::Write(vec![0]), Op::Read(2)],
            outcome: Outcome::Ok(&reads),
        };
        assert_eq!(
            line.to_string(),
            "i2c.write-read(i2c0, 0x48, write [00], read 2) -> ok [19 80]"
        );
        let nack = ErrorCode::NoAcknowledge(NoAcknowledgeSource::Address);
        let nack = Wit(&nack);
        let line = BusCall {
            outcome: Outcome::Err(&nack),
            ops: &[Op::Read(2)],
            call: "read",
            ..line
        };
        assert_eq!(
            line.to_string(),
            "i2c.read(i2c0, 0x48, read 2) -> error no-acknowledge(address)"
        );
    }

    #[test]
    fn scripted_changes_are_found_in_order() {
        let presses = [(15, 1200, 1800), (15, 3000, 3100), (14, 500, 600)];
        assert_eq!(
            next_scripted_change(&presses, 15, Change::Falling, 0),
            Some(1200)
        );
        assert_eq!(
            next_scripted_change(&presses, 15, Change::Rising, 0),
            Some(1800)
        );
        assert_eq!(
            next_scripted_change(&presses, 15, Change::Falling, 1200),
            Some(3000)
        );
        assert_eq!(
            next_scripted_change(&presses, 15, Change::Low, 1500),
            Some(1500)
        );
        assert_eq!(
            next_scripted_change(&presses, 15, Change::AnyEdge, 3050),
            Some(3100)
        );
        assert_eq!(
            next_scripted_change(&presses, 15, Change::Falling, 3100),
            None
        );
    }

    #[test]
    fn changes_match_level_transitions() {
        assert!(Change::Rising.satisfied(false, true));
        assert!(!Change::Rising.satisfied(true, false));
        assert!(Change::Falling.satisfied(true, false));
        assert!(Change::AnyEdge.satisfied(true, false));
        assert!(!Change::AnyEdge.satisfied(true, true));
        assert!(Change::High.satisfied(true, true));
        assert!(Change::Low.satisfied(true, false));
    }
}
