//! Glue between a shard and the customer-service layer: chat frames from clients
//! become router and home commands; commands from any shard (or this one) run against
//! the router (on shard 0) and this shard's conversation homes; their outputs become
//! frames for connections, here or on other shards.
//!
//! Commands for this very shard go through `local` instead of being handled at once,
//! so that a router output that lands on a home of the same shard (and back) never
//! re-enters code that is still running.

use std::sync::Arc;
use std::time::Instant;

use switchboard_protocol::chat::{ClientFrame, Role, ServerFrame};

use super::conn::{ChatSession, Endpoint, Phase};
use super::sessions::is_session_slot;
use super::Shard;
use crate::cluster::NodeMsg;
use crate::control::{answer_handle_service, ControlReply};
use crate::shard::ShardMsg;
use switchboard_service::commands::{HomeCmd, RouterCmd};
use switchboard_service::dispatch::{self, AdminAnswer, Routed};
use switchboard_service::home::{HomeOutput, Homes};
use switchboard_service::ids::{ConnId, Peer};
use switchboard_service::presence::home_of_user;

pub use switchboard_service::presence::{RELOGIN_CLOSE_CODE, RELOGIN_REASON};
use switchboard_service::router::{Router, RouterOutput};

impl Shard {
    /// The shard that is home to conversation `conv`.
    pub(super) fn home_of(&self, conv: u64) -> usize {
        (conv % self.shared.shards() as u64) as usize
    }

    pub(super) fn send_router(&mut self, cmd: RouterCmd) {
        if let Some(cmd) = self.cluster_router_cmd(cmd) {
            self.post(0, ShardMsg::Router(cmd));
        }
    }

    pub(super) fn send_home(&mut self, conv: u64, cmd: HomeCmd) {
        let home = self.home_of(conv);
        self.post(home, ShardMsg::Home { conv, cmd });
    }

    pub(super) fn post_to(&mut self, shard: usize, msg: ShardMsg) {
        self.post(shard, msg);
    }

    fn post(&mut self, shard: usize, msg: ShardMsg) {
        if shard == self.index {
            self.local.push_back(msg);
        } else {
            self.send_to_shard(shard, msg);
        }
    }

    /// Runs the commands this shard sent itself during the turn.
    pub(super) fn run_local(&mut self) {
        while let Some(msg) = self.local.pop_front() {
            self.on_mesh_message(msg);
        }
    }

    /// A chat frame from connection `slot`.
    pub(super) fn on_client_frame(
        &mut self,
        slot: u32,
        generation: u32,
        session: ChatSession,
        frame: ClientFrame<'_>,
    ) {
        let conn = self.conn_id(slot, generation);
        let peer = Peer {
            conn,
            encoding: session.encoding,
        };
        let Some(user) = self.client_user(slot, generation) else {
            return;
        };
        let role = session.role;
        let agents_only = |shard: &mut Shard| {
            if role != Role::Agent {
                shard.refuse(slot, generation, "agents_only", "only agents may do this");
                return true;
            }
            false
        };
        match frame {
            ClientFrame::Direct { to, body } => self.direct(conn, ConnId(to), &body),
            ClientFrame::Start => {
                if role != Role::Visitor {
                    return self.refuse(
                        slot,
                        generation,
                        "visitors_only",
                        "only visitors start conversations",
                    );
                }
                self.send_router(RouterCmd::VisitorStart {
                    visitor: user,
                    vip: session.vip,
                    peer,
                });
            }
            ClientFrame::Send {
                conv,
                client_msg_id,
                body,
            } => {
                if !self.line_allowed(slot, generation, role) {
                    return self.refuse(
                        slot,
                        generation,
                        "rate_limited",
                        "too many lines while the service is under pressure: send again later with the same client_msg_id",
                    );
                }
                let cmd = HomeCmd::Send {
                    peer,
                    user,
                    role,
                    client_msg_id: client_msg_id.into(),
                    body: body.into(),
                };
                self.send_home(conv, cmd);
            }
            ClientFrame::Ack { conv, seq } => self.send_home(conv, HomeCmd::Ack { conn, seq }),
            ClientFrame::Resume { conv, after_seq } => {
                self.send_home(
                    conv,
                    HomeCmd::Attach {
                        peer,
                        user,
                        role,
                        after_seq: Some(after_seq),
                    },
                );
            }
            // Typing and read receipts are the first thing dropped under pressure.
            ClientFrame::Typing { .. } | ClientFrame::Read { .. } if self.level >= 1 => {}
            ClientFrame::Typing { conv } => {
                if self.typing_allowed(slot, generation) {
                    self.send_home(
                        conv,
                        HomeCmd::Ephemeral {
                            peer,
                            user,
                            role,
                            read_seq: None,
                        },
                    );
                }
            }
            ClientFrame::Read { conv, seq } => {
                self.send_home(
                    conv,
                    HomeCmd::Ephemeral {
                        peer,
                        user,
                        role,
                        read_seq: Some(seq),
                    },
                );
            }
            ClientFrame::End { conv } => self.send_home(conv, HomeCmd::End { peer, user, role }),
            ClientFrame::AgentStatus { status, capacity } => {
                if !agents_only(self) {
                    self.cluster_agent_status(conn, status, capacity);
                    self.send_router(RouterCmd::AgentStatus {
                        user,
                        status,
                        capacity,
                    });
                }
            }
            ClientFrame::Transfer { conv, to } => {
                if !agents_only(self) {
                    self.send_home(
                        conv,
                        HomeCmd::Transfer {
                            peer,
                            user,
                            to: to.into(),
                        },
                    );
                }
            }
            ClientFrame::AcceptTransfer { conv } | ClientFrame::DeclineTransfer { conv } => {
                if !agents_only(self) {
                    let accept = matches!(frame, ClientFrame::AcceptTransfer { .. });
                    self.send_router(RouterCmd::TransferAnswer {
                        conv,
                        agent: user,
                        accept,
                        peer,
                    });
                }
            }
        }
    }

