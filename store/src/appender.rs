//! The per-shard handle: submit batches without blocking, take completions in order.
//!
//! A shard never waits on the disk: [`Appender::submit`] only checks limits, counts
//! the batch in flight and pushes it on the writer's channel. The writer posts each
//! completion on the handle's own queue and calls the handle's waker, which the engine
//! points at the shard's eventfd.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::channel::Sender;
use crossbeam::queue::ArrayQueue;

use crate::error::{Rejected, SubmitError, WriteError};
use crate::format::frame::frame_len;
use crate::record::{LsnRange, NewRecord};

/// The outcome of one submitted batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The token the caller gave with the batch.
    pub token: u64,
    /// Its LSNs once durable (or written, in async mode), or why it was not.
    pub result: Result<LsnRange, WriteError>,
}

/// The function the writer calls after posting completions for a handle.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The state a handle shares with the writer.
pub(crate) struct HandleShared {
    completions: ArrayQueue<Completion>,
    in_flight: AtomicUsize,
    /// Incremented by [`Appender::resume`]; every batch carries the epoch it was
    /// submitted in.
    epoch: AtomicU64,
    /// One past the highest epoch in which a batch failed (0: none). Batches of an
    /// epoch below it are not written.
    halted_below: AtomicU64,
    waker: Waker,
}

impl fmt::Debug for HandleShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleShared")
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl HandleShared {
    fn post(&self, completion: Completion) {
        // Cannot overflow: a batch counts in flight until its completion is taken,
        // and at most `queue_depth` (the queue's capacity) are in flight.
        let _ = self.completions.push(completion);
    }

    /// Calls the caller's waker.
    pub fn wake(&self) {
        (self.waker)();
    }

    /// Whether a batch of `epoch` must not be written.
    pub fn is_halted(&self, epoch: u64) -> bool {
        self.halted_below.load(Ordering::Acquire) > epoch
    }

    /// Stops every batch of `epoch` and earlier from being written.
    pub fn halt(&self, epoch: u64) {
        self.halted_below.fetch_max(epoch + 1, Ordering::AcqRel);
    }
}

/// A submitted batch on its way through the writer.
///
/// Dropping it without [`Batch::complete`] (the store shut down, the writer
/// died) posts [`WriteError::Closed`], so no caller waits for ever.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The records.
    pub records: Vec<NewRecord>,
    /// Their encoded size.
    pub frame_bytes: usize,
    /// The caller's token.
    pub token: u64,
    /// The handle's epoch at submission.
    pub epoch: u64,
    /// The handle it came from.
    pub handle: Arc<HandleShared>,
    completed: bool,
}

impl Batch {
    /// Posts the outcome on the handle's queue (the caller wakes the handle).
    pub fn complete(mut self, result: Result<LsnRange, WriteError>) {
        self.completed = true;
        self.handle.post(Completion {
            token: self.token,
            result,
        });
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.completed {
            self.handle.post(Completion {
                token: self.token,
                result: Err(WriteError::Closed),
            });
            self.handle.wake();
        }
    }
}

/// What the writer's channel carries.
#[derive(Debug)]
pub(crate) enum WriterMessage {
    /// A batch to write.
    Batch(Batch),
    /// Finish what is queued, then stop.
    Shutdown,
}

/// The limits a submit checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubmitLimits {
    pub queue_depth: usize,
    pub max_batch_records: usize,
    pub max_payload_bytes: u32,
    pub max_batch_bytes: usize,
}

/// A shard's handle on the store. Cheap to create: one per shard (or per
/// submitting thread); completions of one handle arrive in submission order.
pub struct Appender {
    shared: Arc<HandleShared>,
    writer: Sender<WriterMessage>,
    limits: SubmitLimits,
}

impl fmt::Debug for Appender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appender")
            .field("shared", &self.shared)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Appender {
    pub(crate) fn new(writer: Sender<WriterMessage>, limits: SubmitLimits, waker: Waker) -> Self {
        let shared = HandleShared {
            completions: ArrayQueue::new(limits.queue_depth),
            in_flight: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            halted_below: AtomicU64::new(0),
            waker,
        };
        Self {
            shared: Arc::new(shared),
            writer,
            limits,
        }
    }

    /// Queues a batch for the writer and returns at once. Its completion carries
    /// `token`. A refused batch is handed back whole in [`Rejected`].
    pub fn submit(&self, records: Vec<NewRecord>, token: u64) -> Result<(), Rejected> {
        let frame_bytes = match self.check(&records) {
            Ok(bytes) => bytes,
            Err(reason) => {
                return Err(Rejected {
                    records,
                    token,
                    reason,
                })
            }
        };
        if let Err(reason) = self.reserve_slot() {
            return Err(Rejected {
                records,
                token,
                reason,
            });
        }
        let batch = Batch {
            records,
            frame_bytes,
            token,
            epoch: self.shared.epoch.load(Ordering::Acquire),
            handle: Arc::clone(&self.shared),
            completed: false,
        };
        self.writer
            .send(WriterMessage::Batch(batch))
            .map_err(|refused| {
                self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
                let records = match refused.0 {
                    WriterMessage::Batch(mut batch) => {
                        batch.completed = true;
                        std::mem::take(&mut batch.records)
                    }
                    WriterMessage::Shutdown => Vec::new(),
                };
                Rejected {
                    records,
                    token,
                    reason: SubmitError::Closed,
                }
            })
    }

    /// Takes the next completion, if one has been posted.
    pub fn next_completion(&self) -> Option<Completion> {
        let completion = self.shared.completions.pop()?;
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        Some(completion)
    }

    /// After a batch failed, later batches of this handle are not written (they
    /// complete with [`WriteError::Halted`]) until the caller has dealt with the
    /// failure and calls this; batches submitted afterwards are tried again.
    pub fn resume(&self) {
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether submits are refused until [`Self::resume`].
    pub fn is_halted(&self) -> bool {
        self.shared
            .is_halted(self.shared.epoch.load(Ordering::Acquire))
    }

    /// Batches submitted whose completion has not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    fn check(&self, records: &[NewRecord]) -> Result<usize, SubmitError> {
        let limits = &self.limits;
        if records.is_empty() {
            return Err(SubmitError::EmptyBatch);
        }
        if records.len() > limits.max_batch_records {
            return Err(SubmitError::BatchTooLarge {
                records: records.len(),
                max: limits.max_batch_records,
            });
        }
        let mut bytes = 0;
        for (index, record) in records.iter().enumerate() {
            if record.payload.len() > limits.max_payload_bytes as usize {
                return Err(SubmitError::PayloadTooLarge {
                    index,
                    bytes: record.payload.len(),
                    max: limits.max_payload_bytes,
                });
            }
            bytes += frame_len(record.payload.len());
        }
        if bytes > limits.max_batch_bytes {
            return Err(SubmitError::BatchBytesTooLarge {
                bytes,
                max: limits.max_batch_bytes,
            });
        }
        if self.is_halted() {
            return Err(SubmitError::Halted);
        }
        Ok(bytes)
    }

    fn reserve_slot(&self) -> Result<(), SubmitError> {
        let depth = self.limits.queue_depth;
        self.shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < depth).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| SubmitError::QueueFull { depth })
    }
}
