//! The errors of the store, one enum per operation.
//!
//! File-system failures carry the action and the path ([`FileError`]), so an
//! operator reading a log line knows which file and what the store was doing.

use std::io;
use std::path::PathBuf;

use crate::record::NewRecord;

/// A file-system call that failed, with what the store was doing and on which path.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct FileError {
    /// What the store was doing ("open segment", "fsync directory", ...).
    pub action: &'static str,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The operating system's error.
    pub source: io::Error,
}

impl FileError {
    /// Builds a closure for `map_err` that attaches the action and path.
    pub(crate) fn at(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self {
            action,
            path,
            source,
        }
    }
}

/// A configuration the store refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The field of [`crate::StoreConfig`].
        field: &'static str,
    },
    /// The largest record (header plus payload) does not fit in one group commit.
    #[error("max_group_bytes ({group}) is smaller than the largest record frame ({frame} bytes)")]
    GroupSmallerThanRecord {
        /// The configured group size.
        group: usize,
        /// The largest record frame.
        frame: u64,
    },
    /// The largest record does not fit in one read chunk.
    #[error("read_chunk_bytes ({chunk}) is smaller than the largest record frame ({frame} bytes)")]
    ReadChunkSmallerThanRecord {
        /// The configured chunk size.
        chunk: usize,
        /// The largest record frame.
        frame: u64,
    },
    /// A segment could outgrow the 32-bit offsets the index keeps.
    #[error("a segment could grow to {bytes} bytes, over the 4 GiB that 32-bit offsets address")]
    FileTooLarge {
        /// The largest size a file could reach with these limits.
        bytes: u64,
    },
    /// `retry_backoff_min` is larger than `retry_backoff_max`.
    #[error("retry_backoff_min is larger than retry_backoff_max")]
    BackoffRange,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration is invalid.
    #[error("invalid store configuration: {0}")]
    Config(#[from] ConfigError),
    /// Another store (this process or another) holds the directory's `LOCK`.
    #[error("data directory {} is in use by another store (its LOCK file is held)", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// A segment was written by a newer format version than this build reads.
    #[error("segment {} has format version {version}, this build reads version {supported}", file.display())]
    UnsupportedVersion {
        /// The segment file.
        file: PathBuf,
        /// The version found in its header.
        version: u16,
        /// The version this build writes and reads.
        supported: u16,
    },
    /// A file-system call failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The writer thread could not be started.
    #[error("start the writer thread: {0}")]
    Thread(io::Error),
}

/// Why a submitted batch was refused at once (nothing was queued).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The handle already has `queue_depth` batches in flight.
    #[error("the append queue is full ({depth} batches in flight)")]
    QueueFull {
        /// The configured depth.
        depth: usize,
    },
    /// The batch holds no record.
    #[error("the batch is empty")]
    EmptyBatch,
    /// The batch holds more records than `max_batch_records`.
    #[error("the batch holds {records} records, the limit is {max}")]
    BatchTooLarge {
        /// Records in the batch.
        records: usize,
        /// The configured limit.
        max: usize,
    },
    /// The batch's frames add up to more than one group commit may hold.
    #[error("the batch encodes to {bytes} bytes, the limit is {max}")]
    BatchBytesTooLarge {
        /// Its encoded size.
        bytes: usize,
        /// `max_group_bytes`.
        max: usize,
    },
    /// One record's payload is over `max_payload_bytes`.
    #[error("record {index} of the batch has a {bytes}-byte payload, the limit is {max}")]
    PayloadTooLarge {
        /// Position of the record in the batch.
        index: usize,
        /// Its payload size.
        bytes: usize,
        /// The configured limit.
        max: u32,
    },
    /// An earlier batch of this handle failed and the caller has not called
    /// [`crate::Appender::resume`] yet.
    #[error("an earlier batch of this handle failed; call resume() before submitting again")]
    Halted,
    /// The store has shut down.
    #[error("the store is closed")]
    Closed,
}

/// A batch the store refused, handed back whole with the reason.
#[derive(Debug, thiserror::Error)]
#[error("batch {token} refused: {reason}")]
pub struct Rejected {
    /// The records, untouched.
    pub records: Vec<NewRecord>,
    /// The caller's token.
    pub token: u64,
    /// Why.
    pub reason: SubmitError,
}

/// Why a queued batch was not made durable. A batch that completes with an error is
/// never visible: not to readers, and not after a restart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The file system is full (ENOSPC or EDQUOT).
    #[error("disk full: {message}")]
    DiskFull {
        /// The operating system's message.
        message: String,
    },
    /// Another I/O error (EIO, ...).
    #[error("i/o error: {message}")]
    Io {
        /// The kind of error.
        kind: io::ErrorKind,
        /// The operating system's message, with what the writer was doing.
        message: String,
    },
    /// An earlier batch of the same handle failed, so this one was not tried: a
    /// handle's durable records never skip over a failed batch.
    #[error("not written: an earlier batch of this handle failed")]
    Halted,
    /// The store shut down before the batch was written.
    #[error("not written: the store is closed")]
    Closed,
}

impl WriteError {
    /// Classifies an I/O error; `action` says what the writer was doing.
    pub(crate) fn from_io(action: &str, error: &io::Error) -> Self {
        let message = format!("{action}: {error}");
        match error.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::DiskFull { message },
            kind => Self::Io { kind, message },
        }
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading a segment failed.
    #[error(transparent)]
    File(#[from] FileError),
}

/// Why a compaction failed; the directory is unchanged (or, after a partial swap,
/// in a state the next open completes).
#[derive(Debug, thiserror::Error)]
pub enum CompactionError {
    /// A file-system call failed.
    #[error(transparent)]
    File(#[from] FileError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_disk_full_and_eio_is_an_io_error() {
        let full = io::Error::from_raw_os_error(28);
        assert!(matches!(
            WriteError::from_io("write", &full),
            WriteError::DiskFull { .. }
        ));
        let eio = io::Error::from_raw_os_error(5);
        let classified = WriteError::from_io("fdatasync", &eio);
        assert!(
            matches!(classified, WriteError::Io { .. }),
            "{classified:?}"
        );
        assert!(classified.to_string().contains("fdatasync"));
    }
}
