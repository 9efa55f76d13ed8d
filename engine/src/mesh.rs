//! The cross-shard mesh: a queue for every ordered pair of distinct shards, a queue per
//! shard for threads outside the shards, and an eventfd per shard to wake it. Generic
//! over the message type: the mesh names no subsystem (the shard layer's message enum
//! is `shard::ShardMsg`).
//!
//! A shard only pushes to its own row and pops from its own column, so no lock is taken
//! on the message path. Queues grow on demand in small segments (crossbeam's
//! `SegQueue`) and hold no memory while empty, so the fixed cost is linear in the shard
//! count with a small constant (a few hundred bytes per pair), instead of shards²
//! preallocated slots; each queue is bounded by a message count all the same (`push`
//! gives the message back when it is full, and the sender holds it back).

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::queue::SegQueue;
use crossbeam::utils::CachePadded;
use switchboard_driver::os::EventFd;

/// One bounded queue: a segmented lock-free queue plus its limit.
#[derive(Debug)]
struct Bounded<M> {
    queue: SegQueue<M>,
    limit: usize,
}

impl<M> Bounded<M> {
    fn new(limit: usize) -> Self {
        Bounded {
            queue: SegQueue::new(),
            limit: limit.max(1),
        }
    }

    /// Pushes unless full. The check and the push are not one atomic step, which is
    /// fine for the mesh's single producer per pair queue; for the shared inbound
    /// queues the limit may be passed by at most the number of producers.
    fn push(&self, msg: M) -> Result<(), M> {
        if self.queue.len() >= self.limit {
            return Err(msg);
        }
        self.queue.push(msg);
        Ok(())
    }
}

/// The queues and wake-ups between `shards` shards.
#[derive(Debug)]
pub struct Mesh<M> {
    shards: usize,
    /// `from * (shards - 1) + slot(from, to)`: no queue from a shard to itself.
    queues: Vec<CachePadded<Bounded<M>>>,
    wakers: Vec<EventFd>,
    /// Per shard: about to block waiting for completions (a sender must wake it).
    sleeping: Vec<CachePadded<AtomicBool>>,
    /// Per shard: messages from threads that are not shards (the cluster bridge).
    inbound: Vec<CachePadded<Bounded<M>>>,
}

