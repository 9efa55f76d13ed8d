//! The chat frames of `/v1/ws`, independent of how they are encoded.
//!
//! Adding a frame means: a variant here, a wire struct and a type tag in
//! [`super::binary`], a wire struct and a `"type"` name in [`super::json`], and a row in
//! `docs/protocol.md`. The encodings never see each other.
//!
//! Conversation frames share one ordered channel per conversation: every `message` and
//! `system` frame carries the conversation's next `seq` (1, 2, 3, …), given at the
//! conversation's home shard. `typing` and `read` are ephemeral and carry none.

use std::borrow::Cow;

use super::values::{AgentStatus, ConversationState, Role, SystemKind};

/// The longest `client_msg_id` a `send` may carry, in bytes. A longer one is refused
/// with [`FrameError::ClientMsgIdTooLong`](super::FrameError::ClientMsgIdTooLong),
/// which the engine answers with an `error` frame, keeping the connection.
pub const MAX_CLIENT_MSG_ID_BYTES: usize = 64;

/// A frame a client sends to the server, borrowing from the received payload where it
/// can (binary always; JSON when a string has no escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Send `body` to the connection `to`, on any shard.
    Direct {
        /// The receiving connection's id (as announced in its `welcome`).
        to: u64,
        /// The message text.
        body: Cow<'a, str>,
    },
    /// A visitor opens its conversation, or gets back the one it has open (answered
    /// with a `conversation` snapshot).
    Start,
    /// A chat message in conversation `conv`.
    Send {
        /// The conversation.
        conv: u64,
        /// The client's own id for this message (at most [`MAX_CLIENT_MSG_ID_BYTES`]):
        /// a retry with the same id is not delivered twice, and `sent` echoes it.
        client_msg_id: Cow<'a, str>,
        /// The message text.
        body: Cow<'a, str>,
    },
    /// The client has seen every ordered item of `conv` up to `seq`.
    Ack {
        /// The conversation.
        conv: u64,
        /// The highest sequence number seen.
        seq: u64,
    },
    /// Replay every ordered item of `conv` with a sequence number above `after_seq`.
    Resume {
        /// The conversation.
        conv: u64,
        /// The last sequence number the client has (0: from the beginning).
        after_seq: u64,
    },
    /// The user is typing in `conv` (ephemeral).
    Typing {
        /// The conversation.
        conv: u64,
    },
    /// A read receipt: the user has read `conv` up to `seq` (ephemeral).
    Read {
        /// The conversation.
        conv: u64,
        /// The highest sequence number read.
        seq: u64,
    },
    /// Close conversation `conv`.
    End {
        /// The conversation.
        conv: u64,
    },
    /// An agent reports its availability and, optionally, how many conversations it
    /// takes at once.
    AgentStatus {
        /// Online, away or offline.
        status: AgentStatus,
        /// Concurrent conversations; absent: unchanged (or the server's default).
        capacity: Option<u32>,
    },
    /// The serving agent offers `conv` to agent `to`.
    Transfer {
        /// The conversation.
        conv: u64,
        /// The target agent's user id.
        to: Cow<'a, str>,
    },
    /// The target of a transfer takes the conversation.
    AcceptTransfer {
        /// The conversation.
        conv: u64,
    },
    /// The target of a transfer refuses it.
    DeclineTransfer {
        /// The conversation.
        conv: u64,
    },
}

