//! The conversations a shard is home to: each one's state machine, its next sequence
//! number, its bounded history, the client message ids it has seen, and the
//! connections that follow it.
//!
//! Every event about a conversation is handled here, on its home shard, one at a time:
//! sequence numbers and transitions need no lock. Like the router this is logic only:
//! commands in, [`HomeOutput`]s out (encoded frames for connections, commands for the
//! router); the shard moves them.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_protocol::chat::{
    self, ConversationState, Encoding, Role, ServerFrame, SystemKind,
};
use switchboard_protocol::conversation::{
    Announcement, Conversation, Effect, Event, Party, Phase, Rejection, Rules,
};

use crate::commands::HomeCmd;
use crate::dispatch::AdminAnswer;
use crate::ids::{ConnId, Peer};
use crate::reply::ReplyHandle;
use crate::ServiceError;

mod admin;
mod durable;
mod history;
mod seen;

use history::History;
use seen::SeenIds;

use durable::Durable;

/// Limits of the conversation store; from the command line.
#[derive(Debug, Clone, Copy)]
pub struct HomeLimits {
    /// Ordered items (messages and system events) kept per conversation for resume.
    pub history_len: usize,
    /// Connections following one conversation at most (oldest dropped first).
    pub max_followers: usize,
    /// How long an ended conversation stays readable (resume, late acks).
    pub ended_retention_ms: u64,
}

/// Something for the shard to carry out.
#[derive(Debug, Clone)]
pub enum HomeOutput {
    /// An encoded chat frame for one connection.
    Frame {
        /// The receiving connection.
        to: ConnId,
        /// The frame's payload in the connection's encoding.
        payload: Arc<[u8]>,
    },
    /// A command for the router.
    Router(RouterNote),
}

/// What a home tells the router.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RouterNote {
    /// The conversation is waiting again.
    Requeue {
        /// The conversation.
        conv: u64,
        /// Whether its visitor is a VIP.
        vip: bool,
    },
    /// `agent` no longer serves `conv`.
    Release {
        /// The agent.
        agent: Box<str>,
        /// The conversation.
        conv: u64,
    },
    /// The conversation ended.
    Ended {
        /// The conversation.
        conv: u64,
        /// Its visitor.
        visitor: Box<str>,
    },
    /// The serving agent asks to hand the conversation to `to`.
    TransferRequested {
        /// The conversation.
        conv: u64,
        /// The requesting agent.
        from: Box<str>,
        /// The target agent.
        to: Box<str>,
        /// The visitor (shown in the offer).
        visitor: Box<str>,
    },
    /// A new router leader learns of a live conversation (cluster mode).
    Restore {
        /// The conversation.
        conv: u64,
        /// Its visitor.
        visitor: Box<str>,
        /// Whether the visitor is a VIP.
        vip: bool,
        /// The agent serving it (None: waiting).
        agent: Option<Box<str>>,
    },
    /// The conversation moved from agent `from` to agent `to`.
    Moved {
        /// The conversation.
        conv: u64,
        /// The previous agent.
        from: Box<str>,
        /// The new agent.
        to: Box<str>,
    },
}

/// Who is acting on a conversation from a connection.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The acting connection and its encoding.
    pub peer: Peer,
    /// Its user id.
    pub user: &'a str,
    /// Its role.
    pub role: Role,
}

impl<'a> Actor<'a> {
    fn party(&self) -> Party<'a> {
        match self.role {
            Role::Visitor => Party::Visitor(self.user),
            Role::Agent => Party::Agent(self.user),
        }
    }
}

/// One ordered item of a conversation (a chat line or a system event); also the unit
/// a store keeps (as a versioned record: `crate::records`).
#[derive(Debug, Clone)]
pub struct Item {
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) body: ItemBody,
}

#[derive(Debug, Clone)]
pub(crate) enum ItemBody {
    Message {
        from: Box<str>,
        client_msg_id: Box<str>,
        body: Box<str>,
    },
    System {
        kind: SystemKind,
        agent: Option<Box<str>>,
        position: Option<u32>,
        reason: Option<Box<str>>,
    },
}

