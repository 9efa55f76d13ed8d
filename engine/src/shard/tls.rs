//! TLS between the socket and the parsers, on a `--tls-cert` listener.
//!
//! Received bytes go through the connection's rustls session (`read_tls` straight from
//! the driver's receive buffer, then `process_new_packets`); what it decrypts goes, one
//! batch at a time through one shard-wide scratch buffer, to the same HTTP and
//! WebSocket parsers a plain connection feeds. Output stays plaintext in the
//! connection's queue until the end-of-turn flush, which seals it ([`seal`]) into the
//! buffer handed to the driver, so frames queued during a turn become one send of
//! records. Handshake records that rustls produces on its own are picked up by the
//! same flush.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use rustls::ServerConnection;
use switchboard_driver::ThinBuf;

use super::conn::Phase;
use super::Shard;
use crate::metrics::ShardCounters;

impl Shard {
    /// A session for a newly accepted connection (`None` on a plain listener).
    pub(super) fn new_tls_session(&self) -> Result<Option<Box<ServerConnection>>, rustls::Error> {
        let Some(config) = &self.tls else {
            return Ok(None);
        };
        ServerConnection::new(Arc::clone(config)).map(|session| Some(Box::new(session)))
    }

    /// Bytes from the socket of a TLS connection.
    pub(super) fn on_tls_bytes(&mut self, slot: u32, generation: u32, mut data: &[u8]) {
        let mut plain = std::mem::take(&mut self.tls_plain);
        while !data.is_empty() {
            let Some(conn) = self.conns.get_mut(slot, generation) else {
                break;
            };
            // After our answer or a failed handshake, what the peer sends is dropped,
            // as on a plain connection.
            if !matches!(conn.phase, Phase::Handshake | Phase::Open) {
                break;
            }
            let Some(tls) = conn.tls.as_mut() else {
                break;
            };
            let handshaking = tls.is_handshaking();
            let read = tls.read_tls(&mut data);
            let processed = match read {
                Ok(0) => break,
                Ok(_) => tls.process_new_packets().map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            let state = match processed {
                Ok(state) => state,
                Err(why) => {
                    self.tls_failed(slot, generation, handshaking, &why);
                    break;
                }
            };
            let peer_closed = state.peer_has_closed();
            plain.clear();
            plain.resize(state.plaintext_bytes_to_read(), 0);
            if tls.reader().read_exact(&mut plain).is_err() {
                plain.clear();
            }
            let finished_handshake = handshaking && !tls.is_handshaking();
            let wants_write = tls.wants_write();
            if finished_handshake {
                ShardCounters::bump(&self.counters().tls_handshakes);
            }
            if wants_write {
                self.want_flush(slot, generation);
            }
            if !plain.is_empty() {
                self.on_bytes(slot, generation, &mut plain);
            }
            if peer_closed {
                // close_notify: the peer sends nothing more, as at end of stream.
                self.teardown(slot, generation);
                break;
            }
        }
        self.tls_plain = plain;
    }

    /// A TLS error: rustls has queued the alert; it is sent, then the connection closes.
    fn tls_failed(&mut self, slot: u32, generation: u32, handshaking: bool, why: &str) {
        tracing::debug!(shard = self.index, slot, handshaking, "TLS failed: {why}");
        if handshaking {
            ShardCounters::bump(&self.counters().tls_handshake_failures);
        }
        self.want_flush(slot, generation);
        self.enter_closing(slot, generation);
    }

    /// Marks the connection for the end-of-turn flush (rustls has records to send).
    fn want_flush(&mut self, slot: u32, generation: u32) {
        if let Some(conn) = self.conns.get_mut(slot, generation) {
            if !conn.has_queued() && !conn.sending {
                self.dirty.push(slot);
            }
        }
    }
}

/// Encrypts the queued plaintext (if any) and appends every record rustls has ready to
/// `out`. Plaintext offered before the handshake completed stays in rustls until it
/// has; a session that cannot take more (it failed) drops the rest, as the
/// connection is closing anyway.
pub(super) fn seal(tls: &mut ServerConnection, plain: Option<&ThinBuf>, out: &mut Vec<u8>) {
    if let Some(plain) = plain {
        let mut rest: &[u8] = plain;
        while !rest.is_empty() {
            let taken = tls.writer().write(rest).unwrap_or(0);
            drain(tls, out);
            if taken == 0 {
                break;
            }
            rest = &rest[taken..];
        }
    }
    drain(tls, out);
}

fn drain(tls: &mut ServerConnection, out: &mut Vec<u8>) {
    while tls.wants_write() {
        match tls.write_tls(out) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
