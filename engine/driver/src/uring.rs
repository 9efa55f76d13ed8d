//! The io_uring driver: multishot accept and recv into a provided-buffer ring, sends
//! whose buffers the ring owns while they are in flight, a periodic tick and a wake-up
//! read, sockets in the ring's file table. Every operation that hands memory to the
//! kernel lives here.
//!
//! Completions are classified here, not by the caller: the top byte of each
//! operation's user data says what it was, so a caller never sees raw CQE flags or
//! buffer ids — only [`Completion`]s with owned buffers.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::recv_pool::Pool;
use crate::{Completion, Driver, RecvEnd, ThinBuf, Token, TOKEN_MASK};

/// Operation kinds, in the top byte of user data.
const ACCEPT: u64 = 1 << 56;
const RECV: u64 = 2 << 56;
const SEND: u64 = 3 << 56;
const TICK: u64 = 4 << 56;
const WAKE: u64 = 5 << 56;
/// Operations whose completion nobody waits for (cancels).
const IGNORED: u64 = 0xFE << 56;
const KIND_MASK: u64 = 0xFF << 56;

/// How the ring is sized.
#[derive(Debug, Clone, Copy)]
pub struct UringConfig {
    /// Submission queue entries.
    pub sq_entries: u32,
    /// Completion queue entries.
    pub cq_entries: u32,
    /// Receive buffers in the provided-buffer ring (a power of two, at most 32768).
    pub recv_buffers: u16,
    /// Size of each receive buffer.
    pub recv_buffer_size: u32,
    /// Completion batching when the caller blocks: wait up to this many microseconds
    /// for `batch_want` completions, then return as soon as there is one (0: off,
    /// return at the first completion).
    pub batch_wait_us: u32,
    /// Completions a blocking wait asks for while `batch_wait_us` runs.
    pub batch_want: u32,
}

/// A send the kernel is working on; the ring keeps the buffer alive until it is done.
#[derive(Debug)]
struct InflightSend {
    fd: RawFd,
    token: Token,
    buf: ThinBuf,
    written: usize,
}

/// The io_uring of one shard (used by one thread only: it is neither `Send` nor
/// `Sync`, as its receive buffers are reference-counted without atomics).
pub struct Uring {
    ring: IoUring,
    /// Dropped after `ring` (field order): the kernel may write into these buffers
    /// until the ring is gone.
    recv_pool: Rc<Pool>,
    sends: Vec<Option<InflightSend>>,
    free_sends: Vec<u32>,
    tick: Box<types::Timespec>,
    wake_buf: Box<u64>,
    /// The eventfd being watched, re-armed after each wake-up.
    wake: Option<(RawFd, Token)>,
    entries: Vec<cqueue::Entry>,
    /// Batched blocking waits, when asked for and the kernel supports them.
    batch: Option<BatchWait>,
    /// Length of the ring's file table: a socket whose fd is below it is registered
    /// there under its own number (0: no table, plain descriptors everywhere).
    fixed_files: u32,
    /// Being dropped: a partial send is not continued.
    draining: bool,
    /// Sends given up with [`Driver::cancel_send`]: not continued after a partial write.
    cancelled_sends: Vec<u32>,
}

/// Largest file table a ring asks for (8 bytes a slot: 2 MiB). Descriptors above it
/// keep working as plain descriptors.
const MAX_FIXED_FILES: u32 = 1 << 18;

/// How long dropping the ring waits for the kernel to finish in-flight operations.
const DRAIN_ON_DROP: Duration = Duration::from_secs(2);

/// A blocking wait that asks the kernel for `want` completions within `min_wait_us`
/// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12): after `min_wait_us` it returns as soon as
/// one completion is there, and an idle ring keeps sleeping until the first one.
#[derive(Debug, Clone, Copy)]
struct BatchWait {
    want: usize,
    min_wait_us: u32,
    /// The overall timeout. The kernel needs one for the behaviour above: without it
    /// the min-wait expiry ends the wait even when nothing completed (a busy loop
    /// every `min_wait_us` on an idle shard). It is far longer than the shard's tick,
    /// so it never ends a wait in practice; if it does, the wait returns `ETIME`.
    timeout: types::Timespec,
}

/// Overall timeout of a batched wait (see [`BatchWait::timeout`]).
const BATCH_WAIT_TIMEOUT_SECS: u64 = 1;

/// Logs once per process that the kernel lacks min-wait (every shard would say it).
static MIN_WAIT_MISSING_LOGGED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("sends_in_flight", &self.sends_in_flight())
            .finish_non_exhaustive()
    }
}

/// Buffer group id of the receive buffers.
const RECV_GROUP: u16 = 0;

