//! Ping and pong in both directions: the server answers a client ping with a pong of
//! the same payload, ignores unsolicited pongs, and pings quiet connections itself;
//! a client that never answers is closed with 1001 on the idle timeout, while a
//! client that answers pings stays connected.

use std::time::{Duration, Instant};

use switchboard_protocol::ws::Opcode;
use switchboard_tests::{
    assert_echo, client_frame, ws_connect, RawWs, Server, WsEvent, IO_TIMEOUT,
};
use tungstenite::Message;

#[test]
fn client_ping_gets_a_pong_with_the_same_payload() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    for payload in [b"".to_vec(), b"hello".to_vec(), vec![0xAB; 125]] {
        ws.send(Opcode::Ping, &payload);
        assert_eq!(ws.next_event(IO_TIMEOUT), WsEvent::Pong(payload));
    }
}

#[test]
fn tungstenite_ping_gets_a_pong() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    ws.send(Message::Ping(b"tung".to_vec().into())).unwrap();
    ws.get_mut().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match ws.read().expect("pong") {
        Message::Pong(payload) => assert_eq!(&payload[..], b"tung"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[test]
fn unsolicited_pong_is_ignored() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Pong, b"heartbeat");
    ws.send_text("still here");
    assert_eq!(
        ws.next_event(IO_TIMEOUT),
        WsEvent::Message(
            switchboard_protocol::ws::DataKind::Text,
            b"still here".to_vec()
        )
    );
}

#[test]
fn pings_are_answered_in_order_with_messages() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let mut wire = Vec::new();
    for i in 0..20u8 {
        wire.extend(client_frame(true, Opcode::Ping, &[i]));
    }
    ws.send_raw(&wire).unwrap();
    for i in 0..20u8 {
        assert_eq!(
            ws.next_event(IO_TIMEOUT),
            WsEvent::Pong(vec![i]),
            "pong {i}"
        );
    }
}

const KEEPALIVE: &[&str] = &[
    "--shards",
    "1",
    "--ping-interval-ms",
    "200",
    "--idle-timeout-ms",
    "1500",
    "--close-timeout-ms",
    "1000",
];

#[test]
fn quiet_connection_is_pinged_and_closed_1001_when_it_never_answers() {
    let server = Server::start(KEEPALIVE);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let started = Instant::now();
    let mut pings = 0;
    let close = loop {
        match ws.next_event(Duration::from_secs(15)) {
            WsEvent::Ping(_) => pings += 1,
            WsEvent::Close(close) => break close,
            other => panic!("expected pings then a close, got {other:?} after {pings} pings"),
        }
    };
    let elapsed = started.elapsed();
    assert!(
        pings >= 1,
        "server closed the quiet connection without pinging it first"
    );
    let (code, reason) = close.expect("close frame with a code");
    assert_eq!(code, 1001, "reason {reason:?}");
    assert!(reason.contains("idle"), "reason {reason:?}");
    // Timers never fire early: the idle timeout is 1.5 s.
    assert!(
        elapsed >= Duration::from_millis(1400),
        "closed after only {elapsed:?}"
    );
    ws.send_close(1001, "");
    ws.expect_eof(IO_TIMEOUT);
}

#[test]
fn unresponsive_client_loses_tcp_after_close_timeout_even_without_answering_close() {
    let server = Server::start(KEEPALIVE);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let (code, _) = ws
        .expect_close(Duration::from_secs(15))
        .expect("close code");
    assert_eq!(code, 1001);
    // No close reply: TCP must still go within --close-timeout-ms (1 s) plus slack.
    ws.expect_eof(Duration::from_secs(10));
}

#[test]
fn tungstenite_client_that_answers_pings_stays_connected() {
    let server = Server::start(KEEPALIVE);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    let mut pings = 0;
    // Three idle timeouts: reading lets tungstenite answer every ping.
    let until = Instant::now() + Duration::from_millis(4500);
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < until {
        match ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?} while idle"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(err) => panic!("connection of a client that answers pings ended: {err}"),
        }
    }
    assert!(
        pings >= 2,
        "server sent {pings} pings in 4.5 s with --ping-interval-ms 200"
    );
    assert_echo(&mut ws, Message::text("alive"));
}

#[test]
fn raw_client_that_answers_pings_stays_connected() {
    let server = Server::start(KEEPALIVE);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let until = Instant::now() + Duration::from_millis(4500);
    let mut pings = 0;
    while Instant::now() < until {
        match ws.next_event(Duration::from_millis(100)) {
            WsEvent::Ping(payload) => {
                pings += 1;
                ws.send(Opcode::Pong, &payload);
            }
            WsEvent::Timeout => {}
            other => panic!("unexpected {other:?} while answering pings"),
        }
    }
    assert!(pings >= 2, "{pings} pings");
    ws.send_text("alive");
    assert_eq!(ws.expect_text(IO_TIMEOUT), "alive");
}
