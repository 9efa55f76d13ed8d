//! One subscription's thread: takes events (from the queue, or from the engine's log
//! when the queue overflowed or after a restart), delivers each conversation's events
//! one at a time in id order, retries with backoff, dead-letters, and keeps the
//! cursor: the highest id such that every event up to it is delivered or
//! dead-lettered.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver};

use super::dispatcher::{DeadLetter, Shared};
use super::events::{ConversationEvent, EventSource, Subscription};
use super::limits::DispatcherLimits;
use super::signature::{sign, SIGNATURE_HEADER};
use super::store::SubscriptionStore;
use crate::clock::Clock;
use crate::http_client;
use crate::ordered::OrderedQueues;
use crate::pacing::Backoff;

/// The longest the thread sleeps with nothing to do.
const IDLE_WAIT: Duration = Duration::from_secs(1);

struct Attempt {
    event: ConversationEvent,
    attempts: u32,
    /// A dead letter sent again on request: outside the cursor's accounting.
    redelivery: bool,
}

enum Outcome {
    Delivered,
    Dead(String),
}

pub(super) struct SubscriptionWorker {
    subscription: Subscription,
    limits: DispatcherLimits,
    store: SubscriptionStore,
    source: Arc<dyn EventSource>,
    clock: Arc<dyn Clock>,
    events: Receiver<ConversationEvent>,
    redeliver: Receiver<Option<Vec<u64>>>,
    shared: Arc<Shared>,
    agent: ureq::Agent,
    queues: OrderedQueues<Attempt>,
    /// Taken events not yet delivered or dead-lettered.
    outstanding: BTreeSet<u64>,
    redelivering: HashSet<u64>,
    /// The highest id taken (or skipped as not wanted).
    highest_seen: u64,
    saved_cursor: u64,
    saved_at: Instant,
    /// Reading the log until caught up; the queue is ignored meanwhile.
    pulling: bool,
    /// The last write of the dead letters failed; it is tried again each turn.
    dead_unsaved: bool,
}

