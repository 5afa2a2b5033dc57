//! Fuzzes `hookinit::config::parse` (flags, `HOOKINIT_*` variables and the
//! JSON config file) for panics, including debug-assertion overflow checks.
//!
//! The input is a list of fields separated by NUL bytes; each field's first
//! byte says what it is:
//! - `A`: one command-line argument (the rest of the field, any bytes);
//! - `E`: an environment entry `NAME=VALUE` (any bytes);
//! - `F`: the config file's content, passed with `HOOKINIT_CONFIG`;
//! - `G`: the same, passed with `--config=`;
//! - `C`: `--check` first;
//! - anything else: byte `b` sets the variable `OPTIONS[b % n].env` to the
//!   rest of the field, so every setting is reached without guessing names.
//!
//! Invariants: no panic; an error has a source and a message, and the source
//! names a `HOOKINIT_` variable, a flag, the config file, or `usage`; an
//! accepted configuration can print its plan.
#![no_main]

use hookinit::config::{parse, Request, OPTIONS};
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

fn file_path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("hookinit-fuzz-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut args: Vec<OsString> = Vec::new();
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut check = false;
    for field in data.split(|&b| b == 0) {
        let Some((&kind, rest)) = field.split_first() else {
            continue;
        };
        match kind {
            b'A' => args.push(OsString::from_vec(rest.to_vec())),
            b'E' => {
                let (name, value) = match rest.iter().position(|&b| b == b'=') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &b""[..]),
                };
                env.push((
                    OsString::from_vec(name.to_vec()),
                    OsString::from_vec(value.to_vec()),
                ));
            }
            b'F' | b'G' => {
                if std::fs::write(file_path(), rest).is_err() {
                    return;
                }
                if kind == b'F' {
                    env.push(("HOOKINIT_CONFIG".into(), file_path().into()));
                } else {
                    let mut a = OsString::from("--config=");
                    a.push(file_path());
                    args.insert(0, a);
                }
            }
            b'C' => check = true,
            b => {
                let o = &OPTIONS[b as usize % OPTIONS.len()];
                env.push((o.env.into(), OsString::from_vec(rest.to_vec())));
            }
        }
    }
    if check {
        args.insert(0, "--check".into());
    }
    match parse(&args, &env) {
        Ok(Request::Run(cfg)) | Ok(Request::Check(cfg)) => {
            let _ = cfg.plan();
        }
        Ok(_) => {}
        Err(e) => {
            let s = &e.source;
            assert!(!s.is_empty() && !e.message.is_empty(), "{e:?}");
            assert!(
                s.starts_with("HOOKINIT_")
                    || s.starts_with('-')
                    || s.starts_with("config file ")
                    || s == "usage",
                "error source names nothing given: {e:?}"
            );
            let _ = e.to_string();
        }
    }
});
