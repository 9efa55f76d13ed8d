//! `/echo`: text and binary messages come back unchanged; fragmented messages (sent as
//! raw frames, with control frames between fragments) come back reassembled; large
//! messages and messages of many fragments; many messages in order.

use std::time::Duration;

use switchboard_protocol::ws::{DataKind, Opcode};
use switchboard_tests::{
    assert_echo, client_frame, pattern, ws_connect, ws_read, RawWs, Server, WsEvent, IO_TIMEOUT,
};
use tungstenite::Message;

#[test]
fn text_and_binary_messages_are_echoed_unchanged() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    assert_echo(&mut ws, Message::text("hello, switchboard"));
    assert_echo(&mut ws, Message::text("ünïcödé ✓ 中文 🚀"));
    assert_echo(&mut ws, Message::text(""));
    assert_echo(&mut ws, Message::binary(vec![0u8, 1, 2, 255, 254, 0]));
    assert_echo(&mut ws, Message::binary(Vec::new()));
    // Lengths around the 7-bit / 16-bit / 64-bit header length boundaries.
    for len in [125, 126, 127, 65_535] {
        assert_echo(&mut ws, Message::binary(pattern(len, len as u8)));
    }
}

#[test]
fn frames_at_the_64k_header_boundary_need_a_raised_frame_limit() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "200000"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    for len in [65_536, 65_537, 131_072] {
        assert_echo(&mut ws, Message::binary(pattern(len, 7)));
    }
}

#[test]
fn many_pipelined_messages_come_back_in_order() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    let count = 2_000;
    for i in 0..count {
        ws.write(Message::text(format!("message {i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..count {
        let got = ws_read(&mut ws, IO_TIMEOUT).unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(got, Message::text(format!("message {i}")), "reply {i}");
    }
}

#[test]
fn raw_fragmented_text_split_inside_a_character_is_reassembled() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let text = "héllo wörld ✓ done";
    let bytes = text.as_bytes();
    // Split in the middle of 'é' (2 bytes) and of '✓' (3 bytes): each fragment alone is
    // not valid UTF-8, the whole message is.
    let cut1 = text.find('é').unwrap() + 1;
    let cut2 = text.find('✓').unwrap() + 2;
    let mut wire = client_frame(false, Opcode::Text, &bytes[..cut1]);
    wire.extend(client_frame(
        false,
        Opcode::Continuation,
        &bytes[cut1..cut2],
    ));
    wire.extend(client_frame(true, Opcode::Continuation, &bytes[cut2..]));
    ws.send_raw(&wire).unwrap();
    assert_eq!(ws.expect_text(IO_TIMEOUT), text);
}

#[test]
fn raw_fragmented_binary_with_empty_fragments_is_reassembled() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let data = pattern(3000, 3);
    let mut wire = client_frame(false, Opcode::Binary, &[]);
    wire.extend(client_frame(false, Opcode::Continuation, &data[..1000]));
    wire.extend(client_frame(false, Opcode::Continuation, &[]));
    wire.extend(client_frame(false, Opcode::Continuation, &data[1000..2999]));
    wire.extend(client_frame(true, Opcode::Continuation, &data[2999..]));
    ws.send_raw(&wire).unwrap();
    assert_eq!(ws.expect_message(IO_TIMEOUT), (DataKind::Binary, data));
}

#[test]
fn fragments_sent_in_separate_writes_with_a_ping_between_are_reassembled() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_raw(&client_frame(false, Opcode::Text, b"first half, "))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    ws.send_raw(&client_frame(true, Opcode::Ping, b"between"))
        .unwrap();
    // The pong answers the ping before the message is complete.
    assert_eq!(
        ws.next_event(IO_TIMEOUT),
        WsEvent::Pong(b"between".to_vec())
    );
    std::thread::sleep(Duration::from_millis(50));
    ws.send_raw(&client_frame(true, Opcode::Continuation, b"second half"))
        .unwrap();
    assert_eq!(ws.expect_text(IO_TIMEOUT), "first half, second half");
    // The connection is still usable for an ordinary message.
    ws.send_text("after");
    assert_eq!(ws.expect_text(IO_TIMEOUT), "after");
}

#[test]
fn a_frame_written_one_byte_at_a_time_is_echoed() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let wire = client_frame(true, Opcode::Binary, &pattern(300, 9));
    for byte in &wire {
        ws.send_raw(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(
        ws.expect_message(IO_TIMEOUT),
        (DataKind::Binary, pattern(300, 9))
    );
}

#[test]
fn a_900_kib_message_is_echoed_with_a_raised_frame_limit() {
    let server = Server::start(&["--shards", "1", "--max-frame-bytes", "1048576"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    assert_echo(&mut ws, Message::binary(pattern(900 * 1024, 11)));
    let text: String = (0..900 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_echo(&mut ws, Message::text(text));
}

#[test]
fn a_message_of_a_thousand_fragments_is_echoed_as_one() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let data = pattern(1000 * 512, 13);
    let mut wire = Vec::new();
    for (i, chunk) in data.chunks(512).enumerate() {
        let opcode = if i == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        wire.extend(client_frame(i == 999, opcode, chunk));
    }
    ws.send_raw(&wire).unwrap();
    let (kind, got) = ws.expect_message(IO_TIMEOUT);
    assert_eq!(kind, DataKind::Binary);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "reassembled message differs");
}

#[test]
fn several_clients_are_echoed_independently() {
    let server = Server::start(&["--shards", "2"]);
    let mut clients: Vec<_> = (0..8)
        .map(|_| ws_connect(&server.ws_url("/echo"), &[]).0)
        .collect();
    for round in 0..20 {
        for (i, ws) in clients.iter_mut().enumerate() {
            ws.send(Message::text(format!("client {i} round {round}")))
                .unwrap();
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            let got = ws_read(ws, IO_TIMEOUT).unwrap();
            assert_eq!(got, Message::text(format!("client {i} round {round}")));
        }
    }
}
