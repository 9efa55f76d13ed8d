//! Protection against clients that hold resources: a slow consumer (never reads while
//! the server echoes a lot) is closed with 1013 or dropped within a bound, and a
//! slowloris handshake (head sent byte by byte) gets 408 or is closed once
//! `--handshake-timeout-ms` passes; other clients are served all the while.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use switchboard_protocol::ws::Opcode;
use switchboard_tests::{
    assert_echo, client_frame, pattern, tcp_connect, tcp_connect_small_rcvbuf, ws_connect,
    Deadline, RawWs, Server, WsEvent,
};
use tungstenite::Message;

#[test]
fn slow_consumer_is_closed_1013_or_dropped_while_others_are_served() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--max-outbound-bytes",
        "65536",
        "--close-timeout-ms",
        "1000",
    ]);
    let addr = server.addr();
    let (mut other, _) = ws_connect(&server.ws_url("/echo"), &[]);
    let (mut slow, _) =
        RawWs::connect_stream(tcp_connect_small_rcvbuf(addr, 4096), addr, "/echo", &[]);
    let open_with_slow = switchboard_tests::wait_for(Duration::from_secs(5), || {
        server.health()["connections"].as_u64().filter(|&n| n >= 2)
    })
    .expect("health counts both connections");

    slow.stream.set_nonblocking(true).unwrap();
    let frame = client_frame(true, Opcode::Binary, &pattern(16 * 1024, 21));
    // Once the server has given up on the slow consumer it may read and discard input
    // until --close-timeout-ms passes; stop writing after this much and wait.
    let cap: usize = 64 << 20;
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut round_trips = 0;
    let started = Instant::now();
    let deadline = Deadline::after(Duration::from_secs(30));
    let mut last_check = Instant::now();
    let how_closed = loop {
        if out.is_empty() && written < cap {
            out.extend_from_slice(&frame);
        }
        match slow.stream.write(&out) {
            Ok(_) if out.is_empty() => thread::sleep(Duration::from_millis(5)),
            Ok(n) => {
                written += n;
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("write failed: {e}"),
        }
        if last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            // The other client on the same shard is served meanwhile.
            assert_echo(
                &mut other,
                Message::text(format!("round trip {round_trips}")),
            );
            round_trips += 1;
            let now = server.health()["connections"].as_u64().unwrap();
            if now < open_with_slow {
                break format!("health: connections {open_with_slow} -> {now}");
            }
        }
        assert!(
            !deadline.passed(),
            "slow consumer still connected after {:?}: wrote {written} bytes, server kept reading = {}",
            started.elapsed(),
            out.is_empty()
        );
    };
    eprintln!(
        "slow consumer ended after {:?} and {written} bytes: {how_closed}",
        started.elapsed()
    );

    // Now read what reached the client: echoes, then close 1013 and/or the end of TCP.
    slow.stream.set_nonblocking(false).unwrap();
    let deadline = Deadline::after(Duration::from_secs(20));
    let mut echoed = 0usize;
    let end = loop {
        match slow.next_event(deadline.left()) {
            WsEvent::Message(_, data) => echoed += data.len(),
            WsEvent::Ping(_) | WsEvent::Pong(_) => {}
            WsEvent::Close(Some((code, reason))) => {
                assert_eq!(code, 1013, "slow consumer closed with {code} {reason:?}");
                break format!("close 1013 {reason:?}");
            }
            WsEvent::Eof => break "EOF".to_owned(),
            WsEvent::Error(io::ErrorKind::ConnectionReset, msg) => break format!("reset: {msg}"),
            other => panic!("slow consumer: expected echoes then close 1013 or a dropped connection, got {other:?}"),
        }
    };
    eprintln!("slow consumer saw {echoed} echoed bytes, then {end}");
    assert!(
        echoed < written,
        "everything was echoed: the server never gave up on the slow consumer"
    );
    assert!(round_trips >= 1 || started.elapsed() < Duration::from_millis(200));
    // And the other client is still fine afterwards.
    assert_echo(&mut other, Message::binary(pattern(1000, 22)));
}

