//! The chat scenarios against `/v1/ws`: `chat` (visitors and agents in conversations,
//! lines both ways at a fixed total rate, every line checked and timed) and `storm`
//! (every visitor drops and reconnects at once, then resumes from its last seq).
//!
//! Both run in one process on one thread (descriptor limit: ~19,900 clients), because
//! both ends of every conversation are checked against each other.

mod account;
mod body;
mod driver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;
use switchboard_protocol::chat::Encoding;

pub use driver::Direction;
use driver::{now_ns, ns_of, ChatTally, Driver, Settings, TO_AGENT, TO_VISITOR};

use crate::job::{loopback_sources, parse_source_ips, Target};
use crate::output::{self, Progress};
use crate::report::{new_histogram, CpuUse, Latency};
use crate::{cpu_use, parse_duration, CpuProbe};

/// A user-id prefix new for every run (`lg` and six hex digits), so that runs never
/// share users.
pub fn random_prefix() -> String {
    let mut raw = [0u8; 3];
    switchboard_driver::client::fill_random(&mut raw);
    format!("lg{:02x}{:02x}{:02x}-", raw[0], raw[1], raw[2])
}

/// The wire encoding, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingArg {
    /// `switchboard.v1.json`, text frames.
    Json,
    /// `switchboard.v1.bin`, rkyv binary frames.
    Bin,
}

impl EncodingArg {
    /// The encoding this flag value names.
    pub fn encoding(self) -> Encoding {
        match self {
            EncodingArg::Json => Encoding::Json,
            EncodingArg::Bin => Encoding::Binary,
        }
    }
}

impl ChatArgs {
    /// `--json` was given.
    pub fn json(&self) -> bool {
        self.common.json
    }
}

impl StormArgs {
    /// `--json` was given.
    pub fn json(&self) -> bool {
        self.common.json
    }
}

/// Flags both chat scenarios share.
#[derive(Debug, Args)]
pub struct ChatCommon {
    /// The chat endpoint, e.g. ws://127.0.0.1:8080/v1/ws (IPv4 only).
    #[arg(long)]
    url: String,
    /// The agents' chat endpoint (default: --url), e.g. another node of a cluster:
    /// visitors connect to --url, agents to this.
    #[arg(long)]
    agent_url: Option<String>,
    /// Visitors, one conversation each.
    #[arg(long, default_value_t = 1000)]
    visitors: usize,
    /// Agents.
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// Conversations each agent takes (sent in `agent_status`); default: visitors
    /// spread evenly over the agents.
    #[arg(long)]
    agent_capacity: Option<u32>,
    /// Wire encoding.
    #[arg(long, value_enum, default_value = "json")]
    encoding: EncodingArg,
    /// Bytes of each chat line's body (at least 32).
    #[arg(long, default_value_t = 40)]
    size: usize,
    /// Source addresses to bind, round-robin, e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, conflicts_with = "source_ip_count")]
    source_ips: Option<String>,
    /// Use K source addresses 127.0.0.2, 127.0.0.3, ….
    #[arg(long)]
    source_ip_count: Option<u32>,
    /// Connection attempts in progress at once during the setup.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// How long connecting and assigning every conversation may take.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    setup_timeout: Duration,
    /// How long to wait for the last deliveries and acks after sending stops.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    drain: Duration,
    /// User ids start with this (default: random per run, so runs never share users).
    #[arg(long)]
    id_prefix: Option<String>,
    /// The server's process id: its CPU over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of text (and no progress line).
    #[arg(long)]
    json: bool,
    /// Write the delivery latency as an HdrHistogram percentile distribution (.hgrm).
    #[arg(long)]
    hdr_file: Option<PathBuf>,
    /// Write a latency percentile plot (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// `chat`: conversations with lines both ways at a fixed total rate.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    common: ChatCommon,
    /// Total chat lines per second offered, over all conversations (open loop).
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Who writes: both sides (half each), visitors only or agents only.
    #[arg(long, value_enum, default_value = "both")]
    direction: Direction,
    /// Measured window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Traffic before the measured window (checked, not measured).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// More processes whose CPU over the measured window is reported, in
    /// `other_cpu` (repeat it: the other nodes of a cluster, Redis).
    #[arg(long = "cpu-pid")]
    cpu_pids: Vec<u32>,
}

