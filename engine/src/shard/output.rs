//! The sending side of a connection: a bounded queue of encoded frames, one send in
//! flight at a time, the slow-consumer cut, closing, and tearing down.
//!
//! Output produced during a loop turn is appended to the connection's queue and the
//! connection is marked dirty; at the end of the turn [`Shard::flush_dirty`] hands each
//! queue to the ring as one send, so many frames for one client cost one syscall-free
//! submission entry.

use switchboard_driver::{Driver as _, ThinBuf};
use switchboard_protocol::http;
use switchboard_protocol::ws::{self, close_code, Opcode};

use super::conn::{Endpoint, Phase};
use super::{token, Shard, POOLED_BUFFERS, POOLED_BUFFER_MAX};
use crate::metrics::ShardCounters;
use switchboard_driver::os as sys;

impl Shard {
    pub(super) fn recycle_buffer(&mut self, buf: ThinBuf) {
        recycle_into(&mut self.pool, buf);
    }

    /// The connection's output queue, ready for appending (a pooled buffer is lent
    /// when it has none); marks the connection for the end-of-turn flush.
    pub(super) fn output(&mut self, slot: u32, generation: u32) -> Option<&mut Vec<u8>> {
        let conn = self.conns.get_mut(slot, generation)?;
        if !conn.flush_pending() {
            self.dirty.push(slot);
        }
        let pool = &mut self.pool;
        Some(
            conn.queued
                .get_or_insert_with(|| pool.pop().unwrap_or_default()),
        )
    }

