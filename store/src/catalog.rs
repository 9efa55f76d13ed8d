//! What readers may see: the segments with their durable lengths, and the stream index.
//!
//! The writer publishes into it only what is durable, so a reader that consults it
//! never meets a record that could still vanish. Readers copy what they need out of
//! it under a short read lock and do their file I/O after releasing it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::segment::{SegmentSpan, SEGMENT_HEADER_LEN};

/// Where one record of a stream is (16 bytes per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    /// The record's per-stream ordering key.
    pub seq: u64,
    /// The segment's id in this catalog.
    pub segment: u32,
    /// The frame's offset in the segment.
    pub offset: u32,
}

/// A stream's records in LSN order.
#[derive(Debug, Default)]
pub(crate) struct StreamIndex {
    /// Every durable record of the stream.
    pub locations: Vec<Location>,
    /// Whether `seq` never decreases along `locations` (then a binary search works).
    pub seq_sorted: bool,
}

impl StreamIndex {
    fn push(&mut self, location: Location) {
        let sorted_after = self
            .locations
            .last()
            .is_none_or(|last| last.seq <= location.seq);
        self.seq_sorted = (self.seq_sorted || self.locations.is_empty()) && sorted_after;
        self.locations.push(location);
    }

    fn recompute_sorted(&mut self) {
        self.seq_sorted = self.locations.windows(2).all(|w| w[0].seq <= w[1].seq);
    }
}

/// An (LSN, offset) pair a log-order read can start scanning from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The LSN of the record at `offset`.
    pub lsn: u64,
    /// The frame's offset.
    pub offset: u32,
}

/// Decides which records of a segment get a checkpoint: one per interval of bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointTrack {
    interval: u64,
    next_at: u64,
}

impl CheckpointTrack {
    /// A track for a segment with no record yet.
    pub fn new(interval_bytes: u32) -> Self {
        Self {
            interval: u64::from(interval_bytes),
            next_at: 0,
        }
    }

    /// The checkpoint for the record at `offset`, if it is due one.
    pub fn offer(&mut self, lsn: u64, offset: u64) -> Option<Checkpoint> {
        if offset < self.next_at {
            return None;
        }
        self.next_at = offset + self.interval;
        Some(Checkpoint {
            lsn,
            offset: offset as u32,
        })
    }
}

/// One segment file as readers see it.
#[derive(Debug)]
pub(crate) struct SegmentEntry {
    /// The id locations refer to (not stored on disk).
    pub id: u32,
    /// Which LSNs it covers.
    pub span: SegmentSpan,
    /// Its path.
    pub path: PathBuf,
    /// A read-only handle; it stays readable after a compaction deletes the file.
    pub file: Arc<File>,
    /// Bytes readers may read: everything up to here is durable.
    pub readable_len: u64,
    /// Sparse checkpoints for log-order reads, by increasing LSN.
    pub checkpoints: Vec<Checkpoint>,
    /// False only for the segment the writer appends to.
    pub sealed: bool,
}

impl SegmentEntry {
    /// Where a log-order read looking for `lsn` should start scanning.
    pub fn scan_start(&self, lsn: u64) -> u64 {
        let before = self.checkpoints.partition_point(|c| c.lsn <= lsn);
        match before {
            0 => SEGMENT_HEADER_LEN as u64,
            n => u64::from(self.checkpoints[n - 1].offset),
        }
    }
}

/// New durable records of one segment, handed over by the writer or recovery.
#[derive(Debug, Default)]
pub(crate) struct Publication {
    /// The segment they are in.
    pub segment: u32,
    /// Its new durable length.
    pub readable_len: u64,
    /// (stream, location) of each new record, in LSN order.
    pub locations: Vec<(u64, Location)>,
    /// New checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

/// The shared picture of the log.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// Every live segment by increasing first LSN; the last one is the writer's.
    pub segments: Vec<SegmentEntry>,
    /// stream → its records.
    pub streams: HashMap<u64, StreamIndex>,
}

/// Size figures of the stream index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Streams with at least one record.
    pub streams: usize,
    /// Records indexed.
    pub records: u64,
    /// Heap bytes the index holds (allocated capacity, not just length).
    pub heap_bytes: u64,
}

