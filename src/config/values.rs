//! Value parsers: a setting's value, as text (env, flags) or JSON (the
//! file), into what [`Config`](super::Config) holds. Errors say what is wrong
//! with the value; the caller adds where it came from.

use super::ConfigError;
use crate::os::notify_socket::Address;
use crate::os::signals::{self, SignalSet};
use crate::spec::handler::MAX_SECONDS;
use crate::spec::json;
use crate::spec::json::Value;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::Duration;

/// A value as a source holds it: text (env, flags) or JSON (the file).
pub(super) enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

pub(super) fn show(raw: &Raw<'_>) -> String {
    match raw {
        Raw::Text(t) => format!("\"{t}\""),
        Raw::Json(v) => v.to_string(),
    }
}

pub(super) fn text<'a>(raw: &Raw<'a>, source: &str) -> Result<&'a str, ConfigError> {
    match raw {
        Raw::Text(t) => Ok(t),
        Raw::Json(Value::String(s)) => Ok(s),
        Raw::Json(v) => Err(ConfigError::new(
            source,
            format!("must be a string, not {}", json::kind(v)),
        )),
    }
}

pub(super) fn text_or_bool<'a>(raw: &Raw<'a>) -> Option<&'a str> {
    match raw {
        Raw::Text(t) => Some(t),
        Raw::Json(Value::String(s)) => Some(s),
        _ => None,
    }
}

pub(super) fn boolean(raw: &Raw<'_>, source: &str) -> Result<bool, ConfigError> {
    switch(raw).ok_or_else(|| {
        ConfigError::new(
            source,
            format!("{} is not a boolean: use 1 or 0", show(raw)),
        )
    })
}

/// On or off, in the words every switch takes; `None` if neither.
fn switch(raw: &Raw<'_>) -> Option<bool> {
    match raw {
        Raw::Json(Value::Bool(b)) => Some(*b),
        Raw::Json(Value::Number(n)) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => match text_or_bool(raw)
            .map(|t| t.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("1" | "true" | "yes" | "on") => Some(true),
            Some("0" | "false" | "no" | "off") => Some(false),
            _ => None,
        },
    }
}

/// JSON given as text (env, flag) or inline (file), to `f`, which stores
/// what it parses. Not generic: one copy for every setting given as JSON.
#[inline(never)]
pub(super) fn with_json(
    raw: &Raw<'_>,
    source: &str,
    f: &mut dyn FnMut(&Value) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let parsed;
    let v = match raw {
        Raw::Json(v) => v,
        Raw::Text(t) => {
            parsed = parse_text(t, source)?;
            &parsed
        }
    };
    f(v)
}

#[inline(never)]
fn parse_text(t: &str, source: &str) -> Result<Value, ConfigError> {
    json::parse(t).map_err(|e| ConfigError::new(source, e))
}

/// A duration: seconds as a number (`10`, `2.5`), or Go's and Compose's
/// syntax (`30s`, `1m30s`, `500ms`, `1h`, `1.5m`). JSON numbers are seconds.
pub(super) fn seconds(raw: &Raw<'_>) -> Result<Duration, String> {
    let value = match raw {
        Raw::Json(Value::Number(n)) => n.as_f64(),
        Raw::Text(_) | Raw::Json(Value::String(_)) => {
            parse_duration(text_or_bool(raw).unwrap_or_default().trim())
        }
        Raw::Json(_) => None,
    };
    match value {
        None => Err(format!(
            "{} is not a duration: use seconds (10, 2.5) or 1m30s, 500ms",
            show(raw)
        )),
        Some(v) if !v.is_finite() || v < 0.0 => Err(format!(
            "{} must be a number of seconds, 0 or more",
            show(raw)
        )),
        Some(v) if v > MAX_SECONDS as f64 => {
            Err(format!("{} is more than a year of seconds", show(raw)))
        }
        Some(v) => Ok(Duration::from_secs_f64(v)),
    }
}

