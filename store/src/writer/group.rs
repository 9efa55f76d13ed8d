//! One group commit: encode every batch, one write, one fdatasync, publish, complete.
//!
//! On a failure nothing of the group stays visible: the segment is cut back to the
//! end of the last good group before anything else is written, the group's batches
//! complete with the error, and their handles are halted until the caller resumes.

use std::sync::Arc;
use std::time::Instant;

use crate::appender::{Batch, HandleShared};
use crate::catalog::{CheckpointTrack, Location, Publication};
use crate::config::SyncMode;
use crate::error::WriteError;
use crate::format::frame::encode_frame;
use crate::format::segment::SEGMENT_HEADER_LEN;
use crate::record::{LsnRange, RecordRef};
use crate::stats::WriterCounters;
use crate::writer::active::ActiveSegment;
use crate::writer::{Unsynced, Writer};

/// A group that reached the file (write returned) but is not committed yet.
struct Written {
    ranges: Vec<LsnRange>,
    publication: Publication,
    checkpoints: CheckpointTrack,
    end: u64,
    last_lsn: u64,
}

impl Writer {
    /// Commits one group and posts its completions.
    pub(super) fn commit_group(&mut self, group: Vec<Batch>) {
        let mut woken: Vec<Arc<HandleShared>> = Vec::new();
        let mut live = Vec::with_capacity(group.len());
        for batch in group {
            remember(&mut woken, &batch.handle);
            if batch.handle.is_halted(batch.epoch) {
                WriterCounters::add(&self.shared.counters.batches_failed, 1);
                batch.complete(Err(WriteError::Halted));
            } else {
                live.push(batch);
            }
        }
        if !live.is_empty() {
            match self
                .write_group(&live)
                .and_then(|written| self.commit(written))
            {
                Ok(ranges) => {
                    self.count_written(&live);
                    self.shared.health.ok();
                    self.backoff.succeeded();
                    for (batch, range) in live.into_iter().zip(ranges) {
                        batch.complete(Ok(range));
                    }
                }
                Err(error) => self.fail(live, &error),
            }
        }
        for handle in woken {
            handle.wake();
        }
    }

    fn count_written(&self, batches: &[Batch]) {
        let counters = &self.shared.counters;
        let records = batches.iter().map(|b| b.records.len() as u64).sum();
        let bytes = batches.iter().map(|b| b.frame_bytes as u64).sum();
        WriterCounters::add(&counters.groups, 1);
        WriterCounters::add(&counters.batches_written, batches.len() as u64);
        WriterCounters::add(&counters.records_written, records);
        WriterCounters::add(&counters.bytes_written, bytes);
    }

    /// Encodes and writes the group after the segment's good end.
    fn write_group(&mut self, batches: &[Batch]) -> Result<Written, WriteError> {
        self.active
            .repair()
            .map_err(|e| self.io_error("cut back a failed write to", &e))?;
        let limit = SEGMENT_HEADER_LEN as u64 + u64::from(self.shared.config.segment_bytes);
        if self.active.good_len >= limit {
            self.roll()?;
        }
        let records: usize = batches.iter().map(|b| b.records.len()).sum();
        self.reserve(records as u64)?;
        let written = self.encode(batches);
        self.active
            .write(&self.buffer)
            .map_err(|e| self.io_error("write", &e))?;
        Ok(written)
    }

    fn encode(&mut self, batches: &[Batch]) -> Written {
        self.buffer.clear();
        let base = self.active.good_len;
        let mut checkpoints = self.active.checkpoints;
        let mut publication = Publication {
            segment: self.active.id,
            ..Publication::default()
        };
        let mut ranges = Vec::with_capacity(batches.len());
        for batch in batches {
            let first = self.next_lsn;
            for record in &batch.records {
                let offset = base + self.buffer.len() as u64;
                let lsn = self.next_lsn;
                encode_frame(&mut self.buffer, &as_ref(lsn, record));
                let location = Location {
                    seq: record.seq,
                    segment: self.active.id,
                    offset: offset as u32,
                };
                publication.locations.push((record.stream, location));
                publication
                    .checkpoints
                    .extend(checkpoints.offer(lsn, offset));
                self.next_lsn += 1;
            }
            ranges.push(LsnRange {
                first,
                last: self.next_lsn - 1,
            });
        }
        let end = base + self.buffer.len() as u64;
        publication.readable_len = end;
        Written {
            ranges,
            publication,
            checkpoints,
            end,
            last_lsn: self.next_lsn - 1,
        }
    }

