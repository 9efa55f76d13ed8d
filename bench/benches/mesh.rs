//! The cross-shard channel: one producer thread streams messages to one consumer
//! thread, as shard 0 sends to shard 1 through the engine's [`Mesh`] (a bounded
//! `crossbeam::queue::ArrayQueue` per ordered pair of shards), against
//!
//! - `std_sync_channel`: `std::sync::mpsc::sync_channel` of the same capacity;
//! - `mutex_vecdeque`: a `Mutex<VecDeque>` bounded at the same capacity.
//!
//! The message is the engine's own [`ShardMsg::Frame`] (an encoded frame shared by
//! `Arc`, the commonest cross-shard message in a chat); capacity is the engine's
//! default `--mesh-queue` (65,536). One element of the figures is a batch of 1,000
//! messages: the producer streams `iters × 1,000` messages and the clock runs from
//! the moment both threads are ready until the consumer has taken the last one.
//! Waiting (a full queue, an empty one) spins, then yields (`crossbeam`'s `Backoff`),
//! except `sync_channel`, which blocks as it is meant to.
//!
//! Run with `cargo bench -p switchboard-bench --bench mesh`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use crossbeam::utils::Backoff;
use switchboard_engine::mesh::Mesh;
use switchboard_engine::shard::ShardMsg;
use switchboard_service::ids::{ConnId, SLOT_MASK};

const BATCH: u64 = 1_000;
const CAPACITY: usize = 65_536;

/// The message pushed: an encoded frame for a connection of shard 1. Its `at` stamp
/// is the run's start, so no clock is read per message.
fn message(payload: &Arc<[u8]>, at: Instant, n: u64) -> ShardMsg {
    ShardMsg::Frame {
        to: ConnId::new(1, n as u32 & SLOT_MASK, 0),
        conv: 1_048_577,
        payload: Arc::clone(payload),
        at,
        origin: 0,
    }
}

/// Runs `produce` and `consume` on two threads released together; the time is from
/// the moment the producer starts (its own clock read, so a late-waking main thread
/// cannot shorten it) until `consume` returns.
fn race(
    produce: impl FnOnce() + Send + 'static,
    consume: impl FnOnce() + Send + 'static,
) -> Duration {
    let ready = Arc::new(Barrier::new(2));
    let consumer = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            ready.wait();
            consume();
            Instant::now()
        })
    };
    let producer = thread::spawn(move || {
        ready.wait();
        let start = Instant::now();
        produce();
        start
    });
    let start = producer.join().expect("producer");
    let end = consumer.join().expect("consumer");
    end.duration_since(start)
}

fn through_mesh(messages: u64, payload: Arc<[u8]>) -> Duration {
    let mesh = Arc::new(Mesh::new(2, CAPACITY, CAPACITY).expect("mesh"));
    let sender = Arc::clone(&mesh);
    let at = Instant::now();
    race(
        move || {
            for n in 0..messages {
                let mut msg = message(&payload, at, n);
                let backoff = Backoff::new();
                while let Err(back) = sender.push(0, 1, msg) {
                    msg = back;
                    backoff.snooze();
                }
            }
        },
        move || {
            let backoff = Backoff::new();
            let mut taken = 0;
            while taken < messages {
                match mesh.pop(0, 1) {
                    Some(msg) => {
                        black_box(msg);
                        taken += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
        },
    )
}

fn through_sync_channel(messages: u64, payload: Arc<[u8]>) -> Duration {
    let (tx, rx) = sync_channel(CAPACITY);
    let at = Instant::now();
    race(
        move || {
            for n in 0..messages {
                tx.send(message(&payload, at, n)).expect("receiver alive");
            }
        },
        move || {
            for _ in 0..messages {
                black_box(rx.recv().expect("sender alive"));
            }
        },
    )
}

fn through_mutex_vecdeque(messages: u64, payload: Arc<[u8]>) -> Duration {
    let queue = Arc::new(Mutex::new(VecDeque::with_capacity(CAPACITY)));
    let sender = Arc::clone(&queue);
    let at = Instant::now();
    race(
        move || {
            for n in 0..messages {
                let msg = message(&payload, at, n);
                let backoff = Backoff::new();
                loop {
                    let mut queue = sender.lock().expect("not poisoned");
                    if queue.len() < CAPACITY {
                        queue.push_back(msg);
                        break;
                    }
                    drop(queue);
                    backoff.snooze();
                }
            }
        },
        move || {
            let backoff = Backoff::new();
            let mut taken = 0;
            while taken < messages {
                let msg = queue.lock().expect("not poisoned").pop_front();
                match msg {
                    Some(msg) => {
                        black_box(msg);
                        taken += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
        },
    )
}

/// One way of moving `messages` messages across; returns the time it took.
type Run = fn(u64, Arc<[u8]>) -> Duration;

fn benches(c: &mut Criterion) {
    let payload: Arc<[u8]> = vec![0x42; 120].into();
    let mut group = c.benchmark_group("mesh/spsc_1000");
    group.throughput(Throughput::Elements(BATCH));
    let variants: [(&str, Run); 3] = [
        ("mutex_vecdeque", through_mutex_vecdeque),
        ("std_sync_channel", through_sync_channel),
        ("mesh_arrayqueue", through_mesh),
    ];
    for (name, run) in variants {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run(iters * BATCH, Arc::clone(&payload)))
        });
    }
    group.finish();
}

/// What `criterion_main!` would generate, without its undocumented public function.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
