//! Connections waiting for the connect webhook (`--auth-webhook`).
//!
//! A request that needs the back end's word is parked: its bytes are kept as the
//! connection's head, its phase is `Authenticating`, and one call per credential goes
//! to the webhook's workers (a second connection with the same credential waits on the
//! same call). When the answer comes back over the inbound queue, it is cached and
//! every waiting connection's request is run again from its first byte — the same
//! path as any request, which now finds the answer. A back end that fails or is slow
//! gives 503 (not 401): the client's credential may be fine.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_driver::ThinBuf;
use switchboard_protocol::http::Request;

use super::conn::Phase;
use super::Shard;
use crate::auth::webhook::cache::VerdictCache;
use crate::auth::webhook::{self, NoCredential, Verdict, WebhookClient};
use crate::auth::Identity;
use crate::metrics::ShardCounters;

/// Extra time a parked connection waits beyond the call's own timeout.
const ANSWER_GRACE_MS: u64 = 1_000;

/// What the webhook says about a request, as far as the shard can tell now.
pub(super) enum Gate {
    /// No webhook, or the local (JWT) authenticator accepts the token: authenticate
    /// as without a webhook.
    Local,
    /// The back end's identity (fresh or cached).
    Known(Identity),
    /// Refused (401) or unavailable (503): already answered.
    Answered,
    /// Parked until the back end answers.
    Parked,
}

/// One credential's connections waiting for one call.
#[derive(Debug)]
struct Waiting {
    since_ms: u64,
    conns: Vec<(u32, u32)>,
}

/// A shard's side of the webhook.
#[derive(Debug)]
pub struct WebhookAuth {
    client: Arc<WebhookClient>,
    cache: VerdictCache,
    waiting: HashMap<Box<str>, Waiting>,
    /// Connections in `waiting`, all credentials together (bounded by
    /// `--auth-webhook-max-waiting`).
    waiting_conns: usize,
    /// A token the local authenticator accepts needs no call (`--jwt-*` set as well).
    local_first: bool,
    /// The answer being handed to its waiting connections (used even when the cache
    /// keeps nothing).
    fresh: Option<(Box<str>, Verdict)>,
}

impl WebhookAuth {
    /// This shard's waiting room and cache for `client`.
    pub fn new(client: Arc<WebhookClient>, local_first: bool) -> WebhookAuth {
        let entries = client.options().cache_entries;
        WebhookAuth {
            client,
            cache: VerdictCache::new(entries),
            waiting: HashMap::new(),
            waiting_conns: 0,
            local_first,
            fresh: None,
        }
    }
}

impl Shard {
    /// Whether the webhook decides about `request` (which begins `buf`), and what.
    pub(super) fn auth_gate(
        &mut self,
        request: &Request<'_>,
        buf: &[u8],
        slot: u32,
        generation: u32,
    ) -> Gate {
        let Some(hook) = self.webhook.as_mut() else {
            return Gate::Local;
        };
        if hook.local_first {
            let token = request.token();
            match self.auth.authenticate(token.as_deref(), 0) {
                // Verified once, here; without a token the identity is anonymous and
                // named after the connection, which only the caller knows.
                Ok(identity) if token.is_some() => return Gate::Known(identity),
                Ok(_) => return Gate::Local,
                Err(_) => {}
            }
        }
        let credential = match webhook::credential(request, &hook.client.options().cookies) {
            Ok(credential) => credential,
            Err(why) => {
                let message = match why {
                    NoCredential::Missing => "missing token",
                    NoCredential::TooLong => "credential over 8 KiB",
                };
                self.answer_verdict(slot, generation, &Verdict::Refused(message.into()));
                return Gate::Answered;
            }
        };
        let now = self.now_ms;
        let known = match &hook.fresh {
            Some((key, verdict)) if *key == credential.key => Some(verdict.clone()),
            _ => hook.cache.get(&credential.key, now).cloned(),
        };
        if let Some(verdict) = known {
            ShardCounters::bump(&self.shared.metrics().shard(self.index).auth_cache_hits);
            return match verdict {
                Verdict::Known(identity, _) => Gate::Known(identity),
                other => {
                    self.answer_verdict(slot, generation, &other);
                    Gate::Answered
                }
            };
        }
        let options = hook.client.options();
        if hook.waiting_conns >= options.max_waiting {
            let busy =
                Verdict::Unavailable("too many connections waiting for the auth back end".into());
            self.answer_verdict(slot, generation, &busy);
            return Gate::Answered;
        }
        let first = !hook.waiting.contains_key(&credential.key);
        if first
            && !hook
                .client
                .ask(self.index, credential.key.clone(), credential.body)
        {
            let full = Verdict::Unavailable("the auth back end's queue is full".into());
            self.answer_verdict(slot, generation, &full);
            return Gate::Answered;
        }
        let wait_ms = options.timeout.as_millis() as u64 + ANSWER_GRACE_MS;
        hook.waiting
            .entry(credential.key)
            .or_insert(Waiting {
                since_ms: now,
                conns: Vec::new(),
            })
            .conns
            .push((slot, generation));
        hook.waiting_conns += 1;
        self.park(slot, generation, buf, wait_ms);
        Gate::Parked
    }