/// Seconds in `text`: a plain decimal number, or a sequence of decimal
/// numbers each with a unit (h, m, s, ms, us, µs, ns), as Go's
/// `time.ParseDuration` (which Compose uses); `None` if it is neither.
fn parse_duration(text: &str) -> Option<f64> {
    let number = decimal;
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(v) = number(rest) {
        return Some(sign * v);
    }
    let mut total = 0.0;
    let mut rest = rest;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value = number(&rest[..digits])?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(sign * total)
}

/// A plain decimal number (`10`, `2.5`, `.5`, `5.`): digits with at most one
/// point. Not `str::parse::<f64>`, which also takes "inf", "NaN" and
/// exponents, and whose exact algorithm (12 KB of tables and code) a
/// duration does not need: digits past the 18th after the point (below a
/// nanosecond) are dropped.
fn decimal(t: &str) -> Option<f64> {
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut value = 0.0;
    for b in whole.bytes() {
        value = value * 10.0 + f64::from(b - b'0');
    }
    let fraction = &fraction[..fraction.len().min(18)];
    let mut numerator: u64 = 0;
    for b in fraction.bytes() {
        numerator = numerator * 10 + u64::from(b - b'0');
    }
    Some(value + numerator as f64 / 10f64.powi(fraction.len() as i32))
}

/// `143:0,130:0`; a bare `143` means `143:0` (tini's `-e`).
pub(super) fn parse_remap(t: &str) -> Result<Vec<(i32, i32)>, String> {
    let code = |s: &str| {
        s.trim()
            .parse::<u8>()
            .map(i32::from)
            .map_err(|_| format!("\"{}\" is not an exit code 0-255", s.trim()))
    };
    t.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| match part.split_once(':') {
            Some((from, to)) => Ok((code(from)?, code(to)?)),
            None => Ok((code(part)?, 0)),
        })
        .collect()
}

/// `HOOKINIT_READINESS_ADDRESS`: `PORT` or `:PORT` (every IPv4 address),
/// `IP:PORT`, `[IPv6]:PORT` (`[IPv6%SCOPE]:PORT`), or `0` (none).
/// By hand around `IpAddr`'s parser, which the binary has anyway (core's
/// `SocketAddr` parser brings its own), with one message for every error.
#[inline(never)]
pub(super) fn parse_listen_address(raw: &Raw<'_>) -> Result<Option<SocketAddr>, String> {
    let t = match raw {
        Raw::Json(Value::Number(n)) => &n.to_string(),
        _ => text_or_bool(raw).unwrap_or_default().trim(),
    };
    if matches!(t, "0" | "false" | "no" | "off") {
        return Ok(None);
    }
    let (host, port) = match crate::os::text::rfind_byte(t, b':') {
        Some(at) => (&t[..at], &t[at + 1..]),
        None => ("", t),
    };
    let addr = whole_number(port, 65535)
        .filter(|&p| p > 0)
        .and_then(|port| {
            let port = port as u16;
            // IPv4 bare, IPv6 in brackets (with an optional numeric scope).
            match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                None if host.is_empty() => Some(SocketAddr::from(([0, 0, 0, 0], port))),
                None => match host.parse::<IpAddr>() {
                    Ok(ip @ IpAddr::V4(_)) => Some(SocketAddr::new(ip, port)),
                    _ => None,
                },
                Some(h) => {
                    let (h, scope) = match crate::os::text::split_once(h, "%") {
                        None => (h, 0),
                        Some((h, s)) => (h, whole_number(s, u32::MAX.into())?),
                    };
                    match h.parse::<IpAddr>() {
                        Ok(IpAddr::V6(ip)) => {
                            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope as u32)))
                        }
                        _ => None,
                    }
                }
            }
        });
    addr.map(Some).ok_or_else(|| {
        format!(
            "{} is not an address to listen on: use [IP:]PORT or [IPv6]:PORT, a port from 1 to 65535 (0: none)",
            show(raw)
        )
    })
}

