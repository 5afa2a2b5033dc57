//! Events and logging: one line per event on stderr, text or JSON.
//!
//! Lifecycle events (hook start/success/failure, each stop step) are at
//! verbosity 2, the default, because users read them in `docker logs`.
//! Failures are at 1, debug detail (forwarded signals, reaped orphans) at 3.
//!
//! Messages are `fmt::Arguments`, formatted only when their level is enabled,
//! into a line buffer on the stack, and written with one `write(2)`: logging
//! on the stop path allocates nothing (mallocng growth cost more than the
//! rest of the stop).

use crate::os::exclusive::Exclusive;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warn = 1,
    Info = 2,
    Debug = 3,
}

struct Logger {
    verbosity: u8,
    format: Format,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets verbosity and format once; before that, defaults apply.
pub fn init(verbosity: u8, format: Format) {
    let _ = LOGGER.set(Logger { verbosity, format });
}

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        verbosity: 2,
        format: Format::Text,
    })
}

pub fn enabled(level: Level) -> bool {
    logger().verbosity >= level as u8
}

/// One event. `hook` and `handler` are set for hook events.
pub struct Event<'a> {
    pub name: &'a str,
    pub hook: Option<&'a str>,
    pub handler: Option<&'a str>,
    pub message: fmt::Arguments<'a>,
}

pub fn emit(level: Level, event: Event<'_>) {
    // Kept only once turned on (`keep` does nothing before).
    if level == Level::Warn {
        keep_failure(&event);
    }
    if !enabled(level) {
        return;
    }
    let mut line = Line::new();
    match logger().format {
        Format::Text => write_text(&mut line, &event),
        Format::Json => write_json(&mut line, &event, SystemTime::now()),
    }
    line.write_to_stderr();
}

/// The most of a kept failure.
const FAILURE_MAX: usize = 1024;
/// The last failing hook's or probe's event, `Name: message` and its line
/// break; kept once a termination message is set.
static LAST_FAILURE: Exclusive<([u8; FAILURE_MAX + 1], usize)> =
    Exclusive::new(([0; FAILURE_MAX + 1], 0));

/// Keeps the last failure event from now on (for the termination message).
pub fn keep_failures() {
    LAST_FAILURE.turn_on();
}

/// The last failing hook's or probe's event, its line ended (empty if
/// none), to `with`.
pub fn last_failure(with: impl FnOnce(&[u8])) {
    LAST_FAILURE.with(|kept| with(&kept.0[..kept.1]));
}

#[inline(never)]
fn keep_failure(event: &Event<'_>) {
    let failure =
        event.name.starts_with("Failed") || matches!(event.name, "Unhealthy" | "OOMKilled");
    if failure {
        keep(format_args!("{}: {}", event.name, event.message));
    }
}

/// Keeps `args` as the last failure (a failure said outside the events:
/// the app's program that could not be started).
pub fn keep(args: fmt::Arguments<'_>) {
    LAST_FAILURE.with(|(buf, len)| {
        // Cut to FAILURE_MAX; the line break has the last byte's room.
        let n = crate::os::text::format_into(&mut buf[..FAILURE_MAX], args).0;
        buf[n] = b'\n';
        *len = n + 1;
    });
}

/// An event that is not about a hook. The message is formatted only if
/// `level` is enabled: `log(Level::Debug, "Reaped", format_args!(...))` costs
/// nothing at the default verbosity.
#[inline]
pub fn log(level: Level, name: &str, message: fmt::Arguments<'_>) {
    if enabled(level) {
        emit(
            level,
            Event {
                name,
                hook: None,
                handler: None,
                message,
            },
        );
    }
}

/// The most of one event line; a longer message is cut, marked with `...`.
const LINE_MAX: usize = 4096;

/// A line under construction, on the stack. Writes past the end are dropped
/// (at a character boundary) and the line is marked as cut.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
    /// Writes stop here, keeping room for the line's ending.
    limit: usize,
    cut: bool,
}

impl Line {
    fn new() -> Self {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
            limit: LINE_MAX - 4,
            cut: false,
        }
    }

    #[cfg(test)]
    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// Writes the line without blocking: when stderr has no room (its
    /// reader stalled), the line, or what is left of it, is dropped rather
    /// than hold up PID 1. A line fits in PIPE_BUF, so a pipe takes it whole.
    fn write_to_stderr(mut self) {
        // Room is kept for the ending, so a cut line still ends the same way.
        let ending: &[u8] = if self.cut { b"...\n" } else { b"\n" };
        self.buf[self.len..self.len + ending.len()].copy_from_slice(ending);
        let mut rest = &self.buf[..self.len + ending.len()];
        while let Ok(n @ 1..) = crate::os::stdio::write(crate::os::stdio::Stream::Err, rest) {
            rest = &rest[n..];
            if rest.is_empty() {
                return;
            }
        }
    }
}

