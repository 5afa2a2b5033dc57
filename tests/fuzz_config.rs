//! Bad input: a deterministic fuzz test over every configuration
//! entry point — `HOOKINIT_*` variables, flags, the JSON config file — with
//! structure-aware mutations of valid configurations and raw random bytes.
//!
//! Invariants, for every case:
//! - `hookinit::config::parse` never panics (in-process, debug build, so
//!   arithmetic overflow panics too), is deterministic, and every error names
//!   something the case gave: a `HOOKINIT_` variable, a flag, the config file
//!   (or `usage`);
//! - `hookinit --check ...` exits exactly 0 (configuration OK, the plan on
//!   stdout) or exactly 2 with `hookinit: <the same error>` on stderr — never a
//!   crash, never another code — in agreement with the library;
//! - run for real (`hookinit ... -- sh -c ': > marker'`), an invalid
//!   configuration never starts the app;
//! - JSON values are accepted or rejected as serde_json (the parser
//!   hookinit's own reader replaced) would, with its error message.
//!
//! The PRNG is a seeded xorshift64: a failure names its seed and case number
//! and replays exactly. Knobs (environment of `cargo test`):
//! `FUZZ_CONFIG_SEED` (default fixed), `FUZZ_CONFIG_CASES` (binary `--check`
//! cases, default 2000), `FUZZ_CONFIG_RUNS` (real runs, default 150),
//! `FUZZ_CONFIG_INPROCESS` (library-only cases, default 20000),
//! `FUZZ_CONFIG_JSON` (JSON values against serde_json, default 20000).

mod common;
use common::*;

use hookinit::config::{parse, Request, OPTIONS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(default)
}

fn seed() -> u64 {
    knob("FUZZ_CONFIG_SEED", 0x5EED_1DEA_F00D_CAFE)
}

// ---- PRNG -------------------------------------------------------------------------

/// xorshift64*: small, seeded, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- seeds ---------------------------------------------------------------------

const HANDLERS: &[&str] = &[
    r#"["true"]"#,
    r#"["/bin/echo","a b","$(c)"]"#,
    r#"{"exec":{"command":["true","x"]}}"#,
    r#"{"httpGet":{"port":9,"host":"127.0.0.1","path":"/ready?x=1","scheme":"HTTP","httpHeaders":[{"name":"X-A","value":"b c"}]}}"#,
    r#"{"httpGet":{"port":65535}}"#,
    r#"{"tcpSocket":{"port":9,"host":"127.0.0.1"}}"#,
    r#"{"sleep":{"seconds":0}}"#,
    r#"{"sleep":{"seconds":1}}"#,
];

const LIFECYCLES: &[&str] = &[
    r#"{"postStart":{"exec":{"command":["true"]}},"preStop":{"httpGet":{"port":9,"path":"/x"}},"stopSignal":"SIGQUIT"}"#,
    r#"{"preStop":{"sleep":{"seconds":1}}}"#,
    r#"{"postStart":{"tcpSocket":{"port":1}},"stopSignal":"USR1"}"#,
    r#"{}"#,
];

const PROBES: &[&str] = &[
    r#"{"exec":{"command":["true"]}}"#,
    r#"{"httpGet":{"port":9,"path":"/healthz"},"periodSeconds":5,"failureThreshold":5}"#,
    r#"{"tcpSocket":{"port":9},"initialDelaySeconds":1,"timeoutSeconds":2}"#,
    r#"{"grpc":{"port":9,"service":"x"},"periodSeconds":0,"successThreshold":0}"#,
    r#"{"httpGet":{"port":"http"}}"#,
];

const CONTAINERS: &[&str] = &[
    r#"{"name":"web","image":"nginx:1.27","ports":[{"name":"http","containerPort":9,"protocol":"TCP"}],"env":[{"name":"A","value":"b"}],"livenessProbe":{"httpGet":{"port":"http"},"terminationGracePeriodSeconds":3},"readinessProbe":{"tcpSocket":{"port":"http"},"successThreshold":2},"lifecycle":{"preStop":{"sleep":{"seconds":1}}}}"#,
    r#"{"name":"db","ports":[{"name":"http","containerPort":9}],"startupProbe":{"exec":{"command":["true"]},"failureThreshold":30,"periodSeconds":1}}"#,
    r#"{"ports":[{"containerPort":9}],"resources":{},"securityContext":{"runAsUser":1000}}"#,
];

