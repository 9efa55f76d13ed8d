//! Issue 19: places where the engine contradicted its own documents (docs/protocol.md,
//! control-api/openapi.yaml, README.md). Each test is written from the document alone,
//! as a client author would read it.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_protocol::chat::{
    AgentStatus, ClientFrame, ConversationState, Encoding, OwnedServerFrame, SystemKind,
};
use switchboard_tests::chat_client::{agent, start_served_by, Client, SystemItem};
use switchboard_tests::control_client::Control;
use switchboard_tests::{RawWs, Server, IO_TIMEOUT, TWO_SHARDS};

const JSON: Encoding = Encoding::Json;

fn serve(extra: &[&str]) -> Server {
    Server::start_with(TWO_SHARDS, extra)
}

/// "One sequence per conversation": a second `start` on the same connection answers
/// the snapshot alone; the connection never sees an item twice. A new connection of
/// the same visitor gets the snapshot and every item.
#[test]
fn a_repeated_start_on_one_connection_sends_the_snapshot_only() {
    let server = serve(&[]);
    let mut v = Client::connect(&server, "vera", JSON);
    let conv = v.start_new();
    let queued = v.expect_system(conv, 2, SystemKind::Queued);
    assert_eq!(queued.position, Some(1), "queued carries the place");
    v.start();
    let snapshot = v.expect_snapshot();
    assert_eq!((snapshot.conv, snapshot.last_seq), (conv, 2));
    v.expect_silence(Duration::from_millis(400));
    let seqs: Vec<u64> = v
        .log
        .iter()
        .filter_map(|f| switchboard_tests::chat_client::ordered_seq(f).map(|(_, s)| s))
        .collect();
    assert_eq!(
        seqs,
        vec![1, 2],
        "items seen by the connection: {}",
        v.dump()
    );
    // Another tab of the same visitor: snapshot, then seq 1 and 2.
    let mut tab = Client::connect(&server, "vera", JSON);
    tab.start();
    let (snapshot, items) = tab.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.last_seq, 2);
    assert_eq!(items.len(), 2);
    // Both connections follow: the next item reaches each once.
    let mut a = Client::connect(&server, "agent:ann", JSON);
    a.expect_assignment(conv);
    for side in [&mut v, &mut tab] {
        side.expect_system(conv, 3, SystemKind::Assigned);
    }
}

