//! Counters each shard keeps about itself, readable from any thread (the control API,
//! `/health`). Each shard writes only its own cache-padded block with relaxed atomics,
//! so counting costs an uncontended add and no shard ever waits on another.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

/// Upper bounds (µs) of the delivery-latency histogram buckets; the last is +Inf.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// A per-shard series: name, type, help, and which counter it reads.
type SeriesDef = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardCounters) -> &AtomicU64,
);

/// One shard's counters.
#[derive(Debug, Default)]
pub struct ShardCounters {
    /// Connections accepted.
    pub accepts: AtomicU64,
    /// Connections refused at accept (limit reached, shutting down, draining).
    pub rejects: AtomicU64,
    /// Connections open now.
    pub connections: AtomicU64,
    /// WebSocket data messages received.
    pub messages_in: AtomicU64,
    /// WebSocket frames queued for sending.
    pub messages_out: AtomicU64,
    /// Chat items (messages and system events) delivered to a connection.
    pub deliveries: AtomicU64,
    /// Connections cut as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections closed for breaking the protocol.
    pub protocol_errors: AtomicU64,
    /// Frames for other shards' connections dropped because the hold-back towards that
    /// shard was full (`--mesh-holdback`); their recipients see a `seq` jump and resume.
    pub mesh_dropped: AtomicU64,
    /// Times the accept stopped at a resource limit (descriptors, kernel memory) and
    /// was paused with backoff.
    pub accept_errors: AtomicU64,
    /// Changes the local store refused or failed to write (disk full, I/O error,
    /// queue full): the sender got `unavailable`.
    pub store_refused: AtomicU64,
    /// TLS handshakes completed.
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes that failed (bad or plain-text client, no common version or
    /// protocol): that connection is closed, the shard goes on.
    pub tls_handshake_failures: AtomicU64,
    /// Bytes queued but not yet written, over all connections (sampled each tick).
    pub outbound_queue_bytes: AtomicU64,
    /// How late the last housekeeping tick ran, in µs (event-loop lag).
    pub loop_lag_us: AtomicU64,
    /// Conversations this shard is home to.
    pub conversations: AtomicU64,
    /// HTTP long-poll and SSE sessions held (ended ones until they are dropped).
    pub http_sessions: AtomicU64,
    /// Requests the connect webhook's cache answered without a call.
    pub auth_cache_hits: AtomicU64,
    /// Wall clock (ms since the epoch) of the shard's last housekeeping tick: a stale
    /// heartbeat marks a stalled shard.
    pub heartbeat_ms: AtomicU64,
    /// Delivery latency (home accepted → frame queued on the recipient), per bucket.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    /// Sum of delivery latencies in µs.
    pub latency_sum_us: AtomicU64,
}

impl ShardCounters {
    /// Adds one to `counter` (only the owning shard calls this).
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one delivery latency.
    pub fn observe_latency(&self, micros: u64) {
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| micros <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        Self::bump(&self.deliveries);
    }
}

/// The counters of every shard of the node.
#[derive(Debug)]
pub struct Metrics {
    shards: Vec<CachePadded<ShardCounters>>,
}

impl Metrics {
    /// Counters for `shards` shards, all zero.
    pub fn new(shards: usize) -> Self {
        Metrics {
            shards: (0..shards)
                .map(|_| CachePadded::new(ShardCounters::default()))
                .collect(),
        }
    }

