//! `belljar qemu`: guests on real firmware in QEMU. Builds the guests for
//! pulley32, builds a board's firmware (`firmware/boards/<crate>`) around
//! them, boots it in QEMU and reports the firmware's console output and exit
//! status. The boards are in [`BOARDS`]: QEMU's mps2-an505 (a Cortex-M33,
//! the default) and QEMU's virt machine with a 32-bit RISC-V core.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use belljar_build::GuestCrate;
use belljar_profile::Target;
use belljar_sim::devices::{I2cModel, I2cSpec};

/// The Cortex-M33 boards' Rust target.
pub const THUMB: &str = "thumbv8m.main-none-eabihf";

/// A board `belljar qemu` builds firmware for and boots.
#[derive(Debug)]
pub struct QemuBoard {
    /// What `belljar qemu --board` takes.
    pub name: &'static str,
    /// The firmware crate (`firmware/boards/<krate>`).
    pub krate: &'static str,
    /// The Rust target the firmware is built for.
    pub target: &'static str,
    /// The QEMU system emulator, and the Debian package that has it.
    pub qemu: &'static str,
    pub package: &'static str,
    /// The machine and CPU.
    pub machine: &'static [&'static str],
    /// The console (the first UART) on stdio, for [`boot`].
    pub console: &'static [&'static str],
    /// What else the firmware needs to end QEMU with its status.
    pub exit: &'static [&'static str],
    /// The console and the update link (the second serial port) on a local
    /// TCP port, for [`LiveBoard`].
    pub live_serials: fn(u16) -> Vec<String>,
    /// QEMU puts `-device` I2C models on a bus the firmware drives (`i2c0`).
    pub i2c: bool,
}

/// QEMU's mps2-an505 (Cortex-M33): UART0 the console, UART1 the update
/// link, semihosting to exit, Shield-1 SBCon I2C.
pub const MPS2_AN505: QemuBoard = QemuBoard {
    name: "mps2-an505",
    krate: "qemu-mps2-an505",
    target: THUMB,
    qemu: "qemu-system-arm",
    package: "qemu-system-arm",
    machine: &["-M", "mps2-an505", "-cpu", "cortex-m33"],
    console: &["-nographic"],
    exit: &["-semihosting-config", "enable=on,target=native"],
    live_serials: |port| {
        [
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-serial",
            &format!("tcp:127.0.0.1:{port},server=on,wait=off"),
        ]
        .map(String::from)
        .to_vec()
    },
    i2c: true,
};

/// QEMU's virt machine with a 32-bit RISC-V core (RV32IMAC: F and D off),
/// in machine mode without OpenSBI: the NS16550A the console, a
/// `pci-serial` (a 16550 on the PCIe bus, slot 1) the update link (virt
/// has one UART of its own), the SiFive test device to exit.
pub const RISCV32_VIRT: QemuBoard = QemuBoard {
    name: "riscv32-virt",
    krate: "qemu-riscv32-virt",
    target: "riscv32imac-unknown-none-elf",
    qemu: "qemu-system-riscv32",
    package: "qemu-system-misc",
    machine: &[
        "-M",
        "virt",
        "-cpu",
        "rv32,f=false,d=false",
        "-bios",
        "none",
    ],
    console: &["-nographic", "-monitor", "none", "-serial", "stdio"],
    exit: &[],
    live_serials: |port| {
        [
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-chardev",
            &format!("socket,id=link,host=127.0.0.1,port={port},server=on,wait=off"),
            "-device",
            "pci-serial,chardev=link,addr=1",
        ]
        .map(String::from)
        .to_vec()
    },
    i2c: false,
};

/// Every board `belljar qemu` knows; the first is the default.
pub const BOARDS: &[&QemuBoard] = &[&MPS2_AN505, &RISCV32_VIRT];

impl QemuBoard {
    /// The board called `name` (its `--board` name or its crate's name).
    pub fn named(name: &str) -> Result<&'static QemuBoard> {
        BOARDS
            .iter()
            .copied()
            .find(|b| b.name == name || b.krate == name)
            .with_context(|| {
                let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
                format!(
                    "there is no QEMU board `{name}`; the boards are: {}",
                    names.join(", ")
                )
            })
    }
}

/// The firmware sources (this tool runs from a belljar checkout).
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware")
}

