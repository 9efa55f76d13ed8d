//! One event-loop thread: its share of the connections, opened and driven over
//! non-blocking sockets with edge-triggered epoll.
//!
//! Nothing is allocated per message: each connection owns an outbound buffer that
//! keeps its capacity, replies are read into one thread-wide 64 KiB buffer and framed
//! by `switchboard_protocol::ws::Reader`, which hands out payloads in place.

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use switchboard_protocol::ws::{
    encode_close, encode_frame, DataKind, Event, Limits, Opcode, Reader, Role,
};

use crate::handshake::{
    check_upgrade_response, find_head_end, write_request, write_upgrade_request,
};
use crate::job::{EchoPlan, Job, Scenario};
use crate::payload;
use crate::report::{new_histogram, Tally, MAX_LATENCY_NS};
use switchboard_driver::client::{self as sys, Epoll};

mod ring;

/// Size of the thread-wide receive buffer.
const READ_BUFFER: usize = 64 * 1024;
/// Largest HTTP response head accepted during the upgrade.
const MAX_HEAD: usize = 16 * 1024;
/// Gaps remembered per connection to tell a late reply from a duplicate.
const MAX_GAPS: u64 = 4096;

/// The process-wide clock origin of every timestamp put in a payload.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Connecting,
    Handshaking,
    Open,
    Closed,
}

/// One client connection.
#[derive(Debug)]
struct Conn {
    fd: RawFd,
    /// Global connection index: picks the source IP and tags every payload.
    id: u32,
    state: State,
    reader: Reader,
    io: ConnIo,
}

/// The parts of a connection the reader's callback touches.
#[derive(Debug, Default)]
struct ConnIo {
    out: Vec<u8>,
    out_pos: usize,
    mask: [u8; 4],
    /// `Sec-WebSocket-Key` until the upgrade completes.
    key: String,
    /// Response head until the upgrade completes.
    head: Vec<u8>,
    next_send: u64,
    next_recv: u64,
    unique: u64,
    gaps: Vec<u64>,
    /// chat-idle: the `welcome` arrived.
    welcomed: bool,
    /// A ping arrived (and was answered).
    pinged: bool,
}

/// What the thread is doing with replies right now.
#[derive(Debug, Clone, Copy)]
struct Traffic {
    size: usize,
    /// Closed loop: send the next message when a reply arrives.
    refill: bool,
    /// Replies received in `[start, end)` are measured.
    window_start: Instant,
    window_end: Instant,
}

/// An event loop over a share of the connections.
pub struct Driver<'a> {
    job: &'a Job,
    epoll: Epoll,
    conns: Vec<Conn>,
    events: Vec<libc::epoll_event>,
    buf: Box<[u8]>,
    scratch: Vec<u8>,
    limits: Limits,
    histogram: Histogram<u64>,
    tally: Tally,
    /// chat-idle: decodes the `welcome` frames.
    decoder: switchboard_protocol::chat::Decoder,
    /// Connections connecting or upgrading.
    in_setup: usize,
    /// Messages sent and not yet answered, on every connection.
    outstanding: u64,
    traffic: Option<Traffic>,
    /// Set while closing everything: closes are then expected.
    closing: bool,
    /// Connections whose replies wait for the end of the current readiness batch.
    flush_after_batch: Vec<usize>,
    /// Whether sends wait for the end of each readiness batch (echo traffic). Frames
    /// are only read while `poll` handles a batch, which flushes these at its end.
    flush_per_batch: bool,
}

impl std::fmt::Debug for Driver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("connections", &self.conns.len())
            .field("in_setup", &self.in_setup)
            .field("outstanding", &self.outstanding)
            .field("tally", &self.tally)
            .finish_non_exhaustive()
    }
}