    /// Typing indicators are let through at most once per `--typing-interval-ms` per
    /// connection; the rest are dropped (they are ephemeral by design).
    fn typing_allowed(&mut self, slot: u32, generation: u32) -> bool {
        let now = self.now_ms as u32;
        let interval = self.service.typing_interval_ms;
        // A connection keeps it in its (then unused) deadline, a session in its own.
        let last = if is_session_slot(slot) {
            self.sessions
                .get_mut(slot, generation)
                .map(|s| &mut s.typing_ms)
        } else {
            self.conns
                .get_mut(slot, generation)
                .map(|c| &mut c.deadline_ms)
        };
        let Some(last) = last else {
            return false;
        };
        if *last != 0 && u64::from(now.wrapping_sub(*last)) < interval {
            return false;
        }
        *last = now.max(1);
        true
    }

    /// At level 2 and above, whether a connection may send another line this second
    /// (`--degrade-visitor-lines-per-s`, `--degrade-agent-lines-per-s`).
    fn line_allowed(&mut self, slot: u32, generation: u32, role: Role) -> bool {
        let limit = match role {
            Role::Visitor => self.service.degrade_visitor_lines_per_s,
            Role::Agent => self.service.degrade_agent_lines_per_s,
        };
        if self.level < 2 || limit == 0 {
            return true;
        }
        let second = (self.now_ms / 1000) as u16;
        let counts = if is_session_slot(slot) {
            self.sessions
                .get_mut(slot, generation)
                .map(|s| (&mut s.lines_second, &mut s.lines_in_second))
        } else {
            self.conns
                .get_mut(slot, generation)
                .map(|c| (&mut c.lines_second, &mut c.lines_in_second))
        };
        let Some((lines_second, lines_in_second)) = counts else {
            return false;
        };
        if *lines_second != second {
            *lines_second = second;
            *lines_in_second = 0;
        }
        *lines_in_second = lines_in_second.saturating_add(1);
        *lines_in_second <= limit
    }

    fn refuse(&mut self, slot: u32, generation: u32, code: &str, message: &str) {
        self.enqueue_chat(slot, generation, &ServerFrame::Error { code, message });
    }

