//! The AN505's SBCon two-wire controllers: I2C bit-banged by software,
//! behind embedded-hal 1.0's blocking [`I2c`] trait (7-bit addresses).
//!
//! An SBCon ("Serial Bus Controller", QEMU model `versatile_i2c`,
//! hw/i2c/versatile_i2c.c) is just two open-drain lines and no protocol
//! logic. Its registers:
//!
//! | offset | write | read |
//! | --- | --- | --- |
//! | 0x0 `CONTROLS` | 1 bits *release* (set) the lines | bit 0 SCL, bit 1 SDA |
//! | 0x4 `CONTROLC` | 1 bits *pull low* (clear) the lines | (not readable in QEMU) |
//!
//! Bit 0 is SCL, bit 1 is SDA; 0 bits in a write leave a line as it is. A
//! released (1) line floats high unless a device pulls it low, so reading
//! SDA after releasing it gives the device's bit (ACK, or read data). QEMU's
//! model reads back its own SCL output (no clock stretching seen) and SDA as
//! "master released AND device released".
//!
//! QEMU's model (hw/i2c/bitbang_i2c.c) samples SDA on the rising edge of SCL
//! and the device drives its bit from that edge until SCL falls, so every
//! bit here is: set or release SDA while SCL is low, raise SCL, (sample),
//! lower SCL. It needs no delays; a real SBCon does (see
//! [`HALF_PERIOD_CYCLES`]).
//!
//! The four controllers (QEMU mps2-tz.c; non-secure bases 0x4020_7000,
//! 0x4020_8000, 0x4020_c000, 0x4020_d000): the firmware runs Secure, so the
//! constants are the Secure aliases (+0x1000_0000).
//!
//! Under QEMU 7.2 all four buses are named `i2c` and the touch and audio
//! ones are marked full, so `-device` I2C models (with or without
//! `bus=i2c`) always land on [`SbconI2c::SHIELD1`]; Shield 0 cannot be
//! chosen from the command line. Tested there with
//! `-device tmp105,address=0x48,id=t0` (temperature set with QMP
//! `qom-set /machine/peripheral/t0 temperature <milli-C>` while stopped
//! by `-S`) and `-drive file=ee.bin,if=none,format=raw,id=ee
//! -device at24c-eeprom,address=0x50,rom-size=32768,drive=ee` (2-byte
//! memory address; the file keeps the contents). QEMU's bus, on a repeated
//! START, keeps talking to the device of the first address.

use core::ptr::{read_volatile, write_volatile};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

/// Write: 1 bits release (set) the lines. Read: the lines' levels.
const CONTROLS: usize = 0x0;
/// Write: 1 bits pull the lines low (clear).
const CONTROLC: usize = 0x4;
/// The clock line's bit in both registers.
const SCL: u32 = 1 << 0;
/// The data line's bit in both registers.
const SDA: u32 = 1 << 1;

/// Processor cycles to wait in each half of a clock period. 0 under QEMU,
/// whose model reacts to every register write at once. A real SBCon at
/// 100 kHz (standard mode) needs about 5 us per half period: 100 at the
/// AN505's 20 MHz.
const HALF_PERIOD_CYCLES: u32 = 0;

/// How many times to read SCL back, after releasing it, before giving up on
/// a device holding it low (clock stretching). Under QEMU it reads high at
/// once.
const STRETCH_POLLS: u32 = 10_000;

/// One SBCon controller, driven as the only master of its bus.
pub struct SbconI2c {
    base: usize,
}

impl SbconI2c {
    // The AN505's other SBCon controllers (Secure aliases): touch screen
    // 0x5020_7000 and audio codec 0x5020_8000 (QEMU: internal, take no
    // devices), Shield 0 0x5020_c000 (QEMU: cannot be chosen with `bus=`).

    /// Shield 1 expansion connector bus (i2c3): where QEMU attaches
    /// `-device` I2C models by default.
    pub const SHIELD1: usize = 0x5020_d000;

    /// The controller whose registers are at `base` (one of the constants
    /// above). Touches no hardware.
    pub const fn new(base: usize) -> Self {
        SbconI2c { base }
    }

    /// Releases `lines` (they go high unless a device holds them low).
    fn release(&mut self, lines: u32) {
        // SAFETY: this controller's set register; writing it only changes
        // the two bus lines.
        unsafe { write_volatile((self.base + CONTROLS) as *mut u32, lines) };
    }

    /// Pulls `lines` low.
    fn pull_low(&mut self, lines: u32) {
        // SAFETY: this controller's clear register; writing it only changes
        // the two bus lines.
        unsafe { write_volatile((self.base + CONTROLC) as *mut u32, lines) };
    }

    /// The lines' levels (`SCL`, `SDA` bits).
    fn lines(&self) -> u32 {
        // SAFETY: this controller's status register; reading it has no side
        // effect.
        unsafe { read_volatile((self.base + CONTROLS) as *const u32) }
    }

    /// Waits half a clock period (nothing under QEMU).
    fn half_period(&self) {
        if HALF_PERIOD_CYCLES != 0 {
            cortex_m::asm::delay(HALF_PERIOD_CYCLES);
        }
    }

