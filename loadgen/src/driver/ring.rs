//! Closed-loop echo over io_uring (`--io-uring`), on the driver crate's io_uring
//! driver (`switchboard_driver::Uring`, the one the engine's shards run): one multishot recv per connection into a
//! provided-buffer ring, and the sends of a loop turn in one submission. Per message
//! the loadgen then makes no syscall of its own (epoll makes a recv and a send), so
//! one CPU offers more load, and the server finds a turn's messages together.
//!
//! Connections are opened and upgraded over epoll as usual; the ring takes them for
//! the measured traffic and the drain, then gives them back (recvs cancelled, slots
//! emptied) for the closing handshake.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use switchboard_driver::{Completion, Driver as _, RecvBuf, RecvEnd, ThinBuf, Uring, UringConfig};

use super::{Driver, State};

/// Token of the ring's periodic tick (connection tokens are indices, far below it).
const TICK: u64 = 1 << 40;
/// How often the tick ends a wait, so deadlines are seen when no reply comes.
const TICK_EVERY: Duration = Duration::from_millis(5);
/// How long giving the connections back may wait for cancelled recvs.
const GIVE_BACK_WITHIN: Duration = Duration::from_secs(2);

/// The ring and what it tracks per connection while it holds them.
pub(super) struct EchoRing {
    uring: Uring,
    completions: Vec<Completion>,
    /// Descriptor of each connection while the ring holds it (-1: not held).
    fds: Vec<RawFd>,
    /// The multishot recv is armed.
    armed: Vec<bool>,
    /// A send is in flight (its buffer belongs to the ring).
    sending: Vec<bool>,
    /// Connections with output to send at the end of this turn.
    dirty: Vec<usize>,
    marked: Vec<bool>,
    spare: Vec<ThinBuf>,
}

impl EchoRing {
    /// A ring holding every open connection of `driver`, each with its recv armed.
    pub(super) fn take(driver: &Driver<'_>) -> io::Result<Self> {
        let n = driver.conns.len();
        let mut uring = Uring::new(UringConfig {
            sq_entries: 4096,
            cq_entries: 16384,
            recv_buffers: 4096,
            recv_buffer_size: 4096,
            batch_wait_us: 0,
            batch_want: 1,
        })?;
        uring.tick_every(TICK_EVERY, TICK);
        let mut ring = EchoRing {
            uring,
            completions: Vec::with_capacity(1024),
            fds: vec![-1; n],
            armed: vec![false; n],
            sending: vec![false; n],
            dirty: Vec::with_capacity(n),
            marked: vec![false; n],
            spare: Vec::new(),
        };
        // Every socket is registered before any recv is armed: if a registration
        // fails, the ring has read nothing and epoll carries on with every byte.
        for (i, conn) in driver.conns.iter().enumerate() {
            if conn.state == State::Open {
                ring.uring.register_socket(conn.fd)?;
                ring.fds[i] = conn.fd;
            }
        }
        for i in 0..n {
            if ring.fds[i] >= 0 {
                ring.armed[i] = true;
                ring.uring.recv_multi(ring.fds[i], i as u64);
            }
        }
        Ok(ring)
    }

    /// Marks connection `i` to be flushed at the end of the turn.
    pub(super) fn mark(&mut self, i: usize) {
        if !self.marked[i] {
            self.marked[i] = true;
            self.dirty.push(i);
        }
    }

    /// Stops using connection `i` (it was dropped): cancels its recv, empties its slot.
    fn release(&mut self, i: usize) {
        let fd = std::mem::replace(&mut self.fds[i], -1);
        if fd < 0 {
            return;
        }
        if self.armed[i] {
            self.uring.cancel_recv(fd, i as u64);
        }
        self.uring.unregister_socket(fd);
    }
}