#[test]
fn slowloris_handshake_gets_408_or_closed_while_others_are_served() {
    let server = Server::start(&["--shards", "1", "--handshake-timeout-ms", "1000"]);
    let addr = server.addr();
    let url = server.ws_url("/echo");
    let normal = thread::spawn(move || {
        // Several complete handshakes and echoes while the slowloris dribbles.
        let until = Instant::now() + Duration::from_millis(2500);
        let mut served = 0;
        while Instant::now() < until {
            let (mut ws, _) = ws_connect(&url, &[]);
            assert_echo(&mut ws, Message::text(format!("served {served}")));
            served += 1;
            thread::sleep(Duration::from_millis(100));
        }
        served
    });

    let head = format!(
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut stream = tcp_connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let started = Instant::now();
    let deadline = Deadline::after(Duration::from_secs(15));
    let mut sent = 0;
    let mut answer = Vec::new();
    let outcome = 'outer: loop {
        if sent < head.len() {
            match stream.write(&head.as_bytes()[sent..=sent]) {
                Ok(n) => sent += n,
                Err(e) => break format!("write failed: {e}"),
            }
        }
        // Wait ~50 ms for an answer or the end of the connection.
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break 'outer "EOF".to_owned(),
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => break 'outer format!("read failed: {e}"),
            }
        }
        assert!(
            !deadline.passed(),
            "slowloris still open after {:?}, {sent} of {} bytes sent",
            started.elapsed(),
            head.len()
        );
    };
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    eprintln!(
        "slowloris ended after {elapsed:?} with {sent} bytes sent: {outcome}; answer {answer:?}"
    );
    assert!(
        sent < head.len(),
        "the whole head went through ({elapsed:?}); the timeout never fired"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "slowloris answered {answer:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after only {elapsed:?} with a 1000 ms timeout"
    );
    let served = normal.join().expect("normal client thread");
    assert!(
        served >= 3,
        "only {served} normal clients served during the slowloris"
    );
}

#[test]
fn connection_that_sends_nothing_is_closed_after_the_handshake_timeout() {
    let server = Server::start(&["--shards", "1", "--handshake-timeout-ms", "500"]);
    let mut stream = tcp_connect(server.addr());
    let mut answer = Vec::new();
    // Must end (EOF, or a 408 then EOF) well within IO_TIMEOUT.
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("silent connection not closed: {e}"),
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "answered {answer:?}"
    );
}

#[test]
fn closed_slow_consumer_loses_tcp_after_close_timeout_even_if_it_keeps_sending() {
    // After the server's close frame it waits at most --close-timeout-ms for the
    // client's close; a client that keeps sending data instead must not keep the
    // connection (and the server's reading work) alive.
    let server = Server::start(&[
        "--shards",
        "1",
        "--max-outbound-bytes",
        "65536",
        "--close-timeout-ms",
        "1000",
    ]);
    let addr = server.addr();
    let (mut slow, _) =
        RawWs::connect_stream(tcp_connect_small_rcvbuf(addr, 4096), addr, "/echo", &[]);
    let with_slow = switchboard_tests::wait_for(Duration::from_secs(5), || {
        server.health()["connections"].as_u64().filter(|&n| n >= 1)
    })
    .expect("health counts the connection");
    slow.stream.set_nonblocking(true).unwrap();
    let frame = client_frame(true, Opcode::Binary, &pattern(16 * 1024, 23));
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let started = Instant::now();
    let mut last_check = Instant::now();
    // 1 s close timeout + generous slack for a noisy machine.
    let bound = Duration::from_secs(8);
    let how = loop {
        if out.is_empty() {
            out.extend_from_slice(&frame);
        }
        match slow.stream.write(&out) {
            Ok(n) => {
                written += n;
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("write failed: {e}"),
        }
        if last_check.elapsed() >= Duration::from_millis(100) {
            last_check = Instant::now();
            let now = server.health()["connections"].as_u64().unwrap();
            if now < with_slow {
                break format!("health: connections {with_slow} -> {now}");
            }
        }
        assert!(
            started.elapsed() < bound,
            "connection still open {:?} after the flood began ({} MiB written); \
             the server keeps reading from a client it has closed",
            started.elapsed(),
            written >> 20
        );
    };
    eprintln!(
        "ended after {:?}, {} MiB: {how}",
        started.elapsed(),
        written >> 20
    );
}
