//! Chat frames on `/v1/ws` (JSON and rkyv binary): `welcome`, `direct` →
//! `delivered`, `unknown_connection` errors; a frame that does not parse or validate
//! closes 1007 with a reason, the wrong message type for the protocol closes 1003.

use switchboard_protocol::chat::{self, ClientFrame, Decoder, Encoding, OwnedServerFrame};
use switchboard_protocol::ws::{DataKind, Opcode};
use switchboard_tests::{ChatConn, RawWs, Server, Welcome, IO_TIMEOUT};

fn server() -> Server {
    Server::start(&["--shards", "1", "--close-timeout-ms", "1000"])
}

/// A `/v1/ws` raw client on the JSON protocol with its welcome read.
fn raw_json(server: &Server) -> (RawWs, Welcome) {
    let (mut ws, _) = RawWs::connect(server.addr(), "/v1/ws", &[]);
    let welcome = Welcome::from_json(&ws.expect_json(IO_TIMEOUT));
    (ws, welcome)
}

/// A `/v1/ws` raw client on the binary protocol with its welcome decoded.
fn raw_bin(server: &Server, token: &str) -> (RawWs, u64, u16, String) {
    let path = format!("/v1/ws?token={token}");
    let (mut ws, response) = RawWs::connect(
        server.addr(),
        &path,
        &["Sec-WebSocket-Protocol: switchboard.v1.bin"],
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some("switchboard.v1.bin")
    );
    match decode_bin(&mut ws) {
        OwnedServerFrame::Welcome {
            conn, shard, user, ..
        } => (ws, conn, shard, user),
        other => panic!("first binary frame is not welcome: {other:?}"),
    }
}

fn decode_bin(ws: &mut RawWs) -> OwnedServerFrame {
    let (kind, payload) = ws.expect_message(IO_TIMEOUT);
    assert_eq!(
        kind,
        DataKind::Binary,
        "binary protocol sent a text message"
    );
    Decoder::default()
        .decode_server(Encoding::Binary, &payload)
        .unwrap_or_else(|err| {
            panic!("server sent an undecodable binary frame ({err}): {payload:?}")
        })
}

fn bin_direct(to: u64, body: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    chat::encode_client(
        Encoding::Binary,
        &ClientFrame::Direct {
            to,
            body: body.into(),
        },
        &mut payload,
    );
    payload
}

#[test]
fn direct_is_delivered_with_the_senders_id_both_ways() {
    let server = server();
    let mut alice = ChatConn::connect(&server, Some("alice"));
    let mut bob = ChatConn::connect(&server, Some("bob"));
    assert_ne!(alice.welcome.conn, bob.welcome.conn);
    alice.send_direct(bob.welcome.conn, "hi bob ✓");
    let got = bob.recv();
    assert_eq!(
        got,
        serde_json::json!({"type": "delivered", "from": alice.welcome.conn, "body": "hi bob ✓"})
    );
    bob.send_direct(alice.welcome.conn, "hi alice");
    let got = alice.recv();
    assert_eq!(
        got,
        serde_json::json!({"type": "delivered", "from": bob.welcome.conn, "body": "hi alice"})
    );
}

#[test]
fn direct_bodies_with_escapes_and_empty_bodies_arrive_exactly() {
    let server = server();
    let mut a = ChatConn::connect(&server, None);
    let mut b = ChatConn::connect(&server, None);
    for body in [
        "",
        "quote \" backslash \\ newline \n tab \t",
        "\u{0001}\u{001f}",
        "emoji 🚀 and 中文",
    ] {
        a.send_direct(b.welcome.conn, body);
        let got = b.recv();
        assert_eq!(got["type"], "delivered");
        assert_eq!(got["body"], body);
    }
}

#[test]
fn direct_to_unknown_connection_is_an_error_and_the_connection_stays() {
    let server = server();
    let mut a = ChatConn::connect(&server, None);
    a.send_direct(987_654_321, "anyone?");
    let got = a.recv();
    assert_eq!(got["type"], "error", "{got}");
    assert_eq!(got["code"], "unknown_connection", "{got}");
    assert!(got["message"].is_string(), "{got}");
    // Still usable.
    let mut b = ChatConn::connect(&server, None);
    a.send_direct(b.welcome.conn, "after the error");
    assert_eq!(b.recv()["body"], "after the error");
}

#[test]
fn direct_to_a_connection_that_left_is_unknown_connection() {
    let server = server();
    let mut a = ChatConn::connect(&server, None);
    let b = ChatConn::connect(&server, None);
    let gone = b.welcome.conn;
    let with_b = server.health()["connections"].as_u64().unwrap();
    drop(b);
    // A successful direct gets no answer, so first wait until the server has seen b
    // leave (its connection count drops), then expect the error.
    switchboard_tests::wait_for(std::time::Duration::from_secs(10), || {
        (server.health()["connections"].as_u64().unwrap() < with_b).then_some(())
    })
    .expect("server never noticed the closed connection");
    a.send_direct(gone, "still there?");
    let got = a.recv();
    assert_eq!(got["type"], "error", "{got}");
    assert_eq!(got["code"], "unknown_connection", "{got}");
}

#[test]
fn many_directs_arrive_in_order() {
    let server = server();
    let mut a = ChatConn::connect(&server, None);
    let mut b = ChatConn::connect(&server, None);
    for i in 0..500 {
        a.ws.write(tungstenite::Message::text(
            serde_json::json!({"type": "direct", "to": b.welcome.conn, "body": format!("m{i}")})
                .to_string(),
        ))
        .unwrap();
    }
    a.ws.flush().unwrap();
    for i in 0..500 {
        let got = b.recv();
        assert_eq!(got["body"], format!("m{i}"), "message {i}: {got}");
    }
}