/// Valid values of a setting, as text (a variable or a flag would hold).
fn seeds(env: &str, dir: &Path) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    match env {
        "HOOKINIT_LIFECYCLE" => s(LIFECYCLES),
        "HOOKINIT_POST_START" | "HOOKINIT_PRE_STOP" => s(HANDLERS),
        "HOOKINIT_STARTUP_PROBE" | "HOOKINIT_LIVENESS_PROBE" => s(PROBES),
        // Readiness: successThreshold may exceed 1.
        "HOOKINIT_READINESS_PROBE" => {
            let mut v: Vec<String> = s(PROBES);
            v.push(r#"{"exec":{"command":["echo"]},"successThreshold":3}"#.into());
            v
        }
        "HOOKINIT_CONTAINER" => s(CONTAINERS),
        "HOOKINIT_POST_START_AFTER_STARTUP" => s(&["1", "0", "true"]),
        "HOOKINIT_GRACE_PERIOD" => s(&["10", "2.5", "30s", "0", " 7 "]),
        "HOOKINIT_STOP_SIGNAL" => s(&["TERM", "SIGUSR1", "RTMIN+2", "15", "rtmax-1"]),
        "HOOKINIT_STOP_ON" => s(&["TERM,INT", "none", "HUP", "SIGTERM, 10"]),
        "HOOKINIT_POST_START_TIMEOUT"
        | "HOOKINIT_PRE_STOP_TIMEOUT"
        | "HOOKINIT_CLEANUP_TIMEOUT" => s(&["1", "0.5", "3s", "0"]),
        "HOOKINIT_READY_FILE" => vec![dir.join("ready").display().to_string()],
        "HOOKINIT_PRE_STOP_ON_EXIT" | "HOOKINIT_SIGNAL_GROUP" => s(&["1", "0", "true", "no", "on"]),
        "HOOKINIT_SUBREAPER" => s(&["auto", "1", "0"]),
        "HOOKINIT_EXIT_REMAP" => s(&["143:0,130:0", "143", "1:2, 3:4"]),
        "HOOKINIT_VERBOSITY" => s(&["0", "1", "2", "3"]),
        "HOOKINIT_LOG_FORMAT" => s(&["text", "json"]),
        "HOOKINIT_CONFIG" => vec![dir.join("nested.json").display().to_string()],
        "HOOKINIT_NOTIFY_SOCKET" => {
            let mut v = s(&["1", "0", "@hookinit-fuzz", "auto"]);
            v.push(dir.join("notify").display().to_string());
            v
        }
        // Off: a real port could be taken by another test (exit 1).
        "HOOKINIT_READINESS_ADDRESS" => s(&["0", "off"]),
        "HOOKINIT_DRAIN" => s(&["1", "0", r#"{"quietSeconds":0.5,"maxSeconds":1}"#]),
        _ => s(&["1"]),
    }
}

/// A setting's value as the config file holds it.
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

// ---- mutations -----------------------------------------------------------------

const TEXTS: &[&str] = &[
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1.5",
    "1e3",
    "1e400",
    "-1e400",
    "NaN",
    "nan",
    "inf",
    "Infinity",
    "-inf",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "65536",
    "31536000",
    "31536001",
    "0x10",
    "1_000",
    "\u{661}",
    "\u{ff11}",
    "+5",
    "5s",
    "5ss",
    "s",
    ".",
    "..",
    "1.",
    ".5",
    "1e-400",
    "true",
    "false",
    "null",
    "none",
    "auto",
    "TERM",
    "SIGKILL",
    "KILL",
    "CHLD",
    "STOP",
    "RTMIN+100",
    "RTMAX-999999999999",
    "SIGRTMIN+-1",
    "0:0",
    "256:0",
    "-1:0",
    "143:",
    ":",
    ",,,",
    "\u{0}",
    "\r\n",
    "\u{feff}",
    "\u{e9}",
    "\u{202e}",
    "%s%s%n",
    "$(id)",
    "../../../../etc/passwd",
    "/",
    "[",
    "{",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "HTTP",
    "HTTPS",
    "http",
    "exec",
    "sleep",
    "httpGet",
    "tcpSocket",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1",
    "-1",
    "1.5",
    "0.1",
    "1e3",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "65535",
    "65536",
    "31536000",
    "31536001",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "4294967297",
    "3",
    "15",
    "143",
];

const TOKENS: &[&str] = &[
    "{", "}", "[", "]", "\"", "\\", ":", ",", "\\u0000", "\\ud800", "\\udfff", "1e400", "-", "NaN",
    "Infinity", "null", "true", "\"x\":1", "\u{0}", "\r\n", "\u{fffd}", "//", "/*",
];

fn interesting_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(9) {
        0 | 1 => {
            let n = *rng.pick::<&str>(NUMBERS);
            serde_json::from_str(n).unwrap_or(Value::Null)
        }
        2 | 3 => Value::String(rng.pick(TEXTS).to_string()),
        4 => Value::String("a".repeat(rng.below(20_000))),
        5 => Value::Bool(rng.chance(50)),
        6 => Value::Null,
        7 if depth < 4 => Value::Array(
            (0..rng.below(4))
                .map(|_| interesting_value(rng, depth + 1))
                .collect(),
        ),
        _ if depth < 4 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                let key = if rng.chance(50) {
                    rng.pick(FIELD_NAMES).to_string()
                } else {
                    rng.pick(TEXTS).to_string()
                };
                m.insert(key, interesting_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(vec![]),
    }
}

/// Field names of the schema, so mutations reach deep validation code.
const FIELD_NAMES: &[&str] = &[
    "postStart",
    "preStop",
    "stopSignal",
    "exec",
    "command",
    "httpGet",
    "path",
    "port",
    "host",
    "scheme",
    "httpHeaders",
    "name",
    "value",
    "tcpSocket",
    "sleep",
    "seconds",
    "lifecycle",
    "terminationGracePeriodSeconds",
    "stopOn",
    "readyFile",
    "verbosity",
    "logFormat",
    "exitRemap",
    "subreaper",
    "signalGroup",
    "preStopOnExit",
    "cleanupTimeoutSeconds",
    "postStartTimeoutSeconds",
    "preStopTimeoutSeconds",
    "config",
    "",
];

/// Visits a random node of `v` (pre-order walk with a random stop).
fn random_node<'v>(v: &'v mut Value, rng: &mut Rng) -> &'v mut Value {
    let go_deeper = rng.chance(70);
    let len = match v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if !go_deeper || len == 0 {
        return v;
    }
    let i = rng.below(len);
    match v {
        Value::Array(a) => random_node(&mut a[i], rng),
        Value::Object(o) => {
            let (_, child) = o.iter_mut().nth(i).unwrap();
            random_node(child, rng)
        }
        _ => unreachable!(),
    }
}

