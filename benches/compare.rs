//! hookinit against tini, dumb-init and catatonit: `cargo bench --bench compare`.
//!
//! `cargo bench` builds the hookinit binary target with the plain release
//! profile, overwriting the size-tuned one, so this first runs `scripts/build`
//! (cached: a few seconds) and then measures
//! `target/x86_64-unknown-linux-musl/release/hookinit`, or `$HOOKINIT_BIN`
//! (then nothing is built). The other inits are the Debian packages' binaries,
//! found in `$PATH` or `/usr/bin`; a missing one is reported as such.
//!
//! Every init runs the way it runs in a container: as PID 1 of a fresh PID
//! namespace (the bench calls `unshare(CLONE_NEWPID)` around each spawn, so
//! the init is its direct child and its exit is seen without a middleman),
//! with default options, an empty environment but `PATH`, stdin/stdout/stderr
//! on /dev/null. Runs are interleaved: within each repetition, round-robin over
//! the inits; values are medians. Ratios within one run are what to read: the
//! machine is shared, absolute numbers are noisy.
//!
//! The apps are this binary re-executed with [`APP`] as its first argument
//! (see [`app`]): they report readiness and timestamps through fd 3, in
//! CLOCK_MONOTONIC nanoseconds, so their clock is the bench's.
//!
//! Stop, forwarding and PreStop latencies run with the bench, the inits and
//! the apps pinned to one CPU (see [`Pinned`]); everything else is unpinned.
//! Instruction counts (callgrind) are deterministic; besides the start-up
//! cost they give the init's cost per forwarded signal and per reaped zombie,
//! which the noisy latencies only hint at.
//!
//! Probes (hookinit only; `probes`, or `probe_cpu` / `probe_idle`): the CPU
//! time per health check of hookinit's exec and httpGet probes, each hookinit
//! in a cgroup of its own, side by side with Docker's `HEALTHCHECK` exec
//! (dockerd, containerd, the shim and runc), and hookinit's wake-ups over
//! 60 s with one 10 s liveness probe (see [`run_probe_cpu`], [`run_probe_idle`]).
//!
//! Environment: `BENCH_QUICK=1` (smoke run, ~60 s; a full run is ~3 min on
//! 2 cores), `BENCH_ONLY=size,instr,wall,idle,stop,reap,fwd,hooks,probes` (a subset;
//! the per-signal and per-zombie counts need `instr` and `fwd`/`reap`),
//! `BENCH_CPU=N|none` (the CPU for the latencies; default: the last one),
//! `BENCH_VERBOSE=1` (inits' output on the terminal, raw callgrind counts),
//! `HOOKINIT_BIN` (measure that binary, build nothing). Needs root (PID
//! namespaces) and valgrind for the instruction counts (`scripts/setup`).
//!
//! Output: a Markdown table on stdout, also in `target/bench/report.md`, and a
//! bar chart of the ratios hookinit / best of the others in
//! `target/bench/ratios.svg`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// First argument that turns this binary into one of the bench's apps.
const APP: &str = "__hookinit_bench_app";
const PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Upper bound for anything the bench waits for; an init that hangs is an error.
const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let t_start = mono_ns();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(APP) {
        app::run(&args[2..], t_start);
    }
    if let Err(e) = bench() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

// ---- the apps (this binary re-executed) ------------------------------------

mod app {
    use super::mono_ns;
    use libc::c_int;

    /// Runs app `args[0]`; never returns.
    pub fn run(args: &[String], t_start: u64) -> ! {
        // An init may hand on a blocked mask; the apps must see these signals.
        // SAFETY: plain signal-mask calls on a local set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        let code = match args.first().map(String::as_str) {
            // Ready, then wait; TERM's default action ends it at once.
            Some("ready-pause") => ready_and_park(),
            // Writes `u` to fd 3 from its USR1 handler.
            Some("usr1") => {
                install(libc::SIGUSR1, on_usr1);
                ready_and_park()
            }
            // Writes `T` + the time it got TERM to fd 3, then exits.
            Some("term-stamp") => {
                install(libc::SIGTERM, on_term);
                ready_and_park()
            }
            // Leaves N zombies to the init (see `orphans`).
            Some("orphans") => orphans(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(0)),
            // The PreStop hook: writes `H` + its start and end times to fd 3.
            Some("hook") => {
                let mut rec = [0u8; 17];
                rec[0] = b'H';
                rec[1..9].copy_from_slice(&t_start.to_le_bytes());
                rec[9..].copy_from_slice(&mono_ns().to_le_bytes());
                put(&rec);
                0
            }
            _ => 2,
        };
        // SAFETY: plain exit.
        unsafe { libc::_exit(code) }
    }

    fn put(bytes: &[u8]) {
        // SAFETY: writes a valid buffer; async-signal-safe (used in handlers).
        unsafe { libc::write(3, bytes.as_ptr().cast(), bytes.len()) };
    }

    fn ready_and_park() -> ! {
        put(b"r");
        park()
    }

    extern "C" fn on_usr1(_: c_int) {
        put(b"u");
    }

    extern "C" fn on_term(_: c_int) {
        let mut rec = [0u8; 9];
        rec[0] = b'T';
        rec[1..].copy_from_slice(&mono_ns().to_le_bytes());
        put(&rec);
        // SAFETY: plain exit.
        unsafe { libc::_exit(0) }
    }

    fn install(sig: c_int, handler: extern "C" fn(c_int)) {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    /// A child C forks `n` children that exit at once and stay zombies (C
    /// does not reap them). When C has seen all of them exit it writes `r`,
    /// and on `g` (fd 4) it exits: the kernel hands all `n` zombies to the
    /// init in one go, so what follows is the init's reaping and nothing else.
    /// This app reaps C itself, writes `c` (the hand-over is done) and waits.
    fn orphans(n: usize) -> i32 {
        // SAFETY: single-threaded process; the children only make syscalls.
        unsafe {
            let c = libc::fork();
            if c == 0 {
                let mut pids = Vec::with_capacity(n);
                for _ in 0..n {
                    let p = libc::fork();
                    if p == 0 {
                        libc::_exit(0);
                    }
                    if p < 0 {
                        put(b"e");
                        libc::_exit(1);
                    }
                    pids.push(p);
                }
                for p in pids {
                    let mut info: libc::siginfo_t = std::mem::zeroed();
                    libc::waitid(
                        libc::P_PID,
                        p as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOWAIT,
                    );
                }
                put(b"r");
                let mut b = [0u8; 1];
                libc::read(4, b.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            }
            if c < 0 {
                put(b"e");
                return 1;
            }
            libc::waitpid(c, std::ptr::null_mut(), 0);
            put(b"c");
        }
        park()
    }

    fn park() -> ! {
        loop {
            // SAFETY: plain syscall.
            unsafe { libc::pause() };
        }
    }
}

// ---- system helpers ---------------------------------------------------------

/// CLOCK_MONOTONIC in nanoseconds (what `Instant` uses on Linux).
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn os_err<T>(what: &str) -> io::Result<T> {
    let e = io::Error::last_os_error();
    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return os_err("pipe2");
    }
    // SAFETY: the kernel just returned both descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            n if n > 0 => return Ok(()),
            _ if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return os_err("poll"),
        }
    }
}

fn read_exact(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        wait_readable(fd.as_raw_fd(), TIMEOUT)?;
        let rest = &mut buf[got..];
        // SAFETY: `rest` is valid for its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the app closed its pipe",
            ));
        }
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return os_err("read");
        }
        got += n as usize;
    }
    Ok(())
}

fn expect_byte(fd: &OwnedFd, want: u8, what: &str) -> io::Result<()> {
    let mut b = [0u8];
    read_exact(fd, &mut b)
        .map_err(|e| io::Error::new(e.kind(), format!("waiting for {what}: {e}")))?;
    if b[0] != want {
        return Err(io::Error::other(format!(
            "waiting for {what}: got {:?}",
            b[0] as char
        )));
    }
    Ok(())
}

fn write_byte(fd: &OwnedFd, b: u8) -> io::Result<()> {
    // SAFETY: one valid byte.
    if unsafe { libc::write(fd.as_raw_fd(), [b].as_ptr().cast(), 1) } != 1 {
        return os_err("write");
    }
    Ok(())
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid, sig) };
}

/// The bench's own PID namespace, to return to after each `unshare`; `None`
/// when PID namespaces cannot be created here (then inits are not PID 1).
fn probe_pid_namespace() -> Option<OwnedFd> {
    let own: OwnedFd = fs::File::open("/proc/self/ns/pid").ok()?.into();
    // SAFETY: plain syscalls; setns undoes the unshare for later children.
    unsafe {
        if libc::unshare(libc::CLONE_NEWPID) != 0 {
            return None;
        }
        if libc::setns(own.as_raw_fd(), libc::CLONE_NEWPID) != 0 {
            panic!("cannot return to the bench's PID namespace");
        }
    }
    Some(own)
}

/// A process the bench started (the init, or the app directly).
struct Proc {
    child: Child,
    pidfd: Option<OwnedFd>,
}

impl Proc {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the exit, at most `timeout` (then SIGKILL and an error).
    fn wait(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        if let Some(fd) = &self.pidfd {
            if let Err(e) = wait_readable(fd.as_raw_fd(), timeout) {
                kill(self.pid(), libc::SIGKILL);
                let _ = self.child.wait();
                return Err(io::Error::new(e.kind(), "did not exit in time"));
            }
        }
        self.child.wait()
    }

