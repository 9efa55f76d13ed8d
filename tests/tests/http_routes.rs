//! Plain HTTP on the public port: `GET /health`, and the error answers a request that
//! is not a valid WebSocket upgrade gets (404, 400, 405, 426, 431).

use std::io::{Read, Write};
use std::time::Duration;

use switchboard_tests::{
    http_exchange, new_ws_key, tcp_connect, wait_for, HttpResponse, RawWs, Server, IO_TIMEOUT,
};

fn request(server: &Server, head: &str) -> HttpResponse {
    http_exchange(server.addr(), head.as_bytes())
        .unwrap_or_else(|err| panic!("request {head:?}: {err}"))
}

fn upgrade_head(path: &str, key: Option<&str>, version: &str) -> String {
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    );
    if let Some(key) = key {
        head.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
    }
    head.push_str(&format!("Sec-WebSocket-Version: {version}\r\n\r\n"));
    head
}

#[test]
fn health_answers_json_with_status_shards_and_connections_then_closes() {
    let server = Server::start(&["--shards", "1"]);
    let mut stream = tcp_connect(server.addr());
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    // "then closed": reading to EOF must finish within the timeout.
    stream
        .read_to_end(&mut raw)
        .expect("server closes the connection after /health");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "health answer: {text:?}");
    let body = &text[text.find("\r\n\r\n").expect("head end") + 4..];
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body {body:?}: {e}"));
    assert_eq!(json["status"], "ok", "{json}");
    assert_eq!(json["shards"], 1, "{json}");
    assert!(
        json["connections"].is_u64(),
        "connections is a number: {json}"
    );
}

#[test]
fn health_reports_the_shard_count_of_the_server() {
    let server = Server::start(&["--shards", "2"]);
    assert_eq!(server.shards(), 2);
    assert_eq!(server.health()["shards"], 2);
}

#[test]
fn health_counts_open_websocket_connections() {
    let server = Server::start(&["--shards", "1"]);
    let before = server.health()["connections"]
        .as_u64()
        .expect("connections");
    let (a, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let (b, _) = RawWs::connect(server.addr(), "/echo", &[]);
    let counted = wait_for(Duration::from_secs(5), || {
        let now = server.health()["connections"].as_u64().unwrap();
        (now == before + 2).then_some(now)
    });
    assert!(
        counted.is_some(),
        "connections did not go from {before} to {} with two open sockets: {}",
        before + 2,
        server.health()
    );
    drop(a);
    drop(b);
    let back = wait_for(Duration::from_secs(10), || {
        (server.health()["connections"].as_u64().unwrap() == before).then_some(())
    });
    assert!(
        back.is_some(),
        "connections did not go back to {before} after the clients left: {}",
        server.health()
    );
}

#[test]
fn unknown_path_is_404_with_a_json_error() {
    let server = Server::start(&["--shards", "1"]);
    for path in ["/nope", "/v1/other", "/echo/extra", "/demo-not"] {
        let response = request(
            &server,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        assert_eq!(response.status, 404, "GET {path}: {response:?}");
        let json = response.json();
        assert_eq!(json["error"]["code"], "not_found", "GET {path}: {json}");
        assert!(json["error"]["message"].is_string(), "GET {path}: {json}");
    }
}

#[test]
fn root_redirects_to_the_demo_shop() {
    let server = Server::start(&["--shards", "1"]);
    let response = request(&server, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 301, "GET /: {response:?}");
    let location = response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("location"))
        .map(|(_, value)| value.as_str());
    assert_eq!(location, Some("/demo/"), "GET /: {response:?}");
}

#[test]
fn websocket_upgrade_on_unknown_path_is_404() {
    let server = Server::start(&["--shards", "1"]);
    let response = request(
        &server,
        &upgrade_head("/not-a-route", Some(&new_ws_key()), "13"),
    );
    assert_eq!(response.status, 404, "{response:?}");
    assert_eq!(response.json()["error"]["code"], "not_found");
}

#[test]
fn malformed_request_is_400() {
    let server = Server::start(&["--shards", "1"]);
    for head in [
        "THIS IS NOT HTTP\r\n\r\n",
        "GET /echo HTTP/9.9 extra\r\n\r\n",
        "GET /echo HTTP/1.1\r\nNo colon header line\r\n\r\n",
    ] {
        let response = request(&server, head);
        assert_eq!(response.status, 400, "{head:?} answered {response:?}");
    }
}

#[test]
fn upgrade_without_a_key_is_400() {
    let server = Server::start(&["--shards", "1"]);
    let response = request(&server, &upgrade_head("/echo", None, "13"));
    assert_eq!(response.status, 400, "{response:?}");
}

#[test]
fn upgrade_with_an_invalid_key_is_400() {
    let server = Server::start(&["--shards", "1"]);
    // Not the base64 of 16 bytes.
    for key in ["abc", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!=="] {
        let response = request(&server, &upgrade_head("/echo", Some(key), "13"));
        assert_eq!(response.status, 400, "key {key:?}: {response:?}");
    }
}

#[test]
fn websocket_version_other_than_13_is_426_naming_13() {
    let server = Server::start(&["--shards", "1"]);
    for version in ["8", "12", "14"] {
        let response = request(
            &server,
            &upgrade_head("/echo", Some(&new_ws_key()), version),
        );
        assert_eq!(response.status, 426, "version {version}: {response:?}");
        assert_eq!(
            response.header("sec-websocket-version"),
            Some("13"),
            "version {version}: {response:?}"
        );
    }
}

#[test]
fn non_get_is_405() {
    let server = Server::start(&["--shards", "1"]);
    for (method, path) in [
        ("POST", "/echo"),
        ("POST", "/health"),
        ("DELETE", "/v1/ws"),
        ("PUT", "/health"),
    ] {
        let response = request(
            &server,
            &format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"),
        );
        assert_eq!(response.status, 405, "{method} {path}: {response:?}");
    }
}

#[test]
fn request_head_over_max_handshake_bytes_is_431() {
    let server = Server::start(&["--shards", "1", "--max-handshake-bytes", "1024"]);
    let key = new_ws_key();
    let head = format!(
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(4000)
    );
    let response = request(&server, &head);
    assert_eq!(response.status, 431, "{response:?}");
}

#[test]
fn request_head_just_under_max_handshake_bytes_is_accepted() {
    let server = Server::start(&["--shards", "1", "--max-handshake-bytes", "1024"]);
    // The fixed part of RawWs's head is ~170 bytes; 600 more stays well under 1024.
    let padding = format!("X-Padding: {}", "p".repeat(600));
    let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[&padding]);
    ws.send_text("still fine");
    assert_eq!(ws.expect_text(IO_TIMEOUT), "still fine");
}

#[test]
fn head_over_the_limit_without_its_end_is_431_too() {
    // The limit must bound what is buffered even when the head never ends.
    let server = Server::start(&["--shards", "1", "--max-handshake-bytes", "1024"]);
    let mut stream = tcp_connect(server.addr());
    let mut head = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Long: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 3000));
    let _ = stream.write_all(&head);
    let mut buf = Vec::new();
    let response = switchboard_tests::read_response_head(&mut stream, &mut buf)
        .expect("an answer before the head ends");
    assert_eq!(response.status, 431, "{response:?}");
}
