//! A shard's io_uring: multishot accept and recv into a provided-buffer ring, sends
//! whose buffers the ring owns while they are in flight, a periodic tick and a wake-up
//! read. Every operation that hands memory to the kernel lives here, so the rest of
//! the engine never needs `unsafe` to do I/O.

use crate::buffer::ThinBuf;
use std::io;
use std::os::fd::RawFd;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::buf_ring::{BufRing, RecvBuf};

/// User data reserved for the ring's own send operations (top byte).
const SEND_KIND: u64 = 0xFF << 56;
/// User data of operations whose completion nobody waits for (cancels).
const IGNORED: u64 = 0xFE << 56;

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
    /// Completion batching when the shard blocks: wait up to this many microseconds
    /// for `batch_want` completions, then return as soon as there is one (0: off,
    /// return at the first completion).
    pub batch_wait_us: u32,
    /// Completions a blocking wait asks for while `batch_wait_us` runs.
    pub batch_want: u32,
}

/// A completion the shard must handle.
#[derive(Debug)]
pub enum Completion {
    /// An operation submitted with a shard token.
    Op {
        /// The token the shard gave the operation.
        token: u64,
        /// The raw result (negative errno on failure).
        result: i32,
        /// The completion flags (more, buffer id).
        flags: u32,
    },
    /// A send finished: every byte was written, or it failed.
    Sent {
        /// The token the shard gave the send.
        token: u64,
        /// Bytes written in total, or the error.
        result: io::Result<usize>,
        /// The buffer, handed back for reuse.
        buf: ThinBuf,
    },
}

/// A send the kernel is working on; the ring keeps the buffer alive until it is done.
#[derive(Debug)]
struct InflightSend {
    fd: RawFd,
    token: u64,
    buf: ThinBuf,
    written: usize,
}

/// The io_uring of one shard (used by that shard's thread only).
pub struct Uring {
    ring: IoUring,
    recv_buffers: BufRing,
    sends: Vec<Option<InflightSend>>,
    free_sends: Vec<u32>,
    tick: Box<types::Timespec>,
    wake_buf: Box<u64>,
    completions: Vec<cqueue::Entry>,
    /// Batched blocking waits, when asked for and the kernel supports them.
    batch: Option<BatchWait>,
    /// Length of the ring's file table: a socket whose fd is below it is registered
    /// there under its own number (0: no table, plain descriptors everywhere).
    fixed_files: u32,
}

/// Largest file table a ring asks for (8 bytes a slot: 2 MiB). Descriptors above it
/// keep working as plain descriptors.
const MAX_FIXED_FILES: u32 = 1 << 18;

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
            .field(
                "sends_in_flight",
                &(self.sends.len() - self.free_sends.len()),
            )
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
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the rlimit we pass.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let wanted = if got == 0 {
        u32::try_from(limit.rlim_cur)
            .unwrap_or(MAX_FIXED_FILES)
            .min(MAX_FIXED_FILES)
    } else {
        0
    };
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

