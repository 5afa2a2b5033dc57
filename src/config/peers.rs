//! hookinit under another init's name: `tini`, `tini-static` and
//! `docker-init` (Docker's `--init`) take tini's flags and `TINI_*`;
//! `dumb-init` takes dumb-init's and `DUMB_INIT_SETSID`; `catatonit` and
//! `podman-init` (podman's `--init`) take catatonit's. One small getopt reads
//! them all; one `match` per peer maps each letter onto hookinit's own
//! settings, so the rest of hookinit (hooks, probes, `HOOKINIT_*`) is the same
//! in every mode.

use super::layers::Layer;
use super::options::Key;
use super::sources::CommandLine;
use super::values::Raw;
use super::ConfigError;
use crate::os::signals;
use crate::os::text::Quoted;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The init whose name hookinit was started under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Tini,
    DumbInit,
    Catatonit,
}

impl Peer {
    /// The peer `argv[0]`'s base name names, if any.
    pub fn of(argv0: &OsStr) -> Option<Peer> {
        let base = argv0.as_bytes().rsplit(|b| *b == b'/').next()?;
        // Also the names of the peers' release downloads, often kept as
        // they are: tini-static-amd64, dumb-init_1.2.5_x86_64, catatonit.x86_64.
        let named = |name: &[u8]| {
            base.strip_prefix(name)
                .is_some_and(|rest| matches!(rest.first(), None | Some(b'-' | b'_' | b'.')))
        };
        if named(b"tini") || base == b"docker-init" {
            Some(Peer::Tini)
        } else if named(b"dumb-init") {
            Some(Peer::DumbInit)
        } else if named(b"catatonit") || base == b"podman-init" {
            Some(Peer::Catatonit)
        } else {
            None
        }
    }

    /// The peer's variables in the environment (`TINI_*`, ...), read in place.
    pub fn environment(self) -> Vec<(OsString, OsString)> {
        crate::os::env::vars_with_prefix(match self {
            Peer::Tini => b"TINI_",
            Peer::DumbInit => b"DUMB_INIT_",
            Peer::Catatonit => b"CATATONIT_",
        })
    }

    fn name(self) -> &'static str {
        match self {
            Peer::Tini => "tini",
            Peer::DumbInit => "dumb-init",
            Peer::Catatonit => "catatonit",
        }
    }
}

/// What the peers' flags ask for beyond hookinit's own options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerSettings {
    /// dumb-init's default: the app starts a session of its own (`setsid`).
    pub setsid: bool,
    /// dumb-init's `--rewrite s:r`: a received `s` is handled as `r`; 0 drops it.
    pub rewrite: Vec<(i32, i32)>,
    /// tini's `-p`: the signal hookinit gets when its parent dies.
    pub parent_death_signal: Option<i32>,
    /// tini's `-w`: a warning for each process reaped that is not the app.
    pub warn_on_reap: bool,
    /// dumb-init: after forwarding TSTP, TTIN or TTOU it stops itself, so
    /// the shell that started it regains the terminal (not as PID 1).
    pub suspend_on_tty_signals: bool,
}

impl PeerSettings {
    /// The signal a received `sig` stands for (0: dropped).
    pub fn rewritten(&self, sig: i32) -> i32 {
        self.rewrite
            .iter()
            .find(|(from, _)| *from == sig)
            .map_or(sig, |(_, to)| *to)
    }
}

/// `tini version X - git.Y`: the line Docker parses from `docker-init
/// --version` (moby `parseInitVersion`: the commit after ` - git.`, or the
/// version after `tini version `); catatonit prints the same for podman.
const TINI_VERSION: &str = concat!(
    "tini version ",
    env!("CARGO_PKG_VERSION"),
    "_hookinit - git.hookinit\n"
);
const LICENSE: &str = concat!(
    "hookinit ",
    env!("CARGO_PKG_VERSION"),
    ": MIT OR Apache-2.0\n"
);

