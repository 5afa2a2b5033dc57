//! Signal plumbing: sets of all 64 Linux signals, the inherited signal
//! configuration, and the one signalfd the supervision loop reads.
//!
//! hookinit installs no signal handlers at all. It blocks every signal and
//! takes them from a signalfd, so the dispositions it inherited stay untouched
//! and are exactly what a child inherits across exec. Raw syscalls are used
//! where libc would get in the way: musl's `sigfillset`/`sigaddset`/`sigaction`
//! refuse signals 32–34 (it reserves them), and a set without them would leave
//! a non-PID-1 hookinit killable by `kill -34`.

use crate::os::errno::Errno;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Highest signal number on Linux.
pub const MAX_SIGNAL: i32 = 64;

/// A set of signals as the kernel sees it: bit `n - 1` is signal `n`.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct SignalSet(u64);

impl SignalSet {
    pub const fn empty() -> Self {
        SignalSet(0)
    }

    /// Every signal 1..=64, including the ones libc reserves.
    pub const fn full() -> Self {
        SignalSet(u64::MAX)
    }

    pub fn of(signals: &[i32]) -> Self {
        let mut set = SignalSet::empty();
        for &sig in signals {
            set.insert(sig);
        }
        set
    }

    pub fn insert(&mut self, sig: i32) {
        if (1..=MAX_SIGNAL).contains(&sig) {
            self.0 |= 1 << (sig - 1);
        }
    }

    pub fn contains(&self, sig: i32) -> bool {
        (1..=MAX_SIGNAL).contains(&sig) && self.0 & (1 << (sig - 1)) != 0
    }

    /// [`Self::contains`] in one shift, for the hot path: a signal outside
    /// 1..=64 (MIPS has 128) tests some other bit, so only a `false` is
    /// final; a `true` is confirmed with `contains`.
    #[inline(always)]
    pub fn may_contain(&self, sig: i32) -> bool {
        self.0.wrapping_shr((sig as u32).wrapping_sub(1)) & 1 != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = i32> {
        (1..=MAX_SIGNAL).filter(move |&sig| self.contains(sig))
    }

    /// The calling thread's blocked-signal mask.
    pub fn current_mask() -> Result<Self, Errno> {
        let mut old = 0u64;
        rt_sigprocmask(libc::SIG_BLOCK, None, Some(&mut old))?;
        Ok(SignalSet(old))
    }

    /// Replaces the calling thread's mask. Async-signal-safe (used between
    /// fork and exec).
    pub fn set_as_mask(&self) -> Result<(), Errno> {
        rt_sigprocmask(libc::SIG_SETMASK, Some(&self.0), None)
    }
}

/// The kernel's `struct sigaction` (x86_64, aarch64, arm, i386, powerpc64
/// and s390x share this layout).
#[cfg(not(target_arch = "mips64"))]
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: SaFlags,
    restorer: usize,
    mask: KernelSet,
}

/// MIPS orders it differently: flags (an `unsigned int`) first, then the
/// handler and the mask, and no restorer field. Its kernel also has 128
/// signals, so every kernel sigset there is 16 bytes: `rt_sigprocmask`,
/// `rt_sigaction` and `signalfd4` refuse any other size with EINVAL.
#[cfg(target_arch = "mips64")]
#[repr(C)]
struct KernelSigaction {
    flags: SaFlags,
    handler: libc::sighandler_t,
    mask: KernelSet,
}

#[cfg(not(target_arch = "mips64"))]
type SaFlags = libc::c_ulong;
#[cfg(target_arch = "mips64")]
type SaFlags = libc::c_uint;

/// The kernel's `sigset_t`: 64 signals, 128 on MIPS. hookinit's
/// [`SignalSet`] holds 1..=64; on MIPS, signals 65..=128 are blocked (and so
/// read from the signalfd and forwarded) with a full set only, unblocked
/// otherwise.
type KernelSet = [u64; SIGSET_WORDS];
#[cfg(not(target_arch = "mips64"))]
const SIGSET_WORDS: usize = 1;
#[cfg(target_arch = "mips64")]
const SIGSET_WORDS: usize = 2;

fn kernel_set(set: u64) -> KernelSet {
    let mut k = [if set == u64::MAX { u64::MAX } else { 0 }; SIGSET_WORDS];
    k[0] = set;
    k
}

