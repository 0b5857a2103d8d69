//! The belljar app package (`.bjpkg`): what may reach `deserialize_raw`.
//!
//! ```text
//! "BJPK" | format u16 LE | header length u32 LE | header (postcard) | payload (.cwasm) | Ed25519 signature (64)
//! ```
//!
//! The signature covers everything before it. The header names the target,
//! the Wasmtime artifact version and engine profile the payload was built
//! for, the app, its monotonically increasing version, the capabilities it
//! asks for, and the payload's length and SHA-256. [`verify`] checks all of
//! it against the device's engine and installed version before a single
//! payload byte is trusted. `no_std` + `alloc`: the same code runs on the
//! device and in the CLI.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use belljar_profile::Target;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ed25519_dalek;

pub const MAGIC: [u8; 4] = *b"BJPK";
/// 2: capabilities list I2C devices, SPI devices and analog channels.
pub const FORMAT: u16 = 2;
const PREFIX: usize = 4 + 2 + 4;
pub const SIGNATURE_LEN: usize = 64;
/// Largest header accepted (a header is a few hundred bytes).
pub const MAX_HEADER: usize = 4096;

/// What an app may touch; the host enforces it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Interfaces it may import, e.g. `embedded:platform/gpio`.
    pub interfaces: Vec<String>,
    /// Pins it may drive (gpio, servo).
    pub outputs: Vec<u32>,
    /// Pins it may read (button, digital).
    pub inputs: Vec<u32>,
    /// ADC channels it may read (analog).
    pub analog: Vec<u32>,
    /// I2C devices it may address: bus name and 7-bit address.
    pub i2c: Vec<(String, u16)>,
    /// SPI devices it may open, by board name.
    pub spi: Vec<String>,
    /// The linear memory it asks for (bytes); the device gives it at most
    /// its own per-app limit.
    pub memory: Option<u32>,
}

/// The signed description of a payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `pulley32` or `pulley64`.
    pub target: String,
    /// The Wasmtime artifact version stamped in the payload.
    pub wasmtime: String,
    /// `belljar_profile::PROFILE_VERSION` at build time.
    pub profile: u32,
    /// The WIT world the app targets (e.g. `blinky`).
    pub world: String,
    pub app: String,
    /// Must not go down across updates (anti-rollback).
    pub version: u32,
    pub capabilities: Capabilities,
    pub payload_len: u32,
    pub payload_sha256: [u8; 32],
}

impl Header {
    /// A header for `payload` built with this belljar's profile.
    pub fn for_payload(
        target: Target,
        world: &str,
        app: &str,
        version: u32,
        payload: &[u8],
    ) -> Header {
        Header {
            target: target.triple().into(),
            wasmtime: belljar_profile::ARTIFACT_VERSION.into(),
            profile: belljar_profile::PROFILE_VERSION,
            world: world.into(),
            app: app.into(),
            version,
            capabilities: Capabilities::default(),
            payload_len: payload.len() as u32,
            payload_sha256: Sha256::digest(payload).into(),
        }
    }
}

