//! The guest pipeline behind `belljar build`:
//! guest crate --cargo--> core wasm --wit-component--> component
//! --Wasmtime (belljar profile)--> Pulley `.cwasm` for pulley32 and/or pulley64.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use belljar_profile::Target;

pub use belljar_profile;

pub mod c;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Guest memory defaults. A guest crate may override them:
/// ```toml
/// [package.metadata.belljar]
/// memory = 32768      # bytes of linear memory (the app's whole budget)
/// stack = 8192        # bytes of shadow stack, inside that memory
/// ```
pub const DEFAULT_MEMORY: u32 = 16 * 1024;
pub const DEFAULT_STACK: u32 = 4 * 1024;

/// Memory settings of a guest, linked with 1-byte pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    pub memory: u32,
    pub stack: u32,
    /// WebAssembly page size: 1 (belljar's default) or 65536 (the classic
    /// page, only for comparisons).
    pub page_size: u32,
    /// Declare `memory` as the maximum too (only for comparisons: belljar
    /// apps declare none, see [`Memory::rustflags`]).
    pub declare_maximum: bool,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            memory: DEFAULT_MEMORY,
            stack: DEFAULT_STACK,
            page_size: 1,
            declare_maximum: false,
        }
    }
}

impl Memory {
    /// The rustc flags that give the guest this memory: 1-byte pages,
    /// `memory` bytes from the start, and the shadow stack size.
    ///
    /// The module declares no maximum. Wasmtime 48 compiles each access to a
    /// memory whose minimum equals its maximum against a constant bound,
    /// which Pulley cannot fuse: compare, select a null address, then a load
    /// that traps on null. With a bound read at run time every access is one
    /// of Pulley's bounds-checked loads or stores (`*_g32`). Growth stays
    /// bounded by the host: the app's signed package asks for `memory` bytes
    /// and the device's resource limiter refuses more (`belljar run` of a
    /// crate does the same), and the SDK's allocator never grows the memory.
    pub fn rustflags(&self) -> Vec<String> {
        [
            format!("--page-size={}", self.page_size),
            format!("-zstack-size={}", self.stack),
            format!("--initial-memory={}", self.memory),
        ]
        .into_iter()
        .chain(
            self.declare_maximum
                .then(|| format!("--max-memory={}", self.memory)),
        )
        .map(|arg| format!("-Clink-arg={arg}"))
        .collect()
    }
}

/// What `belljar build` produced for one guest crate.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub name: String,
    pub core_wasm: PathBuf,
    pub component: PathBuf,
    pub cwasm: Vec<(Target, PathBuf)>,
}

impl Artifacts {
    pub fn cwasm(&self, target: Target) -> Option<&Path> {
        self.cwasm
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, p)| p.as_path())
    }
}

/// A guest crate, as cargo describes it.
#[derive(Clone, Debug)]
pub struct GuestCrate {
    pub name: String,
    /// The library target's name (dashes become underscores).
    pub lib_name: String,
    pub manifest: PathBuf,
    pub target_dir: PathBuf,
    pub memory: Memory,
    /// What the app declares it touches, if it does:
    /// `[package.metadata.belljar.capabilities]` (`[capabilities]` in a C
    /// app's `belljar.toml`).
    pub capabilities: Option<Capabilities>,
    /// What the app is written in.
    pub kind: Kind,
}

/// The language of an app, and what building it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A cargo crate (`manifest` is its `Cargo.toml`).
    Rust,
    /// C sources and a `belljar.toml` (`manifest`): see [`c`].
    C(c::CApp),
}

/// What an app declares it touches (`[package.metadata.belljar.capabilities]`):
/// `belljar run` gives it exactly these (so a local run fails as a device
/// would), `belljar sign` puts them in the package.
///
/// ```toml
/// [package.metadata.belljar.capabilities]
/// outputs = [25]          # gpio, servo, pwm
/// inputs = [15]           # button, digital
/// analog = [26]           # ADC channels
/// i2c = ["i2c0:0x48"]     # bus:address
/// spi = ["display0"]      # SPI devices by board name
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub outputs: Vec<u32>,
    pub inputs: Vec<u32>,
    pub analog: Vec<u32>,
    pub i2c: Vec<String>,
    pub spi: Vec<String>,
}

