//! The JSON bodies of the control API: what the server sends and accepts, and what the
//! [`Engine`](crate::Engine) trait takes and returns.
//!
//! Conventions: ids (`conv`, `conn`) and sequence numbers are `u64`; times named `*_ms`
//! are milliseconds — `ts`/`*_at_ms` since the Unix epoch (the same clock as the `ts`
//! of chat frames), `age_ms`/`idle_ms`/`elapsed_ms` durations. User ids are strings.
//! Request bodies reject unknown fields; the server validates their ranges
//! ([`crate::limits`]) before the engine sees them.

use serde::{Deserialize, Serialize};

/// Counters of one shard (one CPU core's event loop).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    /// The shard's index (0-based).
    pub shard: u32,
    /// Connections open now (WebSocket and not yet upgraded).
    pub connections: u64,
    /// Connections accepted since start.
    pub accepts: u64,
    /// Connections refused since start (over a limit, shedding, draining).
    pub rejects: u64,
    /// Messages (WebSocket data frames) received from clients since start.
    pub messages_in: u64,
    /// Messages (WebSocket data frames) queued to clients since start.
    pub messages_out: u64,
    /// Chat items (messages and system items) delivered to followers since start.
    pub deliveries: u64,
    /// Bytes queued for clients but not yet written to their sockets, now.
    pub outbound_queue_bytes: u64,
    /// How late the shard's last loop turn ran behind its timer, in microseconds.
    pub loop_lag_us: u64,
}

/// Node-wide sums of the shard counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTotals {
    /// Sum of [`ShardStats::connections`].
    pub connections: u64,
    /// Sum of [`ShardStats::accepts`].
    pub accepts: u64,
    /// Sum of [`ShardStats::rejects`].
    pub rejects: u64,
    /// Sum of [`ShardStats::messages_in`].
    pub messages_in: u64,
    /// Sum of [`ShardStats::messages_out`].
    pub messages_out: u64,
    /// Sum of [`ShardStats::deliveries`].
    pub deliveries: u64,
    /// Sum of [`ShardStats::outbound_queue_bytes`].
    pub outbound_queue_bytes: u64,
    /// The largest [`ShardStats::loop_lag_us`].
    pub max_loop_lag_us: u64,
}

/// How many conversations the node holds in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationCounts {
    /// In the routing queue.
    pub waiting: u64,
    /// Served by an agent.
    pub serving: u64,
    /// Offered to another agent.
    pub transferring: u64,
    /// Over, still kept for late readers.
    pub ended: u64,
}

/// `GET /v1/stats`: the node and each of its shards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// The engine's version (`CARGO_PKG_VERSION` of the binary).
    pub version: String,
    /// Milliseconds since the node started.
    pub uptime_ms: u64,
    /// True while the node drains (see [`DrainStatus`]).
    pub draining: bool,
    /// Sums over the shards.
    pub totals: NodeTotals,
    /// Conversations by state.
    pub conversations: ConversationCounts,
    /// Conversations waiting in the routing queue.
    pub queue_length: u64,
    /// One entry per shard, in shard order.
    pub shards: Vec<ShardStats>,
}

/// The phase of a conversation (the protocol's `ConversationState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// In the routing queue, no agent yet.
    Waiting,
    /// An agent serves it.
    Serving,
    /// Offered by its agent to another agent who has not answered yet.
    Transferring,
    /// Over.
    Ended,
}

impl ConversationState {
    /// The wire name: `waiting`, `serving`, `transferring` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Waiting => "waiting",
            ConversationState::Serving => "serving",
            ConversationState::Transferring => "transferring",
            ConversationState::Ended => "ended",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "waiting" => ConversationState::Waiting,
            "serving" => ConversationState::Serving,
            "transferring" => ConversationState::Transferring,
            "ended" => ConversationState::Ended,
            _ => return None,
        })
    }
}

/// `GET /v1/conversations` query: which conversations to list. Every condition given
/// must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationFilter {
    /// Only conversations in this state.
    pub state: Option<ConversationState>,
    /// Only conversations this agent serves, or is offered in a transfer.
    pub agent: Option<String>,
    /// Only conversations at least this old (since creation).
    pub min_age_ms: Option<u64>,
    /// At most this many, oldest first (1..=[`crate::limits::MAX_LIST_LIMIT`]; the
    /// server fills in [`crate::limits::DEFAULT_LIST_LIMIT`] when absent).
    pub limit: usize,
}

