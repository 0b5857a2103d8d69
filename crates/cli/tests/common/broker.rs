//! A Mosquitto of a test's (or bench's) own and `belljar fleet simulate`
//! processes: shared by `tests/fleet.rs` and `benches/fleet.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until something listens on `port`.
fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Mosquitto of the test's own, with persistence (saved on every change).
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    conf: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    pub fn start(dir: &Path) -> Mosquitto {
        Mosquitto::start_with(dir, "allow_anonymous true\n")
    }

    /// With `settings` (mosquitto.conf lines) for its listener.
    pub fn start_with(dir: &Path, settings: &str) -> Mosquitto {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        // Run as root, Mosquitto drops to its own user: let it write its store.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{settings}persistence true\n\
                 persistence_location {}/\nautosave_interval 1\nautosave_on_changes true\n\
                 sys_interval 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            child: None,
            port,
            conf,
        };
        m.spawn();
        m
    }

    pub fn spawn(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (apt install mosquitto; scripts/test installs it)");
        self.child = Some(child);
        wait_port(self.port);
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no clean shutdown, only what autosave wrote survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `belljar fleet simulate` process; its output goes to a file.
pub struct Devices {
    child: Child,
    log: PathBuf,
}

impl Devices {
    pub fn start(m: &Mosquitto, dir: &Path, prefix: &str, count: usize) -> Devices {
        Devices::start_on(&["--broker", &m.url()], dir, prefix, count)
    }

    /// With `broker` flags (`--broker URL`, `--ca PEM`...).
    pub fn start_on(broker: &[&str], dir: &Path, prefix: &str, count: usize) -> Devices {
        let log = dir.join(format!("{prefix}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_belljar"))
            .args(["fleet", "simulate"])
            .arg(dir.join("v1.bjpkg"))
            .args(broker)
            .args(["--fleet", "plant", "--prefix", prefix])
            .args(["--devices", &count.to_string()])
            .arg("--pubkey")
            .arg(dir.join("fleet.pub"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Devices { child, log }
    }

    /// `belljar gateway` for the board whose update link is `port`.
    pub fn gateway(m: &Mosquitto, dir: &Path, device: &str, port: &str) -> Devices {
        let log = dir.join(format!("{device}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_belljar"))
            .args(["gateway", "--broker", &m.url(), "--fleet", "plant"])
            .args(["--device", device, "--port", port])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Devices { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// How many of the lines of device `name` contain `needle`.
    pub fn count(&self, name: &str, needle: &str) -> usize {
        let prefix = format!("{name} ");
        let prefix2 = format!("{name}: ");
        self.log()
            .lines()
            .filter(|l| (l.starts_with(&prefix) || l.starts_with(&prefix2)) && l.contains(needle))
            .count()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Mosquitto {
    /// The broker's CPU time so far (user + system).
    pub fn cpu(&self) -> Duration {
        let pid = self.child.as_ref().unwrap().id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }
}