impl Item {
    fn frame(&self, conv: u64) -> ServerFrame<'_> {
        match &self.body {
            ItemBody::Message {
                from,
                client_msg_id,
                body,
            } => ServerFrame::Message {
                conv,
                seq: self.seq,
                ts: self.ts,
                from,
                client_msg_id,
                body,
            },
            ItemBody::System {
                kind,
                agent,
                position,
                reason,
            } => ServerFrame::System {
                conv,
                seq: self.seq,
                ts: self.ts,
                event: *kind,
                agent: agent.as_deref(),
                position: *position,
                reason: reason.as_deref(),
            },
        }
    }
}

/// A connection following a conversation.
#[derive(Debug, Clone)]
struct Follower {
    peer: Peer,
    user: Box<str>,
    acked: u64,
}

/// One conversation at its home.
#[derive(Debug)]
struct Home {
    fsm: Conversation,
    /// Server time (ms since the epoch) it was opened.
    created_ms: u64,
    /// The last queue position announced while waiting.
    queue_position: Option<u32>,
    next_seq: u64,
    history: History,
    /// The messages in the history by sender and client message id (dedupe).
    seen_ids: SeenIds,
    followers: Vec<Follower>,
    /// What cluster mode knows of its copy in Redis.
    durable: Durable,
}

/// The conversations whose home is this shard.
#[derive(Debug)]
pub struct Homes {
    convs: HashMap<u64, Home>,
    rules: Rules,
    limits: HomeLimits,
    /// The last load epoch handed out (see [`Durable::epoch`]).
    last_epoch: u64,
    /// Whether followers are part of the stored state (see
    /// [`Homes::forget_followers_when_stored`]).
    followers_durable: bool,
}

/// Encodes `frame` for a connection.
pub fn encode(encoding: Encoding, frame: &ServerFrame<'_>) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(96);
    chat::encode_server(encoding, frame, &mut out);
    out.into()
}

/// Answers a command about a conversation this home does not know.
fn unknown_conversation(peer: Peer, conv: u64, out: &mut Vec<HomeOutput>) {
    error_to(
        peer,
        "unknown_conversation",
        &format!("no conversation {conv}"),
        out,
    );
}

fn error_to(peer: Peer, code: &str, message: &str, out: &mut Vec<HomeOutput>) {
    let payload = encode(peer.encoding, &ServerFrame::Error { code, message });
    out.push(HomeOutput::Frame {
        to: peer.conn,
        payload,
    });
}

impl Homes {
    /// An empty store.
    pub fn new(rules: Rules, limits: HomeLimits) -> Self {
        Homes {
            convs: HashMap::new(),
            last_epoch: 0,
            followers_durable: true,
            rules,
            limits,
        }
    }

    /// Conversations held (live and recently ended).
    pub fn len(&self) -> usize {
        self.convs.len()
    }

    /// Whether no conversation is held.
    pub fn is_empty(&self) -> bool {
        self.convs.is_empty()
    }

    /// Opens conversation `conv` for `visitor` (the router queued it already) and
    /// attaches the visitor's connection.
    pub fn create(
        &mut self,
        conv: u64,
        visitor: &str,
        vip: bool,
        peer: Peer,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        let (fsm, effects) = Conversation::open(conv, visitor, vip, now_ms);
        let home = Home {
            fsm,
            created_ms: now_ms,
            queue_position: None,
            next_seq: 1,
            history: History::default(),
            seen_ids: SeenIds::default(),
            followers: Vec::new(),
            durable: Durable::new(self.next_epoch()),
        };
        self.convs.insert(conv, home);
        // Enqueue is already done: the router queued the conversation when it made it.
        let effects = effects.into_iter().filter(|e| *e != Effect::Enqueue);
        self.carry_out(conv, effects, now_ms, out);
        self.follow(conv, peer, visitor, Some(0), out);
    }

    /// A connection asks to follow `conv`: from `after_seq` on (a `resume`), or, with
    /// `None` (a repeated `start`, a new device of the agent), from the beginning if it
    /// does not follow yet and with the snapshot alone if it does — it has every item
    /// already. Only the visitor and the serving agent may.
    pub fn attach(
        &mut self,
        conv: u64,
        actor: Actor<'_>,
        after_seq: Option<u64>,
        out: &mut Vec<HomeOutput>,
    ) {
        let Some(home) = self.convs.get(&conv) else {
            return unknown_conversation(actor.peer, conv, out);
        };
        let allowed = match actor.role {
            Role::Visitor => home.fsm.visitor == actor.user,
            Role::Agent => home.fsm.serving_agent() == Some(actor.user),
        };
        if !allowed {
            return error_to(
                actor.peer,
                Rejection::NotParticipant.code(),
                "not a participant of this conversation",
                out,
            );
        }
        self.follow(conv, actor.peer, actor.user, after_seq, out);
    }

