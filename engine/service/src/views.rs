//! What the service shows the control plane, and what the control plane may ask of it,
//! in the service's own terms. The engine's control adapter turns these into the
//! control API's documents (and back), so the service never names an API type.

pub use switchboard_protocol::chat::{AgentStatus, ConversationState};

/// How many conversations a shard holds in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for an agent.
    pub waiting: u64,
    /// Served by an agent.
    pub serving: u64,
    /// Being offered to another agent.
    pub transferring: u64,
    /// Ended, still held for late resumes.
    pub ended: u64,
}

/// Which conversations a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this state.
    pub state: Option<ConversationState>,
    /// Only those served by (or being offered to) this agent.
    pub agent: Option<String>,
    /// Only those at least this old (ms).
    pub min_age_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// One conversation at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Its id.
    pub id: u64,
    /// Its state.
    pub state: ConversationState,
    /// Its visitor.
    pub visitor: String,
    /// The agent serving it (the origin agent during a transfer).
    pub agent: Option<String>,
    /// During a transfer, the target agent.
    pub transfer_to: Option<String>,
    /// Whether its visitor is a VIP.
    pub vip: bool,
    /// When it was opened (ms since the epoch).
    pub created_at_ms: u64,
    /// How long ago that was.
    pub age_ms: u64,
    /// Time since its last message or transition.
    pub idle_ms: u64,
    /// Its newest item's sequence number.
    pub last_seq: u64,
    /// Its place in the queue, while waiting.
    pub queue_position: Option<u32>,
}

/// One ordered item, as the control plane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemView {
    /// A chat line.
    Message {
        /// Its sequence number.
        seq: u64,
        /// Server time (ms since the epoch).
        ts: u64,
        /// The sender.
        from: String,
        /// The sender's id of the line.
        client_msg_id: String,
        /// The text.
        body: String,
    },
    /// A system event.
    System {
        /// Its sequence number.
        seq: u64,
        /// Server time (ms since the epoch).
        ts: u64,
        /// The event's name (`created`, `assigned`, ...).
        event: String,
        /// The agent it names, if any.
        agent: Option<String>,
        /// A queue position, if any.
        position: Option<u32>,
        /// A reason, if any.
        reason: Option<String>,
    },
}

/// A conversation with its recent items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// The summary.
    pub summary: Summary,
    /// The most recent items, oldest first.
    pub items: Vec<ItemView>,
    /// Connections following it.
    pub followers: u32,
}

/// Who a message posted by the company's back end is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// The system: the line's `from` is `system`.
    System,
    /// A named bot: the line's `from` is `bot:<name>`.
    Bot(String),
}

/// A message the company's back end posts into a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Who it is from.
    pub from: Sender,
    /// The text.
    pub body: String,
    /// The caller's id of the line (dedupe); one is made up when absent.
    pub client_msg_id: Option<String>,
}

/// The answer to a [`Post`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The conversation.
    pub conv: u64,
    /// The line's sequence number.
    pub seq: u64,
    /// Its server time.
    pub ts: u64,
    /// Its client message id.
    pub client_msg_id: String,
    /// Whether it had been posted before (the first seq is returned).
    pub duplicate: bool,
}

/// One agent as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    /// The agent's user id.
    pub user: String,
    /// Its status (offline when it has no connection and no grace period left).
    pub status: AgentStatus,
    /// Concurrent conversations it takes.
    pub capacity: u32,
    /// Routing weight.
    pub weight: u32,
    /// Its groups.
    pub groups: Vec<String>,
    /// Open connections.
    pub connections: u32,
    /// Conversations it serves.
    pub conversations: Vec<u64>,
    /// While disconnected: time left before its conversations are requeued.
    pub grace_left_ms: Option<u64>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPatch {
    /// New status.
    pub status: Option<AgentStatus>,
    /// New capacity.
    pub capacity: Option<u32>,
    /// New weight.
    pub weight: Option<u32>,
    /// New groups.
    pub groups: Option<Vec<String>>,
}
