//! The `LSN_FLOOR` file: a lower bound for the next LSN that survives a lost tail.
//!
//! Two 32-byte slots, written alternately in place (no new file, so it also works on
//! a full disk); the valid slot with the higher generation wins, so a torn write of
//! one slot leaves the other.
//!
//! ```text
//! offset size field
//!      0    8 magic      "SBFLOOR\0"
//!      8    8 generation u64 LE
//!     16    8 floor      u64 LE: every LSN ever handed out is below it
//!     24    4 crc        CRC32C of bytes 0..24
//!     28    4 zero
//! ```

use crate::format::frame::{read_u32, read_u64};

/// Bytes of one slot; the file holds two.
pub(crate) const SLOT_LEN: usize = 32;

const MAGIC: [u8; 8] = *b"SBFLOOR\0";

/// One slot's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloorSlot {
    /// Increases with every write.
    pub generation: u64,
    /// Every LSN handed out so far is below this.
    pub floor: u64,
}

impl FloorSlot {
    /// The slot's bytes.
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        let mut out = [0u8; SLOT_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.generation.to_le_bytes());
        out[16..24].copy_from_slice(&self.floor.to_le_bytes());
        let crc = crc32c::crc32c(&out[..24]);
        out[24..28].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Where in the file this slot goes.
    pub fn offset(&self) -> u64 {
        (self.generation % 2) * SLOT_LEN as u64
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let slot = bytes.get(..SLOT_LEN)?;
        let intact = slot[..8] == MAGIC && read_u32(slot, 24) == crc32c::crc32c(&slot[..24]);
        intact.then(|| Self {
            generation: read_u64(slot, 8),
            floor: read_u64(slot, 16),
        })
    }
}

/// The newest intact slot of a floor file's bytes.
pub(crate) fn decode_floor(bytes: &[u8]) -> Option<FloorSlot> {
    let first = FloorSlot::decode(bytes);
    let second = bytes.get(SLOT_LEN..).and_then(FloorSlot::decode);
    first
        .into_iter()
        .chain(second)
        .max_by_key(|slot| slot.generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_intact_slot_wins() {
        let older = FloorSlot {
            generation: 4,
            floor: 100,
        };
        let newer = FloorSlot {
            generation: 5,
            floor: 200,
        };
        let mut file = [0u8; 2 * SLOT_LEN];
        file[..SLOT_LEN].copy_from_slice(&older.encode());
        file[SLOT_LEN..].copy_from_slice(&newer.encode());
        assert_eq!(newer.offset(), SLOT_LEN as u64);
        assert_eq!(decode_floor(&file), Some(newer));
        file[SLOT_LEN + 17] ^= 1;
        assert_eq!(decode_floor(&file), Some(older));
        assert_eq!(decode_floor(&file[..10]), None);
    }
}