/// `storm`: all visitors drop at once, reconnect and resume.
#[derive(Debug, Args)]
pub struct StormArgs {
    #[command(flatten)]
    common: ChatCommon,
    /// Extra visitors that never drop: their delivery latency during the storm.
    #[arg(long, default_value_t = 100)]
    control: usize,
    /// Lines per second the agents send, over all conversations (default: one per
    /// conversation per second).
    #[arg(long)]
    rate: Option<f64>,
    /// When the visitors drop, after traffic starts.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    drop_at: Duration,
    /// Traffic after the last visitor resumed, before sending stops.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    after: Duration,
    /// How long reconnecting and resuming may take.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    resume_timeout: Duration,
    /// Reconnects in progress at once (default: all at once).
    #[arg(long)]
    reconnect_concurrency: Option<usize>,
}

/// Storm figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StormFigures {
    /// Visitors dropped.
    pub dropped: u64,
    /// Control visitors (never dropped).
    pub control: u64,
    /// Dropped visitors whose new connection got `welcome`.
    pub reconnected: u64,
    /// Dropped visitors that got everything they missed.
    pub resumed: u64,
    /// Dropped visitors that did not resume in time.
    pub not_resumed: u64,
    /// How long the loadgen took to close every dropped connection (s); each
    /// visitor's own times start at its own close.
    pub drop_seconds: f64,
    /// Drop → `welcome` on the new connection, per visitor (µs).
    pub reconnect: Latency,
    /// Drop → replay caught up with the snapshot's `last_seq`, per visitor (µs).
    pub resume: Latency,
    /// First drop → the last visitor reconnected (s).
    pub all_reconnected_seconds: f64,
    /// First drop → the last visitor resumed (s).
    pub all_resumed_seconds: f64,
    /// Delivery latency on control conversations before the drop (µs).
    pub control_before: Latency,
    /// Delivery latency on control conversations from the drop to the end (µs).
    pub control_during: Latency,
    /// Server CPU from the drop to the last resume.
    pub server_cpu_seconds: Option<f64>,
    /// The loadgen's own CPU over the same span (it reconnects everyone on one
    /// thread: near the span's length, it was the limit).
    pub loadgen_cpu_seconds: Option<f64>,
}

/// The report of `chat` and `storm`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatReport {
    /// `chat` or `storm`.
    pub scenario: &'static str,
    /// The URL (visitors).
    pub url: String,
    /// The agents' URL (the same as `url` unless `--agent-url` was given).
    pub agent_url: String,
    /// `json` or `bin`.
    pub encoding: EncodingArg,
    /// Visitors (storm: dropped ones plus control).
    pub visitors: usize,
    /// Agents.
    pub agents: usize,
    /// Capacity each agent announced.
    pub agent_capacity: u32,
    /// Who wrote.
    pub direction: Direction,
    /// Body bytes per line.
    pub size: usize,
    /// Offered lines per second.
    pub rate: f64,
    /// Warm-up before the window, seconds.
    pub warmup_seconds: f64,
    /// The measured window, seconds.
    pub measured_seconds: f64,
    /// Everything counted.
    #[serde(flatten)]
    pub tally: ChatTally,
    /// Lines delivered inside the window per second.
    pub delivered_per_sec: f64,
    /// Delivery latency, intended send time → arrival at the other side (lines
    /// intended inside the window; coordinated-omission corrected).
    pub latency: Latency,
    /// Ack latency, intended send time → `sent` at the sender.
    pub ack_latency: Latency,
    /// Server CPU over the window; per message = per delivered line.
    pub server_cpu: Option<CpuUse>,
    /// The loadgen's CPU over the window.
    pub loadgen_cpu: Option<CpuUse>,
    /// `chat --cpu-pid`: each of those processes' CPU over the window.
    pub other_cpu: Vec<CpuUse>,
    /// Storm figures.
    pub storm: Option<StormFigures>,
    /// Nothing lost, duplicated, out of order, refused or failed.
    pub clean: bool,
}

