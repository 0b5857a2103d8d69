//! What a precompiled `.cwasm` says about itself, read without loading it, so
//! that a wrong artifact gets a message that says how to rebuild it instead of
//! a Wasmtime internal error.

use core::fmt;

use belljar_profile::Target;
use object::Endianness;
use object::elf::FileHeader64;
use object::read::elf::{FileHeader, SectionHeader};

// Wasmtime's ELF conventions for precompiled artifacts (wasmtime-environ `obj`).
const EF_WASMTIME_MODULE: u32 = 1 << 0;
const EF_WASMTIME_COMPONENT: u32 = 1 << 1;
const EF_WASMTIME_PULLEY32: u32 = 1 << 2;
const EF_WASMTIME_PULLEY64: u32 = 1 << 3;
const ENGINE_SECTION: &[u8] = b".wasmtime.engine";

/// A precompiled Wasmtime artifact's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub kind: Kind,
    /// `None` when compiled for native code rather than Pulley.
    pub target: Option<Target>,
    /// The Wasmtime version that produced it.
    pub wasmtime_version: &'a str,
    /// The target triple recorded by the compiler (`pulley32`, `x86_64-...`).
    pub triple: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Module,
    Component,
}

/// Why bytes are not a usable precompiled artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAnArtifact {
    NotElf,
    NotWasmtime,
    Truncated,
    NoEngineSection,
    BadEngineSection,
}

impl fmt::Display for NotAnArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAnArtifact::NotElf => "not a precompiled Wasmtime artifact (.cwasm): no ELF header",
            NotAnArtifact::NotWasmtime => "an ELF file, but not one produced by Wasmtime",
            NotAnArtifact::Truncated => "a truncated or corrupt Wasmtime artifact",
            NotAnArtifact::NoEngineSection => "a Wasmtime artifact without its engine section",
            NotAnArtifact::BadEngineSection => "a Wasmtime artifact with a corrupt engine section",
        })
    }
}

impl core::error::Error for NotAnArtifact {}

/// Reads the header of a `.cwasm`.
pub fn header(bytes: &[u8]) -> Result<Header<'_>, NotAnArtifact> {
    let elf = FileHeader64::<Endianness>::parse(bytes).map_err(|_| NotAnArtifact::NotElf)?;
    let endian = elf.endian().map_err(|_| NotAnArtifact::NotElf)?;
    let flags = elf.e_flags(endian);
    let kind = if flags & EF_WASMTIME_COMPONENT != 0 {
        Kind::Component
    } else if flags & EF_WASMTIME_MODULE != 0 {
        Kind::Module
    } else {
        return Err(NotAnArtifact::NotWasmtime);
    };
    let target = if flags & EF_WASMTIME_PULLEY32 != 0 {
        Some(Target::Pulley32)
    } else if flags & EF_WASMTIME_PULLEY64 != 0 {
        Some(Target::Pulley64)
    } else {
        None
    };
    let sections = elf
        .sections(endian, bytes)
        .map_err(|_| NotAnArtifact::Truncated)?;
    let section = sections
        .iter()
        .find(|s| sections.section_name(endian, s).ok() == Some(ENGINE_SECTION))
        .ok_or(NotAnArtifact::NoEngineSection)?;
    let data = section
        .data(endian, bytes)
        .map_err(|_| NotAnArtifact::BadEngineSection)?;
    // Layout: format byte (0), version length byte, version, then the
    // postcard-encoded metadata whose first field is the target triple.
    let bad = NotAnArtifact::BadEngineSection;
    let (&format, rest) = data.split_first().ok_or(bad)?;
    if format != 0 {
        return Err(bad);
    }
    let (&len, rest) = rest.split_first().ok_or(bad)?;
    let version = rest.get(..usize::from(len)).ok_or(bad)?;
    let rest = &rest[usize::from(len)..];
    let (triple_len, rest) = varint(rest).ok_or(bad)?;
    let triple = rest.get(..triple_len).ok_or(bad)?;
    Ok(Header {
        kind,
        target,
        wasmtime_version: core::str::from_utf8(version).map_err(|_| bad)?,
        triple: core::str::from_utf8(triple).map_err(|_| bad)?,
    })
}

/// A postcard (LEB128) length prefix.
fn varint(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut value = 0usize;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}
