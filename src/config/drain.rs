//! `HOOKINIT_DRAIN`: the drain autopilot's settings, resolved (port names,
//! the container's ports) and checked against the grace window.

use super::layers::Layer;
use super::values::{text_or_bool, with_json, Raw};
use super::{ConfigError, Grace};
use crate::spec::drain::DrainSpec;
use crate::spec::json::Value;
use std::time::Duration;

/// The drain, as the supervisor runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drain {
    pub quiet: Duration,
    pub min: Duration,
    /// `None`: until PreStop's share of the window ends.
    pub max: Option<Duration>,
    /// Empty: every listening TCP socket at the stop but hookinit's own.
    pub ports: Vec<u16>,
}

/// `HOOKINIT_DRAIN` as given: `1` (the defaults), `0` (none) or the JSON
/// object. Out of line: `Layer::set` stays as small.
#[inline(never)]
pub(super) fn parse(
    raw: &Raw<'_>,
    source: &str,
) -> Result<Option<(DrainSpec, String)>, ConfigError> {
    if matches!(raw, Raw::Json(Value::Bool(false))) {
        return Ok(None);
    }
    let spec = match text_or_bool(raw).map(str::trim) {
        Some("1" | "true" | "yes" | "on") => Some(DrainSpec::default()),
        Some("0" | "false" | "no" | "off") => return Ok(None),
        _ => {
            let mut spec = None;
            with_json(raw, source, &mut |v| {
                let parsed = crate::spec::drain::parse_drain(v, "");
                spec = Some(parsed.map_err(|e| ConfigError::new(source, e.to_string()))?);
                Ok(())
            })?;
            spec
        }
    };
    Ok(spec.map(|spec| (spec, source.to_string())))
}

/// The merged layer's drain; without ports of its own it watches the
/// container object's TCP ports.
pub(super) fn resolve(
    l: &mut Layer,
    container_tcp_ports: Option<Vec<u16>>,
) -> Result<Option<(Drain, String)>, ConfigError> {
    let Some((spec, source)) = l.drain.take().flatten() else {
        return Ok(None);
    };
    let DrainSpec {
        quiet,
        min,
        max,
        ports,
    } = spec;
    let ports = ports.or(container_tcp_ports).unwrap_or_default();
    let mut ports = ports;
    ports.truncate(crate::spec::drain::MAX_PORTS);
    Ok(Some((
        Drain {
            quiet,
            min,
            max,
            ports,
        },
        source,
    )))
}

/// The floor and the ceiling must fit in PreStop's share of the window.
pub(super) fn check(drain: &Drain, source: &str, grace: Duration) -> Result<(), ConfigError> {
    let split = Grace::new(grace);
    let usable = split.pre_stop();
    // maxSeconds is never below minSeconds (spec::drain): the ceiling, if
    // given, decides alone.
    let (key, d) = match drain.max {
        Some(max) => ("maxSeconds", max),
        None => ("minSeconds", drain.min),
    };
    if d <= usable {
        return Ok(());
    }
    Err(ConfigError::new(
        source,
        format!(
            "{key}: {} does not fit in the grace period: PreStop and the drain may use {} of {} ({} is kept for the app's shutdown)",
            crate::events::secs(d),
            crate::events::secs(usable),
            crate::events::secs(grace),
            crate::events::secs(split.reserve),
        ),
    ))
}
