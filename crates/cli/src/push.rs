//! `belljar push`: sends a signed package to a device's update agent over a
//! serial port or a TCP stream (a QEMU or simulator UART exposed with
//! `-serial tcp::PORT,server,nowait`).
//!
//! The protocol is [`belljar_update::proto`] in [frames](belljar_update::frame);
//! [`Upload`] decides what to send next. This module adds the I/O: a reply
//! timeout after which the same message is sent again (every message is safe
//! to repeat), reopening a link that dropped and sending `Begin` again (the
//! device answers `Ready { resume_from }` and the transfer goes on from there),
//! and a bound on consecutive failed tries.

use std::io::{self, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use belljar_package::Header;
use belljar_update::frame::{Decoder, encode_vec};
use belljar_update::host::{Step, Upload};
use belljar_update::proto::{DeviceMsg, ErrorCode, HostMsg, MAX_CHUNK, Mode, PROTOCOL, Reject};
use indicatif::{ProgressBar, ProgressStyle};

/// Where the device is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Port {
    /// A serial device (`/dev/ttyACM0`, `COM3`), opened 8N1 at `baud`.
    Serial { path: String, baud: u32 },
    /// `tcp:HOST:PORT`: a UART exposed over TCP (QEMU, the simulator).
    Tcp(String),
}

impl Port {
    /// `tcp:HOST:PORT` or a serial device path.
    pub fn parse(spec: &str, baud: u32) -> Port {
        match spec.strip_prefix("tcp:") {
            Some(addr) => Port::Tcp(addr.to_string()),
            None => Port::Serial {
                path: spec.to_string(),
                baud,
            },
        }
    }
}

/// How to push.
#[derive(Clone, Debug)]
pub struct Options {
    /// As given on the command line (used in messages).
    pub port: String,
    pub baud: u32,
    pub mode: Mode,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Consecutive tries (sends without an answer, reopenings) before giving up.
    pub tries: u32,
}

/// What the device did with the package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub app: String,
    pub version: u32,
    pub mode: Mode,
}

/// Reads `package`, prints a summary, sends it and prints the outcome.
pub fn push(package: &Path, options: &Options) -> Result<Outcome> {
    let bytes = crate::guest::read(package)?;
    let header = belljar_package::parse(&bytes)
        .map_err(|e| anyhow!("{} is not a package: {e}", package.display()))?
        .header;
    let what = match options.mode {
        Mode::Install => "to install",
        Mode::RunOnce => "for a one-off run",
    };
    println!(
        "pushing {} v{} ({}, {} bytes) to {} {what}",
        header.app,
        header.version,
        header.target,
        bytes.len(),
        options.port
    );
    let outcome = send(&bytes, &header, options)?;
    match outcome.mode {
        Mode::Install => println!(
            "installed {} v{} on {}; it runs after the switch and must prove healthy or the previous app is restored",
            outcome.app, outcome.version, options.port
        ),
        Mode::RunOnce => println!(
            "loaded {} v{} for a one-off run",
            outcome.app, outcome.version
        ),
    }
    Ok(outcome)
}

/// Sends `package` (whose parsed header is `header`) and returns what the
/// device made of it.
pub fn send(package: &[u8], header: &Header, options: &Options) -> Result<Outcome> {
    if options.tries == 0 {
        bail!("--tries must be at least 1");
    }
    if options.timeout.is_zero() {
        bail!("--timeout must be longer than 0");
    }
    let port = Port::parse(&options.port, options.baud);
    let mut link = Link::open(port, options.timeout)
        .map_err(|e| anyhow!("cannot open {}: {e}", options.port))?;
    let bar = progress_bar(package.len());
    let result = drive(&mut link, package, header, options, &bar);
    bar.finish_and_clear();
    result
}

fn progress_bar(len: usize) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(bar_style());
    bar.set_message("sending");
    bar
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .expect("a valid template")
        .progress_chars("=> ")
}

/// The chunk length to use: the device's largest, rounded down to its alignment.
pub fn chunk_len(max_chunk: u16, align: u16) -> Option<usize> {
    let max = usize::from(max_chunk).min(MAX_CHUNK);
    let align = usize::from(align).max(1);
    let len = max - max % align;
    (len > 0).then_some(len)
}

