//! The adapter interface: how a platform's traffic becomes unified events and how an
//! agent's line goes back out. An adapter is written like a driver; the hub owns the
//! threads, the listener, dedupe, rate limits, retries and metrics around it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::Clock;
use crate::config::{AccountSpec, ConfigError};
use crate::event::{DeliveryFailure, OutboundLine, VisitorEvent};

/// The HTTP method of an inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// Anything else.
    Other,
}

/// An inbound HTTP request on an account's path, with its body already read and
/// bounded by the account's `max_body_bytes`.
#[derive(Debug)]
pub struct InboundRequest<'a> {
    /// The method.
    pub method: Method,
    /// The path without the query.
    pub path: &'a str,
    /// The raw query string (without `?`), possibly empty.
    pub query: &'a str,
    /// Header names and values as sent.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl InboundRequest<'_> {
    /// The first query parameter called `name`, form-decoded (`%XX` and `+`).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The HTTP answer to give the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// An `application/json` answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }
}

/// A visitor event together with the key the hub dedupes it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The event for the engine.
    pub event: VisitorEvent,
    /// Retries of the same platform message carry the same key; `None` means the
    /// platform gives no way to tell, and the event is never deduped.
    pub dedupe_key: Option<String>,
}

/// An inbound request the adapter accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The visitor events it carried (none for a verification handshake).
    pub events: Vec<Incoming>,
    /// The answer once every event is with the engine.
    pub reply: HttpReply,
}

/// Why an inbound request was refused; the metric label is [`RefusalReason::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// No account serves the path.
    UnknownPath,
    /// The method is not one the account takes.
    Method,
    /// The body is over `max_body_bytes`.
    TooLarge,
    /// The body or query could not be parsed.
    Malformed,
    /// A signature did not match.
    BadSignature,
    /// The message is for another app id.
    WrongApp,
    /// The timestamp is outside the replay window.
    Stale,
    /// Over the account's inbound rate limit.
    RateLimited,
    /// The engine's queue was full.
    Busy,
}

impl RefusalReason {
    /// Every reason, in the order of [`RefusalReason::index`].
    pub const ALL: [Self; 9] = [
        Self::UnknownPath,
        Self::Method,
        Self::TooLarge,
        Self::Malformed,
        Self::BadSignature,
        Self::WrongApp,
        Self::Stale,
        Self::RateLimited,
        Self::Busy,
    ];

    /// The Prometheus label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownPath => "unknown_path",
            Self::Method => "method",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::WrongApp => "wrong_app",
            Self::Stale => "stale",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
        }
    }

    /// A dense index for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The documented default answer: status and a short lowercase reason.
    pub fn default_reply(self) -> HttpReply {
        let (status, text) = match self {
            Self::UnknownPath => (404, "unknown path"),
            Self::Method => (405, "method not allowed"),
            Self::TooLarge => (413, "body too large"),
            Self::Malformed => (400, "malformed request"),
            Self::BadSignature => (401, "invalid signature"),
            Self::WrongApp => (403, "wrong app id"),
            Self::Stale => (403, "timestamp outside the replay window"),
            Self::RateLimited => (429, "rate limited"),
            Self::Busy => (503, "busy, retry later"),
        };
        HttpReply::text(status, text)
    }
}

/// A refused inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// What to answer.
    pub reply: HttpReply,
}

impl From<RefusalReason> for Refusal {
    fn from(reason: RefusalReason) -> Self {
        Self {
            reason,
            reply: reason.default_reply(),
        }
    }
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later (timeout, connection refused, 5xx, platform busy).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help.
    #[error("permanent failure: {0}")]
    Permanent(DeliveryFailure),
}

/// One platform account's driver. The hub calls `inbound` on its HTTP threads and
/// `deliver` on its outbound worker threads, possibly at the same time, so an adapter
/// keeps its own state behind locks. Neither call may wait on the engine.
pub trait Adapter: Send + Sync + fmt::Debug {
    /// Turns one request into events and the answer. Must not block on anything but
    /// the CPU: platforms retry when the answer is slow.
    fn inbound(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal>;

    /// Sends one line through the platform. May block up to the account's timeouts.
    fn deliver(&self, line: &OutboundLine, now: SystemTime) -> Result<(), DeliveryError>;

    /// The answer for a refusal the hub decides itself (too large, rate limited,
    /// busy). Override when the platform expects another shape.
    fn refusal_reply(&self, reason: RefusalReason) -> HttpReply {
        reason.default_reply()
    }
}

/// What an adapter kind gets when it builds an account.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The hub's clock, for adapters that keep time-based state.
    pub clock: Arc<dyn Clock>,
    /// An HTTP client configured with the account's timeouts.
    pub http: ureq::Agent,
}

/// A kind of adapter (`wechat`, `webhook`, ...), registered with the hub by name.
pub trait AdapterKind: Send + Sync {
    /// The `kind` value in the configuration file.
    fn name(&self) -> &'static str;

    /// Builds one account's adapter from its entry (its `settings` table is the
    /// kind's own schema). Errors are configuration errors: reported, never panics.
    fn build(
        &self,
        account: &AccountSpec,
        context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError>;
}