    fn kill_and_wait(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill(self.pid(), libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_and_wait();
    }
}

struct Ctx {
    /// Where the latency measurements run (see [`Pinned`]).
    cpu: Option<usize>,
    exe: PathBuf,
    tmp: PathBuf,
    pidns: Option<OwnedFd>,
    verbose: bool,
}

impl Ctx {
    /// Starts `program args` with a clean environment plus `env`, `fds`
    /// placed as (bench fd, child fd), as PID 1 of a new PID namespace when
    /// possible.
    fn launch(
        &self,
        program: &Path,
        args: &[OsString],
        env: &[(&str, OsString)],
        fds: &[(RawFd, RawFd)],
    ) -> io::Result<Proc> {
        self.launch_in(program, args, env, fds, None)
    }

    /// As [`Ctx::launch`]; with `cgroup` (an open `cgroup.procs`), the child
    /// moves itself into that cgroup before it execs, so the program and all
    /// its descendants are accounted there from their first instruction.
    fn launch_in(
        &self,
        program: &Path,
        args: &[OsString],
        env: &[(&str, OsString)],
        fds: &[(RawFd, RawFd)],
        cgroup: Option<RawFd>,
    ) -> io::Result<Proc> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", PATH_ENV)
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if !self.verbose {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let fds = fds.to_vec();
        // SAFETY: only async-signal-safe syscalls; the Vec is not reallocated.
        // A pre_exec closure also makes std fork instead of posix_spawn (whose
        // CLONE_VM the kernel refuses into another PID namespace) — for every
        // variant alike, the baseline included.
        unsafe {
            cmd.pre_exec(move || {
                // "0": the writer itself (cgroup v1 and v2 alike).
                if let Some(cg) = cgroup {
                    if libc::write(cg, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                let mut high = [0; 8];
                for (i, &(src, _)) in fds.iter().enumerate().take(8) {
                    // Out of the way first: a source may have a target's number.
                    high[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 100);
                    if high[i] < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                for (i, &(_, dst)) in fds.iter().enumerate().take(8) {
                    if libc::dup2(high[i], dst) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let ns = self.pidns.as_ref();
        // SAFETY: plain syscalls; see probe_pid_namespace.
        let entered = ns.is_some() && unsafe { libc::unshare(libc::CLONE_NEWPID) } == 0;
        let spawned = cmd.spawn();
        if let (true, Some(own)) = (entered, ns) {
            // SAFETY: as above.
            if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
                panic!("cannot return to the bench's PID namespace");
            }
        }
        let child = spawned.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start {}: {e}", program.display()))
        })?;
        // SAFETY: plain syscall.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just returned this descriptor.
            unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
        });
        Ok(Proc { child, pidfd })
    }

    fn launch_init(
        &self,
        init: &Init,
        app: &[OsString],
        env: &[(&str, OsString)],
        fds: &[(RawFd, RawFd)],
    ) -> io::Result<Proc> {
        self.launch(&init.path, &init.argv(app), env, fds)
    }

    fn app(&self, mode: &str) -> Vec<OsString> {
        vec![self.exe.clone().into(), APP.into(), mode.into()]
    }
}

/// Waits until `pid` is blocked (state S) twice in a row, 1 ms apart: back
/// in its wait, done with whatever it was doing.
fn wait_asleep(pid: i32) -> io::Result<()> {
    let state = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string()
    };
    let t = Instant::now();
    let mut asleep = 0;
    while asleep < 2 {
        if t.elapsed() > TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the init stays busy",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
        asleep = if state() == "S" { asleep + 1 } else { 0 };
    }
    Ok(())
}

/// pids of `pid`'s children (zombies included), as the bench sees them.
fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// True when `pid` has at most one child; reads only a few bytes.
fn at_most_one_child(file: &mut fs::File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut buf = [0u8; 32];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut buf)?;
    Ok(buf[..n]
        .split(|&b| b == b' ')
        .filter(|s| !s.is_empty())
        .count()
        <= 1)
}

fn status_field(pid: i32, field: &str) -> Option<u64> {
    status_field_in(&format!("/proc/{pid}/status"), field)
}

fn status_field_in(path: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Voluntary + involuntary context switches of every thread of `pid`.
fn context_switches(pid: i32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .map(|t| {
            let path = t.path().join("status");
            let p = path.to_string_lossy();
            status_field_in(&p, "voluntary_ctxt_switches").unwrap_or(0)
                + status_field_in(&p, "nonvoluntary_ctxt_switches").unwrap_or(0)
        })
        .sum()
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]);
        for dir in dirs {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// "static", "static-pie" or "dynamic", from the ELF program headers.
fn linkage(path: &Path) -> &'static str {
    let Ok(data) = fs::read(path) else {
        return "?";
    };
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return "?";
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    let mut dynamic = false;
    for i in 0..count {
        let o = phoff + i * size;
        let Some(t) = data.get(o..o + 4) else {
            return "?";
        };
        match u32::from_le_bytes(t.try_into().unwrap()) {
            3 => return "dynamic", // PT_INTERP
            2 => dynamic = true,   // PT_DYNAMIC without an interpreter
            _ => {}
        }
    }
    if dynamic {
        "static-pie"
    } else {
        "static"
    }
}

/// The CPU for the latency measurements: `$BENCH_CPU`, by default the last
/// one this process may use; `None` with `BENCH_CPU=none`.
fn latency_cpu() -> Option<usize> {
    let want = std::env::var("BENCH_CPU").ok().filter(|v| !v.is_empty());
    if want.as_deref() == Some("none") {
        return None;
    }
    if let Some(c) = want.and_then(|w| w.parse().ok()) {
        return Some(c);
    }
    // SAFETY: cpu_set_t is plain data; the call gets a valid pointer and size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize).rfind(|&c| libc::CPU_ISSET(c, &set))
    }
}

/// While alive, this process and every child started meanwhile run on one
/// CPU. A chain of wake-ups (bench → init → app → bench) then costs context
/// switches, not cross-CPU wake-ups whose cost depends on what else the
/// machine runs: latencies get far less noisy, and the chain is sequential
/// anyway. (Not for reaping: the kernel's own work of freeing 10,000 tasks
/// then competes with the init on one CPU and makes it noisier.)
struct Pinned(libc::cpu_set_t);

impl Pinned {
    fn to(cpu: Option<usize>) -> Option<Pinned> {
        let cpu = cpu?;
        // SAFETY: as in latency_cpu.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of_val(&old);
            if libc::sched_getaffinity(0, size, &mut old) != 0 {
                return None;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            (libc::sched_setaffinity(0, size, &one) == 0).then_some(Pinned(old))
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restores the mask read before.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.0), &self.0) };
    }
}

// ---- inits ------------------------------------------------------------------

struct Init {
    name: &'static str,
    path: PathBuf,
}

impl Init {
    /// Default options, as in a container; `--` before the app (catatonit needs it).
    fn argv(&self, app: &[OsString]) -> Vec<OsString> {
        std::iter::once(OsString::from("--"))
            .chain(app.iter().cloned())
            .collect()
    }
}

/// Column order of the report: hookinit first, then the three others.
const OTHERS: [(&str, &[&str]); 3] = [
    ("tini-static", &["tini-static", "tini"]),
    ("dumb-init", &["dumb-init"]),
    ("catatonit", &["catatonit"]),
];

// ---- statistics and formatting ------------------------------------------------

fn median(v: &[f64]) -> Option<f64> {
    quantile(v, 0.5)
}

fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

fn thousands(n: u64) -> String {
    let digits = n.to_string().into_bytes();
    let groups: Vec<&str> = digits
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or("?"))
        .collect();
    groups.join(",")
}

