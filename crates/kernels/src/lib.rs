//! The compute kernels of the speed table (`cargo bench -p belljar-cli
//! --features speed --bench speed`), written once: the speed guest
//! (`guests/speed`) compiles this crate to wasm, the bench firmware and the
//! desktop bench compile it natively, so every engine does identical work.
//!
//! Each kernel is deterministic (its inputs come from [`Lcg`]) and returns a
//! 32-bit result that depends on all of its work; the bench checks that
//! every engine got the same one. [`run_all`] runs them in order and calls
//! [`Host::mark`] after each (and once before the first): a runner stamps
//! the marks with its clock, and a kernel's cost is the time between its
//! mark and the previous one, minus that of [`EMPTY`] (a kernel that does
//! nothing: what a mark itself costs).
#![no_std]

/// What a kernel needs from where it runs.
pub trait Host {
    /// Drives GPIO `pin` high: the host call of [`host_calls`] (natively a
    /// board register write, in the guest the `gpio.set-high` import).
    fn set_high(&mut self, pin: u32);
    /// A mark line: `mark speed <kernel> <result, 8 hex digits>`, or
    /// `mark speed start` before the first kernel.
    fn mark(&mut self, line: &str);
}

/// What every mark line starts with; runners stamp the lines that do.
pub const MARK: &str = "mark speed ";

/// The kernel that does nothing: its time is the cost of a mark.
pub const EMPTY: &str = "empty";

/// A kernel: does its work (calling the host if it is the host-call one)
/// and returns its result.
pub type Kernel = fn(&mut dyn Host) -> u32;

/// The kernels in the order [`run_all`] runs them, [`EMPTY`] first.
pub const KERNELS: [(&str, Kernel); 7] = [
    (EMPTY, |_| 0),
    ("crc32", |_| crc32()),
    ("fir-q15", |_| fir_q15()),
    ("matmul-f32", |_| matmul_f32()),
    ("nmea", |_| nmea()),
    ("sort", |_| sort()),
    ("host-calls", host_calls),
];

/// Runs every kernel of [`KERNELS`], marking before the first and after
/// each one.
pub fn run_all(host: &mut dyn Host) {
    host.mark("mark speed start");
    // By index: `for (name, kernel) in KERNELS` copies the 84-byte table
    // with a constant-length `memory.copy`, which Wasmtime 48 expands into
    // 128-bit vector moves that the firmware's Pulley (SIMD compiled out)
    // traps on.
    #[allow(clippy::needless_range_loop)]
    for i in 0..KERNELS.len() {
        let (name, kernel) = KERNELS[i];
        let result = kernel(host);
        let mut line = Line::new();
        line.push(MARK);
        line.push(name);
        line.push(" ");
        line.hex(result);
        host.mark(line.as_str());
    }
}

/// A mark line, built without `core::fmt` (cheap and the same everywhere).
struct Line {
    bytes: [u8; 48],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            bytes: [0; 48],
            len: 0,
        }
    }
    fn push(&mut self, s: &str) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
    }
    fn hex(&mut self, value: u32) {
        for shift in (0..8).rev() {
            let nibble = (value >> (shift * 4)) & 0xf;
            self.bytes[self.len] = b"0123456789abcdef"[nibble as usize];
            self.len += 1;
        }
    }
    fn as_str(&self) -> &str {
        // Only ASCII was pushed.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

/// Parses a mark line: `Some(("start", None))` or `Some((kernel,
/// Some(result)))`.
pub fn parse_mark(line: &str) -> Option<(&str, Option<u32>)> {
    let rest = line.strip_prefix(MARK)?;
    if rest == "start" {
        return Some(("start", None));
    }
    let (name, hex) = rest.split_once(' ')?;
    Some((name, Some(u32::from_str_radix(hex.get(..8)?, 16).ok()?)))
}

/// The inputs: Numerical Recipes' 32-bit linear congruential generator.
pub struct Lcg(u32);

impl Lcg {
    pub fn new(seed: u32) -> Self {
        Lcg(seed)
    }
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }
}

/// CRC-32 (IEEE 802.3, reflected, table-driven) of a 2 KiB buffer, 64
/// times over buffers that differ in one byte.
pub fn crc32() -> u32 {
    let mut lcg = Lcg::new(1);
    let mut buf = [0u8; 2048];
    for b in buf.iter_mut() {
        *b = (lcg.next_u32() >> 24) as u8;
    }
    let mut acc = 0u32;
    for pass in 0..64 {
        buf[pass * 31 % buf.len()] ^= pass as u8;
        acc = acc.rotate_left(5) ^ crc32_of(&buf);
    }
    acc
}

