//! Issue 7 with real parts: one real `redis-server` and several real engine processes.
//!
//! Cross-node chat (visitor on one node, agent on another); the registry (join, leave,
//! kill -9); a kill -9 of the node that owns busy conversations while the visitor keeps
//! sending, after which every acknowledged line is there exactly once and in order for
//! the clients that resume on the survivor; a paused (SIGSTOP) owner that comes back
//! after a takeover and cannot write; Redis killed and restarted mid-run; the admin
//! event stream read with a consumer group.

use std::time::Duration;

use serde_json::Value;
use switchboard_protocol::chat::{ClientFrame, ConversationState, Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{
    agent, assert_contiguous, ordered_seq, read_lines, start_served_by, Client,
};
use switchboard_tests::control_client::Control;
use switchboard_tests::{redis_conn, wait_for, RedisServer, Server};

const JSON: Encoding = Encoding::Json;
/// Registry TTL of the test nodes: a dead node is noticed within about this.
const TTL_MS: u64 = 1500;

/// A cluster node on `redis`, named `name`.
fn node(redis: &RedisServer, name: &str, extra: &[&str]) -> Server {
    let url = redis.url();
    let ttl = TTL_MS.to_string();
    let mut args = vec![
        "--redis",
        url.as_str(),
        "--node-name",
        name,
        "--node-ttl-ms",
        ttl.as_str(),
        "--close-timeout-ms",
        "1000",
        "--agent-grace-ms",
        "60000",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The node list of `server`'s control API.
fn nodes(server: &Server) -> Value {
    Control::of(server).get("/v1/nodes")
}

fn node_names(server: &Server) -> Vec<String> {
    let mut names: Vec<String> = nodes(server)["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|n| n["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until `server` lists exactly `want` (sorted) and knows a router leader.
fn wait_for_nodes(server: &Server, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let listed = wait_for(Duration::from_secs(15), || {
        let names = node_names(server);
        let leader = metric(server, "switchboard_cluster_leader");
        (names == want && leader > 0.0).then_some(())
    });
    assert!(
        listed.is_some(),
        "nodes never became {want:?}: {}",
        nodes(server)
    );
}

/// A metric's value on `server` (0 when absent).
fn metric(server: &Server, name: &str) -> f64 {
    let text = Control::of(server)
        .request("GET", "/metrics", None)
        .body_text();
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// Two nodes: `a` starts first, so it holds the router lease.
fn two_nodes(redis: &RedisServer) -> (Server, Server) {
    let a = node(redis, "a", &[]);
    wait_for_nodes(&a, &["a"]);
    let b = node(redis, "b", &[]);
    wait_for_nodes(&a, &["a", "b"]);
    wait_for_nodes(&b, &["a", "b"]);
    (a, b)
}

#[test]
fn visitor_and_agent_on_different_nodes_chat_in_order() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    for i in 0..20 {
        alice.say(conv, &format!("v{i}"), &format!("visitor line {i}"));
        bob.say(conv, &format!("a{i}"), &format!("agent line {i}"));
    }
    let seen_alice = read_lines(&mut alice, conv, 40);
    let seen_bob = read_lines(&mut bob, conv, 40);
    assert_contiguous("alice", &seen_alice, 3);
    assert_contiguous("bob", &seen_bob, 3);
    assert_eq!(seen_alice, seen_bob, "the two nodes disagree on the order");
    assert!(metric(&a, "switchboard_cluster_sent_total") > 0.0);
    assert!(metric(&b, "switchboard_cluster_received_total") > 0.0);
    // Every line is in the durable log, in order.
    let log = redis.cli(&["LRANGE", &format!("sb:{{c:{conv}}}:log"), "0", "-1"]);
    let seqs: Vec<u64> = log
        .lines()
        .map(|item| {
            serde_json::from_str::<Value>(item).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=42).collect::<Vec<_>>(), "log: {log}");
}

#[test]
fn registry_lists_nodes_as_they_join_and_die() {
    let redis = RedisServer::start();
    let (a, mut b) = two_nodes(&redis);
    let listed = nodes(&a);
    assert_eq!(listed["mode"], "cluster");
    assert_eq!(listed["redis"]["connected"], true);
    let this: Vec<&Value> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["this_node"] == true)
        .collect();
    assert_eq!(this.len(), 1);
    assert_eq!(this[0]["name"], "a");
    assert_eq!(this[0]["listen"], a.addr().to_string());
    b.signal(libc::SIGKILL);
    wait_for_nodes(&a, &["a"]);
    let c = node(&redis, "c", &[]);
    wait_for_nodes(&a, &["a", "c"]);
    wait_for_nodes(&c, &["a", "c"]);
    // A graceful stop leaves at once (no TTL wait).
    drop(c);
    wait_for_nodes(&a, &["a"]);
}

/// Reads frames until `sent` for `id` or an error; returns the seq if acknowledged.
fn ack_or_error(client: &mut Client, conv: u64, id: &str) -> Option<u64> {
    loop {
        match client.try_next(Duration::from_secs(5))? {
            OwnedServerFrame::Sent {
                conv: c,
                client_msg_id,
                seq,
                ..
            } if c == conv && client_msg_id == id => return Some(seq),
            OwnedServerFrame::Error { .. } => return None,
            _ => {}
        }
    }
}

#[test]
fn killing_the_owner_loses_no_acknowledged_line() {
    let redis = RedisServer::start_with_aof("always");
    let (a, mut b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    // The visitor's node owns the conversation.
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    // Pipelined lines; the owner dies while they are in flight.
    for i in 0..200 {
        alice.say(conv, &format!("m{i}"), &format!("line {i}"));
    }
    let mut acked = Vec::new();
    while acked.len() < 50 {
        if let Some(OwnedServerFrame::Sent {
            seq, client_msg_id, ..
        }) = alice.try_next(Duration::from_secs(5))
        {
            acked.push((seq, client_msg_id));
        }
    }
    b.signal(libc::SIGKILL);
    let _ = b.wait_exit(Duration::from_secs(5));
    // What the visitor saw acknowledged is `acked`; its socket died with the node.
    drop(alice);
    let last_seen = acked.iter().map(|(seq, _)| *seq).max().unwrap();
    // The visitor comes back on the survivor and resumes; it may have to wait for the
    // takeover (the dead node's registry entry must expire first).
    let mut again = Client::connect(&a, "alice", JSON);
    let resumed = wait_for(Duration::from_secs(15), || {
        again.resume(conv, last_seen);
        match again.try_next(Duration::from_millis(500))? {
            OwnedServerFrame::Conversation {
                last_seq, state, ..
            } => Some((last_seq, state)),
            _ => None,
        }
    });
    let (last_seq, state) = resumed.expect("the survivor never served the conversation");
    assert_eq!(state, ConversationState::Serving);
    assert!(
        last_seq >= last_seen,
        "acked seq {last_seen} missing: last_seq {last_seq}"
    );
    // Exactly the items after `last_seen`, in order, none twice.
    for seq in last_seen + 1..=last_seq {
        let frame = again.next();
        assert_eq!(ordered_seq(&frame), Some((conv, seq)), "{}", again.dump());
    }
    // Resend what was never acknowledged, with the same ids: no duplicate appears.
    let acked_ids: std::collections::HashSet<String> =
        acked.iter().map(|(_, id)| id.clone()).collect();
    let mut ids_by_seq: Vec<(u64, String)> = acked.clone();
    for i in 0..200 {
        let id = format!("m{i}");
        if !acked_ids.contains(&id) {
            again.say(conv, &id, &format!("line {i}"));
            let seq = ack_or_error(&mut again, conv, &id).expect("resent line not acked");
            ids_by_seq.push((seq, id));
        }
    }
    // The durable log has every line exactly once, in order of seq.
    let log = redis.cli(&["LRANGE", &format!("sb:{{c:{conv}}}:log"), "0", "-1"]);
    let items: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = items.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap or duplicate in the log"
    );
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|i| {
            i["body"]["Message"]["client_msg_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(ids.len(), 200, "every line once: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "a line appears twice");
    for (seq, id) in &ids_by_seq {
        let item = &items[(*seq - 1) as usize];
        assert_eq!(
            item["body"]["Message"]["client_msg_id"],
            id.as_str(),
            "seq {seq}"
        );
    }
    // The agent, still on the survivor, keeps talking with the visitor.
    bob.say(conv, "after", "still here");
    let line = loop {
        match again.next() {
            OwnedServerFrame::Message {
                client_msg_id, seq, ..
            } if client_msg_id == "after" => break seq,
            _ => {}
        }
    };
    assert_eq!(line, seqs.len() as u64 + 1);
    let _ = ClientFrame::Start;
}