fn rt_sigprocmask(how: libc::c_int, set: Option<&u64>, old: Option<&mut u64>) -> Result<(), Errno> {
    let set = set.map(|s| kernel_set(*s));
    let mut old_k = kernel_set(0);
    let set_ptr = set
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const KernelSet);
    let old_ptr = match old {
        Some(_) => &mut old_k as *mut KernelSet,
        None => std::ptr::null_mut(),
    };
    // SAFETY: both pointers are null or point to a kernel sigset of its size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            set_ptr,
            old_ptr,
            std::mem::size_of::<KernelSet>(),
        )
    };
    if rc == 0 {
        if let Some(o) = old {
            *o = old_k[0];
        }
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn sigaction(sig: i32, act: Option<&KernelSigaction>) -> Result<KernelSigaction, Errno> {
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        #[cfg(not(target_arch = "mips64"))]
        restorer: 0,
        mask: kernel_set(0),
    };
    let act_ptr = act.map_or(std::ptr::null(), |a| a as *const KernelSigaction);
    // SAFETY: both structs have the kernel's layout; no handler function is
    // ever installed (only SIG_IGN/SIG_DFL), so no restorer is needed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            act_ptr,
            &mut old as *mut KernelSigaction,
            std::mem::size_of::<KernelSet>(),
        )
    };
    if rc == 0 {
        Ok(old)
    } else {
        Err(Errno::last())
    }
}

/// Sets `sig` to SIG_IGN or SIG_DFL (flags cleared). Async-signal-safe (used
/// between fork and exec).
pub fn set_ignored(sig: i32, ignored: bool) -> Result<(), Errno> {
    let handler = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    set_disposition(sig, handler, 0)
}

fn set_disposition(sig: i32, handler: libc::sighandler_t, flags: SaFlags) -> Result<(), Errno> {
    let act = KernelSigaction {
        handler,
        flags,
        #[cfg(not(target_arch = "mips64"))]
        restorer: 0,
        mask: kernel_set(0),
    };
    sigaction(sig, Some(&act)).map(|_| ())
}

/// What hookinit was started with, to be handed on unchanged to every child
/// (tini's `sigconf` behaviour): its blocked mask and its ignored signals.
///
/// hookinit installs no handlers, so every disposition it inherited (ignored
/// or default) survives exec by itself, with one exception made on purpose:
/// SIGCHLD. A launcher may start hookinit with SIGCHLD ignored (or with
/// SA_NOCLDWAIT); the kernel would then reap children by itself and hookinit
/// would never learn that the app exited. [`Inherited::capture`] resets it to
/// the default for hookinit, and children get the original back. SIGPIPE is
/// recorded too, for callers that spawn through std (which resets it).
#[derive(Clone, Copy, Debug)]
pub struct Inherited {
    pub mask: SignalSet,
    pub sigpipe_ignored: bool,
    /// SIGCHLD's inherited disposition and flags (SIG_IGN/SIG_DFL, SA_NOCLDWAIT).
    sigchld: (libc::sighandler_t, SaFlags),
}

impl Inherited {
    /// Records the inherited configuration, then makes SIGCHLD hookinit's
    /// own again (default, no SA_NOCLDWAIT).
    pub fn capture() -> Result<Self, Errno> {
        let pipe = sigaction(libc::SIGPIPE, None)?;
        let chld = sigaction(libc::SIGCHLD, None)?;
        let inherited = Inherited {
            mask: SignalSet::current_mask()?,
            sigpipe_ignored: pipe.handler == libc::SIG_IGN,
            sigchld: (chld.handler, chld.flags & libc::SA_NOCLDWAIT as SaFlags),
        };
        if inherited.sigchld != (libc::SIG_DFL, 0) {
            set_disposition(libc::SIGCHLD, libc::SIG_DFL, 0)?;
        }
        Ok(inherited)
    }

    /// dumb-init's start: signals 1–31 (SIGKILL and SIGSTOP aside) back to
    /// their default, for hookinit and for the app, and an empty mask for
    /// the app. A launcher's ignored SIGQUIT is then neither discarded on
    /// its way to hookinit nor ignored by the app (dumb-init handles 1–31,
    /// which exec resets to default, and unblocks every signal in the child).
    pub fn reset_as_dumb_init(&mut self) -> Result<(), Errno> {
        for sig in 1..=31 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                set_ignored(sig, false)?;
            }
        }
        self.sigpipe_ignored = false;
        self.sigchld = (libc::SIG_DFL, 0);
        self.mask = SignalSet::of(&[]);
        Ok(())
    }

    /// Whether hookinit was started with SIGCHLD ignored (or SA_NOCLDWAIT).
    pub fn sigchld_was_ignored(&self) -> bool {
        self.sigchld != (libc::SIG_DFL, 0)
    }

    /// Restores this configuration in a freshly forked child, before exec.
    /// Async-signal-safe: raw syscalls only.
    pub fn apply_in_child(&self) -> Result<(), Errno> {
        set_ignored(libc::SIGPIPE, self.sigpipe_ignored)?;
        if self.sigchld_was_ignored() {
            set_disposition(libc::SIGCHLD, self.sigchld.0, self.sigchld.1)?;
        }
        self.mask.set_as_mask()
    }
}

/// A signalfd receiving every signal (all must be blocked first).
pub struct SignalFd(OwnedFd);

