//! A shard in cluster mode: commands for conversations this node does not hold are
//! resolved through the bridge (loaded here, taken over from a dead node, or forwarded
//! to the owner); frames for connections of other nodes are forwarded; and every
//! change to a conversation is written to Redis before anyone hears of it.
//!
//! The write barrier: outputs of a command that changed a conversation wait in
//! `held`, in order, until the bridge says its fenced write is in Redis. A `sent` ack
//! therefore never reaches a client before the message is durable. Outputs that need
//! no write wait behind earlier ones, so nothing overtakes. A write that fails (Redis
//! down, or another node owns the conversation now) drops its outputs and the local
//! copy of the conversation; its followers are told, and the next command loads it
//! again from Redis, the source of truth.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use switchboard_protocol::chat::{AgentStatus, ServerFrame};

use super::Shard;
use crate::cluster::{ClusterEvent, Link, NodeMsg, Persisted, Place, Request};
use switchboard_service::commands::{HomeCmd, RouterCmd};
use switchboard_service::home::{encode, HomeOutput};
use switchboard_service::ids::{ConnId, Peer};

/// Conversations whose owner node is remembered at most (then forgotten wholesale).
const MAX_REMOTE_CACHE: usize = 100_000;
/// Output batches a shard holds behind writes at most. Over it (Redis slow), outputs
/// that need no write (typing, read receipts, errors) are dropped instead of held;
/// writes themselves are bounded by the bridge's queue.
const MAX_HELD: usize = 65_536;

/// Outputs waiting for a write (or for earlier writes).
#[derive(Debug)]
struct Held {
    write: Option<u64>,
    conv: u64,
    epoch: u64,
    outputs: Vec<HomeOutput>,
}

/// A shard's cluster state.
#[derive(Debug)]
pub(super) struct ClusterSide {
    link: Arc<Link>,
    next_write: u64,
    held: VecDeque<Held>,
    /// Commands waiting while the bridge finds their conversation.
    resolving: HashMap<u64, Vec<HomeCmd>>,
    /// Conversations owned by other nodes.
    remote: HashMap<u64, u16>,
    /// This shard's agent connections, to tell a new router leader about them.
    agents: HashMap<ConnId, AgentSession>,
}

/// What a new router leader must learn of an agent connection.
#[derive(Debug)]
struct AgentSession {
    user: Box<str>,
    groups: Box<[Box<str>]>,
    encoding: switchboard_protocol::chat::Encoding,
    status: Option<AgentStatus>,
    capacity: Option<u32>,
}

impl ClusterSide {
    pub(super) fn new(link: Arc<Link>) -> Self {
        ClusterSide {
            link,
            next_write: 0,
            held: VecDeque::new(),
            resolving: HashMap::new(),
            remote: HashMap::new(),
            agents: HashMap::new(),
        }
    }
}

/// The connection a command answers to, if any.
pub(super) fn reply_peer(cmd: &HomeCmd) -> Option<Peer> {
    match cmd {
        HomeCmd::Create { peer, .. }
        | HomeCmd::Attach { peer, .. }
        | HomeCmd::Send { peer, .. }
        | HomeCmd::Ephemeral { peer, .. }
        | HomeCmd::End { peer, .. }
        | HomeCmd::Transfer { peer, .. }
        | HomeCmd::TransferAnswer { peer, .. } => Some(*peer),
        _ => None,
    }
}

