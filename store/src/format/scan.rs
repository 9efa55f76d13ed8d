//! Walking the records of a segment's bytes, resynchronising after damage.
//!
//! The scan is a pure function of the bytes, so recovery, compaction, the fuzz target
//! and the property tests share it. It yields every valid frame, and every damaged
//! span with its offset; a damaged span with no valid frame after it is the tail.

use crate::format::frame::{decode_frame, MARKER};
use crate::format::segment::{decode_header, HeaderError, SegmentSpan, SEGMENT_HEADER_LEN};
use crate::record::RecordRef;

/// One step of a scan. Offsets are from the start of the file; the items of a scan
/// are contiguous and together cover every byte after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanItem<'a> {
    /// A valid record.
    Record {
        /// Where its frame starts.
        offset: usize,
        /// Its frame's length.
        len: usize,
        /// The record.
        record: RecordRef<'a>,
    },
    /// Bytes that are not a valid record, followed by a valid one.
    Damaged {
        /// Where the damage starts.
        offset: usize,
        /// How many bytes it spans.
        len: usize,
    },
    /// Bytes at the end of the file with no valid record in them.
    Tail {
        /// Where they start.
        offset: usize,
        /// How many bytes they span.
        len: usize,
    },
}

/// An iterator over the [`ScanItem`]s of a segment's bytes.
#[derive(Debug, Clone)]
pub struct SegmentScan<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_payload: u32,
}

/// Scans a whole segment file: its header, then its records.
///
/// Records are scanned even when the header is damaged, so a flipped header byte
/// loses no record.
pub fn scan_segment(
    bytes: &[u8],
    max_payload: u32,
) -> (Result<SegmentSpan, HeaderError>, SegmentScan<'_>) {
    (
        decode_header(bytes),
        scan_records(bytes, SEGMENT_HEADER_LEN, max_payload),
    )
}

/// Scans records from `start` to the end of `bytes`.
pub fn scan_records(bytes: &[u8], start: usize, max_payload: u32) -> SegmentScan<'_> {
    SegmentScan {
        bytes,
        pos: start.min(bytes.len()),
        max_payload,
    }
}

impl<'a> Iterator for SegmentScan<'a> {
    type Item = ScanItem<'a>;

    fn next(&mut self) -> Option<ScanItem<'a>> {
        let offset = self.pos;
        let rest = self.bytes.get(offset..).filter(|rest| !rest.is_empty())?;
        if let Ok((record, len)) = decode_frame(rest, self.max_payload) {
            self.pos += len;
            return Some(ScanItem::Record {
                offset,
                len,
                record,
            });
        }
        match self.next_valid_frame(offset + 1) {
            Some(next) => {
                self.pos = next;
                Some(ScanItem::Damaged {
                    offset,
                    len: next - offset,
                })
            }
            None => {
                self.pos = self.bytes.len();
                Some(ScanItem::Tail {
                    offset,
                    len: self.bytes.len() - offset,
                })
            }
        }
    }
}

impl SegmentScan<'_> {
    /// The offset of the first valid frame at or after `from`.
    fn next_valid_frame(&self, mut from: usize) -> Option<usize> {
        loop {
            let window = self.bytes.get(from..)?;
            let found = window.windows(MARKER.len()).position(|w| w == MARKER)?;
            let candidate = from + found;
            if decode_frame(&self.bytes[candidate..], self.max_payload).is_ok() {
                return Some(candidate);
            }
            from = candidate + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::frame::encode_frame;
    use crate::format::segment::encode_header;

    fn segment(payloads: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = encode_header(SegmentSpan::Log { first_lsn: 1 }).to_vec();
        let mut offsets = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            offsets.push(bytes.len());
            let record = RecordRef {
                lsn: i as u64 + 1,
                stream: 1,
                seq: i as u64,
                kind: 0,
                payload,
            };
            encode_frame(&mut bytes, &record);
        }
        (bytes, offsets)
    }

    fn lsns(items: &[ScanItem<'_>]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|item| match item {
                ScanItem::Record { record, .. } => Some(record.lsn),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_clean_segment_yields_its_records() {
        let (bytes, _) = segment(&[b"a", b"bb", b"ccc"]);
        let (header, scan) = scan_segment(&bytes, 64);
        assert_eq!(header, Ok(SegmentSpan::Log { first_lsn: 1 }));
        let items: Vec<_> = scan.collect();
        assert_eq!(lsns(&items), vec![1, 2, 3]);
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn damage_in_the_middle_is_skipped_and_located() {
        let (mut bytes, offsets) = segment(&[b"first", b"second", b"third"]);
        bytes[offsets[1] + 45] ^= 0xff;
        let items: Vec<_> = scan_segment(&bytes, 64).1.collect();
        assert_eq!(lsns(&items), vec![1, 3]);
        assert!(items.contains(&ScanItem::Damaged {
            offset: offsets[1],
            len: offsets[2] - offsets[1],
        }));
    }

    #[test]
    fn a_torn_last_record_is_the_tail() {
        let (bytes, offsets) = segment(&[b"first", b"second"]);
        let cut = &bytes[..bytes.len() - 3];
        let items: Vec<_> = scan_segment(cut, 64).1.collect();
        assert_eq!(lsns(&items), vec![1]);
        assert_eq!(
            items.last(),
            Some(&ScanItem::Tail {
                offset: offsets[1],
                len: cut.len() - offsets[1],
            })
        );
    }

    #[test]
    fn a_damaged_header_still_yields_the_records() {
        let (mut bytes, _) = segment(&[b"x", b"y"]);
        bytes[2] ^= 1;
        let (header, scan) = scan_segment(&bytes, 64);
        assert_eq!(header, Err(HeaderError::Damaged));
        assert_eq!(lsns(&scan.collect::<Vec<_>>()), vec![1, 2]);
    }
}
