//! The WebSocket opening handshake: `101` with the right `Sec-WebSocket-Accept`, and the
//! choice of chat subprotocol on `/v1/ws` (`switchboard.v1.bin`, `switchboard.v1.json`,
//! none offered → JSON without a `Sec-WebSocket-Protocol` answer), token handling.

use switchboard_protocol::ws::DataKind;
use switchboard_tests::{
    read_json, ws_connect, ws_connect_with, RawWs, Server, Welcome, IO_TIMEOUT,
};

const BIN: &str = "switchboard.v1.bin";
const JSON: &str = "switchboard.v1.json";

#[test]
fn echo_upgrade_answers_101_with_accept_and_no_subprotocol() {
    let server = Server::start(&["--shards", "1"]);
    // RawWs::connect checks 101 and Sec-WebSocket-Accept.
    let (_ws, response) = RawWs::connect(server.addr(), "/echo", &[]);
    assert!(
        response
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "{response:?}"
    );
    assert!(
        response
            .header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "{response:?}"
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        None,
        "{response:?}"
    );
}

#[test]
fn echo_ignores_offered_subprotocols() {
    let server = Server::start(&["--shards", "1"]);
    let (_ws, response) = RawWs::connect(
        server.addr(),
        "/echo",
        &["Sec-WebSocket-Protocol: chat, superchat"],
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        None,
        "{response:?}"
    );
}

#[test]
fn header_names_and_values_are_case_insensitive() {
    let server = Server::start(&["--shards", "1"]);
    let key = switchboard_tests::new_ws_key();
    let head = format!(
        "GET /echo HTTP/1.1\r\nhost: localhost\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n"
    );
    let mut stream =
        switchboard_tests::wire::TestStream::over(switchboard_tests::tcp_connect(server.addr()));
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let response = switchboard_tests::read_response_head(&mut stream, &mut buf).unwrap();
    assert_eq!(response.status, 101, "{response:?}");
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some(switchboard_tests::expected_accept(&key).as_str())
    );
}

#[test]
fn v1_offering_json_selects_json_and_welcome_is_json_text() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, response) = RawWs::connect(
        server.addr(),
        "/v1/ws",
        &["Sec-WebSocket-Protocol: switchboard.v1.json"],
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some(JSON),
        "{response:?}"
    );
    let welcome = Welcome::from_json(&ws.expect_json(IO_TIMEOUT));
    assert!(welcome.user.starts_with("anon-"), "{welcome:?}");
}

#[test]
fn v1_offering_bin_selects_bin_and_welcome_is_a_binary_message() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, response) = RawWs::connect(
        server.addr(),
        "/v1/ws",
        &["Sec-WebSocket-Protocol: switchboard.v1.bin"],
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some(BIN),
        "{response:?}"
    );
    let (kind, data) = ws.expect_message(IO_TIMEOUT);
    assert_eq!(
        kind,
        DataKind::Binary,
        "welcome on the binary protocol is a binary message"
    );
    assert!(!data.is_empty());
    assert!(
        serde_json::from_slice::<serde_json::Value>(&data).is_err(),
        "binary welcome must not be JSON"
    );
}

#[test]
fn v1_takes_the_first_of_ours_in_the_clients_order() {
    let server = Server::start(&["--shards", "1"]);
    for (offers, want, kind) in [
        (
            &["switchboard.v1.json, switchboard.v1.bin"][..],
            JSON,
            DataKind::Text,
        ),
        (
            &["switchboard.v1.bin, switchboard.v1.json"],
            BIN,
            DataKind::Binary,
        ),
        (
            &["foo, switchboard.v1.json, switchboard.v1.bin"],
            JSON,
            DataKind::Text,
        ),
        (
            &["foo", "switchboard.v1.json,switchboard.v1.bin"],
            JSON,
            DataKind::Text,
        ),
        (
            &["chat", "switchboard.v1.bin", "switchboard.v1.json"],
            BIN,
            DataKind::Binary,
        ),
    ] {
        let headers: Vec<String> = offers
            .iter()
            .map(|offer| format!("Sec-WebSocket-Protocol: {offer}"))
            .collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let (mut ws, response) = RawWs::connect(server.addr(), "/v1/ws", &headers);
        assert_eq!(
            response.header("sec-websocket-protocol"),
            Some(want),
            "offer {offers:?}"
        );
        let (got, _) = ws.expect_message(IO_TIMEOUT);
        assert_eq!(
            got, kind,
            "offer {offers:?}: welcome in the chosen encoding"
        );
    }
}

#[test]
fn v1_offering_nothing_uses_json_without_protocol_header() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, response) = RawWs::connect(server.addr(), "/v1/ws", &[]);
    assert_eq!(
        response.header("sec-websocket-protocol"),
        None,
        "{response:?}"
    );
    Welcome::from_json(&ws.expect_json(IO_TIMEOUT));
}

#[test]
fn v1_offering_only_unknown_protocols_uses_json_without_protocol_header() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, response) = RawWs::connect(
        server.addr(),
        "/v1/ws",
        &["Sec-WebSocket-Protocol: chat, switchboard.v2.bin"],
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        None,
        "{response:?}"
    );
    Welcome::from_json(&ws.expect_json(IO_TIMEOUT));
}

#[test]
fn tungstenite_accepts_the_servers_protocol_choice() {
    // tungstenite fails the handshake if the server answers a protocol it did not offer
    // or none when one was offered and required.
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, response) = ws_connect(&server.ws_url("/v1/ws"), &[JSON]);
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some(JSON)
    );
    Welcome::from_json(&read_json(&mut ws, IO_TIMEOUT));
}

#[test]
fn token_from_query_is_the_user() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = ws_connect(&server.ws_url("/v1/ws?token=alice"), &[]);
    let welcome = Welcome::from_json(&read_json(&mut ws, IO_TIMEOUT));
    assert_eq!(welcome.user, "alice");
}

#[test]
fn token_from_bearer_header_is_the_user() {
    let server = Server::start(&["--shards", "1"]);
    let (mut ws, _) = ws_connect_with(
        &server.ws_url("/v1/ws"),
        &[],
        &[("Authorization", "Bearer bob-42")],
    );
    let welcome = Welcome::from_json(&read_json(&mut ws, IO_TIMEOUT));
    assert_eq!(welcome.user, "bob-42");
}

#[test]
fn no_token_is_anon_with_the_connection_id() {
    let server = Server::start(&["--shards", "1"]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = ws_connect(&server.ws_url("/v1/ws"), &[]);
        let welcome = Welcome::from_json(&read_json(&mut ws, IO_TIMEOUT));
        assert_eq!(welcome.user, format!("anon-{}", welcome.conn));
        assert!(
            !seen.contains(&welcome.conn),
            "connection ids repeat: {seen:?} + {}",
            welcome.conn
        );
        seen.push(welcome.conn);
        assert_eq!(welcome.shard, 0, "--shards 1");
    }
}
