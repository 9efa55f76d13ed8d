//! Where things live in Redis. Every key of one conversation shares the hash tag
//! `{c:<id>}`, so a fenced append touches one Redis Cluster slot.
//!
//! | key | type | what |
//! |---|---|---|
//! | `sb:nodes` | set | numbers of registered nodes (dead ones are removed once taken over) |
//! | `sb:node:<n>` | string, TTL | node `n`'s [`super::NodeInfo`] as JSON; its heartbeat |
//! | `sb:leader` | string, TTL | number of the node that runs the router |
//! | `sb:convseq` | counter | conversation ids, reserved in blocks |
//! | `sb:{c:<id>}` | hash | `fence`, `owner`, `state` (JSON), `next_seq` |
//! | `sb:{c:<id>}:log` | list | the last `--history-len` items, JSON, oldest first |
//! | `sb:owned:<n>` | set | conversations node `n` owns |
//! | `sb:presence:<user>` | hash | connection id → node number |
//! | `sb:node-users:<n>` | set | users with connections on node `n` |
//! | `sb:events` | stream | created, assigned, transferred, ended, every message (admin side) |
//!
//! Pub/sub: `sb:n:<n>` carries [`super::NodeMsg`]s to node `n`.

/// The set of registered node numbers.
pub const NODES: &str = "sb:nodes";
/// The router leader lease.
pub const LEADER: &str = "sb:leader";
/// The conversation id counter.
pub const CONV_SEQ: &str = "sb:convseq";
/// The admin event stream.
pub const EVENTS: &str = "sb:events";

/// Node `n`'s registry entry.
pub fn node(n: u16) -> String {
    format!("sb:node:{n}")
}

/// Node `n`'s pub/sub channel.
pub fn channel(n: u16) -> String {
    format!("sb:n:{n}")
}

/// Conversation `conv`'s state hash.
pub fn conv(conv: u64) -> String {
    format!("sb:{{c:{conv}}}")
}

/// Conversation `conv`'s log.
pub fn log(conv: u64) -> String {
    format!("sb:{{c:{conv}}}:log")
}

/// The conversations node `n` owns.
pub fn owned(n: u16) -> String {
    format!("sb:owned:{n}")
}

/// A user's connections and their nodes.
pub fn presence(user: &str) -> String {
    format!("sb:presence:{user}")
}

/// The users with connections on node `n`.
pub fn node_users(n: u16) -> String {
    format!("sb:node-users:{n}")
}
