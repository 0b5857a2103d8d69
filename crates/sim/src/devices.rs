//! Simulated devices on the simulated board's buses, chosen on the command
//! line (`belljar run --i2c tmp105@0x48=21.5C --i2c at24c256@0x50=ee.bin
//! --spi display0=max7219 --analog 26=1.65V`).
//!
//! * `tmp105` (also `lm75`): the TMP105/LM75 register map (pointer,
//!   temperature, configuration, T-low, T-high), resolution from the
//!   configuration register as on the chip. Its temperature is a constant
//!   (`21.5C`) or a ramp over virtual time (`20C..30C/10s`).
//! * `at24c256` (`at24c32`, `at24c64`, `at24c128`, `at24c512`): a 24Cxx
//!   EEPROM with two address bytes, page writes that wrap in their page, and
//!   sequential reads; `=FILE` keeps its contents in a file across runs.
//! * `max7219`: the MAX7219 LED display driver on SPI; its registers are
//!   kept (digits, decode mode, intensity, scan limit, shutdown).
//! * analog channels: a voltage (`1.65V`, `1650mV`) or a ramp
//!   (`0V..3.3V/10s`), read by a 12-bit ADC with a 3.3 V reference.
//!
//! An address with no device does not acknowledge, as on a real bus.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

/// A value that is constant or ramps linearly over virtual time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    pub from: f64,
    pub to: f64,
    /// Ramp length; 0 = constant `from`.
    pub over_ns: u64,
}

impl Signal {
    pub fn constant(value: f64) -> Signal {
        Signal {
            from: value,
            to: value,
            over_ns: 0,
        }
    }

    /// The value at virtual time `now_ns` (the ramp holds its end value).
    pub fn at(&self, now_ns: u64) -> f64 {
        if self.over_ns == 0 || now_ns >= self.over_ns {
            return if self.over_ns == 0 {
                self.from
            } else {
                self.to
            };
        }
        self.from + (self.to - self.from) * (now_ns as f64 / self.over_ns as f64)
    }

    /// Parses `21.5C` or `20C..30C/10s` with the unit suffixes `units`
    /// (first match wins; each with its scale to the base unit).
    fn parse(text: &str, units: &[(&str, f64)], what: &str) -> Result<Signal> {
        let value = |s: &str| -> Result<f64> {
            let s = s.trim();
            for (suffix, scale) in units {
                if let Some(number) = s.strip_suffix(suffix) {
                    return number
                        .trim()
                        .parse::<f64>()
                        .map(|v| v * scale)
                        .map_err(|_| anyhow!("`{s}` is not a number"));
                }
            }
            bail!(
                "`{s}`: give the {what} with its unit ({})",
                units.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
            )
        };
        match text.split_once("..") {
            None => Ok(Signal::constant(value(text)?)),
            Some((from, rest)) => {
                let (to, over) = rest.split_once('/').ok_or_else(|| {
                    anyhow!("a ramp is FROM..TO/DURATION, e.g. 20C..30C/10s; got `{text}`")
                })?;
                let over = humantime::parse_duration(over.trim())
                    .with_context(|| format!("`{over}` is not a duration"))?;
                Ok(Signal {
                    from: value(from)?,
                    to: value(to)?,
                    over_ns: u64::try_from(over.as_nanos()).unwrap_or(u64::MAX),
                })
            }
        }
    }
}

const CELSIUS: &[(&str, f64)] = &[("C", 1.0)];
const VOLTS: &[(&str, f64)] = &[("mV", 0.001), ("V", 1.0)];

/// What an I2C device spec asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum I2cModel {
    /// TMP105/LM75 temperature sensor, degrees Celsius.
    Tmp105(Signal),
    /// 24Cxx EEPROM of `size` bytes, optionally kept in a file.
    At24c { size: usize, file: Option<PathBuf> },
}

/// `tmp105@0x48=21.5C`, `at24c256@0x50[=FILE]`, optionally on a named bus
/// (`i2c1:tmp105@0x48=20C`; the default bus is `i2c0`).
#[derive(Clone, Debug, PartialEq)]
pub struct I2cSpec {
    pub bus: String,
    pub address: u16,
    pub model: I2cModel,
}

