//! io_uring-only behaviour: sockets in the file table, batched waits.

use std::time::{Duration, Instant};

use super::*;
use crate::os::EventFd;

fn ring(batch_wait_us: u32) -> Uring {
    Uring::new(UringConfig {
        sq_entries: 64,
        cq_entries: 256,
        recv_buffers: 16,
        recv_buffer_size: 4096,
        batch_wait_us,
        batch_want: 32,
    })
    .expect("io_uring")
}

/// Waits until `matches` accepts a completion; returns the waits that ended empty.
fn wait_for(uring: &mut Uring, mut matches: impl FnMut(&Completion) -> bool) -> usize {
    let mut empty = 0;
    let mut out = Vec::new();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(5), "no completion");
        out.clear();
        uring.wait(&mut out, true).expect("wait");
        if out.is_empty() {
            empty += 1;
        }
        if out.iter().any(&mut matches) {
            return empty;
        }
    }
}

/// A socket registered in the file table sends and receives through its slot, and
/// unregistering it before `close` really closes it (the peer sees the end).
#[test]
fn a_registered_socket_sends_receives_and_closes() {
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut peer =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let fd = listener.accept().expect("accept").0.into_raw_fd();
    let mut uring = ring(0);
    assert!(uring.uses_file_table(), "the kernel refused the file table");
    assert!(matches!(uring.target(fd), Target::Fixed(_)));
    uring.register_socket(fd).expect("register");
    uring.recv_multi(fd, 7);
    peer.write_all(b"ping").expect("write");
    wait_for(&mut uring, |c| {
        matches!(c, Completion::Received { token: 7, .. })
    });
    let mut reply = ThinBuf::default();
    reply.extend_from_slice(b"pong");
    uring.send(fd, reply, 8);
    wait_for(&mut uring, |c| {
        matches!(c, Completion::Sent { token: 8, .. })
    });
    let mut pong = [0u8; 4];
    peer.read_exact(&mut pong).expect("read");
    assert_eq!(&pong, b"pong");
    // As the shard does: cancel the recv, wait for its end, then empty the slot, close.
    uring.cancel_recv(fd, 7);
    wait_for(&mut uring, |c| {
        matches!(
            c,
            Completion::RecvStopped {
                token: 7,
                end: RecvEnd::Cancelled
            }
        )
    });
    uring.unregister_socket(fd);
    crate::os::close(fd);
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest)
        .expect("the peer sees the end of the stream");
    assert!(rest.is_empty());
}

#[test]
fn a_batched_wait_on_an_idle_ring_sleeps_until_the_first_event() {
    // Without an overall timeout the kernel would end every wait after the min-wait,
    // empty: an idle shard would spin every 100 µs.
    let mut uring = ring(100);
    uring.tick_every(Duration::from_millis(50), 7);
    let started = Instant::now();
    let empty = wait_for(&mut uring, |c| matches!(c, Completion::Tick { token: 7 }));
    assert!(started.elapsed() >= Duration::from_millis(40));
    assert!(empty <= 2, "{empty} empty wake-ups while idle");
}

#[test]
fn a_batched_wait_wakes_for_an_eventfd_write() {
    let mut uring = ring(200);
    let eventfd = EventFd::new().expect("eventfd");
    uring.watch_wake(eventfd.raw(), 9);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            eventfd.notify();
        });
        wait_for(&mut uring, |c| matches!(c, Completion::Woken { token: 9 }));
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(19), "{took:?}");
    // 20 ms + at most the 200 µs min-wait, with room for a loaded test machine.
    assert!(took < Duration::from_millis(500), "{took:?}");
}

/// Dropping a ring with a send in flight to a peer that does not read waits for the
/// kernel to let go of the buffer (cancelled), and returns.
#[test]
fn dropping_a_ring_with_a_stuck_send_returns() {
    use std::os::fd::IntoRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let fd = listener.accept().unwrap().0.into_raw_fd();
    let mut uring = ring(0);
    uring.register_socket(fd).unwrap();
    let mut big = ThinBuf::default();
    big.resize(32 << 20, 1);
    uring.send(fd, big, 1);
    let mut out = Vec::new();
    uring.poll(&mut out).unwrap();
    assert!(uring.sends_in_flight() > 0);
    let started = Instant::now();
    drop(uring);
    assert!(started.elapsed() < DRAIN_ON_DROP + Duration::from_secs(1));
    crate::os::close(fd);
}