impl Capabilities {
    /// Reads the capabilities table found at `place` (named in errors).
    pub fn parse(value: &serde_json::Value, place: &str) -> Result<Capabilities> {
        let table = value
            .as_object()
            .with_context(|| format!("{place} must be a table"))?;
        let mut caps = Capabilities::default();
        for (key, value) in table {
            let items = value
                .as_array()
                .with_context(|| format!("{place}.{key} must be a list"))?;
            let numbers = || -> Result<Vec<u32>> {
                items
                    .iter()
                    .map(|v| {
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .with_context(|| {
                                format!("{place}.{key}: `{v}` is not a pin or channel number")
                            })
                    })
                    .collect()
            };
            let names = || -> Result<Vec<String>> {
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .with_context(|| format!("{place}.{key}: `{v}` is not a string"))
                    })
                    .collect()
            };
            match key.as_str() {
                "outputs" => caps.outputs = numbers()?,
                "inputs" => caps.inputs = numbers()?,
                "analog" => caps.analog = numbers()?,
                "i2c" => caps.i2c = names()?,
                "spi" => caps.spi = names()?,
                other => bail!(
                    "unknown key `{other}` in {place} (it takes outputs, inputs, analog, i2c and spi)"
                ),
            }
        }
        Ok(caps)
    }
}

impl GuestCrate {
    /// Reads the crate at `dir` (or its `Cargo.toml`) with `cargo metadata`,
    /// which also resolves the target directory (`CARGO_TARGET_DIR`, workspace).
    /// A directory with a `belljar.toml` (or that file) is a C app.
    pub fn open(path: &Path) -> Result<GuestCrate> {
        let c_manifest = if path.is_dir() {
            path.join(c::MANIFEST)
        } else {
            path.to_path_buf()
        };
        if c_manifest.file_name().is_some_and(|n| n == c::MANIFEST) && c_manifest.is_file() {
            let manifest = c_manifest
                .canonicalize()
                .with_context(|| format!("cannot read {}", c_manifest.display()))?;
            let app = c::open(&manifest)?;
            app.check_memory()?;
            return Ok(app);
        }
        let manifest = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.to_path_buf()
        };
        if !manifest.is_file() {
            bail!(
                "{} is not a guest crate: no Cargo.toml there (nor a {} for a C or Zig app)",
                path.display(),
                c::MANIFEST
            );
        }
        let manifest = manifest
            .canonicalize()
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(&manifest)
            .no_deps()
            .exec()
            .with_context(|| format!("`cargo metadata` failed for {}", manifest.display()))?;
        let package = metadata
            .packages
            .iter()
            .find(|p| p.manifest_path.as_std_path() == manifest)
            .with_context(|| format!("{} defines no package", manifest.display()))?;
        let lib = package
            .targets
            .iter()
            .find(|t| t.kind.iter().any(|k| k.to_string() == "cdylib"))
            .with_context(|| {
                format!(
                    "guest crate `{}` has no cdylib library; add `[lib] crate-type = [\"cdylib\"]` to its Cargo.toml",
                    package.name
                )
            })?;
        let mut memory = Memory::default();
        let mut capabilities = None;
        if let Some(settings) = package.metadata.get("belljar") {
            if let Some(caps) = settings.get("capabilities") {
                capabilities = Some(Capabilities::parse(
                    caps,
                    "package.metadata.belljar.capabilities",
                )?);
            }
            if let Some(m) = settings.get("memory").and_then(|v| v.as_u64()) {
                memory.memory =
                    u32::try_from(m).context("package.metadata.belljar.memory is too large")?;
            }
            if let Some(s) = settings.get("stack").and_then(|v| v.as_u64()) {
                memory.stack =
                    u32::try_from(s).context("package.metadata.belljar.stack is too large")?;
            }
        }
        let krate = GuestCrate {
            name: package.name.to_string(),
            lib_name: lib.name.replace('-', "_"),
            manifest,
            target_dir: metadata.target_directory.into_std_path_buf(),
            capabilities,
            memory,
            kind: Kind::Rust,
        };
        krate.check_memory()?;
        Ok(krate)
    }

    fn check_memory(&self) -> Result<()> {
        if self.memory.stack >= self.memory.memory {
            bail!(
                "guest `{}`: stack ({} bytes) must be smaller than memory ({} bytes)",
                self.name,
                self.memory.stack,
                self.memory.memory
            );
        }
        Ok(())
    }

    /// Where the core module lands after `cargo build` (or, for a C app,
    /// after the link).
    pub fn core_wasm_path(&self) -> PathBuf {
        match &self.kind {
            Kind::Rust => self
                .target_dir
                .join(WASM_TARGET)
                .join("release")
                .join(format!("{}.wasm", self.lib_name)),
            Kind::C(app) => app.work_dir(self).join(format!("{}.wasm", self.lib_name)),
        }
    }

    /// Where belljar writes the component and `.cwasm` files.
    pub fn out_dir(&self) -> PathBuf {
        self.target_dir.join("belljar")
    }

    /// Compiles the crate for wasm32 with belljar's memory flags. The caller's
    /// RUSTFLAGS never reach the guest (they are meant for the host build).
    pub fn compile(&self) -> Result<PathBuf> {
        if let Kind::C(app) = &self.kind {
            return app.compile(self);
        }
        ensure_wasm_target(self.manifest.parent().unwrap_or(Path::new(".")))?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .arg("build")
            .arg("--release")
            .arg("--lib")
            .arg("--target")
            .arg(WASM_TARGET)
            .arg("--manifest-path")
            .arg(&self.manifest)
            .arg("--target-dir")
            .arg(&self.target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS")
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                self.memory.rustflags().join("\x1f"),
            )
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!(
                "guest crate `{}` failed to compile (cargo's errors are above)",
                self.name
            );
        }
        let wasm = self.core_wasm_path();
        if !wasm.is_file() {
            bail!(
                "cargo built `{}` but {} is missing",
                self.name,
                wasm.display()
            );
        }
        Ok(wasm)
    }

    /// The whole pipeline: compile, encode the component, precompile for
    /// `targets`. Artifacts are written to `<target-dir>/belljar/`.
    pub fn build(&self, targets: &[Target]) -> Result<Artifacts> {
        let core_wasm = self.compile()?;
        let module = std::fs::read(&core_wasm)
            .with_context(|| format!("cannot read {}", core_wasm.display()))?;
        let component = componentize(&module)
            .with_context(|| format!("cannot turn `{}` into a component", self.name))?;
        let out = self.out_dir();
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let component_path = out.join(format!("{}.wasm", self.name));
        write_if_changed(&component_path, &component)?;
        let mut cwasm = Vec::new();
        for &target in targets {
            let bytes = precompile(&component, target)
                .with_context(|| format!("cannot precompile `{}` for {target}", self.name))?;
            let path = out.join(format!("{}.{target}.cwasm", self.name));
            write_if_changed(&path, &bytes)?;
            cwasm.push((target, path));
        }
        Ok(Artifacts {
            name: self.name.clone(),
            core_wasm,
            component: component_path,
            cwasm,
        })
    }
}

