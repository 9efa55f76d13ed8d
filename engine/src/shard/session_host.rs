//! The session side of the long-poll and SSE sessions, on the shard that holds them:
//! requests handed over by any shard, frames from the service buffered until they are
//! polled or streamed, the answers, the end of a session (overflow, expiry, kick,
//! close), and the tick that answers long-polls with nothing and keeps streams alive.
//!
//! Upstream frames become the same service commands as WebSocket messages
//! (`Shard::on_client_frame`), so order, acks, dedupe, resume and limits are the same.

use std::sync::Arc;

use switchboard_protocol::chat::{Encoding, ServerFrame};
use switchboard_protocol::http;
use switchboard_protocol::session::{self, SessionId};

use super::http_session::UNKNOWN_SESSION;
use super::sessions::{HttpSession, Overflow, Waiter};
use super::{SessionReq, Shard};
use crate::metrics::ShardCounters;
use switchboard_service::ids::ConnId;

/// An answer that refuses a request: status, reason phrase, error code, message.
type Refusal = (u16, &'static str, &'static str, String);

impl Shard {
    /// A request for session `id` from HTTP connection `from`.
    pub(super) fn on_session_req(&mut self, id: SessionId, from: ConnId, req: SessionReq) {
        let target = ConnId(id.conn);
        let (slot, generation) = (target.slot(), target.generation());
        let now = self.now_ms;
        let Some(s) = self
            .sessions
            .get_mut(slot, generation)
            .filter(|s| id.secret_matches(s.secret))
        else {
            return self.http_error(
                from,
                (404, "Not Found", "unknown_session", UNKNOWN_SESSION.into()),
            );
        };
        if let Some(reason) = &s.ended {
            let reason = reason.to_string();
            return self.http_error(from, (410, "Gone", "session_ended", reason));
        }
        s.seen_ms = now;
        match req {
            SessionReq::Close => {
                self.end_session(slot, generation, "closed by the client");
                self.http_json(from, 200, "OK", b"{\"ended\":true}");
            }
            SessionReq::Send { ack, body } => self.session_send(slot, generation, from, ack, &body),
            SessionReq::Poll { cursor } => self.session_wait(slot, generation, from, cursor, false),
            SessionReq::Stream { cursor } => {
                self.session_wait(slot, generation, from, cursor, true)
            }
        }
    }

    /// A long-poll or a stream after `cursor`: acknowledges what the client has, then
    /// answers at once when frames are there (a poll) or keeps the connection (a poll
    /// with nothing yet, a stream). A newer waiter replaces the older one.
    fn session_wait(
        &mut self,
        slot: u32,
        generation: u32,
        from: ConnId,
        cursor: u64,
        stream: bool,
    ) {
        let now = self.now_ms;
        let limits = self.session_limits;
        let Some(s) = self.sessions.get_mut(slot, generation) else {
            return;
        };
        if let Err(refusal) = check_cursor(s, cursor) {
            return self.http_error(from, refusal);
        }
        s.ack(cursor);
        let old = s.waiter.take();
        let has_frames = s.last() > cursor;
        let wait = if stream {
            limits.keepalive_ms
        } else {
            limits.poll_wait_ms
        };
        if stream || !has_frames {
            s.waiter = Some(Waiter {
                conn: from,
                stream,
                cursor,
                due_ms: now + wait,
            });
        }
        if let Some(old) = old {
            self.release_waiter(old);
        }
        if stream {
            let mut out = std::mem::take(&mut self.http_scratch);
            out.clear();
            session::write_stream_head(&mut out, 1000);
            if let Some(s) = self.sessions.get_mut(slot, generation) {
                write_events(&mut out, s, cursor);
            }
            self.http_send(from, &out, false);
            self.http_scratch = out;
        } else if has_frames {
            self.answer_batch(slot, generation, from, cursor, None);
        }
    }

    /// A waiter replaced by a newer request: a poll gets an empty answer (its client
    /// polls again with the same cursor, nothing is lost), a stream ends.
    fn release_waiter(&mut self, old: Waiter) {
        if old.stream {
            self.http_send(old.conn, b"", true);
        } else {
            let mut body = Vec::with_capacity(32);
            session::write_batch(&mut body, None, old.cursor, std::iter::empty());
            self.http_json(old.conn, 200, "OK", &body);
        }
    }

