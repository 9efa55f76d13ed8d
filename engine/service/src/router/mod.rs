//! Routing: agents, their status, capacity, weight and groups, the queue of waiting
//! conversations, and transfers between agents.
//!
//! The router is one logical owner (it lives on shard 0): assignment is rare next to
//! messages, so one owner keeps it simple and lock-free. It is pure logic — events in,
//! [`RouterOutput`]s out — and the shard turns outputs into mesh messages.

use std::collections::HashMap;

pub use switchboard_protocol::chat::AgentStatus;

use crate::ids::{ConnId, Peer};

mod admin;
mod queue;

use queue::WaitQueue;

/// How routing behaves; from the command line.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Visitors whose token carries this tier are VIPs.
    pub vip_tier: Box<str>,
    /// Agents in this group serve VIPs first.
    pub vip_group: Box<str>,
    /// Concurrent conversations of an agent that did not say otherwise.
    pub default_capacity: u32,
    /// How long an agent with no connection keeps its conversations.
    pub agent_grace_ms: u64,
    /// Queue places are announced at most this often per visitor (and only when they
    /// changed): a waiting visitor costs O(1) frames per interval, whatever the queue.
    pub queue_position_interval_ms: u64,
}

/// One agent as the router sees it.
#[derive(Debug)]
pub struct Agent {
    /// What the agent said it is doing.
    pub status: AgentStatus,
    /// Concurrent conversations it takes.
    pub capacity: u32,
    /// Routing weight (set by the routing service); spare capacity is multiplied by it.
    pub weight: u32,
    /// Groups from the agent's token.
    pub groups: Box<[Box<str>]>,
    /// Open connections (devices, tabs).
    pub conns: Vec<Peer>,
    /// Conversations it serves.
    pub conversations: Vec<u64>,
    /// When its last connection went away.
    pub lost_since_ms: Option<u64>,
}

impl Agent {
    fn spare(&self) -> u32 {
        self.capacity
            .saturating_sub(self.conversations.len() as u32)
    }

    fn can_take(&self) -> bool {
        self.status == AgentStatus::Online && !self.conns.is_empty() && self.spare() > 0
    }

    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| &**g == group)
    }
}

/// How the queue is doing, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Conversations waiting.
    pub length: u64,
    /// How long the oldest has waited, ms.
    pub oldest_wait_ms: u64,
    /// Conversations assigned from the queue so far.
    pub assigned: u64,
    /// Their waits added up, ms.
    pub waited_ms_total: u64,
}

/// What the router asks the rest of the node to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterOutput {
    /// Create conversation `conv` for `visitor` at its home, attaching `conn`.
    Create {
        /// The new conversation.
        conv: u64,
        /// Its visitor.
        visitor: Box<str>,
        /// Whether the visitor is a VIP.
        vip: bool,
        /// The visitor's connection that asked.
        peer: Peer,
    },
    /// Attach a connection to the existing conversation `conv` (snapshot + updates).
    Attach {
        /// The conversation.
        conv: u64,
        /// The connection.
        peer: Peer,
        /// Its user.
        user: Box<str>,
        /// Whether the user is an agent.
        agent: bool,
    },
    /// `agent` now serves `conv`; attach its connections.
    Assign {
        /// The conversation.
        conv: u64,
        /// The agent.
        agent: Box<str>,
        /// The agent's connections.
        peers: Vec<Peer>,
    },
    /// Tell the visitor of `conv` its place in the queue.
    QueuePosition {
        /// The conversation.
        conv: u64,
        /// 1-based position.
        position: u32,
    },
    /// Offer `conv` to the connections of agent `to`.
    Offer {
        /// The conversation.
        conv: u64,
        /// The agent asking.
        from: Box<str>,
        /// The conversation's visitor.
        visitor: Box<str>,
        /// The target agent's connections.
        peers: Vec<Peer>,
    },
    /// The target of a transfer cannot take it (unknown, offline, full).
    TransferUnavailable {
        /// The conversation.
        conv: u64,
        /// The target agent.
        to: Box<str>,
    },
    /// A target agent's answer to an offer, with its connections, for the home.
    TransferAnswer {
        /// The conversation.
        conv: u64,
        /// The answering agent.
        agent: Box<str>,
        /// Whether it accepts.
        accept: bool,
        /// The connection that answered.
        peer: Peer,
        /// All of the agent's connections (they follow the conversation on accept).
        peers: Vec<Peer>,
    },
    /// The node is under pressure: tell the visitor its conversation waits.
    Busy {
        /// The visitor's connection.
        peer: Peer,
    },
    /// No conversation id could be had (cluster mode, Redis unreachable).
    Unavailable {
        /// The visitor's connection.
        peer: Peer,
    },
    /// Agent `agent` came online (its first connection) or went offline (its last
    /// closed) while serving `conv`.
    Presence {
        /// The conversation.
        conv: u64,
        /// The agent.
        agent: Box<str>,
        /// Online now.
        online: bool,
    },
    /// `agent`'s grace period expired: `conv` goes back to the queue.
    AgentLost {
        /// The conversation.
        conv: u64,
        /// The agent that left.
        agent: Box<str>,
    },
}

