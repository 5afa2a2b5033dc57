//! hookinit's own extension beside the Kubernetes objects: the drain
//! autopilot's settings (`HOOKINIT_DRAIN`), strict JSON like them:
//! `{"quietSeconds": 1, "minSeconds": 0, "maxSeconds": 20, "ports": [8080]}`.

use crate::spec::handler::port_number;
use crate::spec::json::Value;
use crate::spec::json::{self, join, PathError};
use std::time::Duration;

/// The quiet interval when none is given.
pub const DEFAULT_QUIET: Duration = Duration::from_secs(1);
/// Below this, a quiet interval is shorter than the sampling period.
pub const MIN_QUIET: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainSpec {
    /// No new connection and no request bytes for this long ends the drain.
    pub quiet: Duration,
    /// The drain lasts at least this long (the balancer's detection time).
    pub min: Duration,
    /// And at most this long (`None`: until PreStop's share of the window ends).
    pub max: Option<Duration>,
    /// The app's ports (`None`: the container's, else its listening sockets).
    pub ports: Option<Vec<u16>>,
}

impl Default for DrainSpec {
    fn default() -> Self {
        DrainSpec {
            quiet: DEFAULT_QUIET,
            min: Duration::ZERO,
            max: None,
            ports: None,
        }
    }
}

/// `true` (the defaults) or the object. Out of line: inlined in its one
/// caller's closure, each of its errors was converted there in place.
#[inline(never)]
pub fn parse_drain(v: &Value, path: &str) -> Result<DrainSpec, PathError> {
    if matches!(v, Value::Bool(true)) {
        return Ok(DrainSpec::default());
    }
    let o = json::object(
        v,
        path,
        &["quietSeconds", "minSeconds", "maxSeconds", "ports"],
    )?;
    let secs = |key: &str| -> Result<Option<Duration>, PathError> {
        let p = join(path, key);
        match o.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if (0.0..=86_400.0).contains(&f) => {
                    Ok(Some(Duration::from_millis((f * 1000.0 + 0.5) as u64)))
                }
                _ => Err(PathError::new(
                    &p,
                    format!("{n} is not a duration from 0 to 86400 seconds"),
                )),
            },
            Some(other) => Err(PathError::new(
                &p,
                format!("must be a number, not {}", json::kind(other)),
            )),
        }
    };
    let quiet = secs("quietSeconds")?.unwrap_or(DEFAULT_QUIET);
    if quiet < MIN_QUIET {
        return Err(PathError::new(
            &join(path, "quietSeconds"),
            "must be at least 0.1 (the drain samples every 0.1s)",
        ));
    }
    let min = secs("minSeconds")?.unwrap_or_default();
    let max = secs("maxSeconds")?;
    if let Some(max) = max {
        if max < min {
            return Err(PathError::new(
                &join(path, "maxSeconds"),
                "must not be below minSeconds",
            ));
        }
    }
    let ports = match o.get("ports") {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_PORTS => {
            // A loop, not a `collect` of `Result`s (its adaptor is a
            // function of its own).
            let mut ports = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                ports.push(port_number(v, &format!("{}[{i}]", join(path, "ports")))?);
            }
            Some(ports)
        }
        Some(_) => {
            return Err(PathError::new(
                &join(path, "ports"),
                "must be an array of 1 to 16 port numbers",
            ))
        }
    };
    Ok(DrainSpec {
        quiet,
        min,
        max,
        ports,
    })
}

/// Ports a drain watches, at most (its error message says 16).
pub const MAX_PORTS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DrainSpec, String> {
        let v = json::parse(text).unwrap();
        parse_drain(&v, "drain").map_err(|e| e.to_string())
    }

    #[test]
    fn true_is_the_defaults_and_fields_are_read() {
        assert_eq!(parse("true").unwrap(), DrainSpec::default());
        let d = parse(
            r#"{"quietSeconds": 0.5, "minSeconds": 2, "maxSeconds": 6, "ports": [8080, 8443]}"#,
        )
        .unwrap();
        assert_eq!(d.quiet, Duration::from_millis(500));
        assert_eq!(d.min, Duration::from_secs(2));
        assert_eq!(d.max, Some(Duration::from_secs(6)));
        assert_eq!(d.ports, Some(vec![8080, 8443]));
    }

    #[test]
    fn bad_settings_name_their_field() {
        for (text, message) in [
            (r#"{"quiet": 1}"#, "drain.quiet: unknown field (expected one of: quietSeconds, minSeconds, maxSeconds, ports)"),
            (r#"{"quietSeconds": 0.05}"#, "drain.quietSeconds: must be at least 0.1 (the drain samples every 0.1s)"),
            (r#"{"minSeconds": -1}"#, "drain.minSeconds: -1 is not a duration from 0 to 86400 seconds"),
            (r#"{"maxSeconds": "5"}"#, "drain.maxSeconds: must be a number, not a string"),
            (r#"{"minSeconds": 5, "maxSeconds": 4}"#, "drain.maxSeconds: must not be below minSeconds"),
            (r#"{"ports": []}"#, "drain.ports: must be an array of 1 to 16 port numbers"),
            (r#"{"ports": ["http"]}"#, "drain.ports[0]: must be a number, not a string"),
            (r#"{"ports": [0]}"#, "drain.ports[0]: 0 is out of range 1-65535"),
            ("false", "drain: must be an object, not a boolean"),
        ] {
            assert_eq!(parse(text).unwrap_err(), message, "{text}");
        }
    }
}
