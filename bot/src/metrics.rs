//! Bot counters: per intent and variant (matches, hand-offs, helpful and unhelpful
//! feedback, conversations the bot resolved) and per conversation outcome.
//!
//! Decision: relaxed atomics, reached without a lock. Each compiled variant holds an
//! `Arc` to its counters, so counting on the match path is one `fetch_add`. The
//! counters live in a [`MetricsRegistry`] owned by the `RulesHandle`, keyed by intent
//! and variant name, and a reloaded rule set picks up the same counters for the same
//! names: Prometheus counters then never go backwards on a reload, and sessions still
//! on the old version count into the same place. The registry's lock is taken only
//! when a rule set is compiled and when a snapshot is read, never while matching.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::session::HandoffReason;

/// Counters of one variant of one intent's reply.
#[derive(Debug, Default)]
pub(crate) struct VariantCounters {
    matches: AtomicU64,
    handoffs: AtomicU64,
    helpful: AtomicU64,
    unhelpful: AtomicU64,
    resolved: AtomicU64,
}

/// Which counter of a variant to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VariantEvent {
    Matched,
    HandedOff,
    Helpful,
    Unhelpful,
    Resolved,
}

impl VariantCounters {
    pub(crate) fn add(&self, event: VariantEvent) {
        let counter = match event {
            VariantEvent::Matched => &self.matches,
            VariantEvent::HandedOff => &self.handoffs,
            VariantEvent::Helpful => &self.helpful,
            VariantEvent::Unhelpful => &self.unhelpful,
            VariantEvent::Resolved => &self.resolved,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters of conversations, whatever their intents.
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    started: AtomicU64,
    misses: AtomicU64,
    resolved: AtomicU64,
    messages_left: AtomicU64,
    handoffs: [AtomicU64; HandoffReason::ALL.len()],
}

/// Which conversation counter to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionEvent {
    Started,
    Missed,
    Resolved,
    MessageLeft,
    HandedOff(HandoffReason),
}

impl SessionCounters {
    pub(crate) fn add(&self, event: SessionEvent) {
        let counter = match event {
            SessionEvent::Started => &self.started,
            SessionEvent::Missed => &self.misses,
            SessionEvent::Resolved => &self.resolved,
            SessionEvent::MessageLeft => &self.messages_left,
            SessionEvent::HandedOff(reason) => &self.handoffs[reason.index()],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every counter of a handle, shared by all its rule-set versions.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    variants: Mutex<BTreeMap<(String, String), Arc<VariantCounters>>>,
    sessions: Arc<SessionCounters>,
}

impl MetricsRegistry {
    /// The counters of `intent`/`variant`, created at zero the first time.
    pub(crate) fn variant(&self, intent: &str, variant: &str) -> Arc<VariantCounters> {
        let mut map = self.variants.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            map.entry((intent.to_owned(), variant.to_owned()))
                .or_default(),
        )
    }

    pub(crate) fn sessions(&self) -> Arc<SessionCounters> {
        Arc::clone(&self.sessions)
    }

    /// A consistent-enough copy of every counter (each read is relaxed; counters
    /// keep moving while it is taken).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let map = self.variants.lock().unwrap_or_else(PoisonError::into_inner);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let variants = map
            .iter()
            .map(|((intent, variant), c)| VariantMetrics {
                intent: intent.clone(),
                variant: variant.clone(),
                matches: load(&c.matches),
                handoffs: load(&c.handoffs),
                helpful: load(&c.helpful),
                unhelpful: load(&c.unhelpful),
                resolved: load(&c.resolved),
            })
            .collect();
        let s = &self.sessions;
        MetricsSnapshot {
            variants,
            sessions: SessionMetrics {
                started: load(&s.started),
                misses: load(&s.misses),
                resolved: load(&s.resolved),
                messages_left: load(&s.messages_left),
                handoffs: HandoffReason::ALL
                    .iter()
                    .map(|r| (r.as_str().to_owned(), load(&s.handoffs[r.index()])))
                    .collect(),
            },
        }
    }
}

/// Counters of one intent's variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantMetrics {
    /// The intent's name.
    pub intent: String,
    /// The variant's name (`default` for a reply without variants).
    pub variant: String,
    /// Lines answered with this variant.
    pub matches: u64,
    /// Hand-offs right after this variant was the last reply.
    pub handoffs: u64,
    /// "Helpful" feedback on this variant.
    pub helpful: u64,
    /// "Not helpful" feedback on this variant.
    pub unhelpful: u64,
    /// Conversations the bot resolved in which this variant was given.
    pub resolved: u64,
}

