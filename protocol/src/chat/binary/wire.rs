//! The rkyv wire structs of binary format 1, one per frame type.
//!
//! Each struct is archived on its own behind a one-byte type tag, so the layout of one
//! frame never depends on another: adding a frame type adds a struct and a tag and
//! leaves every existing frame byte-for-byte the same. A struct, once released, is
//! frozen — changing its fields changes its archived size and therefore where rkyv
//! looks for its root, which old peers would misread. Change a frame by adding a new
//! tag instead.
//!
//! Frames with the same fields share a struct (the tag tells them apart); enum fields
//! (role, status, state, system event) are one byte, decoded by the enum's `from_code`.
//!
//! Strings are `Cow` so that encoding borrows the caller's `&str` (no allocation) and
//! decoding reads `&str` straight out of the validated archive.

use std::borrow::Cow;

use rkyv::with::{AsOwned, Map};
use rkyv::{Archive, Deserialize, Serialize};

/// Type tags: client-to-server frames use `0x01..=0x7f`, server-to-client frames
/// `0x80..=0xff`, so a frame sent the wrong way is refused as an unknown type. Tags are
/// never reused.
pub(crate) mod tag {
    /// `direct`: [`super::DirectWire`].
    pub(crate) const DIRECT: u8 = 0x01;
    /// `start`: [`super::StartWire`].
    pub(crate) const START: u8 = 0x02;
    /// `send`: [`super::SendWire`].
    pub(crate) const SEND: u8 = 0x03;
    /// `ack`: [`super::ConvSeqWire`].
    pub(crate) const ACK: u8 = 0x04;
    /// `resume`: [`super::ConvSeqWire`] (`seq` = `after_seq`).
    pub(crate) const RESUME: u8 = 0x05;
    /// `typing` (client): [`super::ConvWire`].
    pub(crate) const TYPING: u8 = 0x06;
    /// `read` (client): [`super::ConvSeqWire`].
    pub(crate) const READ: u8 = 0x07;
    /// `end`: [`super::ConvWire`].
    pub(crate) const END: u8 = 0x08;
    /// `agent_status`: [`super::AgentStatusWire`].
    pub(crate) const AGENT_STATUS: u8 = 0x09;
    /// `transfer`: [`super::ConvUserWire`] (`user` = `to`).
    pub(crate) const TRANSFER: u8 = 0x0a;
    /// `accept_transfer`: [`super::ConvWire`].
    pub(crate) const ACCEPT_TRANSFER: u8 = 0x0b;
    /// `decline_transfer`: [`super::ConvWire`].
    pub(crate) const DECLINE_TRANSFER: u8 = 0x0c;

    // 0x81 was the first `welcome`, `{ conn, user, shard }` without a role. Retired
    // before any release: refused as unknown, never reused.
    /// `delivered`: [`super::DeliveredWire`].
    pub(crate) const DELIVERED: u8 = 0x82;
    /// `error`: [`super::ErrorWire`].
    pub(crate) const ERROR: u8 = 0x83;
    /// `welcome`: [`super::WelcomeWire`].
    pub(crate) const WELCOME: u8 = 0x84;
    /// `conversation`: [`super::ConversationWire`].
    pub(crate) const CONVERSATION: u8 = 0x85;
    /// `message`: [`super::MessageWire`].
    pub(crate) const MESSAGE: u8 = 0x86;
    /// `system`: [`super::SystemWire`].
    pub(crate) const SYSTEM: u8 = 0x87;
    /// `sent`: [`super::SentWire`].
    pub(crate) const SENT: u8 = 0x88;
    /// `typing` (server): [`super::ConvUserWire`] (`user` = `from`).
    pub(crate) const TYPING_FROM: u8 = 0x89;
    /// `read` (server): [`super::ReadWire`].
    pub(crate) const READ_FROM: u8 = 0x8a;
    /// `gap`: [`super::GapWire`].
    pub(crate) const GAP: u8 = 0x8b;
    /// `transfer_offer`: [`super::TransferOfferWire`].
    pub(crate) const TRANSFER_OFFER: u8 = 0x8c;
    /// `event`: [`super::EventWire`].
    pub(crate) const EVENT: u8 = 0x8d;
    /// `queue`: [`super::QueueWire`].
    pub(crate) const QUEUE: u8 = 0x8e;
    /// `presence`: [`super::PresenceWire`].
    pub(crate) const PRESENCE: u8 = 0x8f;
}

/// `queue` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct QueueWire {
    pub(crate) conv: u64,
    pub(crate) position: u32,
}

/// `presence` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct PresenceWire<'a> {
    pub(crate) conv: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) user: Cow<'a, str>,
    pub(crate) role: u8,
    pub(crate) online: bool,
}

/// `direct` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct DirectWire<'a> {
    pub(crate) to: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `start` (client to server): no fields, an empty archive.
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct StartWire {}

/// `send` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct SendWire<'a> {
    pub(crate) conv: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) client_msg_id: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `typing`, `end`, `accept_transfer`, `decline_transfer` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ConvWire {
    pub(crate) conv: u64,
}

/// `ack`, `resume`, `read` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ConvSeqWire {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
}

/// `transfer` (client to server) and `typing` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ConvUserWire<'a> {
    pub(crate) conv: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) user: Cow<'a, str>,
}

/// `agent_status` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct AgentStatusWire {
    pub(crate) capacity: Option<u32>,
    pub(crate) status: u8,
}

/// `welcome` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct WelcomeWire<'a> {
    pub(crate) conn: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) user: Cow<'a, str>,
    pub(crate) shard: u16,
    pub(crate) role: u8,
}

/// `conversation` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ConversationWire<'a> {
    pub(crate) conv: u64,
    pub(crate) last_seq: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) visitor: Cow<'a, str>,
    #[rkyv(with = Map<AsOwned>)]
    pub(crate) agent: Option<Cow<'a, str>>,
    pub(crate) state: u8,
}

/// `message` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct MessageWire<'a> {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) from: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) client_msg_id: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `system` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct SystemWire<'a> {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    #[rkyv(with = Map<AsOwned>)]
    pub(crate) agent: Option<Cow<'a, str>>,
    #[rkyv(with = Map<AsOwned>)]
    pub(crate) reason: Option<Cow<'a, str>>,
    pub(crate) position: Option<u32>,
    pub(crate) event: u8,
}

/// `sent` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct SentWire<'a> {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) client_msg_id: Cow<'a, str>,
}

/// `read` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ReadWire<'a> {
    pub(crate) conv: u64,
    pub(crate) seq: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) from: Cow<'a, str>,
}

/// `gap` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct GapWire {
    pub(crate) conv: u64,
    pub(crate) after_seq: u64,
    pub(crate) oldest_seq: u64,
}

/// `transfer_offer` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct TransferOfferWire<'a> {
    pub(crate) conv: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) from_agent: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) visitor: Cow<'a, str>,
}

/// `event` (server to client). `data` is the JSON text of the event's payload, carried
/// as a plain string.
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct EventWire<'a> {
    #[rkyv(with = AsOwned)]
    pub(crate) name: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) data: Cow<'a, str>,
}

/// `delivered` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct DeliveredWire<'a> {
    pub(crate) from: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `error` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ErrorWire<'a> {
    #[rkyv(with = AsOwned)]
    pub(crate) code: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) message: Cow<'a, str>,
}
