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
use switchboard_tests::{redis_conn, wait_for, RedisCluster, RedisServer, Server};

const JSON: Encoding = Encoding::Json;
/// Registry TTL of the test nodes: a dead node is noticed within about this.
const TTL_MS: u64 = 1500;

/// A cluster node on `redis`, named `name`.
fn node(redis: &RedisServer, name: &str, extra: &[&str]) -> Server {
    node_on(&redis.url(), name, extra)
}

/// A cluster node on the Redis (or Redis Cluster seeds) at `url`, named `name`.
fn node_on(url: &str, name: &str, extra: &[&str]) -> Server {
    let ttl = TTL_MS.to_string();
    let mut args = vec![
        "--redis",
        url,
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
    // `a` started first: it runs the router, and both nodes say so.
    for server in [&a, &b] {
        let routers: Vec<Value> = nodes(server)["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["router"] == true)
            .map(|n| n["name"].clone())
            .collect();
        assert_eq!(routers, ["a"], "{}", nodes(server));
    }
    assert_eq!(this[0]["listen"], a.addr().to_string());
    // Presence: which node holds which user's connections, kept in Redis.
    let b_number = metric(&b, "switchboard_cluster_node").to_string();
    let alice = Client::connect(&b, "alice", JSON);
    let presence = || redis.cli(&["HGETALL", "sb:presence:alice"]);
    let held = wait_for(Duration::from_secs(5), || {
        let text = presence();
        let fields: Vec<&str> = text.lines().collect();
        (fields == [alice.conn.to_string().as_str(), b_number.as_str()]).then_some(())
    });
    assert!(held.is_some(), "presence of alice: {:?}", presence());
    b.signal(libc::SIGKILL);
    wait_for_nodes(&a, &["a"]);
    // The dead node's presence entries are cleaned up by the survivor.
    let cleaned = wait_for(Duration::from_secs(5), || {
        presence().is_empty().then_some(())
    });
    assert!(cleaned.is_some(), "presence after b died: {:?}", presence());
    drop(alice);
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

/// `alice` (on `owner`, which owns `conv`) pipelines the lines with ids `c{from}` to
/// `c{to - 1}`; once `acks` are acknowledged, `owner` is killed (-9). Alice reconnects to
/// `survivor` and resumes from the last seq she saw, retrying while the takeover is
/// under way; she must get exactly the items after it, in order. Returns her new
/// connection and the (seq, id) of every line acknowledged before the kill.
fn kill_owner_mid_flight(
    survivor: &Server,
    owner: &mut Server,
    mut alice: Client,
    conv: u64,
    (from, to): (usize, usize),
    acks: usize,
) -> (Client, Vec<(u64, String)>) {
    for i in from..to {
        alice.say(conv, &format!("c{i}"), &format!("line {i}"));
    }
    let mut acked = Vec::new();
    while acked.len() < acks {
        if let Some(OwnedServerFrame::Sent {
            seq, client_msg_id, ..
        }) = alice.try_next(Duration::from_secs(5))
        {
            acked.push((seq, client_msg_id));
        }
    }
    owner.signal(libc::SIGKILL);
    let _ = owner.wait_exit(Duration::from_secs(5));
    // What she saw acknowledged is `acked`; her socket died with the node.
    drop(alice);
    let last_seen = acked.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
    let mut again = Client::connect(survivor, "alice", JSON);
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
    for seq in last_seen + 1..=last_seq {
        let frame = again.next();
        assert_eq!(ordered_seq(&frame), Some((conv, seq)), "{}", again.dump());
    }
    (again, acked)
}

#[test]
fn killing_the_owner_loses_no_acknowledged_line() {
    let redis = RedisServer::start_with_aof("always");
    let (a, mut b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    // The visitor's node owns the conversation.
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    // Pipelined lines; the owner dies while they are in flight, and the visitor
    // resumes on the survivor: exactly the items after what it saw, in order.
    let (mut again, acked) = kill_owner_mid_flight(&a, &mut b, alice, conv, (0, 200), 50);
    // Resend what was never acknowledged, with the same ids: no duplicate appears.
    let acked_ids: std::collections::HashSet<String> =
        acked.iter().map(|(_, id)| id.clone()).collect();
    let mut ids_by_seq: Vec<(u64, String)> = acked.clone();
    for i in 0..200 {
        let id = format!("c{i}");
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
        .filter_map(|i| i["client_msg_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 200, "every line once: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "a line appears twice");
    for (seq, id) in &ids_by_seq {
        let item = &items[(*seq - 1) as usize];
        assert_eq!(item["client_msg_id"], id.as_str(), "seq {seq}");
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

/// The items of `conv`'s durable log, oldest first.
fn log_items(redis: &RedisServer, conv: u64) -> Vec<Value> {
    redis
        .cli(&["LRANGE", &format!("sb:{{c:{conv}}}:log"), "0", "-1"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The client message ids of the chat lines in `items`, by seq.
fn line_ids(items: &[Value]) -> Vec<(u64, String)> {
    items
        .iter()
        .filter_map(|i| {
            let id = i["client_msg_id"].as_str()?;
            Some((i["seq"].as_u64()?, id.to_owned()))
        })
        .collect()
}

fn assert_log_contiguous(items: &[Value]) {
    let seqs: Vec<u64> = items.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap or duplicate in the log"
    );
}

/// Sends a line until it is acknowledged (errors such as `unavailable` are retried
/// with the same client message id). Returns its seq.
fn say_until_acked(client: &mut Client, conv: u64, id: &str, within: Duration) -> u64 {
    wait_for(within, || {
        client.say(conv, id, id);
        let seq = ack_or_error(client, conv, id);
        if seq.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        seq
    })
    .unwrap_or_else(|| panic!("{id} never acknowledged; {}", client.dump()))
}

/// Says lines `{prefix}0` .. `{prefix}{n-1}`, each until acknowledged; returns each
/// line's (seq, id).
fn say_lines_until_acked(
    client: &mut Client,
    conv: u64,
    prefix: &str,
    n: usize,
) -> Vec<(u64, String)> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}{i}");
            (
                say_until_acked(client, conv, &id, Duration::from_secs(5)),
                id,
            )
        })
        .collect()
}

#[test]
fn a_paused_owner_cannot_write_after_a_takeover() {
    let redis = RedisServer::start();
    let (a, mut b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    let before = say_until_acked(&mut alice, conv, "before", Duration::from_secs(5));
    // The owner stops (a long GC pause, a frozen VM); its entry expires and the
    // survivor takes its conversations over.
    b.signal(libc::SIGSTOP);
    wait_for_nodes(&a, &["a"]);
    let took = wait_for(Duration::from_secs(10), || {
        (metric(&a, "switchboard_cluster_takeovers_total") >= 1.0).then_some(())
    });
    assert!(took.is_some(), "no takeover on the survivor");
    let mut again = Client::connect(&a, "alice", JSON);
    again.resume(conv, before);
    let snapshot = again.expect_snapshot();
    assert_eq!(snapshot.last_seq, before, "{snapshot:?}");
    let on_a = say_until_acked(&mut again, conv, "on-a", Duration::from_secs(5));
    assert_eq!(on_a, before + 1);
    // A line reaches the paused owner's socket; then it wakes up with its old token.
    alice.say(conv, "stale", "written by the old owner?");
    b.signal(libc::SIGCONT);
    let answer = ack_or_error(&mut alice, conv, "stale");
    // Whatever it answered, the old owner never wrote over the new owner's log: seq
    // `on_a` is still "on-a", nothing is duplicated, and "stale" is either refused or
    // went through the new owner after `on-a`.
    let items = log_items(&redis, conv);
    assert_log_contiguous(&items);
    let ids = line_ids(&items);
    assert!(ids.contains(&(on_a, "on-a".to_owned())), "{ids:?}");
    let stale: Vec<&(u64, String)> = ids.iter().filter(|(_, id)| id == "stale").collect();
    match answer {
        Some(seq) => assert_eq!(stale, vec![&(seq, "stale".to_owned())], "{ids:?}"),
        None => assert!(stale.is_empty(), "refused yet written: {ids:?}"),
    }
    if let Some(seq) = answer {
        assert!(seq > on_a);
    }
    let refused_or_dropped = metric(&b, "switchboard_cluster_fenced_total") >= 1.0
        || b.stderr_so_far().contains("registry entry had expired");
    assert!(
        refused_or_dropped,
        "the old owner neither hit the fence nor dropped its copies: {}",
        b.stderr_so_far()
    );
}

#[test]
fn redis_restarted_mid_run_loses_no_acknowledged_line() {
    let mut redis = RedisServer::start_with_aof("always");
    let (a, b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    let mut acked = say_lines_until_acked(&mut alice, conv, "up-", 10);
    redis.kill();
    // While Redis is down a line is refused with a clear error, not acknowledged.
    alice.say(conv, "down", "while Redis is down");
    assert_eq!(ack_or_error(&mut alice, conv, "down"), None);
    let down = wait_for(Duration::from_secs(5), || {
        (metric(&b, "switchboard_cluster_redis_up") == 0.0).then_some(())
    });
    assert!(down.is_some(), "redis_up never went to 0");
    assert!(b.stderr_so_far().contains("Redis unavailable"));
    redis.restart();
    // The client retries with the same id; it is stored once.
    let seq = say_until_acked(&mut alice, conv, "down", Duration::from_secs(15));
    acked.push((seq, "down".into()));
    for server in [&a, &b] {
        let up = wait_for(Duration::from_secs(10), || {
            (metric(server, "switchboard_cluster_redis_up") == 1.0).then_some(())
        });
        assert!(up.is_some(), "redis_up never came back");
    }
    let items = log_items(&redis, conv);
    assert_log_contiguous(&items);
    let ids = line_ids(&items);
    for line in &acked {
        assert!(ids.contains(line), "acked {line:?} missing: {ids:?}");
    }
    assert_eq!(ids.len(), acked.len(), "a line was stored twice: {ids:?}");
    // The conversation goes on across both nodes.
    wait_for_nodes(&a, &["a", "b"]);
    bob.say(conv, "back", "agent is back");
    let got = wait_for(Duration::from_secs(10), || loop {
        match alice.try_next(Duration::from_secs(2))? {
            OwnedServerFrame::Message { client_msg_id, .. } if client_msg_id == "back" => {
                return Some(())
            }
            _ => {}
        }
    });
    assert!(
        got.is_some(),
        "{}\n--- bob: {}\n--- received by b: {} sent by a: {}\n--- a:\n{}\n--- b:\n{}",
        alice.dump(),
        bob.dump(),
        metric(&b, "switchboard_cluster_received_total"),
        metric(&a, "switchboard_cluster_sent_total"),
        a.stderr_so_far(),
        b.stderr_so_far()
    );
}

/// Reads the admin stream with a consumer group: (conv, kind) of each entry.
fn read_events(redis: &RedisServer) -> Vec<(u64, String)> {
    let mut con = redis_conn(&redis.url());
    let value: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("admin")
        .arg("archiver")
        .arg("COUNT")
        .arg(1000)
        .arg("STREAMS")
        .arg("sb:events")
        .arg(">")
        .query(&mut con)
        .expect("XREADGROUP");
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    let mut events = Vec::new();
    let streams = match value {
        redis::Value::Array(streams) => streams,
        redis::Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| redis::Value::Array(vec![k, v]))
            .collect(),
        redis::Value::Nil => return events,
        other => panic!("XREADGROUP answered {other:?}"),
    };
    for stream in streams {
        let redis::Value::Array(parts) = stream else {
            continue;
        };
        let Some(redis::Value::Array(entries)) = parts.get(1) else {
            continue;
        };
        for entry in entries {
            let redis::Value::Array(entry) = entry else {
                continue;
            };
            let Some(redis::Value::Array(fields)) = entry.get(1) else {
                continue;
            };
            let fields: Vec<String> = fields.iter().map(text).collect();
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv[0] == name)
                    .map(|kv| kv[1].clone())
                    .unwrap_or_default()
            };
            events.push((field("conv").parse().unwrap_or(0), field("kind")));
        }
    }
    events
}

#[test]
fn the_admin_stream_has_every_event_for_a_consumer_group() {
    let redis = RedisServer::start();
    redis.cli(&["XGROUP", "CREATE", "sb:events", "admin", "$", "MKSTREAM"]);
    let (a, b) = two_nodes(&redis);
    let mut bob = agent(&a, "agent:bob", JSON);
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    say_until_acked(&mut alice, conv, "hello", Duration::from_secs(5));
    say_until_acked(&mut bob, conv, "hi", Duration::from_secs(5));
    alice.send(&ClientFrame::End { conv });
    let ended = wait_for(Duration::from_secs(10), || {
        let kinds: Vec<String> = read_events_peek(&redis, conv);
        kinds.iter().any(|k| k == "ended").then_some(())
    });
    assert!(ended.is_some(), "no ended event");
    let events: Vec<String> = read_events(&redis)
        .into_iter()
        .filter(|(c, _)| *c == conv)
        .map(|(_, kind)| kind)
        .collect();
    assert_eq!(
        events,
        ["created", "assigned", "message", "message", "ended"],
        "events of conversation {conv}"
    );
    // Read once by the group: nothing is delivered to it twice.
    assert!(read_events(&redis).is_empty());
    // An ended conversation's keys expire after the retention, and its owner no
    // longer lists it for takeover.
    let ttl: i64 = redis
        .cli(&["PTTL", &format!("sb:{{c:{conv}}}")])
        .parse()
        .unwrap();
    assert!(ttl > 0, "no expiry on an ended conversation: {ttl}");
    let owner = metric(&b, "switchboard_cluster_node").to_string();
    let owned = wait_for(Duration::from_secs(5), || {
        let member = redis.cli(&["SISMEMBER", &format!("sb:owned:{owner}"), &conv.to_string()]);
        (member == "0").then_some(())
    });
    assert!(owned.is_some(), "an ended conversation is still owned");
    // A user whose last connection on a node closed leaves its presence there.
    alice.close();
    let gone = wait_for(Duration::from_secs(5), || {
        let presence = redis.cli(&["HGETALL", "sb:presence:alice"]);
        let users = redis.cli(&["SMEMBERS", &format!("sb:node-users:{owner}")]);
        (presence.is_empty() && !users.lines().any(|u| u == "alice")).then_some(())
    });
    assert!(gone.is_some(), "alice's presence outlived her connection");
}

/// The kinds of `conv`'s events in the stream, without consuming them.
fn read_events_peek(redis: &RedisServer, conv: u64) -> Vec<String> {
    let text = redis.cli(&["XRANGE", "sb:events", "-", "+"]);
    let lines: Vec<&str> = text.lines().collect();
    let mut kinds = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line == "conv" && lines.get(i + 1) == Some(&conv.to_string().as_str()) {
            if let (Some(&"kind"), Some(kind)) = (lines.get(i + 2), lines.get(i + 3)) {
                kinds.push((*kind).to_owned());
            }
        }
    }
    kinds
}

#[test]
fn the_router_moves_when_its_node_dies() {
    let redis = RedisServer::start();
    let (mut a, b) = two_nodes(&redis);
    assert_eq!(
        metric(&a, "switchboard_cluster_leader"),
        metric(&a, "switchboard_cluster_node")
    );
    // Agent and first visitor on b; the router runs on a.
    let mut bob = agent(&b, "agent:bob", JSON);
    bob.status(switchboard_protocol::chat::AgentStatus::Online, Some(2));
    bob.router_barrier();
    let mut alice = Client::connect(&b, "alice", JSON);
    let first = start_served_by(&mut alice, &mut bob);
    a.signal(libc::SIGKILL);
    let _ = a.wait_exit(Duration::from_secs(5));
    let moved = wait_for(Duration::from_secs(15), || {
        let leader = metric(&b, "switchboard_cluster_leader");
        (leader == metric(&b, "switchboard_cluster_node")).then_some(())
    });
    assert!(moved.is_some(), "b never took the router over");
    // The new router knows bob (capacity 2, one conversation): a new visitor gets him.
    let mut carol = Client::connect(&b, "carol", JSON);
    let second = wait_for(Duration::from_secs(10), || {
        carol.start();
        match carol.try_next(Duration::from_secs(2))? {
            OwnedServerFrame::Conversation { conv, .. } => Some(conv),
            _ => None,
        }
    })
    .expect("carol got no conversation");
    assert_ne!(second, first);
    let assigned = wait_for(Duration::from_secs(10), || loop {
        match bob.try_next(Duration::from_secs(2))? {
            OwnedServerFrame::Conversation { conv, .. } if conv == second => return Some(()),
            _ => {}
        }
    });
    assert!(
        assigned.is_some(),
        "bob never got carol's conversation: {}",
        bob.dump()
    );
    // And the first conversation goes on.
    say_until_acked(&mut alice, first, "still", Duration::from_secs(5));
}

#[test]
fn on_a_redis_cluster_nodes_chat_and_fail_over_losing_nothing() {
    let redis = RedisCluster::start(3);
    let seeds = redis.seeds();
    let a = node_on(&seeds, "a", &[]);
    wait_for_nodes(&a, &["a"]);
    let mut b = node_on(&seeds, "b", &[]);
    wait_for_nodes(&a, &["a", "b"]);
    wait_for_nodes(&b, &["a", "b"]);
    let mut bob = agent(&a, "agent:bob", JSON);
    let mut alice = Client::connect(&b, "alice", JSON);
    let conv = start_served_by(&mut alice, &mut bob);
    let mut acked = say_lines_until_acked(&mut alice, conv, "c", 10);
    let seen_by_bob = read_lines(&mut bob, conv, 10);
    assert_contiguous("bob", &seen_by_bob, 3);
    let mut con = redis.connection();
    // The admin events of those lines (on a cluster they follow the append).
    let events = wait_for(Duration::from_secs(5), || {
        let entries: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg("sb:events")
            .arg("-")
            .arg("+")
            .query(&mut con)
            .ok()?;
        (entries.len() >= 12).then_some(entries.len())
    });
    assert_eq!(events, Some(12), "created, assigned and 10 messages");
    // The owner dies with lines in flight; the visitor resumes on the survivor.
    let (mut again, more) = kill_owner_mid_flight(&a, &mut b, alice, conv, (10, 60), 20);
    acked.extend(more);
    for i in 0..60 {
        let id = format!("c{i}");
        if !acked.iter().any(|(_, a)| *a == id) {
            let seq = say_until_acked(&mut again, conv, &id, Duration::from_secs(5));
            acked.push((seq, id));
        }
    }
    let log: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("sb:{{c:{conv}}}:log"))
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .expect("LRANGE on the cluster");
    let items: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_log_contiguous(&items);
    let ids = line_ids(&items);
    assert_eq!(ids.len(), 60, "every line exactly once: {ids:?}");
    for line in &acked {
        assert!(
            ids.contains(line),
            "acked {line:?} missing or moved: {ids:?}"
        );
    }
    // Every stored item has its admin event, at least once, despite the kill (the
    // survivor re-emits what the dead owner may not have written).
    let want: std::collections::BTreeSet<u64> = (1..=items.len() as u64).collect();
    let complete = wait_for(Duration::from_secs(5), || {
        let got = event_seqs(&mut con, conv);
        want.is_subset(&got).then_some(())
    });
    assert!(
        complete.is_some(),
        "events missing: have {:?}",
        event_seqs(&mut con, conv)
    );
}

/// The seqs of `conv`'s items in the admin stream.
fn event_seqs(
    con: &mut redis::cluster::ClusterConnection,
    conv: u64,
) -> std::collections::BTreeSet<u64> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("sb:events")
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if field("conv")?.parse::<u64>().ok()? != conv {
                return None;
            }
            let item: Value = serde_json::from_str(field("item")?).ok()?;
            item["seq"].as_u64()
        })
        .collect()
}