/// How an operation names its socket.
enum Target {
    Fixed(types::Fixed),
    Fd(types::Fd),
}

/// Registers an empty file table as long as the process may have descriptors (capped
/// at [`MAX_FIXED_FILES`]); 0 when the kernel or the limit refuses.
fn register_file_table(ring: &IoUring) -> u32 {
    let wanted = crate::os::descriptor_limit()
        .map_or(0, |limit| u32::try_from(limit).unwrap_or(MAX_FIXED_FILES))
        .min(MAX_FIXED_FILES);
    if wanted == 0 {
        return 0;
    }
    match ring.submitter().register_files_sparse(wanted) {
        Ok(()) => wanted,
        Err(err) => {
            tracing::warn!(%err, "io_uring file table refused: sockets stay plain descriptors");
            0
        }
    }
}

/// Builds the ring with the flags measured best for a single-threaded shard
/// (docs/design.md), falling back to plain flags on an older kernel.
fn build_ring(config: &UringConfig) -> io::Result<IoUring> {
    match IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_cqsize(config.cq_entries)
        .build(config.sq_entries)
    {
        Ok(ring) => Ok(ring),
        // Refused outright (seccomp, sysctl, no io_uring): say so, no retry.
        Err(err) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => Err(err),
        Err(err) => {
            // Kernels before 6.1 lack DEFER_TASKRUN: plain flags still work.
            tracing::warn!(%err, "io_uring without SINGLE_ISSUER/DEFER_TASKRUN (older kernel?)");
            IoUring::builder()
                .setup_cqsize(config.cq_entries)
                .build(config.sq_entries)
        }
    }
}

fn batch_wait(ring: &IoUring, config: &UringConfig) -> Option<BatchWait> {
    if config.batch_wait_us == 0 || config.batch_want <= 1 {
        return None;
    }
    if ring.params().is_feature_min_timeout() {
        return Some(BatchWait {
            want: config.batch_want as usize,
            min_wait_us: config.batch_wait_us,
            timeout: types::Timespec::new().sec(BATCH_WAIT_TIMEOUT_SECS),
        });
    }
    if !MIN_WAIT_MISSING_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            batch_wait_us = config.batch_wait_us,
            "the kernel lacks io_uring min-wait (IORING_FEAT_MIN_TIMEOUT, Linux 6.12): \
             --batch-wait-us is ignored, shards wake at every completion"
        );
    }
    None
}

impl Uring {
    /// Creates the ring and its receive buffers. `EPERM`/`ENOSYS` mean io_uring is
    /// refused here (a seccomp profile, `kernel.io_uring_disabled`, an old kernel).
    pub fn new(config: UringConfig) -> io::Result<Self> {
        let ring = build_ring(&config)?;
        let batch = batch_wait(&ring, &config);
        let recv_pool = Pool::for_kernel(
            &ring,
            RECV_GROUP,
            config.recv_buffers,
            config.recv_buffer_size,
        )?;
        let fixed_files = register_file_table(&ring);
        Ok(Uring {
            ring,
            recv_pool,
            sends: Vec::new(),
            free_sends: Vec::new(),
            tick: Box::new(types::Timespec::new()),
            wake_buf: Box::new(0),
            wake: None,
            entries: Vec::with_capacity(config.cq_entries as usize),
            batch,
            fixed_files,
            draining: false,
            cancelled_sends: Vec::new(),
        })
    }

    /// Whether sockets are registered in a file table (for tests and logs).
    pub fn uses_file_table(&self) -> bool {
        self.fixed_files > 0
    }

    fn sends_in_flight(&self) -> usize {
        self.sends.len() - self.free_sends.len()
    }

