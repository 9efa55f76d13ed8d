//! Starting the binary: the `listening on ADDR shards=N` line with the flags that shape
//! the shards (`--shards`, `--cpus`), a clear failure for bad flags, and
//! `--max-connections-per-shard` (further accepts are closed at once).

use std::io::{Read, Write};
use std::time::Duration;

use switchboard_tests::{assert_echo, tcp_connect, ws_connect, Server, IO_TIMEOUT};
use tungstenite::Message;

#[test]
fn shards_and_cpu_list_are_reported_and_served() {
    for args in [
        &["--shards", "1"][..],
        &["--shards", "2", "--cpus", "0,1"][..],
        &["--shards", "2", "--cpus", "0-1"][..],
    ] {
        let server = Server::start(args);
        let want: u16 = args[1].parse().unwrap();
        assert_eq!(server.shards(), want, "{args:?}");
        assert_eq!(server.health()["shards"], want, "{args:?}");
        let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
        assert_echo(&mut ws, Message::text(format!("{args:?}")));
    }
}

#[test]
fn unknown_flag_is_refused_with_a_message_and_non_zero_exit() {
    let err = Server::try_start(&["--no-such-flag"]).expect_err("started with an unknown flag");
    let text = format!("{err:#}");
    assert!(
        text.contains("no-such-flag"),
        "the error does not name the flag:\n{text}"
    );
}

#[test]
fn malformed_flag_value_is_refused() {
    let err =
        Server::try_start(&["--max-frame-bytes", "lots"]).expect_err("started with a bad number");
    assert!(format!("{err:#}").contains("max-frame-bytes"), "{err:#}");
}

#[test]
fn connections_over_the_per_shard_limit_are_closed_at_once() {
    let server = Server::start(&["--shards", "1", "--max-connections-per-shard", "2"]);
    let (mut a, _) = ws_connect(&server.ws_url("/echo"), &[]);
    let (mut b, _) = ws_connect(&server.ws_url("/echo"), &[]);
    // The third connection is closed without an upgrade.
    let mut third = tcp_connect(server.addr());
    let key = switchboard_tests::new_ws_key();
    let _ = third.write_all(
        format!("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .as_bytes(),
    );
    let mut answer = Vec::new();
    match third.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("third connection was neither served nor closed: {e}"),
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.starts_with("HTTP/1.1 101"),
        "third connection upgraded: {answer:?}"
    );
    // The first two are unaffected.
    assert_echo(&mut a, Message::text("a"));
    assert_echo(&mut b, Message::text("b"));
    // After one leaves, a new connection is accepted again.
    drop(a);
    let served = switchboard_tests::wait_for(Duration::from_secs(10), || {
        let url = server.ws_url("/echo");
        let stream = std::net::TcpStream::connect(server.addr()).ok()?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
        let stream = switchboard_tests::wire::TestStream::over(stream);
        let (mut ws, _) = tungstenite::client::client(url.as_str(), stream).ok()?;
        ws.send(Message::text("again")).ok()?;
        (switchboard_tests::ws_read(&mut ws, IO_TIMEOUT).ok()? == Message::text("again"))
            .then_some(())
    });
    assert!(
        served.is_some(),
        "no connection accepted after one of the two left"
    );
}
