//! The node registry as this node knows it — its own entry, the nodes alive, the router
//! lease holder — and what each heartbeat's reading means ([`Registry::observe`], pure,
//! unit-tested without Redis); the number claim at start, the decoding of a loaded
//! conversation, and the pub/sub subscriber. The Redis side of the heartbeat is the
//! bridge's (`heartbeat.rs`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::bridge::{deliver_to_shard, BridgeConfig};
use super::store::{Endpoint, Store};
use super::{keys, ConvState, Link, LoadedConv, NodeInfo, NodeMsg};
use crate::shared::Shared;
use switchboard_service::ids::MAX_NODE;

/// This node's registry entry and what it knows of the others.
#[derive(Debug)]
pub struct Registry {
    info: NodeInfo,
    ttl_ms: u64,
    alive: HashSet<u16>,
    leader: u16,
    /// Whether a heartbeat found the entry in place once (so a missing one later
    /// means it expired).
    joined: bool,
}

fn now_ms() -> u64 {
    switchboard_driver::os::wall_clock_ms()
}

impl Registry {
    pub(super) fn new(config: &BridgeConfig) -> Self {
        let incarnation = random_u64() & ((1 << 53) - 1);
        Registry {
            info: NodeInfo {
                name: config.name.clone(),
                number: 0,
                listen: config.listen.clone(),
                control: config.control.clone(),
                started_ms: now_ms(),
                heartbeat_ms: now_ms(),
                incarnation,
            },
            ttl_ms: config.node_ttl_ms.max(100),
            alive: HashSet::new(),
            leader: 0,
            joined: false,
        }
    }

    /// This run's random id.
    pub fn incarnation(&self) -> u64 {
        self.info.incarnation
    }

    /// Whether node `n` was alive at the last heartbeat.
    pub fn is_alive(&self, n: u16) -> bool {
        n == self.info.number || self.alive.contains(&n)
    }

    /// Claims a free node number (`SET NX` with the TTL), starting at a random one.
    pub(super) fn claim(&mut self, store: &mut Store) -> anyhow::Result<u16> {
        let start = (random_u64() % u64::from(MAX_NODE)) as u16;
        for i in 0..MAX_NODE {
            let number = (start + i) % MAX_NODE + 1;
            self.info.number = number;
            let entry = serde_json::to_string(&self.info).context("encoding the node entry")?;
            let mut set = redis::cmd("SET");
            set.arg(keys::node(number))
                .arg(entry)
                .arg("NX")
                .arg("PX")
                .arg(self.ttl_ms);
            let claimed: Option<String> = store.query(set)?;
            if claimed.is_some() {
                let mut add = redis::cmd("SADD");
                add.arg(keys::NODES).arg(number);
                store.query::<()>(add)?;
                return Ok(number);
            }
        }
        bail!("every node number (1-{MAX_NODE}) is taken")
    }

    /// The numbers of the nodes alive at the last heartbeat, this one included.
    pub fn alive_numbers(&self) -> Vec<u16> {
        let mut alive: Vec<u16> = self.alive.iter().copied().collect();
        alive.push(self.info.number);
        alive
    }

    /// What a heartbeat's reading of the registry means. `renewed` is the heartbeat
    /// script's answer (1: renewed, 2: the entry had expired and was made again, 0:
    /// another run holds this number), `leader` the router lease holder, `nodes` the
    /// entries alive, `dead` the listed numbers without one. Pure: the bridge reads
    /// Redis, calls this, and carries the decisions out.
    pub(super) fn observe(
        &mut self,
        renewed: i64,
        leader: u16,
        nodes: &[NodeInfo],
        dead: &[u16],
    ) -> Vec<Decision> {
        if renewed == 0 {
            return vec![Decision::Exit];
        }
        let mut decisions = Vec::new();
        if renewed == 2 && self.joined {
            decisions.push(Decision::DropLocalCopies);
        }
        self.joined = true;
        let alive: HashSet<u16> = nodes.iter().map(|n| n.number).collect();
        for &joined in alive.difference(&self.alive) {
            decisions.push(Decision::Joined(joined));
        }
        for &gone in self.alive.difference(&alive) {
            decisions.push(Decision::NodeDown(gone));
        }
        self.alive = alive;
        if leader != self.leader {
            self.leader = leader;
            decisions.push(Decision::LeaderChanged(leader));
        }
        decisions.extend(dead.iter().map(|&n| Decision::TakeOver(n)));
        decisions
    }

