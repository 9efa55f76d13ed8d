//! The records the store keeps: opaque payloads tagged with a stream, a per-stream
//! ordering key and a kind, ordered globally by LSN.

/// A record to append; the store assigns its LSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The stream it belongs to (the engine uses one per conversation).
    pub stream: u64,
    /// The stream's own ordering key (0 when not meaningful). Per stream it should not
    /// decrease in submission order; [`crate::StoreReader::read_stream`] falls back to
    /// a scan of the stream's index when it does.
    pub seq: u64,
    /// The caller's record kind; see [`crate::CompactionConfig::state_kind`].
    pub kind: u8,
    /// The opaque payload (at most [`crate::StoreConfig::max_payload_bytes`]).
    pub payload: Vec<u8>,
}

/// A stored record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its log sequence number: global, strictly increasing, never reused.
    pub lsn: u64,
    /// Its stream.
    pub stream: u64,
    /// Its per-stream ordering key.
    pub seq: u64,
    /// Its kind.
    pub kind: u8,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A stored record borrowed from a buffer (recovery hands these to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Its log sequence number.
    pub lsn: u64,
    /// Its stream.
    pub stream: u64,
    /// Its per-stream ordering key.
    pub seq: u64,
    /// Its kind.
    pub kind: u8,
    /// Its payload.
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    /// Copies the record out of the buffer.
    pub fn to_owned(&self) -> Record {
        Record {
            lsn: self.lsn,
            stream: self.stream,
            seq: self.seq,
            kind: self.kind,
            payload: self.payload.to_vec(),
        }
    }
}

/// The LSNs a batch received: `first..=last`, consecutive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsnRange {
    /// The LSN of the batch's first record.
    pub first: u64,
    /// The LSN of its last record.
    pub last: u64,
}