/// The router's state.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    agents: HashMap<Box<str>, Agent>,
    queue: WaitQueue,
    /// When queue places were last announced (router clock).
    last_positions_ms: Option<u64>,
    visitors: HashMap<Box<str>, u64>,
    /// Transfer offers out, by conversation: the target agent. When a target is lost
    /// (its grace period ends), its offers fail `target_lost` at once instead of at the
    /// transfer timeout.
    offers: HashMap<u64, Box<str>>,
    next_conv: u64,
    /// Cluster mode: the reserved ids not used yet (None: ids from `next_conv`).
    id_block: Option<std::ops::Range<u64>>,
    /// Under pressure (level 2+) no new assignment is made; conversations wait.
    paused: bool,
    /// The router's clock (ms since the epoch), advanced by [`Router::tick`].
    now_ms: u64,
    assigned: u64,
    waited_ms_total: u64,
}

impl Router {
    /// An empty router.
    pub fn new(config: RouterConfig) -> Self {
        Router {
            config,
            agents: HashMap::new(),
            queue: WaitQueue::default(),
            last_positions_ms: None,
            visitors: HashMap::new(),
            offers: HashMap::new(),
            next_conv: 1,
            id_block: None,
            paused: false,
            now_ms: 0,
            assigned: 0,
            waited_ms_total: 0,
        }
    }

    /// The agent record of `user`, if known.
    pub fn agent(&self, user: &str) -> Option<&Agent> {
        self.agents.get(user)
    }

    /// Conversations waiting for an agent.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// A visitor asks for its conversation: the existing one, or a new one.
    pub fn visitor_start(
        &mut self,
        visitor: &str,
        vip: bool,
        peer: Peer,
        out: &mut Vec<RouterOutput>,
    ) {
        if let Some(&conv) = self.visitors.get(visitor) {
            out.push(RouterOutput::Attach {
                conv,
                peer,
                user: visitor.into(),
                agent: false,
            });
            return;
        }
        let Some(conv) = self.new_conv_id() else {
            out.push(RouterOutput::Unavailable { peer });
            return;
        };
        self.visitors.insert(visitor.into(), conv);
        out.push(RouterOutput::Create {
            conv,
            visitor: visitor.into(),
            vip,
            peer,
        });
        self.queue.push(conv, vip, self.now_ms, false);
        if self.paused {
            out.push(RouterOutput::Busy { peer });
        }
        self.assign_waiting(out);
    }

    /// Cluster mode: conversation ids come in blocks reserved in Redis
    /// ([`Router::supply_ids`]) instead of from a local counter.
    pub fn use_id_blocks(&mut self) {
        self.id_block = Some(0..0);
    }

    /// Whether the router is out of reserved conversation ids.
    pub fn wants_ids(&self) -> bool {
        self.id_block.as_ref().is_some_and(|block| block.is_empty())
    }

    /// A new block of conversation ids.
    pub fn supply_ids(&mut self, block: std::ops::Range<u64>) {
        self.id_block = Some(block);
    }

