//! Switchboard's I/O driver: the only crate of the data path with `unsafe` code.
//!
//! A shard (one thread, one CPU) owns one [`Driver`] and every socket it accepted. Two
//! drivers implement the same interface:
//!
//! - [`Uring`]: io_uring with multishot accept and recv into a provided-buffer ring,
//!   sends whose buffers the ring owns while in flight, sockets in the ring's file
//!   table, completion batching. The fast one.
//! - [`Epoll`]: readiness with `epoll`, then `recv`/`send` calls, for where io_uring
//!   is refused (Docker's and Kubernetes' default seccomp profiles, the
//!   `kernel.io_uring_disabled` sysctl, old kernels).
//!
//! Both lend receive buffers from one shard-wide pool only while a socket has data, so
//! an idle connection holds no buffer with either. [`open`] picks one:
//! [`DriverChoice::Auto`] tries io_uring and falls back to epoll when it is refused.
//!
//! The interface is sound by construction: a caller passes descriptors, tokens and
//! owned buffers, never raw completion flags or buffer ids; a received buffer is an
//! owned [`RecvBuf`] that gives itself back when dropped, and the pool refuses to lend
//! one buffer twice; a send's buffer belongs to the driver until its completion hands
//! it back. Dropping a driver cancels what is in flight and waits for the kernel to
//! let go of the memory it was given.
//!
//! ```no_run
//! use switchboard_driver::{Completion, Driver, DriverChoice, DriverConfig};
//!
//! let mut driver = switchboard_driver::open(DriverChoice::Auto, &DriverConfig::default())?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! use std::os::fd::AsRawFd as _;
//! driver.accept_multi(listener.as_raw_fd(), 1);
//! let mut completions = Vec::new();
//! driver.wait(&mut completions, false)?;
//! for completion in completions.drain(..) {
//!     if let Completion::Accepted { fd, .. } = completion {
//!         driver.recv_multi(fd, 2);
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod buffer;
#[allow(unsafe_code)]
pub mod client;
#[allow(unsafe_code)]
mod epoll;
#[allow(unsafe_code)]
pub mod os;
#[allow(unsafe_code)]
mod recv_pool;
#[allow(unsafe_code)]
mod uring;

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub use buffer::ThinBuf;
pub use epoll::Epoll;
pub use recv_pool::{RecvBuf, MAX_BUFFERS};
pub use uring::{Uring, UringConfig};

/// A caller's name for one operation, given back with its completions. Only the low 56
/// bits are kept: the drivers use the top byte for the kind of operation.
pub type Token = u64;

/// The bits of a [`Token`] a driver keeps.
pub const TOKEN_MASK: u64 = (1 << 56) - 1;

/// Something that finished; every operation ends with exactly one final completion.
#[derive(Debug)]
pub enum Completion {
    /// The listener armed with [`Driver::accept_multi`] accepted a connection. The
    /// descriptor is the caller's now (non-blocking, close-on-exec).
    Accepted {
        /// The accept's token.
        token: Token,
        /// The new connection's descriptor.
        fd: RawFd,
    },
    /// The accept stopped: cancelled, or failed (for example `EMFILE` at the descriptor
    /// limit). Nothing more is accepted until [`Driver::accept_multi`] is called again.
    AcceptStopped {
        /// The accept's token.
        token: Token,
        /// Why, when it failed.
        error: Option<io::Error>,
    },
    /// Bytes arrived on a socket armed with [`Driver::recv_multi`]. The buffer is lent:
    /// drop it (soon) to give it back.
    Received {
        /// The receive's token.
        token: Token,
        /// The bytes.
        buf: RecvBuf,
    },
    /// The receive ended; no more [`Completion::Received`] for it follow.
    RecvStopped {
        /// The receive's token.
        token: Token,
        /// Why.
        end: RecvEnd,
    },
    /// A send finished: every byte was written, or it failed.
    Sent {
        /// The send's token.
        token: Token,
        /// Bytes written in total, or the error.
        result: io::Result<usize>,
        /// The buffer, handed back for reuse.
        buf: ThinBuf,
    },
    /// The periodic tick of [`Driver::tick_every`].
    Tick {
        /// The tick's token.
        token: Token,
    },
    /// The eventfd watched with [`Driver::watch_wake`] was written.
    Woken {
        /// The watch's token.
        token: Token,
    },
}

