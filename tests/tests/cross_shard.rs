//! Delivery across shards: with `--shards 2`, two `/v1/ws` connections on different
//! shards exchange `direct` frames in both directions, many of them, in order.

use switchboard_tests::{ChatConn, Server};

/// Opens connections until two are on different shards (the kernel spreads them over
/// the SO_REUSEPORT listeners by hash, so a handful of tries is enough).
fn pair_on_different_shards(server: &Server) -> (ChatConn, ChatConn) {
    let first = ChatConn::connect(server, Some("first"));
    assert!(
        first.welcome.shard < 2,
        "shard {} with --shards 2",
        first.welcome.shard
    );
    let mut kept = Vec::new();
    for i in 0..200 {
        let other = ChatConn::connect(server, Some(&format!("other{i}")));
        assert!(
            other.welcome.shard < 2,
            "shard {} with --shards 2",
            other.welcome.shard
        );
        if other.welcome.shard != first.welcome.shard {
            return (first, other);
        }
        kept.push(other); // keep it open so the next connect gets a new port
    }
    panic!(
        "200 connections all landed on shard {}",
        first.welcome.shard
    );
}

#[test]
fn direct_crosses_shards_both_ways() {
    let server = Server::start(&["--shards", "2"]);
    assert_eq!(server.shards(), 2);
    let (mut a, mut b) = pair_on_different_shards(&server);
    a.send_direct(b.welcome.conn, "across");
    assert_eq!(
        b.recv(),
        serde_json::json!({"type": "delivered", "from": a.welcome.conn, "body": "across"})
    );
    b.send_direct(a.welcome.conn, "and back");
    assert_eq!(
        a.recv(),
        serde_json::json!({"type": "delivered", "from": b.welcome.conn, "body": "and back"})
    );
}

#[test]
fn many_cross_shard_directs_arrive_in_order_in_both_directions() {
    let server = Server::start(&["--shards", "2"]);
    let (mut a, mut b) = pair_on_different_shards(&server);
    let count = 1000;
    for i in 0..count {
        let to_b = serde_json::json!({"type": "direct", "to": b.welcome.conn, "body": format!("a->b {i}")});
        a.ws.write(tungstenite::Message::text(to_b.to_string()))
            .unwrap();
        let to_a = serde_json::json!({"type": "direct", "to": a.welcome.conn, "body": format!("b->a {i}")});
        b.ws.write(tungstenite::Message::text(to_a.to_string()))
            .unwrap();
        if i % 100 == 99 {
            a.ws.flush().unwrap();
            b.ws.flush().unwrap();
        }
    }
    a.ws.flush().unwrap();
    b.ws.flush().unwrap();
    for i in 0..count {
        let got = b.recv();
        assert_eq!(got["type"], "delivered", "{got}");
        assert_eq!(got["from"], a.welcome.conn, "{got}");
        assert_eq!(
            got["body"],
            format!("a->b {i}"),
            "a->b message {i} out of order or lost"
        );
    }
    for i in 0..count {
        let got = a.recv();
        assert_eq!(got["from"], b.welcome.conn, "{got}");
        assert_eq!(
            got["body"],
            format!("b->a {i}"),
            "b->a message {i} out of order or lost"
        );
    }
}

#[test]
fn unknown_connection_error_also_for_ids_that_look_like_other_shards() {
    let server = Server::start(&["--shards", "2"]);
    let (mut a, b) = pair_on_different_shards(&server);
    let gone = b.welcome.conn;
    // Neighbouring ids of a connection on the other shard that do not exist.
    for to in [gone + 1_000_000, u64::from(u32::MAX), (1 << 53) - 1] {
        a.send_direct(to, "x");
        let got = a.recv();
        assert_eq!(got["type"], "error", "direct to {to}: {got}");
        assert_eq!(got["code"], "unknown_connection", "direct to {to}: {got}");
    }
}