/// Settings baked into the firmware at build time.
#[derive(Clone, Debug)]
pub struct FirmwareSettings {
    pub for_ms: Option<u64>,
    /// `PIN@START..END` scripts.
    pub presses: Vec<String>,
    /// Stop a guest waiting for UART input after this much silence.
    pub uart_idle_ms: Option<u64>,
    pub watchdog_fuel: Option<u64>,
    pub total_fuel: Option<u64>,
    pub trace: bool,
    /// Pulley stack per guest (bytes).
    pub wasm_stack: Option<u64>,
    /// Copy the artifact into RAM instead of running it from flash.
    pub copy_artifact: bool,
    /// RAM given to the firmware and the heap inside it (bytes).
    pub ram: Option<u64>,
    pub heap: Option<u64>,
    /// Print a firmware heartbeat line at this period.
    pub heartbeat_ms: Option<u64>,
    /// Native (fiber) stack per running guest (bytes).
    pub fiber_stack: Option<u64>,
    /// Probe s16-s31 across guest polls (`fp probe:` line).
    pub fp_probe: bool,
    /// Keep guest fibers' FP registers their own (on unless a test shows
    /// the bug without it).
    pub fp_isolation: bool,
    /// Supervisor mode: the public key (`belljar keygen` .pub) the device
    /// trusts; apps come from its flash slots and updates over UART1.
    pub pubkey: Option<PathBuf>,
    /// Supervisor mode: the signed package installed at first boot.
    pub initial: Option<PathBuf>,
    /// Extra `cargo --config` values for the firmware build (benchmarks:
    /// e.g. `profile.release.package.pulley-interpreter.opt-level=3`).
    pub cargo_config: Vec<String>,
}

impl Default for FirmwareSettings {
    fn default() -> Self {
        FirmwareSettings {
            for_ms: None,
            presses: Vec::new(),
            uart_idle_ms: None,
            watchdog_fuel: None,
            total_fuel: None,
            trace: false,
            wasm_stack: None,
            copy_artifact: false,
            ram: None,
            heap: None,
            heartbeat_ms: None,
            fiber_stack: None,
            fp_probe: false,
            fp_isolation: true,
            pubkey: None,
            initial: None,
            cargo_config: Vec::new(),
        }
    }
}

/// What the board did.
#[derive(Debug)]
pub struct QemuOutcome {
    /// Firmware exit status (semihosting): 0 clean stop, 1 guest trap or
    /// load error.
    pub status: i32,
    /// Everything the firmware printed on its console (the first UART).
    pub console: String,
}

/// Builds the guest crate at `guest` for pulley32 and returns the `.cwasm`.
pub fn build_guest(guest: &Path) -> Result<PathBuf> {
    let artifacts = GuestCrate::open(guest)?.build(&[Target::Pulley32])?;
    Ok(artifacts
        .cwasm(Target::Pulley32)
        .expect("built for pulley32")
        .to_path_buf())
}

/// Builds the default QEMU board's firmware (mps2-an505) embedding `cwasms`
/// (each runs as its own app, side by side); returns the ELF.
pub fn build_firmware(cwasms: &[&Path], settings: &FirmwareSettings) -> Result<PathBuf> {
    build_firmware_for(&MPS2_AN505, cwasms, settings)
}

/// Builds `board`'s firmware embedding `cwasms`; returns the ELF.
pub fn build_firmware_for(
    board: &QemuBoard,
    cwasms: &[&Path],
    settings: &FirmwareSettings,
) -> Result<PathBuf> {
    build_crate(board.krate, board.target, cwasms, settings)
}

/// Builds the firmware of `board` (a crate in `firmware/boards/`, for the
/// Cortex-M33 target) embedding `cwasms`; returns the ELF.
pub fn build_board(board: &str, cwasms: &[&Path], settings: &FirmwareSettings) -> Result<PathBuf> {
    build_crate(board, THUMB, cwasms, settings)
}

/// Builds the firmware of `board` (a crate in `firmware/boards/`) for the
/// Rust target `target` (e.g. `thumbv7em-none-eabihf` for the nRF52840)
/// embedding `cwasms`; returns the ELF.
pub fn build_board_for_target(
    board: &str,
    target: &str,
    cwasms: &[&Path],
    settings: &FirmwareSettings,
) -> Result<PathBuf> {
    build_crate(board, target, cwasms, settings)
}