/// One structure-aware change to a JSON value.
fn mutate_json(v: &mut Value, rng: &mut Rng) {
    let node = random_node(v, rng);
    match rng.below(8) {
        0 | 1 => *node = interesting_value(rng, 0),
        2 => {
            // An unknown (or misplaced known) field.
            if let Value::Object(o) = node {
                let key = if rng.chance(50) {
                    rng.pick(FIELD_NAMES).to_string()
                } else {
                    format!("unknown{}", rng.below(10))
                };
                o.insert(key, interesting_value(rng, 1));
            } else {
                *node = interesting_value(rng, 0);
            }
        }
        3 => {
            // Drop a field or an element.
            match node {
                Value::Object(o) if !o.is_empty() => {
                    let k = o.keys().nth(rng.below(o.len())).unwrap().clone();
                    o.remove(&k);
                }
                Value::Array(a) if !a.is_empty() => {
                    a.remove(rng.below(a.len()));
                }
                _ => *node = Value::Null,
            }
        }
        4 => {
            // Wrap: one level deeper than the schema expects.
            let inner = node.take();
            *node = if rng.chance(50) {
                Value::Array(vec![inner])
            } else {
                let mut m = serde_json::Map::new();
                m.insert(rng.pick(FIELD_NAMES).to_string(), inner);
                Value::Object(m)
            };
        }
        5 => {
            // Type confusion: a number as text, text as a number...
            *node = match node.take() {
                Value::Number(n) => Value::String(n.to_string()),
                Value::String(s) => {
                    serde_json::from_str(&s).unwrap_or(Value::Array(vec![Value::String(s)]))
                }
                Value::Bool(b) => Value::from(b as u8),
                other => Value::String(other.to_string()),
            };
        }
        6 => {
            // Duplicate an array element.
            if let Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    a.push(x);
                }
            }
        }
        _ => {
            if let Value::Number(_) = node {
                let n = *rng.pick::<&str>(NUMBERS);
                *node = serde_json::from_str(n).unwrap();
            } else if let Value::String(s) = node {
                let mut b = s.clone().into_bytes();
                mutate_bytes(&mut b, rng);
                *s = String::from_utf8_lossy(&b).into_owned();
            }
        }
    }
}

/// Serializes `v`, sometimes repeating an object's first key (duplicate
/// keys cannot live in a `Value`).
fn to_text(v: &Value, rng: &mut Rng) -> String {
    let mut out = String::new();
    write_json(v, rng, &mut out);
    out
}

