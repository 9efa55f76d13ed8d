//! RFC 6455 conformance on raw sockets: each violation closes that connection with the
//! right code and a reason, and the closing handshake is correct every time (after the
//! server's close frame and our answer, the server closes TCP: read returns 0). One
//! more test checks that the server also drops TCP when the client never answers.

use switchboard_protocol::ws::Opcode;
use switchboard_tests::{client_frame, next_mask, raw_frame, RawWs, Server, IO_TIMEOUT};

/// Opens `/echo`, writes `wire`, and expects close `code` with a reason, then a clean
/// TCP close after answering the close.
fn assert_violation(wire: &[u8], code: u16) {
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "1000"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_raw(wire).unwrap();
    let reason = ws.expect_close_code(code, IO_TIMEOUT);
    assert!(!reason.is_empty(), "close {code} without a reason");
    let _ = ws.send_raw(&switchboard_tests::client_close(code, ""));
    ws.expect_eof(IO_TIMEOUT);
}

#[test]
fn invalid_utf8_in_a_text_frame_is_1007() {
    assert_violation(
        &client_frame(true, Opcode::Text, &[b'a', 0xC3, 0x28, b'b']),
        1007,
    );
}

#[test]
fn overlong_utf8_encoding_is_1007() {
    // 0xC0 0xAF is an overlong '/'.
    assert_violation(&client_frame(true, Opcode::Text, &[0xC0, 0xAF]), 1007);
}

#[test]
fn utf16_surrogate_in_text_is_1007() {
    assert_violation(&client_frame(true, Opcode::Text, &[0xED, 0xA0, 0x80]), 1007);
}

#[test]
fn invalid_utf8_in_a_fragmented_text_message_is_1007() {
    let mut wire = client_frame(false, Opcode::Text, "ok ".as_bytes());
    wire.extend(client_frame(false, Opcode::Continuation, &[0xE2, 0x82]));
    wire.extend(client_frame(true, Opcode::Continuation, b"(")); // 0xE2 0x82 0x28: invalid
    assert_violation(&wire, 1007);
}

/// Autobahn 6.4.1/6.4.2: the connection fails at the fragment that makes the text
/// invalid, before the message is complete (RFC 6455 §8.1) — the last fragment is
/// never sent.
#[test]
fn invalid_utf8_fails_at_its_fragment_not_at_the_end_of_the_message() {
    for bad_fragment in [&[0xCE, 0xBA, 0xF4, 0x90][..], &[0xED, 0xA0], &[0xFF]] {
        let mut wire = client_frame(false, Opcode::Text, "κόσμε ".as_bytes());
        wire.extend(client_frame(false, Opcode::Continuation, bad_fragment));
        assert_violation(&wire, 1007);
    }
}

/// Autobahn 6.4.3/6.4.4: one text frame sent in chunks; the connection fails at the
/// chunk with the invalid bytes, while the frame is still incomplete.
#[test]
fn invalid_utf8_fails_inside_a_frame_that_has_not_fully_arrived() {
    let mut payload = "κόσμε".as_bytes().to_vec();
    let valid = payload.len();
    payload.extend_from_slice(&[0xF4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(b"-edited-");
    let frame = client_frame(true, Opcode::Text, &payload);
    let header = frame.len() - payload.len();
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "1000"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_raw(&frame[..header + valid]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    ws.send_raw(&frame[header + valid..header + valid + 2])
        .unwrap();
    let reason = ws.expect_close_code(1007, IO_TIMEOUT);
    assert!(!reason.is_empty());
}

#[test]
fn text_message_ending_inside_a_character_is_1007() {
    assert_violation(&client_frame(true, Opcode::Text, &[b'a', 0xE2, 0x82]), 1007);
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    assert_violation(&client_frame(true, Opcode::Ping, &[0u8; 126]), 1002);
}

#[test]
fn close_frame_over_125_bytes_is_1002() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend(std::iter::repeat_n(b'x', 124));
    assert_violation(&client_frame(true, Opcode::Close, &payload), 1002);
}

#[test]
fn fragmented_ping_is_1002() {
    assert_violation(&client_frame(false, Opcode::Ping, b"part"), 1002);
}

#[test]
fn fragmented_pong_is_1002() {
    assert_violation(&client_frame(false, Opcode::Pong, b"part"), 1002);
}

#[test]
fn rsv1_bit_is_1002() {
    assert_violation(
        &raw_frame(0x80 | 0x40 | 0x1, b"rsv1", Some(next_mask())),
        1002,
    );
}

#[test]
fn rsv2_bit_is_1002() {
    assert_violation(
        &raw_frame(0x80 | 0x20 | 0x2, b"rsv2", Some(next_mask())),
        1002,
    );
}

#[test]
fn rsv3_bit_is_1002() {
    assert_violation(
        &raw_frame(0x80 | 0x10 | 0x1, b"rsv3", Some(next_mask())),
        1002,
    );
}

#[test]
fn reserved_data_opcode_3_is_1002() {
    assert_violation(&raw_frame(0x80 | 0x3, b"op3", Some(next_mask())), 1002);
}

#[test]
fn reserved_control_opcode_11_is_1002() {
    assert_violation(&raw_frame(0x80 | 0xB, b"op11", Some(next_mask())), 1002);
}

#[test]
fn reserved_opcodes_7_and_15_are_1002() {
    assert_violation(&raw_frame(0x80 | 0x7, b"", Some(next_mask())), 1002);
    assert_violation(&raw_frame(0x80 | 0xF, b"", Some(next_mask())), 1002);
}

#[test]
fn unmasked_client_frame_is_1002() {
    assert_violation(&raw_frame(0x81, b"not masked", None), 1002);
}

#[test]
fn continuation_without_a_start_is_1002() {
    assert_violation(&client_frame(true, Opcode::Continuation, b"orphan"), 1002);
}

#[test]
fn new_data_frame_inside_a_fragmented_message_is_1002() {
    let mut wire = client_frame(false, Opcode::Text, b"start");
    wire.extend(client_frame(true, Opcode::Binary, b"interloper"));
    assert_violation(&wire, 1002);
}

#[test]
fn violation_after_valid_traffic_still_closes_correctly() {
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "1000"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_text("fine");
    assert_eq!(ws.expect_text(IO_TIMEOUT), "fine");
    ws.send_raw(&raw_frame(0x80 | 0x3, b"", Some(next_mask())))
        .unwrap();
    ws.expect_server_close(1002);
}

#[test]
fn server_drops_tcp_after_close_timeout_when_the_client_never_answers() {
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "500"]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
    ws.send_raw(&raw_frame(0x80 | 0x40 | 0x1, b"x", Some(next_mask())))
        .unwrap();
    ws.expect_close_code(1002, IO_TIMEOUT);
    // Never answer: TCP must still be closed (cleanly) within 500 ms plus slack.
    ws.expect_eof(IO_TIMEOUT);
}
