//! Outbound workers: each owns the conversations `conv % workers`, so a
//! conversation's lines leave one at a time in `seq` order, while a line waiting for
//! a retry or a rate-limit token holds back only its own conversation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TrySendError};

use super::{OutboundRefused, Shared};
use crate::adapter::DeliveryError;
use crate::event::{DeliveryFailure, DeliveryOutcome, DeliveryReport, OutboundLine};
use crate::ordered::OrderedQueues;

/// The longest a worker sleeps with nothing due (it wakes at once for new lines).
const IDLE_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Worker {
    tx: Mutex<Option<Sender<OutboundLine>>>,
    depth: Arc<AtomicUsize>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The worker pool.
#[derive(Debug)]
pub(super) struct Outbound {
    workers: Vec<Worker>,
    capacity: usize,
}

impl Outbound {
    pub(super) fn start(shared: &Arc<Shared>) -> std::io::Result<Self> {
        let capacity = shared.limits.outbound_queue;
        let mut workers = Vec::new();
        for index in 0..shared.limits.outbound_workers {
            let (tx, rx) = channel::bounded(capacity);
            let depth = Arc::new(AtomicUsize::new(0));
            shared.metrics.add_queue(Arc::clone(&depth));
            let mut run = WorkerLoop {
                shared: Arc::clone(shared),
                rx,
                depth: Arc::clone(&depth),
                queues: OrderedQueues::default(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("channels-out-{index}"))
                .spawn(move || run.run())?;
            workers.push(Worker {
                tx: Mutex::new(Some(tx)),
                depth,
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(Self { workers, capacity })
    }

    pub(super) fn enqueue(&self, line: OutboundLine) -> Result<(), OutboundRefused> {
        let index = usize::try_from(line.conv % self.workers.len() as u64).unwrap_or(0);
        let worker = &self.workers[index];
        if worker.depth.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            worker.depth.fetch_sub(1, Ordering::SeqCst);
            return Err(OutboundRefused::QueueFull(self.capacity));
        }
        let sent = match worker.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(tx) => tx.try_send(line),
            None => Err(TrySendError::Disconnected(line)),
        };
        sent.map_err(|error| {
            worker.depth.fetch_sub(1, Ordering::SeqCst);
            match error {
                TrySendError::Full(_) => OutboundRefused::QueueFull(self.capacity),
                TrySendError::Disconnected(_) => OutboundRefused::ShuttingDown,
            }
        })
    }

    /// Closes every queue and waits for the workers to report what was left.
    pub(super) fn stop(&self) {
        for worker in &self.workers {
            worker.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        for worker in &self.workers {
            if let Some(thread) = worker
                .thread
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                let _ = thread.join();
            }
        }
    }
}

#[derive(Debug)]
struct Pending {
    line: OutboundLine,
    attempts: u32,
    last_error: String,
}

struct WorkerLoop {
    shared: Arc<Shared>,
    rx: Receiver<OutboundLine>,
    depth: Arc<AtomicUsize>,
    queues: OrderedQueues<Pending>,
}

impl WorkerLoop {
    fn run(&mut self) {
        loop {
            let wait = self
                .queues
                .next_wake()
                .map_or(IDLE_WAIT, |at| at.saturating_duration_since(Instant::now()));
            match self.rx.recv_timeout(wait) {
                Ok(line) => self.accept(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(line) = self.rx.try_recv() {
                self.accept(line);
            }
            while let Some(conv) = self.queues.next_due(Instant::now()) {
                self.attempt(conv);
            }
        }
        let left: Vec<Pending> = self.queues.drain().collect();
        for pending in left {
            self.report(&pending, DeliveryOutcome::Failed(DeliveryFailure::ShutDown));
        }
    }

    fn accept(&mut self, line: OutboundLine) {
        let pending = Pending {
            line,
            attempts: 0,
            last_error: String::new(),
        };
        self.queues
            .push(pending.line.conv, pending, Instant::now(), |p| p.line.seq);
    }

    fn attempt(&mut self, conv: u64) {
        let routes = self.shared.routes();
        let Some(pending) = self.queues.head_mut(conv) else {
            return;
        };
        let Some(account) = routes.by_name(&pending.line.account) else {
            let failure = DeliveryFailure::UnknownAccount(pending.line.account.clone());
            return self.finish(conv, DeliveryOutcome::Failed(failure));
        };
        if let Err(wait) = account.take_outbound_token(Instant::now()) {
            return self.queues.defer(conv, Instant::now() + wait);
        }
        pending.attempts += 1;
        if pending.attempts > 1 {
            account
                .metrics
                .outbound_retried
                .fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let result = account
            .adapter
            .deliver(&pending.line, self.shared.clock.now());
        account.metrics.outbound_latency.observe(started.elapsed());
        let outcome = match result {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(DeliveryError::Permanent(failure)) => DeliveryOutcome::Failed(failure),
            Err(DeliveryError::Transient(error))
                if pending.attempts < account.spec.limits.max_attempts =>
            {
                let delay = account.backoff().delay(pending.attempts);
                pending.last_error = error;
                return self.queues.defer(conv, Instant::now() + delay);
            }
            Err(DeliveryError::Transient(error)) => {
                DeliveryOutcome::Failed(DeliveryFailure::RetriesExhausted {
                    attempts: pending.attempts,
                    last_error: error,
                })
            }
        };
        let counter = match outcome {
            DeliveryOutcome::Delivered => &account.metrics.outbound_ok,
            DeliveryOutcome::Failed(_) => &account.metrics.outbound_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.finish(conv, outcome);
    }

    fn finish(&mut self, conv: u64, outcome: DeliveryOutcome) {
        if let Some(pending) = self.queues.finish_head(conv, Instant::now()) {
            self.report(&pending, outcome);
        }
    }

    fn report(&self, pending: &Pending, outcome: DeliveryOutcome) {
        self.depth.fetch_sub(1, Ordering::SeqCst);
        if matches!(outcome, DeliveryOutcome::Failed(_)) && !pending.last_error.is_empty() {
            tracing::debug!(conv = pending.line.conv, seq = pending.line.seq, error = %pending.last_error, "outbound line failed");
        }
        self.shared.sink.delivery_report(DeliveryReport {
            conv: pending.line.conv,
            seq: pending.line.seq,
            account: pending.line.account.clone(),
            outcome,
            attempts: pending.attempts,
        });
    }
}