fn micros(ns: f64) -> String {
    if ns >= 10_000_000.0 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-11-23 19:04 UTC`, without a date library (Hinnant's days-to-civil).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60
    )
}

// ---- the plan -----------------------------------------------------------------

struct Plan {
    quick: bool,
    only: Option<Vec<String>>,
    instr_reps: usize,
    instr_signals: usize,
    wall_runs: usize,
    wall_chunk: usize,
    wall_reps: usize,
    idle_secs: u64,
    idle_reps: usize,
    stop_n: usize,
    orphans: usize,
    reap_reps: usize,
    fwd_n: usize,
    hook_n: usize,
    /// Window of the probe CPU measurement (1 s period: one run a second).
    probe_cpu_secs: u64,
    /// Window of the idle wake-ups with a 10 s liveness probe.
    probe_idle_secs: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let only = std::env::var("BENCH_ONLY")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
        if quick {
            Plan {
                quick,
                only,
                instr_reps: 1,
                instr_signals: 50,
                wall_runs: 100,
                wall_chunk: 25,
                wall_reps: 1,
                idle_secs: 2,
                idle_reps: 1,
                stop_n: 20,
                orphans: 2_000,
                reap_reps: 1,
                fwd_n: 100,
                hook_n: 5,
                probe_cpu_secs: 6,
                probe_idle_secs: 20,
            }
        } else {
            Plan {
                quick,
                only,
                instr_reps: 3,
                instr_signals: 200,
                wall_runs: 1_000,
                wall_chunk: 50,
                wall_reps: 3,
                idle_secs: 5,
                idle_reps: 2,
                stop_n: 400,
                orphans: 10_000,
                reap_reps: 15,
                fwd_n: 2_000,
                hook_n: 100,
                probe_cpu_secs: 20,
                probe_idle_secs: 60,
            }
        }
    }

    fn wants(&self, part: &str) -> bool {
        match &self.only {
            None => true,
            Some(parts) => parts.iter().any(|p| p == part),
        }
    }
}

// ---- one table row --------------------------------------------------------------

/// One metric: a value per init (lower is better), shown as `cells`.
struct Row {
    metric: String,
    values: Vec<Option<f64>>,
    cells: Vec<String>,
    target: String,
    /// Whether hookinit meets the target, given the values.
    check: Check,
    /// Short label for the chart.
    label: &'static str,
}

enum Check {
    /// hookinit's value below this.
    Below(f64),
    /// hookinit's value at most this.
    AtMost(f64),
    /// hookinit's value at most the named init's.
    AtMostOf(&'static str),
    /// hookinit / best of the others at most this.
    Ratio(f64),
    None,
}

impl Row {
    fn new(metric: impl Into<String>, label: &'static str, n: usize) -> Row {
        Row {
            metric: metric.into(),
            values: vec![None; n],
            cells: vec!["error".into(); n],
            target: String::new(),
            check: Check::None,
            label,
        }
    }

    /// hookinit (column 0) / the lowest of the others.
    fn ratio(&self) -> Option<f64> {
        let h = self.values.first().copied().flatten()?;
        let best = self.values[1..]
            .iter()
            .flatten()
            .copied()
            .min_by(|a, b| a.total_cmp(b))?;
        Some(if best == 0.0 {
            if h == 0.0 {
                1.0
            } else {
                f64::INFINITY
            }
        } else {
            h / best
        })
    }

    fn met(&self, names: &[&str]) -> Option<bool> {
        let h = self.values.first().copied().flatten()?;
        match self.check {
            Check::Below(x) => Some(h < x),
            Check::AtMost(x) => Some(h <= x),
            Check::AtMostOf(name) => {
                let i = names.iter().position(|n| *n == name)?;
                Some(h <= self.values[i]?)
            }
            Check::Ratio(x) => Some(self.ratio()? <= x),
            Check::None => None,
        }
    }
}

// ---- the measurements -------------------------------------------------------------

/// Instructions the init itself executes for `INIT -- /bin/true` (callgrind,
/// children not followed: their part after fork runs natively after exec).
/// Talks to a running init until it should exit by itself.
type Drive = Box<dyn FnOnce(&Proc) -> io::Result<()>>;

/// What callgrind runs: the init with `app`, `fds` as in [`Ctx::launch`]
/// (`keep` holds the child's ends until it started), `drive` talking to it.
struct Callgrind {
    app: Vec<OsString>,
    fds: Vec<(RawFd, RawFd)>,
    keep: Vec<OwnedFd>,
    drive: Drive,
}

/// Instructions the init itself executes (callgrind, children not followed:
/// a child's part after fork runs natively once it has exec'd).
fn instructions(
    ctx: &Ctx,
    valgrind: &Path,
    init: &Init,
    pid1: bool,
    tag: &str,
    run: Callgrind,
) -> io::Result<u64> {
    let dir = ctx.tmp.join(format!("callgrind-{}-{tag}", init.name));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let mut args: Vec<OsString> = vec![
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}/callgrind.out.%p", dir.display()).into(),
        init.path.clone().into(),
    ];
    args.extend(init.argv(&run.app));
    let ns_ctx = Ctx {
        cpu: ctx.cpu,
        exe: ctx.exe.clone(),
        tmp: ctx.tmp.clone(),
        pidns: if pid1 {
            ctx.pidns.as_ref().and_then(|f| f.try_clone().ok())
        } else {
            None
        },
        verbose: ctx.verbose,
    };
    let mut p = ns_ctx.launch(valgrind, &args, &[], &run.fds)?;
    drop(run.keep);
    let pid = if ns_ctx.pidns.is_some() { 1 } else { p.pid() };
    (run.drive)(&p)?;
    p.wait(Duration::from_secs(120))?;
    let text = fs::read_to_string(dir.join(format!("callgrind.out.{pid}")))?;
    let _ = fs::remove_dir_all(&dir);
    let total = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .next_back()
    };
    total("totals:")
        .or_else(|| total("summary:"))
        .ok_or_else(|| io::Error::other("no totals in the callgrind output"))
}

fn true_run() -> Callgrind {
    Callgrind {
        app: vec!["/bin/true".into()],
        fds: Vec::new(),
        keep: Vec::new(),
        drive: Box::new(|_| Ok(())),
    }
}

/// The init forwards `k` USR1 to the app, one at a time, then gets TERM.
fn forwarding_run(ctx: &Ctx, k: usize) -> io::Result<Callgrind> {
    let (r, w) = pipe()?;
    Ok(Callgrind {
        app: ctx.app("usr1"),
        fds: vec![(w.as_raw_fd(), 3)],
        keep: vec![w],
        drive: Box::new(move |p| {
            expect_byte(&r, b'r', "the app")?;
            for _ in 0..k {
                // One signal per wake-up, as when signals are rare: the
                // init's cost per wake-up is counted each time.
                wait_asleep(p.pid())?;
                kill(p.pid(), libc::SIGUSR1);
                expect_byte(&r, b'u', "the app's USR1 handler")?;
            }
            kill(p.pid(), libc::SIGTERM);
            Ok(())
        }),
    })
}

/// The init reaps `n` zombies handed over at once, then gets TERM.
fn reaping_run(ctx: &Ctx, n: usize) -> io::Result<Callgrind> {
    let (r3, w3) = pipe()?;
    let (r4, w4) = pipe()?;
    Ok(Callgrind {
        app: [ctx.app("orphans"), vec![n.to_string().into()]].concat(),
        fds: vec![(w3.as_raw_fd(), 3), (r4.as_raw_fd(), 4)],
        keep: vec![w3, r4],
        drive: Box::new(move |p| {
            expect_byte(&r3, b'r', "the orphans to be created")?;
            let mut children = fs::File::open(format!("/proc/{0}/task/{0}/children", p.pid()))?;
            write_byte(&w4, b'g')?;
            expect_byte(&r3, b'c', "the hand-over of the orphans")?;
            let t = Instant::now();
            while !at_most_one_child(&mut children)? {
                if t.elapsed() > TIMEOUT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "orphans not reaped",
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            kill(p.pid(), libc::SIGTERM);
            Ok(())
        }),
    })
}

fn run_instructions(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let Some(valgrind) = find_program(&["valgrind"]) else {
        eprintln!("compare: valgrind not found; no instruction counts");
        return;
    };
    let modes: &[(bool, &str, &'static str)] = if ctx.pidns.is_some() {
        &[
            (true, "as PID 1", "instructions (PID 1)"),
            (false, "not PID 1", "instructions (not PID 1)"),
        ]
    } else {
        &[(false, "not PID 1", "instructions (not PID 1)")]
    };
    let mut samples = vec![vec![Vec::new(); n]; modes.len()];
    let mut errors: Vec<Vec<Option<String>>> = vec![vec![None; n]; modes.len()];
    for rep in 0..plan.instr_reps {
        for (m, &(pid1, _, _)) in modes.iter().enumerate() {
            for (i, init) in inits.iter().enumerate() {
                let Some(init) = init else { continue };
                let tag = format!("{m}-{rep}");
                match instructions(ctx, &valgrind, init, pid1, &tag, true_run()) {
                    Ok(v) => samples[m][i].push(v as f64),
                    Err(e) => errors[m][i] = Some(e.to_string()),
                }
            }
        }
    }
    for (m, &(_, how, label)) in modes.iter().enumerate() {
        let mut row = Row::new(
            format!("Instructions executed by the init for `INIT -- /bin/true`, {how} (callgrind)"),
            label,
            n,
        );
        for i in 0..n {
            row.values[i] = median(&samples[m][i]);
            row.cells[i] = match (&inits[i], row.values[i], &errors[m][i]) {
                (None, _, _) => "not installed".into(),
                (_, Some(v), _) => thousands(v as u64),
                (_, None, Some(e)) => format!("error: {e}"),
                (_, None, None) => "error".into(),
            };
        }
        row.target = "≤ tini-static's".into();
        row.check = Check::AtMostOf("tini-static");
        rows.push(row);
    }

    // The cost of one event, deterministic where latencies are noisy: the
    // difference between a run with `k` events and one with none.
    let pid1 = ctx.pidns.is_some();
    let per_event = |what: String, k: usize, make: &dyn Fn(usize) -> io::Result<Callgrind>| {
        let mut row = Row::new(what, "", n);
        for (i, init) in inits.iter().enumerate() {
            let Some(init) = init else {
                row.cells[i] = "not installed".into();
                continue;
            };
            let one = |count: usize| {
                instructions(
                    ctx,
                    &valgrind,
                    init,
                    pid1,
                    &format!("x{count}"),
                    make(count)?,
                )
            };
            match one(0).and_then(|zero| Ok((zero, one(k)?))) {
                Ok((zero, many)) => {
                    if ctx.verbose {
                        eprintln!(
                            "compare: {}: {zero} instructions with no event, {many} with {k}",
                            init.name
                        );
                    }
                    let v = many.saturating_sub(zero) as f64 / k as f64;
                    row.values[i] = Some(v);
                    row.cells[i] = format!("{v:.0}");
                }
                Err(e) => row.cells[i] = format!("error: {e}"),
            }
        }
        row.target = "— (explains the latency below)".into();
        row
    };
    if plan.wants("fwd") {
        let k = plan.instr_signals;
        let mut row = per_event(
            format!("Instructions per forwarded signal (callgrind: {k} USR1 vs none)"),
            k,
            &|count| forwarding_run(ctx, count),
        );
        row.label = "instructions / signal";
        rows.push(row);
    }
    if plan.wants("reap") {
        let k = plan.orphans;
        let mut row = per_event(
            format!(
                "Instructions per reaped zombie (callgrind: {} zombies vs none)",
                thousands(k as u64)
            ),
            k,
            &|count| reaping_run(ctx, count),
        );
        row.label = "instructions / zombie";
        rows.push(row);
    }
}

fn run_wall(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let truth: Vec<OsString> = vec!["/bin/true".into()];
    // Variant n is /bin/true without an init (also PID 1 of its own namespace).
    let mut totals = vec![Vec::new(); n + 1];
    let mut failed = vec![None; n + 1];
    let chunks = plan.wall_runs.div_ceil(plan.wall_chunk);
    for _ in 0..plan.wall_reps {
        let mut sum = vec![Duration::ZERO; n + 1];
        for _ in 0..chunks {
            for v in 0..=n {
                let (program, args) = match inits.get(v) {
                    Some(Some(init)) => (init.path.as_path(), init.argv(&truth)),
                    Some(None) => continue,
                    None => (Path::new("/bin/true"), Vec::new()),
                };
                if failed[v].is_some() {
                    continue;
                }
                let t = Instant::now();
                for _ in 0..plan.wall_chunk {
                    let r = ctx
                        .launch(program, &args, &[], &[])
                        .and_then(|mut p| p.wait(TIMEOUT));
                    match r {
                        Ok(s) if s.success() => {}
                        Ok(s) => failed[v] = Some(format!("exit status {s}")),
                        Err(e) => failed[v] = Some(e.to_string()),
                    }
                }
                sum[v] += t.elapsed();
            }
        }
        for v in 0..=n {
            totals[v].push(sum[v].as_secs_f64());
        }
    }
    let baseline = if failed[n].is_none() {
        median(&totals[n])
    } else {
        None
    };
    let mut row = Row::new(
        format!(
            "Wall time of {} sequential `INIT -- /bin/true` (× /bin/true alone: {})",
            thousands(plan.wall_runs as u64),
            baseline.map_or("error".into(), |b| format!("{:.0} ms", b * 1e3))
        ),
        "wall time, /bin/true",
        n,
    );
    for i in 0..n {
        if inits[i].is_none() {
            row.cells[i] = "not installed".into();
            continue;
        }
        if let Some(e) = &failed[i] {
            row.cells[i] = format!("error: {e}");
            continue;
        }
        let v = median(&totals[i]);
        row.values[i] = v;
        row.cells[i] = match (v, baseline) {
            (Some(v), Some(b)) => format!("{:.0} ms (×{:.2})", v * 1e3, v / b),
            (Some(v), None) => format!("{:.0} ms", v * 1e3),
            _ => "error".into(),
        };
    }
    row.target = "— (reported)".into();
    rows.push(row);
}

fn run_idle(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let app: Vec<OsString> = vec!["/bin/sleep".into(), "1000".into()];
    let mut wakeups = vec![Vec::new(); n];
    let mut rss = vec![Vec::new(); n];
    let mut errors = vec![None; n];
    for _ in 0..plan.idle_reps {
        // All at once: idle processes do not disturb each other, and they
        // share the same window.
        let mut procs: Vec<Option<Proc>> = Vec::new();
        for (i, init) in inits.iter().enumerate() {
            procs.push(init.as_ref().and_then(|init| {
                ctx.launch_init(init, &app, &[], &[])
                    .map_err(|e| errors[i] = Some(e.to_string()))
                    .ok()
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, p) in procs.iter().enumerate() {
            let Some(p) = p else { continue };
            let started = || {
                children(p.pid()).iter().any(|c| {
                    fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == "sleep")
                })
            };
            while !started() {
                if Instant::now() > deadline {
                    errors[i] = Some("the app did not start".into());
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let before: Vec<u64> = procs
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| context_switches(p.pid())))
            .collect();
        std::thread::sleep(Duration::from_secs(plan.idle_secs));
        for (i, p) in procs.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if errors[i].is_some() {
                continue;
            }
            let after = context_switches(p.pid());
            // Scaled to 5 s when the window is shorter (quick runs).
            wakeups[i].push((after - before[i]) as f64 * 5.0 / plan.idle_secs as f64);
            if let Some(kb) = status_field(p.pid(), "VmRSS") {
                rss[i].push(kb as f64);
            }
            p.kill_and_wait();
        }
    }
    let mut w = Row::new(
        "Idle wake-ups in 5 s, `INIT -- sleep 1000` (context switches, /proc/PID/status)",
        "idle wake-ups",
        n,
    );
    let mut r = Row::new("Idle RSS (VmRSS)", "idle RSS", n);
    for i in 0..n {
        if inits[i].is_none() {
            w.cells[i] = "not installed".into();
            r.cells[i] = "not installed".into();
            continue;
        }
        if let Some(e) = &errors[i] {
            w.cells[i] = format!("error: {e}");
            r.cells[i] = w.cells[i].clone();
            continue;
        }
        w.values[i] = median(&wakeups[i]);
        r.values[i] = median(&rss[i]);
        w.cells[i] = w.values[i].map_or("error".into(), |v| format!("{v:.0}"));
        r.cells[i] = r.values[i].map_or("error".into(), |v| format!("{} kB", thousands(v as u64)));
    }
    w.target = "0".into();
    w.check = Check::AtMost(0.0);
    r.target = "≤ catatonit's".into();
    r.check = Check::AtMostOf("catatonit");
    rows.push(w);
    rows.push(r);
}

/// Per-init samples, formatted as median with p10–p90 for the notes.
struct Samples {
    values: Vec<Vec<f64>>,
    errors: Vec<Option<String>>,
}

impl Samples {
    fn new(n: usize) -> Samples {
        Samples {
            values: vec![Vec::new(); n],
            errors: vec![None; n],
        }
    }

    fn record(&mut self, i: usize, r: io::Result<f64>) {
        match r {
            Ok(v) => self.values[i].push(v),
            Err(e) => self.errors[i] = Some(e.to_string()),
        }
    }

    fn ok(&self, i: usize) -> bool {
        self.errors[i].is_none()
    }

    /// A row of medians; `show` formats a value.
    fn row(
        &self,
        inits: &[Option<Init>],
        metric: String,
        label: &'static str,
        show: impl Fn(f64) -> String,
    ) -> Row {
        let mut row = Row::new(metric, label, inits.len());
        for (i, init) in inits.iter().enumerate() {
            if init.is_none() {
                row.cells[i] = "not installed".into();
            } else if let Some(e) = &self.errors[i] {
                row.cells[i] = format!("error: {e}");
            } else if let Some(v) = median(&self.values[i]) {
                row.values[i] = Some(v);
                row.cells[i] = show(v);
            }
        }
        row
    }

    fn spread(&self, names: &[&str], what: &str, show: impl Fn(f64) -> String) -> String {
        let mut s = format!("- {what}, p10 / median / p90:");
        for (i, name) in names.iter().enumerate() {
            if let (Some(a), Some(m), Some(b)) = (
                quantile(&self.values[i], 0.1),
                median(&self.values[i]),
                quantile(&self.values[i], 0.9),
            ) {
                let _ = write!(s, " {name} {} / {} / {};", show(a), show(m), show(b));
            }
        }
        s.pop();
        s
    }
}

fn stop_once(ctx: &Ctx, init: &Init) -> io::Result<f64> {
    let (r, w) = pipe()?;
    let mut p = ctx.launch_init(init, &ctx.app("ready-pause"), &[], &[(w.as_raw_fd(), 3)])?;
    drop(w);
    expect_byte(&r, b'r', "the app")?;
    // Let the init settle into its wait.
    std::thread::sleep(Duration::from_millis(2));
    let t = Instant::now();
    kill(p.pid(), libc::SIGTERM);
    p.wait(TIMEOUT)?;
    Ok(t.elapsed().as_nanos() as f64)
}

fn reap_once(ctx: &Ctx, init: &Init, orphans: usize) -> io::Result<f64> {
    let (r3, w3) = pipe()?;
    let (r4, w4) = pipe()?;
    let app = [ctx.app("orphans"), vec![orphans.to_string().into()]].concat();
    let mut p = ctx.launch_init(init, &app, &[], &[(w3.as_raw_fd(), 3), (r4.as_raw_fd(), 4)])?;
    drop((w3, r4));
    expect_byte(&r3, b'r', "the orphans to be created")?;
    let mut children_file = fs::File::open(format!("/proc/{0}/task/{0}/children", p.pid()))?;
    let t = Instant::now();
    write_byte(&w4, b'g')?;
    expect_byte(&r3, b'c', "the hand-over of the orphans")?;
    while !at_most_one_child(&mut children_file)? {
        if t.elapsed() > TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "orphans not reaped",
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = t.elapsed().as_nanos() as f64;
    p.kill_and_wait();
    Ok(elapsed)
}

fn run_latencies(
    ctx: &Ctx,
    plan: &Plan,
    inits: &[Option<Init>],
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let n = inits.len();
    let names: Vec<&str> = inits
        .iter()
        .map(|i| i.as_ref().map_or("-", |i| i.name))
        .collect();
    let ms = |v: f64| format!("{:.1} ms", v / 1e6);

    if plan.wants("stop") {
        let _pinned = Pinned::to(ctx.cpu);
        let mut s = Samples::new(n);
        for _ in 0..plan.stop_n {
            for (i, init) in inits.iter().enumerate() {
                if let Some(init) = init.as_ref().filter(|_| s.ok(i)) {
                    s.record(i, stop_once(ctx, init));
                }
            }
        }
        let mut row = s.row(
            inits,
            format!(
                "Stop latency: SIGTERM to the init → init exited, app dies on TERM (median of {})",
                plan.stop_n
            ),
            "stop latency",
            micros,
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Stop latency", micros));
    }

    if plan.wants("reap") {
        let mut s = Samples::new(n);
        for _ in 0..plan.reap_reps {
            for (i, init) in inits.iter().enumerate() {
                if let Some(init) = init.as_ref().filter(|_| s.ok(i)) {
                    s.record(i, reap_once(ctx, init, plan.orphans));
                }
            }
        }
        let k = plan.orphans as f64;
        let mut row = s.row(
            inits,
            format!(
                "Reaping: {} zombies handed to the init at once → all reaped (median of {})",
                thousands(plan.orphans as u64),
                plan.reap_reps
            ),
            "reap time",
            |v| format!("{} ({:.0}k/s)", ms(v), k / (v / 1e9) / 1e3),
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Reaping", ms));
    }

    if plan.wants("fwd") {
        let _pinned = Pinned::to(ctx.cpu);
        let mut s = Samples::new(n);
        // One long-running init per kind, all at once; signals round-robin.
        let mut running: Vec<Option<(Proc, OwnedFd)>> = Vec::new();
        for (i, init) in inits.iter().enumerate() {
            let started = init.as_ref().map(|init| -> io::Result<(Proc, OwnedFd)> {
                let (r, w) = pipe()?;
                let p = ctx.launch_init(init, &ctx.app("usr1"), &[], &[(w.as_raw_fd(), 3)])?;
                drop(w);
                expect_byte(&r, b'r', "the app")?;
                Ok((p, r))
            });
            running.push(match started {
                Some(Ok(x)) => Some(x),
                Some(Err(e)) => {
                    s.errors[i] = Some(e.to_string());
                    None
                }
                None => None,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..plan.fwd_n {
            for (i, slot) in running.iter().enumerate() {
                let Some((p, r)) = slot.as_ref().filter(|_| s.ok(i)) else {
                    continue;
                };
                let t = Instant::now();
                kill(p.pid(), libc::SIGUSR1);
                let got = expect_byte(r, b'u', "the app's USR1 handler");
                s.record(i, got.map(|()| t.elapsed().as_nanos() as f64));
            }
        }
        drop(running);
        let mut row = s.row(
            inits,
            format!(
                "Signal forwarding: USR1 to the init → app's handler ran (median of {})",
                thousands(plan.fwd_n as u64)
            ),
            "forwarding latency",
            micros,
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Forwarding", micros));
    }
}

/// hookinit only: stop signal → PreStop hook started, and hook ended → app
/// got its stop signal. Returns Markdown lines.
fn run_hooks(ctx: &Ctx, plan: &Plan, hookinit: &Init) -> Vec<String> {
    let _pinned = Pinned::to(ctx.cpu);
    let mut to_hook = Vec::new();
    let mut to_app = Vec::new();
    let mut error = None;
    let hook_json = format!(
        "[{},{},{}]",
        json_string(&ctx.exe.to_string_lossy()),
        json_string(APP),
        json_string("hook")
    );
    for _ in 0..plan.hook_n {
        let once = || -> io::Result<(f64, f64)> {
            let (r, w) = pipe()?;
            let env = [("HOOKINIT_PRE_STOP", OsString::from(&hook_json))];
            let mut p = ctx.launch_init(
                hookinit,
                &ctx.app("term-stamp"),
                &env,
                &[(w.as_raw_fd(), 3)],
            )?;
            drop(w);
            expect_byte(&r, b'r', "the app")?;
            std::thread::sleep(Duration::from_millis(2));
            let t0 = mono_ns();
            kill(p.pid(), libc::SIGTERM);
            expect_byte(&r, b'H', "the PreStop hook's record (fd 3 not inherited?)")?;
            let mut rec = [0u8; 16];
            read_exact(&r, &mut rec)?;
            let hook_start = u64::from_le_bytes(rec[..8].try_into().unwrap());
            let hook_end = u64::from_le_bytes(rec[8..].try_into().unwrap());
            expect_byte(&r, b'T', "the app's TERM record")?;
            let mut ts = [0u8; 8];
            read_exact(&r, &mut ts)?;
            let app_term = u64::from_le_bytes(ts);
            p.wait(TIMEOUT)?;
            Ok((
                hook_start.saturating_sub(t0) as f64,
                app_term.saturating_sub(hook_end) as f64,
            ))
        };
        match once() {
            Ok((a, b)) => {
                to_hook.push(a);
                to_app.push(b);
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let line = |what: &str, v: &[f64]| match (quantile(v, 0.1), median(v), quantile(v, 0.9)) {
        (Some(a), Some(m), Some(b)) => {
            format!("| {what} | {} | {} | {} |", micros(m), micros(a), micros(b))
        }
        _ => format!(
            "| {what} | error: {} | | |",
            error.as_deref().unwrap_or("no samples")
        ),
    };
    vec![
        format!(
            "hookinit only, `HOOKINIT_PRE_STOP` = an exec hook (this binary) that records CLOCK_MONOTONIC at its start and end; the app records when TERM arrives ({} runs):",
            plan.hook_n
        ),
        String::new(),
        "| Interval | median | p10 | p90 |".into(),
        "|---|---:|---:|---:|".into(),
        line("SIGTERM to hookinit → PreStop hook running (fork + exec + start-up of the hook included)", &to_hook),
        line("PreStop hook ended → app's TERM handler running (hookinit reaps the hook, sends the stop signal)", &to_app),
    ]
}

// ---- probes (hookinit only) ----------------------------------------------------------

/// Where the bench makes cgroups for CPU accounting: cgroup v1's cpuacct
/// hierarchy when mounted, else the cgroup v2 hierarchy (whose core
/// `cpu.stat` every cgroup has, with or without the cpu controller).
#[derive(Clone)]
struct CgroupRoot {
    dir: PathBuf,
    v2: bool,
}

impl CgroupRoot {
    fn find() -> Option<CgroupRoot> {
        let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
        let mut v2 = None;
        for line in mounts.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                [_, dir, "cgroup", opts, ..] if opts.split(',').any(|o| o == "cpuacct") => {
                    return Some(CgroupRoot {
                        dir: dir.into(),
                        v2: false,
                    });
                }
                [_, dir, "cgroup2", ..] if v2.is_none() => v2 = Some(PathBuf::from(dir)),
                _ => {}
            }
        }
        v2.map(|dir| CgroupRoot { dir, v2: true })
    }

    fn what(&self) -> &'static str {
        if self.v2 {
            "cgroup v2 `cpu.stat` usage_usec"
        } else {
            "cgroup v1 `cpuacct.usage`"
        }
    }

    /// CPU time of everything that ran in the cgroup `dir`, in ns.
    fn usage_ns(&self, dir: &Path) -> io::Result<u64> {
        if self.v2 {
            fs::read_to_string(dir.join("cpu.stat"))?
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
                .ok_or_else(|| io::Error::other("no usage_usec in cpu.stat"))
        } else {
            fs::read_to_string(dir.join("cpuacct.usage"))?
                .trim()
                .parse()
                .map_err(io::Error::other)
        }
    }

    /// The cgroup of `pid` in this hierarchy (/proc/PID/cgroup).
    fn of(&self, pid: i32) -> Option<PathBuf> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        text.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            let here = if self.v2 {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "cpuacct")
            };
            here.then(|| self.dir.join(path.trim_start_matches('/')))
        })
    }
}

/// A cgroup the bench made for one run; removed when dropped (after its
/// processes are gone).
struct Cgroup {
    root: CgroupRoot,
    dir: PathBuf,
    procs: fs::File,
}

impl Cgroup {
    fn create(root: &CgroupRoot, name: &str) -> io::Result<Cgroup> {
        let dir = root.dir.join(name);
        if let Err(e) = fs::create_dir(&dir) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(io::Error::new(
                    e.kind(),
                    format!("mkdir {}: {e}", dir.display()),
                ));
            }
        }
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok(Cgroup {
            root: root.clone(),
            dir,
            procs,
        })
    }

    fn usage_ns(&self) -> io::Result<u64> {
        self.root.usage_ns(&self.dir)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty once its processes are reaped; the kernel may lag a little.
        for _ in 0..100 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// utime + stime + cutime + cstime of `pid` in ns: its own CPU and that of
/// the children it has waited for (theirs include their own reaped children).
/// Clock-tick resolution (10 ms).
fn proc_cpu_ns(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // After the name: field 3 (state) is index 0; utime is field 14.
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // SAFETY: plain query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / hz)
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// pids whose `comm` is one of `names`.
fn pids_named(names: &[&str]) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| names.contains(&c.trim_end()))
        })
        .collect()
}

/// A server on 127.0.0.1 for the probes, in a thread of the bench until it
/// exits (its CPU is not counted): counts connections and, for `http`,
/// answers each request `200 OK`.
fn local_server(http: bool) -> io::Result<(u16, Arc<AtomicU64>)> {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&count);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if http {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((port, count))
}

/// hookinit as PID 1 of `INIT -- sleep 1000` with one liveness probe.
struct Probed {
    proc: Proc,
    /// Its own cgroup, when cgroups are available.
    cgroup: Option<Cgroup>,
}

impl Probed {
    fn start(
        ctx: &Ctx,
        hookinit: &Init,
        probe: &str,
        cgroup: Option<Cgroup>,
    ) -> io::Result<Probed> {
        let app: Vec<OsString> = vec!["/bin/sleep".into(), "1000".into()];
        let env = [("HOOKINIT_LIVENESS_PROBE", OsString::from(probe))];
        let cg = cgroup.as_ref().map(|c| c.procs.as_raw_fd());
        let proc = ctx.launch_in(&hookinit.path, &hookinit.argv(&app), &env, &[], cg)?;
        Ok(Probed { proc, cgroup })
    }

    /// CPU of hookinit and of every probe process, in ns: the cgroup's
    /// usage, else hookinit's /proc stat with its reaped children.
    fn cpu_ns(&self) -> io::Result<u64> {
        match &self.cgroup {
            Some(c) => c.usage_ns(),
            None => {
                proc_cpu_ns(self.proc.pid()).ok_or_else(|| io::Error::other("hookinit is gone"))
            }
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.proc.child.try_wait(), Ok(None))
    }
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Docker's side: CPU per `HEALTHCHECK` exec check.
struct DockerChecks {
    checks: u64,
    /// dockerd and containerd, own CPU and reaped children's (ns).
    daemons_ns: u64,
    /// The container's containerd-shim with what it reaped: each check's
    /// `runc exec`, `runc init` and the check's process itself (ns).
    shim_ns: u64,
    /// The container's cgroup (the checks' processes once runc moved them
    /// there; a part of `shim_ns`), when known (ns).
    cgroup_ns: Option<u64>,
    /// Other containers running meanwhile (they share dockerd and containerd).
    others: usize,
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the bench's container and image.
struct DockerCleanup {
    name: String,
    tag: String,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// A `FROM scratch` image with the static busybox and
/// `HEALTHCHECK --interval=1s CMD ["/bin/busybox", "true"]`, run with
/// `--network none`; the CPU of dockerd, containerd and the container's shim
/// (with everything it reaped) between two quiet moments right after a check,
/// divided by the checks seen between them. `Err` starts with "skipped:"
/// when there is no Docker to measure.
fn docker_health_cpu(
    tmp: &Path,
    busybox: Option<&Path>,
    window: Duration,
    root: Option<&CgroupRoot>,
) -> Result<DockerChecks, String> {
    docker(&["version", "--format", "{{.Server.Version}}"])
        .map_err(|e| format!("skipped: no Docker engine answers ({e})"))?;
    let busybox = busybox.ok_or("skipped: no static busybox at /bin/busybox for the image")?;
    let ctx_dir = tmp.join("docker-health");
    fs::create_dir_all(&ctx_dir).map_err(|e| e.to_string())?;
    fs::copy(busybox, ctx_dir.join("busybox")).map_err(|e| e.to_string())?;
    fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n\
         HEALTHCHECK --interval=1s --timeout=5s --retries=1000 CMD [\"/bin/busybox\", \"true\"]\n\
         CMD [\"/bin/busybox\", \"sleep\", \"1000\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let id = std::process::id();
    let cleanup = DockerCleanup {
        name: format!("hookinit-bench-health-{id}"),
        tag: format!("hookinit-bench-health:{id}"),
    };
    let dir = ctx_dir.to_string_lossy();
    docker(&["build", "-q", "--network", "none", "-t", &cleanup.tag, &dir])?;
    docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &cleanup.name,
        &cleanup.tag,
    ])?;
    let pid: i32 = docker(&["inspect", "-f", "{{.State.Pid}}", &cleanup.name])?
        .parse()
        .map_err(|e| format!("the container's pid: {e}"))?;
    let shim = parent_of(pid).ok_or("the container's shim not found")?;
    let daemons = pids_named(&["dockerd", "containerd"]);
    if daemons.is_empty() {
        return Err("dockerd and containerd not found in /proc".into());
    }
    let others = docker(&["ps", "-q"])?.lines().count().saturating_sub(1);
    // A check is running while its processes are in the container's cgroup
    // (runc moves `runc init` there first) or, without cgroups, while the
    // shim has a child besides the container's process.
    let procs = root.and_then(|r| r.of(pid)).map(|d| d.join("cgroup.procs"));
    let busy = || match &procs {
        Some(p) => fs::read_to_string(p).is_ok_and(|s| s.split_whitespace().count() > 1),
        None => fs::read_dir(format!("/proc/{shim}/task")).is_ok_and(|tasks| {
            tasks.flatten().any(|t| {
                fs::read_to_string(t.path().join("children"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c != pid.to_string()))
            })
        }),
    };
    // Quiet for this long after a check: its result is recorded, the next
    // check is ~1 s away (Docker waits the interval after each check's end).
    let quiet = Duration::from_millis(250);
    let mut checks = 0u64;
    let mut running = false;
    let mut last_busy = Instant::now();
    // Polls until a check has ended and things are quiet.
    let mut next_end = |checks: &mut u64| -> Result<(), String> {
        let give_up = Instant::now() + TIMEOUT;
        loop {
            if Instant::now() > give_up {
                return Err("no health check ran".into());
            }
            let now = Instant::now();
            if busy() {
                running = true;
                last_busy = now;
            } else if running && now - last_busy >= quiet {
                running = false;
                *checks += 1;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(4));
        }
    };
    let snapshot = || {
        let daemons: u64 = daemons.iter().filter_map(|&p| proc_cpu_ns(p)).sum();
        let cg = root
            .zip(root.and_then(|r| r.of(pid)))
            .and_then(|(r, d)| r.usage_ns(&d).ok());
        (daemons, proc_cpu_ns(shim).unwrap_or(0), cg)
    };
    next_end(&mut checks)?;
    let a = snapshot();
    let (start, first) = (Instant::now(), checks);
    while start.elapsed() < window {
        next_end(&mut checks)?;
    }
    let b = snapshot();
    let health = docker(&["inspect", "-f", "{{json .State.Health}}", &cleanup.name])?;
    let v: serde_json::Value = serde_json::from_str(&health).map_err(|e| e.to_string())?;
    if v["Status"] != "healthy" || v["FailingStreak"] != 0 {
        return Err(format!("the checks failed: {health}"));
    }
    drop(cleanup);
    Ok(DockerChecks {
        checks: checks - first,
        daemons_ns: b.0.saturating_sub(a.0),
        shim_ns: b.1.saturating_sub(a.1),
        cgroup_ns: a.2.zip(b.2).map(|(a, b)| b.saturating_sub(a)),
        others,
    })
}

/// CPU time per health check: hookinit's exec and httpGet probes (each
/// hookinit in a cgroup of its own) and Docker's `HEALTHCHECK`, side by side.
fn run_probe_cpu(ctx: &Ctx, plan: &Plan, hookinit: &Init, rows: &mut Vec<Row>) {
    let root = CgroupRoot::find();
    let busybox = Some(Path::new("/bin/busybox")).filter(|p| linkage(p) == "static");
    let window = Duration::from_secs(plan.probe_cpu_secs);
    let server = local_server(true);
    let exec = |argv: &str| {
        format!(r#"{{"exec":{{"command":{argv}}},"periodSeconds":1,"failureThreshold":1000}}"#)
    };
    // (tag, probe); the first exec probe runs the Docker check's program.
    let mut variants: Vec<(&str, String)> = Vec::new();
    if busybox.is_some() {
        variants.push(("exec", exec(r#"["/bin/busybox","true"]"#)));
    }
    variants.push(("exec-true", exec(r#"["/bin/true"]"#)));
    if let Ok((port, _)) = &server {
        variants.push((
            "http",
            format!(
                r#"{{"httpGet":{{"port":{port},"path":"/"}},"periodSeconds":1,"failureThreshold":1000}}"#
            ),
        ));
    }
    let tmp = ctx.tmp.clone();
    let (results, docker_result) = std::thread::scope(|s| {
        let docker = s.spawn(|| docker_health_cpu(&tmp, busybox, window, root.as_ref()));
        let t0 = Instant::now();
        let mut running: Vec<io::Result<Probed>> = variants
            .iter()
            .map(|(tag, probe)| {
                let cg = match &root {
                    Some(r) => Some(Cgroup::create(
                        r,
                        &format!("hookinit-bench-{}-{tag}", std::process::id()),
                    )?),
                    None => None,
                };
                Probed::start(ctx, hookinit, probe, cg)
            })
            .collect();
        // Runs are at 0, 1, 2… s after the app's start: measuring from
        // 2.5 s to 2.5 + W s takes exactly W of them, whole.
        sleep_until(t0 + Duration::from_millis(2_500));
        let served = || {
            server
                .as_ref()
                .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
        };
        let before: Vec<Option<u64>> = running
            .iter()
            .map(|p| p.as_ref().ok().and_then(|p| p.cpu_ns().ok()))
            .collect();
        let served_before = served();
        sleep_until(t0 + Duration::from_millis(2_500) + window);
        let results: Vec<Result<(f64, u64), String>> = running
            .iter_mut()
            .zip(&before)
            .map(|(p, b)| {
                let p = p.as_mut().map_err(|e| e.to_string())?;
                let after = p.cpu_ns().map_err(|e| e.to_string())?;
                if !p.alive() {
                    return Err("hookinit exited (the probe failed?)".into());
                }
                let b = b.ok_or("no CPU reading at the start")?;
                Ok((after.saturating_sub(b) as f64, window.as_secs()))
            })
            .collect();
        let served_in_window = served() - served_before;
        for p in running.iter_mut().flatten() {
            p.proc.kill_and_wait();
        }
        drop(running);
        let docker = docker.join().unwrap_or_else(|_| Err("panicked".into()));
        ((results, served_in_window), docker)
    });
    let (results, served_in_window) = results;
    let how = match &root {
        Some(r) => format!("{} of a cgroup of its own", r.what()),
        None => "no cgroup here: hookinit's /proc/PID/stat utime+stime+cutime+cstime".into(),
    };
    let ms = |ns: f64| format!("{:.2} ms", ns / 1e6);
    let per_run = |tag: &str| -> Option<Result<f64, String>> {
        let i = variants.iter().position(|(t, _)| *t == tag)?;
        Some(results[i].clone().map(|(ns, runs)| ns / runs as f64))
    };
    let cell = |r: &Option<Result<f64, String>>| match r {
        Some(Ok(v)) => ms(*v),
        Some(Err(e)) => format!("error: {e}"),
        None => "not measured".into(),
    };
    let w = plan.probe_cpu_secs;
    let exec_main = per_run("exec").or_else(|| per_run("exec-true"));
    let exec_prog = if busybox.is_some() {
        "`/bin/busybox true` (static, the program of the Docker check)"
    } else {
        "`/bin/true`"
    };
    let mut row = Row::new(
        format!(
            "CPU per health check: exec probe (hookinit): `{{\"exec\":{{\"command\":…}},\"periodSeconds\":1}}` running {exec_prog}; CPU of hookinit (PID 1 of `INIT -- sleep 1000`) and of every probe process ({how}), over the {w} runs between 2.5 s and {} s after the start, ÷ {w}",
            w as f64 + 2.5
        ),
        "",
        1,
    );
    row.values[0] = exec_main.clone().and_then(Result::ok);
    row.cells[0] = cell(&exec_main);
    if busybox.is_some() {
        if let Some(t) = per_run("exec-true") {
            let _ = write!(
                row.cells[0],
                " (Debian's dynamic `/bin/true`: {})",
                cell(&Some(t))
            );
        }
    }
    row.target = "— (reported)".into();
    let exec_value = row.values[0];
    rows.push(row);

    let http = per_run("http");
    let mut row = Row::new(
        format!(
            "CPU per health check: httpGet probe (hookinit): `{{\"httpGet\":{{\"port\":P,\"path\":\"/\"}},\"periodSeconds\":1}}` against a server in the bench on 127.0.0.1 (its CPU not counted); measured as the exec probe, {w} runs ({served_in_window} requests served in the window)"
        ),
        "",
        1,
    );
    row.values[0] = http.clone().and_then(Result::ok);
    row.cells[0] = match &server {
        Err(e) => format!("error: local server: {e}"),
        Ok(_) => cell(&http),
    };
    row.target = "— (reported)".into();
    let http_value = row.values[0];
    rows.push(row);

    let mut row = Row::new(
        format!(
            "CPU per health check: Docker HEALTHCHECK exec: `FROM scratch` + static busybox, `HEALTHCHECK --interval=1s CMD [\"/bin/busybox\", \"true\"]`, `--network none`; utime+stime+cutime+cstime deltas (/proc/PID/stat) of dockerd, containerd and the container's containerd-shim (whose reaped children are each check's `runc exec`, `runc init` and the check itself) between two quiet moments right after a check ≥ {w} s apart, ÷ the checks between them (seen as processes in the container's cgroup)"
        ),
        "",
        1,
    );
    let mut docker_value = None;
    row.cells[0] = match &docker_result {
        Ok(d) if d.checks > 0 => {
            let k = d.checks as f64;
            let v = (d.daemons_ns + d.shim_ns) as f64 / k;
            docker_value = Some(v);
            row.values[0] = Some(v);
            let mut c = format!(
                "{} ({} checks; per check: dockerd + containerd {}, shim with runc and the check {}",
                ms(v),
                d.checks,
                ms(d.daemons_ns as f64 / k),
                ms(d.shim_ns as f64 / k)
            );
            if let Some(cg) = d.cgroup_ns {
                let _ = write!(
                    c,
                    ", of which in the container's cgroup {}",
                    ms(cg as f64 / k)
                );
            }
            c.push(')');
            if d.others > 0 {
                let _ = write!(
                    c,
                    "; {} other container(s) were running and share the daemons",
                    d.others
                );
            }
            c
        }
        Ok(_) => "error: no check counted".into(),
        Err(e) if e.starts_with("skipped:") => e.clone(),
        Err(e) => format!("error: {e}"),
    };
    row.target = "— (reported)".into();
    rows.push(row);

    for (what, value) in [("exec", exec_value), ("httpGet", http_value)] {
        let mut row = Row::new(
            format!("CPU per health check, Docker HEALTHCHECK exec ÷ hookinit {what} probe (the rows above)"),
            "",
            1,
        );
        row.cells[0] = match (docker_value, value) {
            (Some(d), Some(h)) if h > 0.0 => {
                row.values[0] = Some(d / h);
                format!("×{:.1}", d / h)
            }
            _ if matches!(&docker_result, Err(e) if e.starts_with("skipped:")) => {
                "skipped: no Docker measurement".into()
            }
            _ => "error: a value is missing".into(),
        };
        row.target = "— (reported)".into();
        rows.push(row);
    }
}

