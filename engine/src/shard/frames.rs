//! WebSocket messages of open connections: `/echo` echoes, `/v1/ws` decodes chat
//! frames and delivers them, on this shard or through the mesh to another one.

use switchboard_protocol::chat::ServerFrame;
use switchboard_protocol::ws::{self, DataKind, Event, Opcode};

use super::conn::{ChatSession, Endpoint, Phase};
use super::Shard;
use crate::metrics::ShardCounters;
use crate::shard::ShardMsg;
use switchboard_service::ids::ConnId;

impl Shard {
    /// Feeds received bytes to the connection's WebSocket reader.
    pub(super) fn on_frame_bytes(&mut self, slot: u32, generation: u32, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        // The reader is moved out while it runs so events can use the whole shard.
        let mut reader = std::mem::take(&mut conn.reader);
        let limits = self.limits;
        let result = reader.feed(data, &limits, &mut |event| {
            self.on_event(slot, generation, event)
        });
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        if conn.phase == Phase::Open {
            conn.reader = reader;
        }
        if let Err(err) = result {
            ShardCounters::bump(&self.counters().protocol_errors);
            self.close_with(slot, generation, err.close_code(), &err.to_string());
        }
    }

    /// Handles one event; returns whether to keep reading.
    fn on_event(&mut self, slot: u32, generation: u32, event: Event<'_>) -> bool {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return false;
        };
        if conn.phase != Phase::Open {
            return false;
        }
        let endpoint = conn.endpoint;
        if matches!(event, Event::Message { .. }) {
            ShardCounters::bump(&self.counters().messages_in);
        }
        match event {
            Event::Message { kind, payload } => match endpoint {
                Endpoint::Echo => {
                    let opcode = if kind == DataKind::Text {
                        Opcode::Text
                    } else {
                        Opcode::Binary
                    };
                    self.enqueue_frame(slot, generation, opcode, payload);
                }
                Endpoint::Chat(session) => {
                    self.on_chat_message(slot, generation, session, kind, payload)
                }
                Endpoint::None | Endpoint::Session(_) => {}
            },
            Event::Ping(payload) => self.enqueue_frame(slot, generation, Opcode::Pong, payload),
            Event::Pong(_) => {}
            Event::Close(close) => self.on_peer_close(slot, generation, close),
        }
        self.conns
            .get_mut(slot, generation)
            .is_some_and(|c| c.phase == Phase::Open)
    }

    /// The peer started the closing handshake: echo its code, then close.
    fn on_peer_close(&mut self, slot: u32, generation: u32, close: Option<(u16, &str)>) {
        match close {
            Some((code, _)) => self.close_with(slot, generation, code, ""),
            None => {
                // An empty close is answered with an empty close (RFC 6455 §5.5.1).
                let mut frame = Vec::with_capacity(2);
                ws::encode_frame(&mut frame, Opcode::Close, &[], None);
                self.enqueue_raw(slot, generation, &frame);
                self.enter_closing(slot, generation);
            }
        }
    }

    fn on_chat_message(
        &mut self,
        slot: u32,
        generation: u32,
        session: ChatSession,
        kind: DataKind,
        payload: &[u8],
    ) {
        if let Err(err) = session.encoding.check_data_kind(kind) {
            return self.close_with(slot, generation, err.close_code(), &err.to_string());
        }
        let mut decoder = std::mem::take(&mut self.decoder);
        match decoder.decode_client(session.encoding, payload) {
            Ok(frame) => self.on_client_frame(slot, generation, session, frame),
            Err(err) => match err.error_code() {
                // A well-formed frame with a value over a limit: answer, keep the connection.
                Some(code) => {
                    let message = err.to_string();
                    self.enqueue_chat(
                        slot,
                        generation,
                        &ServerFrame::Error {
                            code,
                            message: &message,
                        },
                    );
                }
                None => self.close_with(slot, generation, err.close_code(), &err.to_string()),
            },
        }
        self.decoder = decoder;
    }

    /// Delivers `body` from `from` (a connection of this shard) to `to`, anywhere.
    pub(super) fn direct(&mut self, from: ConnId, to: ConnId, body: &str) {
        let shard = to.shard();
        if shard == self.index {
            if !self.deliver_local(to, from, body) {
                self.tell_unreachable(from, to);
            }
        } else if shard < self.shared.shards() {
            self.send_to_shard(
                shard,
                ShardMsg::Deliver {
                    to,
                    from,
                    body: body.into(),
                },
            );
        } else {
            self.tell_unreachable(from, to);
        }
    }

    /// Queues a `delivered` frame on connection `to` of this shard.
    fn deliver_local(&mut self, to: ConnId, from: ConnId, body: &str) -> bool {
        let Some(conn) = self.conns.get_mut(to.slot(), to.generation()) else {
            return false;
        };
        if conn.phase != Phase::Open || !matches!(conn.endpoint, Endpoint::Chat(_)) {
            return false;
        }
        self.enqueue_chat(
            to.slot(),
            to.generation(),
            &ServerFrame::Delivered { from: from.0, body },
        );
        true
    }

    fn tell_unreachable(&mut self, sender: ConnId, target: ConnId) {
        let message = format!("connection {} is not connected", target.0);
        let frame = ServerFrame::Error {
            code: "unknown_connection",
            message: &message,
        };
        self.enqueue_chat(sender.slot(), sender.generation(), &frame);
    }

    /// Encodes `frame` in the connection's encoding and queues it.
    pub(super) fn enqueue_chat(&mut self, slot: u32, generation: u32, frame: &ServerFrame<'_>) {
        if super::sessions::is_session_slot(slot) {
            return self.session_chat(slot, generation, frame);
        }
        let Some(Endpoint::Chat(ChatSession { encoding, .. })) =
            self.conns.get_mut(slot, generation).map(|c| c.endpoint)
        else {
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        switchboard_protocol::chat::encode_server(encoding, frame, &mut scratch);
        self.enqueue_frame(slot, generation, encoding.opcode(), &scratch);
        self.scratch = scratch;
    }

    pub(super) fn on_mesh_message(&mut self, msg: ShardMsg) {
        match msg {
            ShardMsg::Router(cmd) => self.on_router_cmd(cmd),
            ShardMsg::Presence { user, conn, login } => self.on_presence(&user, conn, login),
            ShardMsg::Kick { conn, code, reason } => self.on_kick(conn, code, &reason),
            ShardMsg::Push { conn, name, data } => self.on_push(conn, &name, &data),
            ShardMsg::Home { conv, cmd } => self.on_home_cmd(conv, cmd),
            ShardMsg::Frame {
                to,
                conv,
                payload,
                at,
                origin,
            } => self.deliver_frame_from(origin, to, conv, payload, at),
            ShardMsg::Deliver { to, from, body } => {
                if !self.deliver_local(to, from, &body) {
                    self.send_to_shard(
                        from.shard(),
                        ShardMsg::DeliveryFailed {
                            to: from,
                            target: to,
                        },
                    );
                }
            }
            ShardMsg::DeliveryFailed { to, target } => self.tell_unreachable(to, target),
            ShardMsg::AuthAnswer { key, verdict } => self.on_auth_answer(key, verdict),
            ShardMsg::Session { id, from, req } => self.on_session_req(id, from, req),
            ShardMsg::SessionDetach { session, from } => self.on_session_detach(session, from),
            ShardMsg::HttpOut { to, bytes, done } => {
                self.http_out_here(to.slot(), to.generation(), &bytes, done)
            }
            ShardMsg::Cluster(event) => self.on_cluster_event(event),
        }
    }
}
