//! A bounded map of recently seen keys with their times: the dedupe window of inbound
//! messages and the last-inbound times behind WeChat's 48-hour reply window.
//!
//! Memory is bounded by `capacity` entries and entries older than `ttl` are dropped
//! as new ones arrive. Eviction is first-in first-out by last touch (a re-touched key
//! is queued again and its older queue entry is skipped), which is LRU for our use.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Recently seen keys, each with the last time it was touched.
#[derive(Debug)]
pub struct RecentKeys {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    times: HashMap<String, SystemTime>,
    order: VecDeque<(String, SystemTime)>,
}

impl RecentKeys {
    /// At most `capacity` keys, each forgotten `ttl` after its last touch.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Records `key` at `now` unless it is already there and fresh: `true` when it
    /// was new (the caller goes ahead), `false` for a duplicate.
    pub fn claim(&self, key: &str, now: SystemTime) -> bool {
        let mut inner = self.lock();
        self.evict(&mut inner, now);
        if inner.times.contains_key(key) {
            return false;
        }
        self.insert(&mut inner, key, now);
        true
    }

    /// Sets `key`'s time to `now`, whether or not it was there.
    pub fn touch(&self, key: &str, now: SystemTime) {
        let mut inner = self.lock();
        self.evict(&mut inner, now);
        self.insert(&mut inner, key, now);
    }

    /// Forgets `key` (a claimed message the engine could not take).
    pub fn release(&self, key: &str) {
        self.lock().times.remove(key);
    }

    /// The last time `key` was touched, if it is still remembered.
    pub fn last(&self, key: &str) -> Option<SystemTime> {
        self.lock().times.get(key).copied()
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.lock().times.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, inner: &mut Inner, key: &str, now: SystemTime) {
        inner.times.insert(key.to_owned(), now);
        inner.order.push_back((key.to_owned(), now));
        while inner.times.len() > self.capacity || inner.order.len() > 2 * self.capacity {
            if !Self::pop_oldest(inner) {
                break;
            }
        }
    }

    fn evict(&self, inner: &mut Inner, now: SystemTime) {
        while let Some((_, at)) = inner.order.front() {
            let expired = now.duration_since(*at).is_ok_and(|age| age > self.ttl);
            if !expired || !Self::pop_oldest(inner) {
                break;
            }
        }
    }

    /// Drops the oldest queue entry, and its key if that entry is the key's latest.
    fn pop_oldest(inner: &mut Inner) -> bool {
        let Some((key, at)) = inner.order.pop_front() else {
            return false;
        };
        if inner.times.get(&key) == Some(&at) {
            inner.times.remove(&key);
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent in a way
        // that matters (at worst a key is remembered twice), so poison is ignored.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_key_is_claimed_once_within_its_ttl() {
        let keys = RecentKeys::new(10, Duration::from_secs(60));
        assert!(keys.claim("a", at(100)));
        assert!(!keys.claim("a", at(150)));
        assert!(keys.claim("a", at(161)), "forgotten after the ttl");
    }

    #[test]
    fn capacity_bounds_memory_and_evicts_the_oldest() {
        let keys = RecentKeys::new(3, Duration::from_secs(600));
        for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
            assert!(keys.claim(key, at(i as u64)));
        }
        assert_eq!(keys.len(), 3);
        assert!(keys.claim("a", at(10)), "the oldest was evicted");
        assert!(!keys.claim("d", at(10)));
    }

    #[test]
    fn released_keys_can_be_claimed_again() {
        let keys = RecentKeys::new(3, Duration::from_secs(600));
        assert!(keys.claim("a", at(1)));
        keys.release("a");
        assert!(keys.claim("a", at(2)));
    }

    #[test]
    fn touch_moves_a_key_to_the_back() {
        let keys = RecentKeys::new(2, Duration::from_secs(600));
        keys.touch("a", at(1));
        keys.touch("b", at(2));
        keys.touch("a", at(3));
        keys.touch("c", at(4));
        assert_eq!(keys.last("a"), Some(at(3)));
        assert_eq!(keys.last("b"), None);
        for i in 0..100 {
            keys.touch("a", at(10 + i));
        }
        assert!(keys.len() <= 2);
    }
}
