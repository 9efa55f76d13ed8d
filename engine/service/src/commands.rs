//! The commands shards send to the router (shard 0) and to conversation homes
//! (shard `conv % shards`) through the mesh.

use switchboard_protocol::chat::{AgentStatus, Role};

use crate::home::RouterNote;
use crate::ids::{ConnId, Peer};

/// A command for the router. Serializable: in cluster mode it may cross to the node
/// that runs the router.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum RouterCmd {
    /// A visitor asks for its conversation.
    VisitorStart {
        /// The visitor.
        visitor: Box<str>,
        /// Whether its tier is VIP.
        vip: bool,
        /// Its connection.
        peer: Peer,
    },
    /// An agent connection opened.
    AgentConnected {
        /// The agent.
        user: Box<str>,
        /// Its groups.
        groups: Box<[Box<str>]>,
        /// Its connection.
        peer: Peer,
    },
    /// A new router leader learns of an agent connection that was open before.
    AgentRestore {
        /// The agent.
        user: Box<str>,
        /// Its groups.
        groups: Box<[Box<str>]>,
        /// Its connection.
        peer: Peer,
        /// The status it last set, if any.
        status: Option<AgentStatus>,
        /// The capacity it last set, if any.
        capacity: Option<u32>,
    },
    /// An agent connection closed.
    AgentDisconnected {
        /// The agent.
        user: Box<str>,
        /// The connection.
        conn: ConnId,
    },
    /// An agent sets its status.
    AgentStatus {
        /// The agent.
        user: Box<str>,
        /// The new status.
        status: AgentStatus,
        /// The new capacity, if given.
        capacity: Option<u32>,
    },
    /// An agent answers a transfer offer.
    TransferAnswer {
        /// The conversation.
        conv: u64,
        /// The agent.
        agent: Box<str>,
        /// Accept or decline.
        accept: bool,
        /// The answering connection.
        peer: Peer,
    },
    /// A conversation home reports a change.
    Note(RouterNote),
}

/// A command for a conversation's home. Serializable: in cluster mode it may cross to
/// the node that owns the conversation (control-API commands carry a reply channel
/// and never leave their node).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum HomeCmd {
    /// Open a conversation the router made.
    Create {
        /// The visitor.
        visitor: Box<str>,
        /// Whether it is a VIP.
        vip: bool,
        /// The visitor's connection.
        peer: Peer,
    },
    /// A connection follows the conversation from `after_seq` on (`resume`), or with
    /// `None` from the start unless it follows already (a repeated `start`, an agent's
    /// new device): see `Homes::attach`.
    Attach {
        /// The connection.
        peer: Peer,
        /// Its user.
        user: Box<str>,
        /// Its role.
        role: Role,
        /// Last sequence number the client has, if it said.
        after_seq: Option<u64>,
    },
    /// The router assigned an agent.
    Assign {
        /// The agent.
        agent: Box<str>,
        /// Its connections.
        peers: Vec<Peer>,
    },
    /// The conversation's place in the queue.
    QueuePosition {
        /// 1-based position.
        position: u32,
    },
    /// A chat line.
    Send {
        /// The sending connection.
        peer: Peer,
        /// Its user.
        user: Box<str>,
        /// Its role.
        role: Role,
        /// The client's id of the message (deduplication).
        client_msg_id: Box<str>,
        /// The text.
        body: Box<str>,
    },
    /// The client saw everything up to `seq`.
    Ack {
        /// The connection.
        conn: ConnId,
        /// Highest sequence number seen.
        seq: u64,
    },
    /// Typing (`read_seq` None) or a read receipt.
    Ephemeral {
        /// The connection.
        peer: Peer,
        /// Its user.
        user: Box<str>,
        /// Its role.
        role: Role,
        /// The sequence number read, for a receipt.
        read_seq: Option<u64>,
    },
    /// A participant ends the conversation.
    End {
        /// The connection.
        peer: Peer,
        /// Its user.
        user: Box<str>,
        /// Its role.
        role: Role,
    },
    /// The serving agent asks for a transfer.
    Transfer {
        /// The connection.
        peer: Peer,
        /// The agent.
        user: Box<str>,
        /// The target agent.
        to: Box<str>,
    },
    /// The target agent answered an offer.
    TransferAnswer {
        /// The agent.
        agent: Box<str>,
        /// Accept or decline.
        accept: bool,
        /// The answering connection.
        peer: Peer,
        /// All connections of the agent.
        peers: Vec<Peer>,
    },
    /// The transfer target cannot take the conversation.
    TransferUnavailable {
        /// The target agent.
        to: Box<str>,
    },
    /// The serving agent's grace period expired.
    AgentLost {
        /// The agent.
        agent: Box<str>,
    },
    /// The control API gives the waiting conversation to `agent` (the router agreed).
    #[serde(skip)]
    AdminAssign {
        /// The agent.
        agent: Box<str>,
        /// Its connections.
        peers: Vec<Peer>,
        /// Where the result goes.
        reply: crate::reply::ReplyHandle,
    },
    /// The control API offers the conversation to agent `to`, or moves it at once
    /// (`force`) (the router agreed that `to` can take it).
    #[serde(skip)]
    AdminTransfer {
        /// The target agent.
        to: Box<str>,
        /// Its connections.
        peers: Vec<Peer>,
        /// Move at once instead of offering.
        force: bool,
        /// Where the result goes.
        reply: crate::reply::ReplyHandle,
    },
    /// A connection that followed the conversation is gone.
    Unfollow {
        /// The connection.
        conn: ConnId,
    },
    /// The other participant `user` came online or went offline.
    Presence {
        /// The participant.
        user: Box<str>,
        /// Its role.
        role: Role,
        /// Online now.
        online: bool,
    },
}