impl<M> Mesh<M> {
    /// Queues of at most `pair_limit` messages between every two shards, and of at most
    /// `inbound_limit` into each shard from outside.
    pub fn new(shards: usize, pair_limit: usize, inbound_limit: usize) -> std::io::Result<Self> {
        let pairs = shards * shards.saturating_sub(1);
        Ok(Mesh {
            shards,
            queues: (0..pairs)
                .map(|_| CachePadded::new(Bounded::new(pair_limit)))
                .collect(),
            wakers: (0..shards)
                .map(|_| EventFd::new())
                .collect::<Result<_, _>>()?,
            sleeping: (0..shards)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
            inbound: (0..shards)
                .map(|_| CachePadded::new(Bounded::new(inbound_limit)))
                .collect(),
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    fn queue(&self, from: usize, to: usize) -> Option<&Bounded<M>> {
        if from == to || from >= self.shards || to >= self.shards {
            return None;
        }
        let slot = if to < from { to } else { to - 1 };
        self.queues
            .get(from * (self.shards - 1) + slot)
            .map(|q| &**q)
    }

    /// Queues `msg` from shard `from` to another shard `to`; gives it back when that
    /// queue is full (or `from == to`: a shard keeps its own messages).
    pub fn push(&self, from: usize, to: usize, msg: M) -> Result<(), M> {
        match self.queue(from, to) {
            Some(queue) => queue.push(msg),
            None => Err(msg),
        }
    }

    /// Takes the next message sent from shard `from` to shard `to`.
    pub fn pop(&self, from: usize, to: usize) -> Option<M> {
        self.queue(from, to)?.queue.pop()
    }

    /// Shard `shard` is about to block: returns whether it may (nothing arrived for it
    /// meanwhile). With [`Mesh::wake_if_sleeping`] this is the classic two-flag
    /// handshake: both sides write, fence, then read the other's side, so a message is
    /// never left unnoticed by a sleeping shard.
    pub fn may_sleep(&self, shard: usize) -> bool {
        self.sleeping[shard].store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let pending = (0..self.shards)
            .filter_map(|from| self.queue(from, shard))
            .any(|q| !q.queue.is_empty())
            || !self.inbound[shard].queue.is_empty();
        if pending {
            self.sleeping[shard].store(false, Ordering::Relaxed);
        }
        !pending
    }

    /// Queues a message from a thread outside the shards for shard `shard` and wakes
    /// it; gives it back when the queue is full.
    pub fn push_inbound(&self, shard: usize, msg: M) -> Result<(), M> {
        self.inbound[shard].push(msg)?;
        self.wake_if_sleeping(shard);
        Ok(())
    }

    /// Takes the next message from outside for shard `shard`.
    pub fn pop_inbound(&self, shard: usize) -> Option<M> {
        self.inbound[shard].queue.pop()
    }

    /// Shard `shard` is awake again.
    pub fn awake(&self, shard: usize) {
        self.sleeping[shard].store(false, Ordering::Relaxed);
    }

    /// Wakes shard `shard` if it is (about to be) blocked; a shard that is running
    /// drains its queues at the end of its turn anyway, so no syscall is needed then.
    pub fn wake_if_sleeping(&self, shard: usize) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping[shard].load(Ordering::SeqCst) {
            self.wake(shard);
        }
    }

    /// Wakes shard `shard`.
    pub fn wake(&self, shard: usize) {
        self.wakers[shard].notify();
    }

    /// The eventfd shard `shard` waits on.
    pub fn waker_fd(&self, shard: usize) -> std::os::fd::RawFd {
        self.wakers[shard].raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_per_ordered_pair_bounded_and_none_to_itself() {
        let mesh: Mesh<u32> = Mesh::new(3, 1, 2).unwrap();
        assert!(mesh.push(0, 1, 1).is_ok());
        assert_eq!(mesh.push(0, 1, 2), Err(2), "bounded");
        assert_eq!(mesh.push(1, 1, 3), Err(3), "no queue to itself");
        assert!(
            mesh.pop(1, 0).is_none(),
            "the other direction is another queue"
        );
        assert!(mesh.push(2, 1, 4).is_ok(), "another sender, another queue");
        assert_eq!(mesh.pop(0, 1), Some(1));
        assert_eq!(mesh.pop(2, 1), Some(4));
        for (from, to) in [(0, 2), (1, 0), (1, 2), (2, 0)] {
            assert!(mesh.push(from, to, 9).is_ok(), "{from}->{to}");
            assert_eq!(mesh.pop(from, to), Some(9));
        }
    }

    #[test]
    fn a_shard_with_a_message_waiting_may_not_sleep() {
        let mesh: Mesh<u32> = Mesh::new(2, 8, 8).unwrap();
        assert!(mesh.may_sleep(1));
        mesh.awake(1);
        mesh.push(0, 1, 7).unwrap();
        assert!(!mesh.may_sleep(1));
        mesh.pop(0, 1);
        mesh.push_inbound(1, 8).unwrap();
        assert!(!mesh.may_sleep(1));
    }

    #[test]
    fn an_idle_mesh_costs_little_per_shard() {
        // The fixed cost must grow about linearly with shards, not with shards².
        let size = |shards: usize| {
            let mesh: Mesh<[u8; 64]> = Mesh::new(shards, 65_536, 65_536).unwrap();
            std::mem::size_of_val(&*mesh.queues) + std::mem::size_of_val(&*mesh.inbound)
        };
        assert!(size(64) < 64 * 64 * 512, "{} bytes for 64 shards", size(64));
    }
}
