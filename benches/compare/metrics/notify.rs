//! systemd's notify protocol (hookinit only; `notify`): hookinit as PID 1
//! with `HOOKINIT_NOTIFY_SOCKET=1` and a ready file, its app a Python sender
//! driven by the bench through two FIFOs.
//!
//! - `READY=1` → ready file: the sender takes CLOCK_MONOTONIC just before
//!   its `send` and hands it back; the bench watches the directory with
//!   inotify and takes the clock when the file's creation wakes it (its own
//!   wake-up included: an upper bound). `RELOADING=1` removes the file
//!   between samples. Beside it, what a readiness probe at the kubelet's
//!   default period (10 s) costs: the app becomes ready at a random moment
//!   of the period, so 5 s on average (computed, not measured).
//! - Wake-ups: hookinit's voluntary + involuntary context switches
//!   (/proc/PID/status, as the idle rows), over a window with no message
//!   (target 0), and over messages sent 20 ms apart (one each).

use std::ffi::{CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::inits::{Ctx, Init};
use crate::metrics::latencies::Pinned;
use crate::report::{median, quantile, Check, Row};
use crate::sys::{context_switches, mono_ns, wait_asleep, wait_readable, TIMEOUT};
use crate::Plan;

/// The app: for each byte on `cmd`, sends its message and writes the
/// monotonic time it sent it (8 bytes, little-endian) to `out`.
const SENDER: &str = r#"
import os, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("\0" + addr[1:] if addr.startswith("@") else addr)
cmd = open(sys.argv[1], "rb", buffering=0)
out = open(sys.argv[2], "wb", buffering=0)
msgs = {b"r": b"READY=1", b"l": b"RELOADING=1", b"s": b"STATUS=busy"}
while True:
    c = cmd.read(1)
    if not c:
        break
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    s.send(msgs[c])
    out.write(t.to_bytes(8, "little"))
"#;

pub(crate) fn run_notify(ctx: &Ctx, plan: &Plan, hookinit: &Init, rows: &mut Vec<Row>) {
    let samples = if plan.quick { 50 } else { 500 };
    let mut latency = Row::new(
        format!(
            "`READY=1` → ready file, {samples} samples (`HOOKINIT_NOTIFY_SOCKET=1`, the app a Python sender): from the sender's clock just before its `send` to the bench's inotify wake-up on the file's creation; `RELOADING=1` removes it between samples. A readiness probe at the kubelet's default period (10 s) sees the same change 5 s later on average (computed: period / 2), up to 10 s"
        ),
        "READY=1 → ready file p99",
        1,
    );
    latency.target = "p99 < 1 ms (a 10 s readiness probe: 5 s on average)".into();
    latency.check = Check::Below(1.0);
    let mut idle = Row::new(
        format!(
            "Wake-ups of hookinit between notify messages: context switches (/proc/PID/status) over {} s with the socket open and no message",
            plan.idle_secs
        ),
        "wake-ups, no message",
        1,
    );
    idle.target = "0".into();
    idle.check = Check::AtMost(0.0);
    let messages = if plan.quick { 50 } else { 200 };
    let mut per = Row::new(
        format!(
            "Wake-ups of hookinit per notify message: context switches over {} `STATUS=busy` messages sent 20 ms apart, divided by {}; median of 5 runs",
            messages / 5,
            messages / 5
        ),
        "wake-ups per message",
        1,
    );
    per.target = "≤ 1".into();
    per.check = Check::AtMost(1.0);
    match measure(ctx, plan, hookinit, samples, messages) {
        Ok(m) => {
            let p99 = quantile(&m.latencies, 0.99).unwrap_or(f64::NAN);
            let p50 = quantile(&m.latencies, 0.5).unwrap_or(f64::NAN);
            let max = m.latencies.iter().copied().fold(0.0, f64::max);
            latency.values[0] = Some(p99);
            latency.cells[0] = format!("p99 {p99:.3} ms (p50 {p50:.3} ms, max {max:.3} ms)");
            idle.values[0] = Some(m.idle as f64);
            idle.cells[0] = m.idle.to_string();
            let each = median(&m.busy).unwrap_or(f64::NAN) / (messages / 5) as f64;
            per.values[0] = Some(each);
            per.cells[0] = format!(
                "{each:.2} (median of 5 runs of {}: {:?})",
                messages / 5,
                m.busy
            );
        }
        Err(e) => {
            for row in [&mut latency, &mut idle, &mut per] {
                row.cells[0] = format!("error: {e}");
            }
        }
    }
    rows.extend([latency, idle, per]);
}

struct Measured {
    /// `READY=1` → ready file, in ms.
    latencies: Vec<f64>,
    idle: u64,
    /// Wake-ups in each of five runs of a fifth of the messages.
    busy: Vec<f64>,
}

fn measure(
    ctx: &Ctx,
    plan: &Plan,
    hookinit: &Init,
    samples: usize,
    messages: usize,
) -> io::Result<Measured> {
    let dir = ctx.tmp.join("notify");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let (cmd, out, ready) = (dir.join("cmd"), dir.join("out"), dir.join("ready"));
    for fifo in [&cmd, &out] {
        let c = CString::new(fifo.as_os_str().as_encoded_bytes())?;
        // SAFETY: a valid C string.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    fs::write(dir.join("sender.py"), SENDER)?;
    let inotify = Inotify::watch(&dir)?;
    let app: Vec<OsString> = vec![
        "python3".into(),
        dir.join("sender.py").into(),
        cmd.clone().into(),
        out.clone().into(),
    ];
    let env = [
        ("HOOKINIT_NOTIFY_SOCKET", OsString::from("1")),
        ("HOOKINIT_READY_FILE", ready.clone().into()),
    ];
    // Pinned as the other latencies: hookinit, the sender and the bench on
    // one CPU (they inherit it).
    let _pinned = Pinned::to(ctx.cpu);
    let mut p = ctx.launch_init(hookinit, &app, &env, &[])?;
    // Read-write: opening does not wait for the other side.
    let mut cmd = OpenOptions::new().read(true).write(true).open(&cmd)?;
    let mut out = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&out)?;
    let mut send = |c: u8| -> io::Result<u64> {
        cmd.write_all(&[c])?;
        wait_readable(out.as_raw_fd(), TIMEOUT)?;
        let mut t = [0u8; 8];
        out.read_exact(&mut t)?;
        Ok(u64::from_le_bytes(t))
    };
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let sent = send(b'r')?;
        inotify.until(b"ready", true)?;
        latencies.push(mono_ns().saturating_sub(sent) as f64 / 1e6);
        send(b'l')?;
        inotify.until(b"ready", false)?;
    }
    let pid = p.pid();
    // Back asleep after the last removal (its going to sleep is a switch),
    // settled as the idle rows are.
    wait_asleep(pid)?;
    std::thread::sleep(Duration::from_millis(300));
    let before = context_switches(pid);
    std::thread::sleep(Duration::from_secs(plan.idle_secs));
    let idle = context_switches(pid) - before;
    // In five runs, the median: one preemption by another process in a run
    // is the machine's, not hookinit's.
    let mut busy = Vec::new();
    for _ in 0..5 {
        let before = context_switches(pid);
        for _ in 0..messages / 5 {
            send(b's')?;
            std::thread::sleep(Duration::from_millis(20));
        }
        busy.push((context_switches(pid) - before) as f64);
    }
    p.kill_and_wait();
    let _ = fs::remove_dir_all(&dir);
    Ok(Measured {
        latencies,
        idle,
        busy,
    })
}

/// An inotify descriptor on one directory: creations and removals.
struct Inotify(File);

impl Inotify {
    fn watch(dir: &Path) -> io::Result<Inotify> {
        // SAFETY: plain syscall; the descriptor is owned at once.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let c = CString::new(dir.as_os_str().as_encoded_bytes())?;
        let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM;
        // SAFETY: a valid descriptor and C string.
        if unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Inotify(file))
    }

    /// Blocks until `name` is created (`created`) or removed.
    fn until(&self, name: &[u8], created: bool) -> io::Result<()> {
        let want = match created {
            true => libc::IN_CREATE | libc::IN_MOVED_TO,
            false => libc::IN_DELETE | libc::IN_MOVED_FROM,
        };
        let mut buf = [0u8; 4096];
        loop {
            wait_readable(self.0.as_raw_fd(), TIMEOUT)?;
            let n = (&self.0).read(&mut buf)?;
            let mut at = 0;
            // struct inotify_event: wd, mask, cookie, len, then the name.
            while at + 16 <= n {
                let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().unwrap());
                let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
                let raw = &buf[at + 16..(at + 16 + len).min(n)];
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                if mask & want != 0 && &raw[..end] == name {
                    return Ok(());
                }
                at += 16 + len;
            }
        }
    }
}
