//! What every shard of a node shares: the mesh of queues between them (carrying the
//! shard layer's [`ShardMsg`]), the node's flags (shutdown, drain, kernel shedding), the
//! degradation level, the per-shard counters and the control plane's request queues.
//! Everything here is written by its one owner and read by others through atomics, or
//! passed through lock-free queues.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::control::ControlRequest;
use crate::mesh::Mesh;
use crate::metrics::Metrics;
use crate::pressure::LevelCell;
use crate::shard::ShardMsg;

/// Control-plane requests a shard may have waiting.
const CONTROL_QUEUE: usize = 256;

/// How big the queues between shards may get.
#[derive(Debug, Clone, Copy)]
pub struct MeshLimits {
    /// Messages one shard may have queued towards one other shard (`--mesh-queue`).
    pub pair: usize,
    /// Messages the cluster bridge may have queued for one shard.
    pub inbound: usize,
}

/// State shared by every shard of the node.
#[derive(Debug)]
pub struct Shared {
    mesh: Mesh<ShardMsg>,
    shutdown: AtomicBool,
    draining: AtomicBool,
    kernel_sheds: AtomicBool,
    level: LevelCell,
    level_cause: std::sync::Mutex<String>,
    metrics: Metrics,
    control: Vec<ArrayQueue<ControlRequest>>,
    /// The local store, once opened (not with `--durability off` or in cluster mode).
    store: std::sync::OnceLock<Arc<switchboard_store::Store>>,
    /// The connect webhook's counters, when `--auth-webhook` is set.
    auth_webhook: std::sync::OnceLock<Arc<crate::auth::webhook::WebhookStats>>,
    /// History listings and the event feed over the store (with it).
    history: std::sync::OnceLock<Arc<crate::durable::History>>,
}

impl Shared {
    /// The shared state of `shards` shards.
    pub fn new(shards: usize, limits: MeshLimits) -> std::io::Result<Self> {
        Ok(Shared {
            mesh: Mesh::new(shards, limits.pair, limits.inbound)?,
            shutdown: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            kernel_sheds: AtomicBool::new(false),
            level: LevelCell::default(),
            level_cause: std::sync::Mutex::new("no pressure measured yet".into()),
            metrics: Metrics::new(shards),
            control: (0..shards)
                .map(|_| ArrayQueue::new(CONTROL_QUEUE))
                .collect(),
            store: std::sync::OnceLock::new(),
            auth_webhook: std::sync::OnceLock::new(),
            history: std::sync::OnceLock::new(),
        })
    }

    /// Keeps the opened store for `/health` and `/metrics`.
    pub fn set_store(&self, store: Arc<switchboard_store::Store>) {
        let _ = self.store.set(store);
    }

    /// Keeps the connect webhook's counters for `/metrics`.
    pub fn set_auth_webhook(&self, stats: Arc<crate::auth::webhook::WebhookStats>) {
        let _ = self.auth_webhook.set(stats);
    }

    /// The connect webhook's counters in the Prometheus text format ("" without one).
    pub fn auth_webhook_metrics(&self) -> String {
        self.auth_webhook
            .get()
            .map(|s| s.render())
            .unwrap_or_default()
    }

    /// Keeps the store's history index for the control API.
    pub fn set_history(&self, history: Arc<crate::durable::History>) {
        let _ = self.history.set(history);
    }

    /// The store with its history index, if the node runs one.
    pub fn history(&self) -> Option<(&switchboard_store::Store, &crate::durable::History)> {
        Some((self.store()?, self.history.get()?))
    }

    /// The local store, if the node runs one.
    pub fn store(&self) -> Option<&switchboard_store::Store> {
        self.store.get().map(|s| &**s)
    }

    /// The queues between the shards.
    pub fn mesh(&self) -> &Mesh<ShardMsg> {
        &self.mesh
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mesh.shards()
    }

    /// Asks every shard to shut down.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for shard in 0..self.shards() {
            self.mesh.wake(shard);
        }
    }

    /// Queues a control-plane request for shard `shard` and wakes it.
    pub fn push_control(
        &self,
        shard: usize,
        request: ControlRequest,
    ) -> Result<(), ControlRequest> {
        self.control[shard].push(request)?;
        self.mesh.wake(shard);
        Ok(())
    }

    /// Takes the next control-plane request for shard `shard`.
    pub fn pop_control(&self, shard: usize) -> Option<ControlRequest> {
        self.control[shard].pop()
    }

    /// Asks every shard to drain: stop accepting and ask clients to reconnect elsewhere.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
        for shard in 0..self.shards() {
            self.mesh.wake(shard);
        }
    }

    /// The degradation level in force (0–3).
    pub fn level(&self) -> &LevelCell {
        &self.level
    }

    /// Why the level is what it is.
    pub fn level_cause(&self) -> String {
        self.level_cause
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Records why the level changed (rare: only on changes).
    pub fn set_level_cause(&self, cause: String) {
        if let Ok(mut slot) = self.level_cause.lock() {
            *slot = cause;
        }
    }

    /// Records that the kernel sheds new connections at level 3 (eBPF steering is on),
    /// so shards do not refuse them again at accept.
    pub fn set_kernel_sheds(&self, on: bool) {
        self.kernel_sheds.store(on, Ordering::Relaxed);
    }

    /// Whether the kernel sheds new connections at level 3.
    pub fn kernel_sheds(&self) -> bool {
        self.kernel_sheds.load(Ordering::Relaxed)
    }

    /// Whether the node is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether shutdown was asked for.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Publishes shard `shard`'s connection count (only that shard writes it).
    pub fn set_connections(&self, shard: usize, count: usize) {
        self.metrics
            .shard(shard)
            .connections
            .store(count as u64, Ordering::Relaxed);
    }

    /// Connections held by the whole node.
    pub fn total_connections(&self) -> usize {
        self.metrics.total(|s| &s.connections) as usize
    }

    /// Every shard's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