/// Builds firmware crate `board` for `target` embedding `cwasms`; returns
/// the ELF. Within one process a build with the same board, guests and
/// settings is done once (the sources do not change under a running test).
fn build_crate(
    board: &str,
    target: &str,
    cwasms: &[&Path],
    settings: &FirmwareSettings,
) -> Result<PathBuf> {
    let guests = cwasms
        .iter()
        .map(|p| {
            p.canonicalize()
                .with_context(|| format!("the guest .cwasm {} is missing", p.display()))
                .map(|p| p.display().to_string())
        })
        .collect::<Result<Vec<_>>>()?
        .join(",");
    let dir = firmware_dir();
    ensure_target(target)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir).args(["build", "--release"]);
    // A board that is a workspace of its own is its workspace's one package
    // (`-p esp32c6` would be ambiguous there: esp-hal's PAC has that name).
    match own_workspace(&dir, board) {
        Some(manifest) => cmd.args(["--manifest-path", &manifest]),
        None => cmd.args(["-p", board]),
    };
    cmd.args(["--target", target, "--target-dir"])
        .arg(&target_dir)
        .args(["--config", &remapped_paths(target, &dir)])
        .args(settings.cargo_config.iter().flat_map(|c| ["--config", c]))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env("BELLJAR_GUEST", &guests)
        .env("BELLJAR_TRACE", if settings.trace { "1" } else { "0" });
    let path = |p: &Option<PathBuf>| -> Result<Option<String>> {
        p.as_ref()
            .map(|p| {
                p.canonicalize()
                    .with_context(|| format!("{} is missing", p.display()))
                    .map(|p| p.display().to_string())
            })
            .transpose()
    };
    let number = |v: Option<u64>| v.map(|v| v.to_string());
    // Every setting is passed or removed, so nothing leaks in from the
    // caller's environment (see device/build/settings.rs for their meaning).
    let variables = [
        ("BELLJAR_FOR_MS", number(settings.for_ms)),
        ("BELLJAR_UART_IDLE_MS", number(settings.uart_idle_ms)),
        ("BELLJAR_WATCHDOG_FUEL", number(settings.watchdog_fuel)),
        ("BELLJAR_FUEL", number(settings.total_fuel)),
        ("BELLJAR_WASM_STACK", number(settings.wasm_stack)),
        ("BELLJAR_RAM", number(settings.ram)),
        ("BELLJAR_HEAP", number(settings.heap)),
        ("BELLJAR_HEARTBEAT_MS", number(settings.heartbeat_ms)),
        ("BELLJAR_FIBER_STACK", number(settings.fiber_stack)),
        (
            "BELLJAR_DESERIALIZE",
            settings.copy_artifact.then(|| "copy".to_string()),
        ),
        (
            "BELLJAR_FP_PROBE",
            settings.fp_probe.then(|| "1".to_string()),
        ),
        (
            "BELLJAR_FP_ISOLATION",
            (!settings.fp_isolation).then(|| "0".to_string()),
        ),
        ("BELLJAR_PUBKEY", path(&settings.pubkey)?),
        ("BELLJAR_INITIAL", path(&settings.initial)?),
        (
            "BELLJAR_PRESS",
            (!settings.presses.is_empty()).then(|| settings.presses.join(",")),
        ),
    ];
    for (name, value) in variables {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    // Cargo links every build to the same path: the ELF is copied to a
    // name of its own (per board, guests and settings) under a lock, so
    // that a build running beside this one (tests run in parallel) cannot
    // replace it before it boots.
    static BUILDING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut building = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (board, target, &target_dir, &guests, format!("{settings:?}")).hash(&mut hasher);
        // What the files embedded hold, not only where they are.
        let files = cwasms
            .iter()
            .copied()
            .chain(settings.pubkey.as_deref())
            .chain(settings.initial.as_deref());
        for file in files {
            std::fs::read(file).ok().hash(&mut hasher);
        }
        hasher.finish()
    };
    let elf = target_dir
        .join(target)
        .join("release")
        .join(format!("{board}-{key:016x}.elf"));
    if building.contains(&elf) {
        return Ok(elf);
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the {board} firmware failed to build (cargo's errors are above)");
    }
    let built = target_dir.join(target).join("release").join(board);
    std::fs::copy(&built, &elf)
        .with_context(|| format!("cannot copy the firmware to {}", elf.display()))?;
    building.push(elf.clone());
    Ok(elf)
}

