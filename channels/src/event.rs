//! The unified records that cross between the channel layer and the engine: what a
//! visitor did on a platform, what an agent wants sent back, and how that went.
//!
//! These are plain data, independent of any platform, so the engine turns every
//! channel's traffic into the same service commands.

use std::fmt;
use std::time::SystemTime;

/// A visitor's identity on a platform, such as `wechat:<appid>:<openid>`.
///
/// The first segment is the adapter kind, the rest is chosen by the adapter and is
/// stable for one person on one account, so the engine can key conversations by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(String);

impl Identity {
    /// Joins `kind`, `scope` (an app id or account name) and the platform's user id.
    pub fn new(kind: &str, scope: &str, user: &str) -> Self {
        Self(format!("{kind}:{scope}:{user}"))
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The platform's own user id: the part after the second `:`.
    pub fn platform_user(&self) -> &str {
        self.0.splitn(3, ':').nth(2).unwrap_or("")
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the visitor sent.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitorContent {
    /// A text message.
    Text {
        /// The text as the visitor typed it.
        text: String,
    },
    /// A picture, kept on the platform.
    Image {
        /// The platform's media id.
        media_id: String,
        /// A URL the platform gave for the picture, if any.
        url: Option<String>,
    },
    /// A voice message, kept on the platform.
    Voice {
        /// The platform's media id.
        media_id: String,
        /// The codec the platform names (`amr`, `speex`, ...).
        format: Option<String>,
        /// The platform's speech recognition of it, when turned on.
        recognition: Option<String>,
    },
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// The map zoom the visitor used.
        scale: Option<u32>,
        /// The place name the platform attached.
        label: Option<String>,
    },
    /// The visitor followed the account (or came back).
    Subscribe,
    /// The visitor unfollowed the account; the platform refuses replies from now on.
    Unsubscribe,
    /// Any other platform event, by its platform name (`CLICK`, `SCAN`, ...).
    OtherEvent {
        /// The platform's event name.
        name: String,
    },
}

impl VisitorContent {
    /// A short name for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Voice { .. } => "voice",
            Self::Location { .. } => "location",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::OtherEvent { .. } => "event",
        }
    }
}

/// One thing a visitor did, handed to the engine through [`crate::ConversationSink`].
#[derive(Debug, Clone, PartialEq)]
pub struct VisitorEvent {
    /// The configured account it came through (its `name`).
    pub account: String,
    /// Who did it.
    pub identity: Identity,
    /// What they did.
    pub content: VisitorContent,
    /// The platform's id of this message, when it has one (WeChat's `MsgId`).
    pub platform_msg_id: Option<String>,
    /// When the platform says it happened.
    pub sent_at: SystemTime,
}

/// A line an agent wrote into a channel conversation, to be delivered to the visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundLine {
    /// The engine's conversation id.
    pub conv: u64,
    /// The line's sequence number in the conversation; lines leave in this order.
    pub seq: u64,
    /// The account to send through (its `name`).
    pub account: String,
    /// The visitor, as the adapter gave it in [`VisitorEvent::identity`].
    pub identity: Identity,
    /// The text to send.
    pub body: String,
}

/// How the delivery of one [`OutboundLine`] ended, given to
/// [`crate::ConversationSink::delivery_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The line's conversation.
    pub conv: u64,
    /// The line's sequence number.
    pub seq: u64,
    /// The account it went through.
    pub account: String,
    /// Delivered or failed.
    pub outcome: DeliveryOutcome,
    /// Attempts made, including the last one.
    pub attempts: u32,
}

/// The result of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The platform took the line.
    Delivered,
    /// The line will not be delivered; the engine shows this as a system item.
    Failed(DeliveryFailure),
}

/// Why a line could not be delivered. `Display` is a sentence fit for a system item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    /// The platform only allows replies within a window after the visitor's last
    /// message (WeChat: 48 hours), and it has passed.
    #[error(
        "the visitor's reply window has closed (no message from them in the last {hours} hours)"
    )]
    ReplyWindowClosed {
        /// The window's length.
        hours: u64,
    },
    /// The platform refused the line for good.
    #[error("the platform refused the message: {code} {message}")]
    Rejected {
        /// The platform's error code.
        code: i64,
        /// The platform's error message.
        message: String,
    },
    /// Every attempt failed with a temporary error.
    #[error("gave up after {attempts} attempts: {last_error}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last temporary error.
        last_error: String,
    },
    /// The line names an account the hub does not have (any more).
    #[error("no channel account named {0:?}")]
    UnknownAccount(String),
    /// The identity does not belong to this account's platform.
    #[error("the identity {0:?} does not belong to this account")]
    ForeignIdentity(String),
    /// The hub stopped before the line could go out.
    #[error("the channel hub shut down before delivery")]
    ShutDown,
}
