//! A connection's state, kept small (no buffer while idle), and the slab that holds a
//! shard's connections.

use std::os::fd::RawFd;
use switchboard_driver::ThinBuf;

use switchboard_protocol::chat::{Encoding, Role};
use switchboard_protocol::ws::Reader;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the HTTP request head.
    Handshake,
    /// The request is complete and waits for the connect webhook's answer
    /// (`auth_wait.rs`); its bytes are kept in `head`.
    Authenticating,
    /// A WebSocket: frames flow.
    Open,
    /// An HTTP request for a session was handed to the session's shard, which writes
    /// the answer (at once, after a long-poll's wait, or as an SSE stream).
    Http,
    /// Our close frame or HTTP answer is queued; waiting for it to flush and for the
    /// peer to close, until the deadline.
    Closing,
    /// Being torn down: waiting for in-flight operations before closing the fd.
    Dead,
}

/// What the WebSocket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Not upgraded (yet).
    None,
    /// `/echo`.
    Echo,
    /// `/v1/ws`.
    Chat(ChatSession),
    /// An HTTP request waiting on a session of this node (told when this connection
    /// goes away).
    Session(SessionRef),
}

/// A session of this node in 6 bytes (shard 8 bits, generation 15, slot index 18),
/// so that a waiting HTTP connection stays as small as a WebSocket one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef([u8; 6]);

impl SessionRef {
    /// The session `conn` (a session slot of this node).
    pub fn new(conn: switchboard_service::ids::ConnId) -> Self {
        let index = u64::from(conn.slot() - super::sessions::SESSION_SLOT_BASE);
        let packed =
            (conn.shard() as u64) << 33 | u64::from(conn.generation()) << 18 | (index & 0x3_FFFF);
        let bytes = packed.to_le_bytes();
        SessionRef([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
    }

    /// Its connection id on node `node`.
    pub fn conn(self, node: u16) -> switchboard_service::ids::ConnId {
        let mut bytes = [0u8; 8];
        bytes[..6].copy_from_slice(&self.0);
        let packed = u64::from_le_bytes(bytes);
        let slot = super::sessions::SESSION_SLOT_BASE + (packed & 0x3_FFFF) as u32;
        let generation = (packed >> 18) as u32 & 0x7FFF;
        let shard = (packed >> 33) as usize & 0xFF;
        switchboard_service::ids::ConnId::new(shard, slot, generation).on_node(node)
    }
}

/// Who is on a `/v1/ws` connection and how it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSession {
    /// The chosen encoding.
    pub encoding: Encoding,
    /// Visitor or agent.
    pub role: Role,
    /// A visitor of the VIP tier.
    pub vip: bool,
}

/// One client connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub fd: RawFd,
    /// Generation of the slot, part of every token and id of this connection.
    pub generation: u32,
    /// Where in its life the connection is.
    pub phase: Phase,
    /// What the WebSocket is for.
    pub endpoint: Endpoint,
    /// The multishot recv is armed (its final completion has not arrived).
    pub recv_armed: bool,
    /// A send is in flight.
    pub sending: bool,
    /// We pinged and no byte arrived since.
    pub ping_outstanding: bool,
    /// The write side is shut (FIN sent).
    pub write_shut: bool,
    /// Bytes of the send in flight.
    pub inflight_len: u32,
    /// Shard clock (ms, wrapping) of the last byte received.
    pub last_rx_ms: u32,
    /// Handshake or close deadline on the shard clock (ms, wrapping) in those phases;
    /// while open, when the last typing indicator was let through (rate limit).
    pub deadline_ms: u32,
    /// WebSocket reading state (one pointer while idle).
    pub reader: Reader,
    /// Bytes of an incomplete HTTP request head.
    pub head: Option<ThinBuf>,
    /// Encoded output waiting for the current send to finish; `None` while idle (the
    /// buffer comes from and goes back to the shard's pool).
    pub queued: Option<ThinBuf>,
    /// The authenticated user of a `/v1/ws` connection.
    pub user: Option<Box<str>>,
    /// Under pressure: the second (shard clock, wrapping) `lines_in_second` counts.
    pub lines_second: u16,
    /// Under pressure: chat lines received in `lines_second`.
    pub lines_in_second: u16,
    /// The TLS session, on a TLS listener.
    pub tls: Option<Box<super::tls_session::TlsSession>>,
}

impl Connection {
    fn new(fd: RawFd, generation: u32, now_ms: u32, handshake_deadline_ms: u32) -> Self {
        Connection {
            fd,
            generation,
            phase: Phase::Handshake,
            endpoint: Endpoint::None,
            recv_armed: false,
            sending: false,
            ping_outstanding: false,
            write_shut: false,
            inflight_len: 0,
            last_rx_ms: now_ms,
            deadline_ms: handshake_deadline_ms,
            reader: Reader::default(),
            head: None,
            queued: None,
            user: None,
            lines_second: 0,
            lines_in_second: 0,
            tls: None,
        }
    }

    /// Bytes accepted for sending but not yet written to the socket.
    pub fn unsent_bytes(&self) -> usize {
        self.queued.as_ref().map_or(0, |q| q.len()) + self.inflight_len as usize
    }

