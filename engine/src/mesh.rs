//! The cross-shard mesh: one bounded lock-free queue for every ordered pair of shards,
//! plus an eventfd per shard to wake it. A shard only ever pushes to its own row of
//! queues and pops from its own column, so no lock is taken on the message path.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::queue::ArrayQueue;

pub use switchboard_service::ids::{
    ConnId, Peer, GENERATION_MASK, MAX_NODE, MAX_SHARDS, SLOT_MASK,
};

use crate::control::ControlRequest;
use crate::metrics::Metrics;
use crate::pressure::LevelCell;
use crossbeam::utils::CachePadded;

/// Control-plane requests a shard may have waiting.
const CONTROL_QUEUE: usize = 256;
use switchboard_driver::os::EventFd;

/// A message from one shard to another.
#[derive(Debug)]
pub enum ShardMsg {
    /// Deliver a chat body to connection `to`, sent by connection `from`.
    Deliver {
        /// The receiving connection (owned by the destination shard).
        to: ConnId,
        /// The sending connection.
        from: ConnId,
        /// The message body.
        body: Box<str>,
    },
    /// A command for the router (shard 0).
    Router(switchboard_service::commands::RouterCmd),
    /// A command for the home of conversation `conv`.
    Home {
        /// The conversation.
        conv: u64,
        /// What to do.
        cmd: switchboard_service::commands::HomeCmd,
    },
    /// An encoded chat frame of conversation `conv` for connection `to`.
    Frame {
        /// The receiving connection.
        to: ConnId,
        /// The conversation it belongs to (to unfollow a connection that is gone).
        conv: u64,
        /// The payload, encoded in the connection's encoding.
        payload: std::sync::Arc<[u8]>,
        /// When the home published it (delivery latency).
        at: std::time::Instant,
        /// The node whose home published it (this node's number for local frames):
        /// where to say that `to` is gone.
        origin: u16,
    },
    /// Connection `conn` of `user` opened (`login`) or closed, for the user's
    /// presence home.
    Presence {
        /// The user.
        user: Box<str>,
        /// The connection.
        conn: ConnId,
        /// Opened (true) or closed.
        login: bool,
    },
    /// Push an application event to connection `conn`.
    Push {
        /// The connection.
        conn: ConnId,
        /// Event name.
        name: Box<str>,
        /// Event data, JSON text.
        data: Box<str>,
    },
    /// Close connection `conn` (relogin policy, admin kick) with `reason`.
    Kick {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: Box<str>,
    },
    /// News from the cluster bridge (cluster mode).
    Cluster(crate::cluster::ClusterEvent),
    /// A delivery to `target` failed: tell connection `to` (its sender).
    DeliveryFailed {
        /// The sender, owned by the destination shard.
        to: ConnId,
        /// The connection that could not be reached.
        target: ConnId,
    },
}

/// State shared by every shard of the node.
#[derive(Debug)]
pub struct Mesh {
    shards: usize,
    queues: Vec<ArrayQueue<ShardMsg>>,
    wakers: Vec<EventFd>,
    shutdown: AtomicBool,
    draining: AtomicBool,
    kernel_sheds: AtomicBool,
    /// Per shard: about to block waiting for completions (a sender must wake it).
    sleeping: Vec<CachePadded<AtomicBool>>,
    level: LevelCell,
    level_cause: std::sync::Mutex<String>,
    metrics: Metrics,
    control: Vec<ArrayQueue<ControlRequest>>,
    /// Per shard: messages from the cluster bridge threads (other nodes, Redis).
    inbound: Vec<ArrayQueue<ShardMsg>>,
}

/// Messages the cluster bridge may have waiting for one shard.
const INBOUND_QUEUE: usize = 65_536;

