//! A conversation's bounded history, stored in fixed blocks of [`BLOCK`] items.
//!
//! A `VecDeque` doubles its buffer as it grows and copies every item across: with many
//! conversations growing in step (a busy shard: all reach 128 items, then 256, at about
//! the same time), the shard stopped for ~100 ms copying tens of megabytes and faulting
//! in fresh pages, and the slowest delivery jumped to 40–100 ms (issue #20). In blocks,
//! each line costs at most one small allocation of its own block, never a copy of the
//! others; the block list itself is a few pointers.

use std::collections::VecDeque;

use super::Item;

/// Items per block.
pub(crate) const BLOCK: usize = 32;

/// The items of one conversation, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    blocks: VecDeque<VecDeque<Item>>,
    len: usize,
}

impl History {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push_back(&mut self, item: Item) {
        match self.blocks.back_mut() {
            Some(block) if block.len() < BLOCK => block.push_back(item),
            _ => {
                let mut block = VecDeque::with_capacity(BLOCK);
                block.push_back(item);
                self.blocks.push_back(block);
            }
        }
        self.len += 1;
    }

    pub(crate) fn pop_front(&mut self) -> Option<Item> {
        let front = self.blocks.front_mut()?;
        let item = front.pop_front();
        if front.is_empty() {
            self.blocks.pop_front();
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// Takes the newest item off (a write of it failed, see `Homes::rewind`).
    pub(crate) fn pop_back(&mut self) -> Option<Item> {
        let back = self.blocks.back_mut()?;
        let item = back.pop_back();
        if back.is_empty() {
            self.blocks.pop_back();
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    pub(crate) fn front(&self) -> Option<&Item> {
        self.blocks.front()?.front()
    }

    pub(crate) fn back(&self) -> Option<&Item> {
        self.blocks.back()?.back()
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Item> {
        self.blocks.iter().flatten()
    }

    /// The newest `n` items, oldest first.
    pub(crate) fn newest(&self, n: usize) -> impl Iterator<Item = &Item> {
        self.iter().skip(self.len.saturating_sub(n))
    }

    /// The item with sequence number `seq`, found from the back (retries are recent).
    pub(crate) fn by_seq(&self, seq: u64) -> Option<&Item> {
        self.iter().rev().find(|item| item.seq == seq)
    }
}

impl From<Vec<Item>> for History {
    fn from(items: Vec<Item>) -> Self {
        let mut history = History::default();
        for item in items {
            history.push_back(item);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::ItemBody;
    use super::*;

    fn item(seq: u64) -> Item {
        Item {
            seq,
            ts: seq,
            body: ItemBody::Message {
                from: "u".into(),
                client_msg_id: seq.to_string().into(),
                body: "b".into(),
            },
        }
    }

    proptest! {
        /// Pushes and pops in any order keep the same items in the same order as a
        /// plain deque would, and no block ever holds more than [`BLOCK`].
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec(any::<bool>(), 0..400)) {
            let mut history = History::default();
            let mut model = std::collections::VecDeque::new();
            let mut next = 1;
            for push in ops {
                if push {
                    history.push_back(item(next));
                    model.push_back(next);
                    next += 1;
                } else {
                    prop_assert_eq!(history.pop_front().map(|i| i.seq), model.pop_front());
                }
                prop_assert_eq!(history.len(), model.len());
                let seqs: Vec<u64> = history.iter().map(|i| i.seq).collect();
                prop_assert_eq!(&seqs, &model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(history.front().map(|i| i.seq), model.front().copied());
                prop_assert_eq!(history.back().map(|i| i.seq), model.back().copied());
                prop_assert!(history.blocks.iter().all(|b| b.len() <= BLOCK && b.capacity() < 2 * BLOCK));
                if let Some(&last) = model.back() {
                    prop_assert_eq!(history.by_seq(last).map(|i| i.seq), Some(last));
                    let newest: Vec<u64> = history.newest(3).map(|i| i.seq).collect();
                    let want: Vec<u64> = model.iter().rev().take(3).rev().copied().collect();
                    prop_assert_eq!(newest, want);
                }
            }
        }
    }
}