impl Default for ConversationFilter {
    fn default() -> Self {
        ConversationFilter {
            state: None,
            agent: None,
            min_age_ms: None,
            limit: crate::limits::DEFAULT_LIST_LIMIT,
        }
    }
}

/// One conversation, without its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// The conversation id.
    pub id: u64,
    /// Its phase.
    pub state: ConversationState,
    /// The visitor's user id.
    pub visitor: String,
    /// The serving agent (during a transfer: the origin agent, until the target
    /// accepts); absent while waiting, and after the end if none served it.
    pub agent: Option<String>,
    /// During a transfer, the agent it is offered to.
    pub transfer_to: Option<String>,
    /// Whether the visitor is a VIP (routed to the VIP group first).
    pub vip: bool,
    /// When it was created (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// Milliseconds since it was created.
    pub age_ms: u64,
    /// Milliseconds since its last message or transition.
    pub idle_ms: u64,
    /// The seq of its last item (0: none yet).
    pub last_seq: u64,
    /// Its position in the routing queue (1 = next), while waiting.
    pub queue_position: Option<u32>,
}

/// One ordered item of a conversation, as its history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationItem {
    /// A chat message of a party, the system or a bot.
    Message {
        /// Its place in the conversation.
        seq: u64,
        /// Server time it was accepted (ms since the Unix epoch).
        ts: u64,
        /// The sender's user id (`system`, or the bot's name for posted messages).
        from: String,
        /// The sender's id for the message (dedupe key).
        client_msg_id: String,
        /// The text.
        body: String,
    },
    /// A system event (the protocol's `system` frame).
    System {
        /// Its place in the conversation.
        seq: u64,
        /// Server time it happened (ms since the Unix epoch).
        ts: u64,
        /// What it announces: the protocol's `SystemKind` wire name (`created`,
        /// `queued`, `queue_position`, `assigned`, `transfer_requested`,
        /// `transferred`, `transfer_failed`, `requeued`, `ended`).
        event: String,
        /// The agent it names, if any.
        agent: Option<String>,
        /// The queue position it names, if any.
        position: Option<u32>,
        /// The reason it gives, if any.
        reason: Option<String>,
    },
}

/// `GET /v1/conversations/{id}`: one conversation with its most recent items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationDetail {
    /// The conversation.
    pub conversation: ConversationSummary,
    /// Its most recent items in seq order (at most the `recent` asked for; fewer if
    /// the history is shorter or was trimmed).
    pub items: Vec<ConversationItem>,
    /// Connections following it now.
    pub followers: u32,
}

/// `GET /v1/conversations/{id}/items`: a page of stored items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemPage {
    /// Items with `seq > after_seq`, oldest first.
    pub items: Vec<ConversationItem>,
    /// Whether more items follow: ask again with `after_seq` = the last `seq` here.
    pub more: bool,
}

/// `POST /v1/conversations/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The agent to serve it (a known agent; capacity and status are not checked —
    /// the admin decides).
    pub agent: String,
}

/// `POST /v1/conversations/{id}/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The agent to offer it to (it accepts or declines from its console).
    pub to: String,
    /// Move it at once, without an offer (`transfer_requested` then `transferred`):
    /// the routing service decided and the target does not answer. Default false: an
    /// offer with the life cycle of an agent's own `transfer`.
    #[serde(default)]
    pub force: bool,
}

/// Who a posted message is from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// The system: JSON `"system"`; the message's `from` is `system`.
    System,
    /// A named bot: JSON `{"bot": "name"}`; the message's `from` is `bot:<name>`.
    Bot(String),
}

/// `POST /v1/conversations/{id}/messages`: a message into the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// Who it is from.
    pub from: Sender,
    /// The text (1..=[`crate::limits::MAX_MESSAGE_BODY`] bytes).
    pub body: String,
    /// Dedupe key: a retry with the same id is not delivered twice and returns the
    /// first seq. The server makes one up when absent.
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

/// What `POST .../messages` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// The conversation.
    pub conv: u64,
    /// The message's seq.
    pub seq: u64,
    /// Its server time (ms since the Unix epoch).
    pub ts: u64,
    /// The client message id it was stored under.
    pub client_msg_id: String,
    /// True when the id had been seen: nothing new was delivered.
    pub duplicate: bool,
}

