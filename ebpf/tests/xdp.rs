//! The XDP program in a network namespace pair the test creates: a listener in
//! namespace `a` behind the veth that carries the program, clients in namespace `b`.
//! A dropped SYN makes the client's connect time out (no reset is sent).

mod common;

use std::{
    io::{Read as _, Write as _},
    net::{IpAddr, SocketAddr, TcpListener},
    time::{Duration, Instant},
};

use common::{in_netns, Attempts, NetnsPair, ADDR_A, ADDR_B};
use switchboard_ebpf::{TokenBucket, XdpGuard};

/// A passing SYN on a veth is answered in well under a millisecond.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(150);

struct Setup {
    // Field order is drop order: the guard detaches before the namespaces go.
    guard: XdpGuard,
    listener: TcpListener,
    server: SocketAddr,
    pair: NetnsPair,
}

fn setup(bucket: TokenBucket) -> Setup {
    let pair = NetnsPair::create();
    let (guard, listener) = in_netns(&pair.a, || {
        let listener = TcpListener::bind((ADDR_A, 0)).expect("listen in namespace a");
        let guard = XdpGuard::attach(
            &pair.veth_a,
            listener.local_addr().expect("addr").port(),
            bucket,
        )
        .expect("attach XDP in namespace a");
        (guard, listener)
    });
    let server = listener.local_addr().expect("addr");
    Setup {
        guard,
        listener,
        server,
        pair,
    }
}

/// Accepts `count` connections and returns the last one.
fn accept_last(listener: &TcpListener, count: usize) -> std::net::TcpStream {
    let mut last = None;
    for _ in 0..count {
        last = Some(listener.accept().expect("accept").0);
    }
    last.expect("at least one")
}

/// `count` connection attempts from namespace `b`.
fn attempt_from_b(setup: &Setup, count: usize) -> Attempts {
    in_netns(&setup.pair.b, || {
        common::attempt(IpAddr::V4(ADDR_B), setup.server, count, CONNECT_TIMEOUT)
    })
}

#[test]
fn level_3_drops_syns_and_level_0_passes_them() {
    if !common::privileged("level_3_drops_syns_and_level_0_passes_them") {
        return;
    }
    let setup = setup(TokenBucket {
        rate_per_sec: 0,
        burst: 0,
    });

    let attempts = attempt_from_b(&setup, 5);
    assert_eq!(attempts.admitted, 5, "level 0 passes: {attempts:?}");
    // A connection made now must keep working at level 3.
    let mut client = in_netns(&setup.pair.b, || {
        common::connect_from(IpAddr::V4(ADDR_B), setup.server, CONNECT_TIMEOUT)
            .expect("connect at level 0")
    });
    let mut served = accept_last(&setup.listener, 6);

    setup.guard.set_shed_level(3).expect("level 3");
    let attempts = attempt_from_b(&setup, 5);
    println!("level 3, zero bucket: {attempts:?}");
    assert_eq!(
        attempts.timed_out, 5,
        "SYNs dropped, so connect times out: {attempts:?}"
    );

    // Established traffic passes at level 3, both ways.
    served.write_all(b"ping").expect("server writes");
    let mut buf = [0u8; 4];
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    client
        .read_exact(&mut buf)
        .expect("client reads at level 3");
    client.write_all(b"pong").expect("client writes");
    served
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    served
        .read_exact(&mut buf)
        .expect("server reads at level 3");
    assert_eq!(&buf, b"pong");

    // SYNs to another port are not the guard's business.
    let other = in_netns(&setup.pair.a, || {
        TcpListener::bind((ADDR_A, 0)).expect("listen")
    });
    let other_addr = other.local_addr().expect("addr");
    let attempts = in_netns(&setup.pair.b, || {
        common::attempt(IpAddr::V4(ADDR_B), other_addr, 3, CONNECT_TIMEOUT)
    });
    assert_eq!(
        attempts.admitted, 3,
        "other port passes at level 3: {attempts:?}"
    );
    let counters = setup.guard.counters().expect("counters");
    println!("{counters:?}");
    assert_eq!(counters.dropped_level, 5);
    assert_eq!(counters.passed, 6);
    // The dropped clients' SYN retransmissions are not seen: connect gave up first.
    assert_eq!(counters.syn_seen, 11);

    setup.guard.set_shed_level(0).expect("level 0");
    let attempts = attempt_from_b(&setup, 5);
    assert_eq!(attempts.admitted, 5, "level 0 passes again: {attempts:?}");
    assert_eq!(setup.guard.counters().expect("counters").passed, 11);
}

#[test]
fn level_3_admits_at_the_bucket_rate() {
    if !common::privileged("xdp level_3_admits_at_the_bucket_rate") {
        return;
    }
    let (rate, burst) = (10, 3);
    let setup = setup(TokenBucket {
        rate_per_sec: rate,
        burst,
    });
    setup.guard.set_shed_level(3).expect("level 3");

    // Back-to-back attempts for 2 s: each dropped one costs the connect timeout.
    let (attempts, elapsed) = in_netns(&setup.pair.b, || {
        let start = Instant::now();
        let mut attempts = Attempts::default();
        while start.elapsed() < Duration::from_secs(2) {
            common::record(
                &mut attempts,
                common::connect_from(IpAddr::V4(ADDR_B), setup.server, CONNECT_TIMEOUT),
            );
        }
        (attempts, start.elapsed().as_secs_f64())
    });
    let expected = f64::from(burst) + f64::from(rate) * elapsed;
    println!("rate {rate}/s, burst {burst}, {elapsed:.2} s: {attempts:?}, expected ~{expected:.0}");
    let admitted = attempts.admitted as f64;
    assert!(
        admitted >= expected * 0.75 && admitted <= expected + 2.0,
        "{attempts:?} vs ~{expected:.1}"
    );
    let counters = setup.guard.counters().expect("counters");
    println!("{counters:?}");
    assert_eq!(counters.dropped_bucket as usize, attempts.timed_out);
    assert_eq!(counters.passed as usize, attempts.admitted);
}