impl fmt::Write for Line {
    /// Copies what fits (whole characters only); past the limit, marks the
    /// line as cut and refuses everything after.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Err(fmt::Error);
        }
        if !crate::os::text::push_cut(&mut self.buf[..self.limit], &mut self.len, s) {
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

fn write_text(line: &mut Line, e: &Event<'_>) {
    let _ = write!(line, "hookinit: {}", e.name);
    if let Some(hook) = e.hook {
        let _ = write!(line, " hook={hook}");
    }
    if let Some(handler) = e.handler {
        let _ = write!(line, " handler={handler}");
    }
    let _ = write!(line, ": {}", e.message);
}

fn write_json(line: &mut Line, e: &Event<'_>, now: SystemTime) {
    let _ = write!(line, "{{\"time\":\"{}\",\"event\":", Rfc3339(now));
    json_string(line, format_args!("{}", e.name));
    let _ = line.write_str("\"");
    for (key, value) in [("hook", e.hook), ("handler", e.handler)] {
        if let Some(value) = value {
            let _ = write!(line, ",\"{key}\":");
            json_string(line, format_args!("{value}"));
            let _ = line.write_str("\"");
        }
    }
    let _ = line.write_str(",\"message\":");
    // Keep room for `..."}` (and the newline): a cut message still closes.
    line.limit = LINE_MAX - 9;
    json_string(line, e.message);
    let cut = std::mem::take(&mut line.cut);
    line.limit = LINE_MAX - 4;
    let _ = line.write_str(if cut { "...\"}" } else { "\"}" });
}

/// Writes `value` as a JSON string literal without its closing quote,
/// escaping as it goes. An escape is written whole or not at all, so a cut
/// line stays valid JSON.
fn json_string(line: &mut Line, value: fmt::Arguments<'_>) {
    struct Escaper<'l>(&'l mut Line);
    impl fmt::Write for Escaper<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let mut plain = 0;
            for (i, c) in s.char_indices() {
                let mut hex = *b"\\u0000";
                let escaped: &[u8] = match c {
                    '"' => b"\\\"",
                    '\\' => b"\\\\",
                    '\n' => b"\\n",
                    '\r' => b"\\r",
                    '\t' => b"\\t",
                    c if (c as u32) < 0x20 => {
                        hex[4] = b"0123456789abcdef"[c as usize >> 4];
                        hex[5] = b"0123456789abcdef"[c as usize & 15];
                        &hex
                    }
                    _ => continue,
                };
                self.0.write_str(&s[plain..i])?;
                let escaped = std::str::from_utf8(escaped).map_err(|_| fmt::Error)?;
                if self.0.len + escaped.len() > self.0.limit {
                    self.0.cut = true;
                    return Err(fmt::Error);
                }
                self.0.write_str(escaped)?;
                plain = i + c.len_utf8();
            }
            self.0.write_str(&s[plain..])
        }
    }
    let _ = line.write_str("\"");
    let _ = Escaper(line).write_fmt(value);
}

/// Seconds as the shortest decimal: `10s`, `2.5s`, `0.001s` (millisecond
/// precision), by integer arithmetic: float formatting costs thousands of
/// instructions, on the stop path.
pub fn secs(d: Duration) -> Secs {
    Secs(d)
}

pub struct Secs(Duration);

/// A `u128` in decimal, as `{}` prints it, without core's `u128`
/// formatting (600 bytes): 19 digits at a time through `u64`.
pub struct Big(pub u128);

impl fmt::Display for Big {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const E19: u128 = 10_000_000_000_000_000_000;
        match u64::try_from(self.0) {
            Ok(v) => write!(f, "{v}"),
            Err(_) => write!(f, "{}{:019}", Big(self.0 / E19), (self.0 % E19) as u64),
        }
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // as_millis() / 1000 and % 1000, in u64.
        let (whole, mut frac) = (self.0.as_secs(), self.0.subsec_millis());
        if frac == 0 {
            return write!(f, "{whole}s");
        }
        let mut digits = 3;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{whole}.{frac:0digits$}s")
    }
}

/// Seconds with exactly `decimals` (0–9) decimals, rounded: `1.003`.
pub fn secs_fixed(d: Duration, decimals: u32) -> SecsFixed {
    SecsFixed(d, decimals.min(9))
}

pub struct SecsFixed(Duration, u32);