fn write_json(v: &Value, rng: &mut Rng, out: &mut String) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, rng, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            let mut first = true;
            if let Some((k, x)) = o.iter().next() {
                if rng.chance(4) {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write_json(x, rng, out);
                    first = false;
                }
            }
            for (k, x) in o {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(x, rng, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One byte-level change: flips, inserts (also invalid UTF-8 and JSON
/// tokens), deletions, repeats, truncation, deep nesting.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(b.len() + 1);
    match rng.below(9) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => b.insert(at, rng.next() as u8),
        2 => {
            let t = rng.pick(TOKENS).as_bytes().to_vec();
            b.splice(at..at, t);
        }
        3 if !b.is_empty() => {
            let end = (at + 1 + rng.below(16)).min(b.len());
            let start = at.min(end);
            b.drain(start..end);
        }
        4 if !b.is_empty() => {
            let start = rng.below(b.len());
            let end = (start + 1 + rng.below(32)).min(b.len());
            let piece = b[start..end].to_vec();
            b.splice(at..at, piece);
        }
        5 => b.truncate(at),
        6 => {
            let depth = [1, 2, 50, 127, 128, 129, 1000, 10_000][rng.below(8)];
            let (open, close) = if rng.chance(50) {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            let deep = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            b.splice(at..at, deep.into_bytes());
        }
        7 => {
            let t = rng.pick(NUMBERS).as_bytes().to_vec();
            b.splice(at..at, t);
        }
        _ => b.insert(
            at,
            [0x80, 0xff, 0xc3, 0xed, b'\n', b'\r', 0x7f][rng.below(7)],
        ),
    }
}

// ---- cases ---------------------------------------------------------------------

/// One configuration attempt.
#[derive(Clone, Debug, Default)]
struct Case {
    /// Options, before the command.
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
    /// Config file content; passed with `HOOKINIT_CONFIG` or `--config`.
    file: Option<Vec<u8>>,
    file_via_flag: bool,
}

/// A value for option `env_name` as text: a seed, a mutated seed, a
/// structurally mutated seed, or raw bytes.
fn text_value(rng: &mut Rng, env_name: &str, dir: &Path, mild: bool) -> Vec<u8> {
    let seed = rng.pick(&seeds(env_name, dir)).clone();
    if mild && rng.chance(70) {
        return seed.into_bytes();
    }
    match rng.below(10) {
        0..=2 => seed.into_bytes(),
        3..=5 => {
            let mut b = seed.into_bytes();
            for _ in 0..1 + rng.below(4) {
                mutate_bytes(&mut b, rng);
            }
            b
        }
        6 | 7 => {
            let mut v = as_json(&seed);
            for _ in 0..1 + rng.below(3) {
                mutate_json(&mut v, rng);
            }
            let mut t = to_text(&v, rng).into_bytes();
            if rng.chance(20) {
                mutate_bytes(&mut t, rng);
            }
            t
        }
        8 => rng.pick(TEXTS).as_bytes().to_vec(),
        _ => rng.bytes(64),
    }
}

/// `env` values cannot hold NUL (execve), nor can arguments.
fn no_nul(mut b: Vec<u8>) -> Vec<u8> {
    for x in &mut b {
        if *x == 0 {
            *x = 1;
        }
    }
    b
}

/// A random case. `safe_flags`: only `--name=value` options, so no value can
/// be taken for the command (real runs append their own command), and
/// milder mutation (more valid configurations).
fn gen_case(rng: &mut Rng, dir: &Path, safe_flags: bool) -> Case {
    let mild = safe_flags;
    let mut case = Case::default();
    let mut file = serde_json::Map::new();
    let mut file_used = false;
    for _ in 0..1 + rng.below(4) {
        let o = rng.pick(OPTIONS);
        let roll = rng.below(100);
        if roll < 3 && !(mild && rng.chance(50)) {
            // Unknown or malformed variable names.
            let name: Vec<u8> = match rng.below(4) {
                0 => b"HOOKINIT_".to_vec(),
                1 => format!("HOOKINIT_{}X", &o.env()["HOOKINIT_".len()..]).into_bytes(),
                2 => [b"HOOKINIT_".as_slice(), &[0xff, 0xfe]].concat(),
                _ => o.env().to_ascii_lowercase().into_bytes(),
            };
            case.env.insert(
                OsString::from_vec(name),
                OsString::from_vec(no_nul(rng.bytes(8))),
            );
            continue;
        }
        if (3..6).contains(&roll) && !(mild && rng.chance(50)) {
            // Unknown or malformed flags.
            let arg: Vec<u8> = match rng.below(6) {
                0 => format!("--{}x=1", o.flag().unwrap_or_default()).into_bytes(),
                1 => b"-x".to_vec(),
                2 => [b"--".as_slice(), &[0xff], b"=1"].concat(),
                3 => format!("--{}", o.env()).into_bytes(),
                4 => b"--=".to_vec(),
                _ => format!("-{}", o.flag().unwrap_or_default()).into_bytes(),
            };
            case.args.push(OsString::from_vec(arg));
            continue;
        }
        let value = text_value(rng, &o.env(), dir, mild);
        match rng.below(3) {
            0 => {
                case.env
                    .insert(o.env().into(), OsString::from_vec(no_nul(value)));
            }
            1 => {
                let value = no_nul(value);
                if safe_flags || rng.chance(50) {
                    let mut a = format!("--{}=", o.flag().unwrap_or_default()).into_bytes();
                    a.extend_from_slice(&value);
                    case.args.push(OsString::from_vec(a));
                } else {
                    case.args
                        .push(format!("--{}", o.flag().unwrap_or_default()).into());
                    // Sometimes the value is missing: the flag ends the line.
                    if rng.chance(95) {
                        case.args.push(OsString::from_vec(value));
                    }
                }
            }
            _ if o.file().is_some() => {
                file_used = true;
                let mut v = as_json(&String::from_utf8_lossy(&value));
                if rng.chance(15) {
                    mutate_json(&mut v, rng);
                }
                file.insert(o.file().unwrap_or_default(), v);
            }
            _ => {
                case.env
                    .insert(o.env().into(), OsString::from_vec(no_nul(value)));
            }
        }
    }
    if file_used || rng.chance(10) {
        let mut text = if rng.chance(5) {
            rng.bytes(256)
        } else {
            let mut v = Value::Object(file);
            if rng.chance(20) {
                mutate_json(&mut v, rng);
            }
            to_text(&v, rng).into_bytes()
        };
        if rng.chance(15) {
            mutate_bytes(&mut text, rng);
        }
        case.file = Some(text);
        case.file_via_flag = rng.chance(30);
    }
    case
}

/// The case as hookinit gets it: args (without `--check`) and environment.
fn materialize(case: &Case, file_path: &Path) -> (Vec<OsString>, Vec<(OsString, OsString)>) {
    let mut args = Vec::new();
    let mut env = case.env.clone();
    if let Some(content) = &case.file {
        std::fs::write(file_path, content).unwrap();
        if case.file_via_flag {
            let mut a = OsString::from("--config=");
            a.push(file_path);
            args.push(a);
        } else {
            env.insert("HOOKINIT_CONFIG".into(), file_path.into());
        }
    }
    args.extend(case.args.iter().cloned());
    env.insert("PATH".into(), PATH.into());
    // Sorted by name, as std's Command passes them (a BTreeMap).
    (args, env.into_iter().collect())
}

// ---- the oracle ----------------------------------------------------------------

/// What the library says about a case.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// `--check`: the plan; `None` for help/version.
    Ok(Option<String>),
    Run,
    Err(String, String),
}

fn library(args: &[OsString], env: &[(OsString, OsString)]) -> Verdict {
    let result = std::panic::catch_unwind(|| match parse(args, env) {
        Ok(Request::Check(cfg)) => Verdict::Ok(Some(cfg.plan())),
        Ok(Request::Help) | Ok(Request::Version) | Ok(Request::Ready(_)) | Ok(Request::Say(..)) => {
            Verdict::Ok(None)
        }
        Ok(Request::Run(cfg)) => {
            let _ = cfg.plan();
            Verdict::Run
        }
        Err(e) => Verdict::Err(e.source.clone(), e.to_string()),
    });
    match result {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("config::parse panicked: {msg}\nargs: {args:?}\nenv: {env:?}")
        }
    }
}