/// Reads a peer's flags into `flags` (and its variables into `env`, below
/// `HOOKINIT_*`, which are read after), and its defaults into `defaults`.
pub(super) fn read<'a>(
    peer: Peer,
    args: &'a [OsString],
    vars: &[(OsString, OsString)],
    flags: &mut Layer,
    env: &mut Layer,
    defaults: &mut Layer,
    out: &mut PeerSettings,
) -> Result<CommandLine<'a>, ConfigError> {
    let var = |name: &str| {
        vars.iter()
            .find(|(n, _)| n.as_bytes() == name.as_bytes())
            .map(|(_, v)| v.to_string_lossy())
    };
    let src = peer.name();
    // Quieter than hookinit by default, as the peers: failures only.
    defaults.set(Key::Verbosity, Raw::Text("1"), src)?;
    let say = |text: String, stderr| Ok(CommandLine::Say { text, stderr });
    let (spec, longs): (&str, &[(&str, u8)]) = match peer {
        // tini 0.19's `getopt` letters; `--version` only alone.
        Peer::Tini => {
            if args.len() == 1 && args[0] == "--version" {
                return say(TINI_VERSION.into(), false);
            }
            ("p:hvwgle:s", &[])
        }
        Peer::DumbInit => (
            "hvVcr:",
            &[
                ("help", b'h'),
                ("verbose", b'v'),
                ("version", b'V'),
                ("single-child", b'c'),
                ("rewrite", b'r'),
            ],
        ),
        Peer::Catatonit => ("ghLPV", &[("version", b'V')]),
    };
    let mut verbose = 0u8;
    let mut remap = Vec::new();
    let mut setsid = peer == Peer::DumbInit;
    let mut said = None;
    let command = getopt(src, args, spec, longs, |letter, value| {
        let value = value.unwrap_or("");
        let bad = || {
            ConfigError::new(
                src,
                format!("-{}: {} is not valid", letter as char, Quoted(value)),
            )
        };
        match (peer, letter) {
            (Peer::Tini, b'h') => said = Some((help(peer), false)),
            (Peer::DumbInit | Peer::Catatonit, b'h') => said = Some((help(peer), true)),
            (Peer::Tini, b'l') | (Peer::Catatonit, b'L') => said = Some((LICENSE.into(), false)),
            (Peer::Catatonit, b'V') => said = Some((TINI_VERSION.into(), false)),
            (Peer::DumbInit, b'V') => {
                let v = concat!("dumb-init v", env!("CARGO_PKG_VERSION"), "_hookinit\n");
                said = Some((v.into(), true))
            }
            (Peer::Tini, b's') => flags.set(Key::Subreaper, Raw::Text("1"), "-s")?,
            (Peer::Tini | Peer::Catatonit, b'g') => {
                flags.set(Key::SignalGroup, Raw::Text("1"), "-g")?
            }
            (Peer::Tini, b'p') => {
                // tini takes its own list of names, SIG prefix included.
                let sig = value
                    .strip_prefix("SIG")
                    .and_then(|_| signals::parse(value))
                    .filter(|s| *s < 32)
                    .ok_or_else(bad)?;
                out.parent_death_signal = Some(sig)
            }
            (Peer::Tini | Peer::DumbInit, b'v') => verbose = verbose.saturating_add(1),
            (Peer::Tini, b'w') => out.warn_on_reap = true,
            (Peer::Tini, b'e') => remap.push((value.parse::<u8>().map_err(|_| bad())?.into(), 0)),
            (Peer::DumbInit, b'c') => setsid = false,
            (Peer::DumbInit, b'r') => {
                // dumb-init: 1-31, rewritten to 0-31 (0: not forwarded).
                let pair = value.split_once(':').and_then(|(s, r)| {
                    let (s, r) = (s.parse::<i32>().ok()?, r.parse::<i32>().ok()?);
                    ((1..32).contains(&s) && (0..32).contains(&r)).then_some((s, r))
                });
                out.rewrite.push(pair.ok_or_else(bad)?)
            }
            (Peer::Catatonit, b'P') => {
                return Err(ConfigError::new(
                    "-P",
                    "catatonit's pause mode is not supported: hookinit always runs a command",
                ))
            }
            _ => return Err(ConfigError::new(src, "unknown option")),
        }
        Ok(())
    })?;
    if let Some((text, stderr)) = said {
        return say(text, stderr);
    }
    match peer {
        Peer::Tini => {
            // tini reads its variables after its flags: TINI_VERBOSITY wins over -v.
            if let Some(v) = var("TINI_VERBOSITY") {
                env.set(
                    Key::Verbosity,
                    Raw::Text(&atoi(&v).min(3).to_string()),
                    "TINI_VERBOSITY",
                )?;
            } else if verbose > 0 {
                let v = (1 + verbose).min(3).to_string();
                flags.set(Key::Verbosity, Raw::Text(&v), "-v")?;
            }
            // Set at all, whatever the value, as tini's getenv.
            if var("TINI_SUBREAPER").is_some() {
                env.set(Key::Subreaper, Raw::Text("1"), "TINI_SUBREAPER")?;
            }
            if var("TINI_KILL_PROCESS_GROUP").is_some() {
                env.set(Key::SignalGroup, Raw::Text("1"), "TINI_KILL_PROCESS_GROUP")?;
            }
            if !remap.is_empty() {
                flags.exit_remap = Some(remap);
            }
        }
        Peer::DumbInit => {
            if verbose > 0 {
                flags.set(Key::Verbosity, Raw::Text("3"), "-v")?;
            }
            if var("DUMB_INIT_DEBUG").as_deref() == Some("1") {
                env.set(Key::Verbosity, Raw::Text("3"), "DUMB_INIT_DEBUG")?;
            }
            if var("DUMB_INIT_SETSID").as_deref() == Some("0") {
                setsid = false;
            }
            // The session leader's group gets the signals; without a
            // session, the app alone (dumb-init's single-child mode).
            defaults.set(
                Key::SignalGroup,
                Raw::Text(if setsid { "1" } else { "0" }),
                src,
            )?;
            if setsid {
                // dumb-init turns the terminal's stop signals into STOP
                // for the session unless rewritten.
                for s in [libc::SIGTSTP, libc::SIGTTOU, libc::SIGTTIN] {
                    if !out.rewrite.iter().any(|(from, _)| *from == s) {
                        out.rewrite.push((s, libc::SIGSTOP));
                    }
                }
            }
            out.setsid = setsid;
            out.suspend_on_tty_signals = true;
        }
        Peer::Catatonit => {
            if var("CATATONIT_DEBUG").is_some() {
                env.set(Key::Verbosity, Raw::Text("3"), "CATATONIT_DEBUG")?;
            }
        }
    }
    Ok(CommandLine::Settings {
        check: false,
        ready: false,
        command,
    })
}

