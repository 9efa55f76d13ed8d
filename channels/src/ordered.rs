//! Per-conversation FIFO queues with one due time per conversation: the scheduling
//! core of the outbound workers and of the webhook dispatcher. A conversation's head
//! item is attempted when it is due; a retry pushes its due time back, so the
//! conversation's later items wait (order is kept) while other conversations go on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

/// Items queued per key, the head of each key being the one in progress.
#[derive(Debug)]
pub(crate) struct OrderedQueues<T> {
    queues: HashMap<u64, VecDeque<T>>,
    /// One entry per key whose head waits to be attempted. A key taken by
    /// [`Self::next_due`] has none until it is deferred or finished.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl<T> Default for OrderedQueues<T> {
    fn default() -> Self {
        Self {
            queues: HashMap::new(),
            due: BinaryHeap::new(),
        }
    }
}

impl<T> OrderedQueues<T> {
    /// Queues `item` under `key`, after every queued item whose `order` is not larger
    /// (never before the head, which may be half-way through its retries).
    pub(crate) fn push(&mut self, key: u64, item: T, now: Instant, order: impl Fn(&T) -> u64) {
        let queue = self.queues.entry(key).or_default();
        if queue.is_empty() {
            queue.push_back(item);
            self.due.push(Reverse((now, key)));
            return;
        }
        let rank = order(&item);
        let at = queue
            .iter()
            .skip(1)
            .position(|queued| order(queued) > rank)
            .map_or(queue.len(), |i| i + 1);
        queue.insert(at, item);
    }

    /// Takes a key whose head is due at `now`.
    pub(crate) fn next_due(&mut self, now: Instant) -> Option<u64> {
        let Reverse((at, _)) = self.due.peek()?;
        if *at > now {
            return None;
        }
        self.due.pop().map(|Reverse((_, key))| key)
    }

    /// The head item of `key`.
    pub(crate) fn head_mut(&mut self, key: u64) -> Option<&mut T> {
        self.queues.get_mut(&key).and_then(VecDeque::front_mut)
    }

    /// Removes the head of a taken key; the next item is due at once.
    pub(crate) fn finish_head(&mut self, key: u64, now: Instant) -> Option<T> {
        let queue = self.queues.get_mut(&key)?;
        let head = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&key);
        } else {
            self.due.push(Reverse((now, key)));
        }
        Some(head)
    }

    /// Puts a taken key back, due at `at`.
    pub(crate) fn defer(&mut self, key: u64, at: Instant) {
        if self.queues.contains_key(&key) {
            self.due.push(Reverse((at, key)));
        }
    }

    /// When the earliest key is due.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes every item.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.due.clear();
        self.queues.drain().flat_map(|(_, queue)| queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_deferred_head_holds_back_its_key_only() {
        let now = Instant::now();
        let mut q = OrderedQueues::default();
        let id = |x: &u64| *x;
        q.push(1, 10, now, id);
        q.push(1, 11, now, id);
        q.push(2, 20, now, id);
        let first = q.next_due(now).expect("due");
        let second = q.next_due(now).expect("due");
        assert_eq!(q.next_due(now), None);
        let (one, two) = if first == 1 {
            (first, second)
        } else {
            (second, first)
        };
        q.defer(one, now + Duration::from_secs(1));
        assert_eq!(q.finish_head(two, now), Some(20));
        assert_eq!(q.next_due(now), None, "key 1 waits for its retry");
        assert_eq!(q.next_wake(), Some(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        assert_eq!(q.next_due(later), Some(1));
        assert_eq!(q.finish_head(1, later), Some(10));
        assert_eq!(q.next_due(later), Some(1));
        assert_eq!(q.finish_head(1, later), Some(11));
        assert_eq!(q.next_wake(), None);
        assert!(q.head_mut(1).is_none());
    }

    #[test]
    fn items_are_kept_in_order_behind_the_head() {
        let now = Instant::now();
        let mut q = OrderedQueues::default();
        let id = |x: &u64| *x;
        for seq in [5, 9, 7, 6, 8] {
            q.push(1, seq, now, id);
        }
        let mut out = Vec::new();
        while let Some(key) = q.next_due(now) {
            out.extend(q.finish_head(key, now));
        }
        assert_eq!(out, vec![5, 6, 7, 8, 9]);
    }
}
