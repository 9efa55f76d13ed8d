//! One connection's TLS session on either of rustls's APIs (`--tls-api`), behind the
//! three things the shard does with it: [`TlsSession::receive`] (socket bytes in,
//! plaintext out), [`TlsSession::seal`] (plaintext in, records out) and
//! [`TlsSession::close_notify`].
//!
//! - unbuffered (the default): rustls keeps no buffer of its own. Records are
//!   decrypted in place in the driver's receive buffer; only a record cut across reads
//!   is kept (`pending_in`, like an incomplete HTTP head), and only the handshake's
//!   and alerts' records wait in `pending_out` for the flush. An idle connection holds
//!   rustls's state and nothing else.
//! - buffered (`rustls::ServerConnection`): simpler, but it keeps a 4 KiB receive
//!   buffer per connection for its whole life and copies every record twice.
//!
//! docs/design.md ("TLS") has the measured difference.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, WriteTraffic,
};
use rustls::{ServerConfig, ServerConnection};
use switchboard_driver::ThinBuf;

use crate::tls::TlsApi;

/// What one batch of received bytes did.
#[derive(Debug, Default)]
pub struct Received {
    /// The session failed (bad record, failed handshake): close after the alert.
    pub error: Option<String>,
    /// The peer sent close_notify: it sends nothing more.
    pub peer_closed: bool,
    /// rustls produced records of its own (handshake, alerts): flush them.
    pub wants_write: bool,
}

/// A connection's TLS session.
#[derive(Debug)]
pub enum TlsSession {
    /// `rustls::ServerConnection`.
    Buffered(ServerConnection),
    /// `rustls::server::UnbufferedServerConnection` and the two buffers it may need.
    Unbuffered(Unbuffered),
}

/// The unbuffered session with the bytes it may have to keep between turns.
pub struct Unbuffered {
    conn: UnbufferedServerConnection,
    /// The start of a record cut across reads.
    pending_in: Option<ThinBuf>,
    /// Records rustls encoded itself, sent ahead of the next output.
    pending_out: Option<ThinBuf>,
    /// close_notify sent, or a fatal alert: nothing more is encrypted.
    closed: bool,
}

impl std::fmt::Debug for Unbuffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unbuffered")
            .field("handshaking", &self.conn.is_handshaking())
            .field("pending_in", &self.pending_in.as_ref().map(|p| p.len()))
            .field("pending_out", &self.pending_out.as_ref().map(|p| p.len()))
            .field("closed", &self.closed)
            .finish()
    }
}

/// Turns that a state loop may take without the peer's input: bounds every loop so
/// that no input can spin a shard.
const MAX_STEPS: usize = 64;

impl TlsSession {
    /// A new server session.
    pub fn new(config: &Arc<ServerConfig>, api: TlsApi) -> Result<Self, rustls::Error> {
        Ok(match api {
            TlsApi::Buffered => TlsSession::Buffered(ServerConnection::new(Arc::clone(config))?),
            TlsApi::Unbuffered => TlsSession::Unbuffered(Unbuffered {
                conn: UnbufferedServerConnection::new(Arc::clone(config))?,
                pending_in: None,
                pending_out: None,
                closed: false,
            }),
        })
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        match self {
            TlsSession::Buffered(tls) => tls.is_handshaking(),
            TlsSession::Unbuffered(tls) => tls.conn.is_handshaking(),
        }
    }

    /// Whether records are waiting to be sent.
    pub fn has_output(&self) -> bool {
        match self {
            TlsSession::Buffered(tls) => tls.wants_write(),
            TlsSession::Unbuffered(tls) => tls.pending_out.as_ref().is_some_and(|p| !p.is_empty()),
        }
    }

    /// Processes received bytes; appends what they decrypt to `plain`.
    pub fn receive(&mut self, data: &mut [u8], plain: &mut Vec<u8>) -> Received {
        match self {
            TlsSession::Buffered(tls) => receive_buffered(tls, data, plain),
            TlsSession::Unbuffered(tls) => tls.receive(data, plain),
        }
    }

