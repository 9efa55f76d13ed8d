//! Steering on a real SO_REUSEPORT group on loopback: which listener accepted each
//! connection shows where the program sent it.

mod common;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use common::{accept_all, attempt, listener_group, raw_fds, LOCALHOST};
use switchboard_ebpf::{SteerMode, Steering, TokenBucket};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const GENEROUS: TokenBucket = TokenBucket {
    rate_per_sec: 1000,
    burst: 1000,
};

/// Opens `count` connections and returns how many each listener accepted.
fn spread(listeners: &[socket2::Socket], addr: std::net::SocketAddr, count: usize) -> Vec<usize> {
    let attempts = attempt(LOCALHOST, addr, count, CONNECT_TIMEOUT);
    assert_eq!(attempts.admitted, count, "{attempts:?}");
    let accepted = accept_all(listeners, count);
    assert_eq!(accepted.iter().sum::<usize>(), count, "{accepted:?}");
    accepted
}

#[test]
fn hash_spreads_over_every_shard() {
    if !common::privileged("hash_spreads_over_every_shard") {
        return;
    }
    let (listeners, addr) = listener_group(LOCALHOST, 4);
    let steering =
        Steering::attach(&raw_fds(&listeners), SteerMode::Hash, GENEROUS).expect("attach");
    let accepted = spread(&listeners, addr, 400);
    println!("hash: {accepted:?}");
    // 100 expected each; 40 is far outside chance (binomial sd ~8.7).
    assert!(accepted.iter().all(|&n| n >= 40), "{accepted:?}");

    let counters = steering.counters().expect("counters");
    let steered: Vec<usize> = counters.steered.iter().map(|&n| n as usize).collect();
    assert_eq!(steered, accepted, "the counters match what was accepted");
    assert_eq!(counters.fallback, 0);
}

#[test]
fn least_loaded_avoids_the_loaded_shard() {
    if !common::privileged("least_loaded_avoids_the_loaded_shard") {
        return;
    }
    let (listeners, addr) = listener_group(LOCALHOST, 3);
    let steering =
        Steering::attach(&raw_fds(&listeners), SteerMode::LeastLoaded, GENEROUS).expect("attach");

    steering.set_load(0, 10).expect("load");
    steering.set_load(1, 5000).expect("load");
    steering.set_load(2, 20).expect("load");
    let accepted = spread(&listeners, addr, 100);
    println!("least-loaded (10, 5000, 20): {accepted:?}");
    assert_eq!(accepted, vec![100, 0, 0]);

    // Equal scores: ties spread by hash over all three.
    for shard in 0..3 {
        steering.set_load(shard, 7).expect("load");
    }
    let accepted = spread(&listeners, addr, 300);
    println!("least-loaded (7, 7, 7): {accepted:?}");
    assert!(accepted.iter().all(|&n| n >= 40), "{accepted:?}");

    // Shard 1 loaded again: the other two share.
    steering.set_load(1, 8).expect("load");
    let accepted = spread(&listeners, addr, 200);
    println!("least-loaded (7, 8, 7): {accepted:?}");
    assert_eq!(accepted[1], 0, "{accepted:?}");
    assert!(accepted[0] >= 40 && accepted[2] >= 40, "{accepted:?}");
}

#[test]
fn draining_shards_get_nothing() {
    if !common::privileged("draining_shards_get_nothing") {
        return;
    }
    let (listeners, addr) = listener_group(LOCALHOST, 3);
    let steering =
        Steering::attach(&raw_fds(&listeners), SteerMode::Hash, GENEROUS).expect("attach");
    steering.set_draining(0, true).expect("drain");
    let accepted = spread(&listeners, addr, 200);
    println!("hash, shard 0 draining: {accepted:?}");
    assert_eq!(accepted[0], 0, "{accepted:?}");
    assert!(accepted[1] >= 40 && accepted[2] >= 40, "{accepted:?}");

    // Least loaded: the draining shard is skipped even with the lowest score.
    let steering = {
        drop(steering);
        Steering::attach(&raw_fds(&listeners), SteerMode::LeastLoaded, GENEROUS).expect("attach")
    };
    steering.set_load(0, 0).expect("load");
    steering.set_load(1, 50).expect("load");
    steering.set_load(2, 60).expect("load");
    steering.set_draining(0, true).expect("drain");
    let accepted = spread(&listeners, addr, 50);
    println!("least-loaded (0 draining, 50, 60): {accepted:?}");
    assert_eq!(accepted, vec![0, 50, 0]);

    // Undrained: it gets them all again (lowest score).
    steering.set_draining(0, false).expect("undrain");
    let accepted = spread(&listeners, addr, 50);
    assert_eq!(accepted, vec![50, 0, 0]);

    // Every shard draining: the kernel's own hash decides, and it is counted.
    for shard in 0..3 {
        steering.set_draining(shard, true).expect("drain");
    }
    let accepted = spread(&listeners, addr, 30);
    println!("all draining (kernel hash): {accepted:?}");
    assert_eq!(steering.counters().expect("counters").fallback, 30);
}

