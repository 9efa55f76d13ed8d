//! One record on disk: a sync marker, a checksummed fixed header, the payload.
//!
//! ```text
//! offset size field
//!      0    4 marker      C3 1E 5B A7: where a reader resynchronises after damage
//!      4    4 payload_len u32 LE
//!      8    8 lsn         u64 LE
//!     16    8 stream      u64 LE
//!     24    8 seq         u64 LE
//!     32    1 kind
//!     33    4 payload_crc CRC32C of the payload
//!     37    4 header_crc  CRC32C of bytes 0..37
//!     41    n payload
//! ```
//!
//! The header has its own checksum so that a resynchronising scan can reject a false
//! marker in O(1), without hashing a payload length it read from garbage.

use crate::record::RecordRef;

/// Bytes before the payload.
pub const FRAME_HEADER_LEN: usize = 41;

/// The four bytes every frame starts with.
pub(crate) const MARKER: [u8; 4] = [0xC3, 0x1E, 0x5B, 0xA7];

const HEADER_CRC_AT: usize = 37;

/// Why the bytes at an offset are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer bytes than the frame needs (a torn tail, or a damaged length).
    Incomplete,
    /// No marker, or the header checksum does not match.
    BadHeader,
    /// The header is intact but claims a payload over the limit.
    TooLarge,
    /// The header is intact but the payload checksum does not match.
    BadPayload,
}

/// Appends the frame of one record to `out`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, record: &RecordRef<'_>) {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&(record.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&record.lsn.to_le_bytes());
    out.extend_from_slice(&record.stream.to_le_bytes());
    out.extend_from_slice(&record.seq.to_le_bytes());
    out.push(record.kind);
    out.extend_from_slice(&crc32c::crc32c(record.payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(record.payload);
}

/// The size of a record's frame.
pub(crate) fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + payload_len
}

/// Decodes the frame at the start of `bytes`; on success also returns its length.
pub(crate) fn decode_frame(
    bytes: &[u8],
    max_payload: u32,
) -> Result<(RecordRef<'_>, usize), FrameError> {
    let header = bytes
        .get(..FRAME_HEADER_LEN)
        .ok_or(FrameError::Incomplete)?;
    if header[..4] != MARKER
        || read_u32(header, HEADER_CRC_AT) != crc32c::crc32c(&header[..HEADER_CRC_AT])
    {
        return Err(FrameError::BadHeader);
    }
    let payload_len = read_u32(header, 4);
    if payload_len > max_payload {
        return Err(FrameError::TooLarge);
    }
    let total = frame_len(payload_len as usize);
    let payload = bytes
        .get(FRAME_HEADER_LEN..total)
        .ok_or(FrameError::Incomplete)?;
    if read_u32(header, 33) != crc32c::crc32c(payload) {
        return Err(FrameError::BadPayload);
    }
    let record = RecordRef {
        lsn: read_u64(header, 8),
        stream: read_u64(header, 16),
        seq: read_u64(header, 24),
        kind: header[32],
        payload,
    };
    Ok((record, total))
}

/// The payload length a frame header claims, if the header is intact.
pub(crate) fn claimed_frame_len(header: &[u8]) -> Option<usize> {
    let header = header.get(..FRAME_HEADER_LEN)?;
    let intact = header[..4] == MARKER
        && read_u32(header, HEADER_CRC_AT) == crc32c::crc32c(&header[..HEADER_CRC_AT]);
    intact.then(|| frame_len(read_u32(header, 4) as usize))
}

/// Reads a little-endian u32 at `at`; callers have checked the length.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Reads a little-endian u64 at `at`; callers have checked the length.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let record = RecordRef {
            lsn: 7,
            stream: 42,
            seq: 3,
            kind: 2,
            payload,
        };
        encode_frame(&mut out, &record);
        out
    }

    #[test]
    fn a_frame_decodes_to_what_was_encoded() {
        let bytes = sample(b"hello");
        let (record, len) = decode_frame(&bytes, 1024).expect("valid frame");
        assert_eq!(len, FRAME_HEADER_LEN + 5);
        assert_eq!(
            (record.lsn, record.stream, record.seq, record.kind),
            (7, 42, 3, 2)
        );
        assert_eq!(record.payload, b"hello");
        assert_eq!(claimed_frame_len(&bytes), Some(len));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = sample(b"a payload of some length");
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                assert!(decode_frame(&damaged, 1024).is_err(), "byte {at} bit {bit}");
            }
        }
    }

    #[test]
    fn a_cut_frame_is_incomplete() {
        let bytes = sample(b"payload");
        assert_eq!(
            decode_frame(&bytes[..10], 1024),
            Err(FrameError::Incomplete)
        );
        assert_eq!(
            decode_frame(&bytes[..bytes.len() - 1], 1024),
            Err(FrameError::Incomplete)
        );
    }

    #[test]
    fn a_payload_over_the_limit_is_refused_before_hashing() {
        let bytes = sample(&[0u8; 100]);
        assert_eq!(decode_frame(&bytes, 99), Err(FrameError::TooLarge));
    }
}
