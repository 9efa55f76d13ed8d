//! Every limit of the store, with its default, in one place.
//!
//! The engine turns each field into a command-line flag; nothing in the crate uses a
//! limit that is not here. [`StoreConfig::validate`] refuses combinations that would
//! break an on-disk invariant (offsets are 32-bit, a record must fit in a segment).

use std::time::Duration;

use crate::error::ConfigError;
use crate::format::frame::FRAME_HEADER_LEN;
use crate::format::segment::SEGMENT_HEADER_LEN;

/// When a completion may report a batch as written.
///
/// There is no "off" mode here: an engine running with `--durability off` simply does
/// not open a store, which keeps every byte and thread of this crate out of that path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// A completion is posted only after the batch is on stable storage (fdatasync).
    Sync,
    /// A completion is posted once write(2) returned; an fdatasync follows within
    /// [`StoreConfig::async_sync_interval`].
    Async,
}

/// The limits and knobs of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// When completions are posted.
    pub sync_mode: SyncMode,
    /// A segment is sealed once it holds this many bytes; it can exceed it by at most
    /// one group commit ([`Self::max_group_bytes`]).
    pub segment_bytes: u32,
    /// Largest payload of one record.
    pub max_payload_bytes: u32,
    /// Most records in one submitted batch.
    pub max_batch_records: usize,
    /// Batches one [`crate::Appender`] may have in flight (submitted, completion not
    /// yet taken); a submit beyond it is refused and the batch handed back.
    pub queue_depth: usize,
    /// Most bytes the writer encodes into one write before it syncs; a larger backlog
    /// is split into several group commits.
    pub max_group_bytes: usize,
    /// In [`SyncMode::Async`], the longest a written record waits for its fdatasync.
    pub async_sync_interval: Duration,
    /// First pause before the writer tries again after a failed write or sync.
    pub retry_backoff_min: Duration,
    /// The pause doubles after each further failure, up to this.
    pub retry_backoff_max: Duration,
    /// LSNs are reserved on disk in blocks this large, so a lost tail never lets an
    /// LSN be handed out twice; a restart skips at most one block.
    pub lsn_reservation_block: u64,
    /// A log-order read ([`crate::StoreReader::read_from`]) keeps one (LSN, offset)
    /// checkpoint per this many bytes of a segment.
    pub checkpoint_interval_bytes: u32,
    /// Bytes a log-order read fetches from a file at once.
    pub read_chunk_bytes: usize,
    /// Most records one read returns, whatever limit the caller asks for.
    pub max_read_records: usize,
    /// Automatic compaction and the kind of record it treats as state.
    pub compaction: CompactionConfig,
}

/// When compaction runs by itself and what it treats as a state snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionConfig {
    /// Records of this kind are state snapshots: per stream only the newest one in
    /// the compacted range survives. `None`: no kind is treated as state.
    pub state_kind: Option<u8>,
    /// The automatic compactor runs once sealed, not yet compacted segments hold at
    /// least this many bytes.
    pub trigger_sealed_bytes: u64,
    /// How often the automatic compactor looks at that figure.
    pub check_interval: Duration,
    /// A compaction output file is closed and a new one started after this many
    /// bytes (outputs only end on input-segment boundaries).
    pub output_segment_bytes: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sync_mode: SyncMode::Sync,
            segment_bytes: 64 << 20,
            max_payload_bytes: 256 << 10,
            max_batch_records: 4096,
            queue_depth: 4096,
            max_group_bytes: 8 << 20,
            async_sync_interval: Duration::from_millis(10),
            retry_backoff_min: Duration::from_millis(5),
            retry_backoff_max: Duration::from_secs(1),
            lsn_reservation_block: 1 << 20,
            checkpoint_interval_bytes: 64 << 10,
            read_chunk_bytes: 512 << 10,
            max_read_records: 10_000,
            compaction: CompactionConfig::default(),
        }
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            state_kind: None,
            trigger_sealed_bytes: 512 << 20,
            check_interval: Duration::from_secs(10),
            output_segment_bytes: 64 << 20,
        }
    }
}

/// The largest a file may grow: every in-file offset is kept in 32 bits.
const MAX_FILE_BYTES: u64 = u32::MAX as u64;

impl StoreConfig {
    /// Refuses limits that are zero where zero makes no sense, or that would let a
    /// file outgrow 32-bit offsets or a record outgrow a group.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let frame_max = FRAME_HEADER_LEN as u64 + u64::from(self.max_payload_bytes);
        positive("segment_bytes", u64::from(self.segment_bytes))?;
        positive("max_payload_bytes", u64::from(self.max_payload_bytes))?;
        positive("max_batch_records", self.max_batch_records as u64)?;
        positive("queue_depth", self.queue_depth as u64)?;
        positive("lsn_reservation_block", self.lsn_reservation_block)?;
        positive(
            "checkpoint_interval_bytes",
            u64::from(self.checkpoint_interval_bytes),
        )?;
        positive("max_read_records", self.max_read_records as u64)?;
        positive(
            "compaction.output_segment_bytes",
            u64::from(self.compaction.output_segment_bytes),
        )?;
        if (self.max_group_bytes as u64) < frame_max {
            return Err(ConfigError::GroupSmallerThanRecord {
                group: self.max_group_bytes,
                frame: frame_max,
            });
        }
        if (self.read_chunk_bytes as u64) < frame_max {
            return Err(ConfigError::ReadChunkSmallerThanRecord {
                chunk: self.read_chunk_bytes,
                frame: frame_max,
            });
        }
        let log_file_max =
            SEGMENT_HEADER_LEN as u64 + u64::from(self.segment_bytes) + self.max_group_bytes as u64;
        let output_max = u64::from(self.compaction.output_segment_bytes)
            + u64::from(self.segment_bytes)
            + self.max_group_bytes as u64;
        if log_file_max.max(output_max) > MAX_FILE_BYTES {
            return Err(ConfigError::FileTooLarge {
                bytes: log_file_max.max(output_max),
            });
        }
        if self.retry_backoff_min > self.retry_backoff_max {
            return Err(ConfigError::BackoffRange);
        }
        Ok(())
    }
}

fn positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Zero { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        assert_eq!(StoreConfig::default().validate(), Ok(()));
    }

    #[test]
    fn a_zero_limit_is_refused_by_name() {
        let config = StoreConfig {
            queue_depth: 0,
            ..StoreConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::Zero {
                field: "queue_depth"
            })
        );
    }

    #[test]
    fn a_group_must_hold_the_largest_record() {
        let config = StoreConfig {
            max_group_bytes: 1 << 20,
            max_payload_bytes: 1 << 20,
            ..StoreConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::GroupSmallerThanRecord { .. })
        ));
    }

    #[test]
    fn files_must_stay_within_32_bit_offsets() {
        let config = StoreConfig {
            segment_bytes: u32::MAX - 10,
            ..StoreConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::FileTooLarge { .. })
        ));
    }
}