    /// Sync mode: fdatasync, then publish. Async mode: keep it for the next sync.
    fn commit(&mut self, written: Written) -> Result<Vec<LsnRange>, WriteError> {
        if self.sync_mode() == SyncMode::Sync {
            WriterCounters::add(&self.shared.counters.syncs, 1);
            self.active
                .sync()
                .map_err(|e| self.io_error("fdatasync", &e))?;
        }
        self.active.good_len = written.end;
        self.active.checkpoints = written.checkpoints;
        match self.sync_mode() {
            SyncMode::Sync => self.publish(written.publication, written.last_lsn),
            SyncMode::Async => self.defer_sync(written.publication, written.last_lsn),
        }
        Ok(written.ranges)
    }

    fn defer_sync(&mut self, mut publication: Publication, last_lsn: u64) {
        match &mut self.unsynced {
            Some(unsynced) => {
                unsynced.publication.readable_len = publication.readable_len;
                unsynced
                    .publication
                    .locations
                    .append(&mut publication.locations);
                unsynced
                    .publication
                    .checkpoints
                    .append(&mut publication.checkpoints);
                unsynced.last_lsn = last_lsn;
            }
            None => {
                self.unsynced = Some(Unsynced {
                    since: Instant::now(),
                    publication,
                    last_lsn,
                });
            }
        }
    }

    /// Completes every batch with the error, halts their handles, and tries at once
    /// to cut the failed bytes off (again before the next write if this fails).
    fn fail(&mut self, batches: Vec<Batch>, error: &WriteError) {
        self.shared.health.failed(error);
        self.backoff.failed();
        let _ = self.active.repair();
        WriterCounters::add(&self.shared.counters.batches_failed, batches.len() as u64);
        for batch in batches {
            batch.handle.halt(batch.epoch);
            batch.complete(Err(error.clone()));
        }
    }

    /// Makes sure LSNs up to `next_lsn + records` are below the floor on disk.
    fn reserve(&mut self, records: u64) -> Result<(), WriteError> {
        let needed = self.next_lsn + records;
        if needed <= self.floor.floor() {
            return Ok(());
        }
        self.floor
            .raise(needed + self.shared.config.lsn_reservation_block)
            .map_err(|e| WriteError::from_io("raise lsn floor", &e))
    }

    /// Seals the full segment and starts the next one.
    fn roll(&mut self) -> Result<(), WriteError> {
        self.sync_unsynced()?;
        let shared = Arc::clone(&self.shared);
        let id = shared
            .segment_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let interval = shared.config.checkpoint_interval_bytes;
        let (active, entry) = ActiveSegment::create(&shared.dir, id, self.next_lsn, interval)
            .map_err(|e| WriteError::from_io(e.action, &e.source))?;
        shared.catalog_mut().add_active(entry);
        self.active = active;
        Ok(())
    }

    /// Classifies an error on the active segment, naming the file.
    fn io_error(&self, action: &str, error: &std::io::Error) -> WriteError {
        WriteError::from_io(&format!("{action} {}", self.active.path.display()), error)
    }

    /// Async mode: fdatasync what was written and publish it.
    pub(super) fn sync_unsynced(&mut self) -> Result<(), WriteError> {
        let Some(unsynced) = self.unsynced.take() else {
            return Ok(());
        };
        WriterCounters::add(&self.shared.counters.syncs, 1);
        if let Err(e) = self.active.file.sync_data() {
            let error = self.io_error("fdatasync", &e);
            self.unsynced = Some(unsynced);
            return Err(error);
        }
        self.publish(unsynced.publication, unsynced.last_lsn);
        self.shared.health.ok();
        Ok(())
    }
}

fn as_ref(lsn: u64, record: &crate::record::NewRecord) -> RecordRef<'_> {
    RecordRef {
        lsn,
        stream: record.stream,
        seq: record.seq,
        kind: record.kind,
        payload: &record.payload,
    }
}

fn remember(handles: &mut Vec<Arc<HandleShared>>, handle: &Arc<HandleShared>) {
    if !handles.iter().any(|h| Arc::ptr_eq(h, handle)) {
        handles.push(Arc::clone(handle));
    }
}