    /// Upstream frames: all are checked first (a malformed one refuses the request
    /// and none is applied), then each becomes the command a WebSocket message makes.
    fn session_send(
        &mut self,
        slot: u32,
        generation: u32,
        from: ConnId,
        ack: Option<u64>,
        body: &[u8],
    ) {
        let frames = match session::split_frames(body, self.session_limits.post_frames) {
            Ok(frames) => frames,
            Err(err) => {
                return self.http_error(from, (400, "Bad Request", "bad_body", err.to_string()))
            }
        };
        let Some(s) = self.sessions.get_mut(slot, generation) else {
            return;
        };
        if let Some(cursor) = ack {
            if let Err(refusal) = check_cursor(s, cursor) {
                return self.http_error(from, refusal);
            }
            s.ack(cursor);
        }
        let chat = s.chat;
        let mut decoder = std::mem::take(&mut self.decoder);
        for (i, frame) in frames.iter().enumerate() {
            if let Err(err) = decoder.decode_client(Encoding::Json, frame.as_bytes()) {
                if err.error_code().is_none() {
                    self.decoder = decoder;
                    let message = format!("frame {i}: {err}");
                    return self.http_error(from, (400, "Bad Request", "bad_frame", message));
                }
            }
        }
        for frame in &frames {
            ShardCounters::bump(&self.counters().messages_in);
            match decoder.decode_client(Encoding::Json, frame.as_bytes()) {
                Ok(frame) => self.on_client_frame(slot, generation, chat, frame),
                Err(err) => {
                    // Well-formed with a value over a limit: answered downstream, as
                    // on a WebSocket.
                    if let Some(code) = err.error_code() {
                        let message = err.to_string();
                        let frame = ServerFrame::Error {
                            code,
                            message: &message,
                        };
                        self.session_chat(slot, generation, &frame);
                    }
                }
            }
        }
        self.decoder = decoder;
        let body = format!("{{\"accepted\":{}}}", frames.len());
        self.http_json(from, 202, "Accepted", body.as_bytes());
    }

    /// The frames after `cursor` as a long-poll answer for `to` (with the session id
    /// when it was just opened).
    pub(super) fn answer_batch(
        &mut self,
        slot: u32,
        generation: u32,
        to: ConnId,
        cursor: u64,
        opened: Option<&SessionId>,
    ) {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let Some(s) = self.sessions.get_mut(slot, generation) else {
            self.scratch = body;
            return;
        };
        let next = s.last().max(cursor);
        session::write_batch(&mut body, opened, next, s.since(cursor).map(|(_, f)| f));
        self.http_json(to, 200, "OK", &body);
        self.scratch = body;
    }

    /// A complete JSON answer for `to`.
    fn http_json(&mut self, to: ConnId, status: u16, reason: &str, body: &[u8]) {
        let mut out = std::mem::take(&mut self.http_scratch);
        out.clear();
        http::write_response_bytes(
            &mut out,
            status,
            reason,
            "application/json",
            body,
            &[("Cache-Control", "no-store")],
        );
        self.http_send(to, &out, true);
        self.http_scratch = out;
    }

    fn http_error(&mut self, to: ConnId, (status, reason, code, message): Refusal) {
        let body = http::error_body(code, &message);
        self.http_json(to, status, reason, body.as_bytes());
    }

    /// A frame from the service for session `to`; false when it is gone (its homes
    /// then stop sending to it).
    pub(super) fn session_push(&mut self, to: ConnId, frame: Arc<[u8]>) -> bool {
        let cap = self.session_limits.buffer_frames;
        let (slot, generation) = (to.slot(), to.generation());
        let Some(s) = self.sessions.get_mut(slot, generation) else {
            return false;
        };
        if s.ended.is_some() {
            return false;
        }
        match s.push(frame, cap) {
            Ok(()) => {
                if s.waiter.is_some() && !s.ready {
                    s.ready = true;
                    self.sessions.ready.push((slot, generation));
                }
                ShardCounters::bump(&self.counters().messages_out);
                true
            }
            Err(Overflow) => {
                let reason = format!("buffer_overflow: more than {cap} frames waited for a poll");
                self.end_session(slot, generation, &reason);
                false
            }
        }
    }

    /// A frame made on this shard (welcome, errors, events) for a session.
    pub(super) fn session_chat(&mut self, slot: u32, generation: u32, frame: &ServerFrame<'_>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        switchboard_protocol::chat::encode_server(Encoding::Json, frame, &mut scratch);
        let payload: Arc<[u8]> = Arc::from(&scratch[..]);
        self.scratch = scratch;
        let conn = self.conn_id(slot, generation);
        self.session_push(conn, payload);
    }

    /// End of the turn: every session that got frames while a client waited answers
    /// once, with all of them (a poll) or as events (a stream).
    pub(super) fn answer_ready_sessions(&mut self) {
        let mut ready = std::mem::take(&mut self.sessions.ready);
        let now = self.now_ms;
        let keepalive = self.session_limits.keepalive_ms;
        for (slot, generation) in ready.drain(..) {
            let Some(s) = self.sessions.get_mut(slot, generation) else {
                continue;
            };
            s.ready = false;
            let Some(waiter) = s.waiter else {
                continue;
            };
            if waiter.stream {
                let mut out = std::mem::take(&mut self.http_scratch);
                out.clear();
                write_events(&mut out, s, s.streamed);
                if let Some(w) = s.waiter.as_mut() {
                    w.due_ms = now + keepalive;
                }
                self.http_send(waiter.conn, &out, false);
                self.http_scratch = out;
            } else {
                s.waiter = None;
                s.seen_ms = now;
                self.answer_batch(slot, generation, waiter.conn, waiter.cursor, None);
            }
        }
        self.sessions.ready = ready;
    }