    /// Shard `index`'s counters.
    pub fn shard(&self, index: usize) -> &ShardCounters {
        &self.shards[index]
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Sum of one counter over all shards.
    pub fn total(&self, pick: impl Fn(&ShardCounters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| pick(s).load(Ordering::Relaxed))
            .sum()
    }

    /// Renders every counter in the Prometheus text exposition format, with `extra`
    /// node-level lines (already formatted) appended.
    pub fn render_prometheus(&self, extra: &str) -> String {
        let mut out = String::with_capacity(4096);
        let per_shard: [SeriesDef; 18] = [
            (
                "switchboard_accepts_total",
                "counter",
                "Connections accepted.",
                |s| &s.accepts,
            ),
            (
                "switchboard_rejects_total",
                "counter",
                "Connections refused at accept.",
                |s| &s.rejects,
            ),
            (
                "switchboard_connections",
                "gauge",
                "Connections open.",
                |s| &s.connections,
            ),
            (
                "switchboard_messages_in_total",
                "counter",
                "WebSocket data messages received.",
                |s| &s.messages_in,
            ),
            (
                "switchboard_messages_out_total",
                "counter",
                "WebSocket frames queued for sending.",
                |s| &s.messages_out,
            ),
            (
                "switchboard_deliveries_total",
                "counter",
                "Chat items delivered to connections.",
                |s| &s.deliveries,
            ),
            (
                "switchboard_slow_consumers_total",
                "counter",
                "Connections cut as slow consumers.",
                |s| &s.slow_consumers,
            ),
            (
                "switchboard_protocol_errors_total",
                "counter",
                "Connections closed for protocol errors.",
                |s| &s.protocol_errors,
            ),
            (
                "switchboard_accept_errors_total",
                "counter",
                "Times accepting paused at a resource limit (EMFILE, ENFILE, ...), with backoff.",
                |s| &s.accept_errors,
            ),
            (
                "switchboard_mesh_dropped_total",
                "counter",
                "Frames for another shard's connections dropped: the hold-back towards that shard was full.",
                |s| &s.mesh_dropped,
            ),
            (
                "switchboard_store_refused_total",
                "counter",
                "Changes the local store refused or failed to write; the sender got `unavailable`.",
                |s| &s.store_refused,
            ),
            (
                "switchboard_tls_handshakes_total",
                "counter",
                "TLS handshakes completed.",
                |s| &s.tls_handshakes,
            ),
            (
                "switchboard_tls_handshake_failures_total",
                "counter",
                "TLS handshakes that failed; only that connection was closed.",
                |s| &s.tls_handshake_failures,
            ),
            (
                "switchboard_outbound_queue_bytes",
                "gauge",
                "Bytes queued but not yet written.",
                |s| &s.outbound_queue_bytes,
            ),
            (
                "switchboard_event_loop_lag_seconds",
                "gauge",
                "Lateness of the last housekeeping tick.",
                |s| &s.loop_lag_us,
            ),
            (
                "switchboard_conversations_homed",
                "gauge",
                "Conversations homed on the shard.",
                |s| &s.conversations,
            ),
            (
                "switchboard_http_sessions",
                "gauge",
                "HTTP long-poll and SSE sessions held by the shard.",
                |s| &s.http_sessions,
            ),
            (
                "switchboard_auth_webhook_cache_hits_total",
                "counter",
                "Requests the connect webhook's cache answered without a call.",
                |s| &s.auth_cache_hits,
            ),
        ];
        for (name, kind, help, pick) in per_shard {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (index, shard) in self.shards.iter().enumerate() {
                let value = pick(shard).load(Ordering::Relaxed);
                if name.ends_with("_seconds") {
                    let _ = writeln!(out, "{name}{{shard=\"{index}\"}} {}", value as f64 / 1e6);
                } else {
                    let _ = writeln!(out, "{name}{{shard=\"{index}\"}} {value}");
                }
            }
        }
        self.render_latency(&mut out);
        out.push_str(extra);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "switchboard_delivery_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Home accepted a chat item until it was queued on a recipient."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (index, shard) in self.shards.iter().enumerate() {
            let mut cumulative = 0;
            for (bucket, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
                cumulative += shard.latency_buckets[bucket].load(Ordering::Relaxed);
                let le = *bound as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{shard=\"{index}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += shard.latency_buckets[LATENCY_BUCKETS_US.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{shard=\"{index}\",le=\"+Inf\"}} {cumulative}"
            );
            let sum = shard.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{shard=\"{index}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{shard=\"{index}\"}} {cumulative}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_cumulative_buckets() {
        let metrics = Metrics::new(1);
        metrics.shard(0).observe_latency(40);
        metrics.shard(0).observe_latency(3_000);
        metrics.shard(0).observe_latency(10_000_000);
        let text = metrics.render_prometheus("");
        assert!(text
            .contains("switchboard_delivery_latency_seconds_bucket{shard=\"0\",le=\"0.00005\"} 1"));
        assert!(text
            .contains("switchboard_delivery_latency_seconds_bucket{shard=\"0\",le=\"0.005\"} 2"));
        assert!(
            text.contains("switchboard_delivery_latency_seconds_bucket{shard=\"0\",le=\"+Inf\"} 3")
        );
        assert!(text.contains("switchboard_deliveries_total{shard=\"0\"} 3"));
    }
}