/// C's `atoi`: the leading digits, 0 if none.
fn atoi(s: &str) -> u8 {
    let digits = s.trim_start();
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    digits[..end].parse::<u32>().map_or(0, |v| v.min(255) as u8)
}

/// POSIX getopt over `args` with `spec`'s letters (`:` after one that takes
/// a value) and `--long[=value]` names for letters; stops at `--` or the first
/// argument that is not an option (no reordering: the app's own flags stay
/// the app's). Returns the command.
fn getopt<'a>(
    src: &str,
    args: &'a [OsString],
    spec: &str,
    longs: &[(&str, u8)],
    mut each: impl FnMut(u8, Option<&'a str>) -> Result<(), ConfigError>,
) -> Result<&'a [OsString], ConfigError> {
    let takes_value = |c: u8| {
        let at = spec.bytes().position(|s| s == c && c != b':');
        at.map(|i| spec.as_bytes().get(i + 1) == Some(&b':'))
    };
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            i += 1;
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            break;
        }
        let text = arg
            .to_str()
            .ok_or_else(|| ConfigError::new(src, "an option is not valid UTF-8"))?;
        i += 1;
        let unknown = || ConfigError::new(src, format!("{text}: unknown option (see -h)"));
        let needs = |o: &str| ConfigError::new(src, format!("{o} needs a value"));
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let letter = longs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|l| l.1)
                .ok_or_else(unknown)?;
            let value = match (takes_value(letter), inline) {
                (Some(true), Some(v)) => Some(v),
                (Some(true), None) => {
                    i += 1;
                    Some(
                        args.get(i - 1)
                            .and_then(|v| v.to_str())
                            .ok_or_else(|| needs(text))?,
                    )
                }
                (_, Some(_)) => return Err(unknown()),
                _ => None,
            };
            each(letter, value)?;
            continue;
        }
        for (at, letter) in text.bytes().enumerate().skip(1) {
            match takes_value(letter).ok_or_else(unknown)? {
                false => each(letter, None)?,
                true if at + 1 < text.len() => {
                    each(letter, Some(&text[at + 1..]))?;
                    break;
                }
                true => {
                    i += 1;
                    let v = args
                        .get(i - 1)
                        .and_then(|v| v.to_str())
                        .ok_or_else(|| needs(text))?;
                    each(letter, Some(v))?;
                }
            }
        }
    }
    Ok(&args[i..])
}