    /// Adds a follower and sends it the snapshot and every item after `after_seq`
    /// (`None`: every item, or none if the connection follows already — a follower
    /// has been sent every item since it started following, and no connection gets an
    /// item twice).
    fn follow(
        &mut self,
        conv: u64,
        peer: Peer,
        user: &str,
        after_seq: Option<u64>,
        out: &mut Vec<HomeOutput>,
    ) {
        let max_followers = self.limits.max_followers;
        let Some(home) = self.convs.get_mut(&conv) else {
            return;
        };
        let following = home.followers.iter().any(|f| f.peer.conn == peer.conn);
        let after_seq = match after_seq {
            Some(seq) => seq,
            None if following => home.next_seq - 1,
            None => 0,
        };
        home.followers.retain(|f| f.peer.conn != peer.conn);
        if home.followers.len() >= max_followers {
            home.followers.remove(0);
        }
        home.followers.push(Follower {
            peer,
            user: user.into(),
            acked: after_seq,
        });
        let snapshot = snapshot(home);
        out.push(HomeOutput::Frame {
            to: peer.conn,
            payload: encode(peer.encoding, &snapshot),
        });
        let oldest = home.history.front().map_or(home.next_seq, |item| item.seq);
        if after_seq + 1 < oldest {
            let gap = ServerFrame::Gap {
                conv,
                after_seq,
                oldest_seq: oldest,
            };
            out.push(HomeOutput::Frame {
                to: peer.conn,
                payload: encode(peer.encoding, &gap),
            });
        }
        for item in home.history.iter().filter(|item| item.seq > after_seq) {
            out.push(HomeOutput::Frame {
                to: peer.conn,
                payload: encode(peer.encoding, &item.frame(conv)),
            });
        }
        // A waiting conversation's current place, once, to the connection that attaches.
        if let Some(position) = home
            .queue_position
            .filter(|_| home.fsm.phase == Phase::Waiting)
        {
            out.push(HomeOutput::Frame {
                to: peer.conn,
                payload: encode(peer.encoding, &ServerFrame::Queue { conv, position }),
            });
        }
    }

    /// The router gave the conversation to `agent`, whose connections follow it now.
    pub fn assign(
        &mut self,
        conv: u64,
        agent: &str,
        peers: &[Peer],
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        let rules = self.rules;
        let Some(home) = self.convs.get_mut(&conv) else {
            out.push(HomeOutput::Router(RouterNote::Release {
                agent: agent.into(),
                conv,
            }));
            return;
        };
        match home.fsm.handle(Event::Assign { agent }, now_ms, &rules) {
            Ok(effects) => {
                self.carry_out(conv, effects, now_ms, out);
                for &peer in peers {
                    self.follow(conv, peer, agent, None, out);
                }
            }
            Err(_) => out.push(HomeOutput::Router(RouterNote::Release {
                agent: agent.into(),
                conv,
            })),
        }
    }

    /// Tells a waiting conversation its place in the queue (an ordered system item):
    /// `queued` the first time after it entered the queue, `queue_position` after.
    pub fn queue_position(
        &mut self,
        conv: u64,
        position: u32,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        if let Some(home) = self
            .convs
            .get_mut(&conv)
            .filter(|h| h.fsm.phase == Phase::Waiting)
        {
            if home.queue_position.replace(position).is_some() {
                // A later place is ephemeral: not sequenced, not stored, so a long
                // queue fills neither histories nor the store.
                let frame = ServerFrame::Queue { conv, position };
                for follower in &home.followers {
                    out.push(HomeOutput::Frame {
                        to: follower.peer.conn,
                        payload: encode(follower.peer.encoding, &frame),
                    });
                }
                return;
            }
            let item = ItemBody::System {
                kind: SystemKind::Queued,
                agent: None,
                position: Some(position),
                reason: None,
            };
            self.publish(conv, item, now_ms, None, out);
        }
    }