impl FromStr for I2cSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<I2cSpec> {
        let usage =
            "expected MODEL@ADDRESS[=VALUE], e.g. tmp105@0x48=21.5C or at24c256@0x50=eeprom.bin";
        let (bus, rest) = match text.split_once(':') {
            Some((bus, rest)) if !bus.contains('@') => (bus.to_string(), rest),
            _ => ("i2c0".to_string(), text),
        };
        let (model, rest) = rest
            .split_once('@')
            .ok_or_else(|| anyhow!("`{text}`: {usage}"))?;
        let (address, value) = match rest.split_once('=') {
            Some((a, v)) => (a, Some(v)),
            None => (rest, None),
        };
        let address = address
            .strip_prefix("0x")
            .map(|hex| u16::from_str_radix(hex, 16))
            .unwrap_or_else(|| address.parse())
            .map_err(|_| anyhow!("`{address}` is not an I2C address (e.g. 0x48)"))?;
        if address > 0x7f {
            bail!("I2C address 0x{address:x} is not a 7-bit address (0x00..=0x7f)");
        }
        let model = match model {
            "tmp105" | "lm75" => I2cModel::Tmp105(match value {
                Some(v) => Signal::parse(v, CELSIUS, "temperature")?,
                None => Signal::constant(25.0),
            }),
            name if name.starts_with("at24c") => {
                let kbit: usize = name["at24c".len()..]
                    .parse()
                    .ok()
                    .filter(|k| [32, 64, 128, 256, 512].contains(k))
                    .ok_or_else(|| {
                        anyhow!(
                            "`{name}`: the simulator has at24c32, at24c64, at24c128, at24c256 and at24c512"
                        )
                    })?;
                I2cModel::At24c {
                    size: kbit * 1024 / 8,
                    file: value.map(PathBuf::from),
                }
            }
            other => bail!(
                "no simulated I2C device `{other}` (there are: tmp105, lm75, at24c32..at24c512)"
            ),
        };
        Ok(I2cSpec {
            bus,
            address,
            model,
        })
    }
}

/// `display0=max7219`: an SPI device and the name apps open it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpiSpec {
    pub name: String,
    pub model: SpiModel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpiModel {
    Max7219,
}

impl FromStr for SpiSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<SpiSpec> {
        let (name, model) = text
            .split_once('=')
            .ok_or_else(|| anyhow!("`{text}`: expected NAME=MODEL, e.g. display0=max7219"))?;
        let model = match model {
            "max7219" => SpiModel::Max7219,
            other => bail!("no simulated SPI device `{other}` (there is: max7219)"),
        };
        Ok(SpiSpec {
            name: name.to_string(),
            model,
        })
    }
}

/// `26=1.65V` or `26=0V..3.3V/10s`: an analog channel's voltage.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalogSpec {
    pub channel: u32,
    pub volts: Signal,
}

impl FromStr for AnalogSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<AnalogSpec> {
        let (channel, value) = text
            .split_once('=')
            .ok_or_else(|| anyhow!("`{text}`: expected CHANNEL=VOLTAGE, e.g. 26=1.65V"))?;
        let channel = channel
            .trim()
            .parse()
            .map_err(|_| anyhow!("`{channel}` is not an analog channel number"))?;
        Ok(AnalogSpec {
            channel,
            volts: Signal::parse(value, VOLTS, "voltage")?,
        })
    }
}

/// The ADC every simulated analog channel has: 12 bits, 3.3 V reference (a
/// Pico 2's).
pub const ADC_FULL_SCALE: u16 = 4095;
pub const ADC_REFERENCE_MV: u32 = 3300;

/// A raw 12-bit conversion of `volts`.
pub fn adc_raw(volts: f64) -> u16 {
    let raw = (volts * 1000.0 / f64::from(ADC_REFERENCE_MV) * f64::from(ADC_FULL_SCALE)).round();
    raw.clamp(0.0, f64::from(ADC_FULL_SCALE)) as u16
}

/// An I2C device's side of a transaction.
pub(crate) trait I2cDevice: Send + fmt::Debug {
    /// A START (or repeated START) addressed to this device.
    fn start(&mut self) {}
    fn write(&mut self, bytes: &[u8], now_ns: u64) -> Result<()>;
    fn read(&mut self, buf: &mut [u8], now_ns: u64);
    /// The STOP ending a transaction.
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

/// TMP105 / LM75: pointer register, then 2-byte registers (1 for config).
#[derive(Debug)]
pub(crate) struct Tmp105 {
    temperature: Signal,
    pointer: u8,
    /// Bytes written since the START (the first one is the pointer).
    written: usize,
    config: u8,
    t_low: [u8; 2],
    t_high: [u8; 2],
}

impl Tmp105 {
    pub(crate) fn new(temperature: Signal) -> Tmp105 {
        Tmp105 {
            temperature,
            pointer: 0,
            written: 0,
            config: 0,
            // Power-on limits: 75 C and 80 C.
            t_low: [0x4b, 0x00],
            t_high: [0x50, 0x00],
        }
    }

