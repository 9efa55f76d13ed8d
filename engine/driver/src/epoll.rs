//! The epoll driver: readiness from `epoll`, then `accept4`, `recv` and `send` calls,
//! with the same completions as the io_uring driver, for where io_uring is refused.
//!
//! Level-triggered, so a socket that still has data after a burst of reads is simply
//! reported again next time. A receive buffer is taken from the shard's pool just
//! before a read and given back by the caller, so an idle connection holds none, as
//! with io_uring. A send is written at once; what the socket does not take waits for
//! `EPOLLOUT`. Completions produced inside a call (a send written whole, a cancel) are
//! kept and handed out at the next [`Driver::wait`] or [`Driver::poll`], so the caller
//! is never re-entered.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use crate::recv_pool::Pool;
use crate::{Completion, Driver, DriverConfig, RecvEnd, ThinBuf, Token, TOKEN_MASK};

/// Set on a stored token: the operation is armed.
const ARMED: u64 = 1 << 63;
/// Reads from one socket per readiness report before moving to the next socket.
const READ_BURST: usize = 4;
/// Accepts per readiness report of a listener.
const ACCEPT_BURST: usize = 64;
/// Largest events array handed to `epoll_wait`.
const MAX_EVENTS: usize = 1024;

/// What the caller armed on one descriptor.
#[derive(Debug, Clone, Copy, Default)]
struct FdState {
    /// Receive token | [`ARMED`].
    recv: u64,
    /// Accept token | [`ARMED`].
    accept: u64,
    /// Index + 1 of the pending send (0: none).
    send: u32,
    /// The events the descriptor is registered for (0: not in the epoll set).
    interest: u32,
}

/// A send the socket did not take whole yet.
#[derive(Debug)]
struct PendingSend {
    fd: RawFd,
    token: Token,
    buf: ThinBuf,
    written: usize,
}

/// The epoll driver of one shard (one thread only).
#[derive(Debug)]
pub struct Epoll {
    epfd: OwnedFd,
    pool: Rc<Pool>,
    fds: Vec<FdState>,
    sends: Vec<Option<PendingSend>>,
    free_sends: Vec<u32>,
    /// Completions produced inside calls, handed out at the next wait or poll.
    ready: Vec<Completion>,
    events: Vec<libc::epoll_event>,
    tick: Option<(OwnedFd, Token)>,
    wake: Option<(RawFd, Token)>,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn errno(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(0)
}

impl Epoll {
    /// An epoll set and a receive pool sized by `config`.
    pub fn new(config: &DriverConfig) -> io::Result<Self> {
        // SAFETY: epoll_create1 has no memory preconditions; the result is checked.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: a fresh descriptor that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let events = (config.cq_entries as usize).clamp(64, MAX_EVENTS);
        Ok(Epoll {
            epfd,
            pool: Pool::for_reads(config.recv_buffers, config.recv_buffer_size)?,
            fds: Vec::new(),
            sends: Vec::new(),
            free_sends: Vec::new(),
            ready: Vec::new(),
            events: Vec::with_capacity(events),
            tick: None,
            wake: None,
        })
    }