impl<'a> Driver<'a> {
    /// A driver for connections `first..first + count` (global indices) of `job`.
    pub fn new(job: &'a Job, first: u64, count: u64) -> io::Result<Self> {
        let conns = (first..first + count)
            .map(|id| Conn {
                fd: -1,
                id: id as u32,
                state: State::NotStarted,
                reader: Reader::default(),
                io: ConnIo::default(),
            })
            .collect();
        Ok(Self {
            job,
            epoll: Epoll::new()?,
            conns,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            scratch: Vec::new(),
            limits: Limits {
                max_frame: 1 << 24,
                max_message: 1 << 24,
                role: Role::Client,
            },
            histogram: new_histogram(),
            tally: Tally::default(),
            decoder: Default::default(),
            in_setup: 0,
            outstanding: 0,
            traffic: None,
            closing: false,
            flush_after_batch: Vec::new(),
            flush_per_batch: false,
        })
    }

    /// Opens every connection (bounded concurrency) until all are open or failed, or
    /// the job's connect timeout passes.
    pub fn connect_all(&mut self) {
        let started = Instant::now();
        let deadline = started + self.job.connect_timeout;
        let mut next = 0;
        loop {
            while self.in_setup < self.job.connect_concurrency.max(1) && next < self.conns.len() {
                self.start_connect(next);
                next += 1;
            }
            if next == self.conns.len() && self.in_setup == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for i in 0..self.conns.len() {
                    if matches!(
                        self.conns[i].state,
                        State::NotStarted | State::Connecting | State::Handshaking
                    ) {
                        self.drop_conn(i, "connect timeout");
                    }
                }
                break;
            }
            self.poll(Some((deadline - now).min(Duration::from_millis(50))));
        }
        if matches!(self.job.scenario, Scenario::ChatIdle(_)) {
            self.await_welcomes(deadline);
        }
        self.tally.connect_seconds = started.elapsed().as_secs_f64();
    }

    /// chat-idle: polls until every open connection has its `welcome` or `deadline`.
    fn await_welcomes(&mut self, deadline: Instant) {
        let waiting = |d: &Self| {
            d.conns
                .iter()
                .any(|c| c.state == State::Open && !c.io.welcomed)
        };
        while waiting(self) {
            let now = Instant::now();
            if now >= deadline {
                self.tally
                    .note_error("connect timeout: some welcomes never came".into());
                return;
            }
            self.poll(Some((deadline - now).min(Duration::from_millis(50))));
        }
    }

    /// Connections open and failed so far.
    pub fn connected(&self) -> (u64, u64) {
        (self.tally.connections_ok, self.tally.connections_failed)
    }

    fn start_connect(&mut self, i: usize) {
        match self.try_start_connect(i) {
            Ok(()) => self.in_setup += 1,
            Err(err) => {
                self.conns[i].state = State::Connecting;
                self.in_setup += 1;
                self.drop_conn(i, &format!("connect: {err}"));
            }
        }
    }

    fn try_start_connect(&mut self, i: usize) -> io::Result<()> {
        let fd = sys::tcp_socket()?;
        let conn = &mut self.conns[i];
        conn.fd = fd;
        conn.state = State::Connecting;
        if !self.job.source_ips.is_empty() {
            let ip = self.job.source_ips[conn.id as usize % self.job.source_ips.len()];
            sys::bind_source(fd, ip)?;
        }
        self.epoll.add(fd, i as u64)?;
        sys::connect(fd, self.job.target.addr)
    }

    /// Waits for readiness up to `timeout` and handles what is ready.
    fn poll(&mut self, timeout: Option<Duration>) {
        let n = match self.epoll.wait(&mut self.events, timeout) {
            Ok(n) => n,
            Err(err) => {
                self.tally.note_error(format!("epoll_wait: {err}"));
                std::thread::sleep(Duration::from_millis(1));
                return;
            }
        };
        for k in 0..n {
            let event = self.events[k];
            self.handle(event.u64 as usize, event.events);
        }
        // With `flush_per_batch` the sends waited until every ready socket was read,
        // so they leave in one burst and the server finds them together.
        let mut pending = std::mem::take(&mut self.flush_after_batch);
        for &i in &pending {
            if self.conns[i].state != State::Closed {
                self.flush(i);
            }
        }
        pending.clear();
        self.flush_after_batch = pending;
    }

    fn handle(&mut self, i: usize, events: u32) {
        let readable = events
            & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
            != 0;
        let writable = events & libc::EPOLLOUT as u32 != 0;
        match self.conns[i].state {
            State::Connecting => {
                if !writable && !readable {
                    return;
                }
                if let Err(err) = sys::take_socket_error(self.conns[i].fd) {
                    self.drop_conn(i, &format!("connect: {err}"));
                    return;
                }
                self.send_upgrade_request(i);
            }
            State::Handshaking => {
                if readable {
                    self.read_handshake(i);
                } else if writable {
                    self.flush(i);
                }
            }
            State::Open => {
                if writable {
                    self.flush(i);
                }
                if readable && self.conns[i].state == State::Open {
                    self.read_frames(i);
                }
            }
            State::NotStarted | State::Closed => {}
        }
    }

    fn send_upgrade_request(&mut self, i: usize) {
        let mut raw = [0u8; 20];
        sys::fill_random(&mut raw);
        let conn = &mut self.conns[i];
        conn.io.key = base64::engine::general_purpose::STANDARD.encode(&raw[..16]);
        conn.io.mask = [raw[16], raw[17], raw[18], raw[19]];
        let target = &self.job.target;
        match &self.job.scenario {
            Scenario::ChatIdle(plan) => write_request(
                &mut conn.io.out,
                &target.host,
                &plan.path(&target.path, conn.id),
                &conn.io.key,
                Some(plan.encoding.subprotocol()),
            ),
            _ => write_upgrade_request(&mut conn.io.out, target, &conn.io.key),
        }
        conn.state = State::Handshaking;
        self.flush(i);
    }

    fn read_handshake(&mut self, i: usize) {
        loop {
            let fd = self.conns[i].fd;
            match sys::recv(fd, &mut self.buf) {
                Ok(0) => return self.drop_conn(i, "server closed during the upgrade"),
                Ok(n) => {
                    let head = &mut self.conns[i].io.head;
                    head.extend_from_slice(&self.buf[..n]);
                    if let Some(end) = find_head_end(head) {
                        return self.finish_handshake(i, end);
                    }
                    if head.len() > MAX_HEAD {
                        return self.drop_conn(i, "upgrade response head too large");
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("upgrade: {err}")),
            }
        }
    }

    fn finish_handshake(&mut self, i: usize, head_end: usize) {
        let io = &mut self.conns[i].io;
        if let Err(reason) = check_upgrade_response(&io.head[..head_end], &io.key) {
            return self.drop_conn(i, &reason);
        }
        let head = std::mem::take(&mut io.head);
        io.key = String::new();
        self.conns[i].state = State::Open;
        self.in_setup -= 1;
        self.tally.connections_ok += 1;
        // Frames that came with the 101, in pieces the size of the read buffer.
        let now = Instant::now();
        for piece in head[head_end..].chunks(READ_BUFFER) {
            self.buf[..piece.len()].copy_from_slice(piece);
            if !self.process(i, piece.len(), now) {
                return;
            }
        }
        // The socket may hold more than the last read took (edge-triggered: no new edge).
        self.read_frames(i);
    }

    fn read_frames(&mut self, i: usize) {
        loop {
            let fd = self.conns[i].fd;
            match sys::recv(fd, &mut self.buf) {
                Ok(0) => return self.drop_conn(i, "server closed the connection"),
                Ok(n) => {
                    if !self.process(i, n, Instant::now()) {
                        return;
                    }
                    // A short read drained the socket; new data raises a new edge.
                    if n < self.buf.len() {
                        break;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("recv: {err}")),
            }
        }
        if self.flush_per_batch {
            self.flush_after_batch.push(i);
        } else {
            self.flush(i);
        }
    }

    /// Handles `self.buf[..n]` received on connection `i`; false if it was closed.
    fn process(&mut self, i: usize, n: usize, now: Instant) -> bool {
        let chat_idle = match &self.job.scenario {
            Scenario::ChatIdle(plan) => Some(plan),
            _ => None,
        };
        let Driver {
            conns,
            buf,
            scratch,
            limits,
            histogram,
            tally,
            decoder,
            outstanding,
            traffic,
            ..
        } = self;
        let Conn { reader, io, id, .. } = &mut conns[i];
        let id = *id;
        let now_ns = nanos_since_epoch(now);
        let traffic = *traffic;
        let measuring = traffic.is_some_and(|t| now >= t.window_start && now < t.window_end);
        let mut close = None;
        let result = reader.feed(&mut buf[..n], limits, &mut |event| {
            match event {
                Event::Message { payload, .. } if chat_idle.is_some() => {
                    if let Some(plan) = chat_idle {
                        book_chat_frame(plan, decoder, io, tally, id, payload);
                    }
                }
                Event::Message {
                    kind: DataKind::Binary,
                    payload,
                } => {
                    tally.received += 1;
                    let Some(t) = traffic else {
                        tally.corrupt += 1;
                        return true;
                    };
                    let Some(stamp) = payload::check(payload, id, t.size) else {
                        tally.corrupt += 1;
                        return true;
                    };
                    if !account_reply(io, tally, stamp.seq) {
                        return true;
                    }
                    *outstanding -= 1;
                    if measuring {
                        tally.measured += 1;
                        let latency = now_ns
                            .saturating_sub(stamp.sent_ns)
                            .clamp(1, MAX_LATENCY_NS);
                        histogram.saturating_record(latency);
                    }
                    if t.refill {
                        queue_message(io, scratch, tally, outstanding, id, t.size, now_ns);
                    }
                }
                Event::Message {
                    kind: DataKind::Text,
                    ..
                } => {
                    tally.received += 1;
                    tally.corrupt += 1;
                }
                Event::Ping(data) => {
                    tally.pings += 1;
                    io.pinged = true;
                    encode_frame(&mut io.out, Opcode::Pong, data, Some(io.mask));
                }
                Event::Pong(_) => {}
                Event::Close(frame) => {
                    close = Some(
                        frame.map_or_else(|| "no code".to_owned(), |(c, r)| format!("{c} {r}")),
                    );
                    return false;
                }
            }
            true
        });
        match (result, close) {
            (Err(err), _) => {
                self.drop_conn(i, &format!("protocol error from server: {err}"));
                false
            }
            (Ok(_), Some(reason)) => {
                self.drop_conn(i, &format!("server sent close: {reason}"));
                false
            }
            (Ok(_), None) => true,
        }
    }

    /// Writes what connection `i` has queued, as far as the socket takes it.
    fn flush(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        while conn.io.out_pos < conn.io.out.len() {
            match sys::send(conn.fd, &conn.io.out[conn.io.out_pos..]) {
                Ok(n) => conn.io.out_pos += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("send: {err}")),
            }
        }
        conn.io.out.clear();
        conn.io.out_pos = 0;
    }

    /// Closes connection `i` and counts why.
    fn drop_conn(&mut self, i: usize, reason: &str) {
        let conn = &mut self.conns[i];
        match conn.state {
            State::NotStarted | State::Connecting | State::Handshaking => {
                self.tally.connections_failed += 1;
                self.in_setup = self
                    .in_setup
                    .saturating_sub(usize::from(conn.state != State::NotStarted));
            }
            State::Open if !self.closing => self.tally.closed_early += 1,
            State::Open | State::Closed => {}
        }
        if conn.state != State::Closed && !self.closing {
            self.tally
                .note_error(format!("connection {}: {reason}", conn.id));
        }
        if conn.fd >= 0 {
            sys::close(conn.fd);
            conn.fd = -1;
        }
        conn.state = State::Closed;
        conn.io.head = Vec::new();
    }

    /// Runs echo traffic from `go` until the measured window ends, then waits for the
    /// last replies.
    pub fn run_echo(&mut self, plan: &EchoPlan, go: Instant) {
        let window_start = go + plan.warmup;
        let window_end = window_start + plan.duration;
        self.scratch = vec![0u8; plan.size];
        self.flush_per_batch = !plan.flush_each_read;
        self.traffic = Some(Traffic {
            size: plan.size,
            refill: plan.rate.is_none(),
            window_start,
            window_end,
        });
        if plan.rate.is_none() {
            let now_ns = nanos_since_epoch(Instant::now());
            for i in 0..self.conns.len() {
                if self.conns[i].state != State::Open {
                    continue;
                }
                for _ in 0..plan.inflight.max(1) {
                    self.queue(i, now_ns);
                }
                self.flush(i);
            }
        }
        if plan.io_uring && plan.rate.is_none() {
            match ring::EchoRing::take(self) {
                Ok(mut ring) => {
                    self.ring_turns(&mut ring, window_end, false);
                    if let Some(t) = self.traffic.as_mut() {
                        t.refill = false;
                    }
                    self.ring_turns(&mut ring, Instant::now() + plan.drain, true);
                    self.give_back(ring);
                    self.count_lost();
                    return;
                }
                Err(err) => self
                    .tally
                    .note_error(format!("io_uring (falling back to epoll): {err}")),
            }
        }
        let mut open_loop = plan.rate.filter(|r| *r > 0.0).map(|rate| OpenLoop {
            rate,
            sent: 0,
            cursor: 0,
        });
        loop {
            let now = Instant::now();
            if now >= window_end {
                break;
            }
            let mut timeout = window_end - now;
            if let Some(ol) = open_loop.as_mut() {
                if !self.send_due(ol, go, now) {
                    break;
                }
                timeout = timeout.min(ol.next_due(go).saturating_duration_since(Instant::now()));
            }
            self.poll(Some(timeout));
        }
        if let Some(t) = self.traffic.as_mut() {
            t.refill = false;
        }
        let drain_end = Instant::now() + plan.drain;
        while self.outstanding > 0 && self.conns.iter().any(|c| c.state == State::Open) {
            let now = Instant::now();
            if now >= drain_end {
                break;
            }
            self.poll(Some(drain_end - now));
        }
        self.count_lost();
    }

    /// Counts the messages sent and never answered.
    fn count_lost(&mut self) {
        for conn in &self.conns {
            self.tally.lost += conn.io.next_send - conn.io.unique;
        }
    }

    /// Open loop: sends every message due by `now`, each stamped with the time it was
    /// due, round-robin over open connections. False if no connection is left.
    fn send_due(&mut self, ol: &mut OpenLoop, go: Instant, now: Instant) -> bool {
        let due = (now.saturating_duration_since(go).as_secs_f64() * ol.rate) as u64 + 1;
        while ol.sent < due {
            let Some(i) = self.next_open(&mut ol.cursor) else {
                return false;
            };
            let intended = ol.due_at(go, ol.sent);
            self.queue(i, nanos_since_epoch(intended));
            self.flush(i);
            ol.sent += 1;
        }
        true
    }

    fn next_open(&self, cursor: &mut usize) -> Option<usize> {
        let n = self.conns.len();
        for _ in 0..n {
            let i = *cursor % n;
            *cursor = (i + 1) % n;
            if self.conns[i].state == State::Open {
                return Some(i);
            }
        }
        None
    }

    fn queue(&mut self, i: usize, sent_ns: u64) {
        let size = self.scratch.len();
        let conn = &mut self.conns[i];
        queue_message(
            &mut conn.io,
            &mut self.scratch,
            &mut self.tally,
            &mut self.outstanding,
            conn.id,
            size,
            sent_ns,
        );
    }

    /// Holds the connections until `until`, answering pings.
    pub fn hold(&mut self, until: Instant) {
        loop {
            let now = Instant::now();
            if now >= until {
                break;
            }
            self.poll(Some(until - now));
        }
    }

    /// Sends a close frame on every open connection and closes every socket.
    pub fn close_all(&mut self) {
        self.tally.connections_pinged += self.conns.iter().filter(|c| c.io.pinged).count() as u64;
        self.closing = true;
        for i in 0..self.conns.len() {
            if self.conns[i].state == State::Open {
                let io = &mut self.conns[i].io;
                encode_close(&mut io.out, 1000, "loadgen done", Some(io.mask));
                self.flush(i);
            }
            self.drop_conn(i, "done");
        }
    }

    /// The counters and the latency histogram.
    pub fn into_results(self) -> (Tally, Histogram<u64>) {
        (self.tally, self.histogram)
    }
}

