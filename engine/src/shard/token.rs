//! Driver tokens of shard operations: `kind:8 | generation:24 | slot:24` in the low
//! 56 bits a driver keeps, so a completion finds its connection, and a stale one (slot
//! reused) is recognised.

/// The multishot accept of the shard's listener.
pub const ACCEPT: u8 = 1;
/// A connection's multishot recv.
pub const RECV: u8 = 2;
/// A connection's send.
pub const SEND: u8 = 3;
/// The housekeeping tick.
pub const TICK: u8 = 4;
/// The read of the shard's wake-up eventfd.
pub const WAKE: u8 = 5;

/// Packs a token.
pub fn pack(kind: u8, slot: u32, generation: u32) -> u64 {
    (u64::from(kind) << 48)
        | (u64::from(generation & 0xFF_FFFF) << 24)
        | u64::from(slot & 0xFF_FFFF)
}

/// Unpacks `(kind, slot, generation)`.
pub fn unpack(token: u64) -> (u8, u32, u32) {
    (
        (token >> 48) as u8,
        (token & 0xFF_FFFF) as u32,
        ((token >> 24) & 0xFF_FFFF) as u32,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_round_trip() {
        let token = super::pack(super::RECV, 0x12_3456, 0xAB_CDEF);
        assert_eq!(super::unpack(token), (super::RECV, 0x12_3456, 0xAB_CDEF));
    }
}
