//! The conversation events the engine publishes to webhook subscriptions, the
//! subscriptions themselves, and the engine's durable event log as the dispatcher
//! reads it after a restart or an overflow.

use serde::{Deserialize, Serialize};

use crate::config::{invalid, ConfigError};

/// What happened in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A conversation was opened.
    Created,
    /// An agent was given the conversation.
    Assigned,
    /// A line was written.
    Message,
    /// The conversation moved to another agent.
    Transferred,
    /// The conversation ended.
    Ended,
    /// A bot handed the conversation to a person.
    Handoff,
}

impl EventKind {
    /// The name used in payloads and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Assigned => "assigned",
            Self::Message => "message",
            Self::Transferred => "transferred",
            Self::Ended => "ended",
            Self::Handoff => "handoff",
        }
    }
}

/// One event from the engine's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationEvent {
    /// Its position in the engine's durable event log: strictly increasing in the
    /// order [`super::WebhookDispatcher::publish`] is called.
    pub id: u64,
    /// The conversation.
    pub conv: u64,
    /// What happened.
    pub kind: EventKind,
    /// When, in Unix milliseconds.
    pub at_ms: u64,
    /// The event's details as the engine exports them (agent, line, ...).
    pub data: serde_json::Value,
}

/// The engine's durable event log, read by the dispatcher (on its own threads).
pub trait EventSource: Send + Sync {
    /// Up to `limit` events with `id > after`, in id order.
    fn events_after(&self, after: u64, limit: usize) -> Vec<ConversationEvent>;

    /// The id of the newest event; a subscription with no stored cursor starts after
    /// it (it is not sent the history).
    fn last_event_id(&self) -> u64;
}

/// An outbound webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// A unique name: letters, digits, `-`, `_`; names its files in the state
    /// directory.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC secret of the `Switchboard-Signature` header.
    pub secret: String,
    /// The kinds sent; empty means all.
    #[serde(default)]
    pub events: Vec<EventKind>,
}

impl Subscription {
    /// Whether events of `kind` go to this subscription.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !name_ok {
            return invalid(format!(
                "subscription name {:?} must be 1-64 letters, digits, '-' or '_'",
                self.name
            ));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return invalid(format!(
                "subscription {:?}: url must be http:// or https://",
                self.name
            ));
        }
        if self.secret.len() < 16 {
            return invalid(format!(
                "subscription {:?}: secret must be at least 16 bytes",
                self.name
            ));
        }
        Ok(())
    }
}
