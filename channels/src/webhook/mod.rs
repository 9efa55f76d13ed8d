//! Signed webhooks both ways.
//!
//! - Inbound ([`WebhookKind`], kind `webhook`): a generic JSON channel. A system
//!   POSTs a visitor's message signed with HMAC-SHA256 (`Switchboard-Signature`),
//!   optionally with an `Idempotency-Key`; agent replies are POSTed back to the
//!   account's `reply_url`, signed the same way.
//! - Outbound ([`WebhookDispatcher`]): conversation events to subscribers.

mod dispatcher;
mod events;
mod inbound;
mod limits;
pub mod signature;
pub mod store;
mod worker;

pub use dispatcher::{DeadLetter, DispatchError, SubscriptionStats, WebhookDispatcher};
pub use events::{ConversationEvent, EventKind, EventSource, Subscription};
pub use inbound::{WebhookAdapter, WebhookKind, WebhookMessage, WebhookSettings};
pub use limits::DispatcherLimits;
pub use worker::payload;
