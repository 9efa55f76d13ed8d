//! The outbound webhook dispatcher: conversation events to subscribers as signed
//! JSON POSTs, at least once and in order per conversation, with retries, a
//! dead-letter list, and a cursor on disk so a restart resumes where it was.
//!
//! One thread per subscription. [`WebhookDispatcher::publish`] never blocks: when a
//! subscription's queue is full the event is dropped from the queue and the thread
//! reads it back later from the engine's log ([`EventSource`]), so nothing is lost.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::channel::{self, Sender, TrySendError};
use serde::{Deserialize, Serialize};

use super::events::{ConversationEvent, EventSource, Subscription};
use super::limits::DispatcherLimits;
use super::store::SubscriptionStore;
use super::worker::SubscriptionWorker;
use crate::clock::Clock;
use crate::config::ConfigError;

/// An event that could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The event.
    pub event: ConversationEvent,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
    /// When it was dead-lettered, in Unix milliseconds.
    pub dead_at_ms: u64,
}

/// Why a dispatcher call failed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A subscription or limit is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state directory could not be read or written.
    #[error("webhook state for {subscription:?}: {source}")]
    Store {
        /// The subscription.
        subscription: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No subscription has that name.
    #[error("no webhook subscription named {0:?}")]
    UnknownSubscription(String),
    /// Too many redelivery requests are waiting; try again.
    #[error("too many redelivery requests are waiting")]
    Busy,
    /// A thread could not be started.
    #[error("cannot start the webhook dispatcher: {0}")]
    Start(std::io::Error),
}

/// Counters of one subscription.
#[derive(Debug, Default)]
pub struct SubscriptionStats {
    /// Events delivered (2xx).
    pub delivered: AtomicU64,
    /// Retries (attempts after the first).
    pub retried: AtomicU64,
    /// Events dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Dead letters delivered on redelivery.
    pub redelivered: AtomicU64,
    /// Dead letters dropped because the list was full.
    pub dead_dropped: AtomicU64,
    /// Events dropped from the queue (read back from the log later).
    pub overflowed: AtomicU64,
    /// Reads of the engine's log.
    pub log_reads: AtomicU64,
    /// Failed writes of the state files.
    pub persist_errors: AtomicU64,
    /// Events held in memory.
    pub pending: AtomicU64,
    /// The delivered cursor.
    pub cursor: AtomicU64,
}

pub(super) struct Shared {
    pub(super) dead: Mutex<Vec<DeadLetter>>,
    pub(super) lagging: AtomicBool,
    pub(super) stats: SubscriptionStats,
}

struct Handle {
    events: Option<Sender<ConversationEvent>>,
    redeliver: Option<Sender<Option<Vec<u64>>>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The running dispatcher. Dropping it stops it (cursors are written first).
pub struct WebhookDispatcher {
    subscriptions: BTreeMap<String, Handle>,
}

impl std::fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.subscriptions.keys()).finish()
    }
}

/// Picks one counter out of [`SubscriptionStats`].
type StatField = fn(&SubscriptionStats) -> &AtomicU64;

/// Redelivery requests waiting per subscription.
const REDELIVERY_QUEUE: usize = 64;

