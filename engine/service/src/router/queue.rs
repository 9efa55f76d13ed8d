//! The queue of waiting conversations: in order, with O(1) membership, and a count of
//! the ones not yet told their place.

use std::collections::{HashSet, VecDeque};

/// A conversation in the queue.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    pub(super) conv: u64,
    pub(super) vip: bool,
    /// The last position the visitor was told (0: none yet).
    pub(super) announced: u32,
    /// When it entered the queue (router clock, ms since the epoch).
    pub(super) since_ms: u64,
}

/// Waiting conversations, first to be served first.
#[derive(Debug, Default)]
pub(super) struct WaitQueue {
    order: VecDeque<Waiting>,
    members: HashSet<u64>,
    /// Entries with `announced == 0`.
    pub(super) unannounced: usize,
}

impl WaitQueue {
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Queues `conv` at the end (`first`: at the front — it waited already).
    pub(super) fn push(&mut self, conv: u64, vip: bool, since_ms: u64, first: bool) {
        if !self.members.insert(conv) {
            return;
        }
        let waiting = Waiting {
            conv,
            vip,
            announced: 0,
            since_ms,
        };
        self.unannounced += 1;
        if first {
            self.order.push_front(waiting);
        } else {
            self.order.push_back(waiting);
        }
    }

    pub(super) fn front(&self) -> Option<&Waiting> {
        self.order.front()
    }

    pub(super) fn pop_front(&mut self) -> Option<Waiting> {
        let waiting = self.order.pop_front()?;
        self.forget(&waiting);
        Some(waiting)
    }

    /// Takes `conv` out wherever it is (an ended or admin-assigned conversation): a
    /// walk, only when it is known to be queued.
    pub(super) fn remove(&mut self, conv: u64) -> Option<Waiting> {
        if !self.members.contains(&conv) {
            return None;
        }
        let index = self.order.iter().position(|w| w.conv == conv)?;
        let waiting = self.order.remove(index)?;
        self.forget(&waiting);
        Some(waiting)
    }

    fn forget(&mut self, waiting: &Waiting) {
        self.members.remove(&waiting.conv);
        if waiting.announced == 0 {
            self.unannounced = self.unannounced.saturating_sub(1);
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Waiting> {
        self.order.iter()
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Waiting> {
        self.order.iter_mut()
    }

    pub(super) fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
        self.unannounced = 0;
    }
}
