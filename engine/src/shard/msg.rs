//! The messages shards send each other over the shared: service commands for the router
//! and the conversation homes, frames for connections, presence changes, pushes, kicks,
//! and news from the cluster bridge. The shard layer owns this enum; the shared only moves
//! it.

use switchboard_service::ids::ConnId;

/// A message from one shard to another.
#[derive(Debug)]
pub enum ShardMsg {
    /// Deliver a chat body to connection `to`, sent by connection `from`.
    Deliver {
        /// The receiving connection (owned by the destination shard).
        to: ConnId,
        /// The sending connection.
        from: ConnId,
        /// The message body.
        body: Box<str>,
    },
    /// A command for the router (shard 0).
    Router(switchboard_service::commands::RouterCmd),
    /// A command for the home of conversation `conv`.
    Home {
        /// The conversation.
        conv: u64,
        /// What to do.
        cmd: switchboard_service::commands::HomeCmd,
    },
    /// An encoded chat frame of conversation `conv` for connection `to`.
    Frame {
        /// The receiving connection.
        to: ConnId,
        /// The conversation it belongs to (to unfollow a connection that is gone).
        conv: u64,
        /// The payload, encoded in the connection's encoding.
        payload: std::sync::Arc<[u8]>,
        /// When the home published it (delivery latency).
        at: std::time::Instant,
        /// The node whose home published it (this node's number for local frames):
        /// where to say that `to` is gone.
        origin: u16,
    },
    /// Connection `conn` of `user` opened (`login`) or closed, for the user's
    /// presence home.
    Presence {
        /// The user.
        user: Box<str>,
        /// The connection.
        conn: ConnId,
        /// Opened (true) or closed.
        login: bool,
    },
    /// Push an application event to connection `conn`.
    Push {
        /// The connection.
        conn: ConnId,
        /// Event name.
        name: Box<str>,
        /// Event data, JSON text.
        data: Box<str>,
    },
    /// Close connection `conn` (relogin policy, admin kick) with `reason`.
    Kick {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: Box<str>,
    },
    /// News from the cluster bridge (cluster mode).
    Cluster(crate::cluster::ClusterEvent),
    /// An HTTP request for a session of the destination shard, from connection `from`.
    Session {
        /// The session, as named by the client.
        id: switchboard_protocol::session::SessionId,
        /// The HTTP connection that asked (answered with [`ShardMsg::HttpOut`]).
        from: ConnId,
        /// What it asked.
        req: SessionReq,
    },
    /// HTTP connection `from` that waited on session `session` went away.
    SessionDetach {
        /// The session.
        session: ConnId,
        /// The connection.
        from: ConnId,
    },
    /// Bytes of an HTTP answer for connection `to`, written by a session's shard.
    HttpOut {
        /// The HTTP connection.
        to: ConnId,
        /// The bytes (a whole answer, or more of an event stream).
        bytes: Box<[u8]>,
        /// The answer is complete: close the connection after it.
        done: bool,
    },
    /// The connect webhook's answer for the credential `key` (from its workers).
    AuthAnswer {
        /// The credential, as the shard's waiting room names it.
        key: Box<str>,
        /// What the back end said.
        verdict: crate::auth::webhook::Verdict,
    },
    /// A delivery to `target` failed: tell connection `to` (its sender).
    DeliveryFailed {
        /// The sender, owned by the destination shard.
        to: ConnId,
        /// The connection that could not be reached.
        target: ConnId,
    },
}

/// What an HTTP request asks of its session.
#[derive(Debug)]
pub enum SessionReq {
    /// A long-poll for the frames after `cursor`.
    Poll {
        /// The client has every frame up to this one.
        cursor: u64,
    },
    /// An SSE stream of the frames after `cursor`.
    Stream {
        /// The client has every frame up to this one (`Last-Event-ID`).
        cursor: u64,
    },
    /// Upstream frames (the raw body: one JSON frame or an array).
    Send {
        /// `?cursor=N`: the client also acknowledges the frames up to N.
        ack: Option<u64>,
        /// The body.
        body: Box<[u8]>,
    },
    /// End the session.
    Close,
}

impl ShardMsg {
    /// Whether it may be given up when its destination is far behind: a frame for a
    /// connection (the recipient repairs the gap with `resume`), a direct message or a
    /// pushed event (both at most once). Commands for the router and the homes, and
    /// everything that changes state, are not.
    pub fn is_droppable(&self) -> bool {
        matches!(
            self,
            ShardMsg::Frame { .. } | ShardMsg::Deliver { .. } | ShardMsg::Push { .. }
        )
    }
}
