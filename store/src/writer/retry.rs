//! The pause between failed attempts: doubles from a minimum to a maximum, resets on
//! the first success.

use std::time::{Duration, Instant};

/// Exponential backoff with a deadline.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next_pause: Duration,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// No pause pending.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next_pause: min,
            retry_at: None,
        }
    }

    /// When the next attempt may start, if a failure is being waited out.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// An attempt failed: wait, and wait longer next time.
    pub fn failed(&mut self) {
        self.retry_at = Some(Instant::now() + self.next_pause);
        self.next_pause = (self.next_pause * 2).min(self.max);
    }

    /// An attempt succeeded: no pause.
    pub fn succeeded(&mut self) {
        self.next_pause = self.min;
        self.retry_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_the_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(25));
        assert_eq!(backoff.retry_at(), None);
        let before = Instant::now();
        backoff.failed();
        backoff.failed();
        backoff.failed();
        let at = backoff.retry_at().expect("a failure sets a deadline");
        assert!(at >= before + Duration::from_millis(25));
        assert!(at <= Instant::now() + Duration::from_millis(25));
        backoff.succeeded();
        assert_eq!(backoff.retry_at(), None);
    }
}