impl WebhookDispatcher {
    /// Starts one thread per subscription. Each loads its cursor and dead letters
    /// from `state_dir`; one with no cursor starts after `source.last_event_id()`,
    /// one with a cursor first asks `source` for the events after it.
    pub fn start(
        subscriptions: &[Subscription],
        limits: &DispatcherLimits,
        state_dir: &Path,
        source: Arc<dyn EventSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DispatchError> {
        limits.validate()?;
        let mut handles = BTreeMap::new();
        for subscription in subscriptions {
            subscription.validate()?;
            let store_error = |source| DispatchError::Store {
                subscription: subscription.name.clone(),
                source,
            };
            let store =
                SubscriptionStore::open(state_dir, &subscription.name).map_err(store_error)?;
            let cursor = store.load_cursor().map_err(store_error)?;
            let dead = store.load_dead().map_err(store_error)?;
            let shared = Arc::new(Shared {
                dead: Mutex::new(dead),
                lagging: AtomicBool::new(false),
                stats: SubscriptionStats::default(),
            });
            let (events_tx, events_rx) = channel::bounded(limits.queue);
            let (redeliver_tx, redeliver_rx) = channel::bounded(REDELIVERY_QUEUE);
            let worker = SubscriptionWorker::new(
                subscription.clone(),
                limits.clone(),
                store,
                cursor,
                Arc::clone(&source),
                Arc::clone(&clock),
                events_rx,
                redeliver_rx,
                Arc::clone(&shared),
            )
            .map_err(store_error)?;
            let thread = std::thread::Builder::new()
                .name(format!("webhook-{}", subscription.name))
                .spawn(move || worker.run())
                .map_err(DispatchError::Start)?;
            handles.insert(
                subscription.name.clone(),
                Handle {
                    events: Some(events_tx),
                    redeliver: Some(redeliver_tx),
                    shared,
                    thread: Some(thread),
                },
            );
        }
        Ok(Self {
            subscriptions: handles,
        })
    }

    /// Hands a new event (already in the engine's durable log) to every
    /// subscription. Never blocks and never loses it: a full queue means the
    /// subscription reads it back from the log.
    pub fn publish(&self, event: &ConversationEvent) {
        for handle in self.subscriptions.values() {
            let Some(events) = &handle.events else {
                continue;
            };
            if let Err(TrySendError::Full(_)) = events.try_send(event.clone()) {
                handle.shared.lagging.store(true, Ordering::SeqCst);
                handle
                    .shared
                    .stats
                    .overflowed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The dead letters of `subscription`, oldest first.
    pub fn dead_letters(&self, subscription: &str) -> Result<Vec<DeadLetter>, DispatchError> {
        let handle = self.handle(subscription)?;
        Ok(handle
            .shared
            .dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// Queues dead letters of `subscription` for another round of attempts: those
    /// with the given event ids, or all of them. Returns how many matched. They
    /// leave the list only once delivered; failing again, they stay.
    pub fn redeliver(
        &self,
        subscription: &str,
        event_ids: Option<Vec<u64>>,
    ) -> Result<usize, DispatchError> {
        let handle = self.handle(subscription)?;
        let matched = {
            let dead = handle.shared.dead.lock().unwrap_or_else(|p| p.into_inner());
            dead.iter()
                .filter(|d| {
                    event_ids
                        .as_ref()
                        .is_none_or(|ids| ids.contains(&d.event.id))
                })
                .count()
        };
        let sender = handle.redeliver.as_ref().ok_or(DispatchError::Busy)?;
        sender
            .try_send(event_ids)
            .map_err(|_| DispatchError::Busy)?;
        Ok(matched)
    }

    /// The counters of `subscription`.
    pub fn stats(&self, subscription: &str) -> Result<&SubscriptionStats, DispatchError> {
        Ok(&self.handle(subscription)?.shared.stats)
    }

    fn handle(&self, subscription: &str) -> Result<&Handle, DispatchError> {
        self.subscriptions
            .get(subscription)
            .ok_or_else(|| DispatchError::UnknownSubscription(subscription.to_owned()))
    }

    /// Every subscription's counters in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, StatField, &str); 10] = [
            ("delivered_total", |s| &s.delivered, "counter"),
            ("retries_total", |s| &s.retried, "counter"),
            ("dead_lettered_total", |s| &s.dead_lettered, "counter"),
            ("redelivered_total", |s| &s.redelivered, "counter"),
            ("dead_dropped_total", |s| &s.dead_dropped, "counter"),
            ("overflowed_total", |s| &s.overflowed, "counter"),
            ("log_reads_total", |s| &s.log_reads, "counter"),
            ("persist_errors_total", |s| &s.persist_errors, "counter"),
            ("pending", |s| &s.pending, "gauge"),
            ("cursor", |s| &s.cursor, "gauge"),
        ];
        for (name, get, kind) in counters {
            let _ = writeln!(out, "# TYPE switchboard_webhook_{name} {kind}");
            for (subscription, handle) in &self.subscriptions {
                let value = get(&handle.shared.stats).load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "switchboard_webhook_{name}{{subscription=\"{subscription}\"}} {value}"
                );
            }
        }
        out
    }

    /// Stops every thread after its attempt in flight and writes the cursors.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for handle in self.subscriptions.values_mut() {
            handle.events.take();
            handle.redeliver.take();
        }
        for handle in self.subscriptions.values_mut() {
            if let Some(thread) = handle.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for WebhookDispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}
