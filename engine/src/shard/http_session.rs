//! The HTTP side of the long-poll and SSE sessions, on the shard that accepted the
//! request: the body after the head (`Content-Length` only, up to
//! `--max-request-body-bytes`), the route, opening a session here, and handing every
//! other request to the session's shard (named by the session id) — in place when that
//! is this shard, over the mesh otherwise. The session's shard writes the answer back
//! ([`Shard::http_send`]); the connection waits in [`Phase::Http`] meanwhile, and every
//! answer closes it (`Connection: close`).

use switchboard_driver::{os as sys, ThinBuf};
use switchboard_protocol::chat::{Encoding, Role};
use switchboard_protocol::http::{self, Request};
use switchboard_protocol::session::{self, Route, RouteError, SessionId};

use super::auth_wait::Gate;
use super::conn::{ChatSession, Endpoint, Phase, SessionRef};
use super::sessions::{is_session_slot, HttpSession};
use super::{SessionReq, Shard, ShardMsg};
use crate::auth::Identity;
use switchboard_service::ids::ConnId;

/// What a client is told about a session id this node does not hold.
pub(super) const UNKNOWN_SESSION: &str =
    "no such session on this node (it ended, expired, or another node holds it): open a new session and resume";

impl Shard {
    /// A complete head of a request under `/v1/sessions` is at the start of `buf`:
    /// waits for its body, then routes it.
    pub(super) fn session_head(&mut self, slot: u32, generation: u32, buf: &mut [u8]) {
        let Ok(Some(request)) = http::parse_request(buf) else {
            return;
        };
        let max_body = self.session_limits.max_body;
        if request.head_len > self.settings.max_handshake_bytes {
            let message = format!(
                "request head over {} bytes",
                self.settings.max_handshake_bytes
            );
            return self.respond_error(
                slot,
                generation,
                431,
                "Request Header Fields Too Large",
                "head_too_large",
                &message,
            );
        }
        if request.transfer_encoding {
            return self.respond_error(
                slot,
                generation,
                411,
                "Length Required",
                "length_required",
                "send the body with Content-Length (no Transfer-Encoding)",
            );
        }
        let length = request.content_length.unwrap_or(0);
        if length > max_body {
            let message = format!("request body over {max_body} bytes");
            return self.respond_error(
                slot,
                generation,
                413,
                "Payload Too Large",
                "body_too_large",
                &message,
            );
        }
        let total = request.head_len + length;
        if buf.len() < total {
            if let Some(conn) = self.conns.get_mut(slot, generation) {
                let mut head = ThinBuf::with_capacity(total);
                head.extend_from_slice(buf);
                conn.head = Some(head);
            }
            return;
        }
        let mut preset = None;
        if matches!(
            session::route(request.method, request.path),
            Ok(Route::Open)
        ) {
            match self.auth_gate(&request, &buf[..total], slot, generation) {
                Gate::Local => {}
                Gate::Known(identity) => preset = Some(identity),
                Gate::Answered | Gate::Parked => return,
            }
        }
        let body = &buf[request.head_len..total];
        self.on_session_request(slot, generation, &request, body, preset);
    }

    fn on_session_request(
        &mut self,
        slot: u32,
        generation: u32,
        request: &Request<'_>,
        body: &[u8],
        preset: Option<Identity>,
    ) {
        let route = match session::route(request.method, request.path) {
            Ok(route) => route,
            Err(RouteError::Method(allow)) => {
                let body = http::error_body("method_not_allowed", &format!("use {allow}"));
                return self.respond(slot, generation, |out| {
                    http::write_response(
                        out,
                        405,
                        "Method Not Allowed",
                        "application/json",
                        &body,
                        &[("Allow", allow)],
                    )
                });
            }
            Err(RouteError::NotFound) => {
                let message = format!("no route for {}", request.path);
                return self.respond_error(
                    slot,
                    generation,
                    404,
                    "Not Found",
                    "not_found",
                    &message,
                );
            }
            Err(err @ RouteError::BadId) => {
                return self.respond_error(
                    slot,
                    generation,
                    400,
                    "Bad Request",
                    "bad_session_id",
                    &err.to_string(),
                )
            }
        };
        let downstream = session::cursor(request.query, request.last_event_id);
        let ack = request.query.and_then(|q| http::query_param(q, "cursor"));
        let (id, req) = match (route, downstream) {
            (Route::Open, _) => return self.open_session(slot, generation, request, preset),
            (Route::Poll(_) | Route::Stream(_), None) => {
                return self.respond_error(
                    slot,
                    generation,
                    400,
                    "Bad Request",
                    "bad_cursor",
                    "cursor must be a whole number",
                )
            }
            (Route::Poll(id), Some(cursor)) => (id, SessionReq::Poll { cursor }),
            (Route::Stream(id), Some(cursor)) => (id, SessionReq::Stream { cursor }),
            (Route::Send(id), _) => {
                let ack = match ack.map(str::parse::<u64>) {
                    None => None,
                    Some(Ok(cursor)) => Some(cursor),
                    Some(Err(_)) => {
                        return self.respond_error(
                            slot,
                            generation,
                            400,
                            "Bad Request",
                            "bad_cursor",
                            "cursor must be a whole number",
                        )
                    }
                };
                (
                    id,
                    SessionReq::Send {
                        ack,
                        body: body.into(),
                    },
                )
            }
            (Route::Close(id), _) => (id, SessionReq::Close),
        };
        let target = ConnId(id.conn);
        if target.node() != self.node
            || target.shard() >= self.shared.shards()
            || !is_session_slot(target.slot())
        {
            return self.respond_error(
                slot,
                generation,
                404,
                "Not Found",
                "unknown_session",
                UNKNOWN_SESSION,
            );
        }
        // A long-poll waits up to --poll-wait-ms; a stream has no end; the rest are
        // answered at once. The margin covers a busy session shard.
        let wait = match req {
            SessionReq::Poll { .. } => Some(self.session_limits.poll_wait_ms),
            SessionReq::Stream { .. } => None,
            _ => Some(0),
        };
        self.await_session(slot, generation, target, wait);
        let from = self.conn_id(slot, generation);
        if target.shard() == self.index {
            self.on_session_req(id, from, req);
        } else {
            self.send_to_shard(target.shard(), ShardMsg::Session { id, from, req });
        }
    }

