//! One shard's memory of the back end's answers: identities until their expiry,
//! refusals briefly. Bounded: when full, expired entries go first, then the entry
//! closest to expiry — a full cache costs one more call, never memory.

use std::collections::HashMap;

use super::answer::Verdict;

/// A shard's cached answers, keyed by credential.
#[derive(Debug, Default)]
pub struct VerdictCache {
    entries: HashMap<Box<str>, (Verdict, u64)>,
    capacity: usize,
}

impl VerdictCache {
    /// An empty cache holding at most `capacity` answers (0: caching off).
    pub fn new(capacity: usize) -> VerdictCache {
        VerdictCache {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// The answer for `key` if it is still valid at `now_ms`.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<&Verdict> {
        let fresh = self
            .entries
            .get(key)
            .is_some_and(|(_, until)| *until > now_ms);
        if !fresh {
            self.entries.remove(key);
            return None;
        }
        self.entries.get(key).map(|(verdict, _)| verdict)
    }

    /// Keeps `verdict` for `key` until `until_ms`.
    pub fn put(&mut self, key: Box<str>, verdict: Verdict, until_ms: u64, now_ms: u64) {
        if self.capacity == 0 || until_ms <= now_ms {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, until)| *until > now_ms);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (verdict, until_ms));
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Verdict {
        Verdict::Refused("no".into())
    }

    #[test]
    fn answers_expire() {
        let mut cache = VerdictCache::new(4);
        cache.put("a".into(), refused(), 100, 0);
        assert!(cache.get("a", 99).is_some());
        assert!(cache.get("a", 100).is_none());
        assert!(cache.is_empty(), "an expired answer is dropped when met");
    }

    #[test]
    fn a_full_cache_stays_within_its_bound() {
        let mut cache = VerdictCache::new(3);
        for (i, until) in [50, 10, 70, 90].into_iter().enumerate() {
            cache.put(format!("k{i}").into(), refused(), until, 0);
        }
        assert_eq!(cache.len(), 3);
        assert!(
            cache.get("k1", 0).is_none(),
            "the entry closest to expiry went"
        );
        assert!(cache.get("k3", 0).is_some());
        let mut off = VerdictCache::new(0);
        off.put("x".into(), refused(), 10, 0);
        assert!(off.is_empty());
    }
}