/// Wake-ups of hookinit as PID 1 with one tcpSocket liveness probe every 10 s.
fn run_probe_idle(ctx: &Ctx, plan: &Plan, hookinit: &Init, rows: &mut Vec<Row>) {
    let secs = plan.probe_idle_secs;
    let expected = secs / 10;
    let mut row = Row::new(
        format!(
            "Idle wake-ups in {secs} s with one 10 s liveness probe{}: `{{\"tcpSocket\":{{\"port\":P}},\"periodSeconds\":10}}` to a listener in the bench, `INIT -- sleep 1000`; voluntary + involuntary context switches of hookinit's PID (/proc/PID/status) from 5 s to {} s after the start: {expected} probe runs",
            if plan.quick { " (BENCH_QUICK: 20 s, not 60)" } else { "" },
            secs + 5
        ),
        "wake-ups, 10 s probe",
        1,
    );
    row.target = format!("≤ {}", expected + 1);
    row.check = Check::AtMost((expected + 1) as f64);
    let measure = || -> io::Result<(f64, String)> {
        let (port, accepted) = local_server(false)?;
        let probe = format!(r#"{{"tcpSocket":{{"port":{port}}},"periodSeconds":10}}"#);
        let t0 = Instant::now();
        let mut p = Probed::start(ctx, hookinit, &probe, None)?;
        let pid = p.proc.pid();
        let switches = || {
            (
                status_field(pid, "voluntary_ctxt_switches").unwrap_or(0),
                status_field(pid, "nonvoluntary_ctxt_switches").unwrap_or(0),
            )
        };
        // Runs at 0, 10, 20… s: from 5 s on, the window holds whole runs.
        sleep_until(t0 + Duration::from_secs(5));
        let (v0, n0) = switches();
        let a0 = accepted.load(Ordering::Relaxed);
        sleep_until(t0 + Duration::from_secs(5 + secs));
        let (v1, n1) = switches();
        let a1 = accepted.load(Ordering::Relaxed);
        if !p.alive() {
            return Err(io::Error::other("hookinit exited (the probe failed?)"));
        }
        p.proc.kill_and_wait();
        let (v, n) = (v1 - v0, n1 - n0);
        Ok((
            (v + n) as f64,
            format!(
                "{} ({v} voluntary, {n} involuntary; {} connections accepted)",
                v + n,
                a1 - a0
            ),
        ))
    };
    match measure() {
        Ok((v, cell)) => {
            row.values[0] = Some(v);
            row.cells[0] = cell;
        }
        Err(e) => row.cells[0] = format!("error: {e}"),
    }
    rows.push(row);
}

// ---- report -----------------------------------------------------------------------

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // SAFETY: plain query.
    let nproc = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{nproc} CPUs online ({usable} usable), {cpu}, Linux {}",
        kernel.trim()
    )
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn revision(root: &Path) -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = out(&[
                "status",
                "--porcelain",
                "--",
                "src",
                "Cargo.toml",
                "Cargo.lock",
            ])
            .is_some_and(|s| !s.is_empty());
            format!("{rev}{}", if dirty { " + uncommitted changes" } else { "" })
        }
        None => "unknown revision".into(),
    }
}

