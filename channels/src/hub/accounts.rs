//! One account as the hub runs it: its adapter and the state the hub keeps around
//! it (dedupe window, rate buckets, counters), and the inbound pipeline every
//! request of the account goes through.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::adapter::{Adapter, HttpReply, InboundRequest, RefusalReason};
use crate::config::AccountSpec;
use crate::metrics::AccountMetrics;
use crate::pacing::{Backoff, TokenBucket};
use crate::recent::RecentKeys;
use crate::sink::ConversationSink;

/// A running account.
#[derive(Debug)]
pub struct Account {
    /// Its configuration entry.
    pub spec: AccountSpec,
    /// Its adapter.
    pub adapter: Arc<dyn Adapter>,
    /// Its counters.
    pub metrics: Arc<AccountMetrics>,
    dedupe: RecentKeys,
    inbound_bucket: Option<Mutex<TokenBucket>>,
    outbound_bucket: Mutex<TokenBucket>,
}

impl Account {
    /// Wraps a built adapter.
    pub fn new(spec: AccountSpec, adapter: Arc<dyn Adapter>, metrics: Arc<AccountMetrics>) -> Self {
        let now = Instant::now();
        let limits = &spec.limits;
        Self {
            dedupe: RecentKeys::new(
                limits.dedupe_capacity,
                Duration::from_secs(limits.dedupe_window_secs),
            ),
            inbound_bucket: spec
                .inbound_rate
                .as_ref()
                .map(|rate| Mutex::new(TokenBucket::new(rate, now))),
            outbound_bucket: Mutex::new(TokenBucket::new(&spec.rate, now)),
            spec,
            adapter,
            metrics,
        }
    }

    /// The whole inbound pipeline after the body was read: rate limit, the adapter,
    /// dedupe, the sink. Never blocks on anything but short locks.
    pub fn handle_inbound(
        &self,
        request: &InboundRequest<'_>,
        sink: &dyn ConversationSink,
        now: SystemTime,
    ) -> HttpReply {
        let started = Instant::now();
        let reply = self.run_inbound(request, sink, now);
        self.metrics.inbound_latency.observe(started.elapsed());
        reply
    }

    fn run_inbound(
        &self,
        request: &InboundRequest<'_>,
        sink: &dyn ConversationSink,
        now: SystemTime,
    ) -> HttpReply {
        if let Some(bucket) = &self.inbound_bucket {
            if lock(bucket).try_take(Instant::now()).is_err() {
                return self.refuse(RefusalReason::RateLimited);
            }
        }
        let accepted = match self.adapter.inbound(request, now) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                self.metrics.refused(refusal.reason);
                return refusal.reply;
            }
        };
        for incoming in accepted.events {
            let key = incoming.dedupe_key.as_deref();
            if key.is_some_and(|key| !self.dedupe.claim(key, now)) {
                self.metrics
                    .inbound_duplicates
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if sink.visitor_event(incoming.event).is_err() {
                // Forget it so the platform's retry is taken; events before it in
                // this request stay claimed, so a retry does not repeat them.
                if let Some(key) = key {
                    self.dedupe.release(key);
                }
                return self.refuse(RefusalReason::Busy);
            }
        }
        self.metrics
            .inbound_accepted
            .fetch_add(1, Ordering::Relaxed);
        accepted.reply
    }

    /// Counts a refusal decided by the hub and gives the adapter's answer for it.
    pub fn refuse(&self, reason: RefusalReason) -> HttpReply {
        self.metrics.refused(reason);
        self.adapter.refusal_reply(reason)
    }

    /// Takes an outbound token, or says how long until one is there.
    pub fn take_outbound_token(&self, now: Instant) -> Result<(), Duration> {
        lock(&self.outbound_bucket).try_take(now)
    }

    /// The account's retry backoff.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: Duration::from_millis(self.spec.limits.backoff_initial_ms),
            max: Duration::from_millis(self.spec.limits.backoff_max_ms),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The accounts of one configuration, by path and by name. Replaced whole on
/// reload, so a request sees one consistent set.
#[derive(Debug, Default)]
pub struct Routes {
    by_path: HashMap<String, Arc<Account>>,
    by_name: HashMap<String, Arc<Account>>,
}

impl Routes {
    /// A table of `accounts`.
    pub fn new(accounts: impl IntoIterator<Item = Arc<Account>>) -> Self {
        let mut routes = Self::default();
        for account in accounts {
            routes
                .by_path
                .insert(account.spec.path.clone(), Arc::clone(&account));
            routes.by_name.insert(account.spec.name.clone(), account);
        }
        routes
    }

    /// The account serving `path`.
    pub fn by_path(&self, path: &str) -> Option<&Arc<Account>> {
        self.by_path.get(path)
    }

    /// The account called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Account>> {
        self.by_name.get(name)
    }

    /// Every account.
    pub fn accounts(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_name.values()
    }
}