/// Why a receive ended.
#[derive(Debug)]
pub enum RecvEnd {
    /// The peer closed its side (end of stream).
    Eof,
    /// The driver stopped receiving for a reason of its own (every receive buffer was
    /// lent out, a completion queue overflowed): arm it again to go on.
    Stopped,
    /// [`Driver::cancel_recv`] took effect.
    Cancelled,
    /// The socket failed.
    Failed(io::Error),
}

/// One shard's I/O: operations are queued by the calls below and carried out when the
/// shard next calls [`Driver::wait`] or [`Driver::poll`], which hand back completions.
/// Nothing is ever delivered from inside another call, so a shard is never re-entered.
pub trait Driver {
    /// `"io_uring"` or `"epoll"`, for logs and `/health`.
    fn name(&self) -> &'static str;
    /// Accepts connections on the listening socket until cancelled or failed.
    fn accept_multi(&mut self, listener: RawFd, token: Token);
    /// Stops the accept of `listener`; its [`Completion::AcceptStopped`] follows.
    fn cancel_accept(&mut self, listener: RawFd, token: Token);
    /// Prepares an accepted socket for this driver before any send or recv names it.
    /// An error means the socket cannot be used here (close it).
    fn register_socket(&mut self, fd: RawFd) -> io::Result<()>;
    /// Undoes [`Driver::register_socket`]; call it after the socket's receive ended
    /// and its sends completed, before closing it.
    fn unregister_socket(&mut self, fd: RawFd);
    /// Receives on the socket until the stream ends, fails or is cancelled.
    fn recv_multi(&mut self, fd: RawFd, token: Token);
    /// Stops the receive; its final [`Completion::RecvStopped`] follows.
    fn cancel_recv(&mut self, fd: RawFd, token: Token);
    /// Sends all of `buf`; completes once, as [`Completion::Sent`]. One send per
    /// socket at a time.
    fn send(&mut self, fd: RawFd, buf: ThinBuf, token: Token);
    /// Gives up the send in flight on `fd` (a peer that does not read, being dropped);
    /// its [`Completion::Sent`] follows, failed unless it finished first.
    fn cancel_send(&mut self, fd: RawFd, token: Token);
    /// Completes [`Completion::Tick`] every `interval` (one tick per driver).
    fn tick_every(&mut self, interval: Duration, token: Token);
    /// Completes [`Completion::Woken`] whenever the eventfd is written (one per driver).
    fn watch_wake(&mut self, eventfd: RawFd, token: Token);
    /// Carries out what is queued, waits for at least one completion and appends every
    /// available one to `out`. With `batch` (the shard is busy) a driver that can may
    /// wait a little longer to return several at once.
    fn wait(&mut self, out: &mut Vec<Completion>, batch: bool) -> io::Result<()>;
    /// Carries out what is queued and appends the completions already available,
    /// without waiting.
    fn poll(&mut self, out: &mut Vec<Completion>) -> io::Result<()>;
}

/// Which driver to run (`--io-driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring, or epoll when io_uring is refused.
    Auto,
    /// io_uring only: refused means the shard does not start.
    IoUring,
    /// epoll only.
    Epoll,
}

/// How a driver is sized.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    /// io_uring submission queue entries.
    pub sq_entries: u32,
    /// io_uring completion queue entries; also how many events epoll takes per wait.
    pub cq_entries: u32,
    /// Receive buffers in the shard's pool (a power of two, at most 32768).
    pub recv_buffers: u16,
    /// Size of each receive buffer.
    pub recv_buffer_size: u32,
    /// io_uring completion batching (see [`UringConfig::batch_wait_us`]).
    pub batch_wait_us: u32,
    /// Completions a batched wait asks for.
    pub batch_want: u32,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            sq_entries: 4096,
            cq_entries: 16384,
            recv_buffers: 4096,
            recv_buffer_size: 4096,
            batch_wait_us: 0,
            batch_want: 1,
        }
    }
}