/// Counters of conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionMetrics {
    /// Bot sessions started.
    pub started: u64,
    /// Lines with no confident answer.
    pub misses: u64,
    /// Conversations the bot closed (the visitor said thanks or bye).
    pub resolved: u64,
    /// Conversations that ended with a message left out of hours.
    pub messages_left: u64,
    /// Hand-offs by reason.
    pub handoffs: BTreeMap<String, u64>,
}

/// A copy of every counter, for `/metrics` (Prometheus text) and JSON (serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Per intent and variant, sorted by intent then variant.
    pub variants: Vec<VariantMetrics>,
    /// Per conversation outcome.
    pub sessions: SessionMetrics,
}

impl MetricsSnapshot {
    /// Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        type Pick = fn(&VariantMetrics) -> u64;
        let per_variant: [(&str, &str, Pick); 5] = [
            ("matches", "lines answered by the bot", |v| v.matches),
            ("handoffs", "hand-offs after this reply", |v| v.handoffs),
            ("helpful", "helpful feedback", |v| v.helpful),
            ("unhelpful", "unhelpful feedback", |v| v.unhelpful),
            ("resolved", "conversations resolved by the bot", |v| {
                v.resolved
            }),
        ];
        for (name, help, pick) in per_variant {
            let _ = writeln!(
                out,
                "# HELP switchboard_bot_intent_{name}_total {help}, per intent and variant"
            );
            let _ = writeln!(out, "# TYPE switchboard_bot_intent_{name}_total counter");
            for v in &self.variants {
                let _ = writeln!(
                    out,
                    "switchboard_bot_intent_{name}_total{{intent=\"{}\",variant=\"{}\"}} {}",
                    escape(&v.intent),
                    escape(&v.variant),
                    pick(v)
                );
            }
        }
        let s = &self.sessions;
        for (name, help, value) in [
            ("sessions_started", "bot sessions started", s.started),
            ("misses", "lines with no confident answer", s.misses),
            (
                "sessions_resolved",
                "conversations the bot closed",
                s.resolved,
            ),
            (
                "messages_left",
                "messages left out of hours",
                s.messages_left,
            ),
        ] {
            let _ = writeln!(out, "# HELP switchboard_bot_{name}_total {help}");
            let _ = writeln!(out, "# TYPE switchboard_bot_{name}_total counter");
            let _ = writeln!(out, "switchboard_bot_{name}_total {value}");
        }
        let _ = writeln!(
            out,
            "# HELP switchboard_bot_handoffs_total hand-offs to the human queue, by reason"
        );
        let _ = writeln!(out, "# TYPE switchboard_bot_handoffs_total counter");
        for (reason, n) in &s.handoffs {
            let _ = writeln!(
                out,
                "switchboard_bot_handoffs_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out
    }
}

/// Label values escape backslash, quote and newline (the exposition format's rule).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_names_share_counters_and_render() {
        let registry = MetricsRegistry::default();
        let a = registry.variant("coupon_problem", "b");
        a.add(VariantEvent::Matched);
        registry
            .variant("coupon_problem", "b")
            .add(VariantEvent::Matched);
        registry
            .variant("x\"y", "default")
            .add(VariantEvent::Helpful);
        registry
            .sessions()
            .add(SessionEvent::HandedOff(HandoffReason::Timeout));
        let snap = registry.snapshot();
        assert_eq!(snap.variants[0].matches, 2);
        assert_eq!(snap.sessions.handoffs["timeout"], 1);
        let text = snap.to_prometheus();
        assert!(text.contains(
            "switchboard_bot_intent_matches_total{intent=\"coupon_problem\",variant=\"b\"} 2"
        ));
        assert!(text.contains("intent=\"x\\\"y\""));
        assert!(text.contains("switchboard_bot_handoffs_total{reason=\"timeout\"} 1"));
        let json = serde_json::to_value(&snap).unwrap_or_default();
        assert_eq!(json["sessions"]["handoffs"]["timeout"], 1);
    }
}