    /// The connection now waits for a session's answer (for at most `wait_ms` and a
    /// margin; `None`: as long as the session streams).
    fn await_session(&mut self, slot: u32, generation: u32, target: ConnId, wait_ms: Option<u64>) {
        let deadline = wait_ms.map(|ms| self.deadline_in(ms + self.settings.handshake_timeout_ms));
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        conn.phase = Phase::Http;
        conn.head = None;
        conn.endpoint = Endpoint::Session(SessionRef::new(target));
        // 0 is "no deadline" in this phase.
        conn.deadline_ms = deadline.map_or(0, |d| d.max(1));
    }

    /// `POST /v1/sessions`: authenticates like `/v1/ws`, opens the session on this
    /// shard, and answers with its id, the welcome frame and the cursor after it.
    fn open_session(
        &mut self,
        slot: u32,
        generation: u32,
        request: &Request<'_>,
        preset: Option<Identity>,
    ) {
        let secret = match sys::random_u128() {
            Ok(secret) => secret,
            Err(err) => {
                tracing::warn!(shard = self.index, %err, "no random source for a session id");
                return self.respond_error(
                    slot,
                    generation,
                    503,
                    "Service Unavailable",
                    "unavailable",
                    "no session can be opened right now",
                );
            }
        };
        let chat = ChatSession {
            encoding: Encoding::Json,
            role: Role::Visitor,
            vip: false,
        };
        let fresh = HttpSession::new(secret, "".into(), chat, self.now_ms);
        let Some((s_slot, s_generation)) = self
            .sessions
            .insert(fresh, self.session_limits.max_sessions)
        else {
            return self.respond_error(
                slot,
                generation,
                503,
                "Service Unavailable",
                "too_many_sessions",
                "this shard holds its most sessions (--max-sessions-per-shard): try again later",
            );
        };
        let conn = self.conn_id(s_slot, s_generation);
        let verdict = match preset {
            Some(identity) => Ok(identity),
            None => self.auth.authenticate(request.token().as_deref(), conn.0),
        };
        let identity = match verdict {
            Ok(identity) => identity,
            Err(err) => {
                self.sessions.remove(s_slot);
                return self.respond_error(
                    slot,
                    generation,
                    401,
                    "Unauthorized",
                    "unauthorized",
                    &err.to_string(),
                );
            }
        };
        let chat = ChatSession {
            encoding: Encoding::Json,
            role: if identity.is_agent() {
                Role::Agent
            } else {
                Role::Visitor
            },
            vip: identity.tier.as_deref() == Some(&*self.service.vip_tier),
        };
        if let Some(session) = self.sessions.get_mut(s_slot, s_generation) {
            session.user = identity.user.clone();
            session.chat = chat;
        }
        self.await_session(slot, generation, conn, Some(0));
        self.open_chat(s_slot, s_generation, chat, identity);
        let id = SessionId {
            conn: conn.0,
            secret,
        };
        let from = self.conn_id(slot, generation);
        self.answer_batch(s_slot, s_generation, from, 0, Some(&id));
    }

    /// Bytes of an answer for HTTP connection `to` of this node: written here, or sent
    /// to its shard. `done`: the answer is complete and the connection closes after it.
    pub(super) fn http_send(&mut self, to: ConnId, bytes: &[u8], done: bool) {
        if to.shard() == self.index {
            self.http_out_here(to.slot(), to.generation(), bytes, done);
        } else {
            let bytes = bytes.into();
            self.send_to_shard(to.shard(), ShardMsg::HttpOut { to, bytes, done });
        }
    }

    /// Queues answer bytes on a connection of this shard that waits for them; a
    /// stream whose client does not read is cut like a slow WebSocket (its session
    /// keeps the frames for a `Last-Event-ID` reconnect).
    pub(super) fn http_out_here(&mut self, slot: u32, generation: u32, bytes: &[u8], done: bool) {
        let limit = self.outbound_limit();
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        if conn.phase != Phase::Http {
            return;
        }
        if conn.unsent_bytes() + bytes.len() > limit {
            tracing::debug!(shard = self.index, slot, "cutting a slow event stream");
            return self.teardown(slot, generation);
        }
        self.enqueue_raw(slot, generation, bytes);
        if done {
            if let Some(conn) = self.conns.get_mut(slot, generation) {
                conn.endpoint = Endpoint::None;
            }
            self.enter_closing(slot, generation);
        }
    }

    /// A connection that waited on a session goes away: the session stops writing to
    /// it and its idle clock starts.
    pub(super) fn http_waiter_gone(&mut self, slot: u32, generation: u32, endpoint: Endpoint) {
        if let Endpoint::Session(session) = endpoint {
            let session = session.conn(self.node);
            let from = self.conn_id(slot, generation);
            self.post_to(session.shard(), ShardMsg::SessionDetach { session, from });
        }
    }
}
