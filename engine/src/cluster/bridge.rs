//! The bridge thread: the only code that talks to Redis for the shards. It takes the
//! shards' [`Request`]s in batches, runs each batch as one pipeline, and hands the
//! answers back through the mesh. A second thread holds the pub/sub subscription to
//! this node's channel and hands what other nodes send to the right shard.
//!
//! Redis going away never blocks a shard: requests that arrive while it is down are
//! answered at once as unavailable, the bridge reconnects with a capped exponential
//! backoff, and the `switchboard_cluster_redis_up` gauge and one log line per change
//! say so.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam::channel::{bounded, Receiver, RecvTimeoutError};
use crossbeam::queue::ArrayQueue;
use redis::Value;

use super::registry::Registry;
use super::store::{Endpoint, Op, Script, Store};
use super::{keys, ClusterEvent, ClusterStatus, Link, NodeInfo, Persisted, Place, Request};
use crate::shard::ShardMsg;
use crate::shared::Shared;

/// Requests the bridge takes into one pipeline at most.
const MAX_BATCH: usize = 1024;
/// How long a starting node waits for Redis.
const START_WAIT: Duration = Duration::from_secs(20);
/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the bridge needs to start.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Redis URL, or a comma-separated Redis Cluster seed list.
    pub url: String,
    /// Whether `url` is a Redis Cluster (implied by several seeds).
    pub cluster: bool,
    /// This node's name.
    pub name: String,
    /// Its WebSocket address.
    pub listen: String,
    /// Its control API address, if on.
    pub control: Option<String>,
    /// Registry TTL: a node silent this long is dead.
    pub node_ttl_ms: u64,
    /// Timeout of one Redis round trip.
    pub redis_timeout_ms: u64,
    /// Requests the shards may have waiting for the bridge.
    pub queue: usize,
    /// Items kept per conversation log.
    pub history_len: usize,
    /// Approximate length of the admin event stream.
    pub events_maxlen: usize,
}

/// The running bridge; stopping it removes this node from the registry.
#[derive(Debug)]
pub struct BridgeHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BridgeHandle {
    /// Stops both threads; the bridge deletes this node's registry entry (and gives
    /// up the router lease) so that the others take over at once.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Connects to Redis, claims a node number and starts the bridge threads.
pub fn start(
    config: BridgeConfig,
    shared: Arc<Shared>,
) -> anyhow::Result<(Arc<Link>, BridgeHandle)> {
    let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
    let endpoint =
        Endpoint::parse(&config.url, config.cluster, timeout).map_err(anyhow::Error::msg)?;
    let mut store = connect_at_start(&endpoint)?;
    let mut registry = Registry::new(&config);
    let number = registry
        .claim(&mut store)
        .context("claiming a node number")?;
    let (tx, rx) = bounded(config.queue.max(1));
    let link = Arc::new(Link {
        node: number,
        name: config.name.clone(),
        url_redacted: endpoint.redacted(),
        requests: tx,
        leader: AtomicU16::new(0),
        redis_up: AtomicBool::new(true),
        counters: Default::default(),
        status: Mutex::new(ClusterStatus::default()),
        conv_ids: ArrayQueue::new(4),
    });
    tracing::info!(node = number, name = %config.name, cluster = endpoint.is_cluster(), "joined the cluster");
    let stop = Arc::new(AtomicBool::new(false));
    let subscriber = super::registry::spawn_subscriber(
        endpoint.clone(),
        Arc::clone(&link),
        Arc::clone(&shared),
        Arc::clone(&stop),
    )?;
    let mut bridge = Bridge {
        endpoint,
        store: Some(store),
        backoff: Duration::from_millis(50),
        next_connect: Instant::now(),
        link: Arc::clone(&link),
        shared,
        registry,
        config,
        stop: Arc::clone(&stop),
    };
    bridge.heartbeat();
    let thread = std::thread::Builder::new()
        .name("cluster-bridge".into())
        .spawn(move || bridge.run(&rx))
        .context("spawning the cluster bridge")?;
    Ok((
        link,
        BridgeHandle {
            stop,
            threads: vec![thread, subscriber],
        },
    ))
}

/// Connects at start, waiting up to [`START_WAIT`] for a Redis that comes up with
/// the node (same deploy, systemd ordering), then fails with the reason.
fn connect_at_start(endpoint: &Endpoint) -> anyhow::Result<Store> {
    let give_up = Instant::now() + START_WAIT;
    loop {
        match endpoint.connect() {
            Ok(store) => return Ok(store),
            Err(err) if Instant::now() < give_up => {
                tracing::warn!(%err, redis = %endpoint.redacted(), "Redis not reachable yet; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "connecting to Redis at {} (gave up after {} s)",
                        endpoint.redacted(),
                        START_WAIT.as_secs()
                    )
                })
            }
        }
    }
}

