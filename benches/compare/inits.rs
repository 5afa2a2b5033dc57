//! The inits, and the apps they run.
//!
//! The other inits are the Debian packages' binaries, found in `$PATH` or
//! `/usr/bin` (see [`OTHERS`]); a missing one is reported as such.
//!
//! Every init runs the way it runs in a container: as PID 1 of a fresh PID
//! namespace (the bench calls `unshare(CLONE_NEWPID)` around each spawn, so
//! the init is its direct child and its exit is seen without a middleman),
//! with default options, an empty environment but `PATH`, stdin/stdout/stderr
//! on /dev/null (see [`Ctx::launch`]).
//!
//! The apps are this binary re-executed with [`APP`] as its first argument
//! (see [`app`]): they report readiness and timestamps through fd 3, in
//! CLOCK_MONOTONIC nanoseconds, so their clock is the bench's.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::sys::{kill, wait_readable};

/// First argument that turns this binary into one of the bench's apps.
pub(crate) const APP: &str = "__hookinit_bench_app";
const PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An init to measure: its column's name and its binary.
pub(crate) struct Init {
    pub(crate) name: &'static str,
    pub(crate) path: PathBuf,
}

impl Init {
    /// Default options, as in a container; `--` before the app (catatonit needs it).
    pub(crate) fn argv(&self, app: &[OsString]) -> Vec<OsString> {
        std::iter::once(OsString::from("--"))
            .chain(app.iter().cloned())
            .collect()
    }
}

/// Column order of the report: hookinit first, then the three others.
pub(crate) const OTHERS: [(&str, &[&str]); 3] = [
    ("tini-static", &["tini-static", "tini"]),
    ("dumb-init", &["dumb-init"]),
    ("catatonit", &["catatonit"]),
];

/// The first of `names` in `$PATH` or `/usr/bin`.
pub(crate) fn find_program(names: &[&str]) -> Option<PathBuf> {
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

/// The bench's own PID namespace, to return to after each `unshare`; `None`
/// when PID namespaces cannot be created here (then inits are not PID 1).
pub(crate) fn probe_pid_namespace() -> Option<OwnedFd> {
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
pub(crate) struct Proc {
    pub(crate) child: Child,
    pidfd: Option<OwnedFd>,
}

impl Proc {
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the exit, at most `timeout` (then SIGKILL and an error).
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        if let Some(fd) = &self.pidfd {
            if let Err(e) = wait_readable(fd.as_raw_fd(), timeout) {
                kill(self.pid(), libc::SIGKILL);
                let _ = self.child.wait();
                return Err(io::Error::new(e.kind(), "did not exit in time"));
            }
        }
        self.child.wait()
    }

    pub(crate) fn kill_and_wait(&mut self) {
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

/// What the measurements share: how to launch, where to put files.
pub(crate) struct Ctx {
    /// Where the latency measurements run (see [`Pinned`]).
    pub(crate) cpu: Option<usize>,
    pub(crate) exe: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) pidns: Option<OwnedFd>,
    pub(crate) verbose: bool,
}

impl Ctx {
    /// Starts `program args` with a clean environment plus `env`, `fds`
    /// placed as (bench fd, child fd), as PID 1 of a new PID namespace when
    /// possible.
    pub(crate) fn launch(
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
    pub(crate) fn launch_in(
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

    pub(crate) fn launch_init(
        &self,
        init: &Init,
        app: &[OsString],
        env: &[(&str, OsString)],
        fds: &[(RawFd, RawFd)],
    ) -> io::Result<Proc> {
        self.launch(&init.path, &init.argv(app), env, fds)
    }

    pub(crate) fn app(&self, mode: &str) -> Vec<OsString> {
        vec![self.exe.clone().into(), APP.into(), mode.into()]
    }
}

/// The apps: this binary re-executed with [`APP`] as its first argument.
pub(crate) mod app {
    use crate::sys::mono_ns;
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