fn svg(rows: &[Row], names: &[&str]) -> String {
    let bars: Vec<(&Row, f64)> = rows.iter().filter_map(|r| Some((r, r.ratio()?))).collect();
    let (w, left, right, top, h) = (760.0, 190.0, 110.0, 50.0, 26.0);
    let height = top + h * bars.len() as f64 + 40.0;
    // Log2 scale from 1/4 to 4; a bar beyond is cut and marked with ›.
    let span = 2.0f64;
    let plot = w - left - right;
    let x = |ratio: f64| {
        let l = if ratio.is_finite() && ratio > 0.0 {
            ratio.log2().clamp(-span, span)
        } else {
            span
        };
        left + plot * (l + span) / (2.0 * span)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14" font-weight="bold">hookinit / best of {} (log scale; left of 1 = hookinit better)</text>"#,
        names[1..].join(", ")
    );
    let mut k = -span;
    while k <= span {
        let r = 2f64.powf(k);
        let xx = x(r);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{:.1}" stroke="{}" stroke-width="{}"/>"##,
            top - 8.0,
            top + h * bars.len() as f64,
            if k == 0.0 { "#333" } else { "#ddd" },
            if k == 0.0 { 1.5 } else { 1.0 }
        );
        let label = if k >= 0.0 {
            format!("{r}")
        } else {
            format!("1/{}", 2f64.powf(-k))
        };
        let _ = writeln!(
            s,
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            top + h * bars.len() as f64 + 16.0
        );
        k += 1.0;
    }
    // The latency targets' limit.
    let _ = writeln!(
        s,
        r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2:.1}" stroke="#d0463c" stroke-dasharray="3,3"/>"##,
        x(1.05),
        top - 8.0,
        top + h * bars.len() as f64
    );
    for (i, (row, ratio)) in bars.iter().enumerate() {
        let y = top + h * i as f64;
        let (x0, x1) = (x(1.0), x(*ratio));
        let color = match row.met(names) {
            Some(true) => "#4a9d5b",
            Some(false) => "#d0463c",
            None => "#7b8fa6",
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + h / 2.0 + 4.0,
            row.label
        );
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            x0.min(x1),
            y + 4.0,
            (x1 - x0).abs().max(1.5),
            h - 8.0
        );
        let off_scale = !(0.25..=4.0).contains(ratio);
        let text = match (ratio.is_finite(), off_scale) {
            (false, _) => "∞".to_string(),
            (true, true) => format!("{ratio:.2} (off scale)"),
            (true, false) => format!("{ratio:.2}"),
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{text}</text>"#,
            x0.max(x1) + 6.0,
            y + h / 2.0 + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{:.1}" fill="#555">green: target met · red: missed · grey: no target · dashed: 1.05</text>"##,
        height - 6.0
    );
    s.push_str("</svg>\n");
    s
}