/// The manifest of `board` if it is a workspace of its own (the ESP32-C6:
/// esp-hal's runtime cannot share the firmware workspace's lock file), which
/// cargo, run in `firmware/`, is then pointed at.
fn own_workspace(firmware: &Path, board: &str) -> Option<String> {
    let manifest = Path::new("boards").join(board).join("Cargo.toml");
    let text = std::fs::read_to_string(firmware.join(&manifest)).ok()?;
    text.lines()
        .any(|l| l.trim() == "[workspace]")
        .then(|| manifest.display().to_string())
}

/// `cargo --config` for `target`'s rustflags (joined to those of
/// `firmware/.cargo/config.toml`): source paths as panic locations keep
/// them, without the machine's cargo home and checkout (`wasmtime-48.0.8/src/...`,
/// not `/home/.../.cargo/registry/src/index.crates.io-.../wasmtime-48.0.8/src/...`).
/// About 100 dependency files have such a location: 6 KiB of flash less
/// for every firmware, and the same bytes whoever builds it. (Cargo's
/// `trim-paths` does this, but is not stable in Rust 1.95.)
pub fn remapped_paths(target: &str, firmware: &Path) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Some(home) = cargo_home {
        // One directory per registry index (`index.crates.io-<hash>`), and git dependencies.
        if let Ok(indexes) = std::fs::read_dir(home.join("registry/src")) {
            prefixes.extend(indexes.flatten().map(|index| index.path()));
        }
        prefixes.push(home.join("git/checkouts"));
    }
    if let Ok(repo) = firmware.join("..").canonicalize() {
        prefixes.push(repo);
    }
    let flags: Vec<String> = prefixes
        .iter()
        .map(|from| format!("{:?}", format!("--remap-path-prefix={}/=", from.display())))
        .collect();
    format!("target.{target}.rustflags=[{}]", flags.join(","))
}

fn ensure_target(target: &str) -> Result<()> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .current_dir(firmware_dir())
        .output()
        .context("cannot run rustc")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(target).is_dir() {
        bail!("the Rust target {target} is not installed; run: rustup target add {target}");
    }
    Ok(())
}

/// The devices QEMU attaches to the board for a run: I2C models on the
/// Shield-1 SBCon bus, which the firmware calls `i2c0` (QEMU puts every
/// `-device` I2C model there). QEMU 7.2 models the TMP105 (`tmp105`, a
/// constant temperature set over QMP before the CPU starts) and 24Cxx EEPROMs
/// (`at24c-eeprom`, kept in a file of exactly the part's size; a temporary
/// one filled with 0xff when none is named).
#[derive(Clone, Debug, Default)]
pub struct Devices {
    pub i2c: Vec<I2cSpec>,
}

impl Devices {
    /// QEMU's command-line arguments for the devices, and the temperature
    /// (milli-degrees) each `tmp105` must be given over QMP.
    /// Whether `board` can have these devices.
    pub fn check(&self, board: &QemuBoard) -> Result<()> {
        if !board.i2c && !self.i2c.is_empty() {
            bail!(
                "QEMU's {} board has no I2C bus for devices; run I2C devices on the \
                 simulator (`belljar run --i2c ...`) or the mps2-an505 board",
                board.name
            );
        }
        Ok(())
    }

    fn args(&self, board: &QemuBoard, scratch: &Path) -> Result<(Vec<String>, Vec<Temperature>)> {
        self.check(board)?;
        let mut args = Vec::new();
        let mut temperatures = Vec::new();
        for (n, spec) in self.i2c.iter().enumerate() {
            if spec.bus != "i2c0" {
                bail!(
                    "the QEMU board has one I2C bus for devices, i2c0; `{}` is not there",
                    spec.bus
                );
            }
            if self.i2c[..n].iter().any(|s| s.address == spec.address) {
                bail!("two I2C devices at address 0x{:02x}", spec.address);
            }
            let id = format!("i2c{n}");
            let address = format!("0x{:02x}", spec.address);
            match &spec.model {
                I2cModel::Tmp105(signal) => {
                    if signal.over_ns != 0 {
                        bail!(
                            "QEMU's tmp105 takes a constant temperature (e.g. tmp105@0x48=21.5C); \
                             ramps run on the simulator (`belljar run`)"
                        );
                    }
                    args.push("-device".into());
                    args.push(format!("tmp105,address={address},id={id}"));
                    temperatures.push((id, (signal.from * 1000.0).round() as i64));
                }
                I2cModel::At24c { size, file } => {
                    let file = match file {
                        Some(file) => file.clone(),
                        None => scratch.join(format!("{id}.bin")),
                    };
                    eeprom_file(&file, *size)?;
                    args.push("-drive".into());
                    args.push(format!(
                        "file={},if=none,format=raw,id={id}-drive",
                        file.display()
                    ));
                    args.push("-device".into());
                    args.push(format!(
                        "at24c-eeprom,address={address},rom-size={size},drive={id}-drive,id={id}"
                    ));
                }
            }
        }
        Ok((args, temperatures))
    }
}

