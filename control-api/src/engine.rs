//! The seam between the control API and the engine: the [`Engine`] trait the server
//! calls, and the [`ApiError`] every call may return.
//!
//! The server validates every input before calling (ids parsed, user ids non-empty
//! printable ASCII ≤ [`crate::limits::MAX_USER`], ranges checked, defaults filled in),
//! so an implementation may trust the shapes it is given and only answers for the
//! state of the node (unknown conversation, wrong state, draining ...).

use crate::model::{
    AgentPatch, AgentView, ConversationDetail, ConversationFilter, ConversationList,
    ConversationSummary, DegradationView, DrainStatus, EventPage, EventQuery, HistoryQuery,
    ItemPage, KickResult, NodeStats, NodesView, PostMessage, PostedMessage, PushEvent, PushResult,
};

/// What the control API asks of the node. Implemented by the engine.
///
/// Every call runs on a control-API thread (never on a shard), may block briefly while
/// it asks the shards, and must never panic (the server catches a panic as a last
/// resort and answers 500 `internal`). Calls may come from several threads at once.
pub trait Engine: Send + Sync + 'static {
    /// True when the node takes new connections; false while draining (or starting).
    fn ready(&self) -> bool;

    /// Counters per shard and for the node.
    fn node_stats(&self) -> Result<NodeStats, ApiError>;

    /// The Prometheus text exposition (format 0.0.4), rendered by the engine.
    fn metrics(&self) -> Result<String, ApiError>;

    /// Conversations matching `filter`, oldest first, at most `filter.limit`.
    fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>, ApiError>;

    /// One conversation with up to `recent` of its latest items (0: none).
    /// [`ApiError::NotFound`] when unknown (or ended and no longer kept).
    fn conversation(&self, id: u64, recent: usize) -> Result<ConversationDetail, ApiError>;

    /// A page of a conversation's stored items with `seq > after_seq`, oldest first,
    /// at most `limit`, read from the node's durable store (ended conversations too,
    /// within retention). Unavailable where the node keeps no store.
    fn conversation_items(
        &self,
        id: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<ItemPage, ApiError> {
        let _ = (id, after_seq, limit);
        Err(ApiError::unavailable(
            "this node keeps no durable store (--durability off or cluster mode)",
        ))
    }

    /// Conversations from the node's durable store matching `query`, newest first
    /// (by creation time, then id), at most `query.limit`, with the cursor of the next
    /// page when there may be more. Unavailable where the node keeps no store.
    fn conversation_history(&self, query: &HistoryQuery) -> Result<ConversationList, ApiError> {
        let _ = query;
        Err(ApiError::unavailable(
            "listing by visitor or time needs the node's durable store \
             (--durability off or cluster mode keeps none)",
        ))
    }

    /// A page of the event feed after `query.after`, waiting up to `query.wait_ms`
    /// when nothing is new. The engine checks `limit` and `wait_ms` against its own
    /// flags ([`ApiError::Invalid`] above them).
    fn events(&self, query: &EventQuery) -> Result<EventPage, ApiError> {
        let _ = query;
        Err(ApiError::unavailable("this node has no event feed"))
    }

    /// Gives the conversation to `agent` (from the queue, or from its current agent).
    /// NotFound for an unknown conversation or agent; Conflict when it ended or is
    /// in a transfer.
    fn assign(&self, id: u64, agent: &str) -> Result<ConversationSummary, ApiError>;

    /// Offers the conversation from its serving agent to agent `to`.
    /// NotFound for an unknown conversation or agent; Conflict when it is not being
    /// served, `to` already serves it, or `to` cannot take it.
    /// `force`: move it at once instead of offering it.
    fn transfer(&self, id: u64, to: &str, force: bool) -> Result<ConversationSummary, ApiError>;

    /// Ends the conversation (reason `admin`). Conflict when it already ended.
    fn end(&self, id: u64) -> Result<ConversationSummary, ApiError>;

    /// Posts a message as the system or a bot (ordered and delivered like any other).
    /// `msg.client_msg_id` is always `Some` here (the server fills one in).
    /// Conflict when the conversation ended.
    fn post_message(&self, id: u64, msg: &PostMessage) -> Result<PostedMessage, ApiError>;

    /// Sends the event to every open connection of `user`; answers how many.
    /// A user with no connection is not an error (0 connections).
    fn push_event(&self, user: &str, event: &PushEvent) -> Result<PushResult, ApiError>;

    /// Every agent the router knows, sorted by user id.
    fn agents(&self) -> Result<Vec<AgentView>, ApiError>;

    /// Changes the given fields of an agent (the routing service's lever) and answers
    /// the agent as it is now. NotFound for an agent the router never saw.
    fn update_agent(&self, user: &str, patch: &AgentPatch) -> Result<AgentView, ApiError>;

    /// Closes one connection (close code 4002 with `reason`). NotFound when no such
    /// connection is open.
    fn kick_connection(&self, conn: u64, reason: &str) -> Result<KickResult, ApiError>;

    /// Closes every connection of `user` (close code 4002 with `reason`); 0 closed is
    /// not an error.
    fn kick_user(&self, user: &str, reason: &str) -> Result<KickResult, ApiError>;

    /// Starts draining: stop accepting, ask every client to reconnect elsewhere.
    /// Idempotent: a second call reports progress.
    fn drain(&self) -> Result<DrainStatus, ApiError>;

    /// Draining progress (`draining: false` when not draining).
    fn drain_status(&self) -> Result<DrainStatus, ApiError>;

    /// The degradation level in force.
    fn degradation(&self) -> Result<DegradationView, ApiError>;

    /// `Some(0..=3)` pins that level; `None` returns to automatic.
    fn set_degradation(&self, pin: Option<u8>) -> Result<DegradationView, ApiError>;

    /// The nodes of the cluster (`mode: single` and this node alone without Redis).
    /// The default answers [`ApiError::Unavailable`] for an engine that cannot list
    /// them.
    fn nodes(&self) -> Result<NodesView, ApiError> {
        Err(ApiError::unavailable("node listing is not available"))
    }
}