impl Uring {
    /// Creates the ring with the flags measured best for a single-threaded shard
    /// (docs/design.md), falling back to plain flags on an older kernel.
    pub fn new(config: UringConfig) -> io::Result<Self> {
        let ring = match IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun()
            .setup_cqsize(config.cq_entries)
            .build(config.sq_entries)
        {
            Ok(ring) => ring,
            Err(err) => {
                // Kernels before 6.1 lack DEFER_TASKRUN: plain flags still work.
                tracing::warn!(%err, "io_uring without SINGLE_ISSUER/DEFER_TASKRUN (older kernel?)");
                IoUring::builder()
                    .setup_cqsize(config.cq_entries)
                    .build(config.sq_entries)?
            }
        };

        let batch = if config.batch_wait_us == 0 || config.batch_want <= 1 {
            None
        } else if ring.params().is_feature_min_timeout() {
            Some(BatchWait {
                want: config.batch_want as usize,
                min_wait_us: config.batch_wait_us,
                timeout: types::Timespec::new().sec(BATCH_WAIT_TIMEOUT_SECS),
            })
        } else {
            if !MIN_WAIT_MISSING_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    batch_wait_us = config.batch_wait_us,
                    "the kernel lacks io_uring min-wait (IORING_FEAT_MIN_TIMEOUT, Linux 6.12): \
                     --batch-wait-us is ignored, shards wake at every completion"
                );
            }
            None
        };

        let recv_buffers = BufRing::new(
            &ring,
            RECV_GROUP,
            config.recv_buffers,
            config.recv_buffer_size,
        )?;
        let fixed_files = register_file_table(&ring);
        Ok(Uring {
            ring,
            recv_buffers,
            sends: Vec::new(),
            free_sends: Vec::new(),
            tick: Box::new(types::Timespec::new()),
            wake_buf: Box::new(0),
            completions: Vec::with_capacity(config.cq_entries as usize),
            batch,
            fixed_files,
        })
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

    /// Registers the socket `fd` in the file table before any send or recv names it.
    /// An error means the socket cannot be used with this ring (close it).
    pub fn register_socket(&mut self, fd: RawFd) -> io::Result<()> {
        if let Target::Fixed(slot) = self.target(fd) {
            self.ring.submitter().register_files_update(slot.0, &[fd])?;
        }
        Ok(())
    }

    /// Empties the socket's slot; call it before closing `fd` (the slot holds its own
    /// reference to the socket, and the number is reused by the next accept).
    pub fn unregister_socket(&mut self, fd: RawFd) {
        if let Target::Fixed(slot) = self.target(fd) {
            if let Err(err) = self.ring.submitter().register_files_update(slot.0, &[-1]) {
                tracing::warn!(%err, fd, "io_uring: could not empty a file table slot");
            }
        }
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry built in this module points only at memory the ring
            // owns (buffer ring, in-flight send buffers, boxed timespec and wake
            // buffer), which stays valid until the operation's final completion.
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

    /// Accepts connections on `listener` until cancelled (one completion each).
    pub fn accept_multi(&mut self, listener: RawFd, token: u64) {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(token);
        self.push(entry);
    }

    /// Receives on the registered socket `fd` into the provided buffers until the
    /// stream ends or fails.
    pub fn recv_multi(&mut self, fd: RawFd, token: u64) {
        let entry = match self.target(fd) {
            Target::Fixed(slot) => opcode::RecvMulti::new(slot, RECV_GROUP).build(),
            Target::Fd(fd) => opcode::RecvMulti::new(fd, RECV_GROUP).build(),
        };
        self.push(entry.user_data(token));
    }

    /// The received bytes of a recv completion, if it carried any.
    pub fn recv_buffer(&mut self, result: i32, flags: u32) -> Option<RecvBuf> {
        let id = cqueue::buffer_select(flags)?;
        let len = usize::try_from(result).unwrap_or(0);
        Some(self.recv_buffers.take(id, len))
    }

    /// Gives a receive buffer back to the kernel.
    pub fn recycle(&mut self, buf: RecvBuf) {
        self.recv_buffers.give_back(buf);
    }

    /// Cancels every operation whose user data is `token`; its final completion
    /// still arrives (with `-ECANCELED`).
    pub fn cancel(&mut self, token: u64) {
        let entry = opcode::AsyncCancel::new(token).build().user_data(IGNORED);
        self.push(entry);
    }

    /// Sends all of `buf` on the registered socket `fd`; completes once as
    /// [`Completion::Sent`].
    pub fn send(&mut self, fd: RawFd, buf: ThinBuf, token: u64) {
        let send = InflightSend {
            fd,
            token,
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
        .user_data(SEND_KIND | u64::from(index));
        self.push(entry);
    }

    /// Fires [`Completion::Op`] with `token` every `interval` until the ring is dropped.
    pub fn tick_every(&mut self, interval: std::time::Duration, token: u64) {
        *self.tick = types::Timespec::new()
            .sec(interval.as_secs())
            .nsec(interval.subsec_nanos());
        let entry = opcode::Timeout::new(&*self.tick)
            .flags(types::TimeoutFlags::MULTISHOT)
            .build()
            .user_data(token);
        self.push(entry);
    }

    /// Reads the shard's wake-up eventfd once; re-arm after each completion.
    pub fn read_wake(&mut self, eventfd: RawFd, token: u64) {
        let entry = opcode::Read::new(
            types::Fd(eventfd),
            (&mut *self.wake_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(token);
        self.push(entry);
    }

    /// Submits what is queued, waits for at least one completion, and appends every
    /// available completion to `out`. With batching on (`batch_wait_us`), the wait
    /// lasts up to that long for `batch_want` completions, then ends at the first one.
    #[cfg(test)]
    pub fn wait(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.wait_batching(out, true)
    }

    /// Waits as [`Uring::wait`] does, batching only when `batch` (the shard is busy)
    /// and batching is configured.
    pub fn wait_batching(&mut self, out: &mut Vec<Completion>, batch: bool) -> io::Result<()> {
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

    /// Submits what is queued and appends the completions already available, without
    /// waiting (there is work at hand that arrived by another path).
    pub fn poll(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.enter(0, out)
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
        self.completions.clear();
        self.completions.extend(self.ring.completion());
        for index in 0..self.completions.len() {
            let entry = self.completions[index].clone();
            self.dispatch(entry, out);
        }
        Ok(())
    }

    fn dispatch(&mut self, entry: cqueue::Entry, out: &mut Vec<Completion>) {
        let token = entry.user_data();
        if token == IGNORED {
            return;
        }
        if token & (0xFF << 56) != SEND_KIND {
            out.push(Completion::Op {
                token,
                result: entry.result(),
                flags: entry.flags(),
            });
            return;
        }
        let index = (token & 0xFFFF_FFFF) as u32;
        let Some(send) = self.sends[index as usize].as_mut() else {
            return;
        };
        let result = entry.result();
        if result > 0 {
            send.written += result as usize;
            if send.written < send.buf.len() {
                // A partial send: the socket buffer filled; send the rest.
                self.submit_send(index);
                return;
            }
        }
        let Some(send) = self.sends[index as usize].take() else {
            return;
        };
        self.free_sends.push(index);
        let result = if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else if result == 0 && !send.buf.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::EventFd;
    use std::time::{Duration, Instant};

    fn ring(batch_wait_us: u32) -> Uring {
        Uring::new(UringConfig {
            sq_entries: 64,
            cq_entries: 256,
            recv_buffers: 16,
            recv_buffer_size: 4096,
            batch_wait_us,
            batch_want: 32,
        })
        .expect("io_uring")
    }

    /// Waits until a completion with `token` arrives; returns the waits that ended
    /// without any completion.
    fn wait_for(uring: &mut Uring, token: u64) -> usize {
        let mut empty = 0;
        let mut out = Vec::new();
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < Duration::from_secs(5), "no completion");
            out.clear();
            uring.wait(&mut out).expect("wait");
            if out.is_empty() {
                empty += 1;
            }
            if out
                .iter()
                .any(|c| matches!(c, Completion::Op { token: t, .. } if *t == token))
            {
                return empty;
            }
        }
    }

    /// A socket registered in the file table sends and receives through its slot,
    /// and unregistering it before `close` really closes it (the peer sees the end).
    #[test]
    fn a_registered_socket_sends_receives_and_closes() {
        use std::io::{Read, Write};
        use std::os::fd::IntoRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let fd = listener.accept().expect("accept").0.into_raw_fd();
        let mut uring = ring(0);
        assert!(uring.fixed_files > 0, "the kernel refused the file table");
        assert!(matches!(uring.target(fd), Target::Fixed(_)));
        uring.register_socket(fd).expect("register");

        uring.recv_multi(fd, 7);
        peer.write_all(b"ping").expect("write");
        let mut out = Vec::new();
        let started = Instant::now();
        let received = loop {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no recv completion"
            );
            uring.wait(&mut out).expect("wait");
            let hit = out.iter().find_map(|c| match c {
                Completion::Op {
                    token: 7,
                    result,
                    flags,
                } => Some((*result, *flags)),
                _ => None,
            });
            if let Some((result, flags)) = hit {
                let buf = uring.recv_buffer(result, flags).expect("a buffer");
                let mut buf = buf;
                let bytes = buf.bytes_mut().to_vec();
                uring.recycle(buf);
                break bytes;
            }
            out.clear();
        };
        assert_eq!(received, b"ping");

        let mut reply = ThinBuf::default();
        reply.extend_from_slice(b"pong");
        uring.send(fd, reply, 8);
        out.clear();
        while !out
            .iter()
            .any(|c| matches!(c, Completion::Sent { token: 8, .. }))
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no send completion"
            );
            uring.wait(&mut out).expect("wait");
        }
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"pong");

        // As the shard does: cancel the recv, wait for its final completion, then
        // empty the slot and close.
        uring.cancel(7);
        out.clear();
        while !out
            .iter()
            .any(|c| matches!(c, Completion::Op { token: 7, flags, .. } if !cqueue::more(*flags)))
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "recv not cancelled"
            );
            uring.wait(&mut out).expect("wait");
        }
        uring.unregister_socket(fd);
        crate::sys::close(fd);
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest)
            .expect("the peer sees the end of the stream");
        assert!(rest.is_empty());
    }

    #[test]
    fn a_batched_wait_on_an_idle_ring_sleeps_until_the_first_event() {
        // Without an overall timeout the kernel would end every wait after the
        // min-wait, empty: an idle shard would spin every 100 µs.
        let mut uring = ring(100);
        uring.tick_every(Duration::from_millis(50), 7);
        let started = Instant::now();
        let empty = wait_for(&mut uring, 7);
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert!(empty <= 2, "{empty} empty wake-ups while idle");
    }

    #[test]
    fn a_batched_wait_wakes_for_an_eventfd_write() {
        let mut uring = ring(200);
        let eventfd = EventFd::new().expect("eventfd");
        uring.read_wake(eventfd.raw(), 9);
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                eventfd.notify();
            });
            wait_for(&mut uring, 9);
        });
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(19), "{took:?}");
        // 20 ms + at most the 200 µs min-wait, with room for a loaded test machine.
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
}