fn help(peer: Peer) -> String {
    let flags = match peer {
        Peer::Tini => {
            "  -s  subreaper   -g  signal the process group   -p SIG  signal on parent death\n  \
             -e CODE  exit CODE as 0   -v  more output   -w  warn on reaping   -l  license\n  \
             TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP, TINI_VERBOSITY"
        }
        Peer::DumbInit => {
            "  -c, --single-child  no session: signal the app only (DUMB_INIT_SETSID=0)\n  \
             -r, --rewrite s:r   handle signal s as r (0: drop it)\n  \
             -v, --verbose   -V, --version"
        }
        Peer::Catatonit => "  -g  signal the process group   -L  license   -V, --version",
    };
    format!(
        "hookinit {} as {}: {} [OPTIONS] [--] CMD [ARGS...]\n{flags}\n  \
         -h  this text\nHOOKINIT_* variables work as for hookinit itself (hookinit --help).\n",
        env!("CARGO_PKG_VERSION"),
        peer.name(),
        peer.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn names_choose_the_peer() {
        let of = |n: &str| Peer::of(OsStr::new(n));
        assert_eq!(of("/sbin/docker-init"), Some(Peer::Tini));
        assert_eq!(of("tini-static"), Some(Peer::Tini));
        assert_eq!(of("/usr/bin/dumb-init"), Some(Peer::DumbInit));
        assert_eq!(of("/run/podman-init"), Some(Peer::Catatonit));
        assert_eq!(of("/hookinit"), None);
        assert_eq!(of("tini2"), None);
        assert_eq!(of("tini-static-amd64"), Some(Peer::Tini));
        assert_eq!(of("dumb-init_1.2.5_x86_64"), Some(Peer::DumbInit));
        assert_eq!(of("catatonit.x86_64"), Some(Peer::Catatonit));
        assert_eq!(of("docker-init-x"), None);
    }

    #[test]
    fn getopt_clusters_values_longs_and_stops_at_the_command() {
        let a = args(&["-vvg", "-e0", "-e", "143", "--", "app", "-v"]);
        let mut seen = Vec::new();
        let cmd = getopt("t", &a, "p:hvwgle:s", &[], |l, v| {
            seen.push((l as char, v.map(str::to_string)));
            Ok(())
        })
        .unwrap();
        assert_eq!(cmd, &a[5..]);
        let v = |s: &str| Some(s.to_string());
        assert_eq!(
            seen,
            [
                ('v', None),
                ('v', None),
                ('g', None),
                ('e', v("0")),
                ('e', v("143"))
            ]
        );
        let a = args(&["--rewrite=15:3", "--single-child", "app", "-c"]);
        let mut n = 0;
        let longs = [("rewrite", b'r'), ("single-child", b'c')];
        let cmd = getopt("d", &a, "cr:", &longs, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((n, cmd), (2, &a[2..]));
        assert!(getopt("t", &args(&["-x"]), "g", &[], |_, _| Ok(())).is_err());
        assert!(getopt("t", &args(&["-e"]), "e:", &[], |_, _| Ok(())).is_err());
    }

    /// The configuration `peer` runs with for `a` and `env`.
    fn config(
        peer: Peer,
        a: &[&str],
        env: &[(&str, &str)],
    ) -> Result<super::super::Config, String> {
        let env: Vec<(OsString, OsString)> =
            env.iter().map(|(n, v)| (n.into(), v.into())).collect();
        match super::super::parse_as(Some(peer), &args(a), &env).map_err(|e| e.to_string())? {
            super::super::Request::Run(c) | super::super::Request::Check(c) => Ok(*c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn tini_flags_and_variables_map_onto_hookinits_settings() {
        let c = config(Peer::Tini, &["app"], &[]).unwrap();
        assert_eq!((c.verbosity, c.signal_group, c.subreaper), (1, false, None));
        let c = config(
            Peer::Tini,
            &[
                "-sgw", "-vv", "-e", "3", "-e9", "-p", "SIGTERM", "--", "app",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            (c.verbosity, c.signal_group, c.subreaper),
            (3, true, Some(true))
        );
        assert_eq!((c.remap(3), c.remap(9), c.remap(4)), (0, 0, 4));
        assert_eq!(c.peer.parent_death_signal, Some(libc::SIGTERM));
        assert!(c.peer.warn_on_reap && !c.peer.setsid && c.peer.rewrite.is_empty());
        // Set at all counts, as tini's getenv; TINI_VERBOSITY wins over -v.
        let env = [
            ("TINI_SUBREAPER", ""),
            ("TINI_KILL_PROCESS_GROUP", ""),
            ("TINI_VERBOSITY", "0"),
        ];
        let c = config(Peer::Tini, &["-vv", "app"], &env).unwrap();
        assert_eq!(
            (c.verbosity, c.signal_group, c.subreaper),
            (0, true, Some(true))
        );
        // HOOKINIT_* wins over the peer's variables.
        let env = [("TINI_VERBOSITY", "0"), ("HOOKINIT_VERBOSITY", "2")];
        assert_eq!(config(Peer::Tini, &["app"], &env).unwrap().verbosity, 2);
        for bad in [
            &["-e", "256", "app"][..],
            &["-p", "KILL", "app"],
            &["-x", "app"],
            &["--pre-stop", "x"],
        ] {
            assert!(config(Peer::Tini, bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dumb_init_signals_its_session_group_unless_single_child() {
        let c = config(Peer::DumbInit, &["app"], &[]).unwrap();
        assert!(c.peer.setsid && c.signal_group);
        assert_eq!(
            (c.verbosity, c.peer.rewritten(libc::SIGTSTP)),
            (1, libc::SIGSTOP)
        );
        let c = config(
            Peer::DumbInit,
            &["-v", "-r", "15:3", "--rewrite=10:0", "app"],
            &[],
        )
        .unwrap();
        assert_eq!(c.verbosity, 3);
        assert_eq!(
            (
                c.peer.rewritten(15),
                c.peer.rewritten(10),
                c.peer.rewritten(1)
            ),
            (3, 0, 1)
        );
        for (a, env) in [
            (&["-c", "app"][..], &[][..]),
            (&["app"], &[("DUMB_INIT_SETSID", "0")]),
        ] {
            let c = config(Peer::DumbInit, a, env).unwrap();
            assert!(!c.peer.setsid && !c.signal_group && c.peer.rewrite.is_empty());
        }
        for bad in ["0:1", "15", "15:32", "x:1"] {
            assert!(
                config(Peer::DumbInit, &["-r", bad, "app"], &[]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn catatonit_takes_g_and_debug() {
        let c = config(Peer::Catatonit, &["-g", "app"], &[("CATATONIT_DEBUG", "")]).unwrap();
        assert_eq!((c.verbosity, c.signal_group), (3, true));
        assert!(config(Peer::Catatonit, &["-P"], &[]).is_err());
    }

    #[test]
    fn atoi_reads_leading_digits() {
        assert_eq!((atoi("3"), atoi(" 2x"), atoi("x"), atoi("")), (3, 2, 0, 0));
    }
}