    /// Appends to `out` the records waiting and `plain` encrypted. Plaintext offered
    /// before the handshake completed (an HTTP timeout answer) or after a failure is
    /// dropped: the connection is closing anyway.
    pub fn seal(&mut self, plain: Option<&[u8]>, out: &mut Vec<u8>) {
        match self {
            TlsSession::Buffered(tls) => seal_buffered(tls, plain, out),
            TlsSession::Unbuffered(tls) => tls.seal(plain, out),
        }
    }

    /// Queues close_notify (once; never after a fatal alert).
    pub fn close_notify(&mut self) {
        match self {
            TlsSession::Buffered(tls) => tls.send_close_notify(),
            TlsSession::Unbuffered(tls) => tls.close_notify(),
        }
    }
}

fn receive_buffered(tls: &mut ServerConnection, data: &[u8], plain: &mut Vec<u8>) -> Received {
    let mut received = Received::default();
    let mut data = data;
    while !data.is_empty() {
        match tls.read_tls(&mut data) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                received.error = Some(err.to_string());
                break;
            }
        }
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(err) => {
                received.error = Some(err.to_string());
                break;
            }
        };
        let start = plain.len();
        plain.resize(start + state.plaintext_bytes_to_read(), 0);
        if tls.reader().read_exact(&mut plain[start..]).is_err() {
            plain.truncate(start);
        }
        if state.peer_has_closed() {
            received.peer_closed = true;
            break;
        }
    }
    received.wants_write = tls.wants_write();
    received
}

fn seal_buffered(tls: &mut ServerConnection, plain: Option<&[u8]>, out: &mut Vec<u8>) {
    let mut rest = plain.unwrap_or_default();
    while !rest.is_empty() {
        let taken = tls.writer().write(rest).unwrap_or(0);
        drain_buffered(tls, out);
        if taken == 0 {
            break;
        }
        rest = &rest[taken..];
    }
    drain_buffered(tls, out);
}

