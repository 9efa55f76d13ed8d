//! Opening a store: lock, recover, start the writer; and the handles it gives out.

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crossbeam::channel::{unbounded, Sender};

use crate::appender::{Appender, SubmitLimits, Waker, WriterMessage};
use crate::compaction::Compactor;
use crate::config::StoreConfig;
use crate::dir::open_dir;
use crate::error::OpenError;
use crate::health::{Health, HealthCell};
use crate::reader::StoreReader;
use crate::record::RecordRef;
use crate::recovery::{recover, RecoveryReport};
use crate::shared::Shared;
use crate::stats::{WriterCounters, WriterStats};
use crate::writer::Writer;

/// An open data directory with its writer thread.
///
/// Dropping it lets the writer finish every batch queued before, then stops it;
/// batches submitted later complete with `Closed`. The directory's `LOCK` is held
/// until the store and every reader and compactor made from it are dropped.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    writer_tx: Sender<WriterMessage>,
    /// Taken by the first [`Store::close`] (or the drop).
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Store {
    /// Opens (creating it if needed) the data directory, recovers it — `on_record`
    /// receives every valid record in LSN order — and starts the writer thread.
    pub fn open(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        mut on_record: impl FnMut(RecordRef<'_>),
    ) -> Result<(Self, RecoveryReport), OpenError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let lock = open_dir(&dir)?;
        let ids = AtomicU32::new(0);
        let recovered = recover(&dir, &config, &ids, &mut on_record)?;
        let shared = Arc::new(Shared {
            dir,
            config,
            catalog: RwLock::new(recovered.catalog),
            durable_lsn: AtomicU64::new(recovered.next_lsn - 1),
            health: HealthCell::new(),
            counters: WriterCounters::default(),
            segment_ids: ids,
            compaction: Mutex::new(()),
            _lock: lock,
        });
        let (writer_tx, rx) = unbounded();
        let writer = Writer::new(
            rx,
            Arc::clone(&shared),
            recovered.active,
            recovered.floor,
            recovered.next_lsn,
        );
        let thread = std::thread::Builder::new()
            .name("sb-store-writer".into())
            .spawn(move || writer.run())
            .map_err(OpenError::Thread)?;
        let store = Self {
            shared,
            writer_tx,
            writer: Mutex::new(Some(thread)),
        };
        Ok((store, recovered.report))
    }

    /// A new submitting handle (one per shard). `waker` is called on the writer
    /// thread after completions were posted for this handle; it must not block.
    pub fn appender(&self, waker: Waker) -> Appender {
        let config = &self.shared.config;
        let limits = SubmitLimits {
            queue_depth: config.queue_depth,
            max_batch_records: config.max_batch_records,
            max_payload_bytes: config.max_payload_bytes,
            max_batch_bytes: config.max_group_bytes,
        };
        Appender::new(self.writer_tx.clone(), limits, waker)
    }

    /// A read handle for other threads.
    pub fn reader(&self) -> StoreReader {
        StoreReader::new(Arc::clone(&self.shared))
    }

    /// A compaction handle (run it on its own thread, or [`Compactor::spawn`]).
    pub fn compactor(&self) -> Compactor {
        Compactor::new(Arc::clone(&self.shared))
    }

    /// What the writer says about the disk.
    pub fn health(&self) -> Health {
        self.shared.health.get()
    }

    /// The writer's counters since the store was opened.
    pub fn stats(&self) -> WriterStats {
        self.shared.counters.snapshot()
    }

    /// Every record up to this LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.reader().durable_lsn()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops the writer and waits for it: every batch queued before is written and,
    /// in async mode, covered by a final fdatasync, so what was acknowledged as
    /// written is durable when this returns. Later submits are refused with `Closed`;
    /// readers keep working. For a store shared with other threads (which would keep
    /// it from being dropped before the process exits); idempotent. Returns the
    /// durable LSN.
    pub fn close(&self) -> u64 {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer {
            let _ = self.writer_tx.send(WriterMessage::Shutdown);
            let _ = writer.join();
        }
        self.durable_lsn()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}
