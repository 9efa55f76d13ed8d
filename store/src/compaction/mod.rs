//! Compaction and retention: rewrite the sealed segments keeping only what the
//! caller's policy keeps, so recovery time follows the live data, not the log's age.
//!
//! The swap is crash-safe without a manifest: outputs are written as `.tmp` files,
//! fsynced, renamed to `{first}-{end}.seg` (which names the LSN range they replace),
//! the directory is fsynced, and only then are the inputs deleted. Recovery deletes
//! `.tmp` leftovers and any segment an installed output covers, so a crash at any
//! step leaves either the inputs or the outputs in force, never both or neither.
//! Surviving records keep their LSNs: frames are copied byte for byte.

mod auto;
mod pass;

use std::sync::Arc;
use std::time::Duration;

use crate::error::CompactionError;
use crate::shared::Shared;

pub use auto::{AutoCompactor, CompactionOutcome};

/// What happens to a stream's records in the compacted segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamVerdict {
    /// Keep them (state records still reduced to the newest).
    Keep,
    /// Drop every one of them (the stream ended and is past retention).
    Drop,
}

/// The caller's retention rules.
pub trait RetentionPolicy: Send + Sync {
    /// Decides for one stream that has records in the compacted segments.
    /// `newest_state` is the payload of its newest state record there (see
    /// [`crate::CompactionConfig::state_kind`]), so the decision can rest on
    /// what the stream last recorded about itself (ended, and when).
    fn verdict(&self, stream: u64, newest_state: Option<&[u8]>) -> StreamVerdict;
}

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub input_segments: usize,
    /// Their bytes.
    pub input_bytes: u64,
    /// Segments written.
    pub output_segments: usize,
    /// Their bytes.
    pub output_bytes: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records dropped (dropped streams and superseded state records).
    pub records_dropped: u64,
    /// Streams dropped whole.
    pub streams_dropped: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs compactions of one store (on the caller's thread); see [`AutoCompactor`]
/// for one on its own thread.
#[derive(Debug, Clone)]
pub struct Compactor {
    shared: Arc<Shared>,
}

impl Compactor {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Compacts every sealed segment under `policy`. Blocks this thread for the
    /// duration (file I/O); the writer and readers go on meanwhile.
    pub fn compact(
        &self,
        policy: &dyn RetentionPolicy,
    ) -> Result<CompactionReport, CompactionError> {
        let _turn = self.shared.compaction_turn();
        pass::compact(&self.shared, policy)
    }

    /// Bytes in sealed log segments that no compaction has rewritten yet.
    pub fn sealed_log_bytes(&self) -> u64 {
        self.shared.catalog().sealed_log_bytes()
    }

    /// Starts a thread that compacts whenever [`Self::sealed_log_bytes`] reaches
    /// `compaction.trigger_sealed_bytes`, or when triggered.
    pub fn spawn(self, policy: Arc<dyn RetentionPolicy>) -> std::io::Result<AutoCompactor> {
        AutoCompactor::start(self, policy)
    }
}
