//! Switchboard's durable store: a segmented, checksummed, append-only log in a data
//! directory, with group commit that never blocks the caller.
//!
//! The store knows nothing of conversations. It keeps opaque records — `stream`
//! (the engine uses one per conversation), `seq` (the stream's own ordering key),
//! `kind` and a payload — and gives each a global, strictly increasing LSN.
//!
//! - [`Store::open`] locks the directory, recovers it (every valid record comes back
//!   in LSN order; a torn tail is cut, damage is skipped and reported in a
//!   [`RecoveryReport`]) and starts the writer thread.
//! - [`Appender`] (one per shard): [`Appender::submit`] queues a batch and returns at
//!   once; the writer commits everything queued with one write and one fdatasync and
//!   posts a [`Completion`] per batch, in submission order, then calls the waker.
//! - [`StoreReader`] (any other thread): a stream's history
//!   ([`StoreReader::read_stream`]) and the log from a cursor
//!   ([`StoreReader::read_from`]), durable records only.
//! - [`Compactor`]: rewrites sealed segments under a [`RetentionPolicy`]; the swap is
//!   crash-safe and LSNs are kept.
//! - [`Store::health`]: ok, disk full since when, or an I/O error; the writer retries
//!   with backoff and recovers by itself.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_store::{NewRecord, Store, StoreConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("sb-store-doc-{}", std::process::id()));
//! let (store, report) = Store::open(&dir, StoreConfig::default(), |_record| {})?;
//! assert_eq!(report.records, 0);
//! let appender = store.appender(Arc::new(|| {}));
//! let line = NewRecord { stream: 7, seq: 1, kind: 1, payload: b"hello".to_vec() };
//! appender.submit(vec![line], 42)?;
//! let done = loop {
//!     if let Some(done) = appender.next_completion() { break done; }
//!     std::thread::yield_now();
//! };
//! assert_eq!(done.token, 42);
//! let range = done.result?;
//! let page = store.reader().read_stream(7, 0, 10)?;
//! assert_eq!(page.records[0].lsn, range.first);
//! drop((appender, store));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod appender;
mod catalog;
mod compaction;
mod config;
mod damage;
mod dir;
mod error;
pub mod format;
mod health;
mod reader;
mod record;
mod recovery;
mod segment_file;
mod shared;
mod stats;
mod store;
mod writer;

pub use appender::{Appender, Completion, Waker};
pub use catalog::IndexStats;
pub use compaction::{
    AutoCompactor, CompactionOutcome, CompactionReport, Compactor, RetentionPolicy, StreamVerdict,
};
pub use config::{CompactionConfig, StoreConfig, SyncMode};
pub use damage::{Damage, DamageCause};
pub use error::{
    CompactionError, ConfigError, FileError, OpenError, ReadError, Rejected, SubmitError,
    WriteError,
};
pub use health::Health;
pub use reader::{LogPage, StoreReader, StreamPage};
pub use record::{LsnRange, NewRecord, Record, RecordRef};
pub use recovery::{RecoveryReport, TornTail};
pub use stats::WriterStats;
pub use store::Store;