fn ms(us: f64) -> f64 {
    us / 1000.0
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  ({} samples)",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        l.count
    )
}

impl ChatReport {
    /// Human-readable summary.
    pub fn print_text(&self) {
        let t = &self.tally;
        println!(
            "scenario      {} {} ({:?}, {} B bodies)",
            self.scenario, self.url, self.encoding, self.size
        );
        if self.agent_url != self.url {
            println!("agents        {}", self.agent_url);
        }
        println!(
            "clients       {} visitors, {} agents (capacity {}); {} connections ok, {} failed, {} attempts retried, {} closed early (connect {:.2} s)",
            self.visitors, self.agents, self.agent_capacity, t.connections_ok, t.connections_failed, t.connect_retries, t.closed_early, t.connect_seconds
        );
        println!(
            "conversations {} opened, {} assigned (in {:.2} s)",
            t.conversations, t.conversations_assigned, t.assign_seconds
        );
        println!(
            "traffic       open loop at {:.0} lines/s, {:?}; window {:.2} s after {:.2} s warm-up",
            self.rate, self.direction, self.measured_seconds, self.warmup_seconds
        );
        println!(
            "lines         sent {}, acked {}, delivered {}, lost {}, duplicated {}, out of order {}, unacked {}",
            t.sent, t.acked, t.delivered, t.lost, t.duplicated, t.out_of_order, t.unacked
        );
        println!(
            "refusals      rate limited {} (each neither acked nor delivered); acked but never delivered {}",
            t.rate_limited, t.acked_lost
        );
        println!(
            "checks        corrupt {}, seq errors {}, gaps {}, error frames {}, ack dup {}, ack out of order {}, unknown conv {}, not sent (sender down) {}, busy notices {}",
            t.corrupt, t.seq_errors, t.gaps, t.error_frames, t.ack_duplicated, t.ack_out_of_order, t.unknown_conversation, t.send_skipped, t.busy_notices
        );
        if self.scenario == "chat" {
            println!(
                "throughput    {:.0} delivered lines/s in the window",
                self.delivered_per_sec
            );
        }
        println!("delivery      {}", latency_line(&self.latency));
        println!("ack           {}", latency_line(&self.ack_latency));
        let others = self.other_cpu.iter().map(|c| ("other cpu", Some(c)));
        for (name, cpu) in [
            ("server cpu", self.server_cpu.as_ref()),
            ("loadgen cpu", self.loadgen_cpu.as_ref()),
        ]
        .into_iter()
        .chain(others)
        {
            if let Some(c) = cpu {
                println!(
                    "{name:<13} pid {} {:.3} s ({:.0}% of a core), {:.2} us per delivered line, {:.0} delivered lines per cpu-second",
                    c.pid,
                    c.cpu_seconds,
                    c.utilization * 100.0,
                    c.cpu_us_per_msg,
                    c.msgs_per_cpu_second
                );
            }
        }
        if let Some(s) = &self.storm {
            println!(
                "storm         {} dropped, {} reconnected, {} resumed, {} not resumed; {} control visitors",
                s.dropped, s.reconnected, s.resumed, s.not_resumed, s.control
            );
            println!(
                "drop          {:.3} s to close all {} connections",
                s.drop_seconds, s.dropped
            );
            println!(
                "reconnect     {}; all in {:.3} s",
                latency_line(&s.reconnect),
                s.all_reconnected_seconds
            );
            println!(
                "resume        {}; all in {:.3} s",
                latency_line(&s.resume),
                s.all_resumed_seconds
            );
            println!("control before {}", latency_line(&s.control_before));
            println!("control during {}", latency_line(&s.control_during));
            if let Some(cpu) = s.server_cpu_seconds {
                println!("server cpu    {cpu:.3} s from the drop to the last resume");
            }
            if let Some(cpu) = s.loadgen_cpu_seconds {
                println!("loadgen cpu   {cpu:.3} s over the same span");
            }
        }
        for e in &t.errors {
            println!("error         {e}");
        }
        println!(
            "result        {}",
            if self.clean { "clean" } else { "FAILED" }
        );
    }
}

