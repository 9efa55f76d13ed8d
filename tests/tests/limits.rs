//! Size limits: a frame over `--max-frame-bytes` and a message over
//! `--max-message-bytes` (one big frame or many fragments) close the connection with
//! 1009 and a reason; frames and messages exactly at the limits are echoed.

use switchboard_protocol::ws::{encode_header, DataKind, Opcode};
use switchboard_tests::{
    client_frame, next_mask, pattern, ws_connect, ws_read, RawWs, Server, IO_TIMEOUT,
};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

#[test]
fn frame_at_the_frame_limit_is_echoed() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "1024"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Binary, &pattern(1024, 1));
    assert_eq!(
        ws.expect_message(IO_TIMEOUT),
        (DataKind::Binary, pattern(1024, 1))
    );
}

#[test]
fn frame_over_the_frame_limit_is_1009() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "1024"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Binary, &pattern(1025, 2));
    let reason = ws.expect_server_close(1009);
    assert!(!reason.is_empty(), "1009 without a reason");
}

#[test]
fn text_frame_over_the_frame_limit_is_1009() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "1024"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Text, "x".repeat(4096).as_bytes());
    ws.expect_server_close(1009);
}

#[test]
fn huge_declared_frame_length_is_refused_from_the_header_alone() {
    // Only the header of a 1 TiB frame is sent: the server must not wait for the
    // payload (or try to buffer it) before refusing.
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let mut header = Vec::new();
    encode_header(
        &mut header,
        true,
        Opcode::Binary,
        1 << 40,
        Some(next_mask()),
    );
    ws.send_raw(&header).unwrap();
    ws.expect_server_close(1009);
}

#[test]
fn message_at_the_message_limit_is_echoed() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--max-frame-bytes",
        "1024",
        "--max-message-bytes",
        "4096",
    ]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let data = pattern(4096, 3);
    let mut wire = Vec::new();
    for (i, chunk) in data.chunks(1024).enumerate() {
        let opcode = if i == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        wire.extend(client_frame(i == 3, opcode, chunk));
    }
    ws.send_raw(&wire).unwrap();
    assert_eq!(ws.expect_message(IO_TIMEOUT), (DataKind::Binary, data));
}

#[test]
fn fragmented_message_over_the_message_limit_is_1009() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--max-frame-bytes",
        "1024",
        "--max-message-bytes",
        "4096",
    ]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let mut wire = Vec::new();
    for i in 0..5 {
        let opcode = if i == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        wire.extend(client_frame(i == 4, opcode, &pattern(1024, i)));
    }
    ws.send_raw(&wire).unwrap();
    let reason = ws.expect_server_close(1009);
    assert!(!reason.is_empty(), "1009 without a reason");
}

#[test]
fn single_frame_over_the_message_limit_is_1009() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--max-frame-bytes",
        "65536",
        "--max-message-bytes",
        "4096",
    ]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send(Opcode::Binary, &pattern(5000, 4));
    ws.expect_server_close(1009);
}

#[test]
fn tungstenite_client_sees_1009_for_an_oversized_message() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "1024"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    ws.send(Message::binary(pattern(4096, 5))).unwrap();
    match ws_read(&mut ws, IO_TIMEOUT) {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(
                frame.code,
                CloseCode::Size,
                "reason {:?}",
                frame.reason.as_str()
            );
        }
        other => panic!("expected close 1009, got {other:?}"),
    }
}
