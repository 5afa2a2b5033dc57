//! The sources: `HOOKINIT_*` variables (read from `environ` in place),
//! flags and the JSON config file, each parsed into a [`Layer`].

use super::layers::Layer;
use super::options::OPTIONS;
use super::values::Raw;
use super::ConfigError;
use crate::spec::json;
use std::ffi::{OsStr, OsString};

/// What the command line asks for, besides its flags.
pub(super) enum CommandLine<'a> {
    Help,
    Version,
    /// A peer's help, version or license text (see `peers`).
    Say {
        text: String,
        stderr: bool,
    },
    /// Settings in the flags layer; `check` and `ready` as given; the app's
    /// command (empty if none).
    Settings {
        check: bool,
        ready: bool,
        command: &'a [OsString],
    },
}

/// Reads flags into `flags` up to the command: the first argument that is
/// not an option, or the one after `--`.
pub(super) fn flag_layer<'a>(
    args: &'a [OsString],
    flags: &mut Layer,
) -> Result<CommandLine<'a>, ConfigError> {
    let mut check = false;
    let mut ready = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(text) = arg.to_str() else {
            // An option that is not UTF-8 is an error; anything else starts the command.
            if std::os::unix::ffi::OsStrExt::as_bytes(arg.as_os_str()).starts_with(b"-") {
                return Err(ConfigError::new(lossy(arg), "is not valid UTF-8"));
            }
            break;
        };
        if text == "--" {
            i += 1;
            break;
        }
        if !text.starts_with('-') || text == "-" {
            break;
        }
        match text {
            "-h" | "--help" => return Ok(CommandLine::Help),
            "-V" | "--version" => return Ok(CommandLine::Version),
            "--check" => {
                check = true;
                i += 1;
                continue;
            }
            "--ready" => {
                ready = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let Some(o) = name
            .strip_prefix("--")
            .and_then(|n| OPTIONS.iter().find(|o| o.is_flag(n)))
        else {
            return Err(ConfigError::new(text, "unknown option (see --help)"));
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                let v = args
                    .get(i)
                    .ok_or_else(|| ConfigError::new(name, "needs a value"))?;
                v.to_str()
                    .ok_or_else(|| ConfigError::new(name, "the value is not valid UTF-8"))?
            }
        };
        flags.set(o.key, Raw::Text(value), name)?;
        i += 1;
    }
    Ok(CommandLine::Settings {
        check,
        ready,
        command: &args[i..],
    })
}

/// Reads `HOOKINIT_*` variables. An empty value counts as unset; an unknown
/// `HOOKINIT_` name is an error (a typo would otherwise be silently ignored).
pub(super) fn env_layer(
    vars: &[(OsString, OsString)],
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    for (name, value) in vars {
        use std::os::unix::ffi::OsStrExt;
        if !name.as_bytes().starts_with(b"HOOKINIT_") {
            continue;
        }
        let Some(name) = name.to_str() else {
            return Err(ConfigError::new(
                lossy(name),
                "unknown variable (its name is not valid UTF-8)",
            ));
        };
        if !name.starts_with("HOOKINIT_") || super::TOLD.contains(&name.as_bytes()) {
            continue;
        }
        let Some(o) = OPTIONS.iter().find(|o| o.is_env(name)) else {
            let known: Vec<String> = OPTIONS.iter().map(|o| o.env()).collect();
            return Err(ConfigError::new(
                name,
                format!(
                    "unknown variable (known: {})",
                    crate::os::text::join(&known, ", ")
                ),
            ));
        };
        let value = value
            .to_str()
            .ok_or_else(|| ConfigError::new(name, "the value is not valid UTF-8"))?;
        if !value.trim().is_empty() {
            layer.set(o.key, Raw::Text(value), name)?;
        }
    }
    Ok(())
}

/// The most a config file may hold: a real one is a few hundred bytes.
const CONFIG_FILE_MAX: u64 = 1024 * 1024;

/// Reads a config file without ever blocking or reading without bound: a
/// FIFO would block `open` (with every signal blocked, even TERM could not
/// stop hookinit) and `/dev/zero` would fill memory. Only regular files of at
/// most 1 MiB are read.
fn read_config_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let limit = CONFIG_FILE_MAX as usize;
    match crate::os::file::read_regular(path, limit) {
        Err(e) => Err(format!("cannot read: {e}")),
        Ok(None) => Err("cannot read: not a regular file".into()),
        Ok(Some(bytes)) if bytes.len() > limit => {
            Err(format!("cannot read: larger than {CONFIG_FILE_MAX} bytes"))
        }
        Ok(Some(bytes)) => Ok(bytes),
    }
}

pub(super) fn file_layer(path: &std::path::Path) -> Result<Layer, ConfigError> {
    let source = format!("config file {}", path.display());
    let bytes = read_config_file(path).map_err(|e| ConfigError::new(&source, e))?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| ConfigError::new(&source, "not valid UTF-8"))?;
    let value = json::parse(text).map_err(|e| ConfigError::new(&source, e))?;
    let keys: Vec<String> = OPTIONS.iter().filter_map(|o| o.file()).collect();
    let known: Vec<&str> = keys.iter().map(String::as_str).collect();
    let obj =
        json::object(&value, "", &known).map_err(|e| ConfigError::new(&source, e.to_string()))?;
    let mut layer = Layer::empty();
    for (key, v) in obj {
        let Some(o) = OPTIONS.iter().find(|o| o.is_file(key)) else {
            continue;
        };
        if !v.is_null() {
            layer.set(o.key, Raw::Json(v), &format!("{source}: {key}"))?;
        }
    }
    Ok(layer)
}

/// The `HOOKINIT_*` entries of the environment as (name, value) pairs.
pub fn environment() -> Vec<(OsString, OsString)> {
    crate::os::env::vars_with_prefix(b"HOOKINIT_")
}

/// For messages: an argv element as text.
pub fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}