/// The error names something the case gave it.
fn names_a_source(source: &str, args: &[OsString], env: &[(OsString, OsString)]) -> bool {
    if source.starts_with("config file ") || source == "usage" {
        return true;
    }
    let lossy = |s: &OsString| s.to_string_lossy().into_owned();
    if source.starts_with("HOOKINIT_") {
        return env.iter().any(|(k, _)| lossy(k) == source);
    }
    if source.starts_with('-') {
        return args.iter().any(|a| {
            let a = lossy(a);
            a == source || a.split_once('=').is_some_and(|(n, _)| n == source)
        });
    }
    false
}

// ---- running the binary --------------------------------------------------------

struct Output {
    /// `None`: killed by a signal (a crash) or by the watchdog.
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    timed_out: bool,
}

/// Runs `cmd` to completion; SIGKILLs it after `timeout`.
fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn hookinit");
    let pid = child.id() as i32;
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    let watchdog = thread::spawn(move || {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if *d.lock().unwrap() {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let d = d.lock().unwrap();
        if !*d {
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        !*d
    });
    let out = child.wait_with_output().unwrap();
    *done.lock().unwrap() = true;
    let timed_out = watchdog.join().unwrap();
    Output {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
        timed_out,
    }
}

fn hookinit(args: &[OsString], env: &[(OsString, OsString)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_clear().envs(env.iter().cloned());
    cmd
}

/// Checks the binary's `--check` answer against the library's verdict.
fn check_case(n: usize, args: &[OsString], env: &[(OsString, OsString)]) -> Verdict {
    let mut full = vec![OsString::from("--check")];
    full.extend(args.iter().cloned());
    let verdict = library(&full, env);
    let out = run(hookinit(&full, env), Duration::from_secs(10));
    let ctx = || {
        format!(
            "case {n} (seed {:#x}): args {args:?}\nenv {env:?}\nexit {:?}{}\nstdout {}\nstderr {}",
            seed(),
            out.code,
            if out.timed_out { " (timed out)" } else { "" },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    match &verdict {
        Verdict::Ok(plan) => {
            assert_eq!(out.code, Some(0), "{}", ctx());
            if let Some(plan) = plan {
                // The plan, then any warnings (some depend on the files and
                // PATH hookinit sees), then the verdict.
                let stdout = String::from_utf8_lossy(&out.stdout);
                let rest = stdout.strip_prefix(plan.as_str());
                let middle = rest.and_then(|r| r.strip_suffix("configuration OK\n"));
                assert!(
                    middle.is_some_and(|m| m.lines().all(|l| l.starts_with("warning: "))),
                    "{}",
                    ctx()
                );
            }
        }
        Verdict::Err(source, msg) => {
            assert_eq!(out.code, Some(2), "{}", ctx());
            assert!(
                names_a_source(source, &full, env),
                "the error names {source:?}, which the case did not give: {}",
                ctx()
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                format!("hookinit: {msg}\n"),
                "the binary disagrees with the library (out of date? scripts/build): {}",
                ctx()
            );
            assert!(out.stdout.is_empty(), "{}", ctx());
        }
        Verdict::Run => panic!("--check gave Run: {}", ctx()),
    }
    verdict
}

// ---- the tests -----------------------------------------------------------------

/// Library only: many cases, fast. Panics (including debug-build overflow
/// checks), nondeterminism and errors that name nothing are failures.
#[test]
fn parse_never_panics_and_errors_name_their_source() {
    let t = TempDir::new("fuzz-lib");
    let cases = knob("FUZZ_CONFIG_INPROCESS", 20_000) as usize;
    let mut rng = Rng::new(seed() ^ 0x11);
    let (mut ok, mut err) = (0, 0);
    let started = Instant::now();
    for n in 0..cases {
        let case = gen_case(&mut rng, &t.0, false);
        let (mut args, mut env) = materialize(&case, &t.path("c.json"));
        // In-process, NUL bytes are possible too.
        if rng.chance(5) {
            env.push((
                "HOOKINIT_READY_FILE".into(),
                OsString::from_vec(b"a\0b".to_vec()),
            ));
            args.push(OsString::from_vec(b"--ready-file=\0".to_vec()));
        }
        if rng.chance(50) {
            args.insert(0, "--check".into());
        }
        let v = library(&args, &env);
        assert_eq!(v, library(&args, &env), "case {n}: not deterministic");
        match &v {
            Verdict::Err(source, msg) => {
                err += 1;
                assert!(
                    names_a_source(source, &args, &env),
                    "case {n} (seed {:#x}): {msg}\nargs {args:?}\nenv {env:?}",
                    seed()
                );
                assert!(
                    msg.len() > source.len() + 2,
                    "case {n}: empty message {msg:?}"
                );
            }
            _ => ok += 1,
        }
    }
    eprintln!(
        "in-process: {cases} cases ({ok} accepted, {err} rejected) in {:?}, seed {:#x}",
        started.elapsed(),
        seed()
    );
    assert!(
        ok > cases / 50 && err > cases / 5,
        "poor mix: {ok} ok, {err} errors"
    );
}

/// The former `json::parse`: serde_json, duplicate keys rejected.
fn serde_strict(text: &str) -> Result<(), String> {
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    struct Strict;
    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Strict)
        }
    }
    impl<'de> Visitor<'de> for Strict {
        type Value = Strict;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_unit<E>(self) -> Result<Strict, E> {
            Ok(Strict)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
            while seq.next_element::<Strict>()?.is_some() {}
            Ok(Strict)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
            let mut keys = std::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !keys.insert(key.clone()) {
                    return Err(A::Error::custom(format_args!("duplicate key \"{key}\"")));
                }
                map.next_value::<Strict>()?;
            }
            Ok(Strict)
        }
    }
    let mut d = serde_json::Deserializer::from_str(text);
    Strict::deserialize(&mut d).map_err(|e| format!("invalid JSON: {e}"))?;
    d.end().map_err(|e| format!("invalid JSON: {e}"))
}