impl DriverConfig {
    fn uring(&self) -> UringConfig {
        UringConfig {
            sq_entries: self.sq_entries,
            cq_entries: self.cq_entries,
            recv_buffers: self.recv_buffers,
            recv_buffer_size: self.recv_buffer_size,
            batch_wait_us: self.batch_wait_us,
            batch_want: self.batch_want,
        }
    }
}

/// A driver of either kind, chosen at run time.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per shard, never moved on the hot path: boxing would add an indirection per call"
)]
pub enum AnyDriver {
    /// io_uring.
    Uring(Uring),
    /// epoll.
    Epoll(Epoll),
}

/// Whether an io_uring setup error means "refused here" (seccomp, sysctl, no
/// io_uring in the kernel) rather than a real failure.
pub fn is_refusal(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EPERM | libc::ENOSYS | libc::EACCES)
    )
}

/// Opens the driver `choice` asks for. With [`DriverChoice::Auto`], an io_uring that
/// is refused falls back to epoll (the caller logs it once).
pub fn open(choice: DriverChoice, config: &DriverConfig) -> io::Result<AnyDriver> {
    match choice {
        DriverChoice::Epoll => Epoll::new(config).map(AnyDriver::Epoll),
        DriverChoice::IoUring => Uring::new(config.uring()).map(AnyDriver::Uring),
        DriverChoice::Auto => match Uring::new(config.uring()) {
            Ok(uring) => Ok(AnyDriver::Uring(uring)),
            Err(err) if is_refusal(&err) => Epoll::new(config).map(AnyDriver::Epoll),
            Err(err) => Err(err),
        },
    }
}

/// Whether io_uring can be set up in this process (a probe ring, dropped at once).
pub fn io_uring_available() -> Result<(), io::Error> {
    io_uring::IoUring::new(2).map(drop)
}

macro_rules! each_driver {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            AnyDriver::Uring($d) => $e,
            AnyDriver::Epoll($d) => $e,
        }
    };
}

impl Driver for AnyDriver {
    fn name(&self) -> &'static str {
        each_driver!(self, d => d.name())
    }
    fn accept_multi(&mut self, listener: RawFd, token: Token) {
        each_driver!(self, d => d.accept_multi(listener, token))
    }
    fn cancel_accept(&mut self, listener: RawFd, token: Token) {
        each_driver!(self, d => d.cancel_accept(listener, token))
    }
    fn register_socket(&mut self, fd: RawFd) -> io::Result<()> {
        each_driver!(self, d => d.register_socket(fd))
    }
    fn unregister_socket(&mut self, fd: RawFd) {
        each_driver!(self, d => d.unregister_socket(fd))
    }
    fn recv_multi(&mut self, fd: RawFd, token: Token) {
        each_driver!(self, d => d.recv_multi(fd, token))
    }
    fn cancel_recv(&mut self, fd: RawFd, token: Token) {
        each_driver!(self, d => d.cancel_recv(fd, token))
    }
    fn send(&mut self, fd: RawFd, buf: ThinBuf, token: Token) {
        each_driver!(self, d => d.send(fd, buf, token))
    }
    fn cancel_send(&mut self, fd: RawFd, token: Token) {
        each_driver!(self, d => d.cancel_send(fd, token))
    }
    fn tick_every(&mut self, interval: Duration, token: Token) {
        each_driver!(self, d => d.tick_every(interval, token))
    }
    fn watch_wake(&mut self, eventfd: RawFd, token: Token) {
        each_driver!(self, d => d.watch_wake(eventfd, token))
    }
    fn wait(&mut self, out: &mut Vec<Completion>, batch: bool) -> io::Result<()> {
        each_driver!(self, d => d.wait(out, batch))
    }
    fn poll(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        each_driver!(self, d => d.poll(out))
    }
}
