//! The echo payload: who sent it, its sequence number and when, then a filler that
//! depends on all three, so a reply with any byte wrong is caught.
//!
//! Layout (little-endian): connection id `u32`, sequence `u64`, send time in ns `u64`,
//! filler up to the requested size.

/// Bytes before the filler; the smallest payload size.
pub const HEADER_LEN: usize = 20;

/// Writes a payload of `out.len()` bytes.
pub fn write(out: &mut [u8], conn_id: u32, seq: u64, sent_ns: u64) {
    out[..4].copy_from_slice(&conn_id.to_le_bytes());
    out[4..12].copy_from_slice(&seq.to_le_bytes());
    out[12..20].copy_from_slice(&sent_ns.to_le_bytes());
    let seed = filler_seed(conn_id, seq, sent_ns);
    for (i, byte) in out[HEADER_LEN..].iter_mut().enumerate() {
        *byte = filler_byte(seed, i);
    }
}

/// What a well-formed reply says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Sequence number on its connection.
    pub seq: u64,
    /// Send time, ns since the loadgen's clock epoch.
    pub sent_ns: u64,
}

/// Checks a received payload; `None` if it is not exactly what connection `conn_id`
/// would have sent with a payload of `size` bytes.
pub fn check(payload: &[u8], conn_id: u32, size: usize) -> Option<Stamp> {
    if payload.len() != size || payload.len() < HEADER_LEN {
        return None;
    }
    let id = u32::from_le_bytes(payload[..4].try_into().ok()?);
    let seq = u64::from_le_bytes(payload[4..12].try_into().ok()?);
    let sent_ns = u64::from_le_bytes(payload[12..20].try_into().ok()?);
    if id != conn_id {
        return None;
    }
    let seed = filler_seed(conn_id, seq, sent_ns);
    let filler_ok = payload[HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == filler_byte(seed, i));
    filler_ok.then_some(Stamp { seq, sent_ns })
}

/// A 64-bit mix of the header (splitmix64's finalizer), so a flipped header bit
/// changes the whole filler.
fn filler_seed(conn_id: u32, seq: u64, sent_ns: u64) -> u64 {
    let mut z = u64::from(conn_id).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ seq.wrapping_mul(0xbf58_476d_1ce4_e5b9).rotate_left(17)
        ^ sent_ns.wrapping_mul(0x94d0_49bb_1331_11eb).rotate_left(41);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn filler_byte(seed: u64, i: usize) -> u8 {
    ((seed >> ((i & 7) * 8)) as u8).wrapping_add((i >> 3) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_checks_and_any_flipped_byte_fails() {
        let mut buf = vec![0u8; 64];
        write(&mut buf, 7, 42, 1234);
        assert_eq!(
            check(&buf, 7, 64),
            Some(Stamp {
                seq: 42,
                sent_ns: 1234
            })
        );
        assert_eq!(check(&buf, 8, 64), None);
        assert_eq!(check(&buf[..63], 7, 64), None);
        for i in 0..64 {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(check(&bad, 7, 64), None, "byte {i} bit {bit}");
            }
        }
    }
}
