//! The few OS calls the engine makes outside its I/O loop: eventfds to wake a shard,
//! closing and half-closing sockets, CPU pinning, the termination signals, the
//! descriptor limit, resident memory, the wall clock and random secrets.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd used to wake a shard from another thread.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// Creates a non-blocking eventfd.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds one to the counter, waking a pending read.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own fd. A full counter
        // (EAGAIN) means a wake-up is already pending, which is all we need.
        unsafe {
            libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// The raw descriptor, for the io_uring read.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Closes a descriptor the caller owns and will not use again.
pub fn close(fd: RawFd) {
    // SAFETY: the caller passes a descriptor it owns exclusively and forgets it;
    // a failing close leaves nothing to clean up.
    unsafe {
        libc::close(fd);
    }
}

/// Half-closes the sending side: the peer reads end-of-stream after our last bytes.
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown has no memory preconditions; errors (peer gone) are harmless.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks through the libc macro
    // contract (cpu < CPU_SETSIZE is checked first); sched_setaffinity reads it.
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cpu index too large",
            ));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signals the node handles itself: termination, and SIGHUP (reload).
fn termination_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and the threads it spawns
/// later) so that only [`wait_for_signal`] receives them, and ignores SIGPIPE.
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set();
    // SAFETY: set is initialised; the old mask is not needed (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: SIG_IGN for SIGPIPE is always valid; a write to a closed socket then
    // fails with EPIPE instead of killing the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    Ok(())
}

/// Waits for SIGINT, SIGTERM or SIGHUP (blocked beforehand) and returns its number.
pub fn wait_for_signal() -> i32 {
    let set = termination_set();
    let mut signal = 0;
    // SAFETY: set and signal are live locals; sigwait only writes `signal`.
    unsafe {
        libc::sigwait(&set, &mut signal);
    }
    signal
}

/// The soft `RLIMIT_NOFILE`: how many descriptors this process may hold.
pub fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the rlimit we pass.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (got == 0).then_some(limit.rlim_cur)
}

/// Resident set size of this process, in bytes (from /proc/self/statm; a cheap read of
/// a kernel-generated file, done at most once a second).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no memory preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Milliseconds since the Unix epoch (the clock of chat timestamps and heartbeats).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Arranges for the child `command` spawns to get SIGKILL when the spawning thread
/// dies (`PR_SET_PDEATHSIG`), so a test or benchmark that dies without unwinding
/// leaves no server behind.
pub fn kill_child_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec; prctl is
    // async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Sends `signal` to the process `pid` (a child the caller has not reaped yet).
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill has no memory preconditions.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `poll(2)` over `fds` for at most `timeout_ms` (negative: no limit); the number of
/// descriptors with events. For tests and tools that watch a few plain sockets.
pub fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a live, exclusive slice of pollfd of the length passed.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ready as usize)
}

/// Moves the calling thread into the network namespace `namespace` (an open
/// `/run/netns/<name>`); sockets it creates from then on belong to that namespace.
pub fn enter_network_namespace(namespace: &std::fs::File) -> io::Result<()> {
    // SAFETY: setns(2) on a descriptor the caller keeps open, for this thread only; no
    // memory is involved.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// 128 bits from the kernel's random source (`getrandom(2)`, which never blocks once
/// the pool is initialised at boot) for secrets such as HTTP session ids; an error
/// instead of a weak fallback.
pub fn random_u128() -> io::Result<u128> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is writable for `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
    Ok(u128::from_le_bytes(bytes))
}
