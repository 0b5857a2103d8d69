//! Turning what the user names (a guest crate, a `.wasm`, a `.wat`, a
//! `.cwasm`, or an example name) into a `.cwasm` for this machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use belljar_build::GuestCrate;
use belljar_profile::Target;

/// What the user pointed at.
#[derive(Debug)]
pub enum Source {
    Crate(PathBuf),
    Wasm(PathBuf),
    Cwasm(PathBuf),
}

impl Source {
    /// `blinky` also finds `guests/blinky` below the current directory (and
    /// `c/blinky` the C app `guests/c/blinky`).
    pub fn resolve(arg: &Path) -> Result<Source> {
        let path = if arg.exists() {
            arg.to_path_buf()
        } else {
            let example = Path::new("guests").join(arg);
            let app = |dir: &Path| {
                dir.join("Cargo.toml").is_file() || dir.join(belljar_build::c::MANIFEST).is_file()
            };
            if arg.components().count() <= 2 && app(&example) {
                example
            } else {
                bail!(
                    "{} does not exist (expected a guest crate or C app directory, a .wasm, .wat or .cwasm file)",
                    arg.display()
                );
            }
        };
        if path.is_dir() || is_manifest(&path) {
            return Ok(Source::Crate(path));
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("cwasm") => Ok(Source::Cwasm(path)),
            Some("wasm" | "wat") => Ok(Source::Wasm(path)),
            _ => bail!(
                "{}: expected a guest crate directory, a .wasm, .wat or .cwasm file",
                path.display()
            ),
        }
    }

    /// A short name for timelines: the crate directory or file stem
    /// (`guests/blinky` -> `blinky`, `out/blinky.pulley64.cwasm` -> `blinky`).
    pub fn name(&self) -> String {
        let path = match self {
            Source::Crate(p) | Source::Wasm(p) | Source::Cwasm(p) => p,
        };
        let path = if is_manifest(path) {
            path.parent().unwrap_or(path)
        } else {
            path.as_path()
        };
        let stem = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".to_string());
        stem.split('.').next().unwrap_or(&stem).to_string()
    }

    /// The `.cwasm` bytes for this host's Pulley flavour, building or
    /// precompiling as needed.
    pub fn cwasm(&self) -> Result<Vec<u8>> {
        let target = Target::host();
        match self {
            Source::Crate(dir) => {
                let artifacts = GuestCrate::open(dir)?.build(&[target])?;
                let path = artifacts.cwasm(target).expect("built for the host target");
                read(path)
            }
            Source::Cwasm(path) => read(path),
            Source::Wasm(path) => {
                let component = component_bytes(path)?;
                belljar_build::precompile(&component, target)
                    .with_context(|| format!("cannot precompile {}", path.display()))
            }
        }
    }
}

/// A Rust crate's `Cargo.toml` or a C app's `belljar.toml`.
fn is_manifest(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == "Cargo.toml" || n == belljar_build::c::MANIFEST)
}

/// A `.wasm` or `.wat` file as a component (core modules are encoded).
pub fn component_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    let bytes = if path.extension().is_some_and(|e| e == "wat") {
        wat(&bytes, path)?
    } else {
        bytes
    };
    belljar_build::componentize(&bytes).with_context(|| format!("{}", path.display()))
}

fn wat(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let text =
        std::str::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    wasmtime_wat(text).with_context(|| format!("{} is not valid WebAssembly text", path.display()))
}

fn wasmtime_wat(text: &str) -> Result<Vec<u8>> {
    Ok(wat::parse_str(text)?)
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