/// A listening address in messages: `IP:PORT` or `[IPv6]:PORT` (with its
/// `%SCOPE`), by the IP types' own `Display`, which the binary has anyway
/// (`SocketAddr`'s brings padding code of its own).
pub struct Listen(pub SocketAddr);

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ip, scope): (&dyn std::fmt::Display, _) = match &self.0 {
            SocketAddr::V4(a) => return write!(f, "{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => (a.ip(), a.scope_id()),
        };
        write!(f, "[{ip}")?;
        if scope != 0 {
            write!(f, "%{scope}")?;
        }
        write!(f, "]:{}", self.0.port())
    }
}

/// ASCII digits (at least one) up to `max`.
fn whole_number(s: &str, max: u64) -> Option<u64> {
    crate::os::text::decimal(s.as_bytes()).filter(|&n| n <= max)
}

/// `HOOKINIT_NOTIFY_SOCKET`: `1` (an abstract socket the kernel names),
/// `@NAME` (that abstract socket), an absolute path, or `0` (none).
#[inline(never)]
pub(super) fn parse_notify_socket(raw: &Raw<'_>) -> Result<Option<Address>, String> {
    // On and off in the words of every switch (`boolean`), or `auto`.
    let t = text_or_bool(raw).unwrap_or_default().trim();
    let on = if t == "auto" { Some(true) } else { switch(raw) };
    if let Some(on) = on {
        return Ok(on.then(Address::default));
    }
    // sockaddr_un's sun_path holds 108 bytes: a path and its NUL, or a NUL
    // and an abstract name. One message for every way to miss (the same
    // checks, one format).
    if let ([b'@', _, ..] | [b'/', ..], ..=107) = (t.as_bytes(), t.len()) {
        if let Ok(name) = Address::new(t) {
            return Ok(Some(name));
        }
    }
    Err(format!(
        "{} is not a notify socket: use 1 (an abstract socket), @NAME or an absolute path (at most 107 bytes)",
        show(raw)
    ))
}