#[test]
fn a_node_started_before_redis_waits_for_it_and_joins() {
    let mut redis = RedisServer::start();
    redis.kill();
    let url = redis.url();
    // The harness ties a child's life to the thread that started it: the node lives
    // and is checked in its own thread, Redis comes back 1.5 s later in this one.
    let node = std::thread::spawn(move || {
        let early = node_on(&url, "early", &[]);
        wait_for_nodes(&early, &["early"]);
        assert!(early
            .stderr_so_far()
            .contains("Redis not reachable yet; retrying"));
    });
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    node.join().expect("the node never joined");
}

#[test]
fn relogin_replace_closes_the_older_connection_on_another_node() {
    let redis = RedisServer::start();
    let a = node(&redis, "a", &["--relogin", "replace"]);
    wait_for_nodes(&a, &["a"]);
    let b = node(&redis, "b", &["--relogin", "replace"]);
    wait_for_nodes(&a, &["a", "b"]);
    let mut old = Client::connect(&b, "vic", JSON);
    // The first connection is in Redis before the second one opens.
    let listed = wait_for(Duration::from_secs(5), || {
        (!redis.cli(&["HGETALL", "sb:presence:vic"]).is_empty()).then_some(())
    });
    assert!(listed.is_some(), "vic's presence never reached Redis");
    let _new = Client::connect(&a, "vic", JSON);
    let (code, reason) =
        switchboard_tests::control_client::expect_close(&mut old, Duration::from_secs(10));
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("replaced"), "{reason}");
}

