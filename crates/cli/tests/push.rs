//! `belljar push` end to end: the real binary against a device on a TCP
//! socket that runs the real update agent (`belljar_update::Receiver` and
//! `Slots` on a simulated NOR flash) with a real Ed25519 key and real signed
//! packages.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use belljar_package::ed25519_dalek::SigningKey;
use belljar_package::{Header, Policy, sign};
use belljar_profile::Target;
use belljar_update::frame::{Decoder, encode_vec};
use belljar_update::proto::{DeviceMsg, HostMsg, MAX_CHUNK};
use belljar_update::sim_flash::SimFlash;
use belljar_update::{Candidate, Config, Receiver, Slots};

/// 4 KiB sectors written in 8-byte words.
type Flash = SimFlash<8, 4096>;

/// Two state sectors, two slots of 12 sectors (48 KiB).
const CFG: Config = Config {
    base: 0,
    state_sectors: 2,
    slot_sectors: 12,
    max_boot_attempts: 3,
};
const SECTORS: usize = 2 + 2 * 12;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// A package for pulley32 and this belljar's engine, signed with [`key`],
/// over `len` arbitrary payload bytes.
fn package(app: &str, version: u32, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ version as u8)
        .collect();
    let header = Header::for_payload(Target::Pulley32, "blinky", app, version, &payload);
    sign(&header, &payload, &key())
}

fn write_package(name: &str, bytes: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("push-{}-{name}.bjpkg", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// How the device misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Close the first connection after answering this many chunks.
    drop_after_chunks: Option<usize>,
    /// Handle this chunk message (0-based, counted over the whole session)
    /// but lose its answer.
    lose_reply_to_chunk: Option<usize>,
    /// Read everything, answer nothing.
    mute: bool,
    /// Close every connection right after answering `Begin`.
    hang_up_after_begin: bool,
}

/// The device after the push: its slots, its receiver, and per connection
/// every message it decoded with the answer it sent (if any).
struct Device {
    slots: Slots<Flash>,
    rx: Receiver,
    connections: Vec<Vec<(HostMsg, Option<DeviceMsg>)>>,
}

struct FakeDevice {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Device>,
}

impl FakeDevice {
    fn start(faults: Faults) -> FakeDevice {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut device = Device {
                slots: Slots::open(Flash::new(SECTORS), CFG).unwrap(),
                rx: Receiver::new(),
                connections: Vec::new(),
            };
            let mut chunks = 0;
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        serve(stream, &mut device, &mut chunks, faults, &stopping);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            device
        });
        FakeDevice { port, stop, thread }
    }

    fn addr(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    fn finish(self) -> Device {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// One connection, until the host closes it, the device drops it, or the test stops.
fn serve(
    mut stream: TcpStream,
    device: &mut Device,
    chunks: &mut usize,
    faults: Faults,
    stop: &AtomicBool,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let vk = key().verifying_key();
    let policy = Policy {
        key: &vk,
        target: Target::Pulley32,
        installed: None,
        allow_downgrade: false,
        max_len: 64 * 1024,
    };
    let first = device.connections.is_empty();
    device.connections.push(Vec::new());
    let mut decoder = Decoder::<HostMsg>::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        };
        for &byte in &buf[..n] {
            let Some(msg) = decoder.push(byte) else {
                continue;
            };
            let is_chunk = matches!(msg, HostMsg::Chunk { .. });
            let is_begin = matches!(msg, HostMsg::Begin { .. });
            let mut reply =
                (!faults.mute).then(|| device.rx.handle(&msg, &mut device.slots, &policy));
            if is_chunk {
                if faults.lose_reply_to_chunk == Some(*chunks) {
                    reply = None;
                }
                *chunks += 1;
            }
            if let Some(reply) = &reply
                && stream.write_all(&encode_vec(reply).unwrap()).is_err()
            {
                return;
            }
            device.connections.last_mut().unwrap().push((msg, reply));
            if first && is_chunk && faults.drop_after_chunks == Some(*chunks) {
                return; // drops the stream: the link is gone
            }
            if is_begin && faults.hang_up_after_begin {
                return;
            }
        }
    }
}

fn belljar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_belljar"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure with exit status 1, exactly one `error:` line and no panic.
fn one_error_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout: {}", stdout(o));
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    errors[0].to_string()
}