impl Catalog {
    /// Makes a publication visible.
    pub fn publish(&mut self, publication: &mut Publication) {
        if let Some(segment) = self.segment_mut(publication.segment) {
            segment.readable_len = segment.readable_len.max(publication.readable_len);
            segment.checkpoints.append(&mut publication.checkpoints);
        }
        for (stream, location) in publication.locations.drain(..) {
            self.streams.entry(stream).or_default().push(location);
        }
    }

    /// Adds a new (writer) segment and seals the one before it.
    pub fn add_active(&mut self, entry: SegmentEntry) {
        if let Some(last) = self.segments.last_mut() {
            last.sealed = true;
        }
        self.segments.push(entry);
    }

    /// The segment with this id.
    pub fn segment(&self, id: u32) -> Option<&SegmentEntry> {
        self.segments.iter().find(|s| s.id == id)
    }

    fn segment_mut(&mut self, id: u32) -> Option<&mut SegmentEntry> {
        self.segments.iter_mut().find(|s| s.id == id)
    }

    /// Replaces compacted input segments by their outputs, in the segment list and
    /// in every stream's index. Inputs are always the oldest segments, so in each
    /// stream their locations are a prefix, replaced by the outputs' locations.
    pub fn replace_compacted(
        &mut self,
        inputs: &HashSet<u32>,
        outputs: Vec<SegmentEntry>,
        mut locations: HashMap<u64, Vec<Location>>,
    ) {
        self.segments.retain(|s| !inputs.contains(&s.id));
        self.segments.splice(0..0, outputs);
        self.streams.retain(|stream, index| {
            let old = index
                .locations
                .iter()
                .take_while(|l| inputs.contains(&l.segment))
                .count();
            let new = locations.remove(stream).unwrap_or_default();
            if old > 0 || !new.is_empty() {
                index.locations.splice(0..old, new);
                index.recompute_sorted();
            }
            !index.locations.is_empty()
        });
        for (stream, locations) in locations {
            let mut index = StreamIndex {
                locations,
                seq_sorted: false,
            };
            index.recompute_sorted();
            self.streams.insert(stream, index);
        }
    }

    /// Bytes in sealed log segments (not yet compacted).
    pub fn sealed_log_bytes(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.sealed && matches!(s.span, SegmentSpan::Log { .. }))
            .map(|s| s.readable_len)
            .sum()
    }

    /// Size figures of the stream index.
    pub fn index_stats(&self) -> IndexStats {
        let per_stream = std::mem::size_of::<(u64, StreamIndex)>() as u64 + 1;
        let mut stats = IndexStats {
            streams: self.streams.len(),
            records: 0,
            heap_bytes: self.streams.capacity() as u64 * per_stream,
        };
        for index in self.streams.values() {
            stats.records += index.locations.len() as u64;
            stats.heap_bytes +=
                (index.locations.capacity() * std::mem::size_of::<Location>()) as u64;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64, segment: u32) -> Location {
        Location {
            seq,
            segment,
            offset: 32,
        }
    }

    #[test]
    fn sortedness_follows_the_pushed_seqs() {
        let mut index = StreamIndex::default();
        index.push(at(1, 0));
        index.push(at(2, 0));
        assert!(index.seq_sorted);
        index.push(at(0, 0));
        assert!(!index.seq_sorted);
        index.push(at(9, 0));
        assert!(!index.seq_sorted, "once unsorted, stays unsorted");
    }

    #[test]
    fn compaction_replaces_the_prefix_and_drops_empty_streams() {
        let mut catalog = Catalog::default();
        let mut publication = Publication {
            locations: vec![(1, at(1, 0)), (2, at(1, 0)), (1, at(2, 1)), (1, at(3, 5))],
            ..Publication::default()
        };
        catalog.publish(&mut publication);
        let inputs = HashSet::from([0, 1]);
        let outputs = HashMap::from([(1, vec![at(2, 7)])]);
        catalog.replace_compacted(&inputs, Vec::new(), outputs);
        assert_eq!(catalog.streams[&1].locations, vec![at(2, 7), at(3, 5)]);
        assert!(
            !catalog.streams.contains_key(&2),
            "stream 2 was dropped whole"
        );
        assert_eq!(catalog.index_stats().records, 2);
    }
}