    /// The temperature register: 12-bit two's complement, left-justified,
    /// kept to the configured resolution (9..12 bits, bits R1:R0).
    fn temperature_register(&self, now_ns: u64) -> [u8; 2] {
        let bits = 9 + u32::from((self.config >> 5) & 3);
        let raw = (self.temperature.at(now_ns) * 256.0).floor();
        let raw = raw.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
        let mask = !((1u16 << (16 - bits)) - 1);
        ((raw as u16) & mask).to_be_bytes()
    }
}

impl I2cDevice for Tmp105 {
    fn start(&mut self) {
        self.written = 0;
    }

    fn write(&mut self, bytes: &[u8], _now_ns: u64) -> Result<()> {
        for &b in bytes {
            match self.written {
                0 => self.pointer = b & 3,
                n => match self.pointer {
                    1 => self.config = b,
                    2 => self.t_low[(n - 1).min(1)] = b,
                    3 => self.t_high[(n - 1).min(1)] = b,
                    _ => {}
                },
            }
            self.written += 1;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], now_ns: u64) {
        let register = match self.pointer {
            0 => self.temperature_register(now_ns),
            1 => [self.config, self.config],
            2 => self.t_low,
            _ => self.t_high,
        };
        for (i, b) in buf.iter_mut().enumerate() {
            *b = register[i % 2];
        }
    }
}

/// A 24Cxx EEPROM: two address bytes, 64-byte pages (the 32/64 Kbit parts
/// have 32-byte pages), optionally kept in a file.
#[derive(Debug)]
pub(crate) struct At24c {
    memory: Vec<u8>,
    page: usize,
    pointer: usize,
    /// Address bytes received since the START.
    address_bytes: usize,
    file: Option<PathBuf>,
    dirty: bool,
}

impl At24c {
    pub(crate) fn new(size: usize, file: Option<PathBuf>) -> Result<At24c> {
        let mut memory = vec![0xff; size];
        if let Some(path) = &file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let n = bytes.len().min(size);
                    memory[..n].copy_from_slice(&bytes[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(anyhow!("cannot read EEPROM file {}: {e}", path.display())),
            }
        }
        Ok(At24c {
            memory,
            page: if size <= 8192 { 32 } else { 64 },
            pointer: 0,
            address_bytes: 0,
            file,
            dirty: false,
        })
    }
}

impl I2cDevice for At24c {
    fn start(&mut self) {
        self.address_bytes = 0;
    }

    fn write(&mut self, bytes: &[u8], _now_ns: u64) -> Result<()> {
        let size = self.memory.len();
        for &b in bytes {
            if self.address_bytes < 2 {
                let high = self.address_bytes == 0;
                self.pointer = if high {
                    (usize::from(b) << 8) % size
                } else {
                    (self.pointer & !0xff | usize::from(b)) % size
                };
                self.address_bytes += 1;
                continue;
            }
            self.memory[self.pointer] = b;
            self.dirty = true;
            // Page writes wrap within their page.
            let page_start = self.pointer - self.pointer % self.page;
            self.pointer = page_start + (self.pointer + 1 - page_start) % self.page;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], _now_ns: u64) {
        for b in buf {
            *b = self.memory[self.pointer];
            self.pointer = (self.pointer + 1) % self.memory.len();
        }
    }

