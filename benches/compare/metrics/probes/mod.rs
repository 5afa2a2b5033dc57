//! Probes (hookinit only; `probes`, or `probe_cpu` / `probe_idle`): the CPU
//! time per health check of hookinit's exec and httpGet probes, each hookinit
//! in a cgroup of its own, side by side with Docker's `HEALTHCHECK` exec
//! (dockerd, containerd, the shim and runc), and hookinit's wake-ups over
//! 60 s with one 10 s liveness probe (see [`cpu::run_probe_cpu`],
//! [`idle::run_probe_idle`]). Reported as a table of their own.

pub(crate) mod cgroup;
pub(crate) mod cpu;
pub(crate) mod docker;
pub(crate) mod idle;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inits::{Ctx, Init, Proc};
use cgroup::Cgroup;

/// utime + stime + cutime + cstime of `pid` in ns: its own CPU and that of
/// the children it has waited for (theirs include their own reaped children).
/// Clock-tick resolution (10 ms).
pub(crate) fn proc_cpu_ns(pid: i32) -> Option<u64> {
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

/// A server on 127.0.0.1 for the probes, in a thread of the bench until it
/// exits (its CPU is not counted): counts connections and, for `http`,
/// answers each request `200 OK`.
pub(crate) fn local_server(http: bool) -> io::Result<(u16, Arc<AtomicU64>)> {
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
pub(crate) struct Probed {
    pub(crate) proc: Proc,
    /// Its own cgroup, when cgroups are available.
    pub(crate) cgroup: Option<Cgroup>,
}

impl Probed {
    pub(crate) fn start(
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
    pub(crate) fn cpu_ns(&self) -> io::Result<u64> {
        match &self.cgroup {
            Some(c) => c.usage_ns(),
            None => {
                proc_cpu_ns(self.proc.pid()).ok_or_else(|| io::Error::other("hookinit is gone"))
            }
        }
    }

    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.proc.child.try_wait(), Ok(None))
    }
}

pub(crate) fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}
