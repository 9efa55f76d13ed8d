//! Every behaviour of the driver interface, run on both drivers (as monoio runs its
//! tests on each of its drivers): accept, receive, send (also more than a socket takes
//! at once), end of stream, cancel, the tick and the wake-up. io_uring is skipped, with
//! a note, where the process may not use it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use switchboard_driver::os::EventFd;
use switchboard_driver::{AnyDriver, Completion, Driver, DriverChoice, DriverConfig, RecvEnd};

fn drivers() -> Vec<AnyDriver> {
    let config = DriverConfig {
        recv_buffers: 16,
        recv_buffer_size: 1024,
        sq_entries: 64,
        cq_entries: 256,
        ..DriverConfig::default()
    };
    let mut drivers = vec![switchboard_driver::open(DriverChoice::Epoll, &config).unwrap()];
    match switchboard_driver::open(DriverChoice::IoUring, &config) {
        Ok(uring) => drivers.push(uring),
        Err(err) => eprintln!("io_uring not available here ({err}); epoll only"),
    }
    drivers
}

/// Waits until `pick` accepts a completion; returns what it made of it. Other
/// completions are kept in `seen`.
fn until<T>(
    driver: &mut AnyDriver,
    seen: &mut Vec<Completion>,
    mut pick: impl FnMut(&mut Completion) -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}: nothing matched; seen {seen:?}",
            driver.name()
        );
        let mut out = Vec::new();
        driver.wait(&mut out, false).expect("wait");
        let mut found = None;
        for mut completion in out {
            if found.is_none() {
                if let Some(value) = pick(&mut completion) {
                    found = Some(value);
                    continue;
                }
            }
            seen.push(completion);
        }
        if let Some(value) = found {
            return value;
        }
    }
}

/// A listener on loopback armed for accept, a connected peer, and the accepted fd
/// armed for receive with token 2.
fn connected(driver: &mut AnyDriver) -> (TcpListener, TcpStream, i32) {
    // Blocking, as the engine's listeners are: the driver must cope.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    driver.accept_multi(listener.as_raw_fd(), 1);
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let mut seen = Vec::new();
    let fd = until(driver, &mut seen, |c| match c {
        Completion::Accepted { token: 1, fd } => Some(*fd),
        _ => None,
    });
    driver.register_socket(fd).unwrap();
    driver.recv_multi(fd, 2);
    (listener, peer, fd)
}

fn received(driver: &mut AnyDriver, want: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut seen = Vec::new();
    while bytes.len() < want {
        until(driver, &mut seen, |c| match c {
            Completion::Received { token: 2, buf } => {
                bytes.extend_from_slice(buf.bytes_mut());
                Some(())
            }
            _ => None,
        });
    }
    bytes
}

#[test]
fn bytes_go_both_ways_and_the_end_of_stream_ends_the_receive() {
    for mut driver in drivers() {
        let (_listener, mut peer, fd) = connected(&mut driver);
        peer.write_all(b"hello driver").unwrap();
        assert_eq!(
            received(&mut driver, 12),
            b"hello driver",
            "{}",
            driver.name()
        );
        let mut reply = switchboard_driver::ThinBuf::default();
        reply.extend_from_slice(b"hi peer");
        driver.send(fd, reply, 3);
        let mut seen = Vec::new();
        let sent = until(&mut driver, &mut seen, |c| match c {
            Completion::Sent {
                token: 3, result, ..
            } => Some(result.as_ref().map(|n| *n).ok()),
            _ => None,
        });
        assert_eq!(sent, Some(7));
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi peer");
        drop(peer);
        let end = until(&mut driver, &mut seen, |c| match c {
            Completion::RecvStopped { token: 2, end } => Some(matches!(end, RecvEnd::Eof)),
            _ => None,
        });
        assert!(end, "{}: end of stream", driver.name());
        driver.unregister_socket(fd);
        switchboard_driver::os::close(fd);
    }
}

#[test]
fn a_send_larger_than_the_socket_takes_completes_whole() {
    for mut driver in drivers() {
        let (_listener, peer, fd) = connected(&mut driver);
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let mut buf = switchboard_driver::ThinBuf::default();
        buf.extend_from_slice(&payload);
        driver.send(fd, buf, 3);
        let reader = std::thread::spawn(move || {
            let mut peer = peer;
            let mut got = vec![0u8; 8 << 20];
            peer.read_exact(&mut got).unwrap();
            got
        });
        let mut seen = Vec::new();
        let sent = until(&mut driver, &mut seen, |c| match c {
            Completion::Sent {
                token: 3,
                result,
                buf,
            } => Some((result.as_ref().map(|n| *n).ok(), buf.len())),
            _ => None,
        });
        assert_eq!(sent, (Some(8 << 20), 8 << 20), "{}", driver.name());
        assert!(
            reader.join().unwrap() == payload,
            "{}: bytes differ",
            driver.name()
        );
        driver.cancel_recv(fd, 2);
        until(&mut driver, &mut seen, |c| {
            matches!(c, Completion::RecvStopped { token: 2, .. }).then_some(())
        });
        driver.unregister_socket(fd);
        switchboard_driver::os::close(fd);
    }
}

#[test]
fn a_cancelled_receive_stops_with_cancelled_and_receives_nothing_more() {
    for mut driver in drivers() {
        let (_listener, mut peer, fd) = connected(&mut driver);
        driver.cancel_recv(fd, 2);
        let mut seen = Vec::new();
        let end = until(&mut driver, &mut seen, |c| match c {
            Completion::RecvStopped { token: 2, end } => Some(matches!(end, RecvEnd::Cancelled)),
            _ => None,
        });
        assert!(end, "{}", driver.name());
        peer.write_all(b"late").unwrap();
        let mut out = Vec::new();
        std::thread::sleep(Duration::from_millis(50));
        driver.poll(&mut out).unwrap();
        assert!(
            !out.iter().any(|c| matches!(c, Completion::Received { .. })),
            "{}: received after cancel: {out:?}",
            driver.name()
        );
        driver.unregister_socket(fd);
        switchboard_driver::os::close(fd);
    }
}

#[test]
fn the_tick_repeats_and_the_wake_up_wakes_a_waiting_driver() {
    for mut driver in drivers() {
        driver.tick_every(Duration::from_millis(20), 7);
        let mut seen = Vec::new();
        for _ in 0..3 {
            until(&mut driver, &mut seen, |c| {
                matches!(c, Completion::Tick { token: 7 }).then_some(())
            });
        }
        let wake = EventFd::new().unwrap();
        driver.watch_wake(wake.raw(), 9);
        for _ in 0..2 {
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(10));
                    wake.notify();
                });
                until(&mut driver, &mut seen, |c| {
                    matches!(c, Completion::Woken { token: 9 }).then_some(())
                });
            });
        }
    }
}

#[test]
fn a_cancelled_accept_stops_and_accepts_nothing_more() {
    for mut driver in drivers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        driver.accept_multi(listener.as_raw_fd(), 1);
        driver.cancel_accept(listener.as_raw_fd(), 1);
        let mut seen = Vec::new();
        until(&mut driver, &mut seen, |c| {
            matches!(c, Completion::AcceptStopped { token: 1, .. }).then_some(())
        });
        let _peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut out = Vec::new();
        driver.poll(&mut out).unwrap();
        assert!(
            !out.iter().any(|c| matches!(c, Completion::Accepted { .. })),
            "{}: accepted after cancel",
            driver.name()
        );
    }
}