/// `POST /v1/users/{user}/events`: an application event for every connection of a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEvent {
    /// The event's name (1..=[`crate::limits::MAX_NAME`] visible ASCII; not `pressure`,
    /// the engine's own event).
    pub name: String,
    /// Any JSON value, passed through byte for byte as it was posted — key order,
    /// number spelling and precision kept (at most [`crate::limits::MAX_EVENT_DATA`]
    /// bytes).
    #[serde(default = "json_null")]
    pub data: Box<serde_json::value::RawValue>,
}

fn json_null() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("null".to_owned())
        .unwrap_or_else(|_| unreachable!("null is JSON"))
}

impl PartialEq for PushEvent {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.data.get() == other.data.get()
    }
}

/// What `POST /v1/users/{user}/events` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResult {
    /// The user.
    pub user: String,
    /// Connections the event was queued to (0 when the user is not connected).
    pub connections: u32,
}

/// An agent's availability (the protocol's `AgentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Takes new conversations up to its capacity.
    Online,
    /// Keeps its conversations, takes no new ones.
    Away,
    /// Signed off: its conversations go back to the queue.
    Offline,
}

impl AgentStatus {
    /// The wire name: `online`, `away` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "online" => AgentStatus::Online,
            "away" => AgentStatus::Away,
            "offline" => AgentStatus::Offline,
            _ => return None,
        })
    }
}

/// One agent as the router knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    /// The agent's user id.
    pub user: String,
    /// Its availability.
    pub status: AgentStatus,
    /// Concurrent conversations it takes.
    pub capacity: u32,
    /// Routing weight; spare capacity is multiplied by it (0: never picked).
    pub weight: u32,
    /// Its groups (e.g. the VIP group).
    pub groups: Vec<String>,
    /// Its open connections.
    pub connections: u32,
    /// The conversations it serves (its load is their number).
    pub conversations: Vec<u64>,
    /// While it has no connection: milliseconds left before its conversations are
    /// requeued.
    pub grace_left_ms: Option<u64>,
}

/// `PATCH /v1/agents/{user}`: fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// New availability.
    #[serde(default)]
    pub status: Option<AgentStatus>,
    /// New capacity (0..=[`crate::limits::MAX_CAPACITY`]).
    #[serde(default)]
    pub capacity: Option<u32>,
    /// New routing weight (0..=[`crate::limits::MAX_WEIGHT`]).
    #[serde(default)]
    pub weight: Option<u32>,
    /// New groups, replacing the old ones (at most [`crate::limits::MAX_GROUPS`], each
    /// 1..=[`crate::limits::MAX_NAME`] printable ASCII without spaces).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// `DELETE /v1/connections/{conn}` and `DELETE /v1/users/{user}/connections` body
/// (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KickRequest {
    /// The WebSocket close reason (at most [`crate::limits::MAX_REASON`] bytes, the
    /// close frame's limit); the server uses [`crate::limits::DEFAULT_KICK_REASON`]
    /// when absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a kick returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickResult {
    /// Connections asked to close (with close code 4002 and the reason).
    pub closed: u32,
}

/// `POST /v1/drain` and `GET /v1/drain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainStatus {
    /// True once draining started (it cannot be undone; restart the node).
    pub draining: bool,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: Option<u64>,
    /// Milliseconds since it started.
    pub elapsed_ms: Option<u64>,
    /// Client connections still open.
    pub connections_left: u64,
    /// True when draining and no connection is left.
    pub done: bool,
}

/// `GET /v1/degradation`: the pressure level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegradationView {
    /// The level in force, 0 (normal) ..= 3 (heaviest shedding).
    pub level: u8,
    /// True when an operator pinned it; false when the engine sets it itself.
    pub pinned: bool,
    /// Why it is at this level (e.g. `pinned`, `loop lag 40 ms on shard 2`).
    pub cause: Option<String>,
}

/// `PUT /v1/degradation`: pin a level, or `{"level": null}` to return to automatic.
/// The field is required (an empty object is refused so that a typo cannot unpin).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationRequest {
    /// 0..=3 pins that level; null returns to automatic.
    pub level: Option<u8>,
}

/// The JSON body of every error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable machine-readable code (see [`crate::ApiError::code`]).
    pub code: String,
    /// A human-readable explanation; may change between versions.
    pub message: String,
}

