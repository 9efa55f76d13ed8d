//! The durable single node: the local store (`switchboard-store`) as the engine uses
//! it. At start-up the data directory is opened and recovered on the main thread,
//! before any shard serves: each conversation is rebuilt from its records and handed to
//! its home shard, and the router learns the live ones in their queue order. While the
//! node runs, each shard appends through its own [`Appender`] (see `shard::durable`).
//!
//! Not used in cluster mode: there Redis is the source of truth and the local store is
//! not opened.

mod feed;
mod history;
mod listing;
mod records;
mod recovery;
#[cfg(test)]
mod recovery_bench;
mod retention;

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use switchboard_store::{
    Appender, AutoCompactor, CompactionConfig, Health, OpenError, Store, StoreConfig, SyncMode,
};

use crate::config::{Durability, ServeArgs};
use crate::shared::Shared;
pub use feed::FeedLimits;
pub use history::read_items;
pub use records::{to_store_records, ITEM_KIND, STATE_KIND};
pub use recovery::Recovered;

/// The open store and what recovery found, ready to be handed to the shards.
#[derive(Debug)]
pub struct Opened {
    /// The store (also kept in [`Shared`] for `/health` and `/metrics`).
    pub store: Arc<Store>,
    /// Conversations per home shard, and the router's restore notes.
    pub recovered: Recovered,
    /// Drops ended conversations past `--retain`, on its own thread.
    pub compactor: Option<AutoCompactor>,
    /// The index of history listings and the event feed's bounds.
    pub history: Arc<History>,
}

/// What the control API reads from the store: history listings and the event feed.
#[derive(Debug)]
pub struct History {
    index: Mutex<listing::ConvIndex>,
    /// When the index was last pruned (wall ms).
    pruned_ms: std::sync::atomic::AtomicU64,
    retain_ms: u64,
    feed: FeedLimits,
}

/// How often a listing also prunes the index of expired conversations.
const PRUNE_EVERY_MS: u64 = 60_000;

impl History {
    /// Conversations matching `query`, newest first (catches the index up first).
    pub fn list(
        &self,
        store: &Store,
        query: &switchboard_control_api::model::HistoryQuery,
    ) -> Result<switchboard_control_api::model::ConversationList, switchboard_control_api::ApiError>
    {
        let mut index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index.catch_up(&store.reader())?;
        let now_ms = wall_ms();
        let pruned = self.pruned_ms.load(std::sync::atomic::Ordering::Relaxed);
        if now_ms.saturating_sub(pruned) >= PRUNE_EVERY_MS {
            index.prune(now_ms, self.retain_ms);
            self.pruned_ms
                .store(now_ms, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(index.page(query, now_ms, self.retain_ms))
    }

    /// A page of the event feed; `stop` ends a wait early.
    pub fn events(
        &self,
        store: &Store,
        query: &switchboard_control_api::model::EventQuery,
        stop: &dyn Fn() -> bool,
    ) -> Result<switchboard_control_api::model::EventPage, switchboard_control_api::ApiError> {
        feed::read_events(&store.reader(), query, self.feed, stop)
    }
}

/// The store's settings from the flags; `None` with `--durability off`.
pub fn store_config(args: &ServeArgs) -> Option<StoreConfig> {
    let sync_mode = match args.durability {
        Durability::Sync => SyncMode::Sync,
        Durability::Async => SyncMode::Async,
        Durability::Off => return None,
    };
    // A record holds one item: the largest chat message plus its JSON envelope.
    let defaults = StoreConfig::default();
    let max_payload = args
        .max_message_bytes
        .saturating_add(64 << 10)
        .max(defaults.max_payload_bytes as usize)
        .min(u32::MAX as usize / 4) as u32;
    let frame_room = max_payload as usize * 2;
    Some(StoreConfig {
        sync_mode,
        max_payload_bytes: max_payload,
        max_group_bytes: defaults.max_group_bytes.max(frame_room),
        read_chunk_bytes: defaults.read_chunk_bytes.max(frame_room),
        async_sync_interval: Duration::from_millis(args.durability_sync_interval_ms),
        queue_depth: args.store_queue_depth,
        segment_bytes: args.store_segment_mib.saturating_mul(1 << 20),
        compaction: CompactionConfig {
            state_kind: Some(STATE_KIND),
            ..CompactionConfig::default()
        },
        ..defaults
    })
}

/// Opens and recovers the data directory (unless `--durability off` or cluster mode).
/// Another process holding the directory is an error that names it.
pub fn open(args: &ServeArgs, shards: usize) -> anyhow::Result<Option<Opened>> {
    if args.redis.is_some() {
        tracing::info!("cluster mode: the local store is not used (Redis is the source of truth)");
        return Ok(None);
    }
    let Some(config) = store_config(args) else {
        tracing::warn!("--durability off: conversations are kept in memory only");
        return Ok(None);
    };
    let mut rebuild = recovery::Rebuild::new(args.history_len);
    let mut index = listing::ConvIndex::default();
    let replay = |record: switchboard_store::RecordRef<'_>| {
        index.apply(record.lsn, record.stream, record.kind, record.payload);
        rebuild.add(record);
    };
    let (store, report) = match Store::open(&args.data_dir, config, replay) {
        Ok(opened) => opened,
        Err(OpenError::Locked { dir }) => anyhow::bail!(
            "the data directory {} is in use by another switchboard process (its LOCK is held); \
             stop it or give another --data-dir",
            dir.display()
        ),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("opening the data directory {}", args.data_dir.display()))
        }
    };
    let now_ms = wall_ms();
    let recovered = rebuild.finish(shards, now_ms, args.ended_retention_ms);
    log_report(&args.data_dir, &report, &recovered);
    let store = Arc::new(store);
    let policy = retention::Retention::new(args.retain);
    let compactor = match store.compactor().spawn(Arc::new(policy)) {
        Ok(compactor) => Some(compactor),
        Err(err) => {
            tracing::warn!(%err, "could not start the store's compaction thread: nothing is compacted");
            None
        }
    };
    tracing::debug!(conversations = index.len(), "history index built");
    let history = Arc::new(History {
        index: Mutex::new(index),
        pruned_ms: std::sync::atomic::AtomicU64::new(0),
        retain_ms: args.retain.as_millis() as u64,
        feed: FeedLimits {
            max_limit: args.events_max_limit.max(1),
            max_wait_ms: args.events_max_wait_ms,
        },
    });
    Ok(Some(Opened {
        store,
        recovered,
        compactor,
        history,
    }))
}