    /// The other participant `user` came online or went offline: told to the
    /// conversation's other followers (ephemeral).
    pub fn presence(
        &mut self,
        conv: u64,
        user: &str,
        role: Role,
        online: bool,
        out: &mut Vec<HomeOutput>,
    ) {
        let Some(home) = self.convs.get(&conv) else {
            return;
        };
        let frame = ServerFrame::Presence {
            conv,
            user,
            role,
            online,
        };
        for follower in home.followers.iter().filter(|f| &*f.user != user) {
            out.push(HomeOutput::Frame {
                to: follower.peer.conn,
                payload: encode(follower.peer.encoding, &frame),
            });
        }
    }

    /// A chat line. A retried client message id is acknowledged again with its first
    /// sequence number and not delivered twice. Taken by value: the sender, id and text
    /// move into the stored item, no copy per line.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        conv: u64,
        peer: Peer,
        user: Box<str>,
        role: Role,
        client_msg_id: Box<str>,
        body: Box<str>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        let actor = Actor {
            peer,
            user: &user,
            role,
        };
        let rules = self.rules;
        let Some(home) = self.convs.get_mut(&conv) else {
            return unknown_conversation(actor.peer, conv, out);
        };
        if let Some(seq) = home.seen_ids.get(&home.history, actor.user, &client_msg_id) {
            if home.fsm.check_speaker(actor.party()).is_ok() {
                let ts = home.history.by_seq(seq).map_or(now_ms, |i| i.ts);
                let sent = ServerFrame::Sent {
                    conv,
                    client_msg_id: &client_msg_id,
                    seq,
                    ts,
                };
                out.push(HomeOutput::Frame {
                    to: actor.peer.conn,
                    payload: encode(actor.peer.encoding, &sent),
                });
                return;
            }
        }
        if let Err(rejection) = home.fsm.handle(
            Event::Message {
                from: actor.party(),
            },
            now_ms,
            &rules,
        ) {
            return error_to(actor.peer, rejection.code(), &rejection.to_string(), out);
        }
        let mut sent = Vec::with_capacity(64 + client_msg_id.len());
        let item = ItemBody::Message {
            from: user,
            client_msg_id,
            body,
        };
        let seq = self.publish(conv, item, now_ms, Some(peer.conn), out);
        // The ack names the id the item now holds.
        if let Some(ItemBody::Message { client_msg_id, .. }) = self
            .convs
            .get(&conv)
            .and_then(|h| h.history.back())
            .map(|i| &i.body)
        {
            let frame = ServerFrame::Sent {
                conv,
                client_msg_id,
                seq,
                ts: now_ms,
            };
            chat::encode_server(peer.encoding, &frame, &mut sent);
            out.push(HomeOutput::Frame {
                to: peer.conn,
                payload: sent.into(),
            });
        }
    }

    /// The client has seen everything up to `seq`.
    pub fn ack(&mut self, conv: u64, conn: ConnId, seq: u64) {
        if let Some(follower) = self
            .convs
            .get_mut(&conv)
            .and_then(|h| h.followers.iter_mut().find(|f| f.peer.conn == conn))
        {
            follower.acked = follower.acked.max(seq);
        }
    }

    /// Typing or read receipt: relayed to the other participants' connections, not
    /// stored and not sequenced (they may be dropped first under load).
    pub fn ephemeral(
        &mut self,
        conv: u64,
        actor: Actor<'_>,
        read_seq: Option<u64>,
        out: &mut Vec<HomeOutput>,
    ) {
        let Some(home) = self.convs.get(&conv) else {
            return unknown_conversation(actor.peer, conv, out);
        };
        if home.fsm.check_speaker(actor.party()).is_err() {
            return error_to(
                actor.peer,
                Rejection::NotParticipant.code(),
                "not a participant of this conversation",
                out,
            );
        }
        let frame = match read_seq {
            Some(seq) => ServerFrame::Read {
                conv,
                from: actor.user,
                seq,
            },
            None => ServerFrame::Typing {
                conv,
                from: actor.user,
            },
        };
        for follower in home.followers.iter().filter(|f| &*f.user != actor.user) {
            out.push(HomeOutput::Frame {
                to: follower.peer.conn,
                payload: encode(follower.peer.encoding, &frame),
            });
        }
    }

    /// A participant (or the system, with `actor` None) ends the conversation.
    pub fn end(
        &mut self,
        conv: u64,
        actor: Option<Actor<'_>>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        let by = actor.map_or(Party::System, |a| a.party());
        self.step(conv, Event::End { by }, actor.map(|a| a.peer), now_ms, out);
    }

    /// The serving agent asks to hand the conversation to agent `to`.
    pub fn transfer(
        &mut self,
        conv: u64,
        actor: Actor<'_>,
        to: &str,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        self.step(
            conv,
            Event::RequestTransfer { by: actor.user, to },
            Some(actor.peer),
            now_ms,
            out,
        );
    }

    /// The target agent answered an offer (through the router, which knows its
    /// connections: `peers` follow the conversation if it accepted).
    pub fn transfer_answer(
        &mut self,
        conv: u64,
        actor: Actor<'_>,
        accept: bool,
        peers: &[Peer],
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        let event = if accept {
            Event::AcceptTransfer { by: actor.user }
        } else {
            Event::DeclineTransfer { by: actor.user }
        };
        if self.step(conv, event, Some(actor.peer), now_ms, out) && accept {
            for &peer in peers {
                self.follow(conv, peer, actor.user, None, out);
            }
        }
    }

    /// The target of a transfer cannot take it (offline, full, unknown).
    pub fn transfer_unavailable(
        &mut self,
        conv: u64,
        to: &str,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        // Reported as `target_lost`: the target is not there to take it.
        self.step(conv, Event::AgentLost { agent: to }, None, now_ms, out);
    }

    /// `agent`'s grace period expired.
    pub fn agent_lost(&mut self, conv: u64, agent: &str, now_ms: u64, out: &mut Vec<HomeOutput>) {
        self.step(conv, Event::AgentLost { agent }, None, now_ms, out);
    }

    /// A connection went away.
    pub fn unfollow(&mut self, conv: u64, conn: ConnId) {
        if let Some(home) = self.convs.get_mut(&conv) {
            home.followers.retain(|f| f.peer.conn != conn);
        }
    }

    /// Ends idle conversations, fails unanswered transfers, forgets old ended ones.
    /// Outputs are paired with their conversation.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<(u64, HomeOutput)>) {
        let rules = self.rules;
        let retention = self.limits.ended_retention_ms;
        let due: Vec<u64> = self
            .convs
            .iter()
            .filter(|(_, h)| h.fsm.next_deadline_ms(&rules).is_some_and(|d| d <= now_ms))
            .map(|(&conv, _)| conv)
            .collect();
        let mut step_out = Vec::new();
        for conv in due {
            self.step(conv, Event::Tick, None, now_ms, &mut step_out);
            out.extend(step_out.drain(..).map(|o| (conv, o)));
        }
        self.convs
            .retain(|_, h| !(h.fsm.is_ended() && h.fsm.last_activity_ms + retention <= now_ms));
    }

    /// Applies an event; a rejection goes back to `peer` as an error frame. Returns
    /// whether the event was accepted.
    fn step(
        &mut self,
        conv: u64,
        event: Event<'_>,
        peer: Option<Peer>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> bool {
        let rules = self.rules;
        let Some(home) = self.convs.get_mut(&conv) else {
            if let Some(peer) = peer {
                unknown_conversation(peer, conv, out);
            }
            return false;
        };
        match home.fsm.handle(event, now_ms, &rules) {
            Ok(effects) => {
                self.carry_out(conv, effects, now_ms, out);
                true
            }
            Err(rejection) => {
                if let Some(peer) = peer {
                    error_to(peer, rejection.code(), &rejection.to_string(), out);
                }
                false
            }
        }
    }

    /// Turns a transition's effects into system items, follower changes and router notes.
    fn carry_out(
        &mut self,
        conv: u64,
        effects: impl IntoIterator<Item = Effect>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) {
        // Agents that stop serving keep following until every announcement of this
        // transition (transferred, requeued, ended) has reached them.
        let mut released: Vec<String> = Vec::new();
        for effect in effects {
            let Some(home) = self.convs.get_mut(&conv) else {
                return;
            };
            let (visitor, vip) = (home.fsm.visitor.as_str().into(), home.fsm.vip);
            match effect {
                Effect::Announce(announcement) => {
                    if let Announcement::Transferred { from, .. } = &announcement {
                        released.push(from.clone());
                        out.push(HomeOutput::Router(RouterNote::Moved {
                            conv,
                            from: from.as_str().into(),
                            to: home.fsm.serving_agent().unwrap_or_default().into(),
                        }));
                    }
                    if let Announcement::Ended { .. } = announcement {
                        out.push(HomeOutput::Router(RouterNote::Ended { conv, visitor }));
                    }
                    self.publish(conv, system_item(&announcement), now_ms, None, out);
                }
                Effect::DeliverMessage => {}
                Effect::Enqueue => {
                    // Back in the queue: its next position is announced as `queued`.
                    home.queue_position = None;
                    out.push(HomeOutput::Router(RouterNote::Requeue { conv, vip }));
                }
                Effect::ReleaseAgent { agent } => {
                    out.push(HomeOutput::Router(RouterNote::Release {
                        agent: agent.as_str().into(),
                        conv,
                    }));
                    released.push(agent);
                }
                Effect::OfferTransfer { to } => {
                    let from = home.fsm.serving_agent().unwrap_or_default().into();
                    out.push(HomeOutput::Router(RouterNote::TransferRequested {
                        conv,
                        from,
                        to: to.into(),
                        visitor,
                    }));
                }
                Effect::WithdrawOffer { .. } => {}
            }
        }
        self.stop_following(conv, &released);
    }

    /// Released agents stop following a live conversation (they no longer see it); an
    /// ended one keeps its followers until it is forgotten, so late resumes still work.
    fn stop_following(&mut self, conv: u64, released: &[String]) {
        let Some(home) = self.convs.get_mut(&conv) else {
            return;
        };
        if home.fsm.is_ended() {
            return;
        }
        let serving = home.fsm.serving_agent().map(str::to_owned);
        for agent in released {
            if serving.as_deref() != Some(agent.as_str()) && *agent != home.fsm.visitor {
                home.followers.retain(|f| *f.user != *agent.as_str());
            }
        }
    }

    /// Gives `item` the next sequence number, stores it and sends it to every
    /// follower but `except` (the sender, which gets a `sent` instead).
    fn publish(
        &mut self,
        conv: u64,
        body: ItemBody,
        now_ms: u64,
        except: Option<ConnId>,
        out: &mut Vec<HomeOutput>,
    ) -> u64 {
        let history_len = self.limits.history_len.max(1);
        let Some(home) = self.convs.get_mut(&conv) else {
            return 0;
        };
        let seq = home.next_seq;
        home.next_seq += 1;
        let item = Item {
            seq,
            ts: now_ms,
            body,
        };
        let mut encoded: [Option<Arc<[u8]>>; 2] = [None, None];
        for follower in home
            .followers
            .iter()
            .filter(|f| Some(f.peer.conn) != except)
        {
            let slot = match follower.peer.encoding {
                Encoding::Binary => 0,
                Encoding::Json => 1,
            };
            let payload = encoded[slot]
                .get_or_insert_with(|| encode(follower.peer.encoding, &item.frame(conv)));
            out.push(HomeOutput::Frame {
                to: follower.peer.conn,
                payload: Arc::clone(payload),
            });
        }
        if let ItemBody::Message {
            from,
            client_msg_id,
            ..
        } = &item.body
        {
            home.seen_ids.insert(from, client_msg_id, seq);
        }
        home.history.push_back(item);
        while home.history.len() > history_len {
            if let Some(Item {
                seq: old,
                body:
                    ItemBody::Message {
                        from,
                        client_msg_id,
                        ..
                    },
                ..
            }) = home.history.pop_front()
            {
                home.seen_ids.forget(&from, &client_msg_id, old);
            }
        }
        seq
    }
}

