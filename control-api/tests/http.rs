//! The HTTP layer: keep-alive, pipelining, malformed heads, limits, timeouts, bind rules.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use switchboard_control_api::{check_bind, serve_with, ControlAuth, ServerOptions};

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let (server, _) = start(Some(TOKEN));
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    for _ in 0..5 {
        write!(
            stream,
            "GET /v1/stats HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .unwrap();
        let answer = read_answer(&mut stream);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection"), Some("keep-alive"));
    }
    // Errors keep the connection too when the request itself was well-formed.
    write!(stream, "GET /v1/nope HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut stream).status, 404);
    // Pipelined: two requests in one write, two answers in order.
    let body = r#"{"level":1}"#;
    write!(
        stream,
        "PUT /v1/degradation HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}GET /v1/degradation HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    assert_eq!(read_answer(&mut stream).json()["level"], 1);
    let last = read_answer(&mut stream);
    assert_eq!(last.json()["pinned"], true);
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    server.shutdown();
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let (server, _) = start(None);
    let answer = raw(server.local_addr(), b"GET /livez HTTP/1.0\r\n\r\n");
    assert_eq!(answer.header("connection"), Some("close"));
    let answer = raw(
        server.local_addr(),
        b"GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(answer.header("connection"), Some("keep-alive"));
    server.shutdown();
}

#[test]
fn malformed_heads_get_400_and_close() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    for bytes in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /livez HTTP/9.9\r\n\r\n",
        b"GET livez HTTP/1.1\r\n\r\n",
        b"GET http://x/livez HTTP/1.1\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /v1/drain HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST /v1/drain HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /v1/drain HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST /v1/drain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nExpect: magic\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let answer = raw(addr, bytes);
        assert_eq!(answer.status, 400, "{:?}", String::from_utf8_lossy(bytes));
        assert_eq!(answer.header("connection"), Some("close"));
        assert_eq!(answer.code(), "invalid");
    }
    // The server is still fine.
    assert_eq!(call(addr, "GET", "/v1/stats", None).status, 200);
    server.shutdown();
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let long_header = format!(
        "GET /livez HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(raw(addr, long_header.as_bytes()).status, 431);
    let mut many = String::from("GET /livez HTTP/1.1\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(addr, many.as_bytes()).status, 431);
    // Declared too large: refused before the body is read.
    let answer = raw(
        addr,
        format!("POST /v1/conversations/2/messages HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 10000000\r\n\r\n").as_bytes(),
    );
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (413, "payload_too_large")
    );
    // A body just over the limit, actually sent.
    let body = format!(r#"{{"name":"x","data":"{}"}}"#, "y".repeat(64 * 1024));
    let answer = call(addr, "POST", "/v1/users/u/events", Some(&body));
    assert_eq!(answer.status, 413);
    server.shutdown();
}

#[test]
fn wrong_content_type_is_415() {
    let (server, _) = start(Some(TOKEN));
    let body = r#"{"agent":"a1"}"#;
    let answer = raw(
        server.local_addr(),
        format!("POST /v1/conversations/1/assign HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
    );
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (415, "unsupported_media_type")
    );
    let answer = raw(
        server.local_addr(),
        format!("POST /v1/conversations/1/assign HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
    );
    assert_eq!(answer.status, 200);
    server.shutdown();
}

#[test]
fn expect_100_continue() {
    let (server, _) = start(Some(TOKEN));
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    let body = r#"{"level":3}"#;
    write!(stream, "PUT /v1/degradation HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut stream).json()["level"], 3);
    server.shutdown();
}

#[test]
fn a_slow_request_times_out_with_408() {
    let engine = FakeEngine::seeded();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = ServerOptions {
        request_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    };
    let server = serve_with(listener, engine, ControlAuth::default(), options).unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(b"GET /livez HTTP/1.1\r\nHost:").unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (408, "request_timeout")
    );
    // An idle kept-alive connection is closed quietly.
    let mut idle = TcpStream::connect(server.local_addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    server.shutdown();
}

#[test]
fn connections_over_the_cap_get_503() {
    let engine = FakeEngine::seeded();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    };
    let server = serve_with(listener, engine, ControlAuth::default(), options).unwrap();
    let addr = server.local_addr();
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Make sure both are being served before the third arrives.
    for s in &mut held {
        s.write_all(b"GET /livez HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_answer(s).status, 200);
    }
    let answer = raw(addr, b"GET /livez HTTP/1.1\r\n\r\n");
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (503, "unavailable")
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        raw(addr, b"GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n").status,
        200
    );
    server.shutdown();
}

#[test]
fn shutdown_closes_kept_alive_connections() {
    let (server, _) = start(None);
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /livez HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut stream).status, 200);
    server.shutdown();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).unwrap_or(0), 0);
}

#[test]
fn bind_refuses_public_addresses_without_a_token() {
    assert!(check_bind("127.0.0.1:9090".parse().unwrap(), None).is_ok());
    assert!(check_bind("[::1]:9090".parse().unwrap(), None).is_ok());
    let err = check_bind("0.0.0.0:9090".parse().unwrap(), None).unwrap_err();
    assert!(err.contains("without a token"), "{err}");
    assert!(check_bind("10.1.2.3:9090".parse().unwrap(), None).is_err());
    assert!(check_bind("[::]:9090".parse().unwrap(), None).is_err());
    assert!(check_bind("0.0.0.0:9090".parse().unwrap(), Some(TOKEN)).is_ok());
    assert!(check_bind("0.0.0.0:9090".parse().unwrap(), Some("short")).is_err());
}
