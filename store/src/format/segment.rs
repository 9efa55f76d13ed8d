//! Segment files: their names and their 32-byte header.
//!
//! A log segment is named `{first_lsn:016x}.seg`: it holds records with LSNs from
//! `first_lsn` up to (not including) the next segment's first LSN. A compaction
//! output is named `{first_lsn:016x}-{end_lsn:016x}.seg` and replaces every segment
//! whose first LSN lies in `first_lsn..end_lsn`. Files being written end in `.tmp`.
//!
//! ```text
//! offset size field
//!      0    8 magic     "SBSTORE\0"
//!      8    2 version   u16 LE (FORMAT_VERSION)
//!     10    1 kind      0 = log, 1 = compacted
//!     11    1 reserved  0
//!     12    8 first_lsn u64 LE
//!     20    8 end_lsn   u64 LE (0 for a log segment)
//!     28    4 crc       CRC32C of bytes 0..28
//! ```

use crate::format::frame::{read_u32, read_u64};

/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;

const MAGIC: [u8; 8] = *b"SBSTORE\0";
const CRC_AT: usize = 28;

/// Which LSNs a segment file covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentSpan {
    /// A log segment from this LSN on, up to the next segment's first LSN.
    Log {
        /// Lowest LSN it may hold.
        first_lsn: u64,
    },
    /// A compaction output covering `first_lsn..end_lsn`.
    Compacted {
        /// Lowest LSN it may hold.
        first_lsn: u64,
        /// One past the highest LSN it may hold.
        end_lsn: u64,
    },
}

impl SegmentSpan {
    /// The lowest LSN the segment may hold.
    pub fn first_lsn(&self) -> u64 {
        match *self {
            Self::Log { first_lsn } | Self::Compacted { first_lsn, .. } => first_lsn,
        }
    }

    /// The file name of a finished segment.
    pub(crate) fn file_name(&self) -> String {
        match *self {
            Self::Log { first_lsn } => format!("{first_lsn:016x}.seg"),
            Self::Compacted { first_lsn, end_lsn } => {
                format!("{first_lsn:016x}-{end_lsn:016x}.seg")
            }
        }
    }

    /// Parses a finished segment's file name.
    pub(crate) fn from_file_name(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(".seg")?;
        match stem.split_once('-') {
            None => Some(Self::Log {
                first_lsn: parse_lsn(stem)?,
            }),
            Some((first, end)) => {
                let (first_lsn, end_lsn) = (parse_lsn(first)?, parse_lsn(end)?);
                (first_lsn < end_lsn).then_some(Self::Compacted { first_lsn, end_lsn })
            }
        }
    }
}

fn parse_lsn(hex: &str) -> Option<u64> {
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Why a segment header is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The file is shorter than a header.
    Short,
    /// Wrong magic or checksum: damaged.
    Damaged,
    /// Intact, but written by another format version.
    UnsupportedVersion(u16),
}

/// Encodes the header of a segment.
pub(crate) fn encode_header(span: SegmentSpan) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let (kind, first, end) = match span {
        SegmentSpan::Log { first_lsn } => (0, first_lsn, 0),
        SegmentSpan::Compacted { first_lsn, end_lsn } => (1, first_lsn, end_lsn),
    };
    out[10] = kind;
    out[12..20].copy_from_slice(&first.to_le_bytes());
    out[20..28].copy_from_slice(&end.to_le_bytes());
    let crc = crc32c::crc32c(&out[..CRC_AT]);
    out[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a segment header from the start of a file's bytes.
pub fn decode_header(bytes: &[u8]) -> Result<SegmentSpan, HeaderError> {
    let header = bytes.get(..SEGMENT_HEADER_LEN).ok_or(HeaderError::Short)?;
    if header[..8] != MAGIC || read_u32(header, CRC_AT) != crc32c::crc32c(&header[..CRC_AT]) {
        return Err(HeaderError::Damaged);
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let (first_lsn, end_lsn) = (read_u64(header, 12), read_u64(header, 20));
    match header[10] {
        0 => Ok(SegmentSpan::Log { first_lsn }),
        1 if first_lsn < end_lsn => Ok(SegmentSpan::Compacted { first_lsn, end_lsn }),
        _ => Err(HeaderError::Damaged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for span in [
            SegmentSpan::Log { first_lsn: 1 },
            SegmentSpan::Compacted {
                first_lsn: 1,
                end_lsn: 0xabc,
            },
        ] {
            assert_eq!(SegmentSpan::from_file_name(&span.file_name()), Some(span));
        }
        assert_eq!(SegmentSpan::from_file_name("LOCK"), None);
        assert_eq!(
            SegmentSpan::from_file_name("0000000000000001.seg.tmp"),
            None
        );
        assert_eq!(SegmentSpan::from_file_name("1.seg"), None);
        assert_eq!(
            SegmentSpan::from_file_name("0000000000000005-0000000000000005.seg"),
            None
        );
    }

    #[test]
    fn headers_round_trip_and_damage_is_seen() {
        let span = SegmentSpan::Compacted {
            first_lsn: 10,
            end_lsn: 20,
        };
        let header = encode_header(span);
        assert_eq!(decode_header(&header), Ok(span));
        assert_eq!(decode_header(&header[..31]), Err(HeaderError::Short));
        let mut damaged = header;
        damaged[15] ^= 4;
        assert_eq!(decode_header(&damaged), Err(HeaderError::Damaged));
    }

    #[test]
    fn a_future_version_is_named() {
        let mut header = encode_header(SegmentSpan::Log { first_lsn: 1 });
        header[8] = 9;
        let crc = crc32c::crc32c(&header[..CRC_AT]);
        header[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_header(&header),
            Err(HeaderError::UnsupportedVersion(9))
        );
    }
}