impl ClientFrame<'_> {
    /// Copies whatever is still borrowed, so the frame can outlive the payload.
    pub fn into_owned(self) -> ClientFrame<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        match self {
            ClientFrame::Direct { to, body } => ClientFrame::Direct {
                to,
                body: own(body),
            },
            ClientFrame::Start => ClientFrame::Start,
            ClientFrame::Send {
                conv,
                client_msg_id,
                body,
            } => ClientFrame::Send {
                conv,
                client_msg_id: own(client_msg_id),
                body: own(body),
            },
            ClientFrame::Ack { conv, seq } => ClientFrame::Ack { conv, seq },
            ClientFrame::Resume { conv, after_seq } => ClientFrame::Resume { conv, after_seq },
            ClientFrame::Typing { conv } => ClientFrame::Typing { conv },
            ClientFrame::Read { conv, seq } => ClientFrame::Read { conv, seq },
            ClientFrame::End { conv } => ClientFrame::End { conv },
            ClientFrame::AgentStatus { status, capacity } => {
                ClientFrame::AgentStatus { status, capacity }
            }
            ClientFrame::Transfer { conv, to } => ClientFrame::Transfer { conv, to: own(to) },
            ClientFrame::AcceptTransfer { conv } => ClientFrame::AcceptTransfer { conv },
            ClientFrame::DeclineTransfer { conv } => ClientFrame::DeclineTransfer { conv },
        }
    }

    /// The JSON `"type"` of this frame, e.g. `send`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Direct { .. } => "direct",
            ClientFrame::Start => "start",
            ClientFrame::Send { .. } => "send",
            ClientFrame::Ack { .. } => "ack",
            ClientFrame::Resume { .. } => "resume",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::End { .. } => "end",
            ClientFrame::AgentStatus { .. } => "agent_status",
            ClientFrame::Transfer { .. } => "transfer",
            ClientFrame::AcceptTransfer { .. } => "accept_transfer",
            ClientFrame::DeclineTransfer { .. } => "decline_transfer",
        }
    }
}