    /// Runs `f` on the router (shard 0 only) and carries out what it decided; `None`
    /// on the other shards. The router is moved out while `f` runs, so its outputs can
    /// use the whole shard.
    pub(super) fn with_router<T>(
        &mut self,
        f: impl FnOnce(&mut Router, &mut Vec<RouterOutput>) -> T,
    ) -> Option<T> {
        let mut router = self.router.take()?;
        let mut out = std::mem::take(&mut self.router_out);
        let value = f(&mut router, &mut out);
        self.router = Some(router);
        self.carry_out_router(&mut out);
        self.router_out = out;
        Some(value)
    }

    /// A command for the router; only shard 0 gets them.
    pub(super) fn on_router_cmd(&mut self, cmd: RouterCmd) {
        self.supply_conv_ids();
        let now = self.wall_ms;
        let handled =
            self.with_router(|router, out| dispatch::run_router_cmd(router, cmd, now, out));
        if handled.is_none() {
            tracing::warn!(
                shard = self.index,
                "router command on a shard without the router"
            );
        }
    }

    pub(super) fn carry_out_router(&mut self, out: &mut Vec<RouterOutput>) {
        let mut routed = std::mem::take(&mut self.routed);
        for output in out.drain(..) {
            dispatch::route_router_output(output, &mut routed);
        }
        for item in routed.drain(..) {
            match item {
                Routed::Home { conv, cmd } => self.send_home(conv, cmd),
                Routed::Frame {
                    peer,
                    conv,
                    payload,
                } => self.deliver_frame(peer.conn, conv, payload, Instant::now()),
                Routed::Unavailable { peer } => self
                    .tell_unavailable(peer, "no conversation can be opened right now; try again"),
            }
        }
        self.routed = routed;
    }

    /// A command for a conversation this shard is home to.
    pub(super) fn on_home_cmd(&mut self, conv: u64, cmd: HomeCmd) {
        let Some(cmd) = self.cluster_takes_home_cmd(conv, cmd) else {
            return;
        };
        let now = self.wall_ms;
        let durable = dispatch::is_durable(&cmd);
        self.store_note_reply(&cmd);
        let answer =
            self.with_homes_durable(conv, durable, |homes, out| homes.run(conv, cmd, now, out));
        if let Some(AdminAnswer { reply, result }) = answer {
            answer_handle_service(&reply, result, summary_reply);
        }
    }

    /// Runs `f` on this shard's conversation homes and carries out its outputs for
    /// conversation `conv`.
    pub(super) fn with_homes<T>(
        &mut self,
        conv: u64,
        f: impl FnOnce(&mut Homes, &mut Vec<HomeOutput>) -> T,
    ) -> T {
        self.with_homes_durable(conv, true, f)
    }

    /// [`Shard::with_homes`]; in cluster mode a `durable` change is written to Redis
    /// before its outputs go out.
    fn with_homes_durable<T>(
        &mut self,
        conv: u64,
        durable: bool,
        f: impl FnOnce(&mut Homes, &mut Vec<HomeOutput>) -> T,
    ) -> T {
        let mut out = std::mem::take(&mut self.home_out);
        let value = f(&mut self.homes, &mut out);
        self.finish_home(conv, &mut out, durable);
        self.home_out = out;
        value
    }

    pub(super) fn carry_out_home(&mut self, conv: u64, out: &mut Vec<HomeOutput>) {
        let published = Instant::now();
        for output in out.drain(..) {
            match output {
                HomeOutput::Frame { to, payload } => {
                    self.deliver_frame(to, conv, payload, published)
                }
                HomeOutput::Router(note) => self.send_router(RouterCmd::Note(note)),
            }
        }
    }

    /// Queues an encoded chat frame of a home of this node on connection `to`, here,
    /// on its shard or on its node.
    pub(super) fn deliver_frame(&mut self, to: ConnId, conv: u64, payload: Arc<[u8]>, at: Instant) {
        self.deliver_frame_from(self.node, to, conv, payload, at);
    }

    /// Queues a frame that the home on node `origin` published on connection `to`. A
    /// connection that is gone stops following the conversation at that home.
    pub(super) fn deliver_frame_from(
        &mut self,
        origin: u16,
        to: ConnId,
        conv: u64,
        payload: Arc<[u8]>,
        at: Instant,
    ) {
        let Some(payload) = self.cluster_remote_frame(to, conv, payload) else {
            return;
        };
        if to.shard() != self.index {
            let msg = ShardMsg::Frame {
                to,
                conv,
                payload,
                at,
                origin,
            };
            return self.send_to_shard(to.shard(), msg);
        }
        let delivered = if is_session_slot(to.slot()) {
            self.session_push(to, payload)
        } else {
            self.deliver_here(to, &payload, at)
        };
        if !delivered && conv != 0 {
            let cmd = HomeCmd::Unfollow { conn: to };
            if origin == self.node {
                self.send_home(conv, cmd);
            } else {
                self.send_to_node(origin, NodeMsg::Home { conv, cmd });
            }
        }
    }