    fn new_conv_id(&mut self) -> Option<u64> {
        let conv = match &mut self.id_block {
            None => self.next_conv,
            Some(block) => block.next()?,
        };
        self.next_conv = self.next_conv.max(conv + 1);
        Some(conv)
    }

    /// The queue's length and waits.
    pub fn queue_stats(&self) -> QueueStats {
        QueueStats {
            length: self.queue.len() as u64,
            oldest_wait_ms: self
                .queue
                .iter()
                .map(|w| self.now_ms.saturating_sub(w.since_ms))
                .max()
                .unwrap_or(0),
            assigned: self.assigned,
            waited_ms_total: self.waited_ms_total,
        }
    }

    /// Pauses (under pressure) or resumes assignment; resuming assigns the queue.
    pub fn set_paused(&mut self, paused: bool, out: &mut Vec<RouterOutput>) {
        self.paused = paused;
        self.assign_waiting(out);
    }

    /// An agent connection opened.
    pub fn agent_connected(
        &mut self,
        user: &str,
        groups: &[Box<str>],
        peer: Peer,
        out: &mut Vec<RouterOutput>,
    ) {
        let capacity = self.config.default_capacity;
        let agent = self.agents.entry(user.into()).or_insert_with(|| Agent {
            status: AgentStatus::Online,
            capacity,
            weight: 1,
            groups: groups.into(),
            conns: Vec::new(),
            conversations: Vec::new(),
            lost_since_ms: None,
        });
        agent.groups = groups.into();
        let back = agent.conns.is_empty();
        agent.conns.push(peer);
        agent.lost_since_ms = None;
        if back {
            presence(user, agent, true, out);
        }
        // A new device of the agent gets every conversation it serves.
        for &conv in &agent.conversations {
            out.push(RouterOutput::Attach {
                conv,
                peer,
                user: user.into(),
                agent: true,
            });
        }
        self.assign_waiting(out);
    }

    /// An agent connection closed; after the grace period its conversations requeue.
    pub fn agent_disconnected(
        &mut self,
        user: &str,
        conn: ConnId,
        now_ms: u64,
        out: &mut Vec<RouterOutput>,
    ) {
        if let Some(agent) = self.agents.get_mut(user) {
            let had = !agent.conns.is_empty();
            agent.conns.retain(|p| p.conn != conn);
            if agent.conns.is_empty() {
                agent.lost_since_ms = Some(now_ms);
                if had {
                    presence(user, agent, false, out);
                }
            }
        }
    }

    /// An agent sets its status and, optionally, its capacity.
    pub fn agent_status(
        &mut self,
        user: &str,
        status: AgentStatus,
        capacity: Option<u32>,
        out: &mut Vec<RouterOutput>,
    ) {
        if let Some(agent) = self.agents.get_mut(user) {
            agent.status = status;
            if let Some(capacity) = capacity {
                agent.capacity = capacity;
            }
        }
        self.assign_waiting(out);
    }

    /// Cluster mode: forgets everything (this node starts or stops running the router;
    /// the nodes then tell the leader what they hold).
    pub fn reset(&mut self) {
        self.agents.clear();
        self.queue.clear();
        self.visitors.clear();
        self.offers.clear();
    }

    /// Cluster mode: a new leader learns of an agent connection opened before. Unlike
    /// [`Router::agent_connected`], the connection follows its conversations already.
    #[allow(clippy::too_many_arguments)]
    pub fn agent_restore(
        &mut self,
        user: &str,
        groups: &[Box<str>],
        peer: Peer,
        status: Option<AgentStatus>,
        capacity: Option<u32>,
        now_ms: u64,
        out: &mut Vec<RouterOutput>,
    ) {
        let agent = self.agent_entry(user, now_ms);
        agent.groups = groups.into();
        if !agent.conns.contains(&peer) {
            agent.conns.push(peer);
        }
        agent.lost_since_ms = None;
        if let Some(status) = status {
            agent.status = status;
        }
        if let Some(capacity) = capacity {
            agent.capacity = capacity;
        }
        self.assign_waiting(out);
    }

