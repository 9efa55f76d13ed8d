//! Reads for other threads than the writer: a stream's history, and the whole log
//! in order from a cursor.
//!
//! Both only ever return durable records: the stream index only holds published
//! records, and a log-order read stops at the durable watermark. Frames are checked
//! again when read, so damage that appeared after the store was opened is reported,
//! never served.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::catalog::{IndexStats, Location, SegmentEntry};
use crate::damage::{Damage, DamageCause};
use crate::error::{FileError, ReadError};
use crate::format::frame::{claimed_frame_len, decode_frame, FRAME_HEADER_LEN};
use crate::format::scan::{scan_records, ScanItem};
use crate::format::segment::SegmentSpan;
use crate::record::Record;
use crate::segment_file::read_span;
use crate::shared::Shared;

/// A page of one stream's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPage {
    /// Records with `seq > after_seq`, in LSN order.
    pub records: Vec<Record>,
    /// Whether more such records exist after this page.
    pub more: bool,
    /// Indexed records that failed their checksum when read (skipped).
    pub damaged: Vec<Damage>,
}

/// A page of the log in LSN order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// Records with `lsn >= from_lsn`, in LSN order, all durable.
    pub records: Vec<Record>,
    /// The cursor to pass next time: past every record returned, and past every LSN
    /// known not to exist; an archiver persists it to resume after a restart.
    pub next_lsn: u64,
    /// Damaged spans met on the way (skipped).
    pub damaged: Vec<Damage>,
}

/// A read handle; clone it into every thread that reads.
#[derive(Debug, Clone)]
pub struct StoreReader {
    shared: Arc<Shared>,
}

/// A segment as a read needs it, copied out of the catalog.
struct SegmentView {
    file: Arc<File>,
    path: PathBuf,
    first_lsn: u64,
    end_lsn: u64,
    start: u64,
    readable_len: u64,
}

impl StoreReader {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Every record with an LSN up to this one is durable; nothing above it is read.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// Size figures of the stream index (memory per record).
    pub fn index_stats(&self) -> IndexStats {
        self.shared.catalog().index_stats()
    }

