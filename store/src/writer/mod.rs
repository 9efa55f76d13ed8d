//! The writer thread: group commit for every handle of the store.
//!
//! It takes everything queued (up to `max_group_bytes`), encodes it into one buffer,
//! writes it with one pwrite, covers it with one fdatasync, publishes it to readers
//! and only then posts the completions. One writer per store (not per shard) because
//! one fdatasync then covers the records of every shard: on one disk, syncs are the
//! cost that group commit exists to share (README.md has the figures).

pub(crate) mod active;
mod group;
mod retry;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam::channel::{Receiver, RecvTimeoutError};

use crate::appender::{Batch, WriterMessage};
use crate::catalog::Publication;
use crate::config::SyncMode;
use crate::dir::LsnFloor;
use crate::shared::Shared;
use active::ActiveSegment;
use retry::Backoff;

/// Records written in async mode whose fdatasync is still due.
#[derive(Debug)]
struct Unsynced {
    since: Instant,
    publication: Publication,
    last_lsn: u64,
}

/// The writer's state; it lives on its own thread.
#[derive(Debug)]
pub(crate) struct Writer {
    rx: Receiver<WriterMessage>,
    shared: Arc<Shared>,
    active: ActiveSegment,
    floor: LsnFloor,
    next_lsn: u64,
    carry: VecDeque<Batch>,
    buffer: Vec<u8>,
    unsynced: Option<Unsynced>,
    backoff: Backoff,
    shutting_down: bool,
}

impl Writer {
    /// A writer that continues the log recovery found.
    pub fn new(
        rx: Receiver<WriterMessage>,
        shared: Arc<Shared>,
        active: ActiveSegment,
        floor: LsnFloor,
        next_lsn: u64,
    ) -> Self {
        let backoff = Backoff::new(
            shared.config.retry_backoff_min,
            shared.config.retry_backoff_max,
        );
        Self {
            rx,
            shared,
            active,
            floor,
            next_lsn,
            carry: VecDeque::new(),
            buffer: Vec::new(),
            unsynced: None,
            backoff,
            shutting_down: false,
        }
    }

    /// Runs until the store shuts down (or every sender is gone); batches still
    /// queued then complete with `Closed` as they are dropped.
    pub fn run(mut self) {
        while self.collect() {
            self.wait_for_retry();
            let group = self.take_group();
            if !group.is_empty() {
                self.commit_group(group);
            }
            self.sync_if_due();
        }
        self.sync_unsynced_now();
    }

    /// Waits for work (or for the async sync deadline) and queues what arrived;
    /// false once shut down with nothing left to do.
    fn collect(&mut self) -> bool {
        if self.carry.is_empty() && !self.shutting_down {
            let message = match self.sync_deadline() {
                Some(deadline) => self.rx.recv_deadline(deadline),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(message) => self.accept(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.shutting_down = true,
            }
        }
        while let Ok(message) = self.rx.try_recv() {
            self.accept(message);
        }
        !(self.shutting_down && self.carry.is_empty())
    }

    fn accept(&mut self, message: WriterMessage) {
        match message {
            WriterMessage::Batch(batch) => self.carry.push_back(batch),
            WriterMessage::Shutdown => self.shutting_down = true,
        }
    }

    /// After a failure, lets the backoff pass (still queueing what arrives).
    fn wait_for_retry(&mut self) {
        while let Some(at) = self.backoff.retry_at().filter(|at| *at > Instant::now()) {
            match self.rx.recv_deadline(at) {
                Ok(message) => self.accept(message),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    self.shutting_down = true;
                    break;
                }
            }
        }
    }

    /// The oldest queued batches up to `max_group_bytes` (at least one).
    fn take_group(&mut self) -> Vec<Batch> {
        let max = self.shared.config.max_group_bytes;
        let mut bytes = 0;
        let mut group = Vec::new();
        while let Some(batch) = self.carry.front() {
            if !group.is_empty() && bytes + batch.frame_bytes > max {
                break;
            }
            bytes += batch.frame_bytes;
            group.extend(self.carry.pop_front());
        }
        group
    }

    fn sync_deadline(&self) -> Option<Instant> {
        let unsynced = self.unsynced.as_ref()?;
        let due = unsynced.since + self.shared.config.async_sync_interval;
        Some(self.backoff.retry_at().map_or(due, |at| at.max(due)))
    }

    /// In async mode, syncs once the oldest unsynced record has waited long enough.
    fn sync_if_due(&mut self) {
        let due = self.sync_deadline().is_some_and(|at| at <= Instant::now());
        if due {
            self.sync_unsynced_now();
        }
    }

    fn sync_unsynced_now(&mut self) {
        match self.sync_unsynced() {
            Ok(()) => self.backoff.succeeded(),
            Err(error) => {
                self.shared.health.failed(&error);
                self.backoff.failed();
            }
        }
    }

    /// Makes the records readers may see durable-visible: the catalog first, then
    /// the watermark, so a reader that sees the watermark finds the records.
    fn publish(&self, mut publication: Publication, last_lsn: u64) {
        self.shared.catalog_mut().publish(&mut publication);
        self.shared.durable_lsn.store(last_lsn, Ordering::Release);
    }

    fn sync_mode(&self) -> SyncMode {
        self.shared.config.sync_mode
    }
}