/// "Transfers": an offer whose target is lost fails `target_lost`, as soon as the
/// target is known to be gone (its grace period ran out), not at the timeout.
#[test]
fn an_offer_to_a_target_that_is_gone_fails_target_lost_at_once() {
    let server = serve(&["--agent-grace-ms", "300", "--transfer-timeout-ms", "60000"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    a.transfer(conv, "agent-b");
    v.expect_system(conv, 3, SystemKind::TransferRequested);
    assert!(matches!(b.next(), OwnedServerFrame::TransferOffer { conv: c, .. } if c == conv));
    b.close();
    let started = std::time::Instant::now();
    let frame = v.wait_for_within(Duration::from_secs(10), "transfer_failed", |f| {
        matches!(
            f,
            OwnedServerFrame::System {
                event: SystemKind::TransferFailed,
                ..
            }
        )
    });
    let item = SystemItem::from_frame(&frame).unwrap();
    assert_eq!(
        (item.seq, item.agent.as_deref(), item.reason.as_deref()),
        (4, Some("agent-a"), Some("target_lost"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed only after {:?}",
        started.elapsed()
    );
}

/// openapi.yaml: `POST /v1/conversations/{id}/transfer` offers the conversation; the
/// target answers like an agent's own transfer. `force` moves it at once.
#[test]
fn the_control_api_transfer_is_an_offer_unless_forced() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    let summary = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/transfer"),
        Some(&json!({"to": "agent-b"})),
    );
    assert_eq!(summary["state"], "transferring", "{summary}");
    v.expect_system(conv, 3, SystemKind::TransferRequested);
    match b.next() {
        OwnedServerFrame::TransferOffer {
            conv: c,
            from_agent,
            visitor,
        } => assert_eq!(
            (c, from_agent.as_str(), visitor.as_str()),
            (conv, "agent-a", "vic")
        ),
        other => panic!("expected transfer_offer, got {other:?}"),
    }
    b.send(&ClientFrame::DeclineTransfer { conv });
    let item = v.expect_system(conv, 4, SystemKind::TransferFailed);
    assert_eq!(item.reason.as_deref(), Some("declined"));
    // Forced: at once, no offer.
    let summary = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/transfer"),
        Some(&json!({"to": "agent-b", "force": true})),
    );
    assert_eq!(summary["state"], "serving", "{summary}");
    v.expect_system(conv, 5, SystemKind::TransferRequested);
    let item = v.expect_system(conv, 6, SystemKind::Transferred);
    assert_eq!(item.agent.as_deref(), Some("agent-b"));
    let snapshot = b.expect_snapshot();
    assert_eq!(snapshot.state, ConversationState::Serving);
    assert!(
        !b.log
            .iter()
            .skip_while(|f| !matches!(f, OwnedServerFrame::System { seq: 4, .. }))
            .any(|f| matches!(f, OwnedServerFrame::TransferOffer { .. })),
        "a forced move sent an offer: {}",
        b.dump()
    );
}

/// "JSON encoding": anything that is not a JSON object is refused with 1007 and a
/// reason that says an object was expected.
#[test]
fn json_arrays_and_other_non_objects_close_with_1007() {
    let server = serve(&[]);
    for text in [r#"["start"]"#, r#"["typing",1]"#, r#""start""#, "7", "null"] {
        let (mut ws, _) = RawWs::connect(server.addr(), "/v1/ws", &[]);
        ws.expect_json(IO_TIMEOUT); // welcome
        ws.send_text(text);
        let reason = ws.expect_close_code(1007, IO_TIMEOUT);
        assert!(
            reason.contains("must be an object"),
            "{text}: reason {reason:?}"
        );
    }
    // The control API refuses the same on every JSON body.
    let control = Control::of(&server);
    for (path, body) in [
        ("/v1/conversations/1/transfer", r#"["agent-b"]"#),
        ("/v1/conversations/1/assign", r#"["bob"]"#),
        ("/v1/agents/bob", "[5]"),
    ] {
        let method = if path.starts_with("/v1/agents") {
            "PATCH"
        } else {
            "POST"
        };
        let response = control.request(method, path, Some(body));
        assert_eq!(response.status, 400, "{method} {path} {body}: {response:?}");
        let error: Value = response.json();
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("JSON object"), "{message}");
    }
}

/// "Close codes": every code the server sends is in protocol.md's table.
#[test]
fn every_close_code_the_server_sends_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("docs/protocol.md");
    let table = &doc[doc
        .find("## WebSocket rules and close codes")
        .expect("close codes")..];
    for code in [1001, 1002, 1003, 1007, 1009, 1012, 1013, 4001, 4002] {
        assert!(
            table.contains(&format!("| {code} |")),
            "close code {code} missing from protocol.md"
        );
    }
}

/// README: `GET /v1/agents/{user}` of an agent whose grace period ran out says
/// `offline`, not `online` with 0 connections.
#[test]
fn an_agent_past_its_grace_period_is_reported_offline() {
    let server = serve(&["--agent-grace-ms", "200"]);
    let control = Control::of(&server);
    let mut bob = agent(&server, "agent:bob", JSON);
    bob.status(AgentStatus::Online, None);
    bob.router_barrier();
    assert_eq!(control.get("/v1/agents/bob")["status"], "online");
    bob.close();
    let view = switchboard_tests::wait_for(Duration::from_secs(10), || {
        let view = control.get("/v1/agents/bob");
        (view["connections"] == 0 && view["grace_left_ms"].is_null()).then_some(view)
    })
    .expect("grace period ends");
    assert_eq!(view["status"], "offline", "{view}");
    // Back again: online as it said before.
    let mut bob = agent(&server, "agent:bob", JSON);
    bob.router_barrier();
    assert_eq!(control.get("/v1/agents/bob")["status"], "online");
}

/// Every id of the JSON encoding (conn, conv, seq, ts, last_seq) stays exact when a
/// JavaScript engine parses the frame, also in cluster mode on the highest node number
/// (the node is made to claim 1023 by taking every other number first).
#[test]
fn a_javascript_engine_reads_every_json_id_exactly() {
    use switchboard_tests::RedisServer;
    let redis = RedisServer::start();
    for n in 1..1023 {
        redis.cli(&["SET", &format!("sb:node:{n}"), "{}", "PX", "600000"]);
    }
    let url = redis.url();
    let server = Server::start(&["--redis", &url, "--node-name", "js-ids", "--shards", "2"]);
    let mut frames = Vec::new();
    for _ in 0..3 {
        // Connections on both shards, so the shard bits are set too.
        let (mut ws, _) = RawWs::connect(server.addr(), "/v1/ws?token=vera", &[]);
        frames.push(ws.expect_text(IO_TIMEOUT));
        ws.send_text(r#"{"type":"start"}"#);
        for _ in 0..2 {
            frames.push(ws.expect_text(IO_TIMEOUT));
        }
    }
    let conn: u64 = serde_json::from_str::<Value>(&frames[0]).unwrap()["conn"]
        .as_u64()
        .unwrap();
    assert_eq!(
        conn >> 43,
        1023,
        "the node number is in the top bits: {conn}"
    );
    let script = r#"
        const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
        for (const line of lines) {
            const frame = JSON.parse(line);
            const ids = {};
            for (const k of ['conn', 'conv', 'seq', 'ts', 'last_seq']) {
                if (k in frame) ids[k] = Number.isSafeInteger(frame[k]) ? String(frame[k]) : 'unsafe';
            }
            console.log(JSON.stringify(ids));
        }
    "#;
    let mut child = std::process::Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node (Node.js) is installed: tests/run-all installs it");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(frames.join("\n").as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let seen: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seen.len(), frames.len());
    let mut compared = 0;
    for (frame, js) in frames.iter().zip(&seen) {
        let exact: Value = serde_json::from_str(frame).unwrap();
        for (key, value) in js.as_object().unwrap() {
            assert_eq!(
                value.as_str().unwrap(),
                exact[key].as_u64().unwrap().to_string(),
                "{key} of {frame}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 12, "compared {compared} ids");
}

/// openapi.yaml: `GET /v1/nodes` names this node's control API address (the bound one,
/// not `--control-listen`'s `:0`).
#[test]
fn the_node_list_names_the_bound_control_address() {
    let server = serve(&[]);
    let nodes = Control::of(&server).get("/v1/nodes");
    assert_eq!(
        nodes["nodes"][0]["control"],
        server.control_addr().unwrap().to_string(),
        "{nodes}"
    );
}

/// protocol.md: `event.data` reaches the client byte for byte as the back end posted
/// it; `system` and `bot:` ids are refused at upgrade.
#[test]
fn pushed_event_data_is_passed_through_and_reserved_ids_are_refused() {
    let server = serve(&[]);
    let (mut ws, _) = RawWs::connect(server.addr(), "/v1/ws?token=ev", &[]);
    ws.expect_json(IO_TIMEOUT);
    let exact = r#"{"z":1,"a":1.50,"big":12345678901234567890123}"#;
    let body = format!(r#"{{"name":"promo","data":{exact}}}"#);
    let control = Control::of(&server);
    control.wait_connections("ev", 1);
    let answer = control.request("POST", "/v1/users/ev/events", Some(&body));
    assert_eq!(answer.status, 200, "{answer:?}");
    // (`wait_connections` probes with an event of its own first.)
    let text = loop {
        let text = ws.expect_text(IO_TIMEOUT);
        if !text.contains(r#""name":"probe""#) {
            break text;
        }
    };
    assert_eq!(
        text,
        format!(r#"{{"type":"event","name":"promo","data":{exact}}}"#)
    );
    for reserved in ["system", "bot:helper", "anon-3"] {
        let refused = switchboard_tests::chat_client::Client::try_connect(
            &server,
            switchboard_tests::chat_client::Auth::Query(reserved),
            JSON,
        );
        assert!(matches!(refused, Err(r) if r.status == 401), "{reserved}");
    }
}
