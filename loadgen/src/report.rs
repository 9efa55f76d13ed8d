//! Counters and latency histograms: per thread, merged per worker, merged again
//! across workers, then printed as text or one JSON object.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histograms track (larger values are clamped to it).
pub const MAX_LATENCY_NS: u64 = 120_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static histogram bounds are valid")
}

/// What a thread, a worker, or the whole run counted. Adding two tallies merges them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Connections whose upgrade completed.
    pub connections_ok: u64,
    /// Connections that could not connect or whose handshake failed.
    pub connections_failed: u64,
    /// Connections the server closed or reset before the run ended.
    pub closed_early: u64,
    /// Seconds from the first connect to the last completed (or failed) upgrade.
    pub connect_seconds: f64,
    /// Echo messages sent.
    pub sent: u64,
    /// Replies received (every one, including duplicates).
    pub received: u64,
    /// Sent messages never answered.
    pub lost: u64,
    /// Replies to a message that had already been answered.
    pub duplicated: u64,
    /// Replies that arrived ahead of an earlier message, or after a later one.
    pub out_of_order: u64,
    /// Replies with wrong content, size or type, or a sequence never sent.
    pub corrupt: u64,
    /// Replies received inside the measured window.
    pub measured: u64,
    /// Pings answered.
    pub pings: u64,
    /// Connections that received at least one ping (and answered it).
    #[serde(default)]
    pub connections_pinged: u64,
    /// chat-idle: connections that received the `welcome` they asked for.
    #[serde(default)]
    pub welcomes: u64,
    /// A few error messages, for the report.
    pub errors: Vec<String>,
}

/// Errors kept per tally: enough to explain a failure, not a log.
const MAX_ERRORS: usize = 8;

impl Tally {
    /// Remembers an error message (the first few only).
    pub fn note_error(&mut self, message: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(message);
        }
    }

    /// Adds `other` into `self` (connect time is the longest of the two).
    pub fn merge(&mut self, other: &Tally) {
        self.connections_ok += other.connections_ok;
        self.connections_failed += other.connections_failed;
        self.closed_early += other.closed_early;
        self.connect_seconds = self.connect_seconds.max(other.connect_seconds);
        self.sent += other.sent;
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.corrupt += other.corrupt;
        self.measured += other.measured;
        self.pings += other.pings;
        self.connections_pinged += other.connections_pinged;
        self.welcomes += other.welcomes;
        for e in &other.errors {
            self.note_error(e.clone());
        }
    }

    /// True when nothing went wrong: every connection worked and every message came
    /// back once, intact and in order.
    pub fn is_clean(&self) -> bool {
        self.connections_failed == 0
            && self.closed_early == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.corrupt == 0
    }
}

/// A worker's result as it crosses the process boundary: its tally and its latency
/// histogram as exact (value, count) pairs, which merge without loss.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    /// The counters.
    pub tally: Tally,
    /// Recorded latency values (ns, bucket-representative) with their counts.
    pub latency_ns: Vec<(u64, u64)>,
}

impl WorkerResult {
    /// Packs a tally and a histogram.
    pub fn new(tally: Tally, histogram: &Histogram<u64>) -> Self {
        let latency_ns = histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        Self { tally, latency_ns }
    }