struct Setup {
    driver: Driver,
    progress: Progress,
    capacity: u32,
    visitors: usize,
    agents: usize,
}

impl ChatCommon {
    /// Where the agents connect: `--agent-url`, or `--url`.
    fn agent_url(&self) -> &str {
        self.agent_url.as_deref().unwrap_or(&self.url)
    }
}

fn setup(common: &ChatCommon, extra_visitors: usize) -> anyhow::Result<Setup> {
    let target = Target::parse(&common.url)?;
    let agent_target = Target::parse(common.agent_url())?;
    let visitors = common.visitors + extra_visitors;
    if visitors == 0 || common.agents == 0 {
        bail!("--visitors and --agents must be at least 1");
    }
    if common.size < body::BODY_HEADER_LEN {
        bail!("--size must be at least {} bytes", body::BODY_HEADER_LEN);
    }
    let capacity = common
        .agent_capacity
        .unwrap_or_else(|| visitors.div_ceil(common.agents) as u32);
    if (capacity as usize) * common.agents < visitors {
        bail!(
            "{} agents of capacity {capacity} cannot take {visitors} conversations",
            common.agents
        );
    }
    let clients = (visitors + common.agents) as u64;
    let limit = switchboard_driver::client::raise_nofile_limit();
    if clients + crate::FD_SLACK > limit {
        bail!("{clients} clients need more descriptors than this process may open ({limit})");
    }
    let source_ips = match (&common.source_ips, common.source_ip_count) {
        (Some(list), _) => parse_source_ips(list)?,
        (None, Some(count)) => loopback_sources(count),
        (None, None) => Vec::new(),
    };
    let prefix = common.id_prefix.clone().unwrap_or_else(random_prefix);
    let settings = Settings {
        addr: target.addr,
        host: target.host,
        path: target.path,
        agent_addr: agent_target.addr,
        agent_host: agent_target.host,
        agent_path: agent_target.path,
        source_ips,
        encoding: common.encoding.encoding(),
        body_size: common.size,
        agent_capacity: capacity,
        connect_concurrency: common.connect_concurrency,
    };
    crate::driver::epoch();
    let driver = Driver::new(settings, common.agents, visitors, extra_visitors, &prefix)
        .context("creating the event loop")?;
    let mut s = Setup {
        driver,
        progress: Progress::new(common.json),
        capacity,
        visitors,
        agents: common.agents,
    };
    connect_and_assign(&mut s, common.setup_timeout)?;
    Ok(s)
}

