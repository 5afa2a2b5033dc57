//! The operating system, behind one door: system calls, signals, spawning,
//! reaping, stdio and the heap. Everything above calls these safe functions;
//! `unsafe` lives here.
//!
//! - [`sys`]: the loop's hot system calls (poll, read, kill, wait4).
//! - [`signals`]: signal sets, the inherited signal configuration, the signalfd.
//! - [`spawn`]: starting the app and exec hooks (fork and exec, no allocation).
//! - [`reap`]: the one `wait4(-1)` loop and wait statuses.
//! - [`stdio`]: writing to the container's stdout/stderr without ever blocking.
//! - [`args`]: the command line from the C runtime's `argc`/`argv`.
//! - [`errno`]: OS errors as values and as text.
//! - [`exit`]: hookinit's own exit codes.
//! - [`proc`]: /proc, read without allocating.
//! - [`process`]: signal targets (a process, a group, everyone), pidfds.
//! - [`fd`]: non-blocking mode, reads, writes; [`file`]: a whole small file;
//!   [`time`]: sleeping.
//! - [`fork`]: forking hookinit for a handler process; [`wait`]: a blocking
//!   wait for one child (only in such a process).
//! - [`env`]: the environment, read in place; [`path`]: `access`.
//! - [`listener`]: a non-blocking TCP listener and its connections.
//! - [`notify_socket`]: the `sd_notify` socket, its datagrams with the sender's pid.
//! - [`sock_diag`]: TCP socket statistics (netlink `inet_diag`, /proc/net/snmp).
//! - [`ready_file`]: creating and removing the ready file.
//! - [`message_file`]: the termination message, written only if empty.
//! - [`text`]: formatting into a stack buffer.
//! - [`cgroup`]: the memory cgroup's OOM-kill counter, limit and peak.
//! - [`exclusive`]: a value one caller at a time uses, never waited for.
//! - [`alloc`]: the heap, counted once start-up is over (it must stay at 0);
//!   [`heap`]: the C heap behind it (`malloc`), in place of musl's.

pub(crate) mod alloc;
pub mod args;
pub(crate) mod cgroup;
pub(crate) mod env;
pub(crate) mod errno;
pub(crate) mod exclusive;
pub(crate) mod exit;
pub(crate) mod fd;
pub(crate) mod file;
pub(crate) mod fork;
pub(crate) mod heap;
pub(crate) mod listener;
pub(crate) mod message_file;
pub(crate) mod notify_socket;
pub(crate) mod path;
pub(crate) mod proc;
pub(crate) mod process;
pub(crate) mod ready_file;
pub(crate) mod reap;
pub mod signals;
pub(crate) mod sock_diag;
pub(crate) mod spawn;
pub(crate) mod stdio;
pub(crate) mod sys;
pub(crate) mod text;
pub(crate) mod time;
pub(crate) mod wait;
