//! `belljar qemu`: a guest on real firmware for the Cortex-M33 of QEMU's
//! mps2-an505 machine. Builds the guest for pulley32, builds the board
//! firmware (`firmware/boards/qemu-mps2-an505`) around it, boots it in QEMU
//! and reports the firmware's console output and exit status.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use belljar_build::GuestCrate;
use belljar_profile::Target;

const BOARD: &str = "qemu-mps2-an505";
const THUMB: &str = "thumbv8m.main-none-eabihf";

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
        }
    }
}

/// What the board did.
#[derive(Debug)]
pub struct QemuOutcome {
    /// Firmware exit status (semihosting): 0 clean stop, 1 guest trap or
    /// load error.
    pub status: i32,
    /// Everything the firmware printed on UART0.
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

/// Builds the QEMU board firmware embedding `cwasms` (each runs as its own
/// app, side by side); returns the ELF.
pub fn build_firmware(cwasms: &[&Path], settings: &FirmwareSettings) -> Result<PathBuf> {
    build_board(BOARD, cwasms, settings)
}

/// Builds the firmware of `board` (a crate in `firmware/boards/`) embedding
/// `cwasms`; returns the ELF.
pub fn build_board(board: &str, cwasms: &[&Path], settings: &FirmwareSettings) -> Result<PathBuf> {
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
    ensure_thumb_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "-p", board, "--target-dir"])
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env("BELLJAR_GUEST", guests)
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
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the {board} firmware failed to build (cargo's errors are above)");
    }
    Ok(target_dir.join(THUMB).join("release").join(board))
}

fn ensure_thumb_target() -> Result<()> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .current_dir(firmware_dir())
        .output()
        .context("cannot run rustc")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(THUMB).is_dir() {
        bail!("the Rust target {THUMB} is not installed; run: rustup target add {THUMB}");
    }
    Ok(())
}

/// Boots `elf` in QEMU with deterministic time (`-icount shift=0`: one
/// instruction is one nanosecond of board time), feeding `uart_input` into
/// UART0. When `echo` is set the console is passed through as it comes.
pub fn boot(elf: &Path, uart_input: &[u8], echo: bool) -> Result<QemuOutcome> {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-M",
            "mps2-an505",
            "-cpu",
            "cortex-m33",
            "-nographic",
            "-icount",
            "shift=0",
        ])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "qemu-system-arm is not installed; run: sudo apt-get install qemu-system-arm"
            ),
            _ => anyhow::Error::from(e).context("cannot start qemu-system-arm"),
        })?;
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
    }
    let status = child.wait()?;
    drop(writer.map(|w| w.join()));
    drop(stdin);
    Ok(QemuOutcome {
        status: status.code().unwrap_or(-1),
        console: String::from_utf8_lossy(&console).replace("\r\n", "\n"),
    })
}

/// A QEMU board running in the background, its update link (UART1) on a
/// local TCP port: for pushing updates while it runs.
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
        let link_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new("qemu-system-arm")
            .args([
                "-M",
                "mps2-an505",
                "-cpu",
                "cortex-m33",
                "-nographic",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-serial",
                &format!("tcp:127.0.0.1:{link_port},server=on,wait=off"),
                "-semihosting-config",
                "enable=on,target=native",
                "-icount",
                "shift=0",
                "-kernel",
            ])
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start qemu-system-arm")?;
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