impl Homes {
    /// Runs one command against conversation `conv` at this home; outputs go to `out`.
    /// An administrative command also returns its answer.
    pub fn run(
        &mut self,
        conv: u64,
        cmd: HomeCmd,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Option<AdminAnswer> {
        let homes = self;
        match cmd {
            HomeCmd::Create { visitor, vip, peer } => {
                homes.create(conv, &visitor, vip, peer, now_ms, out)
            }
            HomeCmd::Attach {
                peer,
                user,
                role,
                after_seq,
            } => homes.attach(conv, actor(peer, &user, role), after_seq, out),
            HomeCmd::Assign { agent, peers } => homes.assign(conv, &agent, &peers, now_ms, out),
            HomeCmd::QueuePosition { position } => {
                homes.queue_position(conv, position, now_ms, out)
            }
            HomeCmd::Send {
                peer,
                user,
                role,
                client_msg_id,
                body,
            } => homes.send(conv, peer, user, role, client_msg_id, body, now_ms, out),
            HomeCmd::Ack { conn, seq } => homes.ack(conv, conn, seq),
            HomeCmd::Ephemeral {
                peer,
                user,
                role,
                read_seq,
            } => homes.ephemeral(conv, actor(peer, &user, role), read_seq, out),
            HomeCmd::End { peer, user, role } => {
                homes.end(conv, Some(actor(peer, &user, role)), now_ms, out)
            }
            HomeCmd::Transfer { peer, user, to } => {
                homes.transfer(conv, actor(peer, &user, Role::Agent), &to, now_ms, out)
            }
            HomeCmd::TransferAnswer {
                agent,
                accept,
                peer,
                peers,
            } => homes.transfer_answer(
                conv,
                actor(peer, &agent, Role::Agent),
                accept,
                &peers,
                now_ms,
                out,
            ),
            HomeCmd::TransferUnavailable { to } => {
                homes.transfer_unavailable(conv, &to, now_ms, out)
            }
            HomeCmd::AgentLost { agent } => homes.agent_lost(conv, &agent, now_ms, out),
            HomeCmd::Unfollow { conn } => homes.unfollow(conv, conn),
            HomeCmd::Presence { user, role, online } => {
                homes.presence(conv, &user, role, online, out)
            }
            HomeCmd::AdminAssign {
                agent,
                peers,
                reply,
            } => return Some(admin_assign(homes, conv, agent, &peers, reply, now_ms, out)),
            HomeCmd::AdminTransfer {
                to,
                peers,
                force,
                reply,
            } => {
                let result = homes.admin_transfer(conv, &to, &peers, force, now_ms, out);
                return Some(AdminAnswer { reply, result });
            }
        }
        None
    }
}

fn actor(peer: Peer, user: &str, role: Role) -> Actor<'_> {
    Actor { peer, user, role }
}

