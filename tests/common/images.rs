//! Debian images for the e2e tests with real servers, built locally with no
//! registry and cached across test binaries and runs:
//!
//! 1. `hookinit-cache/debian-base:bookworm-KEY`: `debootstrap --variant=minbase
//!    bookworm` from the Debian archive of the machine's apt sources
//!    (`E2E_DEBIAN_MIRROR` overrides it), then `docker import` (~40-70 s);
//! 2. `hookinit-cache/debian-servers:bookworm-KEY`: on top of it, `docker build
//!    --network host` with `apt-get install nginx postgresql psmisc procps`
//!    (~25 s; the engine here has no bridge network).
//!
//! KEY is a hash (FNV-1a) of everything that goes into the image (mirror,
//! suite, variant, Dockerfile text), and each image carries the label
//! `hookinit.e2e.cache=KIND-KEY`: an image with the right tag is reused as
//! is, so only the first run on a machine pays for the build. Images of other
//! keys (an older recipe) are removed when a new one is built. An exclusive
//! `flock` on `target/e2e-cache/debian.lock` serialises concurrent test
//! binaries. hookinit itself is never in these images: each run copies its
//! fresh binary in on top (see tests/servers.rs).
#![allow(dead_code)]

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::e2e;

pub const SUITE: &str = "bookworm";
pub const CACHE_LABEL: &str = "hookinit.e2e.cache";
const BASE_REPO: &str = "hookinit-cache/debian-base";
const SERVERS_REPO: &str = "hookinit-cache/debian-servers";
/// Bump to rebuild every cached image.
const RECIPE: &str = "1";
/// For debootstrap, and for the `apt-get install` build (each).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// What the servers image installs on the minbase system.
pub const SERVERS_DOCKERFILE: &str = r#"# hookinit e2e: real servers from Debian's packages
FROM {BASE}
# No service may start during the build (there is no init to run them).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nginx postgresql psmisc procps \
 && rm -rf /var/lib/apt/lists/*
"#;

/// 64-bit FNV-1a: a cache key that stays the same across Rust releases.
pub fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// `target/e2e-cache` (under `CARGO_TARGET_DIR` when set).
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(e2e::ROOT).join("target"));
    let dir = target.join("e2e-cache");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// An exclusive lock on a file, held until drop.
pub struct Lock(fs::File);

impl Lock {
    pub fn take(path: &Path) -> Lock {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        Lock(file)
    }
}

/// The Debian archive of the machine's apt sources, for `debootstrap`:
/// `E2E_DEBIAN_MIRROR`, else the first `deb` source for the suite `bookworm`
/// (deb822 `.sources` files or one-line `.list` files), else the first
/// source whose path ends in `/debian`.
pub fn debian_mirror() -> Result<String, String> {
    if let Ok(m) = std::env::var("E2E_DEBIAN_MIRROR") {
        if !m.is_empty() {
            return Ok(m);
        }
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    // (uri, suites) of every deb source.
    let mut sources: Vec<(String, Vec<String>)> = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let name = file.to_string_lossy();
        if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| -> Vec<String> {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{key}:")))
                        .map(|v| v.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default()
                };
                if !field("Types").iter().any(|t| t == "deb") {
                    continue;
                }
                let suites = field("Suites");
                for uri in field("URIs") {
                    sources.push((uri, suites.clone()));
                }
            }
        } else if name.ends_with(".list") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                let mut words = line.split_whitespace().peekable();
                if words.next() != Some("deb") {
                    continue;
                }
                if words.peek().is_some_and(|w| w.starts_with('[')) {
                    // [options]: up to the word ending in ']'.
                    for w in words.by_ref() {
                        if w.ends_with(']') {
                            break;
                        }
                    }
                }
                if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                    sources.push((uri.to_string(), vec![suite.to_string()]));
                }
            }
        }
    }
    let usable = |uri: &str| uri.starts_with("http://") || uri.starts_with("https://");
    if let Some((uri, _)) = sources
        .iter()
        .find(|(uri, suites)| usable(uri) && suites.iter().any(|s| s == SUITE))
    {
        return Ok(uri.clone());
    }
    if let Some((uri, _)) = sources
        .iter()
        .find(|(uri, _)| usable(uri) && uri.trim_end_matches('/').ends_with("/debian"))
    {
        return Ok(uri.clone());
    }
    Err(format!(
        "no Debian archive in the apt sources ({}); set E2E_DEBIAN_MIRROR",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Removes the cached images of `repo` other than `keep`.
fn prune_other_keys(repo: &str, keep: &str) {
    let old: Vec<String> = e2e::docker_lines(&[
        "images",
        "--filter",
        &format!("label={CACHE_LABEL}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])
    .lines()
    .filter(|i| i.starts_with(&format!("{repo}:")) && *i != keep)
    .map(str::to_string)
    .collect();
    for image in old {
        eprintln!("e2e: removing the outdated cached image {image}");
        e2e::docker(&["rmi", &image]);
    }
}

/// The base image (debootstrap + docker import), built if missing.
fn base_image(mirror: &str) -> Result<String, String> {
    let key = fnv1a(&[RECIPE, mirror, SUITE, "minbase"]);
    let tag = format!("{BASE_REPO}:{SUITE}-{key}");
    if image_exists(&tag) {
        return Ok(tag);
    }
    let Some(debootstrap) = e2e::find_program("debootstrap") else {
        return Err("debootstrap is not installed (scripts/setup installs it)".into());
    };
    let dir = cache_dir().join(format!("rootfs-{key}.tmp"));
    let _ = fs::remove_dir_all(&dir); // an interrupted build's
    let started = Instant::now();
    let log = cache_dir().join(format!("debootstrap-{key}.log"));
    let file = fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new(&debootstrap)
        .args(["--variant=minbase", SUITE])
        .arg(&dir)
        .arg(mirror)
        .env("PATH", e2e::system_path())
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("{}: {e}", debootstrap.display()))?;
    // `Err`: killed at the timeout.
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Ok(status);
        }
        if started.elapsed() > BUILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break Err(format!("killed after {BUILD_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.as_ref().is_ok_and(|s| s.success()) {
        let status = match status {
            Ok(s) => s.to_string(),
            Err(e) => e,
        };
        let _ = fs::remove_dir_all(&dir);
        return Err(format!(
            "debootstrap --variant=minbase {SUITE} {mirror} failed ({status}); the end of {}:\n{}",
            log.display(),
            e2e::tail(&log, 15)
        ));
    }
    let debootstrapped = started.elapsed();
    let import = format!(
        "tar -C '{}' -c . | docker import --change 'LABEL {CACHE_LABEL}=base-{key}' - '{tag}'",
        dir.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &import]).env("PATH", e2e::system_path());
    let (code, out) = e2e::combined(cmd, BUILD_TIMEOUT);
    let _ = fs::remove_dir_all(&dir);
    if code != Some(0) {
        return Err(format!("{import} failed ({code:?}):\n{out}"));
    }
    eprintln!(
        "e2e: built {tag}: debootstrap {:.1}s, docker import {:.1}s",
        debootstrapped.as_secs_f64(),
        (started.elapsed() - debootstrapped).as_secs_f64()
    );
    Ok(tag)
}

/// The minbase Debian image alone (debootstrap + docker import), built if
/// missing; its tag. `Err` says why it cannot be built.
pub fn debian_base() -> Result<String, String> {
    static IMAGE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let _lock = Lock::take(&cache_dir().join("debian.lock"));
            base_image(&debian_mirror()?)
        })
        .clone()
}

/// The image with nginx and PostgreSQL (and psmisc, procps) from Debian's
/// packages, built if missing; its tag. `Err` says why it cannot be built.
pub fn debian_servers() -> Result<String, String> {
    static IMAGE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(build_debian_servers).clone()
}

fn build_debian_servers() -> Result<String, String> {
    let started = Instant::now();
    let _lock = Lock::take(&cache_dir().join("debian.lock"));
    let mirror = debian_mirror()?;
    let base = base_image(&mirror)?;
    let dockerfile = SERVERS_DOCKERFILE.replace("{BASE}", &base);
    let key = fnv1a(&[RECIPE, &dockerfile]);
    let tag = format!("{SERVERS_REPO}:{SUITE}-{key}");
    if image_exists(&tag) {
        eprintln!("e2e: reusing the cached {tag}");
        return Ok(tag);
    }
    let ctx = cache_dir().join(format!("servers-{key}.ctx"));
    let _ = fs::remove_dir_all(&ctx);
    fs::create_dir_all(&ctx).map_err(|e| e.to_string())?;
    fs::write(ctx.join("Dockerfile"), &dockerfile).map_err(|e| e.to_string())?;
    let built_at = Instant::now();
    let result = e2e::docker_build(
        &tag,
        &ctx,
        &[format!("{CACHE_LABEL}=servers-{key}")],
        "host",
        BUILD_TIMEOUT,
    );
    let _ = fs::remove_dir_all(&ctx);
    result?;
    eprintln!(
        "e2e: built {tag}: apt-get install {:.1}s (Debian images {:.1}s in all)",
        built_at.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    prune_other_keys(SERVERS_REPO, &tag);
    prune_other_keys(BASE_REPO, &base);
    Ok(tag)
}
