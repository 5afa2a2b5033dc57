//! Cgroups for the probes' CPU accounting: one per hookinit, and the
//! container's for Docker's checks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the bench makes cgroups for CPU accounting: cgroup v1's cpuacct
/// hierarchy when mounted, else the cgroup v2 hierarchy (whose core
/// `cpu.stat` every cgroup has, with or without the cpu controller).
#[derive(Clone)]
pub(crate) struct CgroupRoot {
    dir: PathBuf,
    v2: bool,
}

impl CgroupRoot {
    pub(crate) fn find() -> Option<CgroupRoot> {
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

    pub(crate) fn what(&self) -> &'static str {
        if self.v2 {
            "cgroup v2 `cpu.stat` usage_usec"
        } else {
            "cgroup v1 `cpuacct.usage`"
        }
    }

    /// CPU time of everything that ran in the cgroup `dir`, in ns.
    pub(crate) fn usage_ns(&self, dir: &Path) -> io::Result<u64> {
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
    pub(crate) fn of(&self, pid: i32) -> Option<PathBuf> {
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
pub(crate) struct Cgroup {
    root: CgroupRoot,
    dir: PathBuf,
    pub(crate) procs: fs::File,
}

impl Cgroup {
    pub(crate) fn create(root: &CgroupRoot, name: &str) -> io::Result<Cgroup> {
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

    pub(crate) fn usage_ns(&self) -> io::Result<u64> {
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