impl Driver<'_> {
    /// Runs the closed loop on `ring` until `until`, or with `drain` until nothing is
    /// outstanding either.
    pub(super) fn ring_turns(&mut self, ring: &mut EchoRing, until: Instant, drain: bool) {
        loop {
            if Instant::now() >= until {
                return;
            }
            if drain
                && (self.outstanding == 0 || !self.conns.iter().any(|c| c.state == State::Open))
            {
                return;
            }
            if let Err(err) = self.ring_turn(ring) {
                self.tally.note_error(format!("io_uring wait: {err}"));
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// One loop turn: the marked connections' output goes out, then the completions
    /// that arrive are handled.
    fn ring_turn(&mut self, ring: &mut EchoRing) -> io::Result<()> {
        self.ring_flush(ring);
        let mut completions = std::mem::take(&mut ring.completions);
        completions.clear();
        let waited = ring.uring.wait(&mut completions, false);
        let now = Instant::now();
        for completion in completions.drain(..) {
            self.ring_completion(ring, completion, now);
        }
        ring.completions = completions;
        waited
    }

    fn ring_completion(&mut self, ring: &mut EchoRing, completion: Completion, now: Instant) {
        match completion {
            Completion::Received { token, buf } => {
                self.ring_received(ring, token as usize, buf, now)
            }
            Completion::RecvStopped { token, end } => self.ring_stopped(ring, token as usize, end),
            Completion::Sent { token, result, buf } => {
                let i = token as usize;
                ring.sending[i] = false;
                ring.spare.push(buf);
                match result {
                    Err(err) if self.conns[i].state == State::Open => {
                        self.drop_conn(i, &format!("send: {err}"));
                        ring.release(i);
                    }
                    _ => ring.mark(i),
                }
            }
            // The tick only ends waits (deadlines are checked each turn); nothing is
            // accepted or woken on this ring.
            Completion::Tick { .. }
            | Completion::Accepted { .. }
            | Completion::AcceptStopped { .. }
            | Completion::Woken { .. } => {}
        }
    }

    fn ring_received(&mut self, ring: &mut EchoRing, i: usize, buf: RecvBuf, now: Instant) {
        let n = self.take_received(buf);
        if self.conns[i].state == State::Open {
            if self.process(i, n, now) {
                ring.mark(i);
            } else {
                ring.release(i);
            }
        }
    }

    fn ring_stopped(&mut self, ring: &mut EchoRing, i: usize, end: RecvEnd) {
        ring.armed[i] = false;
        if self.conns[i].state != State::Open {
            return;
        }
        match end {
            // Cancelled by `give_back`: epoll takes the connection back.
            RecvEnd::Cancelled => {}
            RecvEnd::Eof => {
                self.drop_conn(i, "server closed the connection");
                ring.release(i);
            }
            RecvEnd::Failed(err) => {
                self.drop_conn(i, &format!("recv: {err}"));
                ring.release(i);
            }
            RecvEnd::Stopped => {
                // The multishot recv stopped (buffers ran out): arm it again.
                ring.armed[i] = true;
                ring.uring.recv_multi(ring.fds[i], i as u64);
            }
        }
    }

    /// Copies a recv completion's bytes into the thread's read buffer (the ring buffer
    /// goes back when `buf` is dropped); the number of bytes.
    fn take_received(&mut self, mut buf: RecvBuf) -> usize {
        let bytes = buf.bytes_mut();
        let n = bytes.len();
        self.buf[..n].copy_from_slice(bytes);
        n
    }

    /// Hands every marked connection's output to the ring, one send per connection.
    fn ring_flush(&mut self, ring: &mut EchoRing) {
        let mut dirty = std::mem::take(&mut ring.dirty);
        for &i in &dirty {
            ring.marked[i] = false;
            let io = &mut self.conns[i].io;
            if ring.sending[i] || ring.fds[i] < 0 || io.out_pos >= io.out.len() {
                continue;
            }
            let mut buf = ring.spare.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(&io.out[io.out_pos..]);
            io.out.clear();
            io.out_pos = 0;
            ring.sending[i] = true;
            ring.uring.send(ring.fds[i], buf, i as u64);
        }
        dirty.clear();
        ring.dirty = dirty;
    }

    /// Cancels every recv, waits for the ring to let go of every connection (bytes
    /// that raced the cancel are accounted as usual), and empties the slots, so epoll
    /// can take the connections back.
    pub(super) fn give_back(&mut self, mut ring: EchoRing) {
        for i in 0..ring.fds.len() {
            if ring.armed[i] {
                ring.uring.cancel_recv(ring.fds[i], i as u64);
            }
        }
        let deadline = Instant::now() + GIVE_BACK_WITHIN;
        while ring.armed.iter().chain(&ring.sending).any(|&busy| busy) {
            if Instant::now() >= deadline {
                self.tally.note_error(
                    "io_uring: operations still pending when the ring let go".to_owned(),
                );
                break;
            }
            if self.ring_turn(&mut ring).is_err() {
                break;
            }
        }
        for i in 0..ring.fds.len() {
            let fd = std::mem::replace(&mut ring.fds[i], -1);
            if fd >= 0 {
                ring.uring.unregister_socket(fd);
            }
        }
    }
}