/// A sale starting: more new conversations within one heartbeat than one block of
/// conversation ids (1,024) holds. The router must not run dry and refuse `start`
/// with `unavailable`: its node tops the ids up as they go, not only at heartbeats.
#[test]
fn a_burst_of_new_conversations_does_not_run_out_of_ids() {
    let redis = RedisServer::start();
    let url = redis.url();
    // Heartbeats every 5 s: the whole burst falls between two of them.
    let a = Server::start(&[
        "--redis",
        &url,
        "--node-name",
        "a",
        "--node-ttl-ms",
        "15000",
    ]);
    wait_for_nodes(&a, &["a"]);
    let mut visitors: Vec<Client> = (0..2_600)
        .map(|i| Client::connect(&a, &format!("burst{i}"), JSON))
        .collect();
    for visitor in &mut visitors {
        visitor.start();
    }
    let mut refused = 0;
    for visitor in &mut visitors {
        let frame = visitor.wait_for("queued or an error", |f| {
            matches!(f, OwnedServerFrame::Error { .. })
                || switchboard_tests::chat_client::is_system(
                    f,
                    switchboard_protocol::chat::SystemKind::Queued,
                )
        });
        if matches!(frame, OwnedServerFrame::Error { .. }) {
            refused += 1;
        }
    }
    assert_eq!(refused, 0, "starts refused for want of conversation ids");
}
