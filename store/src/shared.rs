//! The state every handle of one store shares: the catalog, the durable watermark,
//! the health cell and the directory lock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::catalog::Catalog;
use crate::config::StoreConfig;
use crate::dir::DirLock;
use crate::health::HealthCell;
use crate::stats::WriterCounters;

/// Shared by the store, its writer, readers and compactors.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The data directory.
    pub dir: PathBuf,
    /// The limits.
    pub config: StoreConfig,
    /// What readers may see.
    pub catalog: RwLock<Catalog>,
    /// Every record with an LSN up to here is durable (and published).
    pub durable_lsn: AtomicU64,
    /// What the writer says about the disk.
    pub health: HealthCell,
    /// The writer's counters.
    pub counters: WriterCounters,
    /// Ids of segments in the catalog.
    pub segment_ids: AtomicU32,
    /// One compaction at a time.
    pub compaction: Mutex<()>,
    /// Held until the last handle is gone, so no other process opens the directory
    /// while a reader or compactor of this one still works in it.
    pub _lock: DirLock,
}

impl Shared {
    /// The catalog for reading; a panic elsewhere does not make it unreadable.
    pub fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The catalog for changing.
    pub fn catalog_mut(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Serialises compactions.
    pub fn compaction_turn(&self) -> MutexGuard<'_, ()> {
        self.compaction.lock().unwrap_or_else(|p| p.into_inner())
    }
}