/// hookinit reads JSON itself; serde_json is the oracle. For generated values
/// of every JSON setting: rejected as invalid JSON exactly when serde_json
/// rejects the text, with serde_json's message (position included).
#[test]
fn json_is_accepted_and_rejected_as_serde_json_did() {
    let t = TempDir::new("fuzz-json");
    let cases = knob("FUZZ_CONFIG_JSON", 20_000) as usize;
    let mut rng = Rng::new(seed() ^ 0x15);
    let vars = [
        "HOOKINIT_LIFECYCLE",
        "HOOKINIT_POST_START",
        "HOOKINIT_PRE_STOP",
        "HOOKINIT_STARTUP_PROBE",
        "HOOKINIT_LIVENESS_PROBE",
        "HOOKINIT_READINESS_PROBE",
        "HOOKINIT_CONTAINER",
    ];
    let (mut valid, mut invalid) = (0, 0);
    for n in 0..cases {
        let var = *rng.pick(&vars);
        let Ok(text) = String::from_utf8(no_nul(text_value(&mut rng, var, &t.0, false))) else {
            continue;
        };
        // A blank variable is not set.
        if text.trim().is_empty() {
            continue;
        }
        let args: Vec<OsString> = vec!["--check".into(), "--".into(), "true".into()];
        let env = [(OsString::from(var), OsString::from(&text))];
        let ours = match library(&args, &env) {
            Verdict::Err(_, msg) => msg,
            _ => String::new(),
        };
        let at = || format!("case {n} (seed {:#x}): {var}={text:?}", seed());
        match serde_strict(&text) {
            Ok(()) => {
                valid += 1;
                assert!(!ours.contains("invalid JSON"), "{}: {ours}", at());
            }
            Err(theirs) => {
                invalid += 1;
                assert_eq!(ours, format!("{var}: {theirs}"), "{}", at());
            }
        }
    }
    assert!(
        valid > cases / 10 && invalid > cases / 10,
        "poor mix: {valid} valid, {invalid} invalid JSON"
    );
}

/// The binary with `--check`: exit 0 with the library's plan, or exit 2 with
/// the library's error, never anything else.
#[test]
fn check_exits_0_or_2_in_agreement_with_the_library() {
    let t = TempDir::new("fuzz-check");
    let cases = knob("FUZZ_CONFIG_CASES", 2000) as usize;
    let mut rng = Rng::new(seed() ^ 0x22);
    let started = Instant::now();
    let (mut ok, mut err) = (0, 0);
    for n in 0..cases {
        let case = gen_case(&mut rng, &t.0, false);
        let (args, env) = materialize(&case, &t.path("c.json"));
        match check_case(n, &args, &env) {
            Verdict::Err(..) => err += 1,
            _ => ok += 1,
        }
    }
    eprintln!(
        "hookinit --check: {cases} cases ({ok} exit 0, {err} exit 2) in {:?}, seed {:#x}",
        started.elapsed(),
        seed()
    );
    assert!(
        ok > cases / 50 && err > cases / 5,
        "poor mix: {ok} ok, {err} errors"
    );
}