    /// Whether output is waiting for the current send.
    pub fn has_queued(&self) -> bool {
        self.queued.as_ref().is_some_and(|q| !q.is_empty())
    }

    /// Whether its output will be written without marking it again: it is already on
    /// the end-of-turn flush list (output queued) or the send in flight flushes on
    /// completion.
    pub fn flush_pending(&self) -> bool {
        self.has_queued() || self.sending
    }
}

/// A slab entry.
#[derive(Debug)]
enum Entry {
    Occupied(Connection),
    Vacant { next_free: u32, generation: u32 },
}

/// No free slot.
const NONE: u32 = u32::MAX;
/// Slots are 20 bits wide in connection ids; the top quarter names HTTP sessions.
pub const MAX_SLOTS: usize = super::sessions::SESSION_SLOT_BASE as usize;
/// Slots per chunk. The slab grows a chunk at a time, so growing never copies the
/// connections nor leaves a doubled array behind (measured: a doubling Vec cost
/// ~100 B per connection of RSS at 15k connections).
const CHUNK: usize = 1024;

/// A shard's connections, addressed by slot; freed slots are reused with a new
/// generation so that late completions for the old connection are recognised.
#[derive(Debug)]
pub struct Slab {
    chunks: Vec<Vec<Entry>>,
    slots: usize,
    free_head: u32,
    len: usize,
}

impl Default for Slab {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            slots: 0,
            free_head: NONE,
            len: 0,
        }
    }
}

impl Slab {
    /// Connections held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots (held or free), for sweeping.
    pub fn capacity_slots(&self) -> u32 {
        self.slots as u32
    }

    fn entry(&mut self, slot: u32) -> Option<&mut Entry> {
        let slot = slot as usize;
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// Stores a new connection; returns its slot and generation.
    pub fn insert(&mut self, fd: RawFd, now_ms: u32, deadline_ms: u32) -> Option<(u32, u32)> {
        let (slot, generation) = if self.free_head != NONE {
            let slot = self.free_head;
            let Some(&mut Entry::Vacant {
                next_free,
                generation,
            }) = self.entry(slot)
            else {
                return None;
            };
            self.free_head = next_free;
            (slot, generation)
        } else {
            if self.slots >= MAX_SLOTS {
                return None;
            }
            if self.slots.is_multiple_of(CHUNK) {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            let chunk = self.chunks.last_mut()?;
            chunk.push(Entry::Vacant {
                next_free: NONE,
                generation: 0,
            });
            self.slots += 1;
            ((self.slots - 1) as u32, 0)
        };
        *self.entry(slot)? = Entry::Occupied(Connection::new(fd, generation, now_ms, deadline_ms));
        self.len += 1;
        Some((slot, generation))
    }

    /// The connection in `slot` if it is still the one of `generation`.
    pub fn get_mut(&mut self, slot: u32, generation: u32) -> Option<&mut Connection> {
        match self.entry(slot) {
            Some(Entry::Occupied(conn)) if conn.generation == generation => Some(conn),
            _ => None,
        }
    }

    /// The connection in `slot`, whatever its generation.
    pub fn slot_mut(&mut self, slot: u32) -> Option<&mut Connection> {
        match self.entry(slot) {
            Some(Entry::Occupied(conn)) => Some(conn),
            _ => None,
        }
    }

    /// Frees `slot`; returns the connection that was there.
    pub fn remove(&mut self, slot: u32) -> Option<Connection> {
        let free_head = self.free_head;
        let entry = self.entry(slot)?;
        let Entry::Occupied(conn) = entry else {
            return None;
        };
        let generation = (conn.generation + 1) & switchboard_service::ids::GENERATION_MASK;
        let old = std::mem::replace(
            entry,
            Entry::Vacant {
                next_free: free_head,
                generation,
            },
        );
        self.free_head = slot;
        self.len -= 1;
        match old {
            Entry::Occupied(conn) => Some(conn),
            Entry::Vacant { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slots_get_a_new_generation() {
        let mut slab = Slab::default();
        let (slot, generation) = slab.insert(7, 0, 0).unwrap();
        assert!(slab.get_mut(slot, generation).is_some());
        slab.remove(slot);
        assert!(slab.get_mut(slot, generation).is_none());
        let (again, next) = slab.insert(8, 0, 0).unwrap();
        assert_eq!(again, slot);
        assert_ne!(next, generation);
        assert!(
            slab.get_mut(slot, generation).is_none(),
            "stale generation must miss"
        );
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn session_refs_round_trip() {
        use switchboard_service::ids::{ConnId, GENERATION_MASK, SLOT_MASK};
        for (shard, slot, generation) in [(0, SLOT_MASK, GENERATION_MASK), (255, 0xC_0000, 0)] {
            let id = ConnId::new(shard, slot, generation).on_node(3);
            assert_eq!(SessionRef::new(id).conn(3), id);
        }
    }

    #[test]
    fn an_idle_connection_is_small() {
        // The budget is 256 B of RSS per idle connection, slab growth included (the
        // TLS session is one pointer here; a plain connection pays those 8 bytes; the
        // 6-byte session reference of a waiting HTTP request costs 8 more, padding).
        assert!(
            std::mem::size_of::<Connection>() <= 88,
            "{}",
            std::mem::size_of::<Connection>()
        );
    }
}
