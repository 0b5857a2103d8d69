//! Apps in C (and Zig): a directory with C sources and a `belljar.toml`
//! naming the world.
//!
//! ```toml
//! name = "blinky-c"            # default: the directory's name
//! world = "blinky"             # a world of the WIT contract
//! sources = ["main.c"]
//! wit = "../../../wit"         # default: the contract this belljar carries
//! memory = 6144                # as a Rust app's [package.metadata.belljar]
//! stack = 2048
//! heap = 256                   # the C runtime's allocator arena (bytes)
//!
//! [capabilities]               # as [package.metadata.belljar.capabilities]
//! outputs = [25]
//! ```
//!
//! `belljar build` generates the world's C bindings with wit-bindgen's C
//! generator (`<world>.h`, `<world>.c`, `<world>_component_type.o`), compiles
//! them, the app's sources and belljar's C runtime (`c/belljar_rt.c`: a fixed
//! arena allocator, `cabi_realloc`, the `mem*`/`strlen` functions) with
//! Debian's `clang-14` for wasm32 against wasi-libc's headers only, links
//! them with `wasm-ld-14` (no libc, so no WASI imports), and gives the module
//! belljar's memory: 1-byte pages, `memory` bytes and no declared maximum
//! (as a Rust app's: [`crate::Memory::rustflags`]), the shadow stack first.
//! From there on it is a Rust app's pipeline: wit-component, precompile to
//! Pulley.
//!
//! `.zig` sources are Zig: `zig translate-c` turns the bindings' header into
//! a module the app imports (`@import("blinky")`), `zig build-obj` compiles
//! the app for wasm32 (MVP features), and it is linked with the C bindings
//! and runtime as above. The Zig compiler comes from PyPI's `ziglang`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::{Capabilities, GuestCrate, Kind, Memory};

/// The file that makes a directory a C app.
pub const MANIFEST: &str = "belljar.toml";

/// The runtime every C app links.
const RUNTIME: &str = include_str!("../c/belljar_rt.c");

/// Bytes of the C runtime's arena unless `heap` says otherwise: what the
/// Rust SDK gives apps whose interfaces carry only numbers.
pub const DEFAULT_HEAP: u32 = 256;

/// The WIT contract this belljar carries, for C apps that name no `wit`.
const CONTRACT: &[(&str, &str)] = &[
    ("platform.wit", include_str!("../../../wit/platform.wit")),
    (
        "peripherals.wit",
        include_str!("../../../wit/peripherals.wit"),
    ),
    (
        "deps/wasi-i2c/i2c.wit",
        include_str!("../../../wit/deps/wasi-i2c/i2c.wit"),
    ),
    (
        "deps/wasi-i2c/delay.wit",
        include_str!("../../../wit/deps/wasi-i2c/delay.wit"),
    ),
    (
        "deps/wasi-i2c/world.wit",
        include_str!("../../../wit/deps/wasi-i2c/world.wit"),
    ),
    (
        "deps/wasi-spi/spi.wit",
        include_str!("../../../wit/deps/wasi-spi/spi.wit"),
    ),
    (
        "deps/wasi-spi/world.wit",
        include_str!("../../../wit/deps/wasi-spi/world.wit"),
    ),
];

const INSTALL: &str = "apt install clang-14 lld-14 wasi-libc";

/// `belljar.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: Option<String>,
    world: String,
    sources: Vec<PathBuf>,
    wit: Option<PathBuf>,
    memory: Option<u32>,
    stack: Option<u32>,
    heap: Option<u32>,
    #[serde(default)]
    cflags: Vec<String>,
    capabilities: Option<toml::Value>,
}

/// What a C app is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CApp {
    /// The directory holding `belljar.toml`.
    pub dir: PathBuf,
    pub world: String,
    /// Absolute paths.
    pub sources: Vec<PathBuf>,
    /// The WIT directory, or `None` for the contract belljar carries.
    pub wit: Option<PathBuf>,
    /// Bytes of the runtime's allocator arena.
    pub heap: u32,
    /// Extra flags for the app's own sources.
    pub cflags: Vec<String>,
}