/// Whether a valid configuration is harmless to run for real here: no
/// command but `true`/`echo`, no network but 127.0.0.1, short sleeps, the
/// ready file and a notify socket path inside the scratch directory.
fn harmless(cfg: &hookinit::config::Config, dir: &Path) -> bool {
    use hookinit::spec::handler::{Action, Handler};
    use hookinit::spec::probe::{ProbeHandler, ProbeKind};
    let action_ok = |a: &Action| match a {
        Action::Exec { command } => {
            ["true", "/bin/true", "echo", "/bin/echo"].contains(&command[0].as_str())
        }
        Action::HttpGet(g) => g.host == "127.0.0.1",
        Action::TcpSocket { host, .. } => host == "127.0.0.1",
    };
    let hook_ok = |h: &Option<Handler>| match h {
        None => true,
        Some(Handler::Action(a)) => action_ok(a),
        Some(Handler::Sleep { duration }) => *duration <= Duration::from_secs(1),
    };
    let probe_ok = |kind| match cfg.probe(kind).map(|p| &p.handler) {
        None | Some(ProbeHandler::Grpc { .. }) => true,
        Some(ProbeHandler::Action(a)) => action_ok(a),
    };
    hook_ok(&cfg.post_start)
        && hook_ok(&cfg.pre_stop)
        && ProbeKind::ALL.into_iter().all(probe_ok)
        && !matches!(&cfg.ready_file, Some(p) if !p.starts_with(dir))
        // A socket path whose directory is missing stops hookinit (exit 1,
        // by design: README), as a mutated path's would: only paths in the
        // scratch directory (`Address` is not public: its Debug form).
        && cfg.notify_socket.as_ref().is_none_or(|a| {
            let a = format!("{a:?}");
            !a.starts_with("Path(") || a.contains(&*dir.to_string_lossy())
        })
        && (!cfg.pre_stop_on_exit || cfg.grace <= Duration::from_secs(3))
}

/// Real runs: an invalid configuration never starts the app; a valid one
/// does, and exits as the app did.
#[test]
fn invalid_configurations_never_start_the_app() {
    let t = TempDir::new("fuzz-run");
    let runs = knob("FUZZ_CONFIG_RUNS", 150) as usize;
    let mut rng = Rng::new(seed() ^ 0x33);
    let started = Instant::now();
    let (mut rejected, mut ran, mut skipped) = (0, 0, 0);
    for n in 0..runs {
        let marker = t.path(&format!("ran-{n}"));
        let case = gen_case(&mut rng, &t.0, true);
        let (mut args, env) = materialize(&case, &t.path("c.json"));
        args.extend(["--", "/bin/sh", "-c"].map(OsString::from));
        args.push(format!(": > {}", marker.display()).into());
        let cfg = match std::panic::catch_unwind(|| parse(&args, &env)) {
            Ok(Ok(Request::Run(cfg))) => Some(cfg),
            Ok(Err(_)) | Ok(Ok(_)) => None,
            Err(_) => panic!("case {n}: config::parse panicked: {args:?} {env:?}"),
        };
        let verdict = library(&args, &env);
        if let Some(cfg) = &cfg {
            if !harmless(cfg, &t.0) {
                skipped += 1;
                continue;
            }
        }
        // Every fourth run as PID 1 of a PID namespace.
        let pid1 = n % 4 == 0;
        let cmd = if pid1 {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
                .arg(bin())
                .args(&args)
                .env_clear()
                .envs(env.iter().cloned());
            c
        } else {
            hookinit(&args, &env)
        };
        let out = run(cmd, Duration::from_secs(15));
        let ctx = format!(
            "run {n} (seed {:#x}, pid1 {pid1}): args {args:?}\nenv {env:?}\nexit {:?}\nstderr {}",
            seed(),
            out.code,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.timed_out, "{ctx}");
        match (&verdict, cfg) {
            (Verdict::Err(_, msg), _) => {
                rejected += 1;
                assert_eq!(out.code, Some(2), "{ctx}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stderr),
                    format!("hookinit: {msg}\n"),
                    "{ctx}"
                );
                assert!(
                    !marker.exists(),
                    "the app ran for an invalid configuration: {ctx}"
                );
            }
            (Verdict::Run, Some(cfg)) => {
                ran += 1;
                // 2 is the usage error, unless the case remaps an exit code to it.
                let remapped_to_2 = cfg.exit_remap.iter().any(|&(_, to)| to == 2);
                assert!(out.code.is_some(), "{ctx}");
                assert!(out.code != Some(2) || remapped_to_2, "{ctx}");
                if cfg.post_start.is_none()
                    && cfg.liveness_probe.is_none()
                    && cfg.startup_probe.is_none()
                {
                    // Nothing can stop the app before it writes the marker.
                    assert!(marker.exists(), "{ctx}");
                    assert_eq!(out.code, Some(cfg.remap(0)), "{ctx}");
                }
            }
            (v, _) => {
                // --help / --version given as `--help=...`-like flags, or
                // HOOKINIT_CHECK=1: exit 0, nothing started.
                ran += 1;
                assert!(matches!(v, Verdict::Ok(_)), "{v:?}: {ctx}");
                assert_eq!(out.code, Some(0), "{ctx}");
                assert!(!marker.exists(), "{ctx}");
            }
        }
    }
    eprintln!(
        "real runs: {runs} cases ({rejected} rejected without starting the app, {ran} ran, \
         {skipped} valid but not harmless to run here) in {:?}, seed {:#x}",
        started.elapsed(),
        seed()
    );
    assert!(rejected > runs / 5 && ran > runs / 10, "poor mix");
}