    /// Releases SCL and waits until it is high (a device may stretch the
    /// clock by holding it low).
    fn scl_high(&mut self) -> Result<(), ErrorKind> {
        self.release(SCL);
        for _ in 0..STRETCH_POLLS {
            if self.lines() & SCL != 0 {
                self.half_period();
                return Ok(());
            }
        }
        Err(ErrorKind::Bus)
    }

    /// Pulls SCL low (the other half of a clock period).
    fn scl_low(&mut self) {
        self.pull_low(SCL);
        self.half_period();
    }

    /// A START, or a repeated START inside a transaction: SDA falls while
    /// SCL is high. From idle (both lines high) the first two steps change
    /// nothing; after a byte (SCL low) they bring both lines up first.
    /// Leaves SCL low.
    fn start(&mut self) -> Result<(), ErrorKind> {
        self.release(SDA);
        self.scl_high()?;
        if self.lines() & SDA == 0 {
            // A device still drives SDA: the bus is not ours to start on.
            return Err(ErrorKind::Bus);
        }
        self.pull_low(SDA);
        self.half_period();
        self.scl_low();
        Ok(())
    }

    /// A STOP: SDA rises while SCL is high. Leaves the bus idle.
    fn stop(&mut self) -> Result<(), ErrorKind> {
        self.pull_low(SDA);
        self.half_period();
        self.scl_high()?;
        self.release(SDA);
        self.half_period();
        Ok(())
    }

    /// Clocks one bit out (SCL low before and after).
    fn write_bit(&mut self, bit: bool) -> Result<(), ErrorKind> {
        if bit {
            self.release(SDA);
        } else {
            self.pull_low(SDA);
        }
        self.half_period();
        self.scl_high()?;
        self.scl_low();
        Ok(())
    }

    /// Clocks one bit in: releases SDA and samples it while SCL is high.
    fn read_bit(&mut self) -> Result<bool, ErrorKind> {
        self.release(SDA);
        self.half_period();
        self.scl_high()?;
        let bit = self.lines() & SDA != 0;
        self.scl_low();
        Ok(bit)
    }

    /// Sends a byte, most significant bit first; returns whether the
    /// device acknowledged it (pulled SDA low in the ninth clock).
    fn write_byte(&mut self, byte: u8) -> Result<bool, ErrorKind> {
        for i in (0..8).rev() {
            self.write_bit((byte >> i) & 1 != 0)?;
        }
        Ok(!self.read_bit()?)
    }

    /// Receives a byte, most significant bit first, then acknowledges it
    /// (`ack`: more bytes wanted) or not (the last byte of a read).
    fn read_byte(&mut self, ack: bool) -> Result<u8, ErrorKind> {
        let mut byte = 0;
        for _ in 0..8 {
            byte = (byte << 1) | u8::from(self.read_bit()?);
        }
        self.write_bit(!ack)?;
        Ok(byte)
    }

    /// The transaction's bus traffic up to (not including) the STOP: at
    /// least one operation, a 7-bit address.
    fn operations(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        // Direction of the previous operation: a change (or the first
        // operation) starts a new phase with a (repeated) START and the
        // address; consecutive operations of one direction are merged.
        let mut reading = None;
        for i in 0..operations.len() {
            let more_reads = reads_follow(&operations[i + 1..]);
            let read = matches!(operations[i], Operation::Read(_));
            if reading != Some(read) {
                self.start()?;
                if !self.write_byte((address << 1) | u8::from(read))? {
                    return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
                }
                reading = Some(read);
            }
            match &mut operations[i] {
                Operation::Write(bytes) => {
                    for &byte in bytes.iter() {
                        if !self.write_byte(byte)? {
                            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
                        }
                    }
                }
                Operation::Read(buffer) => {
                    let last = buffer.len().wrapping_sub(1);
                    for (j, byte) in buffer.iter_mut().enumerate() {
                        // The last byte before a STOP or a repeated START
                        // is NACKed: that tells the device to let go of SDA.
                        *byte = self.read_byte(j != last || more_reads)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether bytes are still to be read in the current read phase after
/// these operations' predecessor (empty reads don't count; a write ends the
/// phase).
fn reads_follow(rest: &[Operation<'_>]) -> bool {
    for operation in rest {
        match operation {
            Operation::Read([]) => continue,
            Operation::Read(_) => return true,
            Operation::Write(_) => return false,
        }
    }
    false
}

impl ErrorType for SbconI2c {
    type Error = ErrorKind;
}

impl I2c for SbconI2c {
    /// embedded-hal 1.0 semantics: START and the address before the first
    /// operation, a repeated START and the address between operations of
    /// different directions (none between operations of the same one), the
    /// last byte read before each direction change or the end NACKed, and a
    /// STOP at the end, also after an error (a NACKed address or data byte
    /// is `NoAcknowledge(Address)` / `NoAcknowledge(Data)`). A read with
    /// nothing to read sends just the address. No operations: no bus
    /// traffic. An address above 0x7f: `Other`, no bus traffic.
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address > 0x7f {
            return Err(ErrorKind::Other);
        }
        if operations.is_empty() {
            return Ok(());
        }
        let result = self.operations(address, operations);
        let stopped = self.stop();
        result.and(stopped)
    }
}