/// A frame the server sends to a client, generic over how it holds its strings:
/// [`ServerFrame`] borrows them (for encoding), [`OwnedServerFrame`] owns them (as
/// decoded by clients, tests and the loadgen).
///
/// `ts` fields are server time in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrameOf<S> {
    /// The first frame on every connection: who the client is and where it landed.
    Welcome {
        /// This connection's id, unique in the node; others address it with it.
        conn: u64,
        /// The shard (CPU) that holds the connection.
        shard: u16,
        /// The authenticated user id.
        user: S,
        /// Whether the user is a visitor or an agent.
        role: Role,
    },
    /// A snapshot of a conversation, sent on `start`, on `resume` and on assignment.
    Conversation {
        /// The conversation.
        conv: u64,
        /// Its phase.
        state: ConversationState,
        /// The visitor's user id.
        visitor: S,
        /// The serving agent's user id, if any.
        agent: Option<S>,
        /// The sequence number of its latest ordered item (0: none yet).
        last_seq: u64,
    },
    /// A chat message on the conversation's ordered channel.
    Message {
        /// The conversation.
        conv: u64,
        /// Its sequence number in the conversation.
        seq: u64,
        /// Server time it was accepted (ms since the Unix epoch).
        ts: u64,
        /// The sender's user id.
        from: S,
        /// The sender's own id for it (as in `send`).
        client_msg_id: S,
        /// The message text.
        body: S,
    },
    /// A system message on the conversation's ordered channel.
    System {
        /// The conversation.
        conv: u64,
        /// Its sequence number in the conversation.
        seq: u64,
        /// Server time (ms since the Unix epoch).
        ts: u64,
        /// What happened.
        event: SystemKind,
        /// The agent concerned, for the events that name one.
        agent: Option<S>,
        /// The place in the queue (1: next), for `queued` and `queue_position`.
        position: Option<u32>,
        /// Why, for `transfer_failed`, `requeued` and `ended`.
        reason: Option<S>,
    },
    /// The server accepted a `send`: its place in the conversation.
    Sent {
        /// The conversation.
        conv: u64,
        /// The client's id for the message, as sent.
        client_msg_id: S,
        /// The message's sequence number.
        seq: u64,
        /// Server time it was accepted (ms since the Unix epoch).
        ts: u64,
    },
    /// `from` is typing in `conv` (ephemeral; may be dropped under load).
    Typing {
        /// The conversation.
        conv: u64,
        /// The typing user's id.
        from: S,
    },
    /// `from` has read `conv` up to `seq` (ephemeral; may be dropped under load).
    Read {
        /// The conversation.
        conv: u64,
        /// The reader's user id.
        from: S,
        /// The highest sequence number read.
        seq: u64,
    },
    /// The history of `conv` no longer reaches back to `after_seq + 1`: the replay
    /// that follows starts at `oldest_seq`.
    Gap {
        /// The conversation.
        conv: u64,
        /// The `after_seq` the client asked to resume from.
        after_seq: u64,
        /// The oldest sequence number still held.
        oldest_seq: u64,
    },
    /// To an agent: `from_agent` offers it conversation `conv` with `visitor`.
    TransferOffer {
        /// The conversation.
        conv: u64,
        /// The offering (serving) agent.
        from_agent: S,
        /// The conversation's visitor.
        visitor: S,
    },
    /// An application event from the company's back end (through the control API),
    /// pushed to every connection of a user, e.g. `order_shipped` with
    /// `{"order":"A-17"}`.
    Event {
        /// The event's name. The engine accepts at most 64 bytes of printable ASCII
        /// (checked where the event enters, not by the codecs).
        name: S,
        /// The event's payload: the text of one JSON value (any type: object, array,
        /// string, number, `true`, `false`, `null`).
        ///
        /// **Trusted when encoding.** The JSON encoding embeds it verbatim as the
        /// value of `"data"` (not as a string), without checking it: the engine must
        /// hand over valid JSON, as `serde_json::to_string` of a `serde_json::Value`
        /// produces, or the frame is not valid JSON. The binary encoding carries it as
        /// a string, also unchecked.
        ///
        /// When decoding JSON it is the raw text of the value exactly as received
        /// (without the whitespace around it); when decoding binary it is the string
        /// as received.
        data: S,
    },
    /// The waiting conversation's place in the routing queue (ephemeral: not sequenced,
    /// not stored; sent when the place changes, at most once per interval, and once to
    /// a connection that attaches).
    Queue {
        /// The conversation.
        conv: u64,
        /// 1-based place (1 = next).
        position: u32,
    },
    /// The other participant of `conv` came online (its first connection opened) or went
    /// offline (its last closed) — ephemeral.
    Presence {
        /// The conversation.
        conv: u64,
        /// The participant's user id.
        user: S,
        /// Its role.
        role: Role,
        /// Online now.
        online: bool,
    },
    /// A `direct` frame from another connection.
    Delivered {
        /// The sending connection's id.
        from: u64,
        /// The message text.
        body: S,
    },
    /// Something the client asked for failed; the connection stays open.
    Error {
        /// A stable machine-readable code, e.g. `unknown_connection`.
        code: S,
        /// A human-readable explanation.
        message: S,
    },
}

/// A server frame borrowing its strings, as the engine encodes it.
pub type ServerFrame<'a> = ServerFrameOf<&'a str>;

/// A server frame owning its strings, as decoded by clients (tests, loadgen).
pub type OwnedServerFrame = ServerFrameOf<String>;

