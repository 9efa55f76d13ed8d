//! The node registry (heartbeat with a TTL, the router lease, conversation id
//! blocks), the takeover of dead nodes' conversations, and the pub/sub subscriber.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context as _};
use redis::Value;

use super::bridge::{deliver_to_shard, Bridge, BridgeConfig};
use super::store::{Endpoint, Op, Script, Store};
use super::{keys, ClusterEvent, ConvState, Link, LoadedConv, NodeInfo, NodeMsg};
use crate::shard::ShardMsg;
use crate::shared::Shared;
use switchboard_service::ids::MAX_NODE;

/// Conversation ids reserved per `INCRBY`.
const CONV_ID_BLOCK: u64 = 1024;

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

    /// Renews the entry, the router lease and the id blocks; reads the registry; takes
    /// over the conversations of nodes that died.
    pub(super) fn heartbeat(bridge: &mut Bridge) {
        if let Err(err) = Self::try_heartbeat(bridge) {
            bridge.failed(&err);
        }
    }

    fn try_heartbeat(bridge: &mut Bridge) -> redis::RedisResult<()> {
        let me = bridge.link.node;
        let Some((renewed, leader)) = Self::renew(bridge)? else {
            return Ok(());
        };
        if renewed == 0 {
            tracing::error!(
                node = me,
                "another run took this node's number while it was unreachable; stopping so that two nodes never answer to one number"
            );
            std::process::exit(70);
        }
        if renewed == 2 && bridge.registry.joined {
            tracing::warn!(
                node = me,
                "this node's registry entry had expired: dropping every local conversation copy (others may own them now)"
            );
            for shard in 0..bridge.shared.shards() {
                deliver_to_shard(
                    &bridge.shared,
                    shard,
                    ShardMsg::Cluster(ClusterEvent::Expired),
                );
            }
        }
        bridge.registry.joined = true;
        let link = Arc::clone(&bridge.link);
        if leader == me && link.conv_ids.len() < 2 {
            let mut reserve = redis::cmd("INCRBY");
            reserve.arg(keys::CONV_SEQ).arg(CONV_ID_BLOCK);
            let end = query::<u64>(bridge, reserve)?;
            let _ = link.conv_ids.push(end + 1 - CONV_ID_BLOCK..end + 1);
        }
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::NODES);
        let members: Vec<u16> = query(bridge, smembers)?;
        // One GET each (the keys are in different slots of a Redis Cluster).
        let gets: Vec<Op> = members
            .iter()
            .map(|&n| {
                let mut get = redis::cmd("GET");
                get.arg(keys::node(n));
                Op::keyed(get)
            })
            .collect();
        let entries = if gets.is_empty() {
            Vec::new()
        } else {
            bridge.run_ops(&gets)?
        };
        let mut nodes = Vec::new();
        let mut dead = Vec::new();
        for (&number, entry) in members.iter().zip(entries) {
            let info = redis::from_redis_value::<Option<String>>(entry)
                .ok()
                .flatten()
                .and_then(|e| serde_json::from_str::<NodeInfo>(&e).ok());
            match info {
                Some(info) => nodes.push(info),
                None if number != me => dead.push(number),
                None => {}
            }
        }
        Self::observe(bridge, leader, &nodes);
        for number in dead {
            Self::take_over(bridge, number)?;
        }
        Ok(())
    }

    /// Renews this node's entry and the router lease: (heartbeat answer, leader).
    fn renew(bridge: &mut Bridge) -> redis::RedisResult<Option<(i64, u16)>> {
        let me = bridge.link.node;
        bridge.registry.info.heartbeat_ms = now_ms();
        let entry = serde_json::to_string(&bridge.registry.info).unwrap_or_default();
        let marker = format!("\"incarnation\":{}", bridge.registry.info.incarnation);
        let ttl = bridge.registry.ttl_ms;
        if bridge.connection().is_none() {
            return Ok(None);
        }
        let mut heartbeat = bridge.script(Script::Heartbeat, 1);
        heartbeat
            .arg(keys::node(me))
            .arg(entry)
            .arg(ttl)
            .arg(&marker);
        let mut lease = bridge.script(Script::Leader, 1);
        lease.arg(keys::LEADER).arg(me).arg(ttl);
        let mut listed = redis::cmd("SADD");
        listed.arg(keys::NODES).arg(me);
        let values =
            bridge.run_ops(&[Op::keyed(heartbeat), Op::keyed(lease), Op::keyed(listed)])?;
        let mut values = values.into_iter();
        let renewed = redis::from_redis_value::<i64>(values.next().unwrap_or(Value::Nil))?;
        let leader = redis::from_redis_value::<u16>(values.next().unwrap_or(Value::Nil))?;
        Ok(Some((renewed, leader)))
    }

    /// Records the registry as read; logs joins, deaths and leader changes.
    fn observe(bridge: &mut Bridge, leader: u16, nodes: &[NodeInfo]) {
        let registry = &mut bridge.registry;
        let alive: HashSet<u16> = nodes.iter().map(|n| n.number).collect();
        for joined in alive.difference(&registry.alive) {
            tracing::info!(node = joined, "node joined");
        }
        for &gone in registry.alive.difference(&alive) {
            tracing::warn!(node = gone, "node left or died");
            for shard in 0..bridge.shared.shards() {
                deliver_to_shard(
                    &bridge.shared,
                    shard,
                    ShardMsg::Cluster(ClusterEvent::NodeDown { node: gone }),
                );
            }
        }
        registry.alive = alive;
        bridge.link.leader.store(leader, Ordering::Release);
        if leader != registry.leader {
            tracing::info!(leader, "router leader");
            registry.leader = leader;
            // Shard 0 resets its router first, then asks the other shards to announce.
            deliver_to_shard(
                &bridge.shared,
                0,
                ShardMsg::Cluster(ClusterEvent::LeaderChanged { leader }),
            );
        }
        let listed = super::bridge::status_nodes(nodes);
        bridge.link.set_status(|s| s.nodes = listed);
    }

    /// Takes over every conversation dead node `number` owned, then forgets its
    /// presence entries.
    fn take_over(bridge: &mut Bridge, number: u16) -> redis::RedisResult<()> {
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::owned(number));
        let convs: Vec<u64> = query(bridge, smembers)?;
        let alive = bridge.registry.alive_numbers();
        let resolves: Vec<Op> = convs
            .iter()
            .map(|&conv| bridge.resolve_op(conv, &alive))
            .collect();
        let answers = if resolves.is_empty() {
            Vec::new()
        } else {
            bridge.run_ops(&resolves)?
        };
        Self::bury(bridge, number)?;
        let shards = bridge.shared.shards() as u64;
        let mut followups = super::bridge::Followups::default();
        for (&conv, value) in convs.iter().zip(answers) {
            let place = bridge.place(conv, value, &mut followups);
            if let super::Place::Here(_) = place {
                let shard = (conv % shards) as usize;
                bridge.to_shard(
                    shard,
                    ShardMsg::Cluster(ClusterEvent::Resolved { conv, place }),
                );
            }
        }
        followups.run(bridge)?;
        Ok(())
    }

    /// Forgets dead node `number`'s presence entries and, once it owns nothing, the
    /// node itself. Idempotent: survivors may do it at the same time.
    fn bury(bridge: &mut Bridge, number: u16) -> redis::RedisResult<()> {
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::node_users(number));
        let users: Vec<String> = query(bridge, smembers)?;
        for user in users {
            let mut all = redis::cmd("HGETALL");
            all.arg(keys::presence(&user));
            let conns: Vec<(u64, u16)> = query(bridge, all)?;
            let gone: Vec<u64> = conns
                .into_iter()
                .filter(|&(_, node)| node == number)
                .map(|(conn, _)| conn)
                .collect();
            if !gone.is_empty() {
                let mut del = redis::cmd("HDEL");
                del.arg(keys::presence(&user)).arg(gone);
                query::<()>(bridge, del)?;
            }
        }
        let mut forget = redis::cmd("DEL");
        forget.arg(keys::node_users(number));
        query::<()>(bridge, forget)?;
        let mut scard = redis::cmd("SCARD");
        scard.arg(keys::owned(number));
        if query::<u64>(bridge, scard)? == 0 {
            let mut unlist = redis::cmd("SREM");
            unlist.arg(keys::NODES).arg(number);
            query::<()>(bridge, unlist)?;
        }
        Ok(())
    }
}

/// Runs one command through the bridge's connection.
fn query<T: redis::FromRedisValue>(bridge: &mut Bridge, cmd: redis::Cmd) -> redis::RedisResult<T> {
    match bridge.connection() {
        Some(store) => store.query(cmd),
        None => Err((redis::ErrorKind::Io, "Redis unavailable (reconnecting)").into()),
    }
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
