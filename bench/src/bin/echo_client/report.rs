//! What a run counted, merged over connections, and the report printed at the end.

use serde::Serialize;

use crate::traffic::Config;

/// Counters of one connection, or of the whole run once merged.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Connections upgraded.
    pub connections_ok: u32,
    /// Connections that could not be opened.
    pub connections_failed: u32,
    /// Connections that ended before the run did (closed, reset, protocol error).
    pub closed_early: u32,
    /// Seconds spent opening every connection.
    pub connect_seconds: f64,
    /// Messages sent.
    pub sent: u64,
    /// Distinct messages answered correctly.
    pub received: u64,
    /// Replies inside the measured window.
    pub measured: u64,
    /// Sent and never answered.
    pub lost: u64,
    /// Answered again.
    pub duplicated: u64,
    /// Answered out of sending order.
    pub out_of_order: u64,
    /// Replies with wrong content, size, type or connection, or to nothing sent.
    pub corrupt: u64,
    /// Sum of the measured replies' round trips, nanoseconds.
    #[serde(skip)]
    pub rtt_ns_sum: u64,
    /// The first few errors.
    pub errors: Vec<String>,
}

/// Errors kept: enough to explain a failure.
const MAX_ERRORS: usize = 8;

impl Tally {
    /// Keeps `message` if there is room.
    pub fn note_error(&mut self, message: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(message);
        }
    }

    /// Adds one connection's counters.
    pub fn merge(&mut self, part: Tally) {
        self.closed_early += part.closed_early;
        self.sent += part.sent;
        self.received += part.received;
        self.measured += part.measured;
        self.lost += part.lost;
        self.duplicated += part.duplicated;
        self.out_of_order += part.out_of_order;
        self.corrupt += part.corrupt;
        self.rtt_ns_sum += part.rtt_ns_sum;
        for e in part.errors {
            self.note_error(e);
        }
    }

    fn is_clean(&self) -> bool {
        self.connections_failed == 0
            && self.closed_early == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.corrupt == 0
            && self.errors.is_empty()
    }
}

/// A process's CPU over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    /// The process.
    pub pid: i32,
    /// utime + stime over the window.
    pub cpu_seconds: f64,
    /// CPU seconds per second of window (1.0: one core busy).
    pub utilization: f64,
    /// Measured replies per CPU second of this process.
    pub msgs_per_cpu_second: f64,
}

impl CpuUse {
    /// `cpu_seconds` used over a `window` of seconds in which `messages` were measured.
    pub fn new(pid: i32, cpu_seconds: f64, window: f64, messages: u64) -> Self {
        Self {
            pid,
            cpu_seconds,
            utilization: cpu_seconds / window.max(1e-9),
            msgs_per_cpu_second: if cpu_seconds > 0.0 {
                messages as f64 / cpu_seconds
            } else {
                0.0
            },
        }
    }
}

/// The run's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `echo-client`, so a reader of mixed JSON lines can tell it apart.
    pub client: &'static str,
    /// The endpoint.
    pub url: String,
    /// Connections asked for.
    pub connections: u32,
    /// Messages in flight per connection.
    pub inflight: u32,
    /// Payload bytes.
    pub size: usize,
    /// The measured window, seconds.
    pub measured_seconds: f64,
    /// Measured replies per second.
    pub msgs_per_sec: f64,
    /// Mean round trip of the measured replies, microseconds.
    pub mean_rtt_us: f64,
    /// Everything counted.
    #[serde(flatten)]
    pub tally: Tally,
    /// The server's CPU over the window (with `--server-pid`).
    pub server_cpu: Option<CpuUse>,
    /// This client's CPU over the window.
    pub client_cpu: Option<CpuUse>,
    /// Every connection opened, nothing lost, duplicated, reordered or corrupt.
    pub clean: bool,
}

impl Report {
    /// Assembles the report of a run of `config`.
    pub fn new(
        config: &Config,
        tally: Tally,
        server_cpu: Option<CpuUse>,
        client_cpu: Option<CpuUse>,
    ) -> Self {
        let seconds = config.duration.as_secs_f64();
        let clean = tally.is_clean() && tally.connections_ok == config.connections;
        Self {
            client: "echo-client",
            url: config.connect.url.clone(),
            connections: config.connections,
            inflight: config.inflight,
            size: config.size,
            measured_seconds: seconds,
            msgs_per_sec: tally.measured as f64 / seconds.max(1e-9),
            mean_rtt_us: tally.rtt_ns_sum as f64 / 1e3 / tally.measured.max(1) as f64,
            tally,
            server_cpu,
            client_cpu,
            clean,
        }
    }

    /// Prints one JSON object, or a few lines of text.
    pub fn print(&self, json: bool) {
        if json {
            match serde_json::to_string(self) {
                Ok(line) => println!("{line}"),
                Err(err) => eprintln!("echo-client: the report does not serialize: {err}"),
            }
            return;
        }
        let t = &self.tally;
        println!(
            "echo-client {} conns={} inflight={} size={}",
            self.url, self.connections, self.inflight, self.size
        );
        println!(
            "connections  {} ok, {} failed, {} closed early (connect {:.2} s)",
            t.connections_ok, t.connections_failed, t.closed_early, t.connect_seconds
        );
        println!(
            "messages     sent {}, answered {}, lost {}, duplicated {}, out of order {}, corrupt {}",
            t.sent, t.received, t.lost, t.duplicated, t.out_of_order, t.corrupt
        );
        println!(
            "throughput   {:.0} msgs/s over {:.2} s, mean round trip {:.1} us",
            self.msgs_per_sec, self.measured_seconds, self.mean_rtt_us
        );
        for (name, cpu) in [
            ("server cpu", &self.server_cpu),
            ("client cpu", &self.client_cpu),
        ] {
            if let Some(c) = cpu {
                println!(
                    "{name:<12} pid {} {:.3} s ({:.0}% of a core), {:.0} msgs per cpu-second",
                    c.pid,
                    c.cpu_seconds,
                    c.utilization * 100.0,
                    c.msgs_per_cpu_second
                );
            }
        }
        for e in &t.errors {
            println!("error        {e}");
        }
        println!(
            "result       {}",
            if self.clean { "clean" } else { "FAILED" }
        );
    }
}
