//! Events and logging: one line per event on stderr, text or JSON.
//!
//! Lifecycle events (hook start/success/failure, each stop step) are at
//! verbosity 2, the default, because users read them in `docker logs`.
//! Failures are at 1, debug detail (forwarded signals, reaped orphans) at 3.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

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
    pub message: &'a str,
}

pub fn emit(level: Level, event: Event<'_>) {
    if !enabled(level) {
        return;
    }
    let line = match logger().format {
        Format::Text => text_line(&event),
        Format::Json => json_line(&event, SystemTime::now()),
    };
    // One write per line so lines from hooks and the app do not interleave mid-line.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Shorthand for events that are not about a hook.
pub fn log(level: Level, name: &str, message: &str) {
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

/// Like [`log`], but the message is only built when the level is enabled:
/// for hot paths (every forwarded signal, every reaped orphan).
pub fn log_with(level: Level, name: &str, message: impl FnOnce() -> String) {
    if enabled(level) {
        log(level, name, &message());
    }
}

fn text_line(e: &Event<'_>) -> String {
    let mut line = format!("hookinit: {}", e.name);
    if let Some(hook) = e.hook {
        line.push_str(&format!(" hook={hook}"));
    }
    if let Some(handler) = e.handler {
        line.push_str(&format!(" handler={handler}"));
    }
    line.push_str(": ");
    line.push_str(e.message);
    line.push('\n');
    line
}

fn json_line(e: &Event<'_>, now: SystemTime) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("time".into(), rfc3339(now).into());
    obj.insert("event".into(), e.name.into());
    if let Some(hook) = e.hook {
        obj.insert("hook".into(), hook.into());
    }
    if let Some(handler) = e.handler {
        obj.insert("handler".into(), handler.into());
    }
    obj.insert("message".into(), e.message.into());
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// `2026-11-23T19:04:05.123Z`, without a date library.
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
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
    use std::time::Duration;

    #[test]
    fn formats_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_460_645_123);
        assert_eq!(rfc3339(t), "2026-11-23T19:04:05.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn json_line_escapes_and_has_fields() {
        let e = Event {
            name: "FailedPreStopHook",
            hook: Some("PreStop"),
            handler: Some("exec"),
            message: "a \"b\"\nc",
        };
        let line = json_line(&e, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["event"], "FailedPreStopHook");
        assert_eq!(v["hook"], "PreStop");
        assert_eq!(v["handler"], "exec");
        assert_eq!(v["message"], "a \"b\"\nc");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert!(
            text_line(&e).starts_with("hookinit: FailedPreStopHook hook=PreStop handler=exec: ")
        );
    }
}