    fn stop(&mut self) -> Result<()> {
        if let (true, Some(path)) = (self.dirty, &self.file) {
            std::fs::write(path, &self.memory)
                .map_err(|e| anyhow!("cannot write EEPROM file {}: {e}", path.display()))?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// The MAX7219 LED display driver: 16-bit frames (register, data), latched
/// when chip select rises.
#[derive(Debug, Default)]
pub struct Max7219 {
    /// Registers 0x0..=0xF (0x1..=0x8 the digits, 0x9 decode mode, 0xA
    /// intensity, 0xB scan limit, 0xC shutdown, 0xF display test).
    pub registers: [u8; 16],
    frame: Vec<u8>,
}

impl Max7219 {
    /// Bytes shifted in while chip select is low.
    pub(crate) fn shift(&mut self, bytes: &[u8]) {
        self.frame.extend_from_slice(bytes);
    }

    /// Chip select rises: the last 16 bits shifted in are latched.
    pub(crate) fn latch(&mut self) {
        if let [.., register, data] = self.frame[..] {
            self.registers[usize::from(register & 0xf)] = data;
        }
        self.frame.clear();
    }

    /// The digit registers 1..=8 as a display shows them in Code-B decode
    /// (`0`-`9`, `-`, `E`, `H`, `L`, `P`, blank; a set bit 7 adds `.`),
    /// leftmost digit (8) first.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let digits = usize::from(self.registers[0xb] & 7) + 1;
        for d in (1..=digits).rev() {
            let v = self.registers[d];
            let decoded = self.registers[0x9] & (1 << (d - 1)) != 0;
            if decoded {
                s.push(match v & 0xf {
                    n @ 0..=9 => char::from(b'0' + n),
                    10 => '-',
                    11 => 'E',
                    12 => 'H',
                    13 => 'L',
                    14 => 'P',
                    _ => ' ',
                });
                if v & 0x80 != 0 {
                    s.push('.');
                }
            } else {
                // Raw segments (bit 7 DP, then A..G): the digits and signs
                // a 7-segment display can show; `?` for other patterns.
                const SEGMENTS: [(u8, char); 12] = [
                    (0x7e, '0'),
                    (0x30, '1'),
                    (0x6d, '2'),
                    (0x79, '3'),
                    (0x33, '4'),
                    (0x5b, '5'),
                    (0x5f, '6'),
                    (0x70, '7'),
                    (0x7f, '8'),
                    (0x7b, '9'),
                    (0x01, '-'),
                    (0x00, ' '),
                ];
                let c = SEGMENTS
                    .iter()
                    .find(|(seg, _)| *seg == v & 0x7f)
                    .map_or('?', |(_, c)| *c);
                s.push(c);
                if v & 0x80 != 0 {
                    s.push('.');
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_units_and_ramps() {
        let spec: I2cSpec = "tmp105@0x48=21.5C".parse().unwrap();
        assert_eq!(spec.bus, "i2c0");
        assert_eq!(spec.address, 0x48);
        assert_eq!(spec.model, I2cModel::Tmp105(Signal::constant(21.5)));
        let spec: I2cSpec = "i2c1:tmp105@72=20C..30C/10s".parse().unwrap();
        assert_eq!(spec.bus, "i2c1");
        let I2cModel::Tmp105(signal) = spec.model else {
            panic!()
        };
        assert_eq!(signal.at(5_000_000_000), 25.0);
        assert_eq!(signal.at(20_000_000_000), 30.0);
        let spec: I2cSpec = "at24c256@0x50=ee.bin".parse().unwrap();
        assert_eq!(
            spec.model,
            I2cModel::At24c {
                size: 32768,
                file: Some("ee.bin".into())
            }
        );
        assert!("tmp105@0x48=21.5".parse::<I2cSpec>().is_err());
        assert!("tmp105@0x148".parse::<I2cSpec>().is_err());
        assert!("bme280@0x76".parse::<I2cSpec>().is_err());
        let analog: AnalogSpec = "26=1650mV".parse().unwrap();
        assert!((analog.volts.at(0) - 1.65).abs() < 1e-9);
        assert_eq!(adc_raw(1.65), 2048);
        assert_eq!(adc_raw(5.0), 4095);
    }

    #[test]
    fn tmp105_keeps_the_configured_resolution() {
        let mut t = Tmp105::new(Signal::constant(21.5625));
        let mut buf = [0; 2];
        t.start();
        t.write(&[0], 0).unwrap();
        t.read(&mut buf, 0);
        // 9 bits after reset: 21.5 C.
        assert_eq!(buf, [0x15, 0x80]);
        t.start();
        t.write(&[1, 0x60], 0).unwrap();
        t.start();
        t.write(&[0], 0).unwrap();
        t.read(&mut buf, 0);
        // 12 bits: 21.5625 C.
        assert_eq!(buf, [0x15, 0x90]);
        let mut cold = Tmp105::new(Signal::constant(-0.5));
        cold.read(&mut buf, 0);
        assert_eq!(buf, [0xff, 0x80]);
    }

    #[test]
    fn eeprom_pages_wrap_and_reads_run_on() {
        let mut ee = At24c::new(32768, None).unwrap();
        ee.start();
        ee.write(&[0x00, 0x3e, 1, 2, 3], 0).unwrap();
        ee.stop().unwrap();
        ee.start();
        ee.write(&[0x00, 0x3e], 0).unwrap();
        let mut buf = [0; 2];
        ee.read(&mut buf, 0);
        assert_eq!(buf, [1, 2]);
        // The third byte wrapped to the start of the page.
        ee.start();
        ee.write(&[0x00, 0x00], 0).unwrap();
        let mut buf = [0; 1];
        ee.read(&mut buf, 0);
        assert_eq!(buf, [3]);
    }

    #[test]
    fn max7219_latches_frames_and_decodes_digits() {
        let mut m = Max7219::default();
        for frame in [
            [0x0b, 3],
            [0x09, 0x0f],
            [4, 1],
            [3, 2 | 0x80],
            [2, 5],
            [1, 0x0f],
        ] {
            m.shift(&frame);
            m.latch();
        }
        assert_eq!(m.text(), "12.5 ");
        // Raw segments, as drivers that draw their own digits write them.
        for frame in [[0x09, 0], [4, 0x30], [3, 0x6d | 0x80], [2, 0x5b], [1, 0]] {
            m.shift(&frame);
            m.latch();
        }
        assert_eq!(m.text(), "12.5 ");
    }
}