/// A `tmp105`'s QOM id and the milli-degrees to set it to.
type Temperature = (String, i64);

/// QEMU wants an EEPROM's backing file to be exactly the part's size: an
/// absent file becomes an erased part (0xff), a shorter one is padded.
fn eeprom_file(path: &Path, size: usize) -> Result<()> {
    let mut bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => bail!("cannot read EEPROM file {}: {e}", path.display()),
    };
    if bytes.len() != size {
        if bytes.len() > size {
            bail!(
                "EEPROM file {} has {} bytes, more than the part's {size}",
                path.display(),
                bytes.len()
            );
        }
        bytes.resize(size, 0xff);
        std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write EEPROM file {}", path.display()))?;
    }
    Ok(())
}

/// QEMU's machine protocol (QMP) on a Unix socket: sets device properties
/// while the board runs.
pub struct Qmp {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => return Err(e).context("cannot reach QEMU's QMP socket"),
            }
        };
        let mut qmp = Qmp {
            reader: std::io::BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        qmp.command(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(qmp)
    }

    /// Sends one command and waits for its answer (events are skipped).
    fn command(&mut self, json: &str) -> Result<()> {
        use std::io::BufRead as _;
        writeln!(self.writer, "{json}")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("QEMU closed its QMP socket");
            }
            if line.starts_with(r#"{"return""#) {
                return Ok(());
            }
            if line.starts_with(r#"{"error""#) {
                bail!("QEMU refused `{json}`: {}", line.trim());
            }
        }
    }

    /// Sets the temperature the `tmp105` with QOM id `id` reports.
    pub fn set_temperature(&mut self, id: &str, celsius: f64) -> Result<()> {
        let milli = (celsius * 1000.0).round() as i64;
        self.command(&format!(
            r#"{{"execute":"qom-set","arguments":{{"path":"/machine/peripheral/{id}","property":"temperature","value":{milli}}}}}"#
        ))
    }

    fn resume(&mut self) -> Result<()> {
        self.command(r#"{"execute":"cont"}"#)
    }
}

/// Boots `elf` in QEMU with deterministic time (`-icount shift=0`: one
/// instruction is one nanosecond of board time), feeding `uart_input` into
/// UART0. When `echo` is set the console is passed through as it comes.
pub fn boot(elf: &Path, uart_input: &[u8], echo: bool) -> Result<QemuOutcome> {
    boot_on(&MPS2_AN505, elf, uart_input, echo)
}

/// [`boot`] on `board` (`elf` is that board's firmware).
pub fn boot_on(
    board: &QemuBoard,
    elf: &Path,
    uart_input: &[u8],
    echo: bool,
) -> Result<QemuOutcome> {
    boot_board_with(board, elf, uart_input, echo, &Devices::default(), |_, _| {
        Ok(())
    })
}

/// [`boot`] with `devices` attached. `watch` sees the console so far after
/// each chunk of output and may change the devices over QMP (`Qmp` is only
/// connected when there are devices). The `i`th I2C device has QOM id `i2c<i>`.
pub fn boot_with(
    elf: &Path,
    uart_input: &[u8],
    echo: bool,
    devices: &Devices,
    watch: impl FnMut(&str, Option<&mut Qmp>) -> Result<()>,
) -> Result<QemuOutcome> {
    boot_board_with(&MPS2_AN505, elf, uart_input, echo, devices, watch)
}

