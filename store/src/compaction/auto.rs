//! A compaction thread: runs when sealed log bytes reach the trigger, or on demand.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::channel::{bounded, RecvTimeoutError, Sender};

use crate::compaction::{CompactionReport, Compactor, RetentionPolicy};

/// What the thread last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactionOutcome {
    /// A compaction finished.
    Done(CompactionReport),
    /// A compaction failed (the directory is unchanged); the message says why.
    Failed(String),
}

/// A running compaction thread; dropping it stops the thread (after the compaction
/// in progress, if any).
#[derive(Debug)]
pub struct AutoCompactor {
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    last: Arc<Mutex<Option<CompactionOutcome>>>,
}

impl AutoCompactor {
    pub(super) fn start(
        compactor: Compactor,
        policy: Arc<dyn RetentionPolicy>,
    ) -> std::io::Result<Self> {
        let (wake, woken) = bounded::<()>(1);
        let last = Arc::new(Mutex::new(None));
        let outcome = Arc::clone(&last);
        let config = compactor.shared.config.compaction.clone();
        let thread = std::thread::Builder::new()
            .name("sb-store-compact".into())
            .spawn(move || loop {
                let asked = match woken.recv_timeout(config.check_interval) {
                    Ok(()) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                if asked || compactor.sealed_log_bytes() >= config.trigger_sealed_bytes {
                    let result = match compactor.compact(policy.as_ref()) {
                        Ok(report) => CompactionOutcome::Done(report),
                        Err(error) => CompactionOutcome::Failed(error.to_string()),
                    };
                    *outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                }
            })?;
        Ok(Self {
            wake: Some(wake),
            thread: Some(thread),
            last,
        })
    }

    /// Asks for a compaction now (a request while one is pending is merged into it).
    pub fn trigger(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }

    /// What the last compaction of this thread did, if any ran.
    pub fn last_outcome(&self) -> Option<CompactionOutcome> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for AutoCompactor {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