#[test]
fn binary_protocol_welcome_and_direct_work() {
    let server = server();
    let (mut a, a_conn, shard, user) = raw_bin(&server, "carol");
    assert_eq!(user, "carol");
    assert_eq!(shard, 0);
    let (mut b, b_conn, _, _) = raw_bin(&server, "dave");
    a.send(Opcode::Binary, &bin_direct(b_conn, "binary hello"));
    assert_eq!(
        decode_bin(&mut b),
        OwnedServerFrame::Delivered {
            from: a_conn,
            body: "binary hello".into()
        }
    );
    b.send(Opcode::Binary, &bin_direct(a_conn, "and back"));
    assert_eq!(
        decode_bin(&mut a),
        OwnedServerFrame::Delivered {
            from: b_conn,
            body: "and back".into()
        }
    );
    a.send(Opcode::Binary, &bin_direct(424_242_424, "nobody"));
    match decode_bin(&mut a) {
        OwnedServerFrame::Error { code, .. } => assert_eq!(code, "unknown_connection"),
        other => panic!("expected unknown_connection, got {other:?}"),
    }
}

#[test]
fn binary_and_json_clients_talk_to_each_other() {
    let server = server();
    let (mut bin, bin_conn, _, _) = raw_bin(&server, "bin-user");
    let mut json = ChatConn::connect(&server, Some("json-user"));
    bin.send(
        Opcode::Binary,
        &bin_direct(json.welcome.conn, "from binary"),
    );
    assert_eq!(
        json.recv(),
        serde_json::json!({"type": "delivered", "from": bin_conn, "body": "from binary"})
    );
    json.send_direct(bin_conn, "from json");
    assert_eq!(
        decode_bin(&mut bin),
        OwnedServerFrame::Delivered {
            from: json.welcome.conn,
            body: "from json".into()
        }
    );
}

fn assert_json_frame_refused(text: &[u8], code: u16) {
    let server = server();
    let (mut ws, _) = raw_json(&server);
    ws.send(Opcode::Text, text);
    let reason = ws.expect_server_close(code);
    assert!(
        !reason.is_empty(),
        "close {code} for {:?} without a reason",
        String::from_utf8_lossy(text)
    );
}

#[test]
fn json_that_does_not_parse_is_1007() {
    assert_json_frame_refused(b"this is not json", 1007);
}

#[test]
fn truncated_json_is_1007() {
    assert_json_frame_refused(br#"{"type":"direct","to":1,"body":"x""#, 1007);
}

#[test]
fn json_with_an_unknown_type_is_1007() {
    assert_json_frame_refused(br#"{"type":"teleport","to":1}"#, 1007);
}

#[test]
fn direct_without_a_recipient_is_1007() {
    assert_json_frame_refused(br#"{"type":"direct","body":"x"}"#, 1007);
}

#[test]
fn direct_with_a_non_numeric_recipient_is_1007() {
    assert_json_frame_refused(br#"{"type":"direct","to":"bob","body":"x"}"#, 1007);
}

#[test]
fn direct_with_a_negative_recipient_is_1007() {
    assert_json_frame_refused(br#"{"type":"direct","to":-1,"body":"x"}"#, 1007);
}

#[test]
fn json_array_instead_of_object_is_1007() {
    assert_json_frame_refused(br#"[1,2,3]"#, 1007);
}

#[test]
fn binary_message_on_the_json_protocol_is_1003() {
    let server = server();
    let (mut ws, _) = raw_json(&server);
    ws.send(Opcode::Binary, br#"{"type":"direct","to":1,"body":"x"}"#);
    ws.expect_server_close(1003);
}

#[test]
fn text_message_on_the_binary_protocol_is_1003() {
    let server = server();
    let (mut ws, _, _, _) = raw_bin(&server, "t");
    ws.send_text(r#"{"type":"direct","to":1,"body":"x"}"#);
    ws.expect_server_close(1003);
}

#[test]
fn garbage_on_the_binary_protocol_is_1007() {
    let server = server();
    let (mut ws, _, _, _) = raw_bin(&server, "g");
    ws.send(Opcode::Binary, &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    ws.expect_server_close(1007);
}

#[test]
fn truncated_binary_frame_is_1007() {
    let server = server();
    let (mut ws, _, _, _) = raw_bin(&server, "t");
    let mut payload = bin_direct(1, "a body long enough to cut");
    payload.truncate(payload.len() / 2);
    ws.send(Opcode::Binary, &payload);
    ws.expect_server_close(1007);
}

#[test]
fn empty_binary_frame_is_1007() {
    let server = server();
    let (mut ws, _, _, _) = raw_bin(&server, "e");
    ws.send(Opcode::Binary, &[]);
    ws.expect_server_close(1007);
}

#[test]
fn malformed_frame_on_one_chat_connection_does_not_disturb_the_others() {
    let server = server();
    let mut a = ChatConn::connect(&server, None);
    let mut b = ChatConn::connect(&server, None);
    let (mut bad, _) = raw_json(&server);
    bad.send_text("{{{{");
    bad.expect_server_close(1007);
    a.send_direct(b.welcome.conn, "unaffected");
    assert_eq!(b.recv()["body"], "unaffected");
    b.send_direct(a.welcome.conn, "same");
    assert_eq!(a.recv()["body"], "same");
}