// ---- special files as the config file --------------------------------------------

/// Runs `hookinit --check` with `HOOKINIT_CONFIG=path` under a 512 MB
/// address-space limit, sending TERM after `term_after` and SIGKILL 3 s
/// later; returns the exit code (`None`: killed), stderr, peak RSS in kB
/// and the time it took.
fn check_config_path(path: &Path, term_after: Duration) -> (Option<i32>, String, u64, Duration) {
    // prlimit, not a pre_exec setrlimit: a pre_exec closure makes std fork,
    // and the forked copy of this test process would count in ru_maxrss.
    let mut cmd = Command::new("/usr/bin/prlimit");
    cmd.arg(format!("--as={}", 512u64 << 20))
        .arg("--")
        .arg(bin())
        .arg("--check")
        .env_clear()
        .env("PATH", PATH)
        .env("HOOKINIT_CONFIG", path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut termed = false;
    // The peak as the process itself saw it (VmHWM, polled): wait4's
    // ru_maxrss would include this test process's own size from before exec.
    let mut peak = 0;
    loop {
        if let Some(hwm) = proc_status_field(pid, "VmHWM") {
            peak = peak.max(hwm.trim_end_matches(" kB").trim().parse().unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            let elapsed = started.elapsed();
            return (status.code(), reader.join().unwrap(), peak, elapsed);
        }
        let elapsed = started.elapsed();
        if !termed && elapsed > term_after {
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            termed = true;
        }
        if elapsed > term_after + Duration::from_secs(3) {
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(Duration::from_micros(500));
    }
}

#[test]
fn special_files_as_the_config_file() {
    let t = TempDir::new("fuzz-special");
    let big = t.path("big.json");
    // 64 KiB of whitespace around an empty object: valid, if odd.
    let mut content = vec![b' '; 64 << 10];
    content.extend_from_slice(b"{}");
    std::fs::write(&big, content).unwrap();
    let cases: Vec<(PathBuf, Option<i32>)> = vec![
        (t.0.clone(), Some(2)),
        ("/dev/null".into(), Some(2)),
        (t.path("missing.json"), Some(2)),
        ("/proc/self/environ".into(), Some(2)),
        (big, Some(0)),
    ];
    for (path, want) in cases {
        let (code, stderr, rss, elapsed) = check_config_path(&path, Duration::from_secs(5));
        eprintln!(
            "{}: exit {code:?} in {elapsed:?}, max RSS {rss} kB",
            path.display()
        );
        assert_eq!(code, want, "{}: {stderr}", path.display());
        if want == Some(2) {
            assert!(stderr.starts_with("hookinit: config file "), "{stderr}");
        }
    }
}

/// An endless config file (a device, or a huge file by mistake) must not
/// make PID 1 read it into memory: a size cap, and an error.
#[test]
fn an_endless_config_file_is_not_read_into_memory() {
    let (code, stderr, rss, elapsed) =
        check_config_path(Path::new("/dev/zero"), Duration::from_secs(10));
    eprintln!("/dev/zero: exit {code:?} in {elapsed:?}, max RSS {rss} kB: {stderr}");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("hookinit: config file /dev/zero"),
        "{stderr}"
    );
    assert!(
        rss < 32 * 1024,
        "hookinit read /dev/zero into {rss} kB of memory before giving up (under a 512 MB \
         address-space limit; without one it takes whatever the machine has)"
    );
}

/// A config path that blocks on open (a FIFO without a writer): hookinit
/// has every signal blocked while it reads its configuration, so it must
/// not block forever there: it should fail, or at least answer TERM.
#[test]
fn a_fifo_config_file_does_not_hang_hookinit() {
    let t = TempDir::new("fuzz-fifo");
    let fifo = t.path("config.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, stderr, _, elapsed) = check_config_path(&fifo, Duration::from_secs(2));
    eprintln!("FIFO: exit {code:?} after {elapsed:?}: {stderr}");
    assert!(
        code.is_some() && elapsed < Duration::from_secs(4),
        "hookinit hung opening a FIFO as its config file and ignored TERM (killed after \
         {elapsed:?}); stderr: {stderr}"
    );
}