/// The candidate is pending (verified, tried after the next boot) and its
/// slot holds exactly `pkg`.
fn assert_pending(device: &Device, pkg: &[u8], version: u32) {
    let Candidate::Pending { image } = device.slots.state().candidate else {
        panic!("candidate {:?}", device.slots.state().candidate);
    };
    assert_eq!(image.version, version);
    assert_eq!(image.len as usize, pkg.len());
    let start = device.slots.slot_range(image.slot).start as usize;
    assert!(
        device.slots.flash().memory()[start..start + pkg.len()] == *pkg,
        "the slot holds other bytes than the package"
    );
}

fn chunk_offsets(messages: &[(HostMsg, Option<DeviceMsg>)]) -> Vec<u32> {
    messages
        .iter()
        .filter_map(|(m, _)| match m {
            HostMsg::Chunk { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect()
}

#[test]
fn a_good_package_is_installed_and_pending() {
    let pkg = package("app-b", 2, 10_000);
    let path = write_package("good", &pkg);
    let device = FakeDevice::start(Faults::default());
    let port = device.addr();
    let o = belljar(&["push", path.to_str().unwrap(), "--port", &port]);
    let device = device.finish();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "pushing app-b v2 (pulley32, {} bytes) to {port} to install",
                pkg.len()
            ),
            format!(
                "installed app-b v2 on {port}; it runs after the switch and must prove healthy or the previous app is restored"
            ),
        ]
    );
    assert_pending(&device, &pkg, 2);
    // Hello, Begin, every chunk once in order, Finish: one connection.
    assert_eq!(device.connections.len(), 1);
    let messages = &device.connections[0];
    assert_eq!(messages[0].0, HostMsg::Hello);
    assert!(matches!(messages[1].0, HostMsg::Begin { .. }));
    let expected: Vec<u32> = (0..pkg.len())
        .step_by(MAX_CHUNK)
        .map(|o| o as u32)
        .collect();
    assert_eq!(chunk_offsets(messages), expected);
    assert_eq!(messages.last().unwrap().0, HostMsg::Finish);
    assert_eq!(messages.len(), 3 + expected.len());
}

#[test]
fn run_once_loads_the_package_in_ram_and_leaves_the_flash_alone() {
    let pkg = package("probe", 1, 3_000);
    let path = write_package("run-once", &pkg);
    let device = FakeDevice::start(Faults::default());
    let o = belljar(&[
        "push",
        path.to_str().unwrap(),
        "--port",
        &device.addr(),
        "--run-once",
    ]);
    let mut device = device.finish();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().last(),
        Some("loaded probe v1 for a one-off run")
    );
    assert_eq!(device.rx.take_loaded(), Some(pkg));
    assert_eq!(device.slots.state().candidate, Candidate::Empty);
}

#[test]
fn a_tampered_package_is_refused_with_the_reason() {
    let mut pkg = package("app-b", 2, 10_000);
    let at = pkg.len() - 100; // in the payload: it still parses
    pkg[at] ^= 0x20;
    let path = write_package("tampered", &pkg);
    let device = FakeDevice::start(Faults::default());
    let o = belljar(&["push", path.to_str().unwrap(), "--port", &device.addr()]);
    let device = device.finish();
    assert_eq!(
        one_error_line(&o),
        "error: the device refused the package: the signature does not verify against the key it trusts (wrong key or tampered package)"
    );
    assert!(!stdout(&o).contains("installed"), "{}", stdout(&o));
    // The whole package went over; the device discarded it.
    let messages = &device.connections[0];
    assert_eq!(messages.last().unwrap().0, HostMsg::Finish);
    assert_eq!(device.slots.state().candidate, Candidate::Empty);
}

#[test]
fn a_dropped_link_is_reopened_and_the_transfer_resumes() {
    let pkg = package("app-b", 2, 10_000);
    let path = write_package("dropped", &pkg);
    let dropped_at = 7;
    let device = FakeDevice::start(Faults {
        drop_after_chunks: Some(dropped_at),
        ..Faults::default()
    });
    let port = device.addr();
    let o = belljar(&["push", path.to_str().unwrap(), "--port", &port]);
    let device = device.finish();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("the link to {port} dropped")),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("installed app-b v2"), "{}", stdout(&o));
    assert_pending(&device, &pkg, 2);

    assert_eq!(device.connections.len(), 2);
    let resume = (dropped_at * MAX_CHUNK) as u32;
    let first = chunk_offsets(&device.connections[0]);
    assert_eq!(first.len(), dropped_at);
    assert_eq!(first.last(), Some(&(resume - MAX_CHUNK as u32)));
    // The second link starts with `Begin`, which resumes where the first
    // stopped, and no chunk before that point is sent again.
    let second = &device.connections[1];
    assert!(
        matches!(second[0].0, HostMsg::Begin { .. }),
        "{:?}",
        second[0].0
    );
    assert_eq!(
        second[0].1,
        Some(DeviceMsg::Ready {
            resume_from: resume
        })
    );
    let offsets = chunk_offsets(second);
    assert_eq!(offsets.first(), Some(&resume));
    assert!(offsets.iter().all(|&o| o >= resume), "{offsets:?}");
    assert_eq!(second.last().unwrap().0, HostMsg::Finish);
}