/// The CRC-32 of `data`.
pub fn crc32_of(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// A 32-tap Q15 FIR filter over 512 samples, 8 times (each pass
/// filters the previous pass's output), saturating to i16.
pub fn fir_q15() -> u32 {
    const TAPS: usize = 32;
    let mut lcg = Lcg::new(2);
    let mut taps = [0i16; TAPS];
    for t in taps.iter_mut() {
        // Small taps (|t| < 2048) so the output stays in range mostly.
        *t = ((lcg.next_u32() >> 20) as i16) - 2048;
    }
    let mut signal = [0i16; 512];
    for s in signal.iter_mut() {
        *s = (lcg.next_u32() >> 16) as i16;
    }
    let mut out = [0i16; 512];
    let mut acc = 0u32;
    for _ in 0..8 {
        for n in 0..signal.len() {
            let mut sum = 0i32;
            for (k, &tap) in taps.iter().enumerate() {
                let x = if n >= k { signal[n - k] } else { 0 };
                sum += i32::from(tap) * i32::from(x);
            }
            let y = (sum >> 15).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            out[n] = y;
            acc = acc.wrapping_mul(31).wrapping_add(y as u16 as u32);
        }
        // Feed the output back, with gain, so that passes differ.
        for (s, &y) in signal.iter_mut().zip(&out) {
            *s = y.saturating_mul(4);
        }
    }
    acc
}

/// 16x16 f32 matrix multiply, 24 times, each with one input element
/// changed; the result folds every output's bits.
pub fn matmul_f32() -> u32 {
    const N: usize = 16;
    let mut lcg = Lcg::new(3);
    // Row-major, flat: nested arrays make LLVM build each row of `c` aside
    // and copy it in (a constant 64-byte `memory.copy`, see [`run_all`]).
    let mut a = [0f32; N * N];
    let mut b = [0f32; N * N];
    for x in a.iter_mut().chain(b.iter_mut()) {
        // Multiples of 1/64 in [-2, 2): sums of their products are exact
        // or rounded the same way on every IEEE engine.
        *x = ((lcg.next_u32() >> 24) as f32) / 64.0 - 2.0;
    }
    let mut c = [0f32; N * N];
    let mut acc = 0u32;
    for rep in 0..24 {
        a[(rep % N) * N + (rep * 7) % N] += 0.5;
        for i in 0..N {
            for j in 0..N {
                let mut sum = 0f32;
                for k in 0..N {
                    sum += a[i * N + k] * b[k * N + j];
                }
                c[i * N + j] = sum;
            }
        }
        for x in &c {
            acc = acc.rotate_left(3) ^ x.to_bits();
        }
    }
    acc
}

/// NMEA 0183: 32 `$GPGGA` sentences (fields from [`Lcg`], checksum
/// computed), then 16 passes that check each sentence's checksum and parse
/// its fields (time, latitude, longitude, fix, satellites, altitude) into
/// integers.
pub fn nmea() -> u32 {
    let mut text = [0u8; 2560];
    let len = nmea_sentences(&mut text, 32);
    let text = &text[..len];
    let mut acc = 0u32;
    for pass in 0..16u32 {
        for sentence in text.split(|&b| b == b'\n') {
            if sentence.is_empty() {
                continue;
            }
            let fix = parse_gga(sentence);
            acc = acc.rotate_left(7) ^ fix.wrapping_add(pass);
        }
    }
    acc
}

/// Writes `count` GGA sentences into `out`, one a line; returns the length.
fn nmea_sentences(out: &mut [u8], count: usize) -> usize {
    let mut lcg = Lcg::new(4);
    let mut len = 0;
    for _ in 0..count {
        let start = len;
        let mut put = |bytes: &[u8]| {
            out[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        let digits = |n: u32, width: usize, put: &mut dyn FnMut(&[u8])| {
            let mut buf = [b'0'; 10];
            let mut n = n;
            for d in buf[..width].iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            put(&buf[..width]);
        };
        let mut r = || lcg.next_u32() >> 8;
        put(b"$GPGGA,");
        digits(r() % 240_000, 6, &mut put);
        put(b".00,");
        digits(r() % 9000, 4, &mut put);
        put(b".");
        digits(r() % 100_000, 5, &mut put);
        put(if r() & 1 == 0 { b",N," } else { b",S," });
        digits(r() % 18000, 5, &mut put);
        put(b".");
        digits(r() % 100_000, 5, &mut put);
        put(if r() & 1 == 0 { b",E," } else { b",W," });
        digits(1 + r() % 2, 1, &mut put);
        put(b",");
        digits(4 + r() % 9, 2, &mut put);
        put(b",0.9,");
        digits(r() % 3000, 4, &mut put);
        put(b".");
        digits(r() % 10, 1, &mut put);
        put(b",M,46.9,M,,*");
        let sum = out[start + 1..len - 1].iter().fold(0u8, |s, &b| s ^ b);
        let hex = b"0123456789ABCDEF";
        out[len] = hex[usize::from(sum >> 4)];
        out[len + 1] = hex[usize::from(sum & 0xf)];
        out[len + 2] = b'\n';
        len += 3;
    }
    len
}

/// Checks one GGA sentence and folds its fields; 0 when the checksum is
/// wrong or it is not GGA.
fn parse_gga(sentence: &[u8]) -> u32 {
    let Some(body) = sentence.strip_prefix(b"$") else {
        return 0;
    };
    let Some(star) = body.iter().position(|&b| b == b'*') else {
        return 0;
    };
    let (data, check) = (&body[..star], &body[star + 1..]);
    let sum = data.iter().fold(0u8, |s, &b| s ^ b);
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    match check {
        [h, l] if hex(*h).zip(hex(*l)).is_some_and(|(h, l)| h << 4 | l == sum) => {}
        _ => return 0,
    }
    let mut fields = data.split(|&b| b == b',');
    if fields.next() != Some(b"GPGGA") {
        return 0;
    }
    let mut field = || fields.next().unwrap_or(b"");
    let time = decimal(field(), 2);
    let lat = degrees(field(), 2, field() == b"S");
    let lon = degrees(field(), 3, field() == b"W");
    let quality = decimal(field(), 0);
    let satellites = decimal(field(), 0);
    let _hdop = field();
    let altitude = decimal(field(), 1);
    time ^ lat.rotate_left(8) ^ lon.rotate_left(16) ^ quality << 28 ^ satellites << 24 ^ altitude
}

/// `123.45` with `places` decimals as an integer in units of the last one.
fn decimal(field: &[u8], places: u32) -> u32 {
    let mut value = 0u32;
    let mut seen: Option<u32> = None;
    for &c in field {
        match c {
            b'.' => seen = Some(0),
            b'0'..=b'9' => {
                if let Some(n) = seen.as_mut() {
                    if *n == places {
                        break;
                    }
                    *n += 1;
                }
                value = value.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
            }
            _ => break,
        }
    }
    for _ in seen.unwrap_or(0)..places {
        value = value.wrapping_mul(10);
    }
    value
}

/// NMEA `dddmm.mmmmm` (with `deg_digits` degree digits) as 1e-5 minutes,
/// negative (two's complement) for south and west.
fn degrees(field: &[u8], deg_digits: usize, negative: bool) -> u32 {
    let (deg, minutes) = field.split_at(deg_digits.min(field.len()));
    let value = decimal(deg, 0)
        .wrapping_mul(60 * 100_000)
        .wrapping_add(decimal(minutes, 5));
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// `sort_unstable` (core's) of 1024 u32 from [`Lcg`], 4 times.
pub fn sort() -> u32 {
    let mut lcg = Lcg::new(5);
    let mut v = [0u32; 1024];
    let mut acc = 0u32;
    for _ in 0..4 {
        for x in v.iter_mut() {
            *x = lcg.next_u32() >> 4;
        }
        v.sort_unstable();
        for (i, &x) in v.iter().enumerate() {
            acc = acc.wrapping_add(x.wrapping_mul(i as u32 + 1));
        }
    }
    acc
}

/// 2 000 host calls (`set_high` on pin 25) with a little work between them.
pub fn host_calls(host: &mut dyn Host) -> u32 {
    let mut lcg = Lcg::new(6);
    let mut acc = 0u32;
    for _ in 0..2_000 {
        host.set_high(25);
        acc ^= lcg.next_u32();
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_check_string_is_the_standard_one() {
        assert_eq!(crc32_of(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn generated_nmea_sentences_parse_and_a_bad_checksum_is_refused() {
        let mut text = [0u8; 2560];
        let len = nmea_sentences(&mut text, 32);
        let mut lines = 0;
        for line in text[..len].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert_ne!(
                parse_gga(line),
                0,
                "{}",
                core::str::from_utf8(line).unwrap()
            );
            let mut bad = [0u8; 100];
            bad[..line.len()].copy_from_slice(line);
            bad[8] ^= 1;
            assert_eq!(parse_gga(&bad[..line.len()]), 0);
            lines += 1;
        }
        assert_eq!(lines, 32);
        assert_eq!(decimal(b"545.4", 1), 5454);
        assert_eq!(decimal(b"12", 2), 1200);
        assert_eq!(
            degrees(b"4807.03800", 2, true),
            (48 * 6_000_000u32 + 703_800).wrapping_neg()
        );
    }

    #[test]
    fn marks_round_trip() {
        struct Lines(u32, [u32; 8], usize);
        impl Host for Lines {
            fn set_high(&mut self, _pin: u32) {
                self.0 += 1;
            }
            fn mark(&mut self, line: &str) {
                let (name, result) = parse_mark(line).unwrap();
                assert_eq!(
                    name,
                    if self.2 == 0 {
                        "start"
                    } else {
                        KERNELS[self.2 - 1].0
                    }
                );
                self.1[self.2] = result.unwrap_or(0);
                self.2 += 1;
            }
        }
        let mut host = Lines(0, [0; 8], 0);
        run_all(&mut host);
        assert_eq!(host.2, 8);
        assert_eq!(host.0, 2_000);
        assert_eq!(host.1[6], sort());
    }
}