fn drive(
    link: &mut Link,
    package: &[u8],
    header: &Header,
    options: &Options,
    bar: &ProgressBar,
) -> Result<Outcome> {
    let port = &options.port;
    let len = package.len();
    let mut upload: Option<Upload<'_>> = None;
    let mut msg = HostMsg::Hello;
    // Sends without an answer and reopenings since the last progress.
    let mut failures = 0;
    // The most bytes the device has reported stored.
    let mut stored: Option<u32> = None;
    // Put a 0x00 before the next frame to flush a half frame the device holds.
    let mut flush = true;
    loop {
        let reply = match link.exchange(&msg, flush) {
            Answer::Reply(reply) => reply,
            Answer::Quiet => {
                failures += 1;
                if failures >= options.tries {
                    bail!(
                        "no answer from {port} after {failures} tries (is the device running the update agent?)"
                    );
                }
                flush = true;
                continue;
            }
            Answer::Lost(mut error) => {
                bar.suspend(|| eprintln!("the link to {port} dropped ({error}); reopening it"));
                loop {
                    failures += 1;
                    if failures >= options.tries {
                        bail!("lost the link to {port} ({error}); gave up after {failures} tries");
                    }
                    std::thread::sleep(options.timeout.min(Duration::from_millis(200)));
                    match link.reopen() {
                        Ok(()) => break,
                        Err(e) => error = e,
                    }
                }
                // The device resumes a `Begin` of the same package.
                msg = upload.as_ref().map_or(HostMsg::Hello, Upload::begin);
                flush = true;
                continue;
            }
        };
        flush = false;
        let step = match &mut upload {
            Some(up) => up.on_reply(&reply),
            None => match &reply {
                DeviceMsg::Status {
                    protocol,
                    max_chunk,
                    align,
                    max_len,
                    ..
                } => {
                    failures = 0;
                    let (protocol, max_chunk, align, max_len) =
                        (*protocol, *max_chunk, *align, *max_len);
                    if protocol != PROTOCOL {
                        bail!(
                            "the device at {port} speaks update protocol v{protocol}, this belljar speaks v{PROTOCOL}"
                        );
                    }
                    if options.mode == Mode::Install && len as u64 > u64::from(max_len) {
                        bail!(
                            "the package is {len} bytes; the device at {port} takes at most {max_len}"
                        );
                    }
                    let chunk = chunk_len(max_chunk, align).ok_or_else(|| {
                        anyhow!(
                            "the device at {port} asks for chunks of at most {max_chunk} bytes aligned to {align}: none fits"
                        )
                    })?;
                    let up = upload.insert(Upload::new(package, options.mode).with_chunk(chunk));
                    Step::Send(up.begin())
                }
                other => {
                    // Not an answer to `Hello` (a stale reply): ask again.
                    failures += 1;
                    if failures >= options.tries {
                        bail!("the device at {port} answers `Hello` with {other:?}");
                    }
                    Step::Send(HostMsg::Hello)
                }
            },
        };
        if let DeviceMsg::Ready { resume_from: next } | DeviceMsg::Ack { next } = &reply {
            // Only progress earns new tries: a link that drops before any
            // chunk is acknowledged must not be reopened forever.
            if stored.is_none_or(|stored| *next > stored) {
                stored = Some(*next);
                failures = 0;
            }
            bar.set_position(u64::from(*next).min(len as u64));
        }
        match step {
            Step::Send(next) => msg = next,
            Step::Done(DeviceMsg::Installed { app, version }) => {
                return Ok(Outcome {
                    app,
                    version,
                    mode: Mode::Install,
                });
            }
            Step::Done(DeviceMsg::Loaded { app, version }) => {
                return Ok(Outcome {
                    app,
                    version,
                    mode: Mode::RunOnce,
                });
            }
            Step::Done(other) | Step::Failed(other) => {
                return Err(Refused(failure(&other, len, header)).into());
            }
        }
    }
}

/// The device answered the push with a refusal (the error `send` returns
/// when the link worked but the package was not taken).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What a device's update agent says about itself: its `Status`, and its
/// `Report` (`None` from a device without a supervisor that answers it).
pub fn query(options: &Options) -> Result<(DeviceMsg, Option<DeviceMsg>)> {
    let port = Port::parse(&options.port, options.baud);
    let mut link = Link::open(port, options.timeout)
        .map_err(|e| anyhow!("cannot open {}: {e}", options.port))?;
    let status = ask(&mut link, &HostMsg::Hello, options, |m| {
        matches!(m, DeviceMsg::Status { .. })
    })?;
    let report = ask(&mut link, &HostMsg::Report, options, |m| {
        matches!(
            m,
            DeviceMsg::Report { .. }
                | DeviceMsg::Error {
                    code: ErrorCode::Unsupported
                }
        )
    })?;
    Ok((
        status,
        matches!(report, DeviceMsg::Report { .. }).then_some(report),
    ))
}