    fn state(&mut self, fd: RawFd) -> Option<&mut FdState> {
        let index = usize::try_from(fd).ok()?;
        if index >= self.fds.len() {
            self.fds.resize(index + 1, FdState::default());
        }
        self.fds.get_mut(index)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events,
            u64: fd as u64,
        };
        // SAFETY: `event` is a live local the kernel only reads; the epoll fd is ours.
        check(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut event) }).map(drop)
    }

    /// Registers `fd` for what is armed on it, or takes it out of the set when nothing
    /// is (a hung-up socket in the set would be reported forever).
    fn update_interest(&mut self, fd: RawFd) {
        let Some(state) = self.state(fd) else {
            return;
        };
        let mut wanted = 0u32;
        if state.recv & ARMED != 0 || state.accept & ARMED != 0 {
            wanted |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        }
        if state.send != 0 {
            wanted |= libc::EPOLLOUT as u32;
        }
        let had = state.interest;
        if wanted == had {
            return;
        }
        state.interest = wanted;
        let result = match (had, wanted) {
            (0, _) => self.ctl(libc::EPOLL_CTL_ADD, fd, wanted),
            (_, 0) => self.ctl(libc::EPOLL_CTL_DEL, fd, 0),
            _ => self.ctl(libc::EPOLL_CTL_MOD, fd, wanted),
        };
        if let Err(err) = result {
            tracing::warn!(%err, fd, "epoll_ctl failed");
        }
    }

    /// Writes as much of send `index` as the socket takes; completes it when done or
    /// failed. Returns whether it is still pending.
    fn write_some(&mut self, index: u32) -> bool {
        let Some(send) = self.sends.get_mut(index as usize).and_then(Option::as_mut) else {
            return false;
        };
        let result = loop {
            if send.written >= send.buf.len() {
                break Ok(send.written);
            }
            let rest = &send.buf[send.written..];
            // SAFETY: `rest` is a live slice of the send's buffer, which the driver owns.
            let n = unsafe {
                libc::send(
                    send.fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                send.written += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match errno(&err) {
                libc::EINTR => continue,
                libc::EAGAIN => return true,
                _ => break Err(err),
            }
        };
        let Some(send) = self.sends[index as usize].take() else {
            return false;
        };
        self.free_sends.push(index);
        if let Some(state) = self.state(send.fd) {
            state.send = 0;
        }
        self.ready.push(Completion::Sent {
            token: send.token,
            result,
            buf: send.buf,
        });
        false
    }

    fn on_event(&mut self, fd: RawFd, events: u32) {
        if self.tick.as_ref().is_some_and(|(t, _)| t.as_raw_fd() == fd) {
            return self.on_tick();
        }
        if let Some((wake, token)) = self.wake.filter(|(w, _)| *w == fd) {
            drain_counter(wake);
            return self.ready.push(Completion::Woken { token });
        }
        let Some(state) = self.state(fd).copied() else {
            return;
        };
        let readable = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if events & readable != 0 {
            if state.accept & ARMED != 0 {
                self.accept_burst(fd, state.accept & TOKEN_MASK);
            }
            if state.recv & ARMED != 0 {
                self.read_burst(fd, state.recv & TOKEN_MASK);
            }
        }
        let writable = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if events & writable != 0 && state.send != 0 {
            self.write_some(state.send - 1);
        }
        self.update_interest(fd);
    }

    fn on_tick(&mut self) {
        let Some((timer, token)) = self.tick.as_ref().map(|(t, k)| (t.as_raw_fd(), *k)) else {
            return;
        };
        drain_counter(timer);
        self.ready.push(Completion::Tick { token });
    }

    fn accept_burst(&mut self, listener: RawFd, token: Token) {
        for _ in 0..ACCEPT_BURST {
            // SAFETY: null address pointers are allowed (no peer address wanted).
            let fd = unsafe {
                libc::accept4(
                    listener,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                self.ready.push(Completion::Accepted { token, fd });
                continue;
            }
            let err = io::Error::last_os_error();
            match errno(&err) {
                libc::EAGAIN => return,
                libc::EINTR | libc::ECONNABORTED | libc::EPROTO => continue,
                _ => {
                    // EMFILE, ENFILE, ENOBUFS, ...: stop, and let the caller decide when
                    // to try again (a listener kept in the set would be reported forever).
                    if let Some(state) = self.state(listener) {
                        state.accept = 0;
                    }
                    self.ready.push(Completion::AcceptStopped {
                        token,
                        error: Some(err),
                    });
                    return;
                }
            }
        }
    }

    fn read_burst(&mut self, fd: RawFd, token: Token) {
        for _ in 0..READ_BURST {
            // Every buffer out: leave the socket readable; it is reported again after
            // the caller gave buffers back.
            let Some(mut buf) = self.pool.lend_free() else {
                return;
            };
            let bytes = buf.bytes_mut();
            // SAFETY: `bytes` is an exclusive, live slice of a lent buffer.
            let n = unsafe { libc::recv(fd, bytes.as_mut_ptr().cast(), bytes.len(), 0) };
            if n > 0 {
                let full = n as usize == self.pool.buffer_size();
                buf.truncate(n as usize);
                self.ready.push(Completion::Received { token, buf });
                if full {
                    continue;
                }
                return;
            }
            let end = if n == 0 {
                RecvEnd::Eof
            } else {
                let err = io::Error::last_os_error();
                match errno(&err) {
                    libc::EAGAIN => return,
                    libc::EINTR => continue,
                    _ => RecvEnd::Failed(err),
                }
            };
            if let Some(state) = self.state(fd) {
                state.recv = 0;
            }
            self.ready.push(Completion::RecvStopped { token, end });
            return;
        }
    }

    fn epoll_wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        let capacity = self.events.capacity();
        self.events.clear();
        // SAFETY: the kernel writes at most `capacity` events into the vector's spare
        // capacity; the length is set to what it reports, never more.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                capacity as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if errno(&err) == libc::EINTR {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: the kernel initialised the first `n` (<= capacity) events.
        unsafe { self.events.set_len(n as usize) };
        for i in 0..self.events.len() {
            let event = self.events[i];
            self.on_event(event.u64 as RawFd, event.events);
        }
        Ok(())
    }

    fn turn(&mut self, out: &mut Vec<Completion>, block: bool) -> io::Result<()> {
        let timeout = if block && self.ready.is_empty() {
            -1
        } else {
            0
        };
        self.epoll_wait(timeout)?;
        out.append(&mut self.ready);
        Ok(())
    }
}

/// Sets `O_NONBLOCK` on `fd`.
fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL has no memory preconditions.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Reads an eventfd's or timerfd's 8-byte counter, resetting it.
fn drain_counter(fd: RawFd) {
    let mut counter = 0u64;
    // SAFETY: reads 8 bytes into a live u64; EAGAIN (already drained) is harmless.
    unsafe {
        libc::read(fd, (&mut counter as *mut u64).cast(), 8);
    }
}

impl Driver for Epoll {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn accept_multi(&mut self, listener: RawFd, token: Token) {
        // A burst of accepts ends at EAGAIN: the listener must not block.
        if let Err(err) = set_nonblocking(listener) {
            tracing::warn!(%err, listener, "could not make the listener non-blocking");
        }
        if let Some(state) = self.state(listener) {
            state.accept = (token & TOKEN_MASK) | ARMED;
        }
        self.update_interest(listener);
    }

    fn cancel_accept(&mut self, listener: RawFd, token: Token) {
        let armed = self
            .state(listener)
            .is_some_and(|s| std::mem::take(&mut s.accept) & ARMED != 0);
        self.update_interest(listener);
        if armed {
            self.ready.push(Completion::AcceptStopped {
                token: token & TOKEN_MASK,
                error: Some(io::Error::from_raw_os_error(libc::ECANCELED)),
            });
        }
    }

    fn register_socket(&mut self, _fd: RawFd) -> io::Result<()> {
        Ok(())
    }

    fn unregister_socket(&mut self, fd: RawFd) {
        if let Some(state) = self.state(fd) {
            state.recv = 0;
            state.accept = 0;
        }
        self.update_interest(fd);
    }

    fn recv_multi(&mut self, fd: RawFd, token: Token) {
        if let Some(state) = self.state(fd) {
            state.recv = (token & TOKEN_MASK) | ARMED;
        }
        self.update_interest(fd);
    }

    fn cancel_recv(&mut self, fd: RawFd, token: Token) {
        let armed = self
            .state(fd)
            .is_some_and(|s| std::mem::take(&mut s.recv) & ARMED != 0);
        self.update_interest(fd);
        if armed {
            self.ready.push(Completion::RecvStopped {
                token: token & TOKEN_MASK,
                end: RecvEnd::Cancelled,
            });
        }
    }

    fn send(&mut self, fd: RawFd, buf: ThinBuf, token: Token) {
        let send = PendingSend {
            fd,
            token: token & TOKEN_MASK,
            buf,
            written: 0,
        };
        let index = match self.free_sends.pop() {
            Some(index) => {
                self.sends[index as usize] = Some(send);
                index
            }
            None => {
                self.sends.push(Some(send));
                (self.sends.len() - 1) as u32
            }
        };
        if self.write_some(index) {
            if let Some(state) = self.state(fd) {
                state.send = index + 1;
            }
            self.update_interest(fd);
        }
    }

    fn cancel_send(&mut self, fd: RawFd, token: Token) {
        let Some(index) = self.state(fd).map(|s| std::mem::take(&mut s.send)) else {
            return;
        };
        if index == 0 {
            return;
        }
        self.update_interest(fd);
        if let Some(send) = self.sends[index as usize - 1].take() {
            self.free_sends.push(index - 1);
            self.ready.push(Completion::Sent {
                token: token & TOKEN_MASK,
                result: Err(io::Error::from_raw_os_error(libc::ECANCELED)),
                buf: send.buf,
            });
        }
    }

    fn tick_every(&mut self, interval: Duration, token: Token) {
        // SAFETY: timerfd_create has no memory preconditions; the result is checked.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            tracing::error!(err = %io::Error::last_os_error(), "timerfd_create failed: no tick");
            return;
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let timer = unsafe { OwnedFd::from_raw_fd(fd) };
        let period = libc::timespec {
            tv_sec: interval.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(interval.subsec_nanos().max(1)),
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        // SAFETY: `spec` is a live local the kernel reads; the old value is not wanted.
        let set = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
        if set < 0
            || self
                .ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32)
                .is_err()
        {
            tracing::error!(err = %io::Error::last_os_error(), "arming the tick failed");
            return;
        }
        self.tick = Some((timer, token & TOKEN_MASK));
    }

    fn watch_wake(&mut self, eventfd: RawFd, token: Token) {
        if let Err(err) = self.ctl(libc::EPOLL_CTL_ADD, eventfd, libc::EPOLLIN as u32) {
            tracing::error!(%err, "watching the wake-up eventfd failed");
            return;
        }
        self.wake = Some((eventfd, token & TOKEN_MASK));
    }

    fn wait(&mut self, out: &mut Vec<Completion>, _batch: bool) -> io::Result<()> {
        self.turn(out, true)
    }

    fn poll(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.turn(out, false)
    }
}

#[cfg(test)]
mod tests;