    /// Cluster mode: a new leader learns of a live conversation: waiting (queued) or
    /// served by `agent` (counted against its capacity; an agent with no connection
    /// known yet gets its grace period from now).
    pub fn restore(
        &mut self,
        conv: u64,
        visitor: &str,
        vip: bool,
        agent: Option<&str>,
        now_ms: u64,
        out: &mut Vec<RouterOutput>,
    ) {
        self.visitors.insert(visitor.into(), conv);
        self.next_conv = self.next_conv.max(conv + 1);
        match agent {
            None => {
                self.queue.push(conv, vip, now_ms, false);
            }
            Some(agent) => {
                let record = self.agent_entry(agent, now_ms);
                if !record.conversations.contains(&conv) {
                    record.conversations.push(conv);
                }
            }
        }
        self.assign_waiting(out);
    }

    /// Conversation ids below `next` are taken (by conversations read back from the
    /// local store, ended ones too): new ones start at `next` at least.
    pub fn reserve_ids_below(&mut self, next: u64) {
        self.next_conv = self.next_conv.max(next);
    }

    /// The record of `user`, made (with no connection: its grace period runs from
    /// `now_ms`) if unknown.
    fn agent_entry(&mut self, user: &str, now_ms: u64) -> &mut Agent {
        let capacity = self.config.default_capacity;
        self.agents.entry(user.into()).or_insert_with(|| Agent {
            status: AgentStatus::Online,
            capacity,
            weight: 1,
            groups: Box::default(),
            conns: Vec::new(),
            conversations: Vec::new(),
            lost_since_ms: Some(now_ms),
        })
    }

    /// The routing service sets an agent's weight.
    pub fn set_weight(&mut self, user: &str, weight: u32, out: &mut Vec<RouterOutput>) {
        if let Some(agent) = self.agents.get_mut(user) {
            agent.weight = weight;
        }
        self.assign_waiting(out);
    }

    /// A conversation went back to waiting (its agent was lost, a transfer fell through).
    pub fn requeue(&mut self, conv: u64, vip: bool, out: &mut Vec<RouterOutput>) {
        self.release_everywhere(conv);
        // It waited already: it goes first.
        self.queue.push(conv, vip, self.now_ms, true);
        self.assign_waiting(out);
    }

    /// `agent` no longer serves `conv` (ended, transferred away).
    pub fn release(&mut self, agent: &str, conv: u64, out: &mut Vec<RouterOutput>) {
        if let Some(record) = self.agents.get_mut(agent) {
            record.conversations.retain(|&c| c != conv);
        }
        self.assign_waiting(out);
    }

    /// A conversation ended: forget it everywhere.
    pub fn ended(&mut self, conv: u64, visitor: &str, out: &mut Vec<RouterOutput>) {
        if self.visitors.get(visitor) == Some(&conv) {
            self.visitors.remove(visitor);
        }
        self.queue.remove(conv);
        self.offers.remove(&conv);
        self.release_everywhere(conv);
        self.assign_waiting(out);
    }

    /// The conversation moved from agent `from` to agent `to` (a transfer completed).
    pub fn moved(&mut self, conv: u64, from: &str, to: &str) {
        self.offers.remove(&conv);
        if let Some(record) = self.agents.get_mut(from) {
            record.conversations.retain(|&c| c != conv);
        }
        if let Some(record) = self.agents.get_mut(to) {
            if !record.conversations.contains(&conv) {
                record.conversations.push(conv);
            }
        }
    }

    fn release_everywhere(&mut self, conv: u64) {
        for agent in self.agents.values_mut() {
            agent.conversations.retain(|&c| c != conv);
        }
    }

    /// The serving agent `from` asks to hand `conv` to agent `to`: offer it to `to`'s
    /// connections if `to` can take it. The home's state machine decides the rest.
    pub fn transfer_requested(
        &mut self,
        conv: u64,
        from: &str,
        to: &str,
        visitor: &str,
        out: &mut Vec<RouterOutput>,
    ) {
        match self.agents.get(to).filter(|a| to != from && a.can_take()) {
            Some(target) => {
                out.push(RouterOutput::Offer {
                    conv,
                    from: from.into(),
                    visitor: visitor.into(),
                    peers: target.conns.clone(),
                });
                self.offers.insert(conv, to.into());
            }
            None => out.push(RouterOutput::TransferUnavailable {
                conv,
                to: to.into(),
            }),
        }
    }