impl Mesh {
    /// Creates the queues (`capacity` messages each) and wake-up fds of `shards` shards.
    pub fn new(shards: usize, capacity: usize) -> std::io::Result<Self> {
        let queues = (0..shards * shards)
            .map(|_| ArrayQueue::new(capacity.max(1)))
            .collect();
        let wakers = (0..shards)
            .map(|_| EventFd::new())
            .collect::<Result<_, _>>()?;
        Ok(Mesh {
            shards,
            queues,
            wakers,
            shutdown: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            kernel_sheds: AtomicBool::new(false),
            sleeping: (0..shards)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
            level: LevelCell::default(),
            level_cause: std::sync::Mutex::new("no pressure measured yet".into()),
            metrics: Metrics::new(shards),
            control: (0..shards)
                .map(|_| ArrayQueue::new(CONTROL_QUEUE))
                .collect(),
            inbound: (0..shards)
                .map(|_| ArrayQueue::new(INBOUND_QUEUE))
                .collect(),
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    fn queue(&self, from: usize, to: usize) -> &ArrayQueue<ShardMsg> {
        &self.queues[from * self.shards + to]
    }

    /// Queues `msg` from shard `from` to shard `to`; gives it back when the queue is full.
    pub fn push(&self, from: usize, to: usize, msg: ShardMsg) -> Result<(), ShardMsg> {
        self.queue(from, to).push(msg)
    }

    /// Takes the next message sent from shard `from` to shard `to`.
    pub fn pop(&self, from: usize, to: usize) -> Option<ShardMsg> {
        self.queue(from, to).pop()
    }

    /// Shard `shard` is about to block: returns whether it may (nothing arrived for it
    /// meanwhile). With [`Mesh::wake_if_sleeping`] this is the classic two-flag
    /// handshake: both sides write, fence, then read the other's side, so a message is
    /// never left unnoticed by a sleeping shard.
    pub fn may_sleep(&self, shard: usize) -> bool {
        self.sleeping[shard].store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let pending = (0..self.shards).any(|from| !self.queue(from, shard).is_empty())
            || !self.inbound[shard].is_empty();
        if pending {
            self.sleeping[shard].store(false, Ordering::Relaxed);
        }
        !pending
    }

    /// Queues a message from a cluster bridge thread for shard `shard` and wakes it;
    /// gives it back when the queue is full.
    pub fn push_inbound(&self, shard: usize, msg: ShardMsg) -> Result<(), ShardMsg> {
        self.inbound[shard].push(msg)?;
        self.wake_if_sleeping(shard);
        Ok(())
    }

    /// Takes the next message from the cluster bridge for shard `shard`.
    pub fn pop_inbound(&self, shard: usize) -> Option<ShardMsg> {
        self.inbound[shard].pop()
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

    /// Asks every shard to shut down.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for shard in 0..self.shards {
            self.wake(shard);
        }
    }

    /// Queues a control-plane request for shard `shard` and wakes it.
    pub fn push_control(
        &self,
        shard: usize,
        request: ControlRequest,
    ) -> Result<(), ControlRequest> {
        self.control[shard].push(request)?;
        self.wake(shard);
        Ok(())
    }

    /// Takes the next control-plane request for shard `shard`.
    pub fn pop_control(&self, shard: usize) -> Option<ControlRequest> {
        self.control[shard].pop()
    }

    /// Asks every shard to drain: stop accepting and ask clients to reconnect elsewhere.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
        for shard in 0..self.shards {
            self.wake(shard);
        }
    }

    /// The degradation level in force (0–3).
    pub fn level(&self) -> &LevelCell {
        &self.level
    }

    /// Why the level is what it is.
    pub fn level_cause(&self) -> String {
        self.level_cause
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Records why the level changed (rare: only on changes).
    pub fn set_level_cause(&self, cause: String) {
        if let Ok(mut slot) = self.level_cause.lock() {
            *slot = cause;
        }
    }

    /// Records that the kernel sheds new connections at level 3 (eBPF steering is on),
    /// so shards do not refuse them again at accept.
    pub fn set_kernel_sheds(&self, on: bool) {
        self.kernel_sheds.store(on, Ordering::Relaxed);
    }

    /// Whether the kernel sheds new connections at level 3.
    pub fn kernel_sheds(&self) -> bool {
        self.kernel_sheds.load(Ordering::Relaxed)
    }

    /// Whether the node is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether shutdown was asked for.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Publishes shard `shard`'s connection count (only that shard writes it).
    pub fn set_connections(&self, shard: usize, count: usize) {
        self.metrics
            .shard(shard)
            .connections
            .store(count as u64, Ordering::Relaxed);
    }

    /// Connections held by the whole node.
    pub fn total_connections(&self) -> usize {
        self.metrics.total(|s| &s.connections) as usize
    }

    /// Every shard's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_per_ordered_pair_and_bounded() {
        let mesh = Mesh::new(2, 1).unwrap();
        let msg = |n| ShardMsg::DeliveryFailed {
            to: ConnId(n),
            target: ConnId(n),
        };
        assert!(mesh.push(0, 1, msg(1)).is_ok());
        assert!(mesh.push(0, 1, msg(2)).is_err(), "bounded");
        assert!(mesh.pop(1, 0).is_none(), "other direction is another queue");
        assert!(matches!(
            mesh.pop(0, 1),
            Some(ShardMsg::DeliveryFailed { to: ConnId(1), .. })
        ));
    }
}