/// What a pipeline entry was for, to route its answer.
enum Pending {
    Nothing,
    Publish {
        node: u16,
    },
    Persist {
        shard: usize,
        write: u64,
        /// The record, when something follows a successful write (admin events on a
        /// cluster, forgetting an ended conversation).
        events: Option<Box<super::PersistRecord>>,
    },
    Resolve {
        conv: u64,
        shard: usize,
    },
    /// `--relogin replace`: the user's connections before `conn` opened.
    Replace {
        conn: switchboard_service::ids::ConnId,
    },
}

pub(super) struct Bridge {
    endpoint: Endpoint,
    store: Option<Store>,
    backoff: Duration,
    next_connect: Instant,
    pub(super) link: Arc<Link>,
    pub(super) shared: Arc<Shared>,
    pub(super) registry: Registry,
    pub(super) config: BridgeConfig,
    stop: Arc<AtomicBool>,
}

impl Bridge {
    fn run(mut self, requests: &Receiver<Request>) {
        let beat = Duration::from_millis((self.config.node_ttl_ms / 3).max(50));
        let mut next_beat = Instant::now() + beat;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while !self.stop.load(Ordering::Acquire) {
            let wait = next_beat
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match requests.recv_timeout(wait) {
                Ok(request) => batch.push(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.run_batch(&mut batch);
                let leads = self.link.leader.load(Ordering::Acquire) == self.link.node;
                if leads && self.store.is_some() {
                    if let Err(err) = self.top_up_conv_ids() {
                        self.failed(&err);
                    }
                }
            }
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + beat;
            }
        }
        self.leave();
    }

    /// The connection, reconnecting when the backoff allows.
    pub(super) fn connection(&mut self) -> Option<&mut Store> {
        if self.store.is_none() && Instant::now() >= self.next_connect {
            match self.endpoint.connect() {
                Ok(store) => {
                    tracing::info!("Redis is reachable again");
                    self.store = Some(store);
                    self.backoff = Duration::from_millis(50);
                    self.set_up(true, None);
                }
                Err(err) => self.failed(&err),
            }
        }
        self.store.as_mut()
    }

    /// Records a failed talk with Redis: drop the connection, back off.
    pub(super) fn failed(&mut self, err: &redis::RedisError) {
        if self.link.redis_up() {
            tracing::error!(%err, "Redis unavailable: cluster writes are refused until it is back");
        }
        self.link
            .counters
            .redis_errors
            .fetch_add(1, Ordering::Relaxed);
        self.store = None;
        self.next_connect = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.set_up(false, Some(err.to_string()));
    }

    fn set_up(&self, up: bool, error: Option<String>) {
        self.link.redis_up.store(up, Ordering::Relaxed);
        self.link.set_status(|s| s.last_error = error);
    }