/// Opens the agents, then the visitors, and waits until every conversation is
/// assigned on both sides (or the setup timeout).
fn connect_and_assign(s: &mut Setup, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + timeout;
    let (agents, visitors) = (s.agents, s.visitors);
    let d = &mut s.driver;
    d.connect(0..agents);
    while Instant::now() < deadline && !(0..agents).all(|i| d.is_ready(i) || d.is_closed(i)) {
        d.turn(Duration::from_millis(20));
        if s.progress.due() {
            s.progress
                .set(format!("agents: {} of {agents} open", d.open()));
        }
    }
    if !(0..agents).any(|i| d.is_ready(i)) {
        bail!(
            "no agent could connect: {}",
            d.world.tally.errors.join("; ")
        );
    }
    // Let the agents' statuses reach the router before the first visitor arrives.
    let settle = Instant::now() + Duration::from_millis(200);
    while Instant::now() < settle {
        d.turn(Duration::from_millis(20));
    }
    let visitors_started = Instant::now();
    d.connect(agents..agents + visitors);
    let all = agents + visitors;
    loop {
        let now = Instant::now();
        let connected = d.connecting() == 0;
        let ready = d.world.convs.iter().filter(|c| c.ready()).count();
        let waiting_for = (agents..all).filter(|&i| !d.is_closed(i)).count();
        if connected && d.world.tally.connect_seconds == 0.0 {
            d.world.tally.connect_seconds = started.elapsed().as_secs_f64();
        }
        if (connected && ready >= waiting_for) || now >= deadline {
            break;
        }
        if s.progress.due() {
            s.progress.set(format!(
                "connections {} of {all} open, conversations {ready} of {visitors} assigned",
                d.open()
            ));
        }
        d.turn(Duration::from_millis(20));
    }
    let t = &mut d.world.tally;
    if t.connect_seconds == 0.0 {
        t.connect_seconds = started.elapsed().as_secs_f64();
    }
    t.conversations_assigned = d.world.convs.iter().filter(|c| c.ready()).count() as u64;
    t.assign_seconds = visitors_started.elapsed().as_secs_f64();
    if t.conversations_assigned == 0 {
        bail!(
            "no conversation was assigned within {:?}: {}",
            timeout,
            t.errors.join("; ")
        );
    }
    Ok(())
}

/// Open-loop pacing: line k is meant to leave at `go + k / rate`, to conversation
/// `active[k % n]`; with both directions, even rounds go visitor → agent and odd
/// rounds agent → visitor.
struct OpenLoop {
    rate: f64,
    go: Instant,
    go_ns: u64,
    sent: u64,
    active: Vec<usize>,
    direction: Direction,
}

impl OpenLoop {
    fn new(rate: f64, go: Instant, active: Vec<usize>, direction: Direction) -> Self {
        Self {
            rate,
            go,
            go_ns: ns_of(go),
            sent: 0,
            active,
            direction,
        }
    }

    fn intended_ns(&self, k: u64) -> u64 {
        self.go_ns + (k as f64 * 1e9 / self.rate) as u64
    }

    /// Sends what is due by `now` (at most a batch); returns when the next is due.
    fn send_due(&mut self, d: &mut Driver, now: Instant) -> Instant {
        let due = (now.saturating_duration_since(self.go).as_secs_f64() * self.rate) as u64 + 1;
        let n = self.active.len() as u64;
        let mut batch = 0;
        while self.sent < due && batch < driver::SEND_BATCH {
            let k = self.sent;
            let conv = self.active[(k % n) as usize];
            let dir = match self.direction {
                Direction::ToAgent => TO_AGENT,
                Direction::ToVisitor => TO_VISITOR,
                Direction::Both if (k / n).is_multiple_of(2) => TO_AGENT,
                Direction::Both => TO_VISITOR,
            };
            d.world.send_line(conv, dir, self.intended_ns(k));
            self.sent += 1;
            batch += 1;
        }
        self.go + Duration::from_secs_f64(self.sent as f64 / self.rate)
    }
}

/// Runs the loop until `end`, sending on schedule.
fn run_traffic(
    d: &mut Driver,
    ol: &mut OpenLoop,
    end: Instant,
    mut on_turn: impl FnMut(&mut Driver, Instant) -> bool,
) {
    loop {
        let now = Instant::now();
        if now >= end || !on_turn(d, now) {
            break;
        }
        let next = ol.send_due(d, now);
        let wait = next
            .min(end)
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        d.turn(wait);
    }
}

fn drain(d: &mut Driver, timeout: Duration) {
    let end = Instant::now() + timeout;
    while d.world.outstanding() > 0 && Instant::now() < end {
        d.turn(Duration::from_millis(10));
    }
}