    /// An agent answers an offer: the answer goes to the home with the agent's
    /// connections (the home checks that the offer was for this agent).
    pub fn transfer_answer(
        &mut self,
        conv: u64,
        agent: &str,
        accept: bool,
        peer: Peer,
        out: &mut Vec<RouterOutput>,
    ) {
        let peers = self
            .agents
            .get(agent)
            .map(|a| a.conns.clone())
            .unwrap_or_else(|| vec![peer]);
        if self.offers.get(&conv).is_some_and(|to| &**to == agent) {
            self.offers.remove(&conv);
        }
        out.push(RouterOutput::TransferAnswer {
            conv,
            agent: agent.into(),
            accept,
            peer,
            peers,
        });
    }

    /// Expires grace periods of agents that lost every connection, and announces queue
    /// places that changed (at most every `queue_position_interval_ms`).
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<RouterOutput>) {
        self.now_ms = now_ms;
        self.announce_positions(out);
        let grace = self.config.agent_grace_ms;
        for (user, agent) in &mut self.agents {
            let lost = agent
                .lost_since_ms
                .is_some_and(|since| since + grace <= now_ms);
            if lost {
                agent.lost_since_ms = None;
                for conv in agent.conversations.drain(..) {
                    out.push(RouterOutput::AgentLost {
                        conv,
                        agent: user.clone(),
                    });
                }
                // Offers to it fail now, not at the transfer timeout.
                self.offers.retain(|&conv, to| {
                    let keep = to != user;
                    if !keep {
                        out.push(RouterOutput::TransferUnavailable {
                            conv,
                            to: to.clone(),
                        });
                    }
                    keep
                });
            }
        }
    }

    /// Assigns waiting conversations in queue order while some agent can take one:
    /// O(agents) per assignment, and it stops at the first conversation no agent can
    /// take (every conversation could go to any agent that can take it, a VIP's only
    /// preferring the VIP group), so a long queue costs nothing when all agents are full.
    /// A conversation that just entered the queue is told its place at once (`queued`);
    /// later places go out from the tick ([`Router::announce_positions`]).
    fn assign_waiting(&mut self, out: &mut Vec<RouterOutput>) {
        while !self.paused {
            let Some(waiting) = self.queue.front().cloned() else {
                break;
            };
            let Some(agent) = self.pick_agent(waiting.vip) else {
                break;
            };
            self.queue.pop_front();
            let Some(record) = self.agents.get_mut(&agent) else {
                continue;
            };
            record.conversations.push(waiting.conv);
            let peers = record.conns.clone();
            self.assigned += 1;
            self.waited_ms_total += self.now_ms.saturating_sub(waiting.since_ms);
            out.push(RouterOutput::Assign {
                conv: waiting.conv,
                agent,
                peers,
            });
        }
        self.announce_new(out);
    }

    /// Tells the conversations that entered the queue since the last call their place.
    fn announce_new(&mut self, out: &mut Vec<RouterOutput>) {
        let mut left = self.queue.unannounced;
        if left == 0 {
            return;
        }
        for (index, waiting) in self.queue.iter_mut().enumerate() {
            if waiting.announced == 0 {
                let position = index as u32 + 1;
                waiting.announced = position;
                left -= 1;
                out.push(RouterOutput::QueuePosition {
                    conv: waiting.conv,
                    position,
                });
                if left == 0 {
                    break;
                }
            }
        }
        self.queue.unannounced = 0;
    }

    /// From the tick, at most every `queue_position_interval_ms`: one walk of the queue
    /// telling each visitor whose place changed its new place.
    fn announce_positions(&mut self, out: &mut Vec<RouterOutput>) {
        let due = self
            .last_positions_ms
            .is_none_or(|at| self.now_ms >= at + self.config.queue_position_interval_ms);
        if !due {
            return;
        }
        self.last_positions_ms = Some(self.now_ms);
        for (index, waiting) in self.queue.iter_mut().enumerate() {
            let position = index as u32 + 1;
            if waiting.announced != position {
                waiting.announced = position;
                out.push(RouterOutput::QueuePosition {
                    conv: waiting.conv,
                    position,
                });
            }
        }
    }

    /// The eligible agent with the most weighted spare capacity; VIPs try VIP-group
    /// agents first. Ties go to the agent with fewer conversations, then by name, so
    /// the choice is deterministic.
    pub fn pick_agent(&self, vip: bool) -> Option<Box<str>> {
        let best = |vip_only: bool| {
            self.agents
                .iter()
                .filter(|(_, a)| a.can_take() && (!vip_only || a.in_group(&self.config.vip_group)))
                .max_by(|(an, a), (bn, b)| {
                    let score = |x: &Agent| u64::from(x.weight) * u64::from(x.spare());
                    score(a)
                        .cmp(&score(b))
                        .then(b.conversations.len().cmp(&a.conversations.len()))
                        .then(bn.cmp(an))
                })
                .map(|(name, _)| name.clone())
        };
        if vip {
            if let Some(agent) = best(true) {
                return Some(agent);
            }
        }
        best(false)
    }
}