    /// The entry this node writes at each heartbeat (heartbeat time set to now).
    pub(super) fn entry(&mut self) -> (String, String) {
        self.info.heartbeat_ms = now_ms();
        let entry = serde_json::to_string(&self.info).unwrap_or_default();
        let marker = format!("\"incarnation\":{}", self.info.incarnation);
        (entry, marker)
    }

    /// The registry TTL (ms).
    pub(super) fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }
}

/// What a heartbeat decided, for the bridge to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Another run took this node's number: stop, two nodes must never answer to one.
    Exit,
    /// This node's entry had expired: others may own its conversations now.
    DropLocalCopies,
    /// A node appeared.
    Joined(u16),
    /// A node left or died: forget what was cached about it.
    NodeDown(u16),
    /// The router lease moved.
    LeaderChanged(u16),
    /// A listed node has no entry: take its conversations over.
    TakeOver(u16),
}

/// Decodes a conversation read from Redis; followers on dead nodes are dropped.
/// A conversation as `RESOLVE` read it.
pub(super) struct Stored<'a> {
    pub(super) fence: u64,
    pub(super) state: &'a str,
    pub(super) next_seq: u64,
    pub(super) items: &'a [String],
}

/// Decodes a conversation read from Redis; followers on dead nodes are dropped. The
/// state is written only when it changes beyond a chat line, so its next seq and
/// last activity are taken from the stored next seq and the newest item.
pub(super) fn decode_loaded(
    conv: u64,
    stored: &Stored<'_>,
    alive: impl Fn(u16) -> bool,
) -> Result<LoadedConv, String> {
    let mut state: ConvState = switchboard_service::records::decode_state(stored.state)
        .map_err(|e| format!("bad state: {e}"))?;
    state.followers.retain(|f| alive(f.peer.conn.node()));
    let items = stored
        .items
        .iter()
        .map(|item| {
            switchboard_service::records::decode_item(item).map_err(|e| format!("bad item: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.next_seq = state.next_seq.max(stored.next_seq);
    if let Some(newest) = items.last() {
        state.next_seq = state.next_seq.max(newest.seq() + 1);
        if !state.fsm.is_ended() {
            state.fsm.last_activity_ms = state.fsm.last_activity_ms.max(newest.ts());
        }
    }
    Ok(LoadedConv {
        conv,
        fence: stored.fence,
        state,
        items,
    })
}

/// Starts the thread that receives this node's pub/sub messages.
pub(super) fn spawn_subscriber(
    endpoint: Endpoint,
    link: Arc<Link>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cluster-subscriber".into())
        .spawn(move || subscribe_loop(&endpoint, &link, &shared, &stop))
        .context("spawning the cluster subscriber")
}

fn subscribe_loop(endpoint: &Endpoint, link: &Link, shared: &Shared, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0;
    while !stop.load(Ordering::Acquire) {
        match subscribe_once(endpoint, attempt, link, shared, stop) {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(%err, "cluster subscription lost; resubscribing");
                attempt += 1;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Holds one subscription until `stop` or an error.
fn subscribe_once(
    endpoint: &Endpoint,
    attempt: usize,
    link: &Link,
    shared: &Shared,
    stop: &AtomicBool,
) -> redis::RedisResult<()> {
    let mut con = endpoint.plain(attempt)?;
    let mut pubsub = con.as_pubsub();
    pubsub.set_read_timeout(Some(Duration::from_millis(200)))?;
    pubsub.subscribe(keys::channel(link.node))?;
    tracing::info!(channel = %keys::channel(link.node), "subscribed to this node's cluster channel");
    while !stop.load(Ordering::Acquire) {
        let msg = match pubsub.get_message() {
            Ok(msg) => msg,
            Err(err) if err.is_timeout() => continue,
            Err(err) => return Err(err),
        };
        match NodeMsg::decode(msg.get_payload_bytes()) {
            Ok(node_msg) => {
                tracing::debug!(?node_msg, "from another node");
                link.counters.received.fetch_add(1, Ordering::Relaxed);
                let (shard, msg) = node_msg.into_shard_msg(shared.shards());
                deliver_to_shard(shared, shard, msg);
            }
            Err(err) => tracing::warn!(%err, "a cluster message did not decode; dropped"),
        }
    }
    Ok(())
}

/// A random 64-bit value from the kernel.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        use std::io::Read as _;
        let _ = file.read_exact(&mut bytes);
    }
    u64::from_le_bytes(bytes) ^ now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::chat::Encoding;
    use switchboard_protocol::conversation::Conversation;
    use switchboard_service::ids::{ConnId, Peer};
    use switchboard_service::records::StoredFollower;

    fn line(seq: u64, ts: u64) -> String {
        format!(
            r#"{{"seq":{seq},"ts":{ts},"body":{{"Message":{{"from":"v","client_msg_id":"m{seq}","body":"hi"}}}}}}"#
        )
    }

    fn registry() -> Registry {
        Registry::new(&BridgeConfig {
            url: String::new(),
            cluster: false,
            name: "me".into(),
            listen: "127.0.0.1:1".into(),
            control: None,
            node_ttl_ms: 1000,
            redis_timeout_ms: 1000,
            queue: 16,
            history_len: 16,
            events_maxlen: 16,
        })
    }

    fn node(number: u16) -> NodeInfo {
        NodeInfo {
            name: format!("n{number}"),
            number,
            listen: String::new(),
            control: None,
            started_ms: 0,
            heartbeat_ms: 0,
            incarnation: u64::from(number),
        }
    }

    /// The registry's reading of heartbeats, without Redis: joins, deaths (told to the
    /// shards, and taken over when the entry is gone while still listed), leader moves,
    /// an expired own entry, and a number taken by another run.
    #[test]
    fn heartbeats_are_read_into_decisions() {
        let mut reg = registry();
        let first = reg.observe(1, 1, &[node(1), node(2)], &[]);
        assert!(first.contains(&Decision::Joined(1)) && first.contains(&Decision::Joined(2)));
        assert!(first.contains(&Decision::LeaderChanged(1)));
        assert_eq!(
            reg.observe(1, 1, &[node(1), node(2)], &[]),
            [],
            "nothing new"
        );
        let died = reg.observe(1, 1, &[node(1)], &[2]);
        assert_eq!(died, [Decision::NodeDown(2), Decision::TakeOver(2)]);
        assert!(!reg.is_alive(2));
        let moved = reg.observe(1, 3, &[node(1), node(3)], &[]);
        assert_eq!(moved, [Decision::Joined(3), Decision::LeaderChanged(3)]);
        assert_eq!(
            reg.observe(2, 3, &[node(1), node(3)], &[]),
            [Decision::DropLocalCopies],
            "the own entry had expired and was made again"
        );
        assert_eq!(reg.observe(0, 3, &[], &[]), [Decision::Exit]);
    }

    #[test]
    fn an_expired_entry_at_the_very_first_heartbeat_drops_nothing() {
        let mut reg = registry();
        let first = reg.observe(2, 1, &[node(1)], &[]);
        assert!(!first.contains(&Decision::DropLocalCopies), "{first:?}");
    }

    #[test]
    fn a_loaded_conversation_takes_next_seq_and_activity_from_its_newest_item() {
        let (fsm, _) = Conversation::open(7, "v", false, 1_000);
        let follower = |node| StoredFollower {
            peer: Peer {
                conn: ConnId::new(0, 1, 1).on_node(node),
                encoding: Encoding::Json,
            },
            user: "v".into(),
            acked: 0,
        };
        // The state was written when seq 2 was next; lines 2..=4 came after it.
        let state = ConvState {
            fsm,
            next_seq: 2,
            created_ms: 1_000,
            queue_position: None,
            followers: vec![follower(3), follower(4)],
        };
        let state = switchboard_service::records::encode_state(&state);
        let items: Vec<String> = (1..=4).map(|seq| line(seq, 1_000 + seq * 10)).collect();
        let stored = Stored {
            fence: 5,
            state: &state,
            next_seq: 5,
            items: &items,
        };
        let loaded = decode_loaded(7, &stored, |node| node == 3).unwrap();
        assert_eq!((loaded.conv, loaded.fence), (7, 5));
        assert_eq!(loaded.state.next_seq, 5);
        assert_eq!(loaded.state.fsm.last_activity_ms, 1_040);
        assert_eq!(loaded.items.len(), 4);
        // Followers on dead nodes are dropped.
        assert_eq!(loaded.state.followers.len(), 1);
        assert_eq!(loaded.state.followers[0].peer.conn.node(), 3);
        // Garbage is an error, never a panic.
        let bad = Stored {
            state: "{",
            ..stored
        };
        assert!(decode_loaded(7, &bad, |_| true).is_err());
    }
}