    fn park(&mut self, slot: u32, generation: u32, buf: &[u8], wait_ms: u64) {
        let deadline = self.deadline_in(wait_ms);
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        let mut head = ThinBuf::with_capacity(buf.len());
        head.extend_from_slice(buf);
        conn.head = Some(head);
        conn.phase = Phase::Authenticating;
        conn.deadline_ms = deadline.max(1);
    }

    /// Bytes that arrive while a connection waits: kept behind its request, within
    /// the bound of a request head and body.
    pub(super) fn on_bytes_while_authenticating(
        &mut self,
        slot: u32,
        generation: u32,
        data: &[u8],
    ) {
        let bound = self.settings.max_handshake_bytes + self.session_limits.max_body;
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        let Some(head) = conn.head.as_mut() else {
            return;
        };
        if head.len() + data.len() > bound {
            return self.teardown(slot, generation);
        }
        head.extend_from_slice(data);
    }

    /// The back end's answer for `key`: cached, and every connection waiting on it
    /// runs its request again (or gets 503 when the back end failed).
    pub(super) fn on_auth_answer(&mut self, key: Box<str>, verdict: Verdict) {
        let Some(hook) = self.webhook.as_mut() else {
            return;
        };
        let now = self.now_ms;
        let options = hook.client.options();
        let until = match &verdict {
            Verdict::Known(_, expires_in_s) => {
                let ttl = options.cache_ttl.as_millis() as u64;
                now + expires_in_s.map_or(ttl, |s| ttl.min(s.saturating_mul(1000)))
            }
            Verdict::Refused(_) => now + options.refusal_ttl.as_millis() as u64,
            Verdict::Unavailable(_) => now,
        };
        hook.cache.put(key.clone(), verdict.clone(), until, now);
        let waiting = hook
            .waiting
            .remove(&key)
            .map(|w| w.conns)
            .unwrap_or_default();
        hook.waiting_conns -= waiting.len();
        hook.fresh = Some((key, verdict.clone()));
        for (slot, generation) in waiting {
            let head = match self.conns.get_mut(slot, generation) {
                Some(conn) if conn.phase == Phase::Authenticating => {
                    conn.phase = Phase::Handshake;
                    conn.head.take()
                }
                _ => None,
            };
            let Some(mut head) = head else {
                continue;
            };
            match &verdict {
                Verdict::Unavailable(_) => self.answer_verdict(slot, generation, &verdict),
                _ => self.handshake_from(slot, generation, &mut head),
            }
        }
        if let Some(hook) = self.webhook.as_mut() {
            hook.fresh = None;
        }
    }

    /// Housekeeping: forgets calls whose answer never came (their connections are
    /// answered 503 by their own deadline).
    pub(super) fn sweep_auth_waits(&mut self) {
        let now = self.now_ms;
        if let Some(hook) = self.webhook.as_mut() {
            let wait_ms = hook.client.options().timeout.as_millis() as u64 + 2 * ANSWER_GRACE_MS;
            let mut forgotten = 0;
            hook.waiting.retain(|_, w| {
                let keep = w.since_ms + wait_ms > now;
                if !keep {
                    forgotten += w.conns.len();
                }
                keep
            });
            hook.waiting_conns -= forgotten;
        }
    }

    /// Answers a refusal (401) or a failure (503) with a JSON error.
    pub(super) fn answer_verdict(&mut self, slot: u32, generation: u32, verdict: &Verdict) {
        match verdict {
            Verdict::Refused(reason) => self.respond_error(
                slot,
                generation,
                401,
                "Unauthorized",
                "unauthorized",
                reason,
            ),
            Verdict::Unavailable(why) => self.respond_error(
                slot,
                generation,
                503,
                "Service Unavailable",
                "auth_unavailable",
                why,
            ),
            Verdict::Known(..) => {}
        }
    }
}
