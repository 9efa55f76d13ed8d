//! The segment the writer appends to, and how it gets back to a clean end after a
//! failed write or sync.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{CheckpointTrack, SegmentEntry};
use crate::dir::sync_dir;
use crate::error::FileError;
use crate::format::segment::{SegmentSpan, SEGMENT_HEADER_LEN};
use crate::segment_file::{create_segment, open_for_reading};

/// The writer's open segment.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    /// Its id in the catalog.
    pub id: u32,
    /// Its path.
    pub path: PathBuf,
    /// Read-write handle.
    pub file: File,
    /// End of the last write that succeeded (in sync mode: that was also synced).
    pub good_len: u64,
    /// Bytes past `good_len` may be on disk from a failed write or sync; they are
    /// cut off before anything else is written.
    pub dirty: bool,
    /// Which of its records get a checkpoint.
    pub checkpoints: CheckpointTrack,
}

impl ActiveSegment {
    /// Creates a new log segment starting at `first_lsn` (file, header, fsyncs of
    /// the file and the directory); also returns its catalog entry.
    pub fn create(
        dir: &Path,
        id: u32,
        first_lsn: u64,
        checkpoint_interval_bytes: u32,
    ) -> Result<(Self, SegmentEntry), FileError> {
        let span = SegmentSpan::Log { first_lsn };
        let path = dir.join(span.file_name());
        let file = create_segment(&path, span).map_err(FileError::at("create segment", &path))?;
        sync_dir(dir)?;
        let reader = open_for_reading(&path).map_err(FileError::at("open segment", &path))?;
        let entry = SegmentEntry {
            id,
            span,
            path: path.clone(),
            file: Arc::new(reader),
            readable_len: SEGMENT_HEADER_LEN as u64,
            checkpoints: Vec::new(),
            sealed: false,
        };
        let active = Self {
            id,
            path,
            file,
            good_len: SEGMENT_HEADER_LEN as u64,
            dirty: false,
            checkpoints: CheckpointTrack::new(checkpoint_interval_bytes),
        };
        Ok((active, entry))
    }

    /// Writes `bytes` after the good end. On failure the segment is marked dirty.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let result = self.file.write_all_at(bytes, self.good_len);
        self.dirty |= result.is_err();
        result
    }

    /// fdatasync. On failure the segment is marked dirty: whatever was written since
    /// `good_len` may or may not be on disk, so it is cut off.
    pub fn sync(&mut self) -> io::Result<()> {
        let result = self.file.sync_data();
        self.dirty |= result.is_err();
        result
    }

    /// Cuts the file back to `good_len` and makes that durable, so no record of a
    /// failed group is ever read back. Does nothing on a clean segment.
    pub fn repair(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.file.set_len(self.good_len)?;
        self.file.sync_data()?;
        self.dirty = false;
        Ok(())
    }
}
