//! A bad connection loses nothing else: protocol violations, malformed frames and
//! abrupt disconnects on one connection leave the other connections of the same shard
//! (including one in the middle of a fragmented message) and the shard itself working.

use std::io::Write;

use switchboard_protocol::ws::{DataKind, Opcode};
use switchboard_tests::{
    assert_echo, client_frame, next_mask, pattern, raw_frame, tcp_connect, ws_connect, RawWs,
    Server, IO_TIMEOUT,
};
use tungstenite::Message;

#[test]
fn bad_frame_on_one_connection_does_not_disturb_another_on_the_same_shard() {
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "1000"]);
    let (mut good, _) = RawWs::connect(server.addr(), "/echo", &[]);
    // The good connection is in the middle of a fragmented message.
    good.send_raw(&client_frame(false, Opcode::Binary, &pattern(1000, 1)))
        .unwrap();
    let (mut bad, _) = RawWs::connect(server.addr(), "/echo", &[]);
    bad.send_raw(&raw_frame(0x80 | 0x3, b"reserved", Some(next_mask())))
        .unwrap();
    bad.expect_server_close(1002);
    good.send_raw(&client_frame(true, Opcode::Continuation, &pattern(1000, 2)))
        .unwrap();
    let mut expected = pattern(1000, 1);
    expected.extend(pattern(1000, 2));
    assert_eq!(
        good.expect_message(IO_TIMEOUT),
        (DataKind::Binary, expected)
    );
    // New connections are still accepted.
    let (mut fresh, _) = ws_connect(&server.ws_url("/echo"), &[]);
    assert_echo(&mut fresh, Message::text("fresh"));
}

#[test]
fn many_violating_and_vanishing_connections_leave_the_shard_working() {
    let server = Server::start(&["--shards", "1", "--close-timeout-ms", "500"]);
    let (mut good, _) = ws_connect(&server.ws_url("/echo"), &[]);
    for i in 0..30u8 {
        match i % 6 {
            0 => {
                let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
                ws.send_raw(&raw_frame(0x81, b"unmasked", None)).unwrap();
                ws.expect_close_code(1002, IO_TIMEOUT);
            }
            1 => {
                // Half a frame, then the socket vanishes.
                let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
                let frame = client_frame(true, Opcode::Binary, &pattern(5000, i));
                ws.send_raw(&frame[..2500]).unwrap();
            }
            2 => {
                // Half a handshake, then gone.
                let mut stream = tcp_connect(server.addr());
                stream
                    .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpg")
                    .unwrap();
            }
            3 => {
                // Reset instead of FIN.
                let (ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
                socket2::SockRef::from(ws.stream.tcp())
                    .set_linger(Some(std::time::Duration::ZERO))
                    .unwrap();
            }
            4 => {
                let (mut ws, _) = RawWs::connect(server.addr(), "/v1/ws", &[]);
                ws.expect_json(IO_TIMEOUT);
                ws.send(Opcode::Text, b"{not json");
                ws.expect_close_code(1007, IO_TIMEOUT);
            }
            _ => {
                let (mut ws, _) = RawWs::connect(server.addr(), "/echo", &[]);
                ws.send(Opcode::Text, &[0xFF, 0xFE]);
                ws.expect_close_code(1007, IO_TIMEOUT);
            }
        }
        assert_echo(&mut good, Message::text(format!("still fine after {i}")));
    }
    let health = server.health();
    assert_eq!(health["status"], "ok", "{health}");
    assert_echo(&mut good, Message::binary(pattern(20_000, 9)));
}
