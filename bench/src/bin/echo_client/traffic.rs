//! The closed loop: every connection sends its first `inflight` messages, then one
//! more for each checked reply until the measured window ends, then waits for what is
//! still in flight. Replies arriving inside the window are the measured ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use switchboard_bench::echo_payload::{self, HEADER_LEN};
use switchboard_bench::reply_order::{Booking, ReplyOrder};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::connect::{self, Ws};
use crate::cpu::CpuProbe;
use crate::report::{CpuUse, Report, Tally};

/// A whole run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections to open.
    pub connections: u32,
    /// Messages each connection keeps in flight.
    pub inflight: u32,
    /// Payload bytes per message.
    pub size: usize,
    /// Checked, unmeasured traffic first.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Wait for the last replies this long after the window.
    pub drain: Duration,
    /// How connections are opened.
    pub connect: connect::Config,
    /// The server whose CPU is read over the window.
    pub server_pid: Option<i32>,
}

/// The instants every connection's loop works against.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Origin of the send times in payloads.
    epoch: Instant,
    window_start: Instant,
    window_end: Instant,
    drain_end: Instant,
    size: usize,
    inflight: u32,
}

/// Opens the connections, runs the loop on all of them and reports.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    if config.size < HEADER_LEN {
        bail!("--size must be at least {HEADER_LEN} bytes");
    }
    let opened = connect::open(&config.connect, config.connections).await?;
    let go = Instant::now();
    let clock = Arc::new(Clock {
        epoch: go,
        window_start: go + config.warmup,
        window_end: go + config.warmup + config.duration,
        drain_end: go + config.warmup + config.duration + config.drain,
        size: config.size,
        inflight: config.inflight,
    });
    let tasks: Vec<_> = opened
        .streams
        .into_iter()
        .enumerate()
        .map(|(id, ws)| tokio::spawn(drive(ws, id as u32, Arc::clone(&clock))))
        .collect();
    let (server_cpu, own_cpu) = measure_window(&clock, config.server_pid).await?;
    let mut tally = Tally {
        connections_ok: tasks.len() as u32,
        connections_failed: opened.failed,
        connect_seconds: opened.seconds,
        errors: opened.errors,
        ..Tally::default()
    };
    for task in tasks {
        match task.await {
            Ok(part) => tally.merge(part),
            Err(err) => tally.note_error(format!("a connection task failed: {err}")),
        }
    }
    let seconds = config.duration.as_secs_f64();
    let cpu = |(pid, s): (i32, f64)| CpuUse::new(pid, s, seconds, tally.measured);
    Ok(Report::new(
        config,
        tally.clone(),
        server_cpu.map(cpu),
        Some(cpu(own_cpu)),
    ))
}

/// Reads the server's and this process's CPU at the window's start and end.
async fn measure_window(
    clock: &Clock,
    server_pid: Option<i32>,
) -> anyhow::Result<(Option<(i32, f64)>, (i32, f64))> {
    tokio::time::sleep_until(clock.window_start.into()).await;
    let server = server_pid.map(CpuProbe::start).transpose()?;
    let own = CpuProbe::own()?;
    tokio::time::sleep_until(clock.window_end.into()).await;
    let server = server
        .map(|p| p.seconds_since().map(|s| (p.pid(), s)))
        .transpose()?;
    Ok((server, (own.pid(), own.seconds_since()?)))
}

/// One connection's closed loop; returns what it counted.
async fn drive(mut ws: Ws, id: u32, clock: Arc<Clock>) -> Tally {
    let mut state = Loop {
        id,
        clock: *clock,
        order: ReplyOrder::default(),
        sent: 0,
        buf: vec![0u8; clock.size],
        tally: Tally::default(),
    };
    for _ in 0..clock.inflight {
        if let Err(err) = state.feed(&mut ws).await {
            return state.fail(&format!("send: {err}"));
        }
    }
    if let Err(err) = ws.flush().await {
        return state.fail(&format!("send: {err}"));
    }
    let deadline = tokio::time::Instant::from_std(clock.drain_end);
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_drain_over) => break,
            Ok(None) => return state.fail("server closed the connection"),
            Ok(Some(Err(err))) => return state.fail(&format!("receive: {err}")),
            Ok(Some(Ok(message))) => message,
        };
        let refill = match message {
            Message::Binary(reply) => state.on_reply(&reply, Instant::now()),
            Message::Text(_) => state.on_wrong_reply("a text reply"),
            Message::Close(frame) => return state.fail(&format!("server sent close {frame:?}")),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => false,
        };
        if refill {
            if let Err(err) = state.send_one(&mut ws).await {
                return state.fail(&format!("send: {err}"));
            }
        } else if state.outstanding() == 0 && Instant::now() >= clock.window_end {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    state.finish()
}

/// The state of one connection's loop.
struct Loop {
    id: u32,
    clock: Clock,
    order: ReplyOrder,
    sent: u64,
    buf: Vec<u8>,
    tally: Tally,
}

impl Loop {
    /// Queues the next message without flushing.
    async fn feed(&mut self, ws: &mut Ws) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let sent_ns = self.clock.epoch.elapsed().as_nanos() as u64;
        echo_payload::write(&mut self.buf, self.id, self.sent, sent_ns);
        ws.feed(Message::Binary(Bytes::copy_from_slice(&self.buf)))
            .await?;
        self.sent += 1;
        Ok(())
    }

    async fn send_one(&mut self, ws: &mut Ws) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.feed(ws).await?;
        ws.flush().await
    }

    /// Checks and books a reply; true when another message should be sent.
    fn on_reply(&mut self, reply: &[u8], now: Instant) -> bool {
        let stamp = match echo_payload::check(reply, self.id, self.clock.size) {
            Ok(stamp) => stamp,
            Err(err) => return self.on_wrong_reply(&err.to_string()),
        };
        match self.order.book(stamp.seq, self.sent) {
            Booking::InOrder => {}
            Booking::OutOfOrder => self.tally.out_of_order += 1,
            Booking::Duplicate => {
                self.tally.duplicated += 1;
                return false;
            }
            Booking::NeverSent => return self.on_wrong_reply("a reply to a message never sent"),
        }
        self.tally.received += 1;
        if now >= self.clock.window_start && now < self.clock.window_end {
            self.tally.measured += 1;
            let now_ns = now.duration_since(self.clock.epoch).as_nanos() as u64;
            self.tally.rtt_ns_sum += now_ns.saturating_sub(stamp.sent_ns);
        }
        now < self.clock.window_end
    }

    fn on_wrong_reply(&mut self, what: &str) -> bool {
        self.tally.corrupt += 1;
        self.tally
            .note_error(format!("connection {}: {what}", self.id));
        false
    }

    fn outstanding(&self) -> u64 {
        self.sent - self.order.unique()
    }

    fn fail(mut self, why: &str) -> Tally {
        self.tally.closed_early += 1;
        self.tally
            .note_error(format!("connection {}: {why}", self.id));
        self.finish()
    }

    fn finish(mut self) -> Tally {
        self.tally.sent = self.sent;
        self.tally.lost = self.outstanding();
        self.tally
    }
}
