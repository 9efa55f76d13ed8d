//! Opening a data directory: finish or undo an interrupted compaction, scan every
//! segment in LSN order, cut a torn tail, and hand each valid record to the caller.
//!
//! A record is served only if its frame is intact and its LSN lies in its segment's
//! range and above every LSN served before it, so no record is served twice and
//! damage never turns into a wrong record.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::{Catalog, CheckpointTrack, Location, Publication, SegmentEntry};
use crate::config::StoreConfig;
use crate::damage::{Damage, DamageCause};
use crate::dir::{list_dir, remove_files, sync_dir, LsnFloor};
use crate::error::{FileError, OpenError};
use crate::format::scan::{scan_segment, ScanItem};
use crate::format::segment::{HeaderError, SegmentSpan, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use crate::record::RecordRef;
use crate::segment_file::open_for_reading;
use crate::writer::active::ActiveSegment;

/// What recovery found when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files scanned.
    pub segments: usize,
    /// Valid records handed to the caller.
    pub records: u64,
    /// Bytes of those records' frames.
    pub record_bytes: u64,
    /// The partial record cut off the end of the last segment, if any.
    pub torn_tail: Option<TornTail>,
    /// Damaged spans that were skipped (never served).
    pub corruptions: Vec<Damage>,
    /// Leftovers of an interrupted compaction that were deleted: half-written
    /// outputs, and inputs an installed output had already replaced.
    pub removed_files: Vec<PathBuf>,
    /// The LSN the next appended record gets.
    pub next_lsn: u64,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// A partial record at the end of the log, cut off at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Its new length (where the partial record started).
    pub offset: u64,
    /// Bytes cut off.
    pub discarded_bytes: u64,
}

/// Everything the store needs from recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub catalog: Catalog,
    pub report: RecoveryReport,
    pub active: ActiveSegment,
    pub floor: LsnFloor,
    pub next_lsn: u64,
}

/// Recovers the directory (already locked).
pub(crate) fn recover(
    dir: &Path,
    config: &StoreConfig,
    ids: &AtomicU32,
    on_record: &mut dyn FnMut(RecordRef<'_>),
) -> Result<Recovered, OpenError> {
    let started = Instant::now();
    let listing = list_dir(dir)?;
    let (kept, superseded) = resolve_segments(listing.segments);
    let mut removed = listing.temporaries;
    removed.extend(superseded);
    remove_files(dir, &removed)?;
    let (mut floor, floor_found) = LsnFloor::open(dir)?;

    let mut scanner = Scanner {
        config,
        catalog: Catalog::default(),
        report: RecoveryReport {
            segments: kept.len(),
            records: 0,
            record_bytes: 0,
            torn_tail: None,
            corruptions: Vec::new(),
            removed_files: removed,
            next_lsn: 0,
            elapsed: Duration::ZERO,
        },
        last_lsn: 0,
        on_record,
    };
    let mut appendable = None;
    for (i, (span, path)) in kept.iter().enumerate() {
        let next_first = kept.get(i + 1).map(|(next, _)| next.first_lsn());
        let is_last = next_first.is_none();
        let id = ids.fetch_add(1, Ordering::Relaxed);
        appendable = scanner.segment(id, *span, path, next_first, is_last)?;
    }

    let highest_named = kept
        .iter()
        .map(|(span, _)| span_end_hint(span))
        .max()
        .unwrap_or(0);
    let mut next_lsn = (scanner.last_lsn + 1)
        .max(floor_found.unwrap_or(0))
        .max(highest_named)
        .max(1);
    let active = match appendable {
        Some(active) => active,
        None => {
            next_lsn = next_lsn.max(kept.last().map_or(0, |(s, _)| s.first_lsn() + 1));
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let (active, entry) =
                ActiveSegment::create(dir, id, next_lsn, config.checkpoint_interval_bytes)?;
            scanner.catalog.add_active(entry);
            active
        }
    };
    floor
        .raise(next_lsn + config.lsn_reservation_block)
        .map_err(FileError::at("raise lsn floor", floor.path().to_path_buf()))?;

    let mut report = scanner.report;
    report.next_lsn = next_lsn;
    report.elapsed = started.elapsed();
    Ok(Recovered {
        catalog: scanner.catalog,
        report,
        active,
        floor,
        next_lsn,
    })
}

/// The lowest LSN a segment's name promises is not below the next LSN.
fn span_end_hint(span: &SegmentSpan) -> u64 {
    match *span {
        SegmentSpan::Log { first_lsn } => first_lsn,
        SegmentSpan::Compacted { end_lsn, .. } => end_lsn,
    }
}

/// Splits the segments into those to read, in LSN order, and those an installed
/// compaction output replaced (an output supersedes every other segment whose
/// first LSN lies in its range).
pub(crate) fn resolve_segments(
    mut segments: Vec<(SegmentSpan, PathBuf)>,
) -> (Vec<(SegmentSpan, PathBuf)>, Vec<PathBuf>) {
    // Same first LSN: the widest compaction output first, plain log segments last.
    segments.sort_by_key(|(span, _)| match *span {
        SegmentSpan::Compacted { first_lsn, end_lsn } => (first_lsn, 0, u64::MAX - end_lsn),
        SegmentSpan::Log { first_lsn } => (first_lsn, 1, 0),
    });
    let mut kept = Vec::new();
    let mut superseded = Vec::new();
    let mut covered_until = 0;
    for (span, path) in segments {
        if span.first_lsn() < covered_until {
            superseded.push(path);
            continue;
        }
        if let SegmentSpan::Compacted { end_lsn, .. } = span {
            covered_until = end_lsn;
        }
        kept.push((span, path));
    }
    (kept, superseded)
}

struct Scanner<'a> {
    config: &'a StoreConfig,
    catalog: Catalog,
    report: RecoveryReport,
    last_lsn: u64,
    on_record: &'a mut dyn FnMut(RecordRef<'_>),
}