/// Reads a C app's `belljar.toml` (`manifest` is its canonical path).
pub(crate) fn open(manifest: &Path) -> Result<GuestCrate> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let m: Manifest =
        toml::from_str(&text).with_context(|| format!("{} is not valid", manifest.display()))?;
    let dir = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let name = match m.name {
        Some(name) => name,
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("name the app: name = \"...\" in belljar.toml")?,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "{}: app name `{name}` must be letters, digits, `-` and `_`",
            manifest.display()
        );
    }
    if m.sources.is_empty() {
        bail!("{}: `sources` names no C file", manifest.display());
    }
    let sources = m
        .sources
        .iter()
        .map(|s| {
            let path = dir.join(s);
            path.canonicalize().with_context(|| {
                format!(
                    "{}: source {} does not exist",
                    manifest.display(),
                    path.display()
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let wit = m
        .wit
        .map(|w| {
            let path = dir.join(&w);
            path.canonicalize().with_context(|| {
                format!(
                    "{}: wit directory {} does not exist",
                    manifest.display(),
                    path.display()
                )
            })
        })
        .transpose()?;
    let mut memory = Memory::default();
    if let Some(bytes) = m.memory {
        memory.memory = bytes;
    }
    if let Some(bytes) = m.stack {
        memory.stack = bytes;
    }
    let capabilities = m
        .capabilities
        .map(|caps| {
            let json = serde_json::to_value(&caps).context("capabilities in belljar.toml")?;
            Capabilities::parse(&json, "capabilities")
                .with_context(|| manifest.display().to_string())
        })
        .transpose()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_relative() {
                std::env::current_dir().unwrap_or_default().join(t)
            } else {
                t
            }
        })
        .unwrap_or_else(|| dir.join("target"));
    Ok(GuestCrate {
        lib_name: name.replace('-', "_"),
        name,
        manifest: manifest.to_path_buf(),
        target_dir,
        memory,
        capabilities,
        kind: Kind::C(CApp {
            dir,
            world: m.world,
            sources,
            wit,
            heap: m.heap.unwrap_or(DEFAULT_HEAP),
            cflags: m.cflags,
        }),
    })
}

/// The C toolchain: a clang that targets wasm32, wasm-ld, wasi-libc's
/// headers. `BELLJAR_CC`, `BELLJAR_WASM_LD` and `BELLJAR_WASI_INCLUDE`
/// override where they are looked for.
#[derive(Clone, Debug)]
struct Toolchain {
    cc: PathBuf,
    ld: PathBuf,
    include: PathBuf,
}

impl Toolchain {
    fn find() -> Result<Toolchain> {
        let cc = tool("BELLJAR_CC", &["clang-14", "clang"])
            .with_context(|| format!("clang-14 not found: {INSTALL}"))?;
        let ld = tool("BELLJAR_WASM_LD", &["wasm-ld-14", "wasm-ld"])
            .with_context(|| format!("wasm-ld-14 not found: {INSTALL}"))?;
        let candidates: Vec<PathBuf> = match std::env::var_os("BELLJAR_WASI_INCLUDE") {
            Some(dir) => vec![dir.into()],
            None => vec![
                "/usr/include/wasm32-wasi".into(),
                "/usr/share/wasi-sysroot/include".into(),
                "/usr/share/wasi-sysroot/include/wasm32-wasi".into(),
            ],
        };
        let include = candidates
            .into_iter()
            .find(|d| d.join("stdlib.h").is_file())
            .with_context(|| format!("wasi-libc's headers not found: {INSTALL}"))?;
        Ok(Toolchain { cc, ld, include })
    }
}

/// The first of `names` on PATH (or the path in `var`).
fn tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl CApp {
    /// Where the bindings, objects and the core module go.
    pub fn work_dir(&self, krate: &GuestCrate) -> PathBuf {
        krate.target_dir.join("belljar-c").join(&krate.name)
    }

    /// Bindings, compile, link, fix the memory: the core module.
    pub(crate) fn compile(&self, krate: &GuestCrate) -> Result<PathBuf> {
        let tools = Toolchain::find()?;
        let work = self.work_dir(krate);
        let bindings = work.join("bindings");
        // Objects and the raw link are this process's own: another `belljar`
        // (a parallel test) may be building the same app right now. What is
        // shared (bindings, the core module) is written by rename.
        let scratch = Scratch(work.join(format!("obj-{}", std::process::id())));
        let objects = &scratch.0;
        for dir in [&bindings, objects] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let wit = match &self.wit {
            Some(dir) => dir.clone(),
            None => write_contract(&krate.target_dir.join("belljar-c").join("wit"))?,
        };
        let generated = generate_bindings(&wit, &self.world, &bindings)
            .with_context(|| format!("cannot generate C bindings for `{}`", krate.name))?;
        let runtime = work.join("belljar_rt.c");
        crate::write_if_changed(&runtime, RUNTIME.as_bytes())?;

        let mut objs = Vec::new();
        let mut units: Vec<(&Path, Vec<String>)> = vec![
            (generated.c.as_path(), vec![]),
            (runtime.as_path(), vec!["-fno-builtin".to_string()]),
        ];
        let (zig, c): (Vec<&PathBuf>, Vec<&PathBuf>) = self
            .sources
            .iter()
            .partition(|s| s.extension().is_some_and(|e| e == "zig"));
        for source in c {
            units.push((source.as_path(), self.cflags.clone()));
        }
        for (i, (source, extra)) in units.iter().enumerate() {
            let obj = objects.join(format!("{i}-{}.o", stem(source)));
            let out = Command::new(&tools.cc)
                .args(["--target=wasm32-wasi", "-nostdlibinc", "-isystem"])
                .arg(&tools.include)
                .arg("-I")
                .arg(&bindings)
                .arg("-I")
                .arg(&self.dir)
                .args([
                    "-Os",
                    "-std=c11",
                    "-Wall",
                    "-Werror=implicit-function-declaration",
                ])
                .arg(format!("-DBELLJAR_HEAP_SIZE={}", self.heap))
                .args(extra)
                .arg("-c")
                .arg(source)
                .arg("-o")
                .arg(&obj)
                .output()
                .with_context(|| format!("cannot run {}", tools.cc.display()))?;
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                bail!(
                    "C app `{}`: {} failed to compile (clang's errors are above)",
                    krate.name,
                    source.display()
                );
            }
            objs.push(obj);
        }
        if !zig.is_empty() {
            let module = zig_bindings(&generated, &bindings)
                .with_context(|| format!("app `{}`", krate.name))?;
            for (i, source) in zig.into_iter().enumerate() {
                let obj = objects.join(format!("zig{i}-{}.o", stem(source)));
                compile_zig(source, &module, &obj)
                    .with_context(|| format!("app `{}`", krate.name))?;
                objs.push(obj);
            }
        }
        objs.push(generated.component_type.clone());

        let linked = objects.join(format!("{}.linked.wasm", krate.lib_name));
        let memory = krate.memory;
        // wasm-ld 14 knows only 64 KiB pages: link into whole pages, then
        // give the module belljar's memory (`fix_memory`).
        let pages_bytes = u64::from(memory.memory).div_ceil(65536).max(1) * 65536;
        let out = Command::new(&tools.ld)
            .args(["--no-entry", "--stack-first", "--gc-sections"])
            .arg(format!("-zstack-size={}", memory.stack))
            .arg(format!("--initial-memory={pages_bytes}"))
            .arg(format!("--max-memory={pages_bytes}"))
            .arg("--export=__heap_base")
            .args(&objs)
            .arg("-o")
            .arg(&linked)
            .output()
            .with_context(|| format!("cannot run {}", tools.ld.display()))?;
        let errors = String::from_utf8_lossy(&out.stderr);
        eprint!("{errors}");
        if !out.status.success() {
            let hint = if errors.contains("undefined symbol") {
                " C apps link no libc: belljar's runtime has malloc, calloc, realloc, free, \
                 memcpy, memmove, memset, memcmp, strlen and abort, the world's imports \
                 come from the bindings, and nothing else is there"
            } else {
                ""
            };
            bail!(
                "C app `{}` failed to link (wasm-ld's errors are above).{hint}",
                krate.name
            );
        }
        let module =
            std::fs::read(&linked).with_context(|| format!("cannot read {}", linked.display()))?;
        let module =
            fix_memory(&module, memory).with_context(|| format!("C app `{}`", krate.name))?;
        let core = krate.core_wasm_path();
        crate::write_if_changed(&core, &module)?;
        Ok(core)
    }
}

/// A directory removed when the build is over, whichever way it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files wit-bindgen's C generator wrote.
struct Generated {
    c: PathBuf,
    h: PathBuf,
    component_type: PathBuf,
}

/// Generates the C bindings of `world` (in the WIT at `wit`) into `out`.
fn generate_bindings(wit: &Path, world: &str, out: &Path) -> Result<Generated> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_path(wit)?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .with_context(|| {
            let worlds: Vec<&str> = resolve.packages[package]
                .worlds
                .keys()
                .map(String::as_str)
                .collect();
            format!(
                "no world `{world}` in {} (it has {})",
                wit.display(),
                worlds.join(", ")
            )
        })?;
    let mut files = wit_bindgen_core::Files::default();
    let mut generator = wit_bindgen_c::Opts::default().build();
    generator.generate(&mut resolve, world_id, &mut files)?;
    let mut c = None;
    let mut h = None;
    let mut component_type = None;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        crate::write_if_changed(&path, contents)?;
        if name.ends_with("_component_type.o") {
            component_type = Some(path);
        } else if name.ends_with(".c") {
            c = Some(path);
        } else if name.ends_with(".h") {
            h = Some(path);
        }
    }
    Ok(Generated {
        c: c.context("wit-bindgen wrote no .c file")?,
        h: h.context("wit-bindgen wrote no .h file")?,
        component_type: component_type.context("wit-bindgen wrote no component type object")?,
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A Zig app's bindings: the C bindings' header translated by `zig
/// translate-c`. The app imports it as the module named after the header
/// (`@import("blinky")`, `@import("button_led")`, `@import("device")`) and
/// exports the C bindings' `exports_...` functions; the C side of the
/// bindings (imports, the canonical ABI glue) is the C app's.
fn zig_bindings(generated: &Generated, bindings: &Path) -> Result<(String, PathBuf)> {
    let zig = zig()?;
    let name = stem(&generated.h);
    let out = zig
        .command()
        .args(["translate-c", "-target", "wasm32-freestanding", "-I"])
        .arg(bindings)
        .arg(&generated.h)
        .output()
        .with_context(|| format!("cannot run {}", zig.describe()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("zig translate-c failed on {}", generated.h.display());
    }
    let path = bindings.join(format!("{name}.zig"));
    crate::write_if_changed(&path, &out.stdout)?;
    Ok((name, path))
}

/// Compiles a Zig source for wasm32 (MVP features, which lld 14 links).
fn compile_zig(source: &Path, (name, bindings): &(String, PathBuf), obj: &Path) -> Result<()> {
    let zig = zig()?;
    let out = zig
        .command()
        .args([
            "build-obj",
            "-target",
            "wasm32-freestanding",
            "-mcpu=mvp",
            "-O",
            "ReleaseSmall",
            "--dep",
            name,
        ])
        .arg(format!("-Mroot={}", source.display()))
        .arg(format!("-M{name}={}", bindings.display()))
        .arg(format!("-femit-bin={}", obj.display()))
        .output()
        .with_context(|| format!("cannot run {}", zig.describe()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!(
            "{} failed to compile (zig's errors are above)",
            source.display()
        );
    }
    Ok(())
}

/// The Zig compiler: `BELLJAR_ZIG`, `zig` on PATH, or PyPI's `ziglang`
/// package (`python3 -m ziglang`).
struct Zig(Vec<std::ffi::OsString>);

fn zig() -> Result<Zig> {
    if let Some(path) = tool("BELLJAR_ZIG", &["zig"]) {
        return Ok(Zig(vec![path.into()]));
    }
    let python = tool("BELLJAR_PYTHON", &["python3"]);
    if let Some(python) = python {
        let found = Command::new(&python)
            .args(["-m", "ziglang", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return Ok(Zig(vec![python.into(), "-m".into(), "ziglang".into()]));
        }
    }
    bail!("zig not found: pip install ziglang (or put zig on PATH)")
}

impl Zig {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.0[0]);
        command.args(&self.0[1..]);
        command
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn write_contract(dir: &Path) -> Result<PathBuf> {
    for (name, text) in CONTRACT {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        crate::write_if_changed(&path, text.as_bytes())?;
    }
    Ok(dir.to_path_buf())
}

/// Gives a module linked by wasm-ld (64 KiB pages) belljar's memory: 1-byte
/// pages, `memory.memory` bytes, fixed. Checks that the stack, data and the
/// arena fit (`__heap_base`, which the link exported for this and which is
/// dropped here) and that nothing uses `memory.size`/`memory.grow`, whose
/// unit the page size changes.
pub fn fix_memory(module: &[u8], memory: Memory) -> Result<Vec<u8>> {
    use wasmparser::{Operator, Parser, Payload};

    let mut out = wasm_encoder::Module::new();
    let mut globals: Vec<Option<u64>> = Vec::new();
    let mut heap_base = None;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload?;
        match &payload {
            Payload::ImportSection(imports) => {
                for import in imports.clone().into_imports() {
                    let import = import?;
                    match import.ty {
                        wasmparser::TypeRef::Memory(_) => bail!("imports its memory"),
                        wasmparser::TypeRef::Global(_) => globals.push(None),
                        _ => {}
                    }
                }
            }
            Payload::GlobalSection(section) => {
                for global in section.clone() {
                    let global = global?;
                    let mut ops = global.init_expr.get_operators_reader();
                    let value = match ops.read()? {
                        Operator::I32Const { value } => Some(value as u32 as u64),
                        _ => None,
                    };
                    globals.push(value);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if let Operator::MemorySize { .. } | Operator::MemoryGrow { .. } = ops.read()? {
                        bail!(
                            "the code uses memory.size or memory.grow; a belljar app's memory \
                             is fixed (1-byte pages, no growth)"
                        );
                    }
                }
            }
            _ => {}
        }
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::CodeSectionEntry(_) => {}
            Payload::MemorySection(section) => {
                let mut memories = wasm_encoder::MemorySection::new();
                for mem in section {
                    let mem = mem?;
                    if mem.memory64 || mem.shared {
                        bail!("has a 64-bit or shared memory");
                    }
                    memories.memory(wasm_encoder::MemoryType {
                        minimum: u64::from(memory.memory),
                        maximum: None,
                        memory64: false,
                        shared: false,
                        page_size_log2: Some(memory.page_size.trailing_zeros()),
                    });
                }
                out.section(&memories);
            }
            Payload::ExportSection(section) => {
                let mut exports = wasm_encoder::ExportSection::new();
                for export in section {
                    let export = export?;
                    if export.name == "__heap_base" {
                        if export.kind == wasmparser::ExternalKind::Global {
                            heap_base = globals.get(export.index as usize).copied().flatten();
                        }
                        continue;
                    }
                    let kind = match export.kind {
                        wasmparser::ExternalKind::Func => wasm_encoder::ExportKind::Func,
                        wasmparser::ExternalKind::Table => wasm_encoder::ExportKind::Table,
                        wasmparser::ExternalKind::Memory => wasm_encoder::ExportKind::Memory,
                        wasmparser::ExternalKind::Global => wasm_encoder::ExportKind::Global,
                        wasmparser::ExternalKind::Tag => wasm_encoder::ExportKind::Tag,
                        other => bail!("unexpected export kind {other:?}"),
                    };
                    exports.export(export.name, kind, export.index);
                }
                out.section(&exports);
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&wasm_encoder::RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    let heap_base = heap_base.context("the link exported no __heap_base")?;
    if heap_base > u64::from(memory.memory) {
        bail!(
            "needs {heap_base} bytes of memory (a {} byte stack, then data and the runtime's \
             arena) but has {}: raise `memory` (or lower `stack` or `heap`) in belljar.toml",
            memory.stack,
            memory.memory
        );
    }
    Ok(out.finish())
}