    /// Ends a session: its user's presence goes (like a closed WebSocket), a waiting
    /// client learns `reason`, and what is left is a tombstone with the reason until
    /// `--session-idle-ms` passes.
    pub(super) fn end_session(&mut self, slot: u32, generation: u32, reason: &str) {
        let now = self.now_ms;
        let Some(s) = self.sessions.get_mut(slot, generation) else {
            return;
        };
        if s.ended.is_some() {
            return;
        }
        s.ended = Some(reason.into());
        s.frames = Default::default();
        s.seen_ms = now;
        let user = std::mem::take(&mut s.user);
        let chat = s.chat;
        let waiter = s.waiter.take();
        tracing::debug!(shard = self.index, slot, reason, "HTTP session ended");
        self.chat_connection_closed(self.conn_id(slot, generation), chat, user);
        let Some(waiter) = waiter else {
            return;
        };
        if waiter.stream {
            let mut out = Vec::with_capacity(128);
            session::write_end_event(&mut out, &http::error_body("session_ended", reason));
            self.http_send(waiter.conn, &out, true);
        } else {
            self.http_error(waiter.conn, (410, "Gone", "session_ended", reason.into()));
        }
    }

    /// HTTP connection `from` no longer waits on `session`.
    pub(super) fn on_session_detach(&mut self, session: ConnId, from: ConnId) {
        let now = self.now_ms;
        if let Some(s) = self.sessions.get_mut(session.slot(), session.generation()) {
            if s.waiter.is_some_and(|w| w.conn == from) {
                s.waiter = None;
                s.seen_ms = now;
            }
        }
    }

    /// From the tick: long-polls that waited long enough get an empty answer, idle
    /// streams a keep-alive comment; sessions nobody polled for `--session-idle-ms`
    /// end, and tombstones that old go.
    pub(super) fn sessions_tick(&mut self) {
        let now = self.now_ms;
        let idle = self.session_limits.idle_ms;
        let keepalive = self.session_limits.keepalive_ms;
        for index in 0..self.sessions.capacity() {
            let Some((slot, generation, s)) = self.sessions.at(index) else {
                continue;
            };
            if s.ended.is_some() {
                if now >= s.seen_ms + idle {
                    self.sessions.remove(slot);
                }
                continue;
            }
            match s.waiter {
                Some(w) if now < w.due_ms => {}
                Some(w) if w.stream => {
                    if let Some(w) = s.waiter.as_mut() {
                        w.due_ms = now + keepalive;
                    }
                    self.http_send(w.conn, session::KEEPALIVE, false);
                }
                Some(w) => {
                    s.waiter = None;
                    s.seen_ms = now;
                    self.answer_batch(slot, generation, w.conn, w.cursor, None);
                }
                None if now >= s.seen_ms + idle => {
                    let reason = format!("expired: not polled for {idle} ms");
                    self.end_session(slot, generation, &reason);
                }
                None => {}
            }
        }
    }

    /// The user of a chat client of this shard: a connection's or a session's.
    pub(super) fn client_user(&mut self, slot: u32, generation: u32) -> Option<Box<str>> {
        if super::sessions::is_session_slot(slot) {
            return self
                .sessions
                .get_mut(slot, generation)
                .filter(|s| s.ended.is_none())
                .map(|s| s.user.clone());
        }
        self.conns
            .get_mut(slot, generation)
            .and_then(|c| c.user.clone())
    }

    /// Tells every open session the pressure level (as connections are told).
    pub(super) fn sessions_tell_level(&mut self) {
        for index in 0..self.sessions.capacity() {
            if let Some((slot, generation, s)) = self.sessions.at(index) {
                if s.ended.is_none() {
                    self.tell_level(slot, generation);
                }
            }
        }
    }
}

/// Whether the client may say it has every frame up to `cursor`.
fn check_cursor(s: &HttpSession, cursor: u64) -> Result<(), Refusal> {
    if cursor > s.last() {
        let message = format!("cursor {cursor} is past the newest frame ({})", s.last());
        return Err((400, "Bad Request", "cursor_ahead", message));
    }
    if !s.has_since(cursor) {
        let message = format!(
            "frames after cursor {cursor} are no longer kept: open a new session and resume each conversation"
        );
        return Err((409, "Conflict", "cursor_gone", message));
    }
    Ok(())
}

/// Writes the frames after `cursor` as events and marks them streamed.
fn write_events(out: &mut Vec<u8>, s: &mut HttpSession, cursor: u64) {
    for (at, frame) in s.since(cursor) {
        session::write_event(out, at, frame);
    }
    s.streamed = s.streamed.max(s.last());
}