/// Tells the homes of every conversation `agent` serves that it came online or went
/// offline.
fn presence(user: &str, agent: &Agent, online: bool, out: &mut Vec<RouterOutput>) {
    for &conv in &agent.conversations {
        out.push(RouterOutput::Presence {
            conv,
            agent: user.into(),
            online,
        });
    }
}

#[cfg(test)]
mod tests {
    use switchboard_protocol::chat::Encoding;

    use super::*;

    fn router() -> Router {
        Router::new(RouterConfig {
            vip_tier: "vip".into(),
            vip_group: "vip".into(),
            default_capacity: 2,
            agent_grace_ms: 1000,
            queue_position_interval_ms: 1000,
        })
    }

    fn peer(n: u32) -> Peer {
        Peer {
            conn: ConnId::new(0, n, 0),
            encoding: Encoding::Json,
        }
    }

    fn assigned(out: &[RouterOutput]) -> Vec<(u64, String)> {
        out.iter()
            .filter_map(|o| match o {
                RouterOutput::Assign { conv, agent, .. } => Some((*conv, agent.to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_visitor_waits_until_an_agent_connects_and_is_told_its_position() {
        let mut r = router();
        let mut out = Vec::new();
        r.visitor_start("v1", false, peer(1), &mut out);
        assert!(matches!(out[0], RouterOutput::Create { conv: 1, .. }));
        assert!(out.contains(&RouterOutput::QueuePosition {
            conv: 1,
            position: 1
        }));
        out.clear();
        r.visitor_start("v1", false, peer(9), &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::Attach {
                conv: 1,
                peer: peer(9),
                user: "v1".into(),
                agent: false
            }]
        );
        out.clear();
        r.agent_connected("a1", &[], peer(2), &mut out);
        assert_eq!(assigned(&out), vec![(1, "a1".to_string())]);
        assert_eq!(r.queue_len(), 0);
    }

    #[test]
    fn the_agent_with_most_weighted_spare_capacity_wins() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("a", &[], peer(1), &mut out);
        r.agent_connected("b", &[], peer(2), &mut out);
        r.agent_status("b", AgentStatus::Online, Some(4), &mut out);
        r.visitor_start("v1", false, peer(3), &mut out);
        r.visitor_start("v2", false, peer(4), &mut out);
        r.visitor_start("v3", false, peer(5), &mut out);
        // b: spare 4, then 3; then a: 2 vs b: 2, a tie on score that the agent with
        // fewer conversations wins.
        assert_eq!(
            assigned(&out),
            vec![(1, "b".into()), (2, "b".into()), (3, "a".into())]
        );
        out.clear();
        r.set_weight("a", 10, &mut out);
        r.visitor_start("v4", false, peer(6), &mut out);
        assert_eq!(assigned(&out), vec![(4, "a".into())]);
    }

    #[test]
    fn full_agents_leave_visitors_queued_with_positions() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("a", &[], peer(1), &mut out);
        for v in 0..4 {
            r.visitor_start(&format!("v{v}"), false, peer(10 + v), &mut out);
        }
        assert_eq!(assigned(&out).len(), 2);
        assert_eq!(r.queue_len(), 2);
        out.clear();
        r.ended(1, "v0", &mut out);
        assert_eq!(assigned(&out), vec![(3, "a".into())]);
        assert!(
            !out.iter()
                .any(|o| matches!(o, RouterOutput::QueuePosition { .. })),
            "a changed place waits for the tick"
        );
        out.clear();
        r.tick(10_000, &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::QueuePosition {
                conv: 4,
                position: 1
            }]
        );
        out.clear();
        r.tick(10_100, &mut out);
        assert!(
            out.is_empty(),
            "at most once per interval, and only on change"
        );
    }

    #[test]
    fn away_agents_take_nothing_new() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("a", &[], peer(1), &mut out);
        r.agent_status("a", AgentStatus::Away, None, &mut out);
        r.visitor_start("v", false, peer(2), &mut out);
        assert!(assigned(&out).is_empty());
        r.agent_status("a", AgentStatus::Online, None, &mut out);
        assert_eq!(assigned(&out), vec![(1, "a".into())]);
    }

