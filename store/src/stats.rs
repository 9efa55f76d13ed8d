//! Counters of the writer, for metrics and for checking that group commit groups.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the writer's counters since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Groups written (one write(2) each).
    pub groups: u64,
    /// fdatasync calls on segments.
    pub syncs: u64,
    /// Batches completed as written.
    pub batches_written: u64,
    /// Batches completed with an error (including `Halted`).
    pub batches_failed: u64,
    /// Records written.
    pub records_written: u64,
    /// Frame bytes written.
    pub bytes_written: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub groups: AtomicU64,
    pub syncs: AtomicU64,
    pub batches_written: AtomicU64,
    pub batches_failed: AtomicU64,
    pub records_written: AtomicU64,
    pub bytes_written: AtomicU64,
}

impl WriterCounters {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> WriterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriterStats {
            groups: get(&self.groups),
            syncs: get(&self.syncs),
            batches_written: get(&self.batches_written),
            batches_failed: get(&self.batches_failed),
            records_written: get(&self.records_written),
            bytes_written: get(&self.bytes_written),
        }
    }
}