/// `GET /v1/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationList {
    /// The conversations matching the filter: oldest first for the live listing,
    /// newest first for a history listing ([`HistoryQuery`]).
    pub conversations: Vec<ConversationSummary>,
    /// History listing only: pass it as `cursor` for the next (older) page; absent
    /// when this page is the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /v1/conversations` with `visitor`, `since_ms`, `until_ms` or `cursor`: the
/// conversations the node's durable store holds (ended ones within `--retain` too),
/// newest first. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Only this visitor's conversations.
    pub visitor: Option<String>,
    /// Only conversations this agent serves or served last, or is offered.
    pub agent: Option<String>,
    /// Only conversations in this state.
    pub state: Option<ConversationState>,
    /// Only conversations created at or after this time (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Only conversations created before this time (ms since the Unix epoch).
    pub until_ms: Option<u64>,
    /// Only conversations at least this old (since creation).
    pub min_age_ms: Option<u64>,
    /// Only conversations after (older than) this position: the previous page's
    /// `next_cursor`.
    pub cursor: Option<HistoryCursor>,
    /// At most this many.
    pub limit: usize,
}

/// A position in a history listing: the creation time and id of the last
/// conversation of a page (the listing is ordered by both, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// Creation time of the last conversation shown (ms since the Unix epoch).
    pub created_ms: u64,
    /// Its id.
    pub id: u64,
}

impl HistoryCursor {
    /// The opaque text form (`{created_ms}.{id}`; clients must not rely on it).
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
    }

    /// Parses [`HistoryCursor::encode`]'s form.
    pub fn parse(text: &str) -> Option<Self> {
        let (created, id) = text.split_once('.')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(created) || !digits(id) {
            return None;
        }
        Some(HistoryCursor {
            created_ms: created.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// `GET /v1/events`: what to read of the node's event feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    /// Events after this cursor (a previous event's or page's cursor; 0: from the
    /// oldest event still stored).
    pub after: u64,
    /// At most this many events.
    pub limit: usize,
    /// When nothing is new, wait up to this long for an event (0: answer at once).
    pub wait_ms: u64,
}

/// One event of the feed: the record the admin service reads from `sb:events` in
/// cluster mode (fields `conv`, `kind`, `item`), with its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEvent {
    /// Resume after this event: pass it as `after`. Opaque; valid across restarts.
    pub cursor: String,
    /// The conversation.
    pub conv: u64,
    /// The item's kind (`message`, `created`, `assigned`, `transferred`, `ended`, ...).
    pub kind: String,
    /// The versioned item record (`"v": 1`), exactly as stored.
    pub item: serde_json::Value,
}

/// `GET /v1/events`: a page of the event feed, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events, in the order they were stored.
    pub events: Vec<FeedEvent>,
    /// Pass it as `after` next time (it moves on even when `events` is empty).
    pub next_cursor: String,
}

/// `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentList {
    /// Every agent the router knows, sorted by user id.
    pub agents: Vec<AgentView>,
}

/// `GET /livez` and `GET /readyz` when they succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// `live` or `ready`.
    pub status: String,
}

/// `GET /v1/nodes`: the nodes of the cluster as this node sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesView {
    /// `single` (no `--redis`) or `cluster`.
    pub mode: String,
    /// The Redis connection in cluster mode; absent in single mode.
    pub redis: Option<RedisStatusView>,
    /// The nodes that announced themselves (this one included), by node number.
    pub nodes: Vec<NodeView>,
}

/// The state of this node's Redis connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisStatusView {
    /// True while the connection answers.
    pub connected: bool,
    /// The Redis URL, with any password replaced by `***`.
    pub url: String,
    /// The last error talking to Redis, if any since the last success.
    pub last_error: Option<String>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node's name (unique in the cluster).
    pub name: String,
    /// The node's number in the cluster.
    pub number: u16,
    /// Its public (WebSocket) address.
    pub listen: String,
    /// Its control API address, if it has one.
    pub control: Option<String>,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// Its last heartbeat (ms since the Unix epoch).
    pub heartbeat_ms: u64,
    /// True for the node that answers.
    pub this_node: bool,
    /// True for the node that runs the router (agents, queue, assignment): the
    /// routing routes of the control API (`/v1/agents`, assign, transfer) act there.
    pub router: bool,
}
