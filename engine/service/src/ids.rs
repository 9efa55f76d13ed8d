//! The identifiers every layer above the driver shares: a connection anywhere in the
//! cluster ([`ConnId`]), and a connection with the encoding it speaks ([`Peer`]).

/// Identifies a connection anywhere: `node:10 | shard:8 | generation:15 | slot:20`,
/// 53 bits in all, so every id — also in cluster mode, where the node number (1–1023,
/// claimed in Redis) sits on top — is at most 2^53 − 1 and a JavaScript client reads
/// it exactly as a number. A single node uses node 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ConnId(pub u64);

/// Bit positions of the fields of a [`ConnId`].
const SLOT_BITS: u32 = 20;
const GENERATION_SHIFT: u32 = SLOT_BITS;
const SHARD_SHIFT: u32 = GENERATION_SHIFT + 15;
const NODE_SHIFT: u32 = SHARD_SHIFT + 8;

impl ConnId {
    /// Builds the id of `slot` (reused slots get a new `generation`) on `shard`.
    pub fn new(shard: usize, slot: u32, generation: u32) -> Self {
        ConnId(
            ((shard as u64 & 0xFF) << SHARD_SHIFT)
                | (u64::from(generation & GENERATION_MASK) << GENERATION_SHIFT)
                | u64::from(slot & SLOT_MASK),
        )
    }
    /// The same connection, named with the number of the node that holds it.
    pub fn on_node(self, node: u16) -> Self {
        ConnId((self.0 & NODE_LOCAL_MASK) | (u64::from(node & MAX_NODE) << NODE_SHIFT))
    }
    /// The node that holds the connection (0 outside cluster mode).
    pub fn node(self) -> u16 {
        (self.0 >> NODE_SHIFT) as u16 & MAX_NODE
    }
    /// The shard that owns the connection.
    pub fn shard(self) -> usize {
        ((self.0 >> SHARD_SHIFT) & 0xFF) as usize
    }
    /// The connection's slot on its shard.
    pub fn slot(self) -> u32 {
        (self.0 & u64::from(SLOT_MASK)) as u32
    }
    /// The slot's generation when the connection was accepted.
    pub fn generation(self) -> u32 {
        ((self.0 >> GENERATION_SHIFT) & u64::from(GENERATION_MASK)) as u32
    }
}

/// A connection and the encoding it speaks, so that whoever sends it frames can encode
/// them once for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Peer {
    /// The connection.
    pub conn: ConnId,
    /// Its chat encoding.
    pub encoding: switchboard_protocol::chat::Encoding,
}

/// Highest node number of a cluster (10 bits of a connection id).
pub const MAX_NODE: u16 = 0x3FF;
/// The bits of a connection id below the node number.
const NODE_LOCAL_MASK: u64 = (1 << NODE_SHIFT) - 1;
/// Slot generations wrap at 15 bits.
pub const GENERATION_MASK: u32 = 0x7FFF;
/// Slots of one shard: 20 bits (1,048,576 connections per shard).
pub const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Most shards a node runs (8 bits of a connection id).
pub const MAX_SHARDS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_ids_round_trip() {
        let id = ConnId::new(255, SLOT_MASK, GENERATION_MASK);
        assert_eq!(
            (id.shard(), id.slot(), id.generation()),
            (255, SLOT_MASK, GENERATION_MASK)
        );
        let remote = id.on_node(MAX_NODE);
        assert_eq!(
            (
                remote.node(),
                remote.shard(),
                remote.slot(),
                remote.generation()
            ),
            (MAX_NODE, 255, SLOT_MASK, GENERATION_MASK)
        );
        assert_eq!(remote.on_node(0), id);
        assert_eq!(
            remote.0,
            switchboard_protocol::chat::MAX_SAFE_JSON_ID,
            "the largest id is exactly the largest a JavaScript number holds"
        );
    }
}