/// One appender per shard; each wakes its shard (the shard's eventfd) when the writer
/// posted completions for it. The waker holds the node's state weakly, so the store's
/// writer thread never keeps it alive.
pub fn appenders(store: &Store, shared: &Arc<Shared>) -> Vec<Appender> {
    (0..shared.shards())
        .map(|index| {
            let weak: Weak<Shared> = Arc::downgrade(shared);
            store.appender(Arc::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.mesh().wake(index);
                }
            }))
        })
        .collect()
}

fn log_report(dir: &Path, report: &switchboard_store::RecoveryReport, recovered: &Recovered) {
    tracing::info!(
        dir = %dir.display(),
        segments = report.segments,
        records = report.records,
        record_bytes = report.record_bytes,
        conversations = recovered.conversations(),
        elapsed_ms = report.elapsed.as_secs_f64() * 1000.0,
        "store recovered"
    );
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(
            file = %torn.file.display(),
            offset = torn.offset,
            discarded_bytes = torn.discarded_bytes,
            "store: a torn tail (a write cut short by a crash) was cut off"
        );
    }
    for damage in &report.corruptions {
        tracing::warn!(?damage, "store: a damaged span was skipped (never served)");
    }
    for file in &report.removed_files {
        tracing::info!(file = %file.display(), "store: removed a leftover of an interrupted compaction");
    }
    if recovered.skipped > 0 {
        tracing::warn!(
            skipped = recovered.skipped,
            "store: records that could not be read as conversation records were skipped"
        );
    }
}

/// The shutdown path, once the shards stopped: the writer finishes what was queued
/// and, with `--durability async`, fdatasyncs what was acknowledged as written. The
/// store is shared with threads that are never joined (control API, compactor), so it
/// would not be dropped before the process exits: it is closed explicitly.
pub fn close(store: Option<&Store>) {
    let Some(store) = store else {
        return;
    };
    let started = std::time::Instant::now();
    let durable_lsn = store.close();
    let health = store.health();
    if matches!(health, Health::Ok) {
        tracing::info!(
            durable_lsn,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "store closed: everything written is synced"
        );
    } else {
        tracing::warn!(
            durable_lsn,
            ?health,
            "store closed, but its last sync failed"
        );
    }
}

/// `/health`'s `store` member: `"off"`, `"ok"`, or why writes fail and since when.
pub fn health_json(store: Option<&Store>) -> String {
    let Some(store) = store else {
        return "\"off\"".into();
    };
    let (state, since, message) = match store.health() {
        Health::Ok => return "\"ok\"".into(),
        Health::DiskFull { since, message } => ("disk_full", since, message),
        Health::IoError { since, message } => ("io_error", since, message),
    };
    let since_ms = since
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!(
        "{{\"status\":\"{state}\",\"since_ms\":{since_ms},\"message\":{}}}",
        serde_json::Value::String(message)
    )
}

/// Prometheus lines about the store (none when it is off).
pub fn metrics(store: Option<&Store>) -> String {
    let Some(store) = store else {
        return String::new();
    };
    let health = match store.health() {
        Health::Ok => 0,
        Health::DiskFull { .. } => 1,
        Health::IoError { .. } => 2,
    };
    let stats = store.stats();
    let mut out = String::with_capacity(1024);
    let lines: [(&str, &str, &str, u64); 6] = [
        (
            "switchboard_store_health",
            "gauge",
            "The store's disk: 0 ok, 1 full, 2 I/O errors.",
            health,
        ),
        (
            "switchboard_store_syncs_total",
            "counter",
            "fdatasync calls of the store's writer.",
            stats.syncs,
        ),
        (
            "switchboard_store_records_total",
            "counter",
            "Records the store wrote.",
            stats.records_written,
        ),
        (
            "switchboard_store_bytes_total",
            "counter",
            "Bytes the store wrote.",
            stats.bytes_written,
        ),
        (
            "switchboard_store_batches_failed_total",
            "counter",
            "Store batches that failed (disk full, I/O error).",
            stats.batches_failed,
        ),
        (
            "switchboard_store_durable_lsn",
            "gauge",
            "Every store record up to this log sequence number is durable.",
            store.durable_lsn(),
        ),
    ];
    for (name, kind, help, value) in lines {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    out
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
