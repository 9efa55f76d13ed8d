//! What one worker process is asked to do, in a form that crosses a process boundary
//! as JSON: the target, the connections it owns, and the scenario.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// A parsed `ws://host:port/path` URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// Resolved IPv4 address to connect to.
    pub addr: SocketAddrV4,
    /// The `Host` header value (`host:port` as written in the URL).
    pub host: String,
    /// Path and query of the request line.
    pub path: String,
}

impl Target {
    /// Parses a `ws://` URL and resolves its host (IPv4 only).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("ws://") else {
            bail!("only ws:// URLs are supported, got {url:?}");
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let with_port = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .find_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })
            .with_context(|| format!("{authority} has no IPv4 address"))?;
        Ok(Self {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// The scenario a worker runs once its connections are open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Scenario {
    /// Echo traffic with every reply checked.
    Echo(EchoPlan),
    /// Hold the connections open and quiet.
    Idle {
        /// How long to hold them after the go signal.
        hold: Duration,
    },
    /// Authenticated chat connections on `/v1/ws`, welcomed, then held quiet.
    ChatIdle(crate::chat_idle::ChatIdlePlan),
}

/// Echo traffic parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoPlan {
    /// Payload bytes per message.
    pub size: usize,
    /// Closed loop: messages each connection keeps in flight.
    pub inflight: u32,
    /// Open loop: messages per second this worker sends in total (None: closed loop).
    pub rate: Option<f64>,
    /// Traffic before the measured window (counted and checked, not measured).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// How long to wait for the last replies after sending stops.
    pub drain: Duration,
    /// Send each connection's next messages right after reading it, instead of once
    /// every ready connection of a readiness batch was read.
    pub flush_each_read: bool,
    /// Closed loop: drive the traffic through io_uring instead of epoll.
    pub io_uring: bool,
}

/// One worker's share of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Where to connect.
    pub target: Target,
    /// Global index of this worker's first connection (source IPs and payload ids
    /// are assigned by global index, so they stay spread across workers).
    pub first_connection: u64,
    /// Connections this worker opens.
    pub connections: u64,
    /// Source addresses, used round-robin by global connection index (empty: kernel's choice).
    pub source_ips: Vec<Ipv4Addr>,
    /// Event-loop threads of this worker.
    pub threads: usize,
    /// Connection attempts in progress at once, per thread.
    pub connect_concurrency: usize,
    /// How long opening all connections may take.
    pub connect_timeout: Duration,
    /// What to do once connected.
    pub scenario: Scenario,
}

impl Job {
    /// Splits this job into `parts` jobs over consecutive connection ranges; an open-loop
    /// rate is shared in proportion to connections.
    pub fn split(&self, parts: u64) -> Vec<Job> {
        let parts = parts.clamp(1, self.connections.max(1));
        let mut jobs = Vec::new();
        let mut first = self.first_connection;
        for i in 0..parts {
            let count = self.connections / parts + u64::from(i < self.connections % parts);
            let mut job = self.clone();
            job.first_connection = first;
            job.connections = count;
            if let Scenario::Echo(plan) = &mut job.scenario {
                plan.rate = plan
                    .rate
                    .map(|r| r * count as f64 / self.connections.max(1) as f64);
            }
            first += count;
            jobs.push(job);
        }
        jobs
    }
}

/// Parses `127.0.0.2,127.0.0.3` into addresses.
pub fn parse_source_ips(list: &str) -> anyhow::Result<Vec<Ipv4Addr>> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<Ipv4Addr>()
                .with_context(|| format!("bad source IP {s:?}"))
        })
        .collect()
}

/// `count` consecutive loopback addresses from 127.0.0.2.
pub fn loopback_sources(count: u32) -> Vec<Ipv4Addr> {
    (0..count)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_path() {
        let t = Target::parse("ws://127.0.0.1:9000/echo?x=1").unwrap();
        assert_eq!(t.addr, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9000));
        assert_eq!(t.host, "127.0.0.1:9000");
        assert_eq!(t.path, "/echo?x=1");
        assert_eq!(Target::parse("ws://127.0.0.1:9000").unwrap().path, "/");
        assert!(Target::parse("http://127.0.0.1:9000/").is_err());
    }

    #[test]
    fn split_covers_every_connection_and_the_whole_rate() {
        let job = Job {
            target: Target::parse("ws://127.0.0.1:1/").unwrap(),
            first_connection: 0,
            connections: 10,
            source_ips: vec![],
            threads: 1,
            connect_concurrency: 1,
            connect_timeout: Duration::from_secs(1),
            scenario: Scenario::Echo(EchoPlan {
                size: 64,
                inflight: 1,
                rate: Some(1000.0),
                warmup: Duration::ZERO,
                duration: Duration::ZERO,
                drain: Duration::ZERO,
                flush_each_read: false,
                io_uring: false,
            }),
        };
        let parts = job.split(3);
        assert_eq!(
            parts.iter().map(|j| j.connections).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        assert_eq!(
            parts.iter().map(|j| j.first_connection).collect::<Vec<_>>(),
            vec![0, 4, 7]
        );
        let rate: f64 = parts
            .iter()
            .map(|j| match &j.scenario {
                Scenario::Echo(p) => p.rate.unwrap(),
                Scenario::Idle { .. } | Scenario::ChatIdle(_) => 0.0,
            })
            .sum();
        assert!((rate - 1000.0).abs() < 1e-9);
        assert_eq!(
            loopback_sources(2),
            vec![Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)]
        );
    }
}