    #[test]
    fn vips_go_to_vip_agents_first_and_others_when_none_is_free() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("plain", &[], peer(1), &mut out);
        r.set_weight("plain", 100, &mut out);
        r.agent_connected("gold", &["vip".into()], peer(2), &mut out);
        r.visitor_start("rich", true, peer(3), &mut out);
        r.visitor_start("rich2", true, peer(4), &mut out);
        r.visitor_start("rich3", true, peer(5), &mut out);
        assert_eq!(
            assigned(&out),
            vec![(1, "gold".into()), (2, "gold".into()), (3, "plain".into())]
        );
    }

    #[test]
    fn a_lost_agent_keeps_its_conversations_for_the_grace_period() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("a", &[], peer(1), &mut out);
        r.visitor_start("v", false, peer(2), &mut out);
        r.agent_disconnected("a", peer(1).conn, 100, &mut Vec::new());
        out.clear();
        r.tick(1000, &mut out);
        assert!(out.is_empty(), "still within grace");
        r.agent_connected("a", &[], peer(3), &mut out);
        assert_eq!(
            out,
            vec![
                RouterOutput::Presence {
                    conv: 1,
                    agent: "a".into(),
                    online: true
                },
                RouterOutput::Attach {
                    conv: 1,
                    peer: peer(3),
                    user: "a".into(),
                    agent: true
                }
            ]
        );
        r.agent_disconnected("a", peer(3).conn, 2000, &mut Vec::new());
        out.clear();
        r.tick(3000, &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::AgentLost {
                conv: 1,
                agent: "a".into()
            }]
        );
    }

    #[test]
    fn transfers_are_offered_only_to_agents_that_can_take_them() {
        let mut r = router();
        let mut out = Vec::new();
        r.agent_connected("a", &[], peer(1), &mut out);
        r.visitor_start("v", false, peer(2), &mut out);
        r.agent_connected("b", &[], peer(3), &mut out);
        out.clear();
        r.transfer_requested(1, "a", "b", "v", &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::Offer {
                conv: 1,
                from: "a".into(),
                visitor: "v".into(),
                peers: vec![peer(3)]
            }]
        );
        out.clear();
        r.transfer_requested(1, "a", "nobody", "v", &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::TransferUnavailable {
                conv: 1,
                to: "nobody".into()
            }]
        );
        out.clear();
        r.transfer_answer(1, "b", true, peer(3), &mut out);
        assert_eq!(
            out,
            vec![RouterOutput::TransferAnswer {
                conv: 1,
                agent: "b".into(),
                accept: true,
                peer: peer(3),
                peers: vec![peer(3)]
            }]
        );
        r.moved(1, "a", "b");
        assert!(r.agent("a").unwrap().conversations.is_empty());
        assert_eq!(r.agent("b").unwrap().conversations, vec![1]);
    }
}