/// The control API gives the waiting conversation to `agent` (the router took it out
/// of the queue already): the home agrees, or the router gets the agent back.
fn admin_assign(
    homes: &mut Homes,
    conv: u64,
    agent: Box<str>,
    peers: &[Peer],
    reply: ReplyHandle,
    now_ms: u64,
    out: &mut Vec<HomeOutput>,
) -> AdminAnswer {
    let result = match homes.is_waiting(conv) {
        Ok(true) => {
            homes.assign(conv, &agent, peers, now_ms, out);
            homes.summary(conv, now_ms)
        }
        Ok(false) => Err(ServiceError::conflict(format!(
            "conversation {conv} is not waiting"
        ))),
        Err(err) => Err(err),
    };
    if result.is_err() {
        out.push(HomeOutput::Router(RouterNote::Release { agent, conv }));
    }
    AdminAnswer { reply, result }
}

fn snapshot(home: &Home) -> ServerFrame<'_> {
    let (state, agent) = match &home.fsm.phase {
        Phase::Waiting => (ConversationState::Waiting, None),
        Phase::Serving { agent } => (ConversationState::Serving, Some(agent.as_str())),
        Phase::Transferring { from, .. } => (ConversationState::Transferring, Some(from.as_str())),
        Phase::Ended { .. } => (ConversationState::Ended, None),
    };
    ServerFrame::Conversation {
        conv: home.fsm.id,
        state,
        visitor: &home.fsm.visitor,
        agent,
        last_seq: home.next_seq - 1,
    }
}

fn system_item(announcement: &Announcement) -> ItemBody {
    let system = |kind, agent: Option<&String>, reason: Option<&'static str>| ItemBody::System {
        kind,
        agent: agent.map(|a| a.as_str().into()),
        position: None,
        reason: reason.map(Into::into),
    };
    match announcement {
        Announcement::Created => system(SystemKind::Created, None, None),
        Announcement::Assigned { agent } => system(SystemKind::Assigned, Some(agent), None),
        Announcement::TransferRequested { to, .. } => {
            system(SystemKind::TransferRequested, Some(to), None)
        }
        Announcement::Transferred { to, .. } => system(SystemKind::Transferred, Some(to), None),
        Announcement::TransferFailed {
            why, fell_back_to, ..
        } => system(
            SystemKind::TransferFailed,
            fell_back_to.as_ref(),
            Some(why.as_str()),
        ),
        Announcement::Requeued { why } => system(SystemKind::Requeued, None, Some(why.as_str())),
        Announcement::Ended { reason } => system(SystemKind::Ended, None, Some(reason.as_str())),
    }
}
