//! Where the store found bytes it would not serve, and why.

use std::path::PathBuf;

/// Why a span of a segment was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageCause {
    /// The segment header is damaged or does not match the file name (its records
    /// are still recovered).
    Header,
    /// Bytes that are not a valid record frame (checksum mismatch, garbage).
    Record,
    /// A valid frame whose LSN is outside the segment's range or not above the
    /// previous record's: never served, so no LSN is served twice.
    OutOfOrder,
    /// A sealed segment ends in the middle of a record.
    Truncated,
}

/// A damaged span of a segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub file: PathBuf,
    /// Where the span starts.
    pub offset: u64,
    /// How many bytes it covers.
    pub len: u64,
    /// Why it was not served.
    pub cause: DamageCause,
}