#[test]
fn level_3_sheds_over_the_bucket_and_level_0_admits_again() {
    if !common::privileged("level_3_sheds_over_the_bucket_and_level_0_admits_again") {
        return;
    }
    let (listeners, addr) = listener_group(LOCALHOST, 2);
    // A slow refill, so the test sees the burst, not the rate.
    let bucket = TokenBucket {
        rate_per_sec: 1,
        burst: 10,
    };
    let steering = Steering::attach(&raw_fds(&listeners), SteerMode::Hash, bucket).expect("attach");
    steering.set_shed_level(3).expect("level 3");

    let attempts = attempt(LOCALHOST, addr, 30, CONNECT_TIMEOUT);
    println!("level 3, burst 10: {attempts:?}");
    // The burst, plus at most what one second of refill adds.
    assert!((10..=12).contains(&attempts.admitted), "{attempts:?}");
    assert_eq!(
        attempts.admitted + attempts.refused + attempts.timed_out,
        30
    );
    let counters = steering.counters().expect("counters");
    println!("{counters:?}");
    assert_eq!(counters.dropped_bucket as usize, 30 - attempts.admitted);
    assert_eq!(
        counters.steered.iter().sum::<u64>() as usize,
        attempts.admitted
    );

    // Another source address has its own bucket.
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let attempts = attempt(other, addr, 5, CONNECT_TIMEOUT);
    assert_eq!(attempts.admitted, 5, "127.0.0.2 starts with a full bucket");

    // Zero bucket at level 3: every new connection is shed ("dropped by level").
    steering
        .set_bucket(TokenBucket {
            rate_per_sec: 0,
            burst: 0,
        })
        .expect("bucket");
    let attempts = attempt(other, addr, 5, CONNECT_TIMEOUT);
    assert_eq!(attempts.admitted, 0, "{attempts:?}");
    assert_eq!(steering.counters().expect("counters").dropped_level, 5);

    steering.set_shed_level(0).expect("level 0");
    let attempts = attempt(LOCALHOST, addr, 30, CONNECT_TIMEOUT);
    assert_eq!(attempts.admitted, 30, "level 0 admits again: {attempts:?}");
    accept_all(&listeners, 10 + 5 + 30);
}

#[test]
fn level_3_admits_at_the_bucket_rate() {
    if !common::privileged("level_3_admits_at_the_bucket_rate") {
        return;
    }
    let (listeners, addr) = listener_group(LOCALHOST, 2);
    let bucket = TokenBucket {
        rate_per_sec: 20,
        burst: 5,
    };
    let steering = Steering::attach(&raw_fds(&listeners), SteerMode::Hash, bucket).expect("attach");
    steering.set_shed_level(3).expect("level 3");

    // Try every 5 ms for 1.5 s: about 300 tries for 5 + 30 tokens.
    let start = Instant::now();
    let mut attempts = common::Attempts::default();
    while start.elapsed() < Duration::from_millis(1500) {
        common::record(
            &mut attempts,
            common::connect_from(LOCALHOST, addr, CONNECT_TIMEOUT),
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let expected = 5.0 + 20.0 * elapsed;
    println!("rate 20/s, burst 5, {elapsed:.2} s: {attempts:?}, expected ~{expected:.0}");
    let admitted = attempts.admitted as f64;
    assert!(
        admitted >= expected * 0.8 && admitted <= expected + 2.0,
        "{attempts:?} vs ~{expected:.1}"
    );
    let counters = steering.counters().expect("counters");
    assert_eq!(
        counters.dropped_bucket as usize,
        attempts.refused + attempts.timed_out
    );
    accept_all(&listeners, attempts.admitted);
}
