//! `switchboard-loadgen`: the bundled load generator of Switchboard.
//!
//! Two scenarios against a WebSocket echo endpoint (the engine's `/echo`, or any
//! server that echoes):
//!
//! - `echo`: N connections send binary messages whose payload carries the connection
//!   id, a sequence number and the send time, so every reply is checked (content,
//!   no loss, no duplicate, order per connection) and timed. Closed loop by default
//!   (each connection keeps `--inflight` messages in flight); `--rate` switches to an
//!   open loop at a fixed total rate, timed from each message's intended send time.
//! - `idle`: N connections are opened and held; with `--server-pid` the server's RSS
//!   growth per connection is reported.
//! - `chat-idle`: the same on `/v1/ws`, each connection authenticated as a visitor or
//!   an agent and checked for its `welcome` (see `chat_idle`).
//!
//! The client side is a lean edge-triggered epoll loop per thread (no async runtime, no
//! allocation per message) using the framing of `switchboard-protocol`, so one CPU
//! drives well over 100k messages per second. Each socket can be bound to a source
//! address (`--source-ips`, `--source-ip-count`) to get past the ~28k ephemeral ports
//! of one (source, destination) pair, and a run larger than one process's descriptor
//! limit is split over worker processes (`--workers`; re-executions of this binary
//! with the hidden `worker` subcommand) whose results, histograms included, are merged.
//!
//! Exit status: 0 when the run was clean, 1 when a connection failed or a message was
//! lost, duplicated, reordered or corrupted, 2 when the run could not be carried out.

#![forbid(unsafe_code)]

mod chat;
mod chat_idle;
mod driver;
mod handshake;
mod job;
mod output;
mod payload;
mod procfs;
mod report;
mod worker;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use switchboard_driver::client as sys;

use crate::job::{EchoPlan, Job, Scenario, Target};
use crate::report::{new_histogram, CpuUse, Latency, Report, RssGrowth, Tally};
use crate::worker::Member;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Descriptors kept free per process for stdio, epoll and pipes.
const FD_SLACK: u64 = 64;
/// Connections per source address before the ephemeral port range gets tight.
const CONNECTIONS_PER_SOURCE_IP: u64 = 25_000;

/// Load generator for Switchboard's WebSocket endpoints.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Echo traffic with every reply checked and timed.
    Echo(EchoArgs),
    /// Open connections, hold them, measure the server's memory per connection.
    Idle(IdleArgs),
    /// Visitors and agents in conversations on /v1/ws, lines both ways at a fixed
    /// total rate, every line checked (loss, duplicates, order, acks) and timed.
    Chat(chat::ChatArgs),
    /// Authenticated chat connections (visitors and agents) on /v1/ws: welcomed, then
    /// held quiet, every server ping answered.
    ChatIdle(chat_idle::ChatIdleArgs),
    /// Every visitor drops its connection at once, reconnects and resumes; measures
    /// how long until all are back and what a control group saw meanwhile.
    Storm(chat::StormArgs),
    /// Internal: one worker process of a split run.
    #[command(hide = true)]
    Worker {
        /// The job as JSON.
        #[arg(long)]
        job: String,
    },
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// WebSocket URL, e.g. ws://127.0.0.1:8080/echo (IPv4 only).
    #[arg(long)]
    url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    connections: u64,
    /// Source addresses to bind, round-robin, e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, conflicts_with = "source_ip_count")]
    source_ips: Option<String>,
    /// Use K source addresses 127.0.0.2, 127.0.0.3, ….
    #[arg(long)]
    source_ip_count: Option<u32>,
    /// Event-loop threads per process.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Worker processes (0: as many as the descriptor limit requires).
    #[arg(long, default_value_t = 0)]
    workers: u64,
    /// Server process to measure (CPU for echo, RSS for idle).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Connection attempts in progress at once, per thread.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// How long opening all connections may take.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    connect_timeout: Duration,
}

