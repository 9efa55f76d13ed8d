//! The serde shapes of the JSON encoding.
//!
//! Encoding goes through one internally tagged enum per direction (serde writes
//! `"type"` first, with no buffering), except the server's `event`, whose raw JSON
//! `data` is written by hand. Decoding reads the `"type"` field alone first,
//! then the fields of that one frame type: serde's own internally tagged decoding
//! buffers the whole object in an allocated tree, and would hide "unknown type" inside
//! a generic message.
//!
//! Client frames are decoded borrowing their strings (`Cow` with `borrow`: no copy
//! unless the string has escapes); server frames are decoded into owned strings, as
//! only clients, tests and the loadgen read them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::chat::{AgentStatus, ConversationState, Role, SystemKind};

/// Every client-to-server frame, as written.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientOut<'a> {
    Direct {
        to: u64,
        body: &'a str,
    },
    Start {},
    Send {
        conv: u64,
        client_msg_id: &'a str,
        body: &'a str,
    },
    Ack {
        conv: u64,
        seq: u64,
    },
    Resume {
        conv: u64,
        after_seq: u64,
    },
    Typing {
        conv: u64,
    },
    Read {
        conv: u64,
        seq: u64,
    },
    End {
        conv: u64,
    },
    AgentStatus {
        status: AgentStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        capacity: Option<u32>,
    },
    Transfer {
        conv: u64,
        to: &'a str,
    },
    AcceptTransfer {
        conv: u64,
    },
    DeclineTransfer {
        conv: u64,
    },
}

/// Every server-to-client frame but `event`, as written. Absent optional fields are
/// left out.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerOut<'a> {
    Welcome {
        conn: u64,
        shard: u16,
        user: &'a str,
        role: Role,
    },
    Conversation {
        conv: u64,
        state: ConversationState,
        visitor: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent: Option<&'a str>,
        last_seq: u64,
    },
    Message {
        conv: u64,
        seq: u64,
        ts: u64,
        from: &'a str,
        client_msg_id: &'a str,
        body: &'a str,
    },
    System {
        conv: u64,
        seq: u64,
        ts: u64,
        event: SystemKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        position: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
    },
    Sent {
        conv: u64,
        client_msg_id: &'a str,
        seq: u64,
        ts: u64,
    },
    Typing {
        conv: u64,
        from: &'a str,
    },
    Read {
        conv: u64,
        from: &'a str,
        seq: u64,
    },
    Gap {
        conv: u64,
        after_seq: u64,
        oldest_seq: u64,
    },
    TransferOffer {
        conv: u64,
        from_agent: &'a str,
        visitor: &'a str,
    },
    Queue {
        conv: u64,
        position: u32,
    },
    Presence {
        conv: u64,
        user: &'a str,
        role: Role,
        online: bool,
    },
    Delivered {
        from: u64,
        body: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
}

/// The `"type"` of a received frame; every other field is skipped unread.
#[derive(Debug, Deserialize)]
pub(crate) struct TypeTag<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
}

/// Fields of `direct`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectIn<'a> {
    pub(crate) to: u64,
    #[serde(borrow)]
    pub(crate) body: Cow<'a, str>,
}

/// Fields of `send`.
#[derive(Debug, Deserialize)]
pub(crate) struct SendIn<'a> {
    pub(crate) conv: u64,
    #[serde(borrow)]
    pub(crate) client_msg_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) body: Cow<'a, str>,
}

/// Fields of `typing`, `end`, `accept_transfer`, `decline_transfer` (client).
#[derive(Debug, Deserialize)]
pub(crate) struct ConvIn {
    pub(crate) conv: u64,
}

/// Fields of `ack` and `read` (client).
#[derive(Debug, Deserialize)]
pub(crate) struct ConvSeqIn {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
}

/// Fields of `resume`.
#[derive(Debug, Deserialize)]
pub(crate) struct ResumeIn {
    pub(crate) conv: u64,
    pub(crate) after_seq: u64,
}

/// Fields of `agent_status`.
#[derive(Debug, Deserialize)]
pub(crate) struct AgentStatusIn {
    pub(crate) status: AgentStatus,
    pub(crate) capacity: Option<u32>,
}

/// Fields of `transfer`.
#[derive(Debug, Deserialize)]
pub(crate) struct TransferIn<'a> {
    pub(crate) conv: u64,
    #[serde(borrow)]
    pub(crate) to: Cow<'a, str>,
}

/// Fields of `welcome`.
#[derive(Debug, Deserialize)]
pub(crate) struct WelcomeIn {
    pub(crate) conn: u64,
    pub(crate) shard: u16,
    pub(crate) user: String,
    pub(crate) role: Role,
}

/// Fields of `conversation`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConversationIn {
    pub(crate) conv: u64,
    pub(crate) state: ConversationState,
    pub(crate) visitor: String,
    pub(crate) agent: Option<String>,
    pub(crate) last_seq: u64,
}

/// Fields of `message`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageIn {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) from: String,
    pub(crate) client_msg_id: String,
    pub(crate) body: String,
}

/// Fields of `system`.
#[derive(Debug, Deserialize)]
pub(crate) struct SystemIn {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) event: SystemKind,
    pub(crate) agent: Option<String>,
    pub(crate) position: Option<u32>,
    pub(crate) reason: Option<String>,
}

/// Fields of `sent`.
#[derive(Debug, Deserialize)]
pub(crate) struct SentIn {
    pub(crate) conv: u64,
    pub(crate) client_msg_id: String,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
}

/// Fields of `typing` (server).
#[derive(Debug, Deserialize)]
pub(crate) struct TypingIn {
    pub(crate) conv: u64,
    pub(crate) from: String,
}

/// Fields of `read` (server).
#[derive(Debug, Deserialize)]
pub(crate) struct ReadIn {
    pub(crate) conv: u64,
    pub(crate) from: String,
    pub(crate) seq: u64,
}

/// Fields of `gap`.
#[derive(Debug, Deserialize)]
pub(crate) struct GapIn {
    pub(crate) conv: u64,
    pub(crate) after_seq: u64,
    pub(crate) oldest_seq: u64,
}

/// Fields of `transfer_offer`.
#[derive(Debug, Deserialize)]
pub(crate) struct TransferOfferIn {
    pub(crate) conv: u64,
    pub(crate) from_agent: String,
    pub(crate) visitor: String,
}

/// Fields of `event`: `data` is any JSON value, kept as its raw text. (`event` is
/// written by hand, not through [`ServerOut`]: see `write_event`.)
#[derive(Debug, Deserialize)]
pub(crate) struct EventIn {
    pub(crate) name: String,
    pub(crate) data: Box<RawValue>,
}

/// Fields of `delivered`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeliveredIn {
    pub(crate) from: u64,
    pub(crate) body: String,
}

/// Fields of `error`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorIn {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// Fields of `queue`.
#[derive(Debug, Deserialize)]
pub(crate) struct QueueIn {
    pub(crate) conv: u64,
    pub(crate) position: u32,
}

/// Fields of `presence`.
#[derive(Debug, Deserialize)]
pub(crate) struct PresenceIn {
    pub(crate) conv: u64,
    pub(crate) user: String,
    pub(crate) role: Role,
    pub(crate) online: bool,
}