    /// How operations name `fd`: its slot in the file table when it is registered
    /// (the kernel then skips looking the descriptor up and reference-counting the
    /// file on every operation), else the descriptor itself.
    fn target(&self, fd: RawFd) -> Target {
        match u32::try_from(fd) {
            Ok(slot) if slot < self.fixed_files => Target::Fixed(types::Fixed(slot)),
            _ => Target::Fd(types::Fd(fd)),
        }
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry built in this module points only at memory the ring
            // owns (the buffer ring, in-flight send buffers, the boxed timespec and
            // wake buffer), which stays valid until the operation's final completion:
            // sends are freed only after theirs, and Drop drains before freeing.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            // Queue full: hand what we have to the kernel and try again.
            if let Err(err) = self.ring.submit() {
                tracing::warn!(%err, "io_uring submit failed while the queue was full");
            }
        }
    }

    fn submit_send(&mut self, index: u32) {
        let Some(send) = self.sends[index as usize].as_ref() else {
            return;
        };
        let rest = &send.buf[send.written..];
        let (ptr, len) = (rest.as_ptr(), rest.len() as u32);
        let entry = match self.target(send.fd) {
            Target::Fixed(slot) => opcode::Send::new(slot, ptr, len),
            Target::Fd(fd) => opcode::Send::new(fd, ptr, len),
        }
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(SEND | u64::from(index));
        self.push(entry);
    }

    fn arm_wake(&mut self) {
        let Some((fd, _)) = self.wake else {
            return;
        };
        let entry = opcode::Read::new(types::Fd(fd), (&mut *self.wake_buf as *mut u64).cast(), 8)
            .build()
            .user_data(WAKE);
        self.push(entry);
    }

    fn enter(&mut self, want: usize, out: &mut Vec<Completion>) -> io::Result<()> {
        let entered = self.ring.submit_and_wait(want);
        self.collect(entered, out)
    }

    /// Checks the result of an enter and appends every available completion to `out`.
    fn collect(&mut self, entered: io::Result<usize>, out: &mut Vec<Completion>) -> io::Result<()> {
        match entered {
            Ok(_) => {}
            // ETIME: a batched wait's overall timeout passed with nothing completed.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
                ) => {}
            Err(err) => return Err(err),
        }
        self.entries.clear();
        self.entries.extend(self.ring.completion());
        for index in 0..self.entries.len() {
            let entry = self.entries[index].clone();
            self.dispatch(&entry, out);
        }
        Ok(())
    }

    fn dispatch(&mut self, entry: &cqueue::Entry, out: &mut Vec<Completion>) {
        let data = entry.user_data();
        let token = data & TOKEN_MASK;
        let (result, more) = (entry.result(), cqueue::more(entry.flags()));
        match data & KIND_MASK {
            ACCEPT => on_accept(token, result, more, out),
            RECV => self.on_recv(token, entry, out),
            SEND => self.on_send(token as u32, result, out),
            TICK => out.push(Completion::Tick { token }),
            WAKE => {
                if let Some((_, token)) = self.wake {
                    out.push(Completion::Woken { token });
                    self.arm_wake();
                }
            }
            _ => {}
        }
    }

    fn on_recv(&mut self, token: Token, entry: &cqueue::Entry, out: &mut Vec<Completion>) {
        let (result, flags) = (entry.result(), entry.flags());
        if let Some(id) = cqueue::buffer_select(flags) {
            let len = usize::try_from(result).unwrap_or(0);
            match self.recv_pool.lend(id, len) {
                Some(buf) => out.push(Completion::Received { token, buf }),
                None => tracing::error!(
                    id,
                    len,
                    "io_uring reported a receive buffer that is not ours to lend: bytes dropped"
                ),
            }
        }
        if cqueue::more(flags) {
            return;
        }
        let end = match result {
            0 => RecvEnd::Eof,
            r if r > 0 => RecvEnd::Stopped,
            r if -r == libc::ENOBUFS => RecvEnd::Stopped,
            r if -r == libc::ECANCELED => RecvEnd::Cancelled,
            r => RecvEnd::Failed(io::Error::from_raw_os_error(-r)),
        };
        out.push(Completion::RecvStopped { token, end });
    }

    fn on_send(&mut self, index: u32, result: i32, out: &mut Vec<Completion>) {
        let Some(send) = self.sends.get_mut(index as usize).and_then(Option::as_mut) else {
            return;
        };
        let given_up = self.cancelled_sends.contains(&index);
        if result > 0 {
            send.written += result as usize;
            if send.written < send.buf.len() && !self.draining && !given_up {
                // A partial send: the socket buffer filled; send the rest.
                self.submit_send(index);
                return;
            }
        }
        let Some(send) = self.sends[index as usize].take() else {
            return;
        };
        self.free_sends.push(index);
        self.cancelled_sends.retain(|&i| i != index);
        let result = if given_up && send.written < send.buf.len() {
            Err(io::Error::from_raw_os_error(libc::ECANCELED))
        } else if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else if result == 0 && send.written < send.buf.len() {
            Err(io::Error::from(io::ErrorKind::WriteZero))
        } else {
            Ok(send.written)
        };
        out.push(Completion::Sent {
            token: send.token,
            result,
            buf: send.buf,
        });
    }
}

fn on_accept(token: Token, result: i32, more: bool, out: &mut Vec<Completion>) {
    let error = if result >= 0 {
        out.push(Completion::Accepted { token, fd: result });
        None
    } else {
        Some(io::Error::from_raw_os_error(-result))
    };
    if !more {
        out.push(Completion::AcceptStopped { token, error });
    } else if let Some(err) = error {
        tracing::debug!(%err, "accept failed; the multishot accept goes on");
    }
}