impl SignalFd {
    /// Blocks all 64 signals for the calling thread (threads started later
    /// inherit it) and opens a signalfd for them. It blocks: when nothing
    /// but signals can need the loop, its `read` is the wait (one system
    /// call per signal, no `poll`); otherwise it is read only once `poll`
    /// found it readable, or when [`any_pending`] says so.
    pub fn block_all_and_open() -> Result<Self, Errno> {
        SignalSet::full().set_as_mask()?;
        let mask = kernel_set(u64::MAX);
        // SAFETY: `mask` is a full kernel set; the kernel ignores KILL/STOP in it.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_signalfd4,
                -1,
                &mask as *const KernelSet,
                std::mem::size_of::<KernelSet>(),
                libc::SFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: the kernel just returned this descriptor to us.
        Ok(SignalFd(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// Reads pending signals into `buf`, waiting for one if there is none;
    /// returns those read, or the error of a read that failed.
    pub fn read<'a>(
        &self,
        buf: &'a mut [MaybeUninit<libc::signalfd_siginfo>],
    ) -> Result<&'a [libc::signalfd_siginfo], Errno> {
        let bytes = std::mem::size_of_val(buf);
        // SAFETY: the same memory, as bytes that need not be initialised.
        let raw = unsafe {
            std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), bytes)
        };
        loop {
            match crate::os::sys::read(self.0.as_raw_fd(), raw) {
                Ok(n) => {
                    let count = n / std::mem::size_of::<libc::signalfd_siginfo>();
                    // SAFETY: the first `count` records were just written by the kernel.
                    return Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), count) });
                }
                Err(e) if e.0 == libc::EINTR => continue,
                // EAGAIN too: the descriptor blocks, so it would mean that
                // something made it non-blocking; an error backs off, where
                // an empty read would have the loop spin.
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether a signal is pending, so that a read of the signalfd (which takes
/// them all) returns at once. An error counts as none: no read that blocks.
pub fn any_pending() -> bool {
    let mut set = kernel_set(0);
    // SAFETY: `set` is a kernel sigset of the size given, written by the kernel.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigpending,
            &mut set as *mut KernelSet,
            std::mem::size_of::<KernelSet>(),
        )
    };
    rc == 0 && set.iter().any(|&w| w != 0)
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(not(target_arch = "mips64"))]
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// MIPS numbers signals 1..=31 its own way (USR1 is 16, CHLD 18, ...).
#[cfg(target_arch = "mips64")]
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS", "SEGV", "SYS",
    "PIPE", "ALRM", "TERM", "USR1", "USR2", "CHLD", "PWR", "WINCH", "URG", "IO", "STOP", "TSTP",
    "CONT", "TTIN", "TTOU", "VTALRM", "PROF", "XCPU", "XFSZ",
];

/// Parses `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+2` or `RTMAX-1`.
pub fn parse(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return (1..=MAX_SIGNAL).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(i) = NAMES.iter().position(|&n| n == bare) {
        return Some(i as i32 + 1);
    }
    // Aliases the kernel defines.
    match bare {
        "IOT" => return Some(libc::SIGABRT),
        "POLL" => return Some(libc::SIGIO),
        "CLD" => return Some(libc::SIGCHLD),
        _ => {}
    }
    let (base, rest) = if let Some(rest) = bare.strip_prefix("RTMIN") {
        (rtmin(), rest)
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        (MAX_SIGNAL, rest)
    } else {
        return None;
    };
    let sig = if rest.is_empty() {
        base
    } else if let Some(n) = rest.strip_prefix('+') {
        base.checked_add(n.parse::<i32>().ok()?)?
    } else if let Some(n) = rest.strip_prefix('-') {
        base.checked_sub(n.parse::<i32>().ok()?)?
    } else {
        return None;
    };
    (rtmin()..=MAX_SIGNAL).contains(&sig).then_some(sig)
}

/// The first real-time signal applications may use (libc keeps the ones below).
pub fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

/// `SIGTERM`, or `SIG34` for an unnamed one; a `Display` value, so that
/// naming a signal in a log line allocates nothing.
pub fn name(sig: i32) -> SignalName {
    SignalName(sig)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalName(pub i32);

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match usize::try_from(self.0 - 1).ok().and_then(|i| NAMES.get(i)) {
            Some(n) => write!(f, "SIG{n}"),
            None => write!(f, "SIG{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("SIGTERM"), Some(15));
        assert_eq!(parse("term"), Some(15));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("64"), Some(64));
        assert_eq!(parse("RTMAX"), Some(64));
        assert_eq!(parse("SIGRTMIN+1"), Some(rtmin() + 1));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("65"), None);
        assert_eq!(parse("RTMAX+1"), None);
        assert_eq!(parse("TERMS"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn full_set_has_all_64() {
        let all = SignalSet::full();
        assert_eq!(all.iter().count(), 64);
        assert!(all.contains(32) && all.contains(33) && all.contains(34));
        assert_eq!(name(15).to_string(), "SIGTERM");
        assert_eq!(name(34).to_string(), "SIG34");
    }
}