/// Sends `msg` until a reply `want` takes comes back (stale replies are
/// skipped), reopening a link that dropped.
fn ask(
    link: &mut Link,
    msg: &HostMsg,
    options: &Options,
    want: impl Fn(&DeviceMsg) -> bool,
) -> Result<DeviceMsg> {
    let mut flush = true;
    for _ in 0..options.tries.max(1) {
        match link.exchange(msg, flush) {
            Answer::Reply(reply) if want(&reply) => return Ok(reply),
            Answer::Reply(_) => flush = false,
            Answer::Quiet => flush = true,
            Answer::Lost(_) => {
                std::thread::sleep(options.timeout.min(Duration::from_millis(200)));
                let _ = link.reopen();
                flush = true;
            }
        }
    }
    bail!(
        "no answer to {msg:?} from {} after {} tries (is the device running the update agent?)",
        options.port,
        options.tries
    )
}

/// One line for a reply that ends the push.
fn failure(reply: &DeviceMsg, len: usize, header: &Header) -> String {
    match reply {
        DeviceMsg::Rejected { reason } => {
            format!("the device refused the package: {}", reject_text(reason, header))
        }
        DeviceMsg::Error { code } => match code {
            ErrorCode::Busy => "the device is trying out a new app: let it confirm or roll back before pushing another".into(),
            ErrorCode::BadLength { max } => {
                format!("the package is {len} bytes; the device takes at most {max}")
            }
            ErrorCode::OutOfMemory => {
                format!("the device has no room in RAM for a {len}-byte package; install it instead")
            }
            ErrorCode::Flash => "the device's flash failed while writing the package".into(),
            ErrorCode::Misaligned { align } => {
                format!("the device wants chunks aligned to {align} bytes")
            }
            code => format!("the device answered with an error: {code:?}"),
        },
        DeviceMsg::Ack { next } => {
            format!("the device acknowledged {next} bytes of a {len}-byte package")
        }
        other => format!("unexpected answer from the device: {other:?}"),
    }
}

/// Why the device refused, in words.
pub fn reject_text(reason: &Reject, header: &Header) -> String {
    match reason {
        Reject::HashMismatch => {
            "the bytes it received do not match the package's SHA-256 (corrupted on the way)".into()
        }
        Reject::Truncated => "package truncated".into(),
        Reject::BadMagic => "not a belljar package (bad magic)".into(),
        Reject::UnsupportedFormat { format } => {
            format!("package format {format} is not supported")
        }
        Reject::Oversize { len, max } => {
            format!("the package of {len} bytes is larger than the {max} bytes it takes")
        }
        Reject::BadHeader => "package header is corrupt".into(),
        Reject::BadSignature => "the signature does not verify against the key it trusts (wrong key or tampered package)".into(),
        Reject::PayloadMismatch => {
            "the payload does not match the signed hash (tampered or corrupt)".into()
        }
        Reject::WrongTarget => format!("the package is for {}, the device runs another target", header.target),
        Reject::WrongWasmtime => format!(
            "the package was built by Wasmtime {}, the device runs another version; rebuild it",
            header.wasmtime
        ),
        Reject::WrongProfile { profile } => format!(
            "the package was built with engine profile v{profile}, the device uses another; rebuild it"
        ),
        Reject::Downgrade { installed, offered } => format!(
            "version {offered} is older than the installed version {installed} (anti-rollback)"
        ),
    }
}

enum Conn {
    Tcp(TcpStream),
    Serial(Box<dyn serialport::SerialPort>),
}

/// What came back for one message.
enum Answer {
    Reply(DeviceMsg),
    /// Nothing decodable within the timeout.
    Quiet,
    /// The link is gone (closed, reset, unplugged).
    Lost(io::Error),
}

