//! The payload of every message the independent echo client sends, and the check of
//! every reply against it.
//!
//! Layout (little-endian): connection id `u32`, sequence `u64`, send time `u64`
//! (nanoseconds since the client's start), then a filler derived from the three, so a
//! reply that is truncated, padded, another connection's or bit-flipped anywhere is
//! caught without the client remembering what it sent.

/// Bytes of the header (id, sequence, send time); the smallest payload.
pub const HEADER_LEN: usize = 20;

/// What a correct reply carries back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The message's sequence number on its connection.
    pub seq: u64,
    /// When it was sent, nanoseconds since the client's start.
    pub sent_ns: u64,
}

/// Why a reply is not the echo of a message this connection sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The reply's length differs from the messages sent.
    #[error("reply of {got} bytes, messages are {want}")]
    WrongSize {
        /// Bytes received.
        got: usize,
        /// Bytes every message has.
        want: usize,
    },
    /// The reply carries another connection's id.
    #[error("reply for connection {got} on connection {want}")]
    WrongConnection {
        /// The id in the reply.
        got: u32,
        /// This connection's id.
        want: u32,
    },
    /// The filler differs from what the header implies.
    #[error("filler corrupt at byte {at}")]
    Filler {
        /// Offset of the first wrong byte.
        at: usize,
    },
}

/// Fills `out` (at least [`HEADER_LEN`] bytes; shorter is left unchanged) with the
/// message `seq` of connection `conn`, sent at `sent_ns`.
pub fn write(out: &mut [u8], conn: u32, seq: u64, sent_ns: u64) {
    if out.len() < HEADER_LEN {
        return;
    }
    out[0..4].copy_from_slice(&conn.to_le_bytes());
    out[4..12].copy_from_slice(&seq.to_le_bytes());
    out[12..20].copy_from_slice(&sent_ns.to_le_bytes());
    let seed = filler_seed(conn, seq, sent_ns);
    for (i, byte) in out[HEADER_LEN..].iter_mut().enumerate() {
        *byte = filler_byte(seed, i);
    }
}

/// Checks that `reply` is a message of connection `conn` of `size` bytes (`size` at
/// least [`HEADER_LEN`]) and returns its stamp.
pub fn check(reply: &[u8], conn: u32, size: usize) -> Result<Stamp, PayloadError> {
    if reply.len() != size || size < HEADER_LEN {
        return Err(PayloadError::WrongSize {
            got: reply.len(),
            want: size,
        });
    }
    let got = u32::from_le_bytes([reply[0], reply[1], reply[2], reply[3]]);
    if got != conn {
        return Err(PayloadError::WrongConnection { got, want: conn });
    }
    let seq = u64_at(reply, 4);
    let sent_ns = u64_at(reply, 12);
    let seed = filler_seed(conn, seq, sent_ns);
    if let Some(i) = reply[HEADER_LEN..]
        .iter()
        .enumerate()
        .position(|(i, &b)| b != filler_byte(seed, i))
    {
        return Err(PayloadError::Filler { at: HEADER_LEN + i });
    }
    Ok(Stamp { seq, sent_ns })
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// Mixes the header so that neighbouring messages get unrelated fillers.
fn filler_seed(conn: u32, seq: u64, sent_ns: u64) -> u64 {
    (u64::from(conn) << 32 ^ seq ^ sent_ns.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn filler_byte(seed: u64, i: usize) -> u8 {
    (seed.rotate_left((i % 64) as u32) as u8).wrapping_add(i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(conn: u32, seq: u64, sent_ns: u64, size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        write(&mut out, conn, seq, sent_ns);
        out
    }

    #[test]
    fn a_short_reply_or_another_connections_is_refused() {
        let m = message(7, 3, 99, 64);
        assert_eq!(
            check(&m, 7, 64),
            Ok(Stamp {
                seq: 3,
                sent_ns: 99
            })
        );
        assert_eq!(
            check(&m[..63], 7, 64),
            Err(PayloadError::WrongSize { got: 63, want: 64 })
        );
        assert_eq!(
            check(&m, 8, 64),
            Err(PayloadError::WrongConnection { got: 7, want: 8 })
        );
        assert!(check(&[], 0, 0).is_err());
    }

    proptest! {
        #[test]
        fn every_written_message_checks_back(
            conn in any::<u32>(), seq in any::<u64>(), sent in any::<u64>(), size in HEADER_LEN..512usize,
        ) {
            let m = message(conn, seq, sent, size);
            prop_assert_eq!(check(&m, conn, size), Ok(Stamp { seq, sent_ns: sent }));
        }

        #[test]
        fn any_flipped_filler_byte_is_caught(
            conn in any::<u32>(), seq in any::<u64>(), size in (HEADER_LEN + 1)..256usize,
            pick in any::<prop::sample::Index>(), flip in 1..=255u8,
        ) {
            let mut m = message(conn, seq, 5, size);
            let at = HEADER_LEN + pick.index(size - HEADER_LEN);
            m[at] ^= flip;
            prop_assert_eq!(check(&m, conn, size), Err(PayloadError::Filler { at }));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128), conn in any::<u32>(), size in 0..128usize) {
            let _ = check(&bytes, conn, size);
        }
    }
}