/// Open-loop pacing state.
#[derive(Debug)]
struct OpenLoop {
    rate: f64,
    sent: u64,
    cursor: usize,
}

impl OpenLoop {
    fn due_at(&self, go: Instant, k: u64) -> Instant {
        go + Duration::from_secs_f64(k as f64 / self.rate)
    }

    fn next_due(&self, go: Instant) -> Instant {
        self.due_at(go, self.sent)
    }
}

/// Frames the connection's next message into its outbound buffer.
fn queue_message(
    io: &mut ConnIo,
    scratch: &mut [u8],
    tally: &mut Tally,
    outstanding: &mut u64,
    id: u32,
    size: usize,
    sent_ns: u64,
) {
    payload::write(&mut scratch[..size], id, io.next_send, sent_ns);
    encode_frame(&mut io.out, Opcode::Binary, &scratch[..size], Some(io.mask));
    io.next_send += 1;
    tally.sent += 1;
    *outstanding += 1;
}

/// chat-idle: the first frame must be the connection's `welcome`, and nothing may
/// follow it (an idle connection is in no conversation).
fn book_chat_frame(
    plan: &crate::chat_idle::ChatIdlePlan,
    decoder: &mut switchboard_protocol::chat::Decoder,
    io: &mut ConnIo,
    tally: &mut Tally,
    id: u32,
    payload: &[u8],
) {
    tally.received += 1;
    let verdict = if io.welcomed {
        Err(plan.describe_unexpected(decoder, payload))
    } else {
        plan.check_welcome(decoder, id, payload)
    };
    match verdict {
        Ok(()) => {
            io.welcomed = true;
            tally.welcomes += 1;
            if let Some(status) = plan.after_welcome(id) {
                encode_frame(&mut io.out, plan.encoding.opcode(), &status, Some(io.mask));
            }
        }
        Err(why) => {
            tally.corrupt += 1;
            tally.note_error(format!("connection {id}: {why}"));
        }
    }
}

