//! One run: log the agents in, queue and assign the visitors, pace the lines, time and
//! check every delivery, and report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;
use tokio::time::{timeout_at, Instant as TokioInstant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::{open_one, socket_addr, Ws};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub visitors: u32,
    pub agents: u32,
    pub rate: u32,
    pub duration: Duration,
    pub drain: Duration,
    pub slice: Duration,
    pub size: usize,
    pub prefix: String,
    pub server_pid: Option<i32>,
}

/// Connection attempts in progress at once.
const CONNECT_CONCURRENCY: usize = 64;
/// How long the log-ins and assignments may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Latencies are recorded in microseconds up to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What a run found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub visitors: u32,
    pub agents: u32,
    pub rate: u32,
    pub seconds: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub delivery_ms: Percentiles,
    /// p99 of the lines sent in each slice, in ms.
    pub slice_p99_ms: Vec<f64>,
    pub slice_ms: u64,
    /// Median and largest of `slice_p99_ms`.
    pub slice_p99_median_ms: f64,
    pub slice_p99_max_ms: f64,
    pub server_cpu_seconds: Option<f64>,
    pub server_rss_kib: Option<RssSeen>,
    pub clean: bool,
}

/// Delivery latency percentiles, ms.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// The server's resident memory during the run.
#[derive(Debug, Serialize)]
pub struct RssSeen {
    pub at_start: u64,
    pub max: u64,
    pub at_end: u64,
}

impl Report {
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
            return;
        }
        println!(
            "sent {} acked {} delivered {} lost {} duplicated {} out of order {}",
            self.sent, self.acked, self.delivered, self.lost, self.duplicated, self.out_of_order
        );
        let d = &self.delivery_ms;
        println!(
            "delivery ms: p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}; per-{} ms slice p99: median {:.2} max {:.2}",
            d.p50, d.p99, d.p999, d.max, self.slice_ms, self.slice_p99_median_ms, self.slice_p99_max_ms
        );
        if let (Some(cpu), Some(rss)) = (self.server_cpu_seconds, &self.server_rss_kib) {
            println!(
                "server: {cpu:.2} CPU-s, RSS {} → max {} → {} KiB",
                rss.at_start, rss.max, rss.at_end
            );
        }
    }
}

/// An agent's findings.
struct AgentSeen {
    delivered: u64,
    duplicated: u64,
    out_of_order: u64,
    all: Histogram<u64>,
    slices: Vec<Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds")
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Opens `url?token=TOKEN` and reads the welcome.
async fn log_in(url: &str, token: &str) -> anyhow::Result<Ws> {
    let full = format!("{url}?token={token}");
    let mut ws = open_one(&full, &socket_addr(url)?, ws_config()).await?;
    let first = next_json(&mut ws).await?;
    if first["type"] != "welcome" {
        bail!("{token}: expected a welcome, got {first}");
    }
    Ok(ws)
}

async fn next_json(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match ws.next().await.context("connection closed")?? {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Close(frame) => bail!("closed by the server: {frame:?}"),
            _ => {}
        }
    }
}