pub(super) fn parse_stop_on(raw: &Raw<'_>) -> Result<SignalSet, String> {
    let items: Vec<String> = match raw {
        Raw::Text(_) | Raw::Json(Value::String(_)) => text_or_bool(raw)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Raw::Json(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("must list signal names, not {}", json::kind(other))),
            })
            .collect::<Result<_, _>>()?,
        Raw::Json(v) => return Err(format!("must be a list of signals, not {}", json::kind(v))),
    };
    let mut set = SignalSet::empty();
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(set);
    }
    for item in items {
        match signals::parse(&item) {
            Some(sig) if sig == libc::SIGKILL || sig == libc::SIGSTOP || sig == libc::SIGCHLD => {
                return Err(format!("{} cannot start a stop", signals::name(sig)))
            }
            Some(sig) => set.insert(sig),
            None => return Err(format!("\"{item}\" is not a signal name or number")),
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::run;

    #[test]
    fn bad_values_name_their_source() {
        let cases: &[(&str, &str, &str)] = &[
            ("HOOKINIT_GRACE_PERIOD", "NaN", "HOOKINIT_GRACE_PERIOD: "),
            ("HOOKINIT_GRACE_PERIOD", "-1", "must be a number of seconds"),
            (
                "HOOKINIT_VERBOSITY",
                "4",
                "HOOKINIT_VERBOSITY: \"4\" is not a verbosity",
            ),
            (
                "HOOKINIT_LIFECYCLE",
                r#"{"preStop":{"httpGet":{"port":70000}}}"#,
                "HOOKINIT_LIFECYCLE: preStop.httpGet.port: 70000 is out of range 1-65535",
            ),
            (
                "HOOKINIT_STOP_ON",
                "TERM,KILL",
                "SIGKILL cannot start a stop",
            ),
            ("HOOKINIT_EXIT_REMAP", "143:256", "not an exit code"),
            ("HOOKINIT_FOO", "1", "HOOKINIT_FOO: unknown variable"),
        ];
        for (k, v, want) in cases {
            let e = run(&["app"], &[(k, v)]).unwrap_err();
            assert!(e.contains(want), "{k}={v}: {e}");
        }
        // What hookinit tells its hooks is not a setting: a hook that runs
        // hookinit (`--ready`, `--check`) is not refused for having it.
        let told = [
            ("HOOKINIT_STOP_REASON", "signal:SIGTERM"),
            ("HOOKINIT_KILL_IN_MS", "8000"),
            ("HOOKINIT_KILL_AT", "1700000000.000"),
            ("HOOKINIT_EXIT_CODE", "143"),
            ("HOOKINIT_EXIT_SIGNAL", "SIGTERM"),
        ];
        assert!(run(&["app"], &told).is_ok());
    }

    #[test]
    fn durations_in_seconds_or_go_syntax() {
        let d = |t: &str| parse_duration(t);
        assert_eq!(d("10"), Some(10.0));
        assert_eq!(d("2.5"), Some(2.5));
        assert_eq!(d("30s"), Some(30.0));
        assert_eq!(d("1m30s"), Some(90.0));
        assert_eq!(d("1.5m"), Some(90.0));
        assert_eq!(d("500ms"), Some(0.5));
        assert_eq!(d("1h2m3s4ms"), Some(3723.004));
        assert_eq!(d("-1s"), Some(-1.0));
        assert_eq!(d(".5"), Some(0.5));
        assert_eq!(d("5."), Some(5.0));
        assert_eq!(d("0.125"), Some(0.125));
        let ns = |t: &str| Duration::from_secs_f64(d(t).unwrap()).as_nanos();
        assert_eq!(ns("0.3"), 300_000_000);
        assert_eq!(ns("1.000000001"), 1_000_000_001);
        assert_eq!(ns("86399.999999999"), 86_399_999_999_999);
        assert_eq!(ns("0.0000000019999999999999"), 2);
        for bad in [
            "", "m", "1x", "inf", "NaN", "1 m", "s1", "1m30", ".", "1..2s", "1e3", "1.5.2", "+",
            "-", "0x10", "١",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        let c = run(&["app"], &[("HOOKINIT_GRACE_PERIOD", "1m30s")]).unwrap();
        assert_eq!(c.grace, Duration::from_secs(90));
    }

    #[test]
    fn listen_addresses_parse_as_std_would() {
        let parse = |t: &str| parse_listen_address(&Raw::Text(t));
        for t in [
            "1.2.3.4:80",
            "[::1]:8086",
            "[fe80::1%2]:80",
            "[::ffff:1.2.3.4]:443",
        ] {
            let std: SocketAddr = t.parse().unwrap();
            assert_eq!(parse(t), Ok(Some(std)), "{t}");
            assert_eq!(Listen(std).to_string(), t);
        }
        assert_eq!(
            parse("127.0.0.1:0080"),
            Ok(Some(([127, 0, 0, 1], 80).into()))
        );
        let any = |p: u16| Ok(Some(SocketAddr::from(([0; 4], p))));
        assert_eq!(parse("8086"), any(8086));
        assert_eq!(parse(" :9 "), any(9));
        assert_eq!(Listen(any(9).unwrap().unwrap()).to_string(), "0.0.0.0:9");
        assert_eq!(parse("off"), Ok(None));
        for bad in [
            "localhost:80",
            "8080x",
            "1.2.3.4",
            "[::1]",
            "[::1]:",
            "::1:80",
            "[1.2.3.4]:80",
            "1.2.3.4:65536",
            "1.2.3.4:+80",
            "[fe80::1%eth0]:80",
            "[fe80::1%]:80",
            "[fe80::1%4294967296]:80",
            ":",
            "",
        ] {
            assert!(bad.parse::<SocketAddr>().is_err(), "{bad}");
            let e = parse(bad).unwrap_err();
            assert_eq!(e, format!("\"{bad}\" is not an address to listen on: use [IP:]PORT or [IPv6]:PORT, a port from 1 to 65535 (0: none)"));
        }
        for bad in ["0.0.0.0:0", "70000", ":0", "1.2.3.4:0"] {
            assert!(
                parse(bad).unwrap_err().contains("a port from 1 to 65535"),
                "{bad}"
            );
        }
    }
}