/// Books a reply with sequence `seq`; true if it answers a message not answered before.
fn account_reply(io: &mut ConnIo, tally: &mut Tally, seq: u64) -> bool {
    if seq >= io.next_send {
        tally.corrupt += 1;
        return false;
    }
    if seq == io.next_recv {
        io.next_recv += 1;
    } else if seq > io.next_recv {
        tally.out_of_order += 1;
        if seq - io.next_recv <= MAX_GAPS {
            io.gaps.extend(io.next_recv..seq);
        }
        io.next_recv = seq + 1;
    } else if let Some(pos) = io.gaps.iter().position(|&g| g == seq) {
        io.gaps.swap_remove(pos);
        tally.out_of_order += 1;
    } else {
        tally.duplicated += 1;
        return false;
    }
    io.unique += 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_booked_as_in_order_late_or_duplicate() {
        let mut io = ConnIo {
            next_send: 5,
            ..Default::default()
        };
        let mut tally = Tally::default();
        assert!(account_reply(&mut io, &mut tally, 0));
        assert!(account_reply(&mut io, &mut tally, 2)); // 1 skipped
        assert!(account_reply(&mut io, &mut tally, 1)); // late
        assert!(!account_reply(&mut io, &mut tally, 1)); // again: duplicate
        assert!(!account_reply(&mut io, &mut tally, 9)); // never sent
        assert_eq!(
            (tally.out_of_order, tally.duplicated, tally.corrupt),
            (2, 1, 1)
        );
        assert_eq!(io.unique, 3);
    }
}
