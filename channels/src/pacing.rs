//! Pacing of outbound work: a token bucket per account, and exponential backoff with
//! jitter between retries. Hand-written: each is a few lines, and the rate-limit
//! crates we looked at (governor) bring a clock abstraction and atomics we don't need
//! for a bucket that is only touched by one worker at a time under a mutex.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::RateLimit;

/// A token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: &RateLimit, now: Instant) -> Self {
        let burst = f64::from(limit.burst.max(1));
        Self {
            per_second: limit.per_second.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.per_second;
        Err(Duration::from_secs_f64(wait.min(3600.0)))
    }
}

/// Exponential backoff: `initial × 2^(attempt-1)` capped at `max`, then "equal
/// jitter" (a random point in the upper half), so retries of many lines that failed
/// together spread out instead of arriving together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The ceiling.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.ceiling(attempt);
        let half = base / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::rng().random_range(0..=spread)
        };
        half + Duration::from_micros(jitter)
    }

    /// The delay without jitter: the most `delay(attempt)` can be.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_paces() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(
            &RateLimit {
                per_second: 10.0,
                burst: 3,
            },
            start,
        );
        for _ in 0..3 {
            assert!(bucket.try_take(start).is_ok());
        }
        let wait = bucket.try_take(start).expect_err("the burst is spent");
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(bucket.try_take(start + Duration::from_millis(100)).is_ok());
        assert!(bucket.try_take(start + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter_in_the_upper_half() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(400));
        assert_eq!(backoff.ceiling(10), Duration::from_millis(1000));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_millis(1000));
        for attempt in 1..8 {
            let delay = backoff.delay(attempt);
            let ceiling = backoff.ceiling(attempt);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
    }
}
