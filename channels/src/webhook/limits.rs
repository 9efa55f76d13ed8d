//! The dispatcher's limits (the `[dispatcher]` table).

use serde::{Deserialize, Serialize};

use crate::config::{in_range, ConfigError};

/// Queues, retries and persistence of the webhook dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherLimits {
    /// Events queued per subscription between `publish` and its thread; over it,
    /// events are read back from the engine's log instead.
    pub queue: usize,
    /// Events a subscription holds in memory (waiting or retrying).
    pub max_in_flight: usize,
    /// Attempts before an event is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's backoff; doubles each attempt, with jitter.
    pub backoff_initial_ms: u64,
    /// The backoff's ceiling.
    pub backoff_max_ms: u64,
    /// Timeout of one POST.
    pub request_timeout_ms: u64,
    /// Connect timeout of one POST.
    pub connect_timeout_ms: u64,
    /// Dead letters kept per subscription; the oldest go first.
    pub max_dead_letters: usize,
    /// Events read from the log per catch-up call.
    pub catch_up_batch: usize,
    /// The cursor is written at most this often (and at shutdown).
    pub cursor_flush_ms: u64,
}

impl Default for DispatcherLimits {
    fn default() -> Self {
        Self {
            queue: 1024,
            max_in_flight: 10_000,
            max_attempts: 8,
            backoff_initial_ms: 500,
            backoff_max_ms: 60_000,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 2_000,
            max_dead_letters: 10_000,
            catch_up_batch: 500,
            cursor_flush_ms: 200,
        }
    }
}

impl DispatcherLimits {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        in_range("dispatcher.queue", self.queue, 1, 10_000_000)?;
        in_range(
            "dispatcher.max_in_flight",
            self.max_in_flight,
            1,
            10_000_000,
        )?;
        in_range("dispatcher.max_attempts", self.max_attempts, 1, 1000)?;
        in_range(
            "dispatcher.backoff_initial_ms",
            self.backoff_initial_ms,
            1,
            3_600_000,
        )?;
        in_range(
            "dispatcher.backoff_max_ms",
            self.backoff_max_ms,
            self.backoff_initial_ms,
            86_400_000,
        )?;
        in_range(
            "dispatcher.request_timeout_ms",
            self.request_timeout_ms,
            1,
            600_000,
        )?;
        in_range(
            "dispatcher.connect_timeout_ms",
            self.connect_timeout_ms,
            1,
            600_000,
        )?;
        in_range(
            "dispatcher.max_dead_letters",
            self.max_dead_letters,
            1,
            10_000_000,
        )?;
        in_range("dispatcher.catch_up_batch", self.catch_up_batch, 1, 100_000)?;
        in_range(
            "dispatcher.cursor_flush_ms",
            self.cursor_flush_ms,
            1,
            600_000,
        )
    }
}