impl Driver for Uring {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn accept_multi(&mut self, listener: RawFd, token: Token) {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT | (token & TOKEN_MASK));
        self.push(entry);
    }

    fn cancel_accept(&mut self, _listener: RawFd, token: Token) {
        let entry = opcode::AsyncCancel::new(ACCEPT | (token & TOKEN_MASK))
            .build()
            .user_data(IGNORED);
        self.push(entry);
    }

    fn register_socket(&mut self, fd: RawFd) -> io::Result<()> {
        if let Target::Fixed(slot) = self.target(fd) {
            self.ring.submitter().register_files_update(slot.0, &[fd])?;
        }
        Ok(())
    }

    fn unregister_socket(&mut self, fd: RawFd) {
        if let Target::Fixed(slot) = self.target(fd) {
            if let Err(err) = self.ring.submitter().register_files_update(slot.0, &[-1]) {
                tracing::warn!(%err, fd, "io_uring: could not empty a file table slot");
            }
        }
    }

    fn recv_multi(&mut self, fd: RawFd, token: Token) {
        let entry = match self.target(fd) {
            Target::Fixed(slot) => opcode::RecvMulti::new(slot, RECV_GROUP).build(),
            Target::Fd(fd) => opcode::RecvMulti::new(fd, RECV_GROUP).build(),
        };
        self.push(entry.user_data(RECV | (token & TOKEN_MASK)));
    }

    fn cancel_recv(&mut self, _fd: RawFd, token: Token) {
        let entry = opcode::AsyncCancel::new(RECV | (token & TOKEN_MASK))
            .build()
            .user_data(IGNORED);
        self.push(entry);
    }

    fn send(&mut self, fd: RawFd, buf: ThinBuf, token: Token) {
        let send = InflightSend {
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
        self.submit_send(index);
    }

    fn cancel_send(&mut self, fd: RawFd, token: Token) {
        let token = token & TOKEN_MASK;
        let Some(index) = self
            .sends
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.fd == fd && s.token == token))
        else {
            return;
        };
        let entry = opcode::AsyncCancel::new(SEND | index as u64)
            .build()
            .user_data(IGNORED);
        self.push(entry);
        // A cancelled part-way send must not be continued.
        if let Some(send) = self.sends[index].as_mut() {
            send.written = send.buf.len().min(send.written);
            self.cancelled_sends.push(index as u32);
        }
    }

    fn tick_every(&mut self, interval: Duration, token: Token) {
        *self.tick = types::Timespec::new()
            .sec(interval.as_secs())
            .nsec(interval.subsec_nanos());
        let entry = opcode::Timeout::new(&*self.tick)
            .flags(types::TimeoutFlags::MULTISHOT)
            .build()
            .user_data(TICK | (token & TOKEN_MASK));
        self.push(entry);
    }

    fn watch_wake(&mut self, eventfd: RawFd, token: Token) {
        self.wake = Some((eventfd, token & TOKEN_MASK));
        self.arm_wake();
    }

    fn wait(&mut self, out: &mut Vec<Completion>, batch: bool) -> io::Result<()> {
        match self.batch.filter(|_| batch) {
            Some(batch) => {
                let args = types::SubmitArgs::new()
                    .min_wait_usec(batch.min_wait_us)
                    .timespec(&batch.timeout);
                let entered = self.ring.submitter().submit_with_args(batch.want, &args);
                self.collect(entered, out)
            }
            None => self.enter(1, out),
        }
    }

    fn poll(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.enter(0, out)
    }
}

impl Drop for Uring {
    /// Cancels every operation and waits (bounded) until the kernel is done with the
    /// memory it was given: in-flight send buffers are freed only after their final
    /// completion, or leaked if the kernel does not finish in time.
    fn drop(&mut self) {
        let cancel_all = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(IGNORED);
        self.push(cancel_all);
        self.draining = true;
        let deadline = std::time::Instant::now() + DRAIN_ON_DROP;
        let mut out = Vec::new();
        let step = types::Timespec::new().nsec(10_000_000);
        while self.sends_in_flight() > 0 && std::time::Instant::now() < deadline {
            let wait = types::SubmitArgs::new().timespec(&step);
            let entered = self.ring.submitter().submit_with_args(1, &wait);
            if self.collect(entered, &mut out).is_err() {
                break;
            }
            out.clear();
        }
        if self.sends_in_flight() > 0 {
            tracing::warn!(
                sends = self.sends_in_flight(),
                "io_uring dropped with sends in flight: their buffers are leaked, not freed"
            );
            for send in self.sends.drain(..).flatten() {
                std::mem::forget(send.buf);
            }
        }
    }
}

#[cfg(test)]
mod tests;