    /// Appends one unfragmented frame to the connection's queue.
    pub(super) fn enqueue_frame(
        &mut self,
        slot: u32,
        generation: u32,
        opcode: Opcode,
        payload: &[u8],
    ) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        if conn.phase != Phase::Open {
            return;
        }
        if conn.unsent_bytes() + payload.len() > self.outbound_limit() {
            self.cut_slow_consumer(slot, generation);
            return;
        }
        if let Some(queued) = self.output(slot, generation) {
            ws::encode_header(queued, true, opcode, payload.len(), None);
            queued.extend_from_slice(payload);
            ShardCounters::bump(&self.counters().messages_out);
        }
    }

    /// Appends raw bytes (an HTTP answer, a close frame) to the queue, whatever the phase.
    pub(super) fn enqueue_raw(&mut self, slot: u32, generation: u32, bytes: &[u8]) {
        if let Some(queued) = self.output(slot, generation) {
            queued.extend_from_slice(bytes);
        }
    }

    /// A connection whose unsent output went over the limit: what is queued is
    /// dropped (the client is disconnected either way), the close frame is queued
    /// behind whatever is already in flight, and the close deadline bounds the wait.
    fn cut_slow_consumer(&mut self, slot: u32, generation: u32) {
        tracing::debug!(shard = self.index, slot, "cutting a slow consumer");
        ShardCounters::bump(&self.counters().slow_consumers);
        if let Some(queued) = self
            .conns
            .get_mut(slot, generation)
            .and_then(|c| c.queued.as_mut())
        {
            queued.clear();
        }
        let reason = format!("slow consumer: over {} unsent bytes", self.outbound_limit());
        self.close_with(slot, generation, close_code::TRY_AGAIN_LATER, &reason);
    }

    /// Starts the closing handshake from our side.
    pub(super) fn close_with(&mut self, slot: u32, generation: u32, code: u16, reason: &str) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        match conn.phase {
            Phase::Open => {}
            Phase::Handshake | Phase::Authenticating | Phase::Http => {
                return self.teardown(slot, generation)
            }
            Phase::Closing | Phase::Dead => return,
        }
        if let Some(queued) = self.output(slot, generation) {
            ws::encode_close(queued, code, reason, None);
        }
        self.enter_closing(slot, generation);
    }

    /// Answers the request head with an HTTP error and closes.
    pub(super) fn respond_error(
        &mut self,
        slot: u32,
        generation: u32,
        status: u16,
        reason: &str,
        code: &str,
        message: &str,
    ) {
        let body = http::error_body(code, message);
        self.respond(slot, generation, |out| {
            http::write_json_response(out, status, reason, &body)
        });
    }

    /// Queues a complete HTTP answer written by `write` and closes after it.
    pub(super) fn respond(&mut self, slot: u32, generation: u32, write: impl FnOnce(&mut Vec<u8>)) {
        let Some(queued) = self.output(slot, generation) else {
            return;
        };
        write(queued);
        if let Some(conn) = self.conns.get_mut(slot, generation) {
            conn.head = None;
        }
        self.enter_closing(slot, generation);
    }

    pub(super) fn enter_closing(&mut self, slot: u32, generation: u32) {
        let deadline = self.deadline_in(self.settings.close_timeout_ms);
        if let Some(conn) = self.conns.get_mut(slot, generation) {
            conn.phase = Phase::Closing;
            conn.deadline_ms = deadline;
            conn.reader = Default::default();
        }
    }

    /// Hands every dirty connection's queue to the ring.
    pub(super) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for slot in dirty.drain(..) {
            self.flush(slot);
        }
        self.dirty = dirty;
    }

    fn flush(&mut self, slot: u32) {
        let Some(conn) = self.conns.slot_mut(slot) else {
            return;
        };
        if conn.sending || conn.phase == Phase::Dead {
            return;
        }
        if conn.phase == Phase::Closing && !conn.has_queued() {
            if let Some(tls) = conn.tls.as_mut() {
                // TLS closes with close_notify before the FIN (once: rustls ignores
                // a second call, and sends none after a fatal alert).
                tls.close_notify();
            }
        }
        let buf = match conn.tls.as_mut() {
            None => conn.queued.take().filter(|q| !q.is_empty()),
            Some(tls) if conn.queued.as_ref().is_none_or(|q| q.is_empty()) && !tls.has_output() => {
                None
            }
            Some(tls) => {
                let mut sealed = self.pool.pop().unwrap_or_default();
                tls.seal(conn.queued.as_deref().map(Vec::as_slice), &mut sealed);
                if let Some(plain) = conn.queued.take() {
                    recycle_into(&mut self.pool, plain);
                }
                if sealed.is_empty() {
                    self.pool.push(sealed);
                    None
                } else {
                    Some(sealed)
                }
            }
        };
        let Some(buf) = buf else {
            if conn.phase == Phase::Closing && !conn.write_shut {
                // Our close frame or HTTP answer is out: send FIN after it, and keep
                // reading until the peer closes too (or the deadline passes).
                conn.write_shut = true;
                sys::shutdown_write(conn.fd);
            }
            return;
        };
        conn.sending = true;
        conn.inflight_len = buf.len() as u32;
        let (fd, generation) = (conn.fd, conn.generation);
        self.driver
            .send(fd, buf, token::pack(token::SEND, slot, generation));
    }

    pub(super) fn on_sent(
        &mut self,
        slot: u32,
        generation: u32,
        result: std::io::Result<usize>,
        buf: ThinBuf,
    ) {
        self.recycle_buffer(buf);
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        conn.sending = false;
        conn.inflight_len = 0;
        if result.is_err() {
            // The peer is gone (reset, broken pipe): nothing more can be delivered.
            self.teardown(slot, generation);
        } else {
            self.flush(slot);
        }
        self.finish_teardown(slot, generation);
    }

    /// Stops all I/O on the connection; the fd is closed once no operation refers to it.
    pub(super) fn teardown(&mut self, slot: u32, generation: u32) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        if conn.phase == Phase::Dead {
            return;
        }
        conn.phase = Phase::Dead;
        conn.reader = Default::default();
        conn.head = None;
        let user = conn.user.take();
        let endpoint = conn.endpoint;
        let queued = conn.queued.take();
        let recv_armed = conn.recv_armed;
        let sending = conn.sending;
        let fd = conn.fd;
        if let Some(queued) = queued {
            self.recycle_buffer(queued);
        }
        if recv_armed {
            self.driver
                .cancel_recv(fd, token::pack(token::RECV, slot, generation));
        }
        // A peer that does not read would keep a send in flight, and the fd, forever.
        if sending {
            self.driver
                .cancel_send(fd, token::pack(token::SEND, slot, generation));
        }
        if let (Endpoint::Chat(session), Some(user)) = (endpoint, user) {
            self.chat_connection_closed(self.conn_id(slot, generation), session, user);
        }
        self.http_waiter_gone(slot, generation, endpoint);
    }

    /// Closes the fd and frees the slot of a dead connection with nothing in flight.
    pub(super) fn finish_teardown(&mut self, slot: u32, generation: u32) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        if conn.phase != Phase::Dead || conn.recv_armed || conn.sending {
            return;
        }
        let fd = conn.fd;
        self.driver.unregister_socket(fd);
        sys::close(fd);
        self.conns.remove(slot);
        self.publish_connections();
    }
}

/// Keeps `buf` for reuse if it is small enough and the pool has room.
fn recycle_into(pool: &mut Vec<ThinBuf>, mut buf: ThinBuf) {
    if buf.capacity() <= POOLED_BUFFER_MAX && pool.len() < POOLED_BUFFERS {
        buf.clear();
        pool.push(buf);
    }
}
