//! Switchboard's channel layer: how visitors on other platforms (a WeChat Official
//! Account, any system that speaks signed JSON webhooks, a kiosk) reach agents, and
//! how outside systems are told about conversations.
//!
//! # The pieces
//!
//! - [`adapter`]: the interface a platform driver implements. An [`Adapter`] turns an
//!   inbound HTTP request into [`VisitorEvent`]s plus the HTTP answer, and delivers an
//!   agent's [`OutboundLine`] back through the platform.
//! - [`ChannelHub`]: built from a [`HubConfig`] (the `--channels FILE`), it serves
//!   every account's path on its own HTTP listener, dedupes platform retries,
//!   rate-limits, and delivers outbound lines on its own worker threads with bounded
//!   queues, timeouts, retries with backoff and jitter, and per-conversation order.
//!   [`ChannelHub::reload`] swaps accounts without touching the others.
//! - [`wechat`]: WeChat Official Account (plaintext, compatible and safe modes,
//!   WXBizMsgCrypt, access tokens, the customer-service API, the 48-hour window).
//! - [`webhook`]: the generic signed JSON channel, and the [`WebhookDispatcher`] that
//!   sends conversation events to subscribers at least once, in order per
//!   conversation, with dead letters and a cursor that survives restarts.
//! - [`device`]: the small example adapter of `channels/README.md`.
//!
//! # The engine's side
//!
//! The engine implements [`ConversationSink`] (called on hub threads; it pushes typed
//! commands into its shards' bounded queues and returns), calls
//! [`ChannelHub::send_outbound`] when an agent writes into a channel conversation
//! (returns at once; the result arrives as a [`DeliveryReport`]), and for webhooks
//! implements [`webhook::EventSource`] over its durable event log and calls
//! [`WebhookDispatcher::publish`] after each event is stored. Nothing here ever runs
//! on a shard or blocks one.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod clock;
pub mod config;
pub mod device;
pub mod event;
pub mod http_client;
pub mod hub;
pub mod metrics;
mod ordered;
pub mod pacing;
pub mod recent;
pub mod sink;
pub mod webhook;
pub mod wechat;

pub use adapter::{Adapter, AdapterKind};
pub use config::HubConfig;
pub use event::{
    DeliveryFailure, DeliveryOutcome, DeliveryReport, Identity, OutboundLine, VisitorContent,
    VisitorEvent,
};
pub use hub::{AdapterRegistry, ChannelHub, HubError, OutboundRefused, ReloadSummary};
pub use sink::{ConversationSink, SinkBusy};
pub use webhook::WebhookDispatcher;