fn drain_buffered(tls: &mut ServerConnection, out: &mut Vec<u8>) {
    while tls.wants_write() {
        match tls.write_tls(out) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

impl Unbuffered {
    fn receive(&mut self, data: &mut [u8], plain: &mut Vec<u8>) -> Received {
        let mut joined = self.pending_in.take();
        let buf: &mut [u8] = match joined.as_mut() {
            Some(head) => {
                head.extend_from_slice(data);
                head
            }
            None => data,
        };
        let total = buf.len();
        let mut received = Received::default();
        let mut offset = 0;
        // Each step consumes a record or produces output, or ends the loop; the bound
        // is a guard.
        for _ in 0..total + MAX_STEPS {
            let status = self.conn.process_tls_records(&mut buf[offset..]);
            let mut discard = status.discard;
            let mut done = false;
            match status.state {
                Err(err) => {
                    received.error = Some(err.to_string());
                    done = true;
                }
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                plain.extend_from_slice(record.payload);
                            }
                            Err(err) => {
                                received.error = Some(err.to_string());
                                done = true;
                                break;
                            }
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let out = self.pending_out.get_or_insert_with(ThinBuf::default);
                    fill_room(out, 2048, |room| encode.encode(room));
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    // The records are in `pending_out`, sent in order at the flush.
                    transmit.done();
                    received.wants_write = true;
                }
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                    received.peer_closed = true;
                    done = true;
                }
                // Waiting for more of the peer's bytes, or nothing left to read (early
                // data is not enabled, so no other state is expected).
                Ok(_) => done = true,
            }
            offset += discard;
            if done {
                break;
            }
        }
        if received.error.is_some() {
            self.closed = true;
            self.pick_up_alert();
            received.wants_write = true;
        } else if offset < total {
            // The start of a record: kept until the rest arrives.
            self.pending_in = Some(match joined {
                Some(mut head) => {
                    head.drain(..offset);
                    head
                }
                None => {
                    let mut keep = ThinBuf::with_capacity(total - offset);
                    keep.extend_from_slice(&data[offset..]);
                    keep
                }
            });
        }
        received.wants_write |= self.pending_out.as_ref().is_some_and(|p| !p.is_empty());
        received
    }

    /// After a failure: encodes the alert rustls queued, if any.
    fn pick_up_alert(&mut self) {
        for _ in 0..MAX_STEPS {
            let status = self.conn.process_tls_records(&mut []);
            match status.state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let out = self.pending_out.get_or_insert_with(ThinBuf::default);
                    fill_room(out, 2048, |room| encode.encode(room));
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }

    fn seal(&mut self, plain: Option<&[u8]>, out: &mut Vec<u8>) {
        if let Some(pending) = self.pending_out.take() {
            out.extend_from_slice(&pending);
        }
        let Some(plain) = plain.filter(|p| !p.is_empty()) else {
            return;
        };
        if self.closed || self.conn.is_handshaking() {
            // No application keys yet, or the session is over.
            return;
        }
        let room = plain.len() + (plain.len() / RECORD_PAYLOAD + 1) * RECORD_OVERHEAD;
        self.with_traffic(out, |traffic, out| {
            fill_room(out, room, |room| traffic.encrypt(plain, room));
        });
    }

    fn close_notify(&mut self) {
        if self.closed || self.conn.is_handshaking() {
            return;
        }
        self.closed = true;
        let mut out = self.pending_out.take().unwrap_or_default();
        self.with_traffic(&mut out, |traffic, out| {
            fill_room(out, 64, |room| traffic.queue_close_notify(room));
        });
        self.pending_out = Some(out);
    }

    /// Reaches the state in which application data may be encrypted (encoding any
    /// records rustls has first) and runs `write` there. The partial record kept, if
    /// any, is what rustls is shown, so its view of the input stays the same.
    fn with_traffic(
        &mut self,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>),
    ) {
        let mut write = Some(write);
        let mut none = [0u8; 0];
        for _ in 0..MAX_STEPS {
            let input: &mut [u8] = match self.pending_in.as_mut() {
                Some(head) => head,
                None => &mut none,
            };
            let status = self.conn.process_tls_records(input);
            let discard = status.discard;
            let finished = match status.state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    if let Some(write) = write.take() {
                        write(&mut traffic, out);
                    }
                    true
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    fill_room(out, 2048, |room| encode.encode(room));
                    false
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    false
                }
                _ => true,
            };
            // Only an incomplete record is kept, so nothing should be consumed; if
            // rustls did take something, it is gone from the input as it asks.
            if let Some(head) = self.pending_in.as_mut() {
                let taken = discard.min(head.len());
                head.drain(..taken);
            }
            if self.pending_in.as_ref().is_some_and(|h| h.is_empty()) {
                self.pending_in = None;
            }
            if finished {
                return;
            }
        }
    }
}

/// Largest plaintext of one record, and what a TLS 1.3 record adds to it (header,
/// content type, AEAD tag).
const RECORD_PAYLOAD: usize = 16 * 1024;
const RECORD_OVERHEAD: usize = 5 + 1 + 16;

/// Runs `fill` on `room` fresh bytes at the end of `out`, once more with what rustls
/// says it needs if that was too little; keeps only what was written.
fn fill_room<E: RoomError>(
    out: &mut Vec<u8>,
    room: usize,
    mut fill: impl FnMut(&mut [u8]) -> Result<usize, E>,
) {
    let start = out.len();
    let mut room = room;
    for _ in 0..2 {
        out.resize(start + room, 0);
        match fill(&mut out[start..]) {
            Ok(written) => {
                out.truncate(start + written);
                return;
            }
            Err(err) => match err.required() {
                Some(required) => room = required,
                None => break,
            },
        }
    }
    out.truncate(start);
}

/// The "buffer too small, this much is needed" case of rustls's errors.
trait RoomError {
    fn required(&self) -> Option<usize>;
}

impl RoomError for EncodeError {
    fn required(&self) -> Option<usize> {
        match self {
            EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

impl RoomError for EncryptError {
    fn required(&self) -> Option<usize> {
        match self {
            EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_one_allocation_of_rustls_state() {
        // Measured 1,168 B (rustls 0.23.46): the session struct itself; the keys and
        // the state machine are rustls's own allocations (docs/design.md, "TLS").
        assert!(
            std::mem::size_of::<TlsSession>() <= 1280,
            "{}",
            std::mem::size_of::<TlsSession>()
        );
    }
}