fn probe_end(probe: &Option<CpuProbe>) -> Option<(u32, u64)> {
    probe
        .as_ref()
        .and_then(|p| p.elapsed_ticks().ok().map(|t| (p.pid, t)))
}

fn write_outputs(
    common: &ChatCommon,
    title: &str,
    hdr: &Histogram<u64>,
    series: &[(&str, &Histogram<u64>)],
) -> anyhow::Result<()> {
    if let Some(path) = &common.hdr_file {
        output::write_hgrm(path, hdr)?;
    }
    if let Some(path) = &common.plot {
        output::plot(path, title, series)?;
    }
    Ok(())
}

/// Runs `chat`.
pub fn run_chat(args: ChatArgs) -> anyhow::Result<ChatReport> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number of lines per second");
    }
    let mut s = setup(&args.common, 0)?;
    let d = &mut s.driver;
    let active: Vec<usize> = (0..d.world.convs.len())
        .filter(|&k| d.world.convs[k].ready())
        .collect();
    let go = Instant::now();
    let window_start = go + args.warmup;
    let window_end = window_start + args.duration;
    d.world.window = (ns_of(window_start), ns_of(window_end));
    let mut ol = OpenLoop::new(args.rate, go, active, args.direction);
    let mut probes: Option<(Option<CpuProbe>, Option<CpuProbe>, Vec<CpuProbe>)> = None;
    let server_pid = args.common.server_pid;
    let cpu_pids = &args.cpu_pids;
    let progress = &mut s.progress;
    let mut last_delivered = (Instant::now(), 0u64);
    run_traffic(d, &mut ol, window_end, |d, now| {
        if probes.is_none() && now >= window_start {
            probes = Some((
                server_pid.and_then(|pid| CpuProbe::start(pid).ok()),
                CpuProbe::start(std::process::id()).ok(),
                cpu_pids
                    .iter()
                    .filter_map(|&pid| CpuProbe::start(pid).ok())
                    .collect(),
            ));
        }
        if progress.due() {
            let t = &d.world.tally;
            let secs = last_delivered.0.elapsed().as_secs_f64().max(1e-3);
            let rate = (t.delivered - last_delivered.1) as f64 / secs;
            last_delivered = (Instant::now(), t.delivered);
            let p99 = if d.world.delivery.is_empty() {
                0.0
            } else {
                d.world.delivery.value_at_quantile(0.99) as f64 / 1e6
            };
            progress.set(format!(
                "{} open | sent {} delivered {} ({rate:.0}/s) | lost so far {} dup {} ooo {} | p99 {p99:.2} ms{}",
                d.open(),
                t.sent,
                t.delivered,
                t.sent.saturating_sub(t.delivered),
                t.duplicated,
                t.out_of_order,
                if now < window_start { " (warm-up)" } else { "" }
            ));
        }
        true
    });
    let (server_ticks, self_ticks, other_ticks) = match probes {
        Some((server, me, others)) => (
            probe_end(&server),
            probe_end(&me),
            others
                .into_iter()
                .filter_map(|p| probe_end(&Some(p)))
                .collect(),
        ),
        None => (None, None, Vec::new()),
    };
    drain(d, args.common.drain);
    s.progress.finish();
    let d = &mut s.driver;
    d.world.settle_accounts();
    d.close_all();
    let seconds = args.duration.as_secs_f64();
    let delivered = d.world.tally.delivered_in_window;
    let report = ChatReport {
        scenario: "chat",
        url: args.common.url.clone(),
        agent_url: args.common.agent_url().to_owned(),
        encoding: args.common.encoding,
        visitors: s.visitors,
        agents: s.agents,
        agent_capacity: s.capacity,
        direction: args.direction,
        size: args.common.size.max(body::BODY_HEADER_LEN),
        rate: args.rate,
        warmup_seconds: args.warmup.as_secs_f64(),
        measured_seconds: seconds,
        tally: d.world.tally.clone(),
        delivered_per_sec: delivered as f64 / seconds.max(1e-9),
        latency: Latency::from_histogram(&d.world.delivery),
        ack_latency: Latency::from_histogram(&d.world.ack),
        server_cpu: server_ticks.map(|(pid, t)| cpu_use(pid, t, seconds, delivered)),
        loadgen_cpu: self_ticks.map(|(pid, t)| cpu_use(pid, t, seconds, delivered)),
        other_cpu: other_ticks
            .into_iter()
            .map(|(pid, t)| cpu_use(pid, t, seconds, delivered))
            .collect(),
        storm: None,
        clean: d.world.tally.is_clean()
            && d.world.tally.conversations_assigned == s.visitors as u64,
    };
    write_outputs(
        &args.common,
        &format!(
            "chat: {} conversations, {:.0} lines/s offered, {}",
            s.visitors,
            args.rate,
            args.common.encoding.encoding().subprotocol()
        ),
        &d.world.delivery,
        &[
            ("delivery (intended send → other side)", &d.world.delivery),
            ("ack (intended send → sent)", &d.world.ack),
        ],
    )?;
    Ok(report)
}

