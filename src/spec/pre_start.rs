//! Pre-start handlers (`HOOKINIT_PRE_START`), a hookinit extension with
//! Kubernetes' init-container semantics for one container: an ordered list
//! run to success, one after the other, before the app starts.
//!
//! The list is a JSON array of steps. A step is a handler object as for
//! hooks (`exec`, `httpGet`, `tcpSocket`, `sleep`) with an optional
//! `timeoutSeconds` beside it, or `["cmd", "arg"]` meaning exec. An array
//! of strings alone is one exec step.
//!
//! Ports are numbers: a step runs before the app, where a name of the
//! container's ports would stand for nothing yet (and the list needs no
//! second pass once the container's ports are known).

use crate::spec::handler::{self, Handler, PortNames, STEP_FIELDS};
use crate::spec::json::Value;
use crate::spec::json::{self, PathError};
use std::time::Duration;

/// The most steps a list may hold (each has buffers made at start-up).
pub const MAX_STEPS: usize = 32;
const _: () = assert!(MAX_STEPS == 32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub handler: Handler,
    pub timeout: Option<Duration>,
}

/// The list, a setting of its own (its paths start at the top: `[1]`),
/// into `steps` (made anew: a later setting replaces an earlier one).
/// Not inlined: apart from the setting's closure it is smaller.
#[inline(never)]
pub fn parse(v: &Value, steps: &mut Vec<Step>) -> Result<(), PathError> {
    // An array of strings alone is one exec step, at the top itself.
    let one = v
        .as_array()
        .and_then(|a| a.first())
        .is_some_and(|v| v.as_str().is_some());
    let items = if one {
        Some(std::slice::from_ref(v))
    } else {
        v.as_array().map(Vec::as_slice)
    };
    // One error exit for the list's three problems.
    let problem = match items {
        None => format!("must be an array of handlers, not {}", json::kind(v)),
        Some([]) => "Required value".to_string(),
        // The limit written out, no count: nothing to format.
        Some(items) if items.len() > MAX_STEPS => "at most 32 steps".to_string(),
        Some(items) => {
            // A plain loop: an iterator chain collected into a `Result` cost more.
            *steps = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = match one {
                    true => String::new(),
                    false => format!("[{i}]"),
                };
                step(item, &at, steps)?;
            }
            return Ok(());
        }
    };
    Err(PathError::new("", problem))
}

/// The step at `path`, onto `steps` (made in place: no `Result` of a
/// whole step moved out).
#[inline(never)]
fn step(v: &Value, path: &str, steps: &mut Vec<Step>) -> Result<(), PathError> {
    let timeout = match v.is_array() {
        true => None,
        false => {
            let obj = json::object(v, path, &STEP_FIELDS)?;
            match handler::seconds_field(obj, "timeoutSeconds", path, false)? {
                0 => None,
                n => Some(Duration::from_secs(n)),
            }
        }
    };
    // `["cmd", "arg"]` too: one push for both forms.
    let handler = handler::parse_handler_or_shorthand(v, path, &STEP_FIELDS)?
        .resolve(path, PortNames::Unsupported)?;
    steps.push(Step { handler, timeout });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::handler::Action;

    fn parse_text(text: &str) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        parse(&json::parse(text).unwrap(), &mut steps).map_err(|e| e.to_string())?;
        Ok(steps)
    }

    #[test]
    fn steps_shorthands_and_timeouts() {
        let exec = |c: &[&str]| {
            Handler::Action(Action::Exec {
                command: c.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert_eq!(
            parse_text(r#"["mkdir","-p","/data"]"#).unwrap(),
            [Step {
                handler: exec(&["mkdir", "-p", "/data"]),
                timeout: None
            }]
        );
        let steps = parse_text(
            r#"[["a"], {"exec":{"command":["b"]},"timeoutSeconds":5}, {"sleep":{"seconds":1}}]"#,
        )
        .unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].handler, exec(&["a"]));
        assert_eq!(
            (&steps[1].handler, steps[1].timeout),
            (&exec(&["b"]), Some(Duration::from_secs(5)))
        );
        assert_eq!(steps[2].timeout, None);
    }

    #[test]
    fn errors_name_the_step() {
        for (text, want) in [
            ("[]", "Required value"),
            (r#"{"exec":{"command":["a"]}}"#, "must be an array of handlers, not an object"),
            (
                r#"[["a"], {"exec":{"command":["b"]},"timeoutSeconds":0}]"#,
                "[1].timeoutSeconds: Invalid value: 0: must be between 1 and 31536000",
            ),
            (r#"[{"timeoutSeconds":3}]"#, "[0]: must specify a handler type"),
            (
                r#"[{"tcpSocket":{"port":"db"}}]"#,
                "[0].tcpSocket.port: named port \"db\" is not supported here: give the number (names are looked up in HOOKINIT_CONTAINER's ports, for its hooks and probes)",
            ),
            (
                r#"[{"exec":{"command":["a"]},"timeout":3}]"#,
                "[0].timeout: unknown field (expected one of: exec, httpGet, tcpSocket, sleep, timeoutSeconds)",
            ),
        ] {
            assert_eq!(parse_text(text).unwrap_err(), want, "{text}");
        }
        let steps = |n| format!("[{}]", vec![r#"["a"]"#; n].join(","));
        assert_eq!(parse_text(&steps(32)).unwrap().len(), 32);
        assert_eq!(parse_text(&steps(33)).unwrap_err(), "at most 32 steps");
    }
}
