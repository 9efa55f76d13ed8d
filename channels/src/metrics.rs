//! Counters of the channel layer, rendered as Prometheus text for the engine's
//! `/metrics`. Plain atomics: every path that counts is already on a hub thread, and
//! a metrics crate would add a registry the engine does not use (it renders its own
//! text the same way).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::adapter::RefusalReason;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// One account's counters. They outlive reloads: an account that is changed keeps
/// counting where it was.
#[derive(Debug, Default)]
pub struct AccountMetrics {
    /// Inbound requests accepted.
    pub inbound_accepted: AtomicU64,
    /// Inbound messages dropped as duplicates (platform retries).
    pub inbound_duplicates: AtomicU64,
    inbound_refused: [AtomicU64; RefusalReason::ALL.len()],
    /// Lines delivered.
    pub outbound_ok: AtomicU64,
    /// Lines that failed for good.
    pub outbound_failed: AtomicU64,
    /// Retries of lines (attempts after the first).
    pub outbound_retried: AtomicU64,
    /// Time from a request's arrival to its answer being ready.
    pub inbound_latency: Histogram,
    /// Time of each outbound delivery attempt.
    pub outbound_latency: Histogram,
}

impl AccountMetrics {
    /// Counts a refused request.
    pub fn refused(&self, reason: RefusalReason) {
        self.inbound_refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Refused requests for `reason` so far.
    pub fn refused_count(&self, reason: RefusalReason) -> u64 {
        self.inbound_refused[reason.index()].load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, account: &str) {
        let a = format!("account=\"{account}\"");
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "switchboard_channels_inbound_accepted_total{{{a}}} {}",
            get(&self.inbound_accepted)
        );
        let _ = writeln!(
            out,
            "switchboard_channels_inbound_duplicates_total{{{a}}} {}",
            get(&self.inbound_duplicates)
        );
        for reason in RefusalReason::ALL {
            let _ = writeln!(
                out,
                "switchboard_channels_inbound_refused_total{{{a},reason=\"{}\"}} {}",
                reason.label(),
                self.refused_count(reason)
            );
        }
        let _ = writeln!(
            out,
            "switchboard_channels_outbound_total{{{a},result=\"ok\"}} {}",
            get(&self.outbound_ok)
        );
        let _ = writeln!(
            out,
            "switchboard_channels_outbound_total{{{a},result=\"failed\"}} {}",
            get(&self.outbound_failed)
        );
        let _ = writeln!(
            out,
            "switchboard_channels_outbound_retries_total{{{a}}} {}",
            get(&self.outbound_retried)
        );
        self.inbound_latency
            .render(out, "switchboard_channels_inbound_seconds", &a);
        self.outbound_latency
            .render(out, "switchboard_channels_outbound_attempt_seconds", &a);
    }
}

/// The hub's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    accounts: Mutex<BTreeMap<String, Arc<AccountMetrics>>>,
    queue_depths: Mutex<Vec<Arc<AtomicUsize>>>,
}

/// The pseudo-account that counts requests on no account's path.
pub const UNROUTED: &str = "-";

impl Metrics {
    /// The counters of `account`, created on first use.
    pub fn account(&self, account: &str) -> Arc<AccountMetrics> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(accounts.entry(account.to_owned()).or_default())
    }

    pub(crate) fn add_queue(&self, depth: Arc<AtomicUsize>) {
        self.queue_depths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(depth);
    }

    /// Lines held by the outbound workers (queued or waiting for a retry).
    pub fn outbound_queue_depth(&self) -> usize {
        let depths = self.queue_depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# TYPE switchboard_channels_inbound_accepted_total counter\n");
        out.push_str("# TYPE switchboard_channels_inbound_duplicates_total counter\n");
        out.push_str("# TYPE switchboard_channels_inbound_refused_total counter\n");
        out.push_str("# TYPE switchboard_channels_outbound_total counter\n");
        out.push_str("# TYPE switchboard_channels_outbound_retries_total counter\n");
        out.push_str("# TYPE switchboard_channels_inbound_seconds histogram\n");
        out.push_str("# TYPE switchboard_channels_outbound_attempt_seconds histogram\n");
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        for (name, metrics) in accounts.iter() {
            metrics.render(&mut out, name);
        }
        drop(accounts);
        out.push_str("# TYPE switchboard_channels_outbound_queue_depth gauge\n");
        let depths = self.queue_depths.lock().unwrap_or_else(|p| p.into_inner());
        for (worker, depth) in depths.iter().enumerate() {
            let _ = writeln!(
                out,
                "switchboard_channels_outbound_queue_depth{{worker=\"{worker}\"}} {}",
                depth.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        let shop = metrics.account("shop");
        shop.inbound_accepted.fetch_add(2, Ordering::Relaxed);
        shop.refused(RefusalReason::BadSignature);
        shop.inbound_latency.observe(Duration::from_micros(300));
        shop.inbound_latency.observe(Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains("switchboard_channels_inbound_accepted_total{account=\"shop\"} 2\n"));
        assert!(text.contains("switchboard_channels_inbound_refused_total{account=\"shop\",reason=\"bad_signature\"} 1\n"));
        assert!(text.contains(
            "switchboard_channels_inbound_seconds_bucket{account=\"shop\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "switchboard_channels_inbound_seconds_bucket{account=\"shop\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains("switchboard_channels_inbound_seconds_count{account=\"shop\"} 2\n"));
        assert!(Arc::ptr_eq(&shop, &metrics.account("shop")));
    }
}
