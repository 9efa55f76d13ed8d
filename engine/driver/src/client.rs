//! The Linux calls a load-generating client needs (the bundled loadgen's epoll event
//! loop): an edge-triggered epoll set, non-blocking client sockets bound to chosen
//! source addresses, plain `recv`/`send`, the descriptor limit, random bytes and the
//! clock tick rate — thin safe wrappers over `libc`, kept here so the loadgen itself
//! has no `unsafe`. Descriptors are plain `RawFd`s owned by the caller's connection
//! table, which closes them exactly once.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An epoll instance, closed on drop.
#[derive(Debug)]
pub struct Epoll {
    fd: RawFd,
}

/// Readiness bits the loop asks for: edge-triggered read, write and peer hang-up.
pub const INTEREST: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

impl Epoll {
    /// Creates an epoll instance.
    pub fn new() -> io::Result<Self> {
        // SAFETY: no pointers involved; the result is checked.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Self { fd })
    }

    /// Registers `fd` with `token` handed back in its events.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: INTEREST,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut event) })?;
        Ok(())
    }

    /// Waits up to `timeout` (None: forever) and fills `events`; returns how many.
    ///
    /// Uses `epoll_pwait2` for a sub-millisecond timeout (open-loop pacing needs it)
    /// and falls back on `epoll_wait`, rounded up to a millisecond, on kernels before 5.11.
    pub fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        let n = if NO_PWAIT2.load(Ordering::Relaxed) {
            let ms = timeout.map_or(-1, |t| {
                t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
            });
            // SAFETY: `events` is writable for `max` entries.
            unsafe { libc::epoll_wait(self.fd, events.as_mut_ptr(), max, ms) }
        } else {
            let spec = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let spec_ptr = spec
                .as_ref()
                .map_or(std::ptr::null(), |s| s as *const libc::timespec);
            // SAFETY: `events` is writable for `max` entries; `spec_ptr` is null or points
            // at a live timespec; a null sigmask leaves the mask unchanged.
            unsafe {
                libc::epoll_pwait2(
                    self.fd,
                    events.as_mut_ptr(),
                    max,
                    spec_ptr,
                    std::ptr::null(),
                )
            }
        };
        match check(n) {
            Ok(n) => Ok(n as usize),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(err) if err.raw_os_error() == Some(libc::ENOSYS) => {
                NO_PWAIT2.store(true, Ordering::Relaxed);
                Ok(0)
            }
            Err(err) => Err(err),
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.fd);
    }
}

/// A new non-blocking IPv4 TCP socket with TCP_NODELAY set.
pub fn tcp_socket() -> io::Result<RawFd> {
    // SAFETY: no pointers involved; the result is checked.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    if let Err(err) = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1) {
        close(fd);
        return Err(err);
    }
    Ok(fd)
}

fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live c_int and its size is passed with it.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Binds `fd` to source address `ip` while leaving the port to `connect`, so the
/// kernel picks it per (source, destination) pair and each source IP offers the
/// whole ephemeral range to each destination.
pub fn bind_source(fd: RawFd, ip: Ipv4Addr) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
    let addr = sockaddr(SocketAddrV4::new(ip, 0));
    // SAFETY: `addr` is a valid sockaddr_in and its size is passed with it.
    check(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Starts a non-blocking connect; `Ok` means connected or in progress.
pub fn connect(fd: RawFd, to: SocketAddrV4) -> io::Result<()> {
    let addr = sockaddr(to);
    // SAFETY: `addr` is a valid sockaddr_in and its size is passed with it.
    let ret = unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    match check(ret) {
        Ok(_) => Ok(()),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
        Err(err) => Err(err),
    }
}

/// The pending error of a socket (how a non-blocking connect ended).
pub fn take_socket_error(fd: RawFd) -> io::Result<()> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and describe a c_int-sized buffer.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    if value == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(value))
    }
}

/// Reads into `buf`; `Ok(0)` is end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes from `buf` without raising SIGPIPE on a closed peer.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for `buf.len()` bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Closes a descriptor, ignoring errors (there is nothing useful to do with them).
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe {
        libc::close(fd);
    }
}

/// Raises the soft open-file limit to the hard one and returns the resulting soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a live rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// Fills `buf` from the kernel's random source.
pub fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is writable for `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // No entropy source: fall back on the clock, these bytes need no secrecy.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            for (i, byte) in rest.iter_mut().enumerate() {
                *byte = (nanos >> ((i % 8) * 8)) as u8 ^ i as u8;
            }
            return;
        }
    }
}

/// Clock ticks per second for `/proc/PID/stat` CPU times.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}