impl Shard {
    /// Cluster mode: whether `cmd` for `conv` is handled here now. If not, it was
    /// forwarded to the owner node or waits for the bridge to find the conversation.
    pub(super) fn cluster_takes_home_cmd(&mut self, conv: u64, cmd: HomeCmd) -> Option<HomeCmd> {
        let Some(side) = self.cluster.as_mut() else {
            return Some(cmd);
        };
        if self.homes.contains(conv) {
            return Some(cmd);
        }
        if let HomeCmd::Create { peer, .. } = &cmd {
            // A conversation lives on its visitor's node. Later commands from the
            // router about it take the same path (this shard, then the same node's
            // channel), so they reach it after its creation.
            let node = peer.conn.node();
            if node == self.node {
                return Some(cmd);
            }
            side.remote.insert(conv, node);
            self.send_to_node(node, NodeMsg::Home { conv, cmd });
            return None;
        }
        if let Some(&node) = side.remote.get(&conv) {
            self.send_to_node(node, NodeMsg::Home { conv, cmd });
            return None;
        }
        if matches!(cmd, HomeCmd::Unfollow { .. } | HomeCmd::Ack { .. }) {
            return None;
        }
        if let HomeCmd::AdminAssign { reply, .. } | HomeCmd::AdminTransfer { reply, .. } = &cmd {
            let err = switchboard_control_api::ApiError::conflict(format!(
                "conversation {conv} is not held by this node; ask its owner"
            ));
            crate::control::answer_handle(reply, crate::control::ControlReply::Error(err));
            return None;
        }
        if let Some(waiting) = side.resolving.get_mut(&conv) {
            waiting.push(cmd);
            return None;
        }
        side.resolving.insert(conv, vec![cmd]);
        let request = Request::Resolve {
            conv,
            shard: self.index,
        };
        if side.link.request(request).is_err() {
            self.resolved(
                conv,
                Place::Unavailable("the Redis bridge is overloaded".into()),
            );
        }
        None
    }

    /// Sends `msg` to node `node` through the bridge.
    pub(super) fn send_to_node(&mut self, node: u16, msg: NodeMsg) {
        if let Some(side) = &self.cluster {
            if side.link.request(Request::Send { node, msg }).is_err() {
                tracing::warn!(
                    node,
                    "the Redis bridge is overloaded: a cluster message was dropped"
                );
            }
        }
    }

    /// Cluster mode: routes a router command to the leader node, unless it is this one.
    /// Returns the command when shard 0 of this node should take it.
    pub(super) fn cluster_router_cmd(&mut self, cmd: RouterCmd) -> Option<RouterCmd> {
        let Some(side) = &self.cluster else {
            return Some(cmd);
        };
        if side.link.is_leader() {
            return Some(cmd);
        }
        let peer = match &cmd {
            RouterCmd::VisitorStart { peer, .. } => Some(*peer),
            _ => None,
        };
        if side
            .link
            .request(Request::ToLeader(NodeMsg::Router(cmd)))
            .is_err()
        {
            if let Some(peer) = peer {
                self.tell_unavailable(peer, "the cluster is overloaded; try again");
            }
        }
        None
    }

    /// Cluster mode: forwards a frame for a connection of another node. Returns the
    /// payload back when the connection is local.
    pub(super) fn cluster_remote_frame(
        &mut self,
        to: ConnId,
        conv: u64,
        payload: Arc<[u8]>,
    ) -> Option<Arc<[u8]>> {
        if to.node() == self.node {
            return Some(payload);
        }
        let msg = NodeMsg::Frame {
            from: self.node,
            to,
            conv,
            payload: payload.to_vec(),
        };
        self.send_to_node(to.node(), msg);
        None
    }

    /// Cluster mode: tells Redis a user's connection opened or closed (called on the
    /// user's presence home, after its local directory changed).
    pub(super) fn cluster_presence(&mut self, user: &str, conn: ConnId, login: bool) {
        if let Some(side) = &self.cluster {
            let request = Request::Presence {
                user: user.into(),
                conn,
                login,
                last_here: self.presence.connections(user).is_empty(),
                replace: login && self.presence.replaces(),
            };
            let _ = side.link.request(request);
        }
    }