impl<S> ServerFrameOf<S> {
    /// The same frame with every string field passed through `f`.
    pub fn map_strings<'s, T>(&'s self, f: impl Fn(&'s S) -> T) -> ServerFrameOf<T> {
        match self {
            ServerFrameOf::Welcome {
                conn,
                shard,
                user,
                role,
            } => ServerFrameOf::Welcome {
                conn: *conn,
                shard: *shard,
                user: f(user),
                role: *role,
            },
            ServerFrameOf::Conversation {
                conv,
                state,
                visitor,
                agent,
                last_seq,
            } => ServerFrameOf::Conversation {
                conv: *conv,
                state: *state,
                visitor: f(visitor),
                agent: agent.as_ref().map(&f),
                last_seq: *last_seq,
            },
            ServerFrameOf::Message {
                conv,
                seq,
                ts,
                from,
                client_msg_id,
                body,
            } => ServerFrameOf::Message {
                conv: *conv,
                seq: *seq,
                ts: *ts,
                from: f(from),
                client_msg_id: f(client_msg_id),
                body: f(body),
            },
            ServerFrameOf::System {
                conv,
                seq,
                ts,
                event,
                agent,
                position,
                reason,
            } => ServerFrameOf::System {
                conv: *conv,
                seq: *seq,
                ts: *ts,
                event: *event,
                agent: agent.as_ref().map(&f),
                position: *position,
                reason: reason.as_ref().map(&f),
            },
            ServerFrameOf::Sent {
                conv,
                client_msg_id,
                seq,
                ts,
            } => ServerFrameOf::Sent {
                conv: *conv,
                client_msg_id: f(client_msg_id),
                seq: *seq,
                ts: *ts,
            },
            ServerFrameOf::Typing { conv, from } => ServerFrameOf::Typing {
                conv: *conv,
                from: f(from),
            },
            ServerFrameOf::Read { conv, from, seq } => ServerFrameOf::Read {
                conv: *conv,
                from: f(from),
                seq: *seq,
            },
            ServerFrameOf::Gap {
                conv,
                after_seq,
                oldest_seq,
            } => ServerFrameOf::Gap {
                conv: *conv,
                after_seq: *after_seq,
                oldest_seq: *oldest_seq,
            },
            ServerFrameOf::TransferOffer {
                conv,
                from_agent,
                visitor,
            } => ServerFrameOf::TransferOffer {
                conv: *conv,
                from_agent: f(from_agent),
                visitor: f(visitor),
            },
            ServerFrameOf::Event { name, data } => ServerFrameOf::Event {
                name: f(name),
                data: f(data),
            },
            ServerFrameOf::Queue { conv, position } => ServerFrameOf::Queue {
                conv: *conv,
                position: *position,
            },
            ServerFrameOf::Presence {
                conv,
                user,
                role,
                online,
            } => ServerFrameOf::Presence {
                conv: *conv,
                user: f(user),
                role: *role,
                online: *online,
            },
            ServerFrameOf::Delivered { from, body } => ServerFrameOf::Delivered {
                from: *from,
                body: f(body),
            },
            ServerFrameOf::Error { code, message } => ServerFrameOf::Error {
                code: f(code),
                message: f(message),
            },
        }
    }

    /// The JSON `"type"` of this frame, e.g. `message`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerFrameOf::Welcome { .. } => "welcome",
            ServerFrameOf::Conversation { .. } => "conversation",
            ServerFrameOf::Message { .. } => "message",
            ServerFrameOf::System { .. } => "system",
            ServerFrameOf::Sent { .. } => "sent",
            ServerFrameOf::Typing { .. } => "typing",
            ServerFrameOf::Read { .. } => "read",
            ServerFrameOf::Gap { .. } => "gap",
            ServerFrameOf::TransferOffer { .. } => "transfer_offer",
            ServerFrameOf::Event { .. } => "event",
            ServerFrameOf::Queue { .. } => "queue",
            ServerFrameOf::Presence { .. } => "presence",
            ServerFrameOf::Delivered { .. } => "delivered",
            ServerFrameOf::Error { .. } => "error",
        }
    }
}

impl<S: AsRef<str>> ServerFrameOf<S> {
    /// Borrows this frame as a [`ServerFrame`], e.g. to encode it again.
    pub fn as_frame(&self) -> ServerFrame<'_> {
        self.map_strings(|text| text.as_ref())
    }

    /// Copies this frame into an [`OwnedServerFrame`].
    pub fn to_owned_frame(&self) -> OwnedServerFrame {
        self.map_strings(|text| text.as_ref().to_owned())
    }
}

impl From<ServerFrame<'_>> for OwnedServerFrame {
    fn from(frame: ServerFrame<'_>) -> Self {
        frame.to_owned_frame()
    }
}