impl fmt::Display for SecsFixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = 10u128.pow(9 - self.1);
        let n = (self.0.as_nanos() + unit / 2) / unit;
        if self.1 == 0 {
            return write!(f, "{}", Big(n));
        }
        let scale = 10u128.pow(self.1);
        write!(
            f,
            "{}.{:0width$}",
            Big(n / scale),
            // Under 10^9.
            (n % scale) as u64,
            width = self.1 as usize
        )
    }
}

/// `2026-11-23T19:04:05.123Z`, without a date library.
struct Rfc3339(SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            since.subsec_millis()
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_prints_as_u128_display_does() {
        for v in [
            0,
            7,
            u64::MAX as u128,
            u64::MAX as u128 + 1,
            10u128.pow(19),
            10u128.pow(38) + 5,
            u128::MAX,
        ] {
            assert_eq!(Big(v).to_string(), v.to_string());
        }
    }

    #[test]
    fn secs_of_the_largest_durations_are_exact() {
        let d = Duration::MAX;
        let ms = d.as_millis();
        assert_eq!(
            secs(d).to_string(),
            format!("{}.{:03}s", ms / 1000, ms % 1000)
        );
        let n = (d.as_nanos() + 5) / 10;
        assert_eq!(
            secs_fixed(d, 8).to_string(),
            format!("{}.{:08}", n / 100_000_000, n % 100_000_000)
        );
        let n = (d.as_nanos() + 500_000_000) / 1_000_000_000;
        assert_eq!(secs_fixed(d, 0).to_string(), n.to_string());
    }

    fn text(e: &Event<'_>) -> String {
        let mut line = Line::new();
        write_text(&mut line, e);
        line.as_str().to_string()
    }

    fn json(e: &Event<'_>) -> serde_json::Value {
        let mut line = Line::new();
        write_json(&mut line, e, UNIX_EPOCH);
        serde_json::from_str(line.as_str()).expect("valid JSON")
    }

    #[test]
    fn formats_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_460_645_123);
        assert_eq!(Rfc3339(t).to_string(), "2026-11-23T19:04:05.123Z");
        assert_eq!(Rfc3339(UNIX_EPOCH).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn formats_seconds_without_floats() {
        assert_eq!(secs(Duration::from_secs(10)).to_string(), "10s");
        assert_eq!(secs(Duration::from_millis(2500)).to_string(), "2.5s");
        assert_eq!(secs(Duration::from_millis(1)).to_string(), "0.001s");
        assert_eq!(secs(Duration::from_millis(1250)).to_string(), "1.25s");
        assert_eq!(
            secs_fixed(Duration::from_millis(1999), 1).to_string(),
            "2.0"
        );
        assert_eq!(
            secs_fixed(Duration::from_micros(1_003_400), 3).to_string(),
            "1.003"
        );
        assert_eq!(secs_fixed(Duration::from_millis(750), 1).to_string(), "0.8");
    }

    #[test]
    fn json_line_escapes_and_has_fields() {
        let msg = "a \"b\"\nc\u{1}\\";
        let e = Event {
            name: "FailedPreStopHook",
            hook: Some("PreStop"),
            handler: Some("exec"),
            message: format_args!("{msg}"),
        };
        let v = json(&e);
        assert_eq!(v["event"], "FailedPreStopHook");
        assert_eq!(v["hook"], "PreStop");
        assert_eq!(v["handler"], "exec");
        assert_eq!(v["message"], msg);
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(
            text(&e),
            format!("hookinit: FailedPreStopHook hook=PreStop handler=exec: {msg}")
        );
    }

    #[test]
    fn cut_never_splits_an_escape() {
        // Every alignment of the cut against 6-byte \u001b escapes (ANSI colours).
        for pad in 0..12 {
            let msg = format!("{}{}", "a".repeat(pad), "\u{1b}[31m".repeat(1500));
            let e = Event {
                name: "X",
                hook: None,
                handler: None,
                message: format_args!("{msg}"),
            };
            let v = json(&e);
            assert!(v["message"].as_str().unwrap().ends_with("..."), "pad {pad}");
        }
    }

    #[test]
    fn long_messages_are_cut_and_stay_valid() {
        let long = "é\"".repeat(3000);
        let e = Event {
            name: "X",
            hook: None,
            handler: None,
            message: format_args!("{long}"),
        };
        let v = json(&e);
        assert!(v["message"].as_str().unwrap().ends_with("..."));
        let mut line = Line::new();
        write_text(&mut line, &e);
        assert!(line.cut && line.len <= LINE_MAX - 4);
    }
}
