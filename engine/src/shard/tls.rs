//! TLS between the socket and the parsers, on a `--tls-cert` listener.
//!
//! Received bytes go through the connection's session ([`TlsSession::receive`], straight
//! from the driver's receive buffer); what it decrypts goes, through one shard-wide
//! scratch buffer, to the same HTTP and WebSocket parsers a plain connection feeds.
//! Output stays plaintext in the connection's queue until the end-of-turn flush, which
//! seals it ([`TlsSession::seal`]) into the buffer handed to the driver, so frames
//! queued during a turn become one send of records. Records the session produces on
//! its own (handshake, alerts) are picked up by the same flush.

use super::conn::Phase;
use super::tls_session::TlsSession;
use super::Shard;
use crate::metrics::ShardCounters;

impl Shard {
    /// A session for a newly accepted connection (`None` on a plain listener).
    pub(super) fn new_tls_session(&self) -> Result<Option<Box<TlsSession>>, rustls::Error> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        TlsSession::new(&tls.config, tls.api).map(|session| Some(Box::new(session)))
    }

    /// Bytes from the socket of a TLS connection.
    pub(super) fn on_tls_bytes(&mut self, slot: u32, generation: u32, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        // After our answer or a failed handshake, what the peer sends is dropped, as
        // on a plain connection.
        if !matches!(
            conn.phase,
            Phase::Handshake | Phase::Authenticating | Phase::Open | Phase::Http
        ) {
            return;
        }
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        let mut plain = std::mem::take(&mut self.tls_plain);
        plain.clear();
        let handshaking = tls.is_handshaking();
        let received = tls.receive(data, &mut plain);
        let finished_handshake = handshaking && !tls.is_handshaking();
        if finished_handshake {
            ShardCounters::bump(&self.counters().tls_handshakes);
        }
        if received.wants_write {
            self.want_flush(slot, generation);
        }
        if !plain.is_empty() {
            self.on_bytes(slot, generation, &mut plain);
        }
        self.tls_plain = plain;
        if let Some(why) = received.error {
            self.tls_failed(slot, generation, handshaking && !finished_handshake, &why);
        } else if received.peer_closed {
            // close_notify: the peer sends nothing more, as at end of stream.
            self.teardown(slot, generation);
        }
    }

    /// A TLS error: the alert (if any) is sent, then the connection closes.
    fn tls_failed(&mut self, slot: u32, generation: u32, handshaking: bool, why: &str) {
        tracing::debug!(shard = self.index, slot, handshaking, "TLS failed: {why}");
        if handshaking {
            ShardCounters::bump(&self.counters().tls_handshake_failures);
        }
        self.want_flush(slot, generation);
        let phase = self.conns.get_mut(slot, generation).map(|c| c.phase);
        if let Some(Phase::Handshake | Phase::Authenticating | Phase::Open | Phase::Http) = phase {
            self.enter_closing(slot, generation);
        }
    }

    /// Marks the connection for the end-of-turn flush (the session has records).
    fn want_flush(&mut self, slot: u32, generation: u32) {
        if let Some(conn) = self.conns.get_mut(slot, generation) {
            if !conn.flush_pending() {
                self.dirty.push(slot);
            }
        }
    }
}