impl Scanner<'_> {
    /// Recovers one segment; returns it as the writer's segment when it is the last
    /// one, a log segment, and its header is intact.
    fn segment(
        &mut self,
        id: u32,
        span: SegmentSpan,
        path: &Path,
        next_first: Option<u64>,
        is_last: bool,
    ) -> Result<Option<ActiveSegment>, OpenError> {
        let bytes = std::fs::read(path).map_err(FileError::at("read segment", path))?;
        let (header, scan) = scan_segment(&bytes, self.config.max_payload_bytes);
        let header_ok = self.check_header(header, span, path, bytes.len())?;
        if !header_ok && bytes.len() <= SEGMENT_HEADER_LEN && is_last {
            // Created but never given a whole header: a torn creation, not data.
            self.report.torn_tail = Some(TornTail {
                file: path.to_path_buf(),
                offset: 0,
                discarded_bytes: bytes.len() as u64,
            });
            self.report.corruptions.pop();
            std::fs::remove_file(path).map_err(FileError::at("delete torn segment", path))?;
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            return Ok(None);
        }
        let range = (span.first_lsn(), range_end(span, next_first));
        let mut publication = Publication {
            segment: id,
            ..Publication::default()
        };
        let mut checkpoints = CheckpointTrack::new(self.config.checkpoint_interval_bytes);
        let mut tail_at = None;
        for item in scan {
            match item {
                ScanItem::Record {
                    offset,
                    len,
                    record,
                } => {
                    self.record(
                        path,
                        offset,
                        len,
                        record,
                        range,
                        &mut publication,
                        &mut checkpoints,
                    );
                }
                ScanItem::Damaged { offset, len } => {
                    self.damage(path, offset, len, DamageCause::Record)
                }
                ScanItem::Tail { offset, len } => tail_at = Some((offset, len)),
            }
        }
        let appendable = is_last && header_ok && matches!(span, SegmentSpan::Log { .. });
        let mut good_len = bytes.len() as u64;
        if let Some((offset, len)) = tail_at {
            if appendable {
                self.cut_tail(path, offset, len)?;
                good_len = offset as u64;
            } else {
                self.damage(path, offset, len, DamageCause::Truncated);
            }
        }
        self.enter(id, span, path, good_len, publication, !appendable)?;
        if !appendable {
            return Ok(None);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(FileError::at("open segment", path))?;
        Ok(Some(ActiveSegment {
            id,
            path: path.to_path_buf(),
            file,
            good_len,
            dirty: false,
            checkpoints,
        }))
    }

    /// Reports a bad header (and refuses a future format); true when intact.
    fn check_header(
        &mut self,
        header: Result<SegmentSpan, HeaderError>,
        span: SegmentSpan,
        path: &Path,
        file_len: usize,
    ) -> Result<bool, OpenError> {
        match header {
            Ok(found) if found == span => return Ok(true),
            Err(HeaderError::UnsupportedVersion(version)) => {
                return Err(OpenError::UnsupportedVersion {
                    file: path.to_path_buf(),
                    version,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(_) | Err(HeaderError::Damaged) | Err(HeaderError::Short) => {}
        }
        self.damage(
            path,
            0,
            file_len.min(SEGMENT_HEADER_LEN),
            DamageCause::Header,
        );
        Ok(false)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one scan item and the segment's running state"
    )]
    fn record(
        &mut self,
        path: &Path,
        offset: usize,
        len: usize,
        record: RecordRef<'_>,
        (first, end): (u64, u64),
        publication: &mut Publication,
        checkpoints: &mut CheckpointTrack,
    ) {
        if record.lsn < first || record.lsn >= end || record.lsn <= self.last_lsn {
            self.damage(path, offset, len, DamageCause::OutOfOrder);
            return;
        }
        self.last_lsn = record.lsn;
        self.report.records += 1;
        self.report.record_bytes += len as u64;
        let location = Location {
            seq: record.seq,
            segment: publication.segment,
            offset: offset as u32,
        };
        publication.locations.push((record.stream, location));
        publication
            .checkpoints
            .extend(checkpoints.offer(record.lsn, offset as u64));
        (self.on_record)(record);
    }

    fn damage(&mut self, path: &Path, offset: usize, len: usize, cause: DamageCause) {
        self.report.corruptions.push(Damage {
            file: path.to_path_buf(),
            offset: offset as u64,
            len: len as u64,
            cause,
        });
    }

    fn cut_tail(&mut self, path: &Path, offset: usize, len: usize) -> Result<(), FileError> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(FileError::at("open segment", path))?;
        file.set_len(offset as u64)
            .and_then(|()| file.sync_data())
            .map_err(FileError::at("cut torn tail", path))?;
        self.report.torn_tail = Some(TornTail {
            file: path.to_path_buf(),
            offset: offset as u64,
            discarded_bytes: len as u64,
        });
        Ok(())
    }

    fn enter(
        &mut self,
        id: u32,
        span: SegmentSpan,
        path: &Path,
        readable_len: u64,
        mut publication: Publication,
        sealed: bool,
    ) -> Result<(), FileError> {
        let file = open_for_reading(path).map_err(FileError::at("open segment", path))?;
        self.catalog.segments.push(SegmentEntry {
            id,
            span,
            path: path.to_path_buf(),
            file: Arc::new(file),
            readable_len,
            checkpoints: Vec::new(),
            sealed,
        });
        publication.readable_len = readable_len;
        self.catalog.publish(&mut publication);
        Ok(())
    }
}

/// One past the highest LSN a segment may hold.
fn range_end(span: SegmentSpan, next_first: Option<u64>) -> u64 {
    let next = next_first.unwrap_or(u64::MAX);
    match span {
        SegmentSpan::Log { .. } => next,
        SegmentSpan::Compacted { end_lsn, .. } => end_lsn.min(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(first_lsn: u64) -> (SegmentSpan, PathBuf) {
        let span = SegmentSpan::Log { first_lsn };
        (span, PathBuf::from(span.file_name()))
    }

    fn compacted(first_lsn: u64, end_lsn: u64) -> (SegmentSpan, PathBuf) {
        let span = SegmentSpan::Compacted { first_lsn, end_lsn };
        (span, PathBuf::from(span.file_name()))
    }

    #[test]
    fn an_installed_output_supersedes_its_inputs() {
        let all = vec![
            log(300),
            compacted(1, 300),
            log(1),
            log(100),
            compacted(1, 100),
            log(200),
        ];
        let (kept, superseded) = resolve_segments(all);
        assert_eq!(kept, vec![compacted(1, 300), log(300)]);
        let mut superseded = superseded;
        superseded.sort();
        let mut expected = vec![log(1).1, log(100).1, log(200).1, compacted(1, 100).1];
        expected.sort();
        assert_eq!(superseded, expected);
    }
}