    /// Carries out a home's outputs for `conv` — at once outside cluster mode; in
    /// cluster mode behind its write (when `durable` and the conversation changed) or
    /// behind earlier writes.
    pub(super) fn finish_home(&mut self, conv: u64, out: &mut Vec<HomeOutput>, durable: bool) {
        let Some(side) = self.cluster.as_mut() else {
            return self.finish_home_stored(conv, out, durable);
        };
        let record = if durable {
            self.homes.persist_record(conv)
        } else {
            None
        };
        if record.is_none() && side.held.is_empty() {
            return self.carry_out_home(conv, out);
        }
        let epoch = self.homes.epoch(conv);
        let write = match record {
            None if side.held.len() >= MAX_HELD => {
                side.link
                    .counters()
                    .held_dropped
                    .fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
                out.clear();
                return;
            }
            None => None,
            Some(record) => {
                let write = side.next_write;
                side.next_write += 1;
                let request = Request::Persist {
                    shard: self.index,
                    write,
                    record: Box::new(record),
                };
                if side.link.request(request).is_err() {
                    out.clear();
                    let why = "the Redis bridge is overloaded".to_owned();
                    return self.drop_conversation(conv, epoch, &Persisted::Unavailable(why));
                }
                Some(write)
            }
        };
        side.held.push_back(Held {
            write,
            conv,
            epoch,
            outputs: std::mem::take(out),
        });
    }

    /// News from the bridge.
    pub(super) fn on_cluster_event(&mut self, event: ClusterEvent) {
        match event {
            ClusterEvent::Persisted { write, outcome } => self.persisted(write, &outcome),
            ClusterEvent::Resolved { conv, place } => self.resolved(conv, place),
            ClusterEvent::LeaderChanged { leader } => self.leader_changed(leader),
            ClusterEvent::Announce => self.announce_to_leader(),
            ClusterEvent::Expired => {
                for (conv, epoch) in self.homes.held_epochs() {
                    self.drop_conversation(conv, epoch, &Persisted::Fenced);
                }
            }
            ClusterEvent::NodeDown { node } => {
                if let Some(side) = self.cluster.as_mut() {
                    side.remote.retain(|_, n| *n != node);
                }
            }
        }
    }

    fn persisted(&mut self, write: u64, outcome: &Persisted) {
        let Some(side) = self.cluster.as_mut() else {
            return;
        };
        let Some(front) = side.held.pop_front() else {
            return;
        };
        debug_assert_eq!(front.write, Some(write), "writes are answered in order");
        if *outcome == Persisted::Ok {
            let mut outputs = front.outputs;
            self.carry_out_home(front.conv, &mut outputs);
        } else {
            self.drop_conversation(front.conv, front.epoch, outcome);
        }
        while let Some(side) = self.cluster.as_mut() {
            match side.held.front() {
                Some(Held { write: None, .. }) => {}
                _ => break,
            }
            let Some(next) = side.held.pop_front() else {
                break;
            };
            if self.homes.epoch(next.conv) == next.epoch {
                let mut outputs = next.outputs;
                self.carry_out_home(next.conv, &mut outputs);
            }
        }
    }

    /// A write failed: the local copy of `conv` (if still the one that wrote) goes, and
    /// its followers are told.
    fn drop_conversation(&mut self, conv: u64, epoch: u64, outcome: &Persisted) {
        if self.homes.epoch(conv) != epoch {
            return;
        }
        let (code, message) = match outcome {
            Persisted::Fenced => (
                "conversation_moved",
                "another node serves this conversation now: resume it (same client_msg_id to resend)",
            ),
            _ => (
                "unavailable",
                "the conversation could not be stored: send again with the same client_msg_id",
            ),
        };
        tracing::warn!(
            conv,
            ?outcome,
            "cluster write failed: the local copy is dropped"
        );
        for peer in self.homes.unload(conv) {
            let payload = encode(peer.encoding, &ServerFrame::Error { code, message });
            self.deliver_frame(peer.conn, 0, payload, Instant::now());
        }
    }

    /// The bridge found where `conv` lives.
    pub(super) fn resolved(&mut self, conv: u64, place: Place) {
        let Some(side) = self.cluster.as_mut() else {
            return;
        };
        let waiting = side.resolving.remove(&conv).unwrap_or_default();
        match place {
            Place::Here(loaded) => {
                if !self.homes.contains(conv) {
                    self.install(*loaded);
                }
                for cmd in waiting {
                    self.on_home_cmd(conv, cmd);
                }
            }
            Place::Node(node) => {
                if side.remote.len() >= MAX_REMOTE_CACHE {
                    side.remote.clear();
                }
                side.remote.insert(conv, node);
                for cmd in waiting {
                    self.send_to_node(node, NodeMsg::Home { conv, cmd });
                }
            }
            Place::Unknown => {
                for peer in waiting.iter().filter_map(reply_peer) {
                    let message = format!("no conversation {conv}");
                    let frame = ServerFrame::Error {
                        code: "unknown_conversation",
                        message: &message,
                    };
                    self.deliver_frame(peer.conn, 0, encode(peer.encoding, &frame), Instant::now());
                }
            }
            Place::Unavailable(why) => {
                tracing::warn!(conv, %why, "could not find a conversation in Redis");
                for peer in waiting.iter().filter_map(reply_peer) {
                    self.tell_unavailable(peer, "the conversation store is unavailable; try again");
                }
            }
        }
    }