#[derive(Debug, Args)]
struct EchoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Payload bytes per message (at least 20).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Traffic before the measured window (checked, not measured).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Open loop: total messages per second over all connections.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    inflight: u32,
    /// How long to wait for outstanding replies after the window.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    drain: Duration,
    /// Send each connection's next message right after reading its reply. By default
    /// the sends wait until every connection that epoll reported ready was read, then
    /// leave together: fewer cache misses in the loadgen, and the server receives the
    /// messages of one turn together (as it would from a busy client machine).
    #[arg(long)]
    flush_each_read: bool,
    /// Closed loop: drive the measured traffic through io_uring (multishot recv into a
    /// provided-buffer ring, the sends of a loop turn in one submission) instead of
    /// epoll and a syscall per send. Cheaper per message for the loadgen.
    #[arg(long, conflicts_with_all = ["rate", "flush_each_read"])]
    io_uring: bool,
    /// Write the round-trip latency as an HdrHistogram percentile distribution (.hgrm).
    #[arg(long)]
    hdr_file: Option<std::path::PathBuf>,
    /// Write a latency percentile plot (SVG).
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct IdleArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// How long to hold the connections after they are open and measured.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    hold: Duration,
    /// Pause between the last connection opening and the RSS reading.
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    settle: Duration,
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    if !(value >= 0.0 && value.is_finite()) {
        return Err(format!("bad duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Cmd::Worker { job } => {
            let result = serde_json::from_str::<Job>(&job)
                .context("parsing the worker job")
                .and_then(|job| worker::worker_main(&job));
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("switchboard-loadgen worker: {err:#}");
                    ExitCode::from(2)
                }
            };
        }
        Cmd::Echo(args) => run_echo(args),
        Cmd::Idle(args) => run_idle(args),
        Cmd::ChatIdle(args) => chat_idle::run(args),
        Cmd::Chat(args) => {
            let json = args.json();
            return finish_chat(chat::run_chat(args), json);
        }
        Cmd::Storm(args) => {
            let json = args.json();
            return finish_chat(chat::run_storm(args), json);
        }
    };
    match outcome {
        Ok(report) => {
            if report.json {
                println!(
                    "{}",
                    serde_json::to_string(&report.report).expect("report serializes")
                );
            } else {
                report.report.print_text();
            }
            if report.report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("switchboard-loadgen: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn finish_chat(outcome: anyhow::Result<chat::ChatReport>, json: bool) -> ExitCode {
    match outcome {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serializes")
                );
            } else {
                report.print_text();
            }
            if report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("switchboard-loadgen: {err:#}");
            ExitCode::from(2)
        }
    }
}

struct Outcome {
    report: Report,
    json: bool,
}

/// A run as the parent coordinates it.
struct Plan {
    job: Job,
    workers: u64,
    url: String,
}

fn plan(common: &CommonArgs, scenario: Scenario) -> anyhow::Result<Plan> {
    let target = Target::parse(&common.url)?;
    if common.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let mut source_ips = match (&common.source_ips, common.source_ip_count) {
        (Some(list), _) => job::parse_source_ips(list)?,
        (None, Some(count)) => job::loopback_sources(count),
        (None, None) => Vec::new(),
    };
    if source_ips.is_empty()
        && common.connections > CONNECTIONS_PER_SOURCE_IP
        && target.addr.ip().is_loopback()
    {
        let count = common.connections.div_ceil(CONNECTIONS_PER_SOURCE_IP) as u32;
        eprintln!(
            "switchboard-loadgen: {} connections: using {count} source addresses from 127.0.0.2",
            common.connections
        );
        source_ips = job::loopback_sources(count);
    }
    let per_process = sys::raise_nofile_limit()
        .saturating_sub(FD_SLACK + common.threads as u64)
        .max(1);
    let workers = common
        .workers
        .max(common.connections.div_ceil(per_process))
        .max(1);
    let job = Job {
        target,
        first_connection: 0,
        connections: common.connections,
        source_ips,
        threads: common.threads.max(1),
        connect_concurrency: common.connect_concurrency,
        connect_timeout: common.connect_timeout,
        scenario,
    };
    Ok(Plan {
        job,
        workers,
        url: common.url.clone(),
    })
}

