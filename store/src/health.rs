//! What the writer says about the disk: healthy, full since when, or failing.

use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::WriteError;

/// The writer's view of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The last write and sync succeeded.
    Ok,
    /// Writes fail with ENOSPC/EDQUOT; the writer keeps retrying with backoff.
    DiskFull {
        /// When the first of the current run of failures happened.
        since: SystemTime,
        /// The last error.
        message: String,
    },
    /// Writes or syncs fail with another error; the writer keeps retrying.
    IoError {
        /// When the first of the current run of failures happened.
        since: SystemTime,
        /// The last error.
        message: String,
    },
}

/// The health cell shared by the writer and whoever asks.
#[derive(Debug)]
pub(crate) struct HealthCell {
    state: Mutex<Health>,
}

impl HealthCell {
    /// Starts healthy.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(Health::Ok),
        }
    }

    /// The current health.
    pub fn get(&self) -> Health {
        self.state
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Records a success.
    pub fn ok(&self) {
        self.set(|_| Health::Ok);
    }

    /// Records a failure, keeping `since` while the same kind of failure goes on.
    pub fn failed(&self, error: &WriteError) {
        let now = SystemTime::now();
        self.set(|previous| match (error, previous) {
            (WriteError::DiskFull { message }, Health::DiskFull { since, .. }) => {
                Health::DiskFull {
                    since: *since,
                    message: message.clone(),
                }
            }
            (WriteError::DiskFull { message }, _) => Health::DiskFull {
                since: now,
                message: message.clone(),
            },
            (other, Health::IoError { since, .. }) => Health::IoError {
                since: *since,
                message: other.to_string(),
            },
            (other, _) => Health::IoError {
                since: now,
                message: other.to_string(),
            },
        });
    }

    fn set(&self, next: impl FnOnce(&Health) -> Health) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = next(&state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_keeps_its_start_and_success_clears_it() {
        let cell = HealthCell::new();
        let full = WriteError::DiskFull {
            message: "no space".into(),
        };
        cell.failed(&full);
        let Health::DiskFull { since, .. } = cell.get() else {
            panic!("expected disk full, got {:?}", cell.get());
        };
        cell.failed(&full);
        assert!(matches!(cell.get(), Health::DiskFull { since: s, .. } if s == since));
        cell.ok();
        assert_eq!(cell.get(), Health::Ok);
    }
}
