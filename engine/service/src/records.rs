//! A conversation as a store keeps it (Redis in cluster mode, the local log on a single
//! node): its state (state machine, next sequence number, followers) as one record and
//! its items as one record each.
//!
//! What is stored outlives the code that wrote it, so the stored form is an explicit,
//! versioned record (`format::v1`), never a serde image of the in-memory types: a field
//! renamed or a variant reordered in the code changes nothing on disk or in Redis. Every
//! record carries `"v"`; the form written before versions existed (`format::v0`, the
//! serde image of the in-memory types as of 2026-12) is still read, so a node upgraded
//! in place reads what its predecessor stored. Golden files in `tests/golden/` pin both.

mod format;

use switchboard_protocol::conversation::Conversation;

use crate::home::Item;
use crate::ids::Peer;

pub use format::{
    decode_item, decode_state, encode_item, encode_state, RecordError, RECORD_VERSION,
};

/// The state of a conversation, besides its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvState {
    /// The state machine.
    pub fsm: Conversation,
    /// The sequence number the next item gets.
    pub next_seq: u64,
    /// When it was opened (ms since the epoch).
    pub created_ms: u64,
    /// The last queue position announced while waiting.
    pub queue_position: Option<u32>,
    /// The connections that follow it (on any node).
    pub followers: Vec<StoredFollower>,
}

/// A connection following a conversation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFollower {
    /// The connection (its id names its node).
    pub peer: Peer,
    /// Its user.
    pub user: Box<str>,
    /// The highest sequence number it had acknowledged when the state was written.
    pub acked: u64,
}

/// One fenced write of a conversation: its new items and its state.
#[derive(Debug, Clone)]
pub struct PersistRecord {
    /// The conversation.
    pub conv: u64,
    /// This node's fencing token for it.
    pub fence: u64,
    /// Whether this write creates it (it must not exist yet).
    pub create: bool,
    /// The state, JSON; empty when only items and the next seq changed (a chat line).
    pub state: String,
    /// The sequence number of the first new item (the log's next one).
    pub first_seq: u64,
    /// The next sequence number after this write.
    pub next_seq: u64,
    /// Once ended: how long its keys stay in Redis (ms; 0 while it lives).
    pub expire_ms: u64,
    /// The new items: (kind for the admin event stream, JSON).
    pub items: Vec<(&'static str, String)>,
}

/// A conversation loaded from Redis by its new owner.
#[derive(Debug, Clone)]
pub struct LoadedConv {
    /// The conversation.
    pub conv: u64,
    /// The fencing token this node holds for it now.
    pub fence: u64,
    /// Its state (followers on dead nodes already removed).
    pub state: ConvState,
    /// Its recent items, oldest first.
    pub items: Vec<Item>,
}