/// Fails with the exact command to run when the wasm32 target is missing from
/// the toolchain that will build the guest.
fn ensure_wasm_target(dir: &Path) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .context("cannot run rustc; is Rust installed (https://rustup.rs)?")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        bail!(
            "the Rust target {WASM_TARGET} is not installed; run: rustup target add {WASM_TARGET}"
        );
    }
    Ok(())
}

pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    // Write beside and rename: another `belljar` building the same guest may
    // be reading this file right now, and must never see half of it.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Wraps a core module (with wit-bindgen's component-type section) into a
/// component. A component is returned unchanged.
pub fn componentize(wasm: &[u8]) -> Result<Vec<u8>> {
    if wasmparser::Parser::is_component(wasm) {
        return Ok(wasm.to_vec());
    }
    if !wasmparser::Parser::is_core_wasm(wasm) {
        bail!("not a WebAssembly module or component");
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)?
        .encode()
        .context("is the module built with wit-bindgen? it needs its WIT world embedded")
}

/// Compiles a component to Pulley bytecode with the belljar engine profile.
pub fn precompile(component: &[u8], target: Target) -> Result<Vec<u8>> {
    let engine = belljar_profile::engine(target)?;
    strip_symbols(&engine.precompile_component(component)?)
}

/// Drops the ELF symbol table Wasmtime writes into a `.cwasm` (a name for
/// every compiled function and trampoline, for native debuggers and
/// profilers): loading never reads it, and it is a fifth of a small app's
/// artifact. Guest backtraces keep their names: they come from the wasm name
/// section (`.name.wasm`), which stays.
fn strip_symbols(cwasm: &[u8]) -> Result<Vec<u8>> {
    let mut elf = object::build::elf::Builder::read(cwasm)?;
    for symbol in elf.symbols.iter_mut() {
        symbol.delete = true;
    }
    for section in elf.sections.iter_mut() {
        if matches!(&*section.name, b".symtab" | b".strtab") {
            section.delete = true;
        }
    }
    let mut out = Vec::with_capacity(cwasm.len());
    elf.write(&mut out)?;
    Ok(out)
}
