//! Cluster mode over Redis (`--redis URL`): several nodes behind a load balancer share
//! a node registry, deliver to each other's connections, keep every conversation in a
//! durable log, and take over the conversations of a node that dies.
//!
//! Shards never talk to Redis. They hand [`Request`]s to the bridge thread through one
//! bounded channel ([`Link::request`] never blocks: a full channel is an error the
//! shard answers at once), and the bridge hands results back through the mesh's
//! inbound queues ([`crate::shard::ShardMsg::Cluster`]). The bridge
//! (`cluster/bridge.rs`) batches everything that arrived into one Redis pipeline, so a
//! busy node costs one round trip per batch, not per message.
//!
//! What lives where in Redis is in `cluster/keys.rs`; the atomic steps (a fenced
//! append, a takeover) are Lua scripts in `cluster/scripts.rs`; what crosses between
//! nodes is [`wire::NodeMsg`].

mod bridge;
mod heartbeat;
mod keys;
mod registry;
mod scripts;
mod store;
pub mod view;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam::channel::{Sender, TrySendError};
use crossbeam::queue::ArrayQueue;

pub use bridge::{start, BridgeConfig, BridgeHandle};
use switchboard_service::ids::ConnId;
pub use switchboard_service::records::{ConvState, LoadedConv, PersistRecord};
pub use wire::NodeMsg;

/// What a shard asks the bridge to do.
#[derive(Debug)]
pub enum Request {
    /// Deliver `msg` to node `node`.
    Send {
        /// The destination node number.
        node: u16,
        /// The message.
        msg: NodeMsg,
    },
    /// Deliver `msg` to the node that runs the router.
    ToLeader(NodeMsg),
    /// Find where conversation `conv` lives: here (load it, taking it over from a dead
    /// owner), on another node, or nowhere. Answered to `shard`.
    Resolve {
        /// The conversation.
        conv: u64,
        /// The shard that asks (its home shard).
        shard: usize,
    },
    /// Append a conversation's new items and state to its log, fenced. Answered to
    /// `shard` with [`Persisted`].
    Persist {
        /// The asking shard.
        shard: usize,
        /// The shard's number for this write (answers come back in order).
        write: u64,
        /// What to write.
        record: Box<PersistRecord>,
    },
    /// A user's connection opened or closed (presence in Redis).
    Presence {
        /// The user.
        user: Box<str>,
        /// The connection (with its node number).
        conn: ConnId,
        /// Opened (true) or closed.
        login: bool,
        /// On a close: the user has no other connection on this node.
        last_here: bool,
        /// On an open under `--relogin replace`: close the user's connections on
        /// other nodes.
        replace: bool,
    },
}

/// How a fenced write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persisted {
    /// In Redis.
    Ok,
    /// Another node owns the conversation now (this node's fencing token is stale), or
    /// the log moved on without us: the local copy must go.
    Fenced,
    /// Redis did not take it (down, slow, error): the local copy must go, the client
    /// is told to retry.
    Unavailable(String),
}

/// Where a conversation lives, as the bridge found it.
#[derive(Debug)]
pub enum Place {
    /// Here: its state and recent items, loaded (taken over if its owner died).
    Here(Box<LoadedConv>),
    /// On node `node`.
    Node(u16),
    /// Nowhere: no such conversation.
    Unknown,
    /// Redis could not be asked.
    Unavailable(String),
}

/// What the bridge tells a shard.
#[derive(Debug)]
pub enum ClusterEvent {
    /// Write `write` of this shard ended.
    Persisted {
        /// The shard's write number.
        write: u64,
        /// How.
        outcome: Persisted,
    },
    /// Where conversation `conv` lives (answer to [`Request::Resolve`], or a takeover
    /// the bridge started itself after a node died).
    Resolved {
        /// The conversation.
        conv: u64,
        /// Where it is.
        place: Place,
    },
    /// This node's registry entry had expired (it was paused or cut off longer than
    /// the TTL): other nodes may own its conversations now, so every local copy goes.
    Expired,
    /// The router runs on node `leader` now.
    LeaderChanged {
        /// The leader's number.
        leader: u16,
    },
    /// Tell the router leader what this shard holds (sent by shard 0 after a leader
    /// change).
    Announce,
    /// Node `node` is gone: forget what was cached about it.
    NodeDown {
        /// The node number.
        node: u16,
    },
}