/// Why a request failed. Each variant has a stable [`code`](ApiError::code) and an
/// HTTP [`status`](ApiError::status); the message is for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The thing named does not exist (`what`, e.g. `conversation 42`). 404 `not_found`.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The request is malformed or out of range. 400 `invalid`.
    #[error("{message}")]
    Invalid {
        /// What is wrong with it.
        message: String,
    },
    /// The request is valid but the state forbids it (ended conversation, agent at
    /// capacity ...). 409 `conflict`.
    #[error("{message}")]
    Conflict {
        /// What stands in the way.
        message: String,
    },
    /// The node cannot answer now (draining, a shard did not answer in time).
    /// 503 `unavailable`.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
    },
    /// No or a wrong bearer token. 401 `unauthorized` (server only).
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// No route has this path. 404 `no_route` (server only).
    #[error("no route for {path}")]
    NoRoute {
        /// The path asked for.
        path: String,
    },
    /// The route exists but not with this method. 405 `method_not_allowed`, with an
    /// `Allow` header (server only).
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The allowed methods, comma-separated.
        allow: String,
    },
    /// The body is over the limit. 413 `payload_too_large` (server only).
    #[error("body over {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A body that is not JSON was sent. 415 `unsupported_media_type` (server only).
    #[error("{message}")]
    UnsupportedMediaType {
        /// What was wrong.
        message: String,
    },
    /// The request did not arrive in time. 408 `request_timeout` (server only).
    #[error("the request did not arrive in time")]
    RequestTimeout,
    /// A bug: the engine failed in a way it should not. 500 `internal`.
    #[error("{message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl ApiError {
    /// Shorthand for [`ApiError::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound { what: what.into() }
    }

    /// Shorthand for [`ApiError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: message.into(),
        }
    }

    /// Shorthand for [`ApiError::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict {
            message: message.into(),
        }
    }

    /// Shorthand for [`ApiError::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::Unavailable {
            message: message.into(),
        }
    }

    /// Shorthand for [`ApiError::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::Internal {
            message: message.into(),
        }
    }

    /// The stable machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "not_found",
            ApiError::Invalid { .. } => "invalid",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NoRoute { .. } => "no_route",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } => 404,
            ApiError::Invalid { .. } => 400,
            ApiError::Conflict { .. } => 409,
            ApiError::Unavailable { .. } => 503,
            ApiError::Unauthorized => 401,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::RequestTimeout => 408,
            ApiError::Internal { .. } => 500,
        }
    }

    /// The JSON error body.
    pub fn body(&self) -> crate::model::ErrorBody {
        crate::model::ErrorBody {
            error: crate::model::ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    /// An engine that overrides nothing it need not, to see the defaults.
    struct Bare;

    fn unused<T>() -> Result<T, ApiError> {
        Err(ApiError::internal("not used"))
    }

    impl Engine for Bare {
        fn ready(&self) -> bool {
            true
        }
        fn node_stats(&self) -> Result<NodeStats, ApiError> {
            unused()
        }
        fn metrics(&self) -> Result<String, ApiError> {
            unused()
        }
        fn list_conversations(
            &self,
            _: &ConversationFilter,
        ) -> Result<Vec<ConversationSummary>, ApiError> {
            unused()
        }
        fn conversation(&self, _: u64, _: usize) -> Result<ConversationDetail, ApiError> {
            unused()
        }
        fn assign(&self, _: u64, _: &str) -> Result<ConversationSummary, ApiError> {
            unused()
        }
        fn transfer(&self, _: u64, _: &str, _: bool) -> Result<ConversationSummary, ApiError> {
            unused()
        }
        fn end(&self, _: u64) -> Result<ConversationSummary, ApiError> {
            unused()
        }
        fn post_message(&self, _: u64, _: &PostMessage) -> Result<PostedMessage, ApiError> {
            unused()
        }
        fn push_event(&self, _: &str, _: &PushEvent) -> Result<PushResult, ApiError> {
            unused()
        }
        fn agents(&self) -> Result<Vec<AgentView>, ApiError> {
            unused()
        }
        fn update_agent(&self, _: &str, _: &AgentPatch) -> Result<AgentView, ApiError> {
            unused()
        }
        fn kick_connection(&self, _: u64, _: &str) -> Result<KickResult, ApiError> {
            unused()
        }
        fn kick_user(&self, _: &str, _: &str) -> Result<KickResult, ApiError> {
            unused()
        }
        fn drain(&self) -> Result<DrainStatus, ApiError> {
            unused()
        }
        fn drain_status(&self) -> Result<DrainStatus, ApiError> {
            unused()
        }
        fn degradation(&self) -> Result<DegradationView, ApiError> {
            unused()
        }
        fn set_degradation(&self, _: Option<u8>) -> Result<DegradationView, ApiError> {
            unused()
        }
    }

    #[test]
    fn nodes_defaults_to_unavailable() {
        let err = Bare.nodes().unwrap_err();
        assert_eq!(err, ApiError::unavailable("node listing is not available"));
        assert_eq!((err.status(), err.code()), (503, "unavailable"));
    }
}