/// Why a package is refused. Nothing is loaded in any of these cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Truncated,
    BadMagic,
    UnsupportedFormat(u16),
    Oversize {
        len: usize,
        max: usize,
    },
    BadHeader,
    /// Not signed by the key this device trusts (or altered after signing).
    BadSignature,
    /// Payload altered or cut (the header's hash or length disagrees).
    PayloadMismatch,
    WrongTarget {
        package: String,
        device: Target,
    },
    WrongWasmtime {
        package: String,
    },
    WrongProfile {
        package: u32,
    },
    /// Older than what is installed; refused unless downgrades are allowed.
    Downgrade {
        installed: u32,
        offered: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("package truncated"),
            Error::BadMagic => f.write_str("not a belljar package (bad magic)"),
            Error::UnsupportedFormat(v) => write!(
                f,
                "package format {v} is not supported (this belljar reads format {FORMAT})"
            ),
            Error::Oversize { len, max } => write!(
                f,
                "package of {len} bytes is larger than the {max} bytes allowed"
            ),
            Error::BadHeader => f.write_str("package header is corrupt"),
            Error::BadSignature => f.write_str(
                "signature does not verify against the trusted key (wrong key or tampered package)",
            ),
            Error::PayloadMismatch => {
                f.write_str("payload does not match the signed hash (tampered or corrupt)")
            }
            Error::WrongTarget { package, device } => {
                write!(f, "package is for {package}, this device runs {device}")
            }
            Error::WrongWasmtime { package } => write!(
                f,
                "package was built by Wasmtime {package}, this device runs {}; rebuild it",
                belljar_profile::ARTIFACT_VERSION
            ),
            Error::WrongProfile { package } => write!(
                f,
                "package was built with engine profile v{package}, this device uses v{}; rebuild it",
                belljar_profile::PROFILE_VERSION
            ),
            Error::Downgrade { installed, offered } => {
                write!(
                    f,
                    "version {offered} is older than the installed version {installed} (anti-rollback)"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

/// Builds and signs a package.
pub fn sign(header: &Header, payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let header_bytes = postcard::to_allocvec(header).expect("a header always serializes");
    let mut out = Vec::with_capacity(PREFIX + header_bytes.len() + payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(payload);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// A package taken apart without any check but its framing (for `inspect`).
pub struct Parts<'a> {
    pub header: Header,
    pub payload: &'a [u8],
    signed: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

/// Splits a package into its parts.
pub fn parse(bytes: &[u8]) -> Result<Parts<'_>, Error> {
    if bytes.len() < PREFIX + SIGNATURE_LEN {
        return Err(if bytes.starts_with(&MAGIC[..bytes.len().min(4)]) {
            Error::Truncated
        } else {
            Error::BadMagic
        });
    }
    if bytes[..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    let format = u16::from_le_bytes([bytes[4], bytes[5]]);
    if format != FORMAT {
        return Err(Error::UnsupportedFormat(format));
    }
    let header_len = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    if header_len > MAX_HEADER {
        return Err(Error::BadHeader);
    }
    let (signed, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let header_bytes = signed
        .get(PREFIX..PREFIX + header_len)
        .ok_or(Error::Truncated)?;
    let header: Header = postcard::from_bytes(header_bytes).map_err(|_| Error::BadHeader)?;
    let payload = &signed[PREFIX + header_len..];
    Ok(Parts {
        header,
        payload,
        signed,
        signature: signature.try_into().expect("64 bytes"),
    })
}

/// What the device requires of a package.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    pub key: &'a VerifyingKey,
    pub target: Target,
    /// The installed app's version, if any.
    pub installed: Option<u32>,
    /// Development override of anti-rollback.
    pub allow_downgrade: bool,
    pub max_len: usize,
}

/// A package that passed every check: its payload may be deserialized.
pub struct Verified<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

/// Checks a package: size, framing, signature, payload hash and length,
/// target, Wasmtime version, engine profile, anti-rollback.
pub fn verify<'a>(bytes: &'a [u8], policy: &Policy<'_>) -> Result<Verified<'a>, Error> {
    if bytes.len() > policy.max_len {
        return Err(Error::Oversize {
            len: bytes.len(),
            max: policy.max_len,
        });
    }
    let parts = parse(bytes)?;
    let signature = Signature::from_bytes(parts.signature);
    policy
        .key
        .verify(parts.signed, &signature)
        .map_err(|_| Error::BadSignature)?;
    let header = parts.header;
    if parts.payload.len() != header.payload_len as usize
        || Sha256::digest(parts.payload).as_slice() != header.payload_sha256
    {
        return Err(Error::PayloadMismatch);
    }
    if Target::from_triple(&header.target) != Some(policy.target) {
        return Err(Error::WrongTarget {
            package: header.target,
            device: policy.target,
        });
    }
    if header.wasmtime != belljar_profile::ARTIFACT_VERSION {
        return Err(Error::WrongWasmtime {
            package: header.wasmtime,
        });
    }
    if header.profile != belljar_profile::PROFILE_VERSION {
        return Err(Error::WrongProfile {
            package: header.profile,
        });
    }
    if let Some(installed) = policy.installed
        && header.version < installed
        && !policy.allow_downgrade
    {
        return Err(Error::Downgrade {
            installed,
            offered: header.version,
        });
    }
    Ok(Verified {
        header,
        payload: parts.payload,
    })
}