// ---- main ---------------------------------------------------------------------------

fn bench() -> io::Result<()> {
    let plan = Plan::from_env();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Where scripts/build (cargo) puts the binary.
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let hookinit_path = match std::env::var_os("HOOKINIT_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            eprintln!("compare: scripts/build (cargo bench replaced the size-tuned binary)");
            let ok = Command::new("bash")
                .arg(root.join("scripts/build"))
                .current_dir(&root)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(io::Error::other("scripts/build failed"));
            }
            target_dir.join("x86_64-unknown-linux-musl/release/hookinit")
        }
    };
    if !hookinit_path.is_file() {
        return Err(io::Error::other(format!(
            "{} does not exist",
            hookinit_path.display()
        )));
    }
    let mut inits = vec![Some(Init {
        name: "hookinit",
        path: hookinit_path.clone(),
    })];
    for (name, candidates) in OTHERS {
        inits.push(find_program(candidates).map(|path| Init { name, path }));
    }
    let names: Vec<&str> = std::iter::once("hookinit")
        .chain(OTHERS.iter().map(|(n, _)| *n))
        .collect();
    for (i, init) in inits.iter().enumerate() {
        if init.is_none() {
            eprintln!(
                "compare: {} not installed (scripts/setup installs it)",
                names[i]
            );
        }
    }

    let tmp = std::env::temp_dir().join(format!("hookinit-bench-{}", std::process::id()));
    fs::create_dir_all(&tmp)?;
    let ctx = Ctx {
        cpu: latency_cpu(),
        exe: std::env::current_exe()?,
        tmp: tmp.clone(),
        pidns: probe_pid_namespace(),
        verbose: std::env::var_os("BENCH_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0"),
    };
    if ctx.pidns.is_none() {
        eprintln!("compare: cannot create PID namespaces (not root?): inits will not be PID 1");
    }
    let started = Instant::now();
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let n = inits.len();

    if plan.wants("size") {
        let mut row = Row::new("Binary size (bytes)", "binary size", n);
        for (i, init) in inits.iter().enumerate() {
            match init
                .as_ref()
                .and_then(|x| Some((x, fs::metadata(&x.path).ok()?.len())))
            {
                Some((init, len)) => {
                    row.values[i] = Some(len as f64);
                    row.cells[i] = format!("{} ({})", thousands(len), linkage(&init.path));
                }
                None => row.cells[i] = "not installed".into(),
            }
        }
        row.target = "< 600,000".into();
        row.check = Check::Below(600_000.0);
        rows.push(row);
    }
    let step = |what: &str| {
        eprintln!(
            "compare: {what} ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        )
    };
    if plan.wants("instr") {
        step("instructions (callgrind)");
        run_instructions(&ctx, &plan, &inits, &mut rows);
    }
    if plan.wants("wall") {
        step("wall time");
        run_wall(&ctx, &plan, &inits, &mut rows);
    }
    if plan.wants("idle") {
        step("idle wake-ups and RSS");
        run_idle(&ctx, &plan, &inits, &mut rows);
    }
    step("stop, reaping and forwarding latencies");
    run_latencies(&ctx, &plan, &inits, &mut rows, &mut notes);
    let hook_lines = match (&inits[0], plan.wants("hooks")) {
        (Some(h), true) => {
            step("PreStop timings");
            run_hooks(&ctx, &plan, h)
        }
        _ => Vec::new(),
    };
    // hookinit only (the others have no probes): a table of its own.
    let mut probe_rows = Vec::new();
    if let Some(h) = &inits[0] {
        if plan.wants("probes") || plan.wants("probe_cpu") {
            step("CPU per health check (hookinit's probes, Docker's HEALTHCHECK)");
            run_probe_cpu(&ctx, &plan, h, &mut probe_rows);
        }
        if plan.wants("probes") || plan.wants("probe_idle") {
            step("idle wake-ups with a 10 s liveness probe");
            run_probe_idle(&ctx, &plan, h, &mut probe_rows);
        }
    }
    let _ = fs::remove_dir_all(&tmp);

    // The report.
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# hookinit benchmark{}\n",
        if plan.quick {
            " (BENCH_QUICK: smoke run, few repetitions)"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "- Date: {}", utc_now());
    let _ = writeln!(
        md,
        "- Machine: {}; load average {} at start, {} at end (shared machine: read the ratios)",
        machine(),
        load_before,
        loadavg()
    );
    let _ = writeln!(
        md,
        "- hookinit: `{}` ({}, {})",
        hookinit_path
            .strip_prefix(&root)
            .unwrap_or(&hookinit_path)
            .display(),
        revision(&root),
        if std::env::var_os("HOOKINIT_BIN").is_some() {
            "from $HOOKINIT_BIN"
        } else {
            "built by scripts/build"
        }
    );
    let _ = writeln!(
        md,
        "- Others: {}",
        inits[1..]
            .iter()
            .zip(&names[1..])
            .map(
                |(i, n)| i.as_ref().map_or(format!("{n} not installed"), |i| format!(
                    "`{}`",
                    i.path.display()
                ))
            )
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "- How: {}; default options, `INIT -- APP`; {}; interleaved round-robin within each repetition; medians.",
        if ctx.pidns.is_some() {
            "each init as PID 1 of a fresh PID namespace"
        } else {
            "NOT as PID 1 (no PID namespaces here)"
        },
        match ctx.cpu {
            Some(c) => format!(
                "stop, forwarding and PreStop latencies with bench, inits and apps pinned to CPU {c} (`BENCH_CPU`)"
            ),
            None => "nothing pinned".into(),
        }
    );
    let _ = writeln!(
        md,
        "- Reproduce: `{}cargo bench --bench compare` (as root, after `scripts/setup`); took {:.0} s\n",
        if plan.quick { "BENCH_QUICK=1 " } else { "" },
        started.elapsed().as_secs_f64()
    );
    if !rows.is_empty() {
        let _ = writeln!(
            md,
            "| Metric | {} | hookinit / best of the others | Target | Met |",
            names.join(" | ")
        );
        let _ = writeln!(md, "|---|{}---:|---|---|", "---:|".repeat(n));
    }
    for row in &rows {
        let ratio = row.ratio().map_or("—".into(), |r| {
            if r.is_finite() {
                format!("{r:.2}")
            } else {
                "∞".into()
            }
        });
        let met = match row.met(&names) {
            Some(true) => "yes",
            Some(false) => "**NO**",
            None => "—",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {ratio} | {} | {met} |",
            row.metric,
            row.cells.join(" | "),
            if row.target.is_empty() {
                "—"
            } else {
                &row.target
            }
        );
    }
    if !hook_lines.is_empty() {
        md.push('\n');
        for l in &hook_lines {
            let _ = writeln!(md, "{l}");
        }
    }
    if !probe_rows.is_empty() {
        let _ = writeln!(
            md,
            "\nProbes, hookinit only (the other inits have no probes):\n\n| Metric | hookinit | Target | Met |\n|---|---:|---|---|"
        );
        for row in &probe_rows {
            let met = match row.met(&names) {
                Some(true) => "yes",
                Some(false) => "**NO**",
                None => "—",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {met} |",
                row.metric, row.cells[0], row.target
            );
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\nSpread:\n");
        for note in &notes {
            let _ = writeln!(md, "{note}");
        }
    }
    let checked: Vec<(&Row, bool)> = rows
        .iter()
        .chain(&probe_rows)
        .filter_map(|r| Some((r, r.met(&names)?)))
        .collect();
    let missed: Vec<&str> = checked
        .iter()
        .filter(|(_, m)| !*m)
        .map(|(r, _)| r.label)
        .collect();
    let _ = writeln!(
        md,
        "\nTargets met: {} of {}{}",
        checked.len() - missed.len(),
        checked.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (missed: {})", missed.join(", "))
        }
    );
    print!("{md}");
    let out = target_dir.join("bench");
    fs::create_dir_all(&out)?;
    fs::write(out.join("report.md"), &md)?;
    fs::write(out.join("ratios.svg"), svg(&rows, &names))?;
    eprintln!(
        "compare: wrote {} and ratios.svg",
        out.join("report.md").display()
    );
    Ok(())
}