/// A visitor that has its conversation.
async fn assigned_visitor(url: String, token: String) -> anyhow::Result<(Ws, u64)> {
    let mut ws = log_in(&url, &token).await?;
    ws.send(Message::text(r#"{"type":"start"}"#)).await?;
    loop {
        let frame = next_json(&mut ws).await?;
        if frame["type"] == "error" {
            bail!("{token}: {frame}");
        }
        if frame["type"] == "system" && frame["event"] == "assigned" {
            return Ok((ws, frame["conv"].as_u64().context("assigned without conv")?));
        }
    }
}

pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let capacity = config.visitors.div_ceil(config.agents);
    let mut agents = Vec::new();
    for a in 0..config.agents {
        let token = format!("agent:{}a{a}", config.prefix);
        let mut ws = log_in(&config.url, &token).await?;
        let status =
            format!(r#"{{"type":"agent_status","status":"online","capacity":{capacity}}}"#);
        ws.send(Message::text(status)).await?;
        agents.push(ws);
    }
    let setup = TokioInstant::now() + SETUP_TIMEOUT;
    let visitors: Vec<(Ws, u64)> = futures_util::stream::iter(0..config.visitors)
        .map(|v| {
            let token = format!("{}v{v}", config.prefix);
            timeout_at(setup, assigned_visitor(config.url.clone(), token))
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .map(|r| r.context("assignment timed out").and_then(|r| r))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;

    let epoch = Instant::now() + Duration::from_millis(200);
    let send_end = epoch + config.duration;
    let read_end = TokioInstant::from_std(send_end + config.drain);
    let slices = (config.duration.as_nanos() / config.slice.as_nanos()) as usize + 1;
    let agent_tasks: Vec<_> = agents
        .into_iter()
        .map(|ws| tokio::spawn(agent_reads(ws, epoch, config.slice, slices, read_end)))
        .collect();
    let period = Duration::from_secs_f64(f64::from(config.visitors) / f64::from(config.rate));
    let mut senders = Vec::new();
    for (i, (ws, conv)) in visitors.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        let offset = period.mul_f64(i as f64 / f64::from(config.visitors));
        let pace = Pace {
            epoch,
            offset,
            period,
            end: send_end,
            size: config.size,
        };
        senders.push((
            tokio::spawn(send_lines(sink, conv, pace)),
            tokio::spawn(count_acks(stream, read_end)),
        ));
    }

    let server = config.server_pid.map(ServerProbe::start).transpose()?;
    let mut server = server;
    while Instant::now() < send_end + config.drain {
        tokio::time::sleep(config.slice.min(Duration::from_millis(500))).await;
        if let Some(probe) = server.as_mut() {
            probe.sample();
        }
    }
    let (mut sent, mut acked) = (0, 0);
    for (send, acks) in senders {
        sent += send.await??;
        acked += acks.await?;
    }
    let mut seen = AgentSeen {
        delivered: 0,
        duplicated: 0,
        out_of_order: 0,
        all: histogram(),
        slices: (0..slices).map(|_| histogram()).collect(),
    };
    for task in agent_tasks {
        let one = task.await?;
        seen.delivered += one.delivered;
        seen.duplicated += one.duplicated;
        seen.out_of_order += one.out_of_order;
        seen.all.add(&one.all)?;
        for (total, part) in seen.slices.iter_mut().zip(&one.slices) {
            total.add(part)?;
        }
    }
    Ok(report(config, sent, acked, seen, server))
}

fn report(
    config: &Config,
    sent: u64,
    acked: u64,
    seen: AgentSeen,
    server: Option<ServerProbe>,
) -> Report {
    let ms = |us: u64| us as f64 / 1000.0;
    let mut slice_p99: Vec<f64> = seen
        .slices
        .iter()
        .filter(|h| !h.is_empty())
        .map(|h| ms(h.value_at_quantile(0.99)))
        .collect();
    let listed = slice_p99.clone();
    slice_p99.sort_by(f64::total_cmp);
    let median = slice_p99.get(slice_p99.len() / 2).copied().unwrap_or(0.0);
    let max = slice_p99.last().copied().unwrap_or(0.0);
    let lost = sent.saturating_sub(seen.delivered);
    Report {
        visitors: config.visitors,
        agents: config.agents,
        rate: config.rate,
        seconds: config.duration.as_secs_f64(),
        sent,
        acked,
        delivered: seen.delivered,
        lost,
        duplicated: seen.duplicated,
        out_of_order: seen.out_of_order,
        delivery_ms: Percentiles {
            p50: ms(seen.all.value_at_quantile(0.5)),
            p99: ms(seen.all.value_at_quantile(0.99)),
            p999: ms(seen.all.value_at_quantile(0.999)),
            max: ms(seen.all.max()),
        },
        slice_p99_ms: listed,
        slice_ms: config.slice.as_millis() as u64,
        slice_p99_median_ms: median,
        slice_p99_max_ms: max,
        server_cpu_seconds: server.as_ref().map(ServerProbe::cpu_seconds),
        server_rss_kib: server.map(|s| s.rss),
        clean: lost == 0 && seen.duplicated == 0 && seen.out_of_order == 0 && sent > 0,
    }
}

/// When one visitor sends.
struct Pace {
    epoch: Instant,
    offset: Duration,
    period: Duration,
    end: Instant,
    size: usize,
}

/// Sends this visitor's lines: body `L <µs since epoch> <n> <filler>`.
async fn send_lines(
    mut sink: SplitSink<Ws, Message>,
    conv: u64,
    pace: Pace,
) -> anyhow::Result<u64> {
    let mut ticks = tokio::time::interval_at(
        TokioInstant::from_std(pace.epoch + pace.offset),
        pace.period,
    );
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut n = 0u64;
    loop {
        ticks.tick().await;
        let now = Instant::now();
        if now >= pace.end {
            return Ok(n);
        }
        let us = now.duration_since(pace.epoch).as_micros();
        let mut body = format!("L {us} {n} ");
        body.extend(std::iter::repeat_n(
            'x',
            pace.size.saturating_sub(body.len()),
        ));
        let line =
            format!(r#"{{"type":"send","conv":{conv},"client_msg_id":"m{n}","body":"{body}"}}"#);
        sink.send(Message::text(line)).await?;
        n += 1;
    }
}

/// Reads a visitor's side until `end`: counts its `sent` acknowledgements.
async fn count_acks(mut stream: SplitStream<Ws>, end: TokioInstant) -> u64 {
    let mut acked = 0;
    while let Ok(Some(Ok(message))) = timeout_at(end, stream.next()).await {
        if let Message::Text(text) = message {
            if text.contains(r#""type":"sent""#) {
                acked += 1;
            }
        }
    }
    acked
}

/// Reads an agent's side until `end`: times and checks every visitor line.
async fn agent_reads(
    mut ws: Ws,
    epoch: Instant,
    slice: Duration,
    slices: usize,
    end: TokioInstant,
) -> AgentSeen {
    let mut seen = AgentSeen {
        delivered: 0,
        duplicated: 0,
        out_of_order: 0,
        all: histogram(),
        slices: (0..slices).map(|_| histogram()).collect(),
    };
    let mut next: HashMap<u64, u64> = HashMap::new();
    while let Ok(Some(Ok(message))) = timeout_at(end, ws.next()).await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame["type"] != "message" {
            continue;
        }
        let (Some(conv), Some(body)) = (frame["conv"].as_u64(), frame["body"].as_str()) else {
            continue;
        };
        let mut words = body.split(' ');
        let (Some("L"), Some(Ok(us)), Some(Ok(n))) = (
            words.next(),
            words.next().map(str::parse::<u64>),
            words.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let expected = next.entry(conv).or_insert(0);
        if n < *expected {
            seen.duplicated += 1;
            continue;
        }
        if n > *expected {
            seen.out_of_order += 1;
        }
        *expected = n + 1;
        seen.delivered += 1;
        let now_us = epoch.elapsed().as_micros() as u64;
        let latency = now_us.saturating_sub(us).clamp(1, MAX_LATENCY_US);
        let _ = seen.all.record(latency);
        let index = (us / slice.as_micros() as u64) as usize;
        if let Some(h) = seen.slices.get_mut(index) {
            let _ = h.record(latency);
        }
    }
    seen
}

/// The server's CPU over the run and its RSS, sampled.
struct ServerProbe {
    pid: i32,
    ticks: u64,
    rss: RssSeen,
}

impl ServerProbe {
    fn start(pid: i32) -> anyhow::Result<Self> {
        let rss = rss_kib(pid)?;
        Ok(Self {
            pid,
            ticks: ticks(pid)?,
            rss: RssSeen {
                at_start: rss,
                max: rss,
                at_end: rss,
            },
        })
    }

    fn sample(&mut self) {
        if let Ok(rss) = rss_kib(self.pid) {
            self.rss.max = self.rss.max.max(rss);
            self.rss.at_end = rss;
        }
    }

    fn cpu_seconds(&self) -> f64 {
        let used = ticks(self.pid)
            .unwrap_or(self.ticks)
            .saturating_sub(self.ticks);
        used as f64 / procfs::ticks_per_second() as f64
    }
}

fn ticks(pid: i32) -> anyhow::Result<u64> {
    let stat = procfs::process::Process::new(pid).and_then(|p| p.stat())?;
    Ok(stat.utime + stat.stime)
}

fn rss_kib(pid: i32) -> anyhow::Result<u64> {
    let status = procfs::process::Process::new(pid).and_then(|p| p.status())?;
    Ok(status.vmrss.unwrap_or(0))
}