impl SubscriptionWorker {
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor wiring the thread's parts"
    )]
    pub(super) fn new(
        subscription: Subscription,
        limits: DispatcherLimits,
        store: SubscriptionStore,
        cursor: Option<u64>,
        source: Arc<dyn EventSource>,
        clock: Arc<dyn Clock>,
        events: Receiver<ConversationEvent>,
        redeliver: Receiver<Option<Vec<u64>>>,
        shared: Arc<Shared>,
    ) -> std::io::Result<Self> {
        let (start, pulling) = match cursor {
            Some(cursor) => (cursor, true),
            None => {
                let start = source.last_event_id();
                store.save_cursor(start)?;
                (start, false)
            }
        };
        shared.stats.cursor.store(start, Ordering::Relaxed);
        let agent = http_client::agent(
            Duration::from_millis(limits.request_timeout_ms),
            Duration::from_millis(limits.connect_timeout_ms),
        );
        Ok(Self {
            subscription,
            limits,
            store,
            source,
            clock,
            events,
            redeliver,
            shared,
            agent,
            queues: OrderedQueues::default(),
            outstanding: BTreeSet::new(),
            redelivering: HashSet::new(),
            highest_seen: start,
            saved_cursor: start,
            saved_at: Instant::now(),
            pulling,
            dead_unsaved: false,
        })
    }

    pub(super) fn run(mut self) {
        loop {
            if self.shared.lagging.swap(false, Ordering::SeqCst) {
                // Everything still queued is in the log too: read it from there, in
                // order, instead of leaving a hole where the dropped event was.
                self.pulling = true;
                while self.events.try_recv().is_ok() {}
            }
            if self.pulling && self.has_room() {
                self.pull();
            }
            let never = channel::never();
            let events = if self.pulling || !self.has_room() {
                &never
            } else {
                &self.events
            };
            let wait = self.wait();
            crossbeam::select! {
                recv(events) -> event => match event {
                    Ok(event) => self.take(event),
                    Err(_) => break,
                },
                recv(self.redeliver) -> request => match request {
                    Ok(ids) => self.queue_redelivery(ids.as_deref()),
                    Err(_) => break,
                },
                default(wait) => {}
            }
            while let Some(conv) = self.queues.next_due(Instant::now()) {
                self.attempt(conv);
            }
            self.save_cursor(false);
            if self.dead_unsaved {
                self.save_dead();
            }
        }
        self.save_cursor(true);
    }

    fn has_room(&self) -> bool {
        self.outstanding.len() < self.limits.max_in_flight
    }

    fn wait(&self) -> Duration {
        let now = Instant::now();
        let mut wait = self
            .queues
            .next_wake()
            .map_or(IDLE_WAIT, |at| at.saturating_duration_since(now))
            .min(IDLE_WAIT);
        if self.cursor() > self.saved_cursor {
            let flush_at = self.saved_at + Duration::from_millis(self.limits.cursor_flush_ms);
            wait = wait.min(flush_at.saturating_duration_since(now));
        }
        if self.pulling && self.has_room() {
            wait = Duration::ZERO;
        }
        wait
    }

    fn pull(&mut self) {
        let room = self.limits.max_in_flight - self.outstanding.len();
        let limit = room.min(self.limits.catch_up_batch);
        let batch = self.source.events_after(self.highest_seen, limit);
        self.shared.stats.log_reads.fetch_add(1, Ordering::Relaxed);
        let caught_up = batch.len() < limit;
        for event in batch {
            self.take(event);
        }
        if caught_up {
            self.pulling = false;
        }
    }

    fn take(&mut self, event: ConversationEvent) {
        if event.id <= self.highest_seen {
            return;
        }
        self.highest_seen = event.id;
        if !self.subscription.wants(event.kind) {
            return;
        }
        self.outstanding.insert(event.id);
        self.enqueue(event, false);
        self.set_pending();
    }

    fn enqueue(&mut self, event: ConversationEvent, redelivery: bool) {
        let conv = event.conv;
        let attempt = Attempt {
            event,
            attempts: 0,
            redelivery,
        };
        self.queues
            .push(conv, attempt, Instant::now(), |a| a.event.id);
    }

    fn queue_redelivery(&mut self, ids: Option<&[u64]>) {
        let chosen: Vec<ConversationEvent> = {
            let dead = self.shared.dead.lock().unwrap_or_else(|p| p.into_inner());
            dead.iter()
                .filter(|d| ids.is_none_or(|ids| ids.contains(&d.event.id)))
                .filter(|d| !self.redelivering.contains(&d.event.id))
                .map(|d| d.event.clone())
                .collect()
        };
        for event in chosen {
            self.redelivering.insert(event.id);
            self.enqueue(event, true);
        }
        self.set_pending();
    }

    fn attempt(&mut self, conv: u64) {
        let now_secs = self.clock.unix_secs();
        let Some(attempt) = self.queues.head_mut(conv) else {
            return;
        };
        attempt.attempts += 1;
        if attempt.attempts > 1 {
            self.shared.stats.retried.fetch_add(1, Ordering::Relaxed);
        }
        let result = post(&self.agent, &self.subscription, &attempt.event, now_secs);
        let attempts = attempt.attempts;
        match result {
            Ok(()) => self.finish(conv, Outcome::Delivered),
            Err(error) if attempts < self.limits.max_attempts => {
                tracing::debug!(subscription = %self.subscription.name, %error, attempts, "webhook attempt failed");
                let backoff = Backoff {
                    initial: Duration::from_millis(self.limits.backoff_initial_ms),
                    max: Duration::from_millis(self.limits.backoff_max_ms),
                };
                self.queues
                    .defer(conv, Instant::now() + backoff.delay(attempts));
            }
            Err(error) => self.finish(conv, Outcome::Dead(error)),
        }
    }

    fn finish(&mut self, conv: u64, outcome: Outcome) {
        let Some(attempt) = self.queues.finish_head(conv, Instant::now()) else {
            return;
        };
        let id = attempt.event.id;
        let shared = Arc::clone(&self.shared);
        let stats = &shared.stats;
        if attempt.redelivery {
            self.redelivering.remove(&id);
        } else {
            self.outstanding.remove(&id);
        }
        match (outcome, attempt.redelivery) {
            (Outcome::Delivered, false) => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            (Outcome::Delivered, true) => {
                stats.redelivered.fetch_add(1, Ordering::Relaxed);
                self.update_dead(|dead| dead.retain(|d| d.event.id != id));
            }
            (Outcome::Dead(error), redelivery) => {
                if !redelivery {
                    stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                }
                let letter = DeadLetter {
                    event: attempt.event,
                    attempts: attempt.attempts,
                    last_error: error,
                    dead_at_ms: self.clock.unix_secs().saturating_mul(1000),
                };
                let max = self.limits.max_dead_letters;
                let dropped = &stats.dead_dropped;
                self.update_dead(|dead| {
                    dead.retain(|d| d.event.id != id);
                    dead.push(letter);
                    while dead.len() > max {
                        dead.remove(0);
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        }
        self.set_pending();
    }

    /// Changes the dead letters and writes them at once: they are the only copy of
    /// an event the cursor has moved past.
    fn update_dead(&mut self, change: impl FnOnce(&mut Vec<DeadLetter>)) {
        change(&mut self.shared.dead.lock().unwrap_or_else(|p| p.into_inner()));
        self.save_dead();
    }

    fn save_dead(&mut self) {
        let saved = {
            let dead = self.shared.dead.lock().unwrap_or_else(|p| p.into_inner());
            self.store.save_dead(&dead)
        };
        self.dead_unsaved = saved.is_err();
        if let Err(error) = saved {
            self.shared
                .stats
                .persist_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(subscription = %self.subscription.name, %error, "cannot write dead letters");
        }
    }

    /// Every event up to this id is delivered or dead-lettered.
    fn cursor(&self) -> u64 {
        match self.outstanding.first() {
            Some(first) => first.saturating_sub(1),
            None => self.highest_seen,
        }
    }

    fn save_cursor(&mut self, force: bool) {
        let cursor = self.cursor();
        self.shared.stats.cursor.store(cursor, Ordering::Relaxed);
        let due = self.saved_at.elapsed() >= Duration::from_millis(self.limits.cursor_flush_ms);
        if cursor <= self.saved_cursor || !(force || due) {
            return;
        }
        match self.store.save_cursor(cursor) {
            Ok(()) => {
                self.saved_cursor = cursor;
                self.saved_at = Instant::now();
            }
            Err(error) => {
                // Kept in memory; a restart before the next good write only
                // redelivers (at least once), it loses nothing.
                self.shared
                    .stats
                    .persist_errors
                    .fetch_add(1, Ordering::Relaxed);
                self.saved_at = Instant::now();
                tracing::error!(subscription = %self.subscription.name, %error, "cannot write the webhook cursor");
            }
        }
    }

    fn set_pending(&self) {
        let pending = self.outstanding.len() + self.redelivering.len();
        self.shared
            .stats
            .pending
            .store(pending as u64, Ordering::Relaxed);
    }
}

/// The JSON body of a delivery.
pub fn payload(subscription: &str, event: &ConversationEvent) -> Vec<u8> {
    serde_json::json!({
        "id": event.id,
        "subscription": subscription,
        "kind": event.kind.name(),
        "conv": event.conv,
        "at_ms": event.at_ms,
        "data": event.data,
    })
    .to_string()
    .into_bytes()
}

/// One signed POST; `Ok` only for a 2xx answer.
fn post(
    agent: &ureq::Agent,
    subscription: &Subscription,
    event: &ConversationEvent,
    now_secs: u64,
) -> Result<(), String> {
    let body = payload(&subscription.name, event);
    let signature = sign(subscription.secret.as_bytes(), now_secs, &body);
    let id = event.id.to_string();
    let headers = [
        (SIGNATURE_HEADER, signature.as_str()),
        ("Switchboard-Event-Id", id.as_str()),
    ];
    let answer = http_client::post_json(agent, &subscription.url, &headers, &body)
        .map_err(|e| e.to_string())?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!("http {}", answer.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_a_stable_record() {
        let event = ConversationEvent {
            id: 7,
            conv: 3,
            kind: super::super::EventKind::Message,
            at_ms: 1_700_000_000_000,
            data: serde_json::json!({"seq": 4}),
        };
        let text = String::from_utf8(payload("crm", &event)).expect("utf-8");
        assert_eq!(
            text,
            r#"{"at_ms":1700000000000,"conv":3,"data":{"seq":4},"id":7,"kind":"message","subscription":"crm"}"#
        );
    }
}