#[test]
fn a_lost_answer_is_retried_after_the_timeout() {
    let pkg = package("app-b", 2, 5_000);
    let path = write_package("lost-answer", &pkg);
    let device = FakeDevice::start(Faults {
        lose_reply_to_chunk: Some(3),
        ..Faults::default()
    });
    let o = belljar(&[
        "push",
        path.to_str().unwrap(),
        "--port",
        &device.addr(),
        "--timeout",
        "1s",
    ]);
    let device = device.finish();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_pending(&device, &pkg, 2);
    assert_eq!(device.connections.len(), 1);
    let offsets = chunk_offsets(&device.connections[0]);
    let again = (3 * MAX_CHUNK) as u32;
    assert_eq!(
        offsets.iter().filter(|&&o| o == again).count(),
        2,
        "{offsets:?}"
    );
    assert_eq!(offsets.len(), pkg.len().div_ceil(MAX_CHUNK) + 1);
}

#[test]
fn a_silent_device_gives_up_after_the_tries() {
    let pkg = package("app-b", 2, 2_000);
    let path = write_package("silent", &pkg);
    let device = FakeDevice::start(Faults {
        mute: true,
        ..Faults::default()
    });
    let port = device.addr();
    let o = belljar(&[
        "push",
        path.to_str().unwrap(),
        "--port",
        &port,
        "--timeout",
        "200ms",
        "--tries",
        "3",
    ]);
    let device = device.finish();
    assert_eq!(
        one_error_line(&o),
        format!(
            "error: no answer from {port} after 3 tries (is the device running the update agent?)"
        )
    );
    assert_eq!(device.connections.len(), 1);
    let sent: Vec<&HostMsg> = device.connections[0].iter().map(|(m, _)| m).collect();
    assert_eq!(sent, [&HostMsg::Hello; 3]);
}

#[test]
fn a_link_that_keeps_dropping_without_progress_is_given_up() {
    let pkg = package("app-b", 2, 2_000);
    let path = write_package("hang-up", &pkg);
    let device = FakeDevice::start(Faults {
        hang_up_after_begin: true,
        ..Faults::default()
    });
    let port = device.addr();
    let o = belljar(&[
        "push",
        path.to_str().unwrap(),
        "--port",
        &port,
        "--tries",
        "3",
    ]);
    let device = device.finish();
    let line = one_error_line(&o);
    assert!(
        line.starts_with(&format!("error: lost the link to {port} ("))
            && line.ends_with("); gave up after 3 tries"),
        "{line}"
    );
    // The first link, then a reopening per try: each resumes with `Begin`.
    assert_eq!(device.connections.len(), 3);
    for messages in &device.connections[1..] {
        let sent: Vec<&HostMsg> = messages.iter().map(|(m, _)| m).collect();
        assert!(matches!(sent[..], [HostMsg::Begin { .. }]), "{sent:?}");
    }
    assert!(chunk_offsets(&device.connections.concat()).is_empty());
}

#[test]
fn nothing_to_talk_to_is_one_clear_error() {
    let pkg = package("app-b", 2, 2_000);
    let path = write_package("unsent", &pkg);
    let path = path.to_str().unwrap();
    let o = belljar(&["push", path, "--port", "tcp:127.0.0.1:1"]);
    let line = one_error_line(&o);
    assert!(
        line.starts_with("error: cannot open tcp:127.0.0.1:1: ") && line.contains("refused"),
        "{line}"
    );
    let o = belljar(&["push", path, "--port", "/nonexistent/ttyACM9"]);
    let line = one_error_line(&o);
    assert!(
        line.starts_with("error: cannot open /nonexistent/ttyACM9: "),
        "{line}"
    );
    let not_a_package = write_package(
        "not-a-package",
        b"just some bytes, no package at all, long enough to be read as one if it were",
    );
    let o = belljar(&[
        "push",
        not_a_package.to_str().unwrap(),
        "--port",
        "tcp:127.0.0.1:1",
    ]);
    assert!(
        one_error_line(&o).ends_with("is not a package: not a belljar package (bad magic)"),
        "{}",
        stderr(&o)
    );
}