    /// Up to `limit` records of `stream` with `seq > after_seq`, in LSN order.
    pub fn read_stream(
        &self,
        stream: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<StreamPage, ReadError> {
        let limit = limit.min(self.shared.config.max_read_records);
        let (locations, more) = self.locate(stream, after_seq, limit);
        let mut page = StreamPage {
            records: Vec::with_capacity(locations.len()),
            more,
            damaged: Vec::new(),
        };
        for (file, path, offset) in locations {
            match self.read_at(&file, &path, offset)? {
                Some(record) if record.stream == stream => page.records.push(record),
                _ => page.damaged.push(damage_at(path, offset)),
            }
        }
        Ok(page)
    }

    /// Up to `limit` durable records with `lsn >= from_lsn`, in LSN order.
    pub fn read_from(&self, from_lsn: u64, limit: usize) -> Result<LogPage, ReadError> {
        let limit = limit.min(self.shared.config.max_read_records);
        let durable = self.durable_lsn();
        let mut page = LogPage {
            records: Vec::new(),
            next_lsn: from_lsn,
            damaged: Vec::new(),
        };
        for segment in self.segments_from(from_lsn) {
            if page.records.len() >= limit {
                return Ok(page);
            }
            self.scan_segment(&segment, from_lsn, durable, limit, &mut page)?;
        }
        if page.records.len() < limit {
            page.next_lsn = page.next_lsn.max(durable + 1);
        }
        Ok(page)
    }

    /// The locations to read for a stream page (copied, so no lock is held during I/O).
    fn locate(
        &self,
        stream: u64,
        after_seq: u64,
        limit: usize,
    ) -> (Vec<(Arc<File>, PathBuf, u64)>, bool) {
        let catalog = self.shared.catalog();
        let Some(index) = catalog.streams.get(&stream) else {
            return (Vec::new(), false);
        };
        let all = &index.locations;
        let wanted: Vec<&Location> = if index.seq_sorted {
            let start = all.partition_point(|l| l.seq <= after_seq);
            all[start..].iter().take(limit + 1).collect()
        } else {
            all.iter()
                .filter(|l| l.seq > after_seq)
                .take(limit + 1)
                .collect()
        };
        let more = wanted.len() > limit;
        let mut out = Vec::with_capacity(wanted.len().min(limit));
        for location in wanted.into_iter().take(limit) {
            if let Some(segment) = catalog.segment(location.segment) {
                out.push((
                    Arc::clone(&segment.file),
                    segment.path.clone(),
                    u64::from(location.offset),
                ));
            }
        }
        (out, more)
    }

    /// Reads and checks the frame at `offset`; `None` if it is damaged.
    fn read_at(&self, file: &File, path: &Path, offset: u64) -> Result<Option<Record>, ReadError> {
        let io = |e| ReadError::from(FileError::at("read segment", path)(e));
        let header = read_span(file, offset, FRAME_HEADER_LEN).map_err(io)?;
        let Some(len) = claimed_frame_len(&header) else {
            return Ok(None);
        };
        let frame = read_span(file, offset, len).map_err(io)?;
        Ok(decode_frame(&frame, self.shared.config.max_payload_bytes)
            .ok()
            .map(|(record, _)| record.to_owned()))
    }

    /// The segments that may hold LSNs at or above `from_lsn`, in order.
    fn segments_from(&self, from_lsn: u64) -> Vec<SegmentView> {
        let catalog = self.shared.catalog();
        let segments = &catalog.segments;
        let first = segments
            .partition_point(|s| s.span.first_lsn() <= from_lsn)
            .saturating_sub(1);
        (first..segments.len())
            .map(|i| view(&segments[i], segments.get(i + 1), from_lsn))
            .collect()
    }

    /// Adds the records of one segment to the page, chunk by chunk.
    fn scan_segment(
        &self,
        segment: &SegmentView,
        from_lsn: u64,
        durable: u64,
        limit: usize,
        page: &mut LogPage,
    ) -> Result<(), ReadError> {
        let chunk_len = self.shared.config.read_chunk_bytes;
        let max_frame = FRAME_HEADER_LEN + self.shared.config.max_payload_bytes as usize;
        let mut offset = segment.start;
        let mut last_lsn = segment.first_lsn.saturating_sub(1);
        while offset < segment.readable_len {
            let len = chunk_len.min((segment.readable_len - offset) as usize);
            let chunk = read_span(&segment.file, offset, len).map_err(|e| {
                ReadError::from(FileError::at("read segment", segment.path.clone())(e))
            })?;
            let at_end = offset + chunk.len() as u64 >= segment.readable_len;
            let mut resume = offset + chunk.len() as u64;
            for item in scan_records(&chunk, 0, self.shared.config.max_payload_bytes) {
                match item {
                    ScanItem::Record { record, .. } => {
                        let lsn = record.lsn;
                        if lsn > durable || lsn >= segment.end_lsn {
                            return Ok(());
                        }
                        if lsn <= last_lsn {
                            continue;
                        }
                        last_lsn = lsn;
                        if lsn >= from_lsn {
                            page.records.push(record.to_owned());
                            page.next_lsn = lsn + 1;
                            if page.records.len() >= limit {
                                return Ok(());
                            }
                        }
                    }
                    ScanItem::Damaged { offset: at, len } => {
                        page.damaged
                            .push(damage(&segment.path, offset + at as u64, len as u64));
                    }
                    ScanItem::Tail { offset: at, len } => {
                        if at_end {
                            page.damaged.push(damage(
                                &segment.path,
                                offset + at as u64,
                                len as u64,
                            ));
                        } else if at > 0 {
                            resume = offset + at as u64;
                        } else {
                            // No frame starts in the first bytes of a whole chunk; any
                            // frame that does start in it runs past its end.
                            let skip = (chunk.len() + 1).saturating_sub(max_frame).max(1);
                            page.damaged
                                .push(damage(&segment.path, offset, skip as u64));
                            resume = offset + skip as u64;
                        }
                    }
                }
            }
            offset = resume;
        }
        Ok(())
    }
}

fn view(segment: &SegmentEntry, next: Option<&SegmentEntry>, from_lsn: u64) -> SegmentView {
    let next_first = next.map_or(u64::MAX, |n| n.span.first_lsn());
    let end_lsn = match segment.span {
        SegmentSpan::Log { .. } => next_first,
        SegmentSpan::Compacted { end_lsn, .. } => end_lsn.min(next_first),
    };
    SegmentView {
        file: Arc::clone(&segment.file),
        path: segment.path.clone(),
        first_lsn: segment.span.first_lsn(),
        end_lsn,
        start: segment.scan_start(from_lsn),
        readable_len: segment.readable_len,
    }
}

fn damage(path: &Path, offset: u64, len: u64) -> Damage {
    Damage {
        file: path.to_path_buf(),
        offset,
        len,
        cause: DamageCause::Record,
    }
}

fn damage_at(path: PathBuf, offset: u64) -> Damage {
    Damage {
        file: path,
        offset,
        len: FRAME_HEADER_LEN as u64,
        cause: DamageCause::Record,
    }
}