struct Link {
    port: Port,
    timeout: Duration,
    /// `None` between a drop and a reopening.
    conn: Option<Conn>,
    decoder: Decoder<DeviceMsg>,
    /// Bytes read past the last reply.
    pending: Vec<u8>,
}

impl Link {
    fn open(port: Port, timeout: Duration) -> io::Result<Link> {
        let conn = Self::connect(&port, timeout)?;
        Ok(Link {
            port,
            timeout,
            conn: Some(conn),
            decoder: Decoder::new(),
            pending: Vec::new(),
        })
    }

    fn connect(port: &Port, timeout: Duration) -> io::Result<Conn> {
        match port {
            Port::Tcp(addr) => {
                let mut last = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a HOST:PORT address (e.g. tcp:127.0.0.1:4321)",
                );
                for sa in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, timeout) {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            stream.set_write_timeout(Some(timeout))?;
                            return Ok(Conn::Tcp(stream));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            Port::Serial { path, baud } => {
                let port = serialport::new(path, *baud)
                    .data_bits(serialport::DataBits::Eight)
                    .parity(serialport::Parity::None)
                    .stop_bits(serialport::StopBits::One)
                    .flow_control(serialport::FlowControl::None)
                    .timeout(timeout)
                    .open()
                    .map_err(io::Error::other)?;
                // Whatever the device printed before is not an answer.
                port.clear(serialport::ClearBuffer::Input)
                    .map_err(io::Error::other)?;
                Ok(Conn::Serial(port))
            }
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        // Close the old connection first: a serial port may not open twice.
        self.conn = None;
        self.decoder = Decoder::new();
        self.pending.clear();
        self.conn = Some(Self::connect(&self.port, self.timeout)?);
        Ok(())
    }

    /// Sends `msg` (after a `0x00` if `flush`) and waits for one reply.
    fn exchange(&mut self, msg: &HostMsg, flush: bool) -> Answer {
        let frame = encode_vec(msg).expect("host messages fit a frame");
        let mut bytes = Vec::with_capacity(frame.len() + 1);
        if flush {
            bytes.push(0);
        }
        bytes.extend_from_slice(&frame);
        if let Err(e) = self.write(&bytes) {
            return Answer::Lost(e);
        }
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 2048];
        loop {
            if !self.pending.is_empty() {
                let mut input = self.pending.as_slice();
                let reply = self.decoder.feed(&mut input);
                let used = self.pending.len() - input.len();
                self.pending.drain(..used);
                if let Some(reply) = reply {
                    return Answer::Reply(reply);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Answer::Quiet;
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            match self.read(&mut buf, wait) {
                Ok(Some(0)) => return Answer::Lost(closed()),
                Ok(Some(n)) => self.pending.extend_from_slice(&buf[..n]),
                Ok(None) => {}
                Err(e) => return Answer::Lost(e),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.conn.as_mut().ok_or_else(closed)? {
            Conn::Tcp(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
            Conn::Serial(p) => {
                p.write_all(bytes)?;
                p.flush()
            }
        }
    }

    /// `Some(0)`: the other end closed; `None`: nothing within `wait`.
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Option<usize>> {
        let quiet = |e: &io::Error| {
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            )
        };
        match self.conn.as_mut().ok_or_else(closed)? {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(wait))?;
                match s.read(buf) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if quiet(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Conn::Serial(p) => {
                p.set_timeout(wait).map_err(io::Error::other)?;
                match p.read(buf) {
                    // A serial port does not close; 0 bytes is a timeout.
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(n)),
                    Err(e) if quiet(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the other end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_tcp_addresses_or_serial_paths() {
        assert_eq!(
            Port::parse("tcp:127.0.0.1:4321", 9600),
            Port::Tcp("127.0.0.1:4321".into())
        );
        assert_eq!(
            Port::parse("/dev/ttyACM0", 115_200),
            Port::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 115_200
            }
        );
    }

    #[test]
    fn chunks_are_the_largest_aligned_length() {
        assert_eq!(chunk_len(512, 8), Some(512));
        assert_eq!(chunk_len(500, 8), Some(496));
        assert_eq!(chunk_len(2048, 256), Some(512));
        assert_eq!(chunk_len(512, 0), Some(512));
        assert_eq!(chunk_len(512, 1024), None);
        assert_eq!(chunk_len(0, 8), None);
    }

    #[test]
    fn the_progress_bar_style_is_valid() {
        bar_style();
    }
}