    /// Queues an encoded chat frame on connection `to` of this shard; false when that
    /// connection is gone.
    fn deliver_here(&mut self, to: ConnId, payload: &[u8], at: Instant) -> bool {
        self.counters()
            .observe_latency(at.elapsed().as_micros() as u64);
        let (slot, generation) = (to.slot(), to.generation());
        let session = match self.conns.get_mut(slot, generation) {
            Some(conn) if conn.phase == Phase::Open => match conn.endpoint {
                Endpoint::Chat(session) => Some(session),
                _ => None,
            },
            _ => None,
        };
        match session {
            Some(session) => {
                self.enqueue_frame(slot, generation, session.encoding.opcode(), payload);
                true
            }
            None => false,
        }
    }

    /// A `/v1/ws` connection opened: the user's presence home learns it.
    pub(super) fn chat_connection_opened(&mut self, conn: ConnId, user: &str) {
        let home = home_of_user(user, self.shared.shards());
        self.post(
            home,
            ShardMsg::Presence {
                user: user.into(),
                conn,
                login: true,
            },
        );
    }

    /// A `/v1/ws` connection is going away: presence and, for an agent, the router.
    pub(super) fn chat_connection_closed(
        &mut self,
        conn: ConnId,
        session: ChatSession,
        user: Box<str>,
    ) {
        self.cluster_agent_closed(conn);
        let home = home_of_user(&user, self.shared.shards());
        if session.role == Role::Agent {
            self.post(
                home,
                ShardMsg::Presence {
                    user: user.clone(),
                    conn,
                    login: false,
                },
            );
            self.send_router(RouterCmd::AgentDisconnected { user, conn });
        } else {
            self.post(
                home,
                ShardMsg::Presence {
                    user,
                    conn,
                    login: false,
                },
            );
        }
    }

    /// Presence news for a user homed here; applies the relogin policy.
    pub(super) fn on_presence(&mut self, user: &str, conn: ConnId, login: bool) {
        if !login {
            self.presence.logout(user, conn);
            return self.cluster_presence(user, conn, false);
        }
        let replaced = self.presence.login(user, conn);
        self.cluster_presence(user, conn, true);
        for old in replaced {
            let reason = RELOGIN_REASON.into();
            self.post(
                old.shard(),
                ShardMsg::Kick {
                    conn: old,
                    code: RELOGIN_CLOSE_CODE,
                    reason,
                },
            );
        }
    }

    /// Sends an application event to a connection of this shard.
    pub(super) fn on_push(&mut self, conn: ConnId, name: &str, data: &str) {
        self.enqueue_chat(
            conn.slot(),
            conn.generation(),
            &ServerFrame::Event { name, data },
        );
    }

    /// Closes a connection of this shard on another shard's request.
    pub(super) fn on_kick(&mut self, conn: ConnId, code: u16, reason: &str) {
        if is_session_slot(conn.slot()) {
            return self.end_session(conn.slot(), conn.generation(), reason);
        }
        self.close_with(conn.slot(), conn.generation(), code, reason);
    }

    /// Periodic work of the router and the homes.
    pub(super) fn service_tick(&mut self) {
        let now = self.wall_ms;
        self.with_router(|router, out| router.tick(now, out));
        let mut out = std::mem::take(&mut self.home_out);
        let mut by_conv = std::mem::take(&mut self.tick_out);
        self.homes.tick(now, &mut by_conv);
        for (conv, output) in by_conv.drain(..) {
            out.push(output);
            self.finish_home(conv, &mut out, true);
        }
        self.tick_out = by_conv;
        self.home_out = out;
    }
}

fn summary_reply(summary: switchboard_service::views::Summary) -> ControlReply {
    ControlReply::Summary(crate::control::views::summary(summary))
}
