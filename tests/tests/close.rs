//! The closing handshake: the server echoes a client's valid close code and then
//! closes TCP (read returns 0); invalid close codes and one-byte close payloads are
//! 1002, an invalid UTF-8 reason is 1007; nothing after a close frame is processed.

use switchboard_protocol::ws::Opcode;
use switchboard_tests::{client_close, client_frame, RawWs, Server, WsEvent, IO_TIMEOUT};

fn server() -> Server {
    Server::start(&["--shards", "1", "--close-timeout-ms", "1000"])
}

#[test]
fn normal_close_is_echoed_then_tcp_closed() {
    let server = server();
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_text("before");
    assert_eq!(ws.expect_text(IO_TIMEOUT), "before");
    ws.send_close(1000, "bye");
    assert_eq!(
        ws.expect_close(IO_TIMEOUT).map(|(code, _)| code),
        Some(1000)
    );
    ws.expect_eof(IO_TIMEOUT);
}

#[test]
fn every_valid_close_code_is_echoed() {
    let server = server();
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
        ws.send_close(code, "client says so");
        match ws.expect_close(IO_TIMEOUT) {
            Some((got, _)) => assert_eq!(got, code, "echo of close code {code}"),
            None => panic!("close {code} answered with an empty close"),
        }
        ws.expect_eof(IO_TIMEOUT);
    }
}

#[test]
fn empty_close_is_answered_and_tcp_closed() {
    let server = server();
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Close, &[]);
    match ws.expect_close(IO_TIMEOUT) {
        None | Some((1000, _)) => {}
        Some(other) => panic!("empty close answered with {other:?}"),
    }
    ws.expect_eof(IO_TIMEOUT);
}

#[test]
fn data_after_the_close_frame_is_not_processed() {
    let server = server();
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let mut wire = client_close(1000, "");
    wire.extend(client_frame(true, Opcode::Text, b"too late"));
    ws.send_raw(&wire).unwrap();
    match ws.next_event(IO_TIMEOUT) {
        WsEvent::Close(Some((1000, _))) => {}
        other => panic!("expected close 1000 and no echo, got {other:?}"),
    }
    ws.expect_eof(IO_TIMEOUT);
}

fn assert_close_refused(payload: &[u8], expected: u16) {
    let server = server();
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Close, payload);
    let reason = ws.expect_close_code(expected, IO_TIMEOUT);
    assert!(
        !reason.is_empty(),
        "server-initiated close {expected} without a reason"
    );
    // We already sent our close: the server must now close TCP.
    ws.expect_eof(IO_TIMEOUT);
}

#[test]
fn close_code_1005_is_1002() {
    assert_close_refused(&1005u16.to_be_bytes(), 1002);
}

#[test]
fn close_code_999_is_1002() {
    assert_close_refused(&999u16.to_be_bytes(), 1002);
}

#[test]
fn close_codes_never_valid_on_the_wire_are_1002() {
    for code in [0u16, 1004, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
        let server = server();
        let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
        ws.send(Opcode::Close, &code.to_be_bytes());
        match ws.expect_close(IO_TIMEOUT) {
            Some((1002, _)) => {}
            other => panic!("close code {code} answered with {other:?}, expected 1002"),
        }
        ws.expect_eof(IO_TIMEOUT);
    }
}

#[test]
fn one_byte_close_payload_is_1002() {
    assert_close_refused(&[0x03], 1002);
}

#[test]
fn invalid_utf8_in_close_reason_is_1007() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[b'o', b'k', 0xFF, 0xFE]);
    assert_close_refused(&payload, 1007);
}

#[test]
fn truncated_utf8_in_close_reason_is_1007() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice("ü".as_bytes().split_at(1).0);
    assert_close_refused(&payload, 1007);
}

#[test]
fn client_that_half_closes_tcp_without_a_close_frame_is_dropped() {
    let server = server();
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.shutdown_write();
    // The server may send a close frame first (e.g. 1006 is not allowed on the wire,
    // so 1002/1000/1001) but must end the connection.
    match ws.next_event(IO_TIMEOUT) {
        WsEvent::Eof => {}
        WsEvent::Close(_) => ws.expect_eof(IO_TIMEOUT),
        other => panic!("after the client's FIN expected close/EOF, got {other:?}"),
    }
}