    /// Adds the recorded values into `histogram`.
    pub fn add_latencies_to(&self, histogram: &mut Histogram<u64>) {
        for &(value, count) in &self.latency_ns {
            histogram.saturating_record_n(value.min(MAX_LATENCY_NS), count);
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Replies measured.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Summarises a nanosecond histogram.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// CPU used by a process over the measured window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    /// The process measured.
    pub pid: u32,
    /// utime + stime over the window, seconds.
    pub cpu_seconds: f64,
    /// CPU seconds per wall second of the window (1.0 = one core busy).
    pub utilization: f64,
    /// Microseconds of CPU per echoed message.
    pub cpu_us_per_msg: f64,
    /// Echoed messages per CPU second.
    pub msgs_per_cpu_second: f64,
}

/// Server memory around the idle scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RssGrowth {
    /// The server process.
    pub pid: u32,
    /// VmRSS before connecting, bytes.
    pub rss_before_bytes: u64,
    /// VmRSS with every connection open and settled, bytes.
    pub rss_after_bytes: u64,
    /// (after − before) / open connections, bytes.
    pub rss_per_connection_bytes: f64,
}

/// The final report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `echo`, `idle` or `chat-idle`.
    pub scenario: String,
    /// The URL.
    pub url: String,
    /// Connections asked for.
    pub connections: u64,
    /// Worker processes used.
    pub workers: u64,
    /// Event-loop threads per worker.
    pub threads: usize,
    /// Payload bytes (echo).
    pub size: Option<usize>,
    /// Offered rate, messages per second (open loop), or None for closed loop.
    pub rate: Option<f64>,
    /// Messages in flight per connection (closed loop).
    pub inflight: Option<u32>,
    /// Echo: true when each connection sent right after its read (`--flush-each-read`),
    /// false when the sends of a readiness batch left together.
    pub flush_each_read: Option<bool>,
    /// Echo: true when the closed loop ran on io_uring (`--io-uring`).
    pub io_uring: Option<bool>,
    /// Length of the measured window, seconds.
    pub measured_seconds: f64,
    /// Everything counted.
    #[serde(flatten)]
    pub tally: Tally,
    /// Replies per second inside the measured window.
    pub msgs_per_sec: f64,
    /// Round-trip latency of replies inside the measured window (open loop: from the
    /// intended send time, so a stalled server is not hidden).
    pub latency: Latency,
    /// Server CPU over the measured window (echo with `--server-pid`).
    pub server_cpu: Option<CpuUse>,
    /// The loadgen's own CPU over the measured window (single-process runs).
    pub loadgen_cpu: Option<CpuUse>,
    /// Server RSS growth (idle with `--server-pid`).
    pub server_rss: Option<RssGrowth>,
    /// True when nothing was lost, duplicated, reordered, corrupted or failed.
    pub clean: bool,
}

impl Report {
    /// Human-readable summary.
    pub fn print_text(&self) {
        let t = &self.tally;
        println!(
            "scenario      {} {} ({} workers x {} threads)",
            self.scenario, self.url, self.workers, self.threads
        );
        println!(
            "connections   {} asked, {} ok, {} failed, {} closed early (connect {:.2} s)",
            self.connections,
            t.connections_ok,
            t.connections_failed,
            t.closed_early,
            t.connect_seconds
        );
        if self.scenario == "echo" {
            let mode = match (self.rate, self.inflight) {
                (Some(rate), _) => format!("open loop at {rate:.0} msgs/s"),
                (None, Some(n)) => format!("closed loop, {n} in flight per connection"),
                (None, None) => String::new(),
            };
            println!("traffic       {} B binary, {mode}", self.size.unwrap_or(0));
            println!(
                "messages      sent {}, received {}, lost {}, duplicated {}, out of order {}, corrupt {}",
                t.sent, t.received, t.lost, t.duplicated, t.out_of_order, t.corrupt
            );
            println!(
                "throughput    {:.0} msgs/s over {:.2} s",
                self.msgs_per_sec, self.measured_seconds
            );
            let l = &self.latency;
            println!(
                "latency us    p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
            );
        }
        if self.scenario == "chat-idle" {
            println!(
                "chat          {} welcomed, {} pings answered on {} connections",
                t.welcomes, t.pings, t.connections_pinged
            );
        }
        for (name, cpu) in [
            ("server cpu", &self.server_cpu),
            ("loadgen cpu", &self.loadgen_cpu),
        ] {
            if let Some(c) = cpu {
                println!(
                    "{name:<13} pid {} {:.3} s ({:.0}% of a core), {:.2} us/msg, {:.0} msgs per cpu-second",
                    c.pid,
                    c.cpu_seconds,
                    c.utilization * 100.0,
                    c.cpu_us_per_msg,
                    c.msgs_per_cpu_second
                );
            }
        }
        if let Some(r) = &self.server_rss {
            println!(
                "server rss    pid {} {} -> {} bytes, {:.0} bytes per connection",
                r.pid, r.rss_before_bytes, r.rss_after_bytes, r.rss_per_connection_bytes
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_trip_through_pairs() {
        let mut a = new_histogram();
        for v in [1_000u64, 2_000, 2_000, 50_000, 3_000_000] {
            a.record(v).unwrap();
        }
        let packed = WorkerResult::new(Tally::default(), &a);
        let json = serde_json::to_string(&packed).unwrap();
        let back: WorkerResult = serde_json::from_str(&json).unwrap();
        let mut merged = new_histogram();
        back.add_latencies_to(&mut merged);
        back.add_latencies_to(&mut merged);
        assert_eq!(merged.len(), 10);
        assert_eq!(merged.value_at_quantile(0.5), a.value_at_quantile(0.5));
        assert_eq!(merged.max(), a.max());
    }
}