/// Starts the members and waits until all connections are open.
fn start(plan: &Plan) -> anyhow::Result<(Vec<Member>, Tally)> {
    let mut members = Vec::new();
    if plan.workers == 1 {
        members.push(Member::local(plan.job.clone()));
    } else {
        for part in plan.job.split(plan.workers) {
            members.push(Member::child(&part)?);
        }
    }
    let mut connected = Tally::default();
    for m in &mut members {
        let ready = m.wait_ready()?;
        connected.connections_ok += ready.ok;
        connected.connections_failed += ready.failed;
    }
    Ok((members, connected))
}

fn go(members: &mut [Member]) -> anyhow::Result<Instant> {
    for m in members.iter_mut() {
        m.go()?;
    }
    Ok(Instant::now())
}

fn finish(members: Vec<Member>) -> anyhow::Result<(Tally, hdrhistogram::Histogram<u64>)> {
    let mut tally = Tally::default();
    let mut histogram = new_histogram();
    for m in members {
        let result = m.finish()?;
        tally.merge(&result.tally);
        result.add_latencies_to(&mut histogram);
    }
    Ok((tally, histogram))
}

/// CPU ticks of a process at the start of the measured window.
struct CpuProbe {
    pid: u32,
    ticks: u64,
}

impl CpuProbe {
    fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            ticks: procfs::cpu_ticks(pid)?,
        })
    }

    /// Ticks used since `start`, read now.
    fn elapsed_ticks(&self) -> anyhow::Result<u64> {
        Ok(procfs::cpu_ticks(self.pid)?.saturating_sub(self.ticks))
    }
}