/// Counters of cluster mode, for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterCounters {
    /// Messages published to other nodes.
    pub sent: AtomicU64,
    /// Messages received from other nodes.
    pub received: AtomicU64,
    /// Fenced writes that reached Redis.
    pub persisted: AtomicU64,
    /// Writes refused because this node's token was stale.
    pub fenced: AtomicU64,
    /// Writes and lookups that failed because Redis was unavailable.
    pub unavailable: AtomicU64,
    /// Requests refused because the bridge's queue was full.
    pub queue_full: AtomicU64,
    /// Outputs needing no write dropped because too many waited behind slow writes.
    pub held_dropped: AtomicU64,
    /// Conversations taken over from dead nodes.
    pub takeovers: AtomicU64,
    /// Connections to Redis that failed or broke.
    pub redis_errors: AtomicU64,
    /// Sum of Redis pipeline round trips, µs, and their count.
    pub pipeline_us: AtomicU64,
    /// Number of pipelines.
    pub pipelines: AtomicU64,
}

/// A node as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// The node's name (`--node-name`).
    pub name: String,
    /// Its number (top bits of its connection ids).
    pub number: u16,
    /// Its WebSocket address.
    pub listen: String,
    /// Its control API address, if on.
    pub control: Option<String>,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// Its last heartbeat (ms since the epoch).
    pub heartbeat_ms: u64,
    /// A random id of this run, so a restarted node with the same number is told
    /// apart.
    pub incarnation: u64,
}

/// What the control API shows about the cluster (written by the bridge only).
#[derive(Debug, Clone, Default)]
pub struct ClusterStatus {
    /// The registry as last read.
    pub nodes: Vec<NodeInfo>,
    /// The last Redis error, if Redis is down.
    pub last_error: Option<String>,
}

/// The shards' side of the bridge, shared by every shard, the bridge and the control
/// API.
#[derive(Debug)]
pub struct Link {
    node: u16,
    name: String,
    url_redacted: String,
    requests: Sender<Request>,
    leader: AtomicU16,
    redis_up: AtomicBool,
    counters: ClusterCounters,
    status: Mutex<ClusterStatus>,
    conv_ids: ArrayQueue<std::ops::Range<u64>>,
}

impl Link {
    /// This node's number (1–1023).
    pub fn node(&self) -> u16 {
        self.node
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Redis URL with any password hidden.
    pub fn url_redacted(&self) -> &str {
        &self.url_redacted
    }

    /// Hands `request` to the bridge; gives it back when the bridge's queue is full.
    pub fn request(&self, request: Request) -> Result<(), Request> {
        match self.requests.try_send(request) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(request) | TrySendError::Disconnected(request)) => {
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                Err(request)
            }
        }
    }

    /// The number of the node running the router (0: none known yet).
    pub fn leader(&self) -> u16 {
        self.leader.load(Ordering::Acquire)
    }

    /// Whether this node runs the router.
    pub fn is_leader(&self) -> bool {
        self.leader() == self.node
    }

    /// Whether the last talk with Redis worked.
    pub fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    /// The counters.
    pub fn counters(&self) -> &ClusterCounters {
        &self.counters
    }

    /// The registry and last error, for the control API.
    pub fn status(&self) -> ClusterStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A block of conversation ids reserved in Redis (for the router), if one is ready.
    pub fn take_conv_ids(&self) -> Option<std::ops::Range<u64>> {
        self.conv_ids.pop()
    }

    fn set_status(&self, update: impl FnOnce(&mut ClusterStatus)) {
        if let Ok(mut status) = self.status.lock() {
            update(&mut status);
        }
    }
}

/// Hides the password of a `redis://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Shorthand for shards: a link if cluster mode is on.
pub type MaybeLink = Option<Arc<Link>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("redis://u:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
    }
}