    fn install(&mut self, loaded: crate::cluster::LoadedConv) {
        let conv = loaded.conv;
        let mut out = std::mem::take(&mut self.home_out);
        self.homes.install(loaded, &mut out);
        self.finish_home(conv, &mut out, true);
        self.home_out = out;
    }

    /// Cluster mode: an agent connection opened here.
    pub(super) fn cluster_agent_opened(&mut self, peer: Peer, user: &str, groups: &[Box<str>]) {
        if let Some(side) = self.cluster.as_mut() {
            let session = AgentSession {
                user: user.into(),
                groups: groups.into(),
                encoding: peer.encoding,
                status: None,
                capacity: None,
            };
            side.agents.insert(peer.conn, session);
        }
    }

    /// Cluster mode: an agent connection set its status.
    pub(super) fn cluster_agent_status(
        &mut self,
        conn: ConnId,
        status: AgentStatus,
        capacity: Option<u32>,
    ) {
        if let Some(session) = self.cluster.as_mut().and_then(|s| s.agents.get_mut(&conn)) {
            session.status = Some(status);
            session.capacity = capacity.or(session.capacity);
        }
    }

    /// Cluster mode: an agent connection closed.
    pub(super) fn cluster_agent_closed(&mut self, conn: ConnId) {
        if let Some(side) = self.cluster.as_mut() {
            side.agents.remove(&conn);
        }
    }

    /// The router moved to node `leader` (shard 0 hears it): the router starts afresh
    /// (if it runs here now, it learns everything anew; if it stopped, its state is
    /// stale), and every shard tells the leader its agent connections and live
    /// conversations.
    fn leader_changed(&mut self, leader: u16) {
        tracing::info!(
            shard = self.index,
            leader,
            "router leader changed: telling it what this shard holds"
        );
        if let Some(router) = self.router.as_mut() {
            router.reset();
        }
        for shard in 1..self.shared.shards() {
            self.post_to(
                shard,
                crate::shard::ShardMsg::Cluster(ClusterEvent::Announce),
            );
        }
        self.announce_to_leader();
    }

    /// Tells the router leader this shard's agent connections and live conversations.
    fn announce_to_leader(&mut self) {
        let Some(side) = self.cluster.as_ref() else {
            return;
        };
        let agents: Vec<RouterCmd> = side
            .agents
            .iter()
            .map(|(&conn, s)| RouterCmd::AgentRestore {
                user: s.user.clone(),
                groups: s.groups.clone(),
                peer: Peer {
                    conn,
                    encoding: s.encoding,
                },
                status: s.status,
                capacity: s.capacity,
            })
            .collect();
        for cmd in agents {
            self.send_router(cmd);
        }
        for note in self.homes.restore_notes() {
            self.send_router(RouterCmd::Note(note));
        }
    }

    /// Cluster mode: hands the router a block of conversation ids when it ran out.
    pub(super) fn supply_conv_ids(&mut self) {
        let Some(side) = &self.cluster else {
            return;
        };
        let link = Arc::clone(&side.link);
        if let Some(router) = self.router.as_mut() {
            if router.wants_ids() {
                if let Some(block) = link.take_conv_ids() {
                    router.supply_ids(block);
                }
            }
        }
    }

    pub(super) fn tell_unavailable(&mut self, peer: Peer, message: &str) {
        let frame = ServerFrame::Error {
            code: "unavailable",
            message,
        };
        self.deliver_frame(peer.conn, 0, encode(peer.encoding, &frame), Instant::now());
    }
}
