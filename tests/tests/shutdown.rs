//! Graceful shutdown: on SIGTERM (and SIGINT) every client gets close 1001 "server
//! shutting down", the server closes TCP, and the process exits 0 within
//! `--shutdown-deadline-ms`, also when clients never answer the close.

use std::time::{Duration, Instant};

use switchboard_tests::{read_json, ws_connect, ChatConn, RawWs, Server, Welcome, IO_TIMEOUT};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const SLACK: Duration = Duration::from_secs(5);

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut server = Server::start(&["--shards", "2", "--shutdown-deadline-ms", "3000"]);
    let mut raws: Vec<RawWs> = (0..4)
        .map(|_| RawWs::connect(server.addr(), "/echo", &[]).0)
        .collect();
    let mut chat = ChatConn::connect(&server, Some("agent"));
    // Make sure every connection is fully set up before the signal.
    for (i, ws) in raws.iter_mut().enumerate() {
        ws.send_text(&format!("ready {i}"));
        assert_eq!(ws.expect_text(IO_TIMEOUT), format!("ready {i}"));
    }
    let started = Instant::now();
    server.terminate();
    for (i, ws) in raws.iter_mut().enumerate() {
        let reason = ws.expect_close_code(1001, IO_TIMEOUT);
        assert!(
            reason.contains("shutting down"),
            "client {i}: reason {reason:?}"
        );
        ws.send_close(1001, "");
        ws.expect_eof(IO_TIMEOUT);
    }
    match switchboard_tests::ws_read(&mut chat.ws, IO_TIMEOUT) {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("chat client: expected close 1001, got {other:?}"),
    }
    let status = server.wait_exit(Duration::from_millis(3000) + SLACK);
    let status =
        status.unwrap_or_else(|| panic!("still running {:?} after SIGTERM", started.elapsed()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; stderr:\n{}",
        server.stderr_so_far()
    );
}

#[test]
fn sigterm_exits_within_the_deadline_when_clients_never_answer_the_close() {
    let mut server = Server::start(&[
        "--shards",
        "1",
        "--shutdown-deadline-ms",
        "1500",
        "--close-timeout-ms",
        "60000",
    ]);
    // Clients that read nothing and answer nothing.
    let silent: Vec<RawWs> = (0..3)
        .map(|_| RawWs::connect(server.addr(), "/echo", &[]).0)
        .collect();
    let (mut tung, _) = ws_connect(&server.ws_url("/v1/ws"), &[]);
    Welcome::from_json(&read_json(&mut tung, IO_TIMEOUT));
    let started = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_millis(1500) + SLACK);
    let elapsed = started.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!("still running {elapsed:?} after SIGTERM with a 1500 ms deadline")
    });
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; stderr:\n{}",
        server.stderr_so_far()
    );
    // The silent clients got their close frame before the process went.
    for (i, mut ws) in silent.into_iter().enumerate() {
        match ws.expect_close(IO_TIMEOUT) {
            Some((1001, _)) => {}
            other => panic!("silent client {i}: {other:?}"),
        }
    }
}

#[test]
fn sigint_is_a_graceful_shutdown_too() {
    let mut server = Server::start(&["--shards", "1", "--shutdown-deadline-ms", "3000"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    server.signal(libc::SIGINT);
    ws.expect_server_close(1001);
    let status = server
        .wait_exit(Duration::from_millis(3000) + SLACK)
        .expect("exit after SIGINT");
    assert_eq!(
        status.code(),
        Some(0),
        "stderr:\n{}",
        server.stderr_so_far()
    );
}

#[test]
fn idle_server_exits_0_on_sigterm() {
    let mut server = Server::start(&["--shards", "2"]);
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(10) + SLACK)
        .expect("exit after SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "stderr:\n{}",
        server.stderr_so_far()
    );
}

#[test]
fn no_new_connections_after_shutdown_begins() {
    let mut server = Server::start(&[
        "--shards",
        "1",
        "--shutdown-deadline-ms",
        "3000",
        "--close-timeout-ms",
        "60000",
    ]);
    let addr = server.addr();
    // A client that never answers keeps the shutdown going for the whole deadline.
    let (mut holder, _) = RawWs::connect(addr, "/echo", &[]);
    server.terminate();
    holder.expect_close_code(1001, IO_TIMEOUT);
    // Shutdown has begun: a new connection must not get a working WebSocket.
    if let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let key = switchboard_tests::new_ws_key();
        let head = format!("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            !answer.starts_with("HTTP/1.1 101"),
            "upgraded a new connection during shutdown: {answer:?}"
        );
    }
    let status = server
        .wait_exit(Duration::from_millis(3000) + SLACK)
        .expect("exit");
    assert_eq!(status.code(), Some(0));
}