    /// Runs `ops`, reconnecting first if needed.
    pub(super) fn run_ops(&mut self, ops: &[Op]) -> redis::RedisResult<Vec<Value>> {
        match self.connection() {
            Some(store) => store.run(ops),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis unavailable (reconnecting)",
            ))),
        }
    }

    /// A script call with its keys and arguments still to add.
    pub(super) fn script(&self, script: Script, keys: usize) -> redis::Cmd {
        self.endpoint.script(script, keys)
    }

    fn run_batch(&mut self, batch: &mut Vec<Request>) {
        let mut ops = Vec::with_capacity(batch.len());
        let mut pending = Vec::with_capacity(batch.len());
        for request in batch.drain(..) {
            self.add_request(&mut ops, &mut pending, request);
        }
        if pending.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut result = self.run_ops(&ops);
        if result
            .as_ref()
            .is_err_and(|e| e.is_connection_dropped() || e.is_io_error())
            && self.link.redis_up()
        {
            // A connection found broken on first use after a quiet spell (Redis
            // restarted meanwhile): one retry on a new connection. A script that did
            // run before the break is refused the second time by its sequence check.
            self.store = None;
            self.next_connect = Instant::now();
            result = self.run_ops(&ops);
        }
        let counters = &self.link.counters;
        counters
            .pipeline_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        counters.pipelines.fetch_add(1, Ordering::Relaxed);
        let mut followups = Followups::default();
        match result {
            Ok(values) => {
                for (entry, value) in pending.into_iter().zip(values) {
                    self.answer(entry, Ok(value), &mut followups);
                }
            }
            Err(err) => {
                if self.store.is_some() {
                    self.failed(&err);
                }
                let why = err.to_string();
                for entry in pending {
                    self.answer(entry, Err(why.clone()), &mut followups);
                }
            }
        }
        if let Err(err) = followups.run(self) {
            tracing::warn!(%err, "cluster bookkeeping after a batch failed (admin events or owned sets)");
        }
    }

    fn add_request(&mut self, ops: &mut Vec<Op>, pending: &mut Vec<Pending>, request: Request) {
        match request {
            Request::Send { node, msg } => self.add_publish(ops, pending, node, &msg),
            Request::ToLeader(msg) => {
                let leader = self.link.leader();
                if leader == 0 {
                    tracing::warn!("no router leader known: a router command is dropped");
                    return;
                }
                self.add_publish(ops, pending, leader, &msg);
            }
            Request::Resolve { conv, shard } => {
                let alive = self.registry.alive_numbers();
                ops.push(self.resolve_op(conv, &alive));
                pending.push(Pending::Resolve { conv, shard });
            }
            Request::Persist {
                shard,
                write,
                record,
            } => self.add_persist(ops, pending, shard, write, record),
            Request::Presence {
                user,
                conn,
                login,
                last_here,
                replace,
            } => {
                if replace {
                    // Who else is connected, before this connection is added.
                    let mut others = redis::cmd("HGETALL");
                    others.arg(keys::presence(&user));
                    ops.push(Op::keyed(others));
                    pending.push(Pending::Replace { conn });
                }
                let mut cmd = redis::cmd(if login { "HSET" } else { "HDEL" });
                cmd.arg(keys::presence(&user)).arg(conn.0);
                let mut users = redis::cmd(if login { "SADD" } else { "SREM" });
                users.arg(keys::node_users(conn.node())).arg(&*user);
                if login {
                    cmd.arg(conn.node());
                }
                if login || last_here {
                    ops.push(Op::keyed(users));
                    pending.push(Pending::Nothing);
                }
                ops.push(Op::keyed(cmd));
                pending.push(Pending::Nothing);
            }
        }
    }

    /// `RESOLVE` of `conv`, given the nodes alive.
    pub(super) fn resolve_op(&mut self, conv: u64, alive: &[u16]) -> Op {
        let (me, inc) = (self.link.node, self.registry.incarnation());
        let mut cmd = self.script(Script::Resolve, 2);
        cmd.arg(keys::conv(conv))
            .arg(keys::log(conv))
            .arg(me)
            .arg(conv)
            .arg(inc)
            .arg(alive);
        Op::keyed(cmd)
    }

    fn add_persist(
        &mut self,
        ops: &mut Vec<Op>,
        pending: &mut Vec<Pending>,
        shard: usize,
        write: u64,
        record: Box<super::PersistRecord>,
    ) {
        let (me, inc) = (self.link.node, self.registry.incarnation());
        if record.create {
            // Before the append, so the set of what this node owns is a superset: a
            // takeover never misses one of its conversations.
            let mut owned = redis::cmd("SADD");
            owned.arg(keys::owned(me)).arg(record.conv);
            ops.push(Op::keyed(owned));
            pending.push(Pending::Nothing);
        }
        // On a single Redis the admin events are part of the append (exactly once);
        // on a cluster the stream is in another slot and follows it.
        let in_script = !self.endpoint.is_cluster();
        let mut cmd = self.script(Script::Append, if in_script { 3 } else { 2 });
        cmd.arg(keys::conv(record.conv)).arg(keys::log(record.conv));
        if in_script {
            cmd.arg(keys::EVENTS);
        }
        cmd.arg(record.fence)
            .arg(me)
            .arg(u8::from(record.create))
            .arg(&record.state)
            .arg(record.first_seq)
            .arg(record.next_seq)
            .arg(self.config.history_len.max(1))
            .arg(self.config.events_maxlen.max(1))
            .arg(record.conv)
            .arg(inc)
            .arg(record.expire_ms);
        for (kind, item) in &record.items {
            cmd.arg(*kind).arg(item);
        }
        ops.push(Op::keyed(cmd));
        let events =
            (record.expire_ms > 0 || (!in_script && !record.items.is_empty())).then_some(record);
        pending.push(Pending::Persist {
            shard,
            write,
            events,
        });
    }

    fn add_publish(
        &self,
        ops: &mut Vec<Op>,
        pending: &mut Vec<Pending>,
        node: u16,
        msg: &super::NodeMsg,
    ) {
        if node == self.link.node {
            tracing::warn!("a cluster message addressed to this very node is dropped");
            return;
        }
        match msg.encode() {
            Ok(bytes) => {
                ops.push(Op::publish(&keys::channel(node), &bytes));
                pending.push(Pending::Publish { node });
                self.link.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => tracing::error!(%err, "a cluster message could not be encoded"),
        }
    }

    fn answer(&self, entry: Pending, value: Result<Value, String>, followups: &mut Followups) {
        match entry {
            Pending::Nothing => {}
            Pending::Publish { node } => {
                if let Ok(Value::Int(0)) = value {
                    tracing::warn!(node, "no one listens on node {node}'s channel: a message was lost (the client retries or resumes)");
                }
            }
            Pending::Persist {
                shard,
                write,
                events,
            } => {
                let outcome = persist_outcome(value);
                let counters = &self.link.counters;
                let counter = match outcome {
                    Persisted::Ok => &counters.persisted,
                    Persisted::Fenced => &counters.fenced,
                    Persisted::Unavailable(_) => &counters.unavailable,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let (Persisted::Ok, Some(record)) = (&outcome, events) {
                    // On a single Redis the events were part of the append.
                    if self.endpoint.is_cluster() {
                        self.add_events(&record, followups);
                    }
                    if record.expire_ms > 0 {
                        // Ended: its keys expire; the takeover list forgets it.
                        let mut forget = redis::cmd("SREM");
                        forget.arg(keys::owned(self.link.node)).arg(record.conv);
                        followups.first.push(Op::keyed(forget));
                    }
                }
                self.to_shard(
                    shard,
                    ShardMsg::Cluster(ClusterEvent::Persisted { write, outcome }),
                );
            }
            Pending::Replace { conn } => {
                if let Ok(value) = value {
                    self.replace_elsewhere(conn, value, followups);
                }
            }
            Pending::Resolve { conv, shard } => {
                let place = match value {
                    Ok(value) => self.place(conv, value, followups),
                    Err(why) => Place::Unavailable(why),
                };
                if let Place::Unavailable(_) = place {
                    self.link
                        .counters
                        .unavailable
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.to_shard(
                    shard,
                    ShardMsg::Cluster(ClusterEvent::Resolved { conv, place }),
                );
            }
        }
    }

    /// `--relogin replace` across nodes: the user's connections on other nodes (the
    /// local ones are closed by this node's presence home) are asked to close.
    fn replace_elsewhere(
        &self,
        conn: switchboard_service::ids::ConnId,
        value: Value,
        followups: &mut Followups,
    ) {
        let Ok(others) = redis::from_redis_value::<Vec<(u64, u16)>>(value) else {
            return;
        };
        for (other, node) in others {
            if node == self.link.node || other == conn.0 {
                continue;
            }
            let kick = super::NodeMsg::Kick {
                conn: switchboard_service::ids::ConnId(other),
                code: switchboard_service::presence::RELOGIN_CLOSE_CODE,
                reason: switchboard_service::presence::RELOGIN_REASON.into(),
            };
            if let Ok(bytes) = kick.encode() {
                followups
                    .first
                    .push(Op::publish(&keys::channel(node), &bytes));
                self.link.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Cluster mode: the admin events of a stored write (the stream lives in another
    /// slot than the conversation, so they follow the append).
    fn add_events(&self, record: &super::PersistRecord, followups: &mut Followups) {
        let items = record
            .items
            .iter()
            .map(|(kind, item)| (*kind, item.as_str()));
        self.add_event_items(record.conv, items, followups);
        // Only once they are in the stream (a later batch): the next owner re-emits
        // what is above this mark, so events are at least once.
        let mut mark = redis::cmd("HSET");
        mark.arg(keys::conv(record.conv))
            .arg("evented")
            .arg(record.next_seq - 1);
        followups.then.push(Op::keyed(mark));
    }

    fn add_event_items<'i>(
        &self,
        conv: u64,
        items: impl Iterator<Item = (&'i str, &'i str)>,
        followups: &mut Followups,
    ) {
        for (kind, item) in items {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(keys::EVENTS)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.config.events_maxlen.max(1))
                .arg("*")
                .arg("conv")
                .arg(conv)
                .arg("kind")
                .arg(kind)
                .arg("item")
                .arg(item);
            followups.first.push(Op::keyed(cmd));
        }
    }

    /// Cluster mode, after a takeover: the admin events the dead owner may not have
    /// written (items above its `evented` mark) are written again — at least once.
    fn re_emit(&self, loaded: &super::LoadedConv, evented: u64, followups: &mut Followups) {
        let items: Vec<(&'static str, String)> = loaded
            .items
            .iter()
            .filter(|item| item.seq() > evented)
            .map(|item| (item.kind(), switchboard_service::records::encode_item(item)))
            .collect();
        if items.is_empty() {
            return;
        }
        let iter = items.iter().map(|(kind, item)| (*kind, item.as_str()));
        self.add_event_items(loaded.conv, iter, followups);
        let mut mark = redis::cmd("HSET");
        mark.arg(keys::conv(loaded.conv))
            .arg("evented")
            .arg(loaded.state.next_seq - 1);
        followups.then.push(Op::keyed(mark));
    }

    /// Reads a `RESOLVE` answer.
    pub(super) fn place(&self, conv: u64, value: Value, followups: &mut Followups) -> Place {
        let Value::Array(parts) = value else {
            return Place::Unavailable(format!("unexpected answer from Redis: {value:?}"));
        };
        let text = |v: Option<&Value>| match v {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            Some(Value::Int(i)) => i.to_string(),
            _ => String::new(),
        };
        match text(parts.first()).as_str() {
            "unknown" => Place::Unknown,
            "remote" => match text(parts.get(1)).parse() {
                Ok(node) => Place::Node(node),
                Err(_) => Place::Unavailable("bad owner number in Redis".into()),
            },
            "here" => {
                let fence = text(parts.get(1)).parse().unwrap_or(0);
                let taken = text(parts.get(3)) == "1";
                if taken {
                    self.link.counters.takeovers.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(conv, fence, "took over a conversation");
                    let previous = text(parts.get(4));
                    let mut forget = redis::cmd("SREM");
                    forget.arg(format!("sb:owned:{previous}")).arg(conv);
                    let mut own = redis::cmd("SADD");
                    own.arg(keys::owned(self.link.node)).arg(conv);
                    followups.first.push(Op::keyed(forget));
                    followups.first.push(Op::keyed(own));
                }
                let items = parts
                    .iter()
                    .skip(7)
                    .map(|v| text(Some(v)))
                    .collect::<Vec<_>>();
                let stored = super::registry::Stored {
                    fence,
                    state: &text(parts.get(2)),
                    next_seq: text(parts.get(6)).parse().unwrap_or(0),
                    items: &items,
                };
                match super::registry::decode_loaded(conv, &stored, |n| self.registry.is_alive(n)) {
                    Ok(loaded) => {
                        if taken && self.endpoint.is_cluster() {
                            let evented = text(parts.get(5)).parse().unwrap_or(0);
                            self.re_emit(&loaded, evented, followups);
                        }
                        Place::Here(Box::new(loaded))
                    }
                    Err(why) => Place::Unavailable(format!("conversation {conv} in Redis: {why}")),
                }
            }
            other => Place::Unavailable(format!("unexpected answer from Redis: {other}")),
        }
    }

    /// Hands `msg` to shard `shard`, waiting (this is not a shard) while its queue is
    /// full, for at most a second.
    pub(super) fn to_shard(&self, shard: usize, msg: ShardMsg) {
        deliver_to_shard(&self.shared, shard, msg);
    }

    fn leave(&mut self) {
        let node = self.link.node;
        let mut forget = redis::cmd("DEL");
        forget.arg(keys::node(node));
        let _ = self.run_ops(&[Op::keyed(forget)]);
        if self.link.is_leader() {
            let mut resign = redis::cmd("DEL");
            resign.arg(keys::LEADER);
            let _ = self.run_ops(&[Op::keyed(resign)]);
        }
        tracing::info!(node, "left the cluster");
    }
}

/// Redis work that follows a batch: `first`, then — only if it went through — `then`.
#[derive(Debug, Default)]
pub(super) struct Followups {
    pub(super) first: Vec<Op>,
    pub(super) then: Vec<Op>,
}

impl Followups {
    pub(super) fn run(self, bridge: &mut Bridge) -> redis::RedisResult<()> {
        if !self.first.is_empty() {
            bridge.run_ops(&self.first)?;
        }
        if !self.then.is_empty() {
            bridge.run_ops(&self.then)?;
        }
        Ok(())
    }
}

/// Hands `msg` to shard `shard` of the mesh, waiting up to a second while its inbound
/// queue is full (callers are the bridge threads, never a shard).
pub(super) fn deliver_to_shard(shared: &Shared, shard: usize, mut msg: ShardMsg) {
    let give_up = Instant::now() + Duration::from_secs(1);
    loop {
        match shared.mesh().push_inbound(shard, msg) {
            Ok(()) => return,
            Err(back) if Instant::now() < give_up => {
                msg = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => {
                tracing::warn!(
                    shard,
                    "a shard's cluster inbox stayed full: a message was dropped"
                );
                return;
            }
        }
    }
}

fn persist_outcome(value: Result<Value, String>) -> Persisted {
    match value {
        Ok(Value::BulkString(b)) if b == b"ok" => Persisted::Ok,
        Ok(Value::SimpleString(s)) if s == "ok" => Persisted::Ok,
        Ok(Value::BulkString(_) | Value::SimpleString(_)) => Persisted::Fenced,
        Ok(other) => Persisted::Unavailable(format!("unexpected answer from Redis: {other:?}")),
        Err(why) => Persisted::Unavailable(why),
    }
}

/// The registry as the control API shows it.
pub(super) fn status_nodes(nodes: &[NodeInfo]) -> Vec<NodeInfo> {
    let mut nodes = nodes.to_vec();
    nodes.sort_by_key(|n| n.number);
    nodes
}