/// [`boot_with`] on `board` (`elf` is that board's firmware).
pub fn boot_board_with(
    board: &QemuBoard,
    elf: &Path,
    uart_input: &[u8],
    echo: bool,
    devices: &Devices,
    mut watch: impl FnMut(&str, Option<&mut Qmp>) -> Result<()>,
) -> Result<QemuOutcome> {
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let (device_args, temperatures) = devices.args(board, scratch.path())?;
    let qmp_path = scratch.path().join("qmp.sock");
    let mut command = Command::new(board.qemu);
    command
        .args(board.machine)
        .args(board.console)
        .args(["-icount", "shift=0"])
        .args(&device_args);
    if !devices.i2c.is_empty() {
        // Stopped until the devices are set: a tmp105 reads 0 after reset.
        command
            .arg("-S")
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp_path.display()));
    }
    let mut child = command
        .args(board.exit)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| not_installed(board, e))?;
    let mut qmp = None;
    if !devices.i2c.is_empty() {
        let mut q = Qmp::connect(&qmp_path)?;
        for (id, milli) in &temperatures {
            q.set_temperature(id, *milli as f64 / 1000.0)?;
        }
        q.resume()?;
        qmp = Some(q);
    }
    // UART input is sent once the firmware's banner line is out: by then its
    // UART receiver is enabled. (Bytes piped in earlier were seen to get lost.)
    // The pipe stays open until QEMU exits: closing it ends the console.
    let mut stdin = Some(child.stdin.take().expect("piped"));
    let mut writer = None;
    let mut stdout = child.stdout.take().expect("piped");
    let mut console = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = std::io::Read::read(&mut stdout, &mut buf)?;
        if n == 0 {
            break;
        }
        if echo {
            std::io::stdout().write_all(&buf[..n])?;
        }
        console.extend_from_slice(&buf[..n]);
        if writer.is_none() && console.contains(&b'\n') {
            let mut pipe = stdin.take().expect("written once");
            let input = uart_input.to_vec();
            writer = Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
                let _ = pipe.flush();
                pipe
            }));
        }
        watch(&String::from_utf8_lossy(&console), qmp.as_mut())?;
    }
    let status = child.wait()?;
    drop(writer.map(|w| w.join()));
    drop(stdin);
    Ok(QemuOutcome {
        status: status.code().unwrap_or(-1),
        console: String::from_utf8_lossy(&console).replace("\r\n", "\n"),
    })
}

/// `qemu-system-...` could not be started.
fn not_installed(board: &QemuBoard, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!(
            "{} is not installed; run: sudo apt-get install {}",
            board.qemu,
            board.package
        ),
        _ => anyhow::Error::from(e).context(format!("cannot start {}", board.qemu)),
    }
}

/// A QEMU board running in the background, its update link (the second
/// serial port) on a local TCP port: for pushing updates while it runs.
pub struct LiveBoard {
    child: std::process::Child,
    console: std::sync::Arc<std::sync::Mutex<String>>,
    /// `belljar push --port tcp:127.0.0.1:<link_port>` reaches the board.
    pub link_port: u16,
}

impl LiveBoard {
    /// Boots `elf` (deterministic instruction time, idle time at real-time
    /// speed) with UART0 as the console and UART1 on a free local port.
    pub fn spawn(elf: &Path) -> Result<LiveBoard> {
        LiveBoard::spawn_on(&MPS2_AN505, elf)
    }

    /// [`LiveBoard::spawn`] on `board` (`elf` is that board's firmware).
    pub fn spawn_on(board: &QemuBoard, elf: &Path) -> Result<LiveBoard> {
        let link_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(board.qemu)
            .args(board.machine)
            .args((board.live_serials)(link_port))
            .args(board.exit)
            .args(["-icount", "shift=0", "-kernel"])
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| not_installed(board, e))?;
        let console = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = console.clone();
        let mut stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).replace("\r\n", "\n");
                sink.lock().unwrap().push_str(&text);
            }
        });
        Ok(LiveBoard {
            child,
            console,
            link_port,
        })
    }

    /// Everything the board printed so far.
    pub fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Waits until `needle` appears in the console at or after byte `from`;
    /// returns where it ends.
    pub fn wait_for(
        &self,
        needle: &str,
        from: usize,
        timeout: std::time::Duration,
    ) -> Result<usize> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let console = self.console();
            if let Some(at) = console.get(from..).and_then(|rest| rest.find(needle)) {
                return Ok(from + at + needle.len());
            }
            if std::time::Instant::now() > deadline {
                bail!("`{needle}` did not appear within {timeout:?}; the console:\n{console}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for LiveBoard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