/// Runs `storm`.
pub fn run_storm(args: StormArgs) -> anyhow::Result<ChatReport> {
    let conversations = args.common.visitors + args.control;
    let rate = args.rate.unwrap_or(conversations as f64);
    if !(rate > 0.0 && rate.is_finite()) {
        bail!("--rate must be a positive number of lines per second");
    }
    let mut s = setup(&args.common, args.control)?;
    let agents = s.agents;
    let d = &mut s.driver;
    let active: Vec<usize> = (0..d.world.convs.len())
        .filter(|&k| d.world.convs[k].ready())
        .collect();
    let dropped: Vec<usize> = active
        .iter()
        .map(|&k| d.world.convs[k].visitor)
        .filter(|&i| !d.world.clients[i].control)
        .collect();
    let go = Instant::now();
    let drop_at = go + args.drop_at;
    // Delivery latency of every conversation before the drop, after a second of warm-up.
    d.world.window = (
        ns_of(go + Duration::from_secs(1).min(args.drop_at / 2)),
        ns_of(drop_at),
    );
    let mut ol = OpenLoop::new(rate, go, active, Direction::ToVisitor);
    run_traffic(d, &mut ol, drop_at, |d, _| {
        if s.progress.due() {
            s.progress.set(format!(
                "before the drop: {} open, delivered {}",
                d.open(),
                d.world.tally.delivered
            ));
        }
        true
    });
    // The storm.
    let drop_ns = now_ns();
    d.world.storm_from = drop_ns;
    let server_probe = args
        .common
        .server_pid
        .and_then(|pid| CpuProbe::start(pid).ok());
    let self_probe = CpuProbe::start(std::process::id()).ok();
    let concurrency = args.reconnect_concurrency.unwrap_or(usize::MAX);
    d.set_connect_concurrency(concurrency);
    for &i in &dropped {
        // Each visitor's own drop time: closing thousands of sockets on one thread
        // takes a while, and a visitor's reconnect cannot start before its close.
        d.drop_and_reconnect(i, now_ns());
    }
    let drop_seconds = (now_ns() - drop_ns) as f64 / 1e9;
    let resume_deadline = Instant::now() + args.resume_timeout;
    run_traffic(d, &mut ol, resume_deadline, |d, _| {
        let done = dropped
            .iter()
            .filter(|&&i| d.resumed(i) || d.is_closed(i))
            .count();
        if s.progress.due() {
            s.progress.set(format!(
                "storm: {} reconnected, {done} of {} resumed",
                dropped
                    .iter()
                    .filter(|&&i| d.world.clients[i].reconnected_ns.is_some())
                    .count(),
                dropped.len()
            ));
        }
        done < dropped.len()
    });
    let server_cpu_ticks = probe_end(&server_probe);
    let self_cpu_ticks = probe_end(&self_probe);
    let after_end = Instant::now() + args.after;
    run_traffic(d, &mut ol, after_end, |_, _| true);
    drain(d, args.common.drain);
    s.progress.finish();
    let d = &mut s.driver;
    d.world.settle_accounts();
    d.close_all();
    let mut reconnect = new_histogram();
    let mut resume = new_histogram();
    let mut figures = StormFigures {
        dropped: dropped.len() as u64,
        control: args.control as u64,
        ..Default::default()
    };
    let mut last_reconnect = 0u64;
    let mut last_resume = 0u64;
    for &i in &dropped {
        let c = &d.world.clients[i];
        let from = c.dropped_ns.unwrap_or(drop_ns);
        if let Some(at) = c.reconnected_ns {
            figures.reconnected += 1;
            reconnect.saturating_record(at.saturating_sub(from).max(1));
            last_reconnect = last_reconnect.max(at.saturating_sub(drop_ns));
        }
        if let Some(at) = c.resumed_ns {
            figures.resumed += 1;
            resume.saturating_record(at.saturating_sub(from).max(1));
            last_resume = last_resume.max(at.saturating_sub(drop_ns));
        } else {
            figures.not_resumed += 1;
        }
    }
    figures.reconnect = Latency::from_histogram(&reconnect);
    figures.resume = Latency::from_histogram(&resume);
    figures.drop_seconds = drop_seconds;
    figures.all_reconnected_seconds = last_reconnect as f64 / 1e9;
    figures.all_resumed_seconds = last_resume as f64 / 1e9;
    figures.control_before = Latency::from_histogram(&d.world.control_before);
    figures.control_during = Latency::from_histogram(&d.world.control_during);
    let tick = switchboard_driver::client::clock_ticks_per_second() as f64;
    figures.server_cpu_seconds = server_cpu_ticks.map(|(_, t)| t as f64 / tick);
    figures.loadgen_cpu_seconds = self_cpu_ticks.map(|(_, t)| t as f64 / tick);
    let window = args.drop_at.as_secs_f64() - 1.0f64.min(args.drop_at.as_secs_f64() / 2.0);
    let mut tally = d.world.tally.clone();
    if figures.not_resumed > 0 {
        tally.note_error(format!(
            "{} visitors did not resume within {:?}",
            figures.not_resumed, args.resume_timeout
        ));
    }
    let clean = tally.is_clean()
        && figures.not_resumed == 0
        && tally.conversations_assigned == s.visitors as u64;
    let report = ChatReport {
        scenario: "storm",
        url: args.common.url.clone(),
        agent_url: args.common.agent_url().to_owned(),
        encoding: args.common.encoding,
        visitors: s.visitors,
        agents,
        agent_capacity: s.capacity,
        direction: Direction::ToVisitor,
        size: args.common.size.max(body::BODY_HEADER_LEN),
        rate,
        warmup_seconds: 0.0,
        measured_seconds: window,
        delivered_per_sec: tally.delivered_in_window as f64 / window.max(1e-9),
        tally,
        latency: Latency::from_histogram(&d.world.delivery),
        ack_latency: Latency::from_histogram(&d.world.ack),
        server_cpu: None,
        loadgen_cpu: None,
        other_cpu: Vec::new(),
        storm: Some(figures),
        clean,
    };
    write_outputs(
        &args.common,
        &format!(
            "storm: {} visitors drop and resume, {} control",
            dropped.len(),
            args.control
        ),
        &resume,
        &[
            ("resume (drop → caught up)", &resume),
            ("reconnect (drop → welcome)", &reconnect),
            ("control delivery during the storm", &d.world.control_during),
            ("control delivery before", &d.world.control_before),
        ],
    )?;
    Ok(report)
}