/// CPU use over a window of `seconds` in which `messages` replies were measured.
fn cpu_use(pid: u32, ticks: u64, seconds: f64, messages: u64) -> CpuUse {
    let cpu_seconds = ticks as f64 / sys::clock_ticks_per_second() as f64;
    CpuUse {
        pid,
        cpu_seconds,
        utilization: cpu_seconds / seconds.max(1e-9),
        cpu_us_per_msg: if messages > 0 {
            cpu_seconds * 1e6 / messages as f64
        } else {
            0.0
        },
        msgs_per_cpu_second: if cpu_seconds > 0.0 {
            messages as f64 / cpu_seconds
        } else {
            0.0
        },
    }
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

fn run_echo(args: EchoArgs) -> anyhow::Result<Outcome> {
    if args.size < payload::HEADER_LEN {
        bail!(
            "--size must be at least {} bytes (id, sequence, timestamp)",
            payload::HEADER_LEN
        );
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of messages per second");
    }
    let echo = EchoPlan {
        size: args.size,
        inflight: args.inflight.max(1),
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
        drain: args.drain,
        flush_each_read: args.flush_each_read,
        io_uring: args.io_uring,
    };
    let plan = plan(&args.common, Scenario::Echo(echo))?;
    let (mut members, connected) = start(&plan)?;
    let started = go(&mut members)?;
    sleep_until(started + args.warmup);
    let server_probe = args.common.server_pid.map(CpuProbe::start).transpose()?;
    let self_probe = (plan.workers == 1)
        .then(|| CpuProbe::start(std::process::id()))
        .transpose()?;
    sleep_until(started + args.warmup + args.duration);
    // Read the probes at the window's end, before the drain and the closes.
    let server_ticks = server_probe
        .as_ref()
        .map(|p| Ok::<_, anyhow::Error>((p.pid, p.elapsed_ticks()?)))
        .transpose()?;
    let self_ticks = self_probe
        .as_ref()
        .map(|p| Ok::<_, anyhow::Error>((p.pid, p.elapsed_ticks()?)))
        .transpose()?;
    let (mut tally, histogram) = finish(members)?;
    tally.connections_ok = tally.connections_ok.max(connected.connections_ok);
    if let Some(path) = &args.hdr_file {
        output::write_hgrm(path, &histogram)?;
    }
    if let Some(path) = &args.plot {
        let title = format!("echo round trip, {} connections", args.common.connections);
        output::plot(path, &title, &[("round trip", &histogram)])?;
    }
    let measured_seconds = args.duration.as_secs_f64();
    let messages = tally.measured;
    let server_cpu =
        server_ticks.map(|(pid, ticks)| cpu_use(pid, ticks, measured_seconds, messages));
    let loadgen_cpu =
        self_ticks.map(|(pid, ticks)| cpu_use(pid, ticks, measured_seconds, messages));
    let clean = tally.is_clean() && tally.connections_ok == args.common.connections;
    let report = Report {
        scenario: "echo".into(),
        url: plan.url.clone(),
        connections: args.common.connections,
        workers: plan.workers,
        threads: plan.job.threads,
        size: Some(args.size),
        rate: args.rate,
        inflight: args.rate.is_none().then_some(args.inflight.max(1)),
        flush_each_read: Some(args.flush_each_read),
        io_uring: Some(args.io_uring),
        measured_seconds,
        msgs_per_sec: messages as f64 / measured_seconds.max(1e-9),
        latency: Latency::from_histogram(&histogram),
        server_cpu,
        loadgen_cpu,
        server_rss: None,
        clean,
        tally,
    };
    Ok(Outcome {
        report,
        json: args.common.json,
    })
}

fn run_idle(args: IdleArgs) -> anyhow::Result<Outcome> {
    let plan = plan(&args.common, Scenario::Idle { hold: args.hold })?;
    let rss_before = args.common.server_pid.map(procfs::rss_bytes).transpose()?;
    let (mut members, connected) = start(&plan)?;
    std::thread::sleep(args.settle);
    let rss_after = args.common.server_pid.map(procfs::rss_bytes).transpose()?;
    go(&mut members)?;
    let (mut tally, _) = finish(members)?;
    tally.connections_ok = connected.connections_ok;
    tally.connections_failed = connected.connections_failed;
    let server_rss =
        args.common
            .server_pid
            .zip(rss_before)
            .zip(rss_after)
            .map(|((pid, before), after)| RssGrowth {
                pid,
                rss_before_bytes: before,
                rss_after_bytes: after,
                rss_per_connection_bytes: (after as f64 - before as f64)
                    / connected.connections_ok.max(1) as f64,
            });
    let clean = tally.is_clean() && tally.connections_ok == args.common.connections;
    Ok(held_outcome(
        "idle",
        &plan,
        &args.common,
        args.hold,
        tally,
        server_rss,
        clean,
    ))
}

/// The outcome of a scenario that only holds connections (`idle`, `chat-idle`): no
/// traffic figures.
fn held_outcome(
    scenario: &str,
    plan: &Plan,
    common: &CommonArgs,
    hold: Duration,
    tally: Tally,
    server_rss: Option<RssGrowth>,
    clean: bool,
) -> Outcome {
    let report = Report {
        scenario: scenario.into(),
        url: plan.url.clone(),
        connections: common.connections,
        workers: plan.workers,
        threads: plan.job.threads,
        size: None,
        rate: None,
        inflight: None,
        flush_each_read: None,
        io_uring: None,
        measured_seconds: hold.as_secs_f64(),
        msgs_per_sec: 0.0,
        latency: Latency::default(),
        server_cpu: None,
        loadgen_cpu: None,
        server_rss,
        clean,
        tally,
    };
    Outcome {
        report,
        json: common.json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
    }
}
