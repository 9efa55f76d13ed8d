//! Issue 5 over the wire: every control-API route against the real engine, each
//! route's effect checked on real WebSocket chat clients (visitors and agents of
//! `/v1/ws`), not only in the API's own answer.
//!
//! Servers run with a huge event-loop-lag budget so a loaded machine never raises the
//! degradation level on its own (that would drop typing events or pause routing) —
//! the automatic levels have their own tests in `degradation.rs`.

use serde_json::{json, Value};
use switchboard_protocol::chat::{Encoding, OwnedServerFrame, SystemKind};
use switchboard_tests::chat_client::{agent, start_served_by, Client, SystemItem};
use switchboard_tests::control_client::{expect_close, Control};
use switchboard_tests::{upgrade_accepted, wait_for, Server, IO_TIMEOUT, TWO_SHARDS};

/// Close code of a connection kicked through the control API (openapi.yaml: 4002).
const KICK_CLOSE_CODE: u16 = 4002;
const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;

fn serve(extra: &[&str]) -> Server {
    Server::start_with(TWO_SHARDS, extra)
}

/// Waits (bounded) for the next `system` item of `event` and returns it.
fn wait_system(client: &mut Client, conv: u64, event: SystemKind) -> SystemItem {
    let frame = client.wait_for(&format!("system {event} of conv {conv}"), |f| {
        matches!(SystemItem::from_frame(f), Some(item) if item.conv == conv && item.event == event)
    });
    SystemItem::from_frame(&frame).expect("a system frame")
}

/// Polls `GET path` until `check` accepts the body (bounded); returns it.
fn poll(control: &Control, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    wait_for(IO_TIMEOUT, || {
        last = control.get(path);
        check(&last).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("GET {path}: never {what}; last answer {last}"))
}

fn is_probe(frame: &OwnedServerFrame) -> bool {
    matches!(frame, OwnedServerFrame::Event { name, .. } if name == "probe")
}

fn conv_ids(list: &Value) -> Vec<u64> {
    list["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("no conversations array: {list}"))
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect()
}

fn agent_view<'a>(list: &'a Value, user: &str) -> &'a Value {
    list["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("no agents array: {list}"))
        .iter()
        .find(|a| a["user"] == user)
        .unwrap_or_else(|| panic!("agent {user} not listed: {list}"))
}

#[test]
fn a_single_node_lists_itself_as_the_whole_cluster() {
    let server = serve(&[]);
    let nodes = Control::of(&server).get("/v1/nodes");
    assert_eq!(nodes["mode"], "single", "{nodes}");
    assert_eq!(nodes["redis"], Value::Null, "{nodes}");
    let list = nodes["nodes"].as_array().expect("a node list");
    assert_eq!(list.len(), 1, "{nodes}");
    assert_eq!(list[0]["this_node"], true, "{nodes}");
    assert_eq!(list[0]["listen"], server.addr().to_string(), "{nodes}");
}

#[test]
fn probes_and_stats_reflect_connections_and_messages() {
    let server = serve(&[]);
    let control = Control::of(&server);
    assert_eq!(control.get("/livez")["status"], "live");
    assert_eq!(control.get("/readyz")["status"], "ready");

    let before = control.get("/v1/stats");
    assert_eq!(before["draining"], false, "{before}");
    assert_eq!(
        before["shards"].as_array().map(Vec::len),
        Some(usize::from(server.shards())),
        "{before}"
    );
    let in_before = before["totals"]["messages_in"].as_u64().unwrap();
    let deliveries_before = before["totals"]["deliveries"].as_u64().unwrap();

    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);
    for i in 0..5 {
        v.say(conv, &format!("v-{i}"), "hello");
        v.expect_sent(conv, &format!("v-{i}"));
        a.wait_for("the visitor's message", |f| {
            matches!(f, OwnedServerFrame::Message { .. })
        });
    }
    // Counters are published by the shards: poll until they show the traffic.
    let stats = poll(&control, "/v1/stats", "showing the traffic", |s| {
        s["totals"]["connections"].as_u64() == Some(2)
            && s["totals"]["messages_in"].as_u64().unwrap_or(0) >= in_before + 5
            && s["totals"]["deliveries"].as_u64().unwrap_or(0) >= deliveries_before + 5
            && s["conversations"]["serving"].as_u64() == Some(1)
    });
    let shards = stats["shards"].as_array().unwrap();
    for field in [
        "connections",
        "accepts",
        "messages_in",
        "messages_out",
        "deliveries",
    ] {
        let sum: u64 = shards.iter().map(|s| s[field].as_u64().unwrap()).sum();
        // Shard counters move between the two reads only upwards; a settled node
        // shows the per-shard values adding up to the totals.
        assert!(
            sum >= stats["totals"][field].as_u64().unwrap(),
            "{field}: shards {sum} vs totals in {stats}"
        );
    }
    assert!(stats["totals"]["accepts"].as_u64().unwrap() >= 2, "{stats}");
    assert_eq!(stats["queue_length"], 0, "{stats}");
    assert!(stats["version"].is_string() && stats["uptime_ms"].is_u64());

    // Closing both: the connection gauge goes back down.
    a.close();
    v.close();
    poll(&control, "/v1/stats", "back to 0 connections", |s| {
        s["totals"]["connections"] == 0
    });
}

#[test]
fn conversations_are_listed_by_state_and_agent_and_read_with_recent_items() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    a.status(switchboard_protocol::chat::AgentStatus::Online, Some(1));
    a.router_barrier();
    let mut v1 = Client::connect(&server, "v1", JSON);
    let served = start_served_by(&mut v1, &mut a);
    v1.say(served, "m-1", "where is my order?");
    v1.expect_sent(served, "m-1");
    let mut v2 = Client::connect(&server, "v2", JSON);
    let waiting = v2.start_new();
    wait_system(&mut v2, waiting, SystemKind::Queued);

    let all = control.get("/v1/conversations");
    assert_eq!(conv_ids(&all), vec![served, waiting], "oldest first: {all}");
    let w = control.get("/v1/conversations?state=waiting");
    assert_eq!(conv_ids(&w), vec![waiting], "{w}");
    assert_eq!(w["conversations"][0]["visitor"], "v2");
    assert_eq!(w["conversations"][0]["state"], "waiting");
    assert_eq!(w["conversations"][0]["queue_position"], 1, "{w}");
    assert_eq!(w["conversations"][0]["agent"], Value::Null);
    let s = control.get("/v1/conversations?state=serving");
    assert_eq!(conv_ids(&s), vec![served], "{s}");
    let by_agent = control.get("/v1/conversations?agent=agent-a");
    assert_eq!(conv_ids(&by_agent), vec![served], "{by_agent}");
    assert_eq!(by_agent["conversations"][0]["agent"], "agent-a");
    assert_eq!(by_agent["conversations"][0]["last_seq"], 3);
    let nobody = control.get("/v1/conversations?agent=agent-zz");
    assert_eq!(conv_ids(&nobody), Vec::<u64>::new(), "{nobody}");
    let limited = control.get("/v1/conversations?limit=1");
    assert_eq!(conv_ids(&limited), vec![served], "{limited}");
    let none_old = control.get("/v1/conversations?min_age_ms=3600000");
    assert_eq!(conv_ids(&none_old), Vec::<u64>::new(), "{none_old}");

    let detail = control.get(&format!("/v1/conversations/{served}"));
    assert_eq!(detail["conversation"]["id"], served);
    assert_eq!(detail["conversation"]["state"], "serving");
    assert_eq!(detail["conversation"]["agent"], "agent-a");
    assert_eq!(detail["followers"], 2, "{detail}");
    let items = detail["items"].as_array().unwrap();
    let kinds: Vec<(&str, u64)> = items
        .iter()
        .map(|i| (i["kind"].as_str().unwrap(), i["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![("system", 1), ("system", 2), ("message", 3)],
        "{detail}"
    );
    assert_eq!(items[0]["event"], "created");
    assert_eq!(items[1]["event"], "assigned");
    assert_eq!(items[1]["agent"], "agent-a");
    assert_eq!(items[2]["from"], "v1");
    assert_eq!(items[2]["client_msg_id"], "m-1");
    assert_eq!(items[2]["body"], "where is my order?");
    let recent = control.get(&format!("/v1/conversations/{served}?recent=1"));
    assert_eq!(
        recent["items"].as_array().map(Vec::len),
        Some(1),
        "{recent}"
    );
    assert_eq!(recent["items"][0]["seq"], 3);

    // Errors: JSON bodies with stable codes, never 5xx.
    control.fails("GET", "/v1/conversations/987654321", None, 404, "not_found");
    control.fails("GET", "/v1/conversations/abc", None, 400, "invalid");
    control.fails(
        "GET",
        "/v1/conversations?state=sleeping",
        None,
        400,
        "invalid",
    );
    control.fails("GET", "/v1/conversations?limit=0", None, 400, "invalid");
    control.fails("GET", "/v1/conversations?limit=1001", None, 400, "invalid");
    control.fails("GET", "/v1/conversations?bogus=1", None, 400, "invalid");
    control.fails(
        "GET",
        &format!("/v1/conversations/{served}?recent=-1"),
        None,
        400,
        "invalid",
    );
}

#[test]
fn assigning_a_waiting_conversation_by_api_reaches_the_visitor_and_the_agent() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut bob = agent(&server, "agent:bob", JSON);
    // Capacity 0: the router must not give bob anything on its own.
    let view = control.ok("PATCH", "/v1/agents/bob", Some(&json!({"capacity": 0})));
    assert_eq!(view["capacity"], 0, "{view}");
    let mut v = Client::connect(&server, "alice", JSON);
    let conv = v.start_new();
    wait_system(&mut v, conv, SystemKind::Queued);
    let queued = control.get("/v1/conversations?state=waiting");
    assert_eq!(conv_ids(&queued), vec![conv], "{queued}");
    assert_eq!(control.get("/v1/stats")["queue_length"], 1);

    // Unknown agent, agent without a connection, unknown conversation.
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(r#"{"agent":"nobody"}"#),
        404,
        "not_found",
    );
    control.ok(
        "PATCH",
        "/v1/agents/ghost",
        Some(&json!({"status": "online"})),
    );
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(r#"{"agent":"ghost"}"#),
        409,
        "conflict",
    );
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(r#"{}"#),
        400,
        "invalid",
    );

    let summary = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(&json!({"agent": "bob"})),
    );
    assert_eq!(summary["state"], "serving", "{summary}");
    assert_eq!(summary["agent"], "bob", "{summary}");
    let assigned = wait_system(&mut v, conv, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("bob"));
    bob.expect_assignment(conv);
    // They talk.
    v.say(conv, "v-1", "hi bob");
    let (seq, _) = v.expect_sent(conv, "v-1");
    bob.expect_message(conv, seq, "alice", "v-1", "hi bob");

    // Assigning it again: it is not waiting any more.
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(r#"{"agent":"bob"}"#),
        409,
        "conflict",
    );
    let agents = control.get("/v1/agents");
    assert_eq!(agent_view(&agents, "bob")["conversations"], json!([conv]));
    assert_eq!(control.get("/v1/stats")["queue_length"], 0);
}

#[test]
fn assigning_an_unknown_conversation_is_404() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let _bob = agent(&server, "agent:bob", JSON);
    control.fails(
        "POST",
        "/v1/conversations/987654321/assign",
        Some(r#"{"agent":"bob"}"#),
        404,
        "not_found",
    );
}

#[test]
fn a_forced_transfer_by_api_moves_the_conversation_to_the_new_agent() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", BIN);
    control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"capacity": 0})));
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    // agent-b cannot take it with capacity 0.
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/transfer"),
        Some(r#"{"to":"agent-b"}"#),
        409,
        "conflict",
    );
    control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"capacity": 2})));

    let summary = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/transfer"),
        Some(&json!({"to": "agent-b", "force": true})),
    );
    assert_eq!(summary["agent"], "agent-b", "{summary}");
    assert_eq!(summary["state"], "serving", "{summary}");
    let moved = wait_system(&mut v, conv, SystemKind::Transferred);
    assert_eq!(moved.agent.as_deref(), Some("agent-b"));
    let moved_a = wait_system(&mut a, conv, SystemKind::Transferred);
    assert_eq!(moved_a.agent.as_deref(), Some("agent-b"));
    b.wait_for("the snapshot", |f| {
        matches!(f, OwnedServerFrame::Conversation { .. })
    });
    let snapshot = b.log.last().cloned().unwrap();
    assert!(
        matches!(&snapshot, OwnedServerFrame::Conversation { agent: Some(a), .. } if a == "agent-b"),
        "{snapshot:?}"
    );
    b.wait_for(
        "the replayed transferred",
        |f| matches!(SystemItem::from_frame(f), Some(i) if i.event == SystemKind::Transferred),
    );

    // The new agent gets the visitor's next message; the old one is out.
    v.say(conv, "v-after", "still there?");
    let (seq, _) = v.expect_sent(conv, "v-after");
    let frame = b.wait_for("the visitor's line", |f| {
        !matches!(f, OwnedServerFrame::TransferOffer { .. })
    });
    assert!(
        matches!(&frame, OwnedServerFrame::Message { seq: s, from, body, .. } if *s == seq && from == "vic" && body == "still there?"),
        "agent-b: expected the visitor's line seq {seq}, got {frame:?}"
    );
    b.say(conv, "b-1", "agent-b here");
    let frame = b.wait_for("sent", |f| {
        !matches!(f, OwnedServerFrame::TransferOffer { .. })
    });
    let OwnedServerFrame::Sent { seq: seq_b, .. } = frame else {
        panic!("agent-b: expected sent, got {frame:?}");
    };
    v.expect_message(conv, seq_b, "agent-b", "b-1", "agent-b here");
    // agent-a's next frame is the refusal of its own line: it got neither message.
    a.say(conv, "a-late", "me too");
    match a.next() {
        OwnedServerFrame::Error { .. } => {}
        other => panic!(
            "old agent: expected an error for a line in a conversation it no longer serves, got {other:?}; log:\n{}",
            a.dump()
        ),
    }

    // The agents' load moved too.
    let agents = control.get("/v1/agents");
    assert_eq!(
        agent_view(&agents, "agent-b")["conversations"],
        json!([conv]),
        "{agents}"
    );
    assert_eq!(
        agent_view(&agents, "agent-a")["conversations"],
        json!([]),
        "{agents}"
    );
    let listed = control.get("/v1/conversations?agent=agent-b");
    assert_eq!(conv_ids(&listed), vec![conv], "{listed}");

    control.fails(
        "POST",
        "/v1/conversations/987654321/transfer",
        Some(r#"{"to":"agent-a"}"#),
        404,
        "not_found",
    );
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/transfer"),
        Some(r#"{"to":"nobody"}"#),
        404,
        "not_found",
    );
}

#[test]
fn end_by_api_tells_both_sides_with_reason_admin() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);
    let summary = control.ok("POST", &format!("/v1/conversations/{conv}/end"), None);
    assert_eq!(summary["state"], "ended", "{summary}");
    for client in [&mut v, &mut a] {
        let ended = wait_system(client, conv, SystemKind::Ended);
        assert_eq!(ended.reason.as_deref(), Some("admin"), "{ended:?}");
        assert_eq!(ended.seq, 3, "{ended:?}");
    }
    assert_eq!(
        control.get(&format!("/v1/conversations/{conv}"))["conversation"]["state"],
        "ended"
    );
    // The agent's load is released.
    poll(&control, "/v1/agents", "releasing agent-a's load", |list| {
        agent_view(list, "agent-a")["conversations"] == json!([])
    });
    // Ending it again, or one that does not exist.
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/end"),
        Some("{}"),
        409,
        "conflict",
    );
    control.fails(
        "POST",
        "/v1/conversations/987654321/end",
        None,
        404,
        "not_found",
    );
    control.fails(
        "POST",
        &format!("/v1/conversations/{conv}/end"),
        Some(r#"{"why":"x"}"#),
        400,
        "invalid",
    );
}

#[test]
fn system_and_bot_messages_share_the_ordered_channel_and_dedupe() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);
    let path = format!("/v1/conversations/{conv}/messages");

    let posted = control.ok(
        "POST",
        &path,
        Some(&json!({"from": "system", "body": "Your order shipped.", "client_msg_id": "sys-1"})),
    );
    assert_eq!(
        (posted["conv"].as_u64(), posted["seq"].as_u64()),
        (Some(conv), Some(3)),
        "{posted}"
    );
    assert_eq!(posted["duplicate"], false);
    assert_eq!(posted["client_msg_id"], "sys-1");
    v.expect_message(conv, 3, "system", "sys-1", "Your order shipped.");
    a.expect_message(conv, 3, "system", "sys-1", "Your order shipped.");

    let bot = control.ok(
        "POST",
        &path,
        Some(&json!({"from": {"bot": "helper"}, "body": "Anything else?"})),
    );
    assert_eq!(bot["seq"], 4, "{bot}");
    let bot_id = bot["client_msg_id"]
        .as_str()
        .expect("an id made up")
        .to_owned();
    v.expect_message(conv, 4, "bot:helper", &bot_id, "Anything else?");
    a.expect_message(conv, 4, "bot:helper", &bot_id, "Anything else?");

    // A retry with the same id: the same seq, not delivered again.
    let again = control.ok(
        "POST",
        &path,
        Some(&json!({"from": "system", "body": "Your order shipped.", "client_msg_id": "sys-1"})),
    );
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["seq"], 3, "{again}");
    assert_eq!(again["ts"], posted["ts"], "{again}");
    v.say(conv, "v-1", "thanks");
    assert_eq!(v.expect_sent(conv, "v-1").0, 5, "{}", v.dump());
    a.expect_message(conv, 5, "vic", "v-1", "thanks");

    // Bad input.
    for body in [
        r#"{"from":"nobody","body":"x"}"#,
        r#"{"from":"system","body":""}"#,
        r#"{"from":{"bot":""},"body":"x"}"#,
        r#"{"from":"system"}"#,
        r#"{"from":"system","body":"x","extra":1}"#,
        r#"{"from":"system","body":"x","client_msg_id":""}"#,
        r#"not json"#,
    ] {
        control.fails("POST", &path, Some(body), 400, "invalid");
    }
    control.fails(
        "POST",
        "/v1/conversations/987654321/messages",
        Some(r#"{"from":"system","body":"x"}"#),
        404,
        "not_found",
    );
    // Into an ended conversation: refused by its state.
    control.ok("POST", &format!("/v1/conversations/{conv}/end"), None);
    control.fails(
        "POST",
        &path,
        Some(r#"{"from":"system","body":"late"}"#),
        409,
        "conflict",
    );
}

#[test]
fn an_event_reaches_every_connection_of_the_user_and_nobody_else() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut tab1 = Client::connect(&server, "alice", JSON);
    let mut tab2 = Client::connect(&server, "alice", BIN);
    let mut other = Client::connect(&server, "carol", JSON);
    control.wait_connections("alice", 2);
    let data = json!({"order": "A-17", "items": [{"sku": "TS-042", "qty": 2}], "note": "é ✓"});
    let pushed = control.ok(
        "POST",
        "/v1/users/alice/events",
        Some(&json!({"name": "order_shipped", "data": data})),
    );
    assert_eq!(pushed, json!({"user": "alice", "connections": 2}));
    for tab in [&mut tab1, &mut tab2] {
        match tab.wait_for("order_shipped", |f| !is_probe(f)) {
            OwnedServerFrame::Event { name, data: text } => {
                assert_eq!(name, "order_shipped");
                let got: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {text}"));
                assert_eq!(got, data, "{}", tab.name);
            }
            other => panic!("{}: expected the event, got {other:?}", tab.name),
        }
    }
    // carol's first frame is her own event: alice's never reached her.
    let pushed = control.ok(
        "POST",
        "/v1/users/carol/events",
        Some(&json!({"name": "ping", "data": null})),
    );
    assert_eq!(pushed["connections"], 1);
    match other.next() {
        OwnedServerFrame::Event { name, data } => {
            assert_eq!((name.as_str(), data.as_str()), ("ping", "null"))
        }
        other => panic!("carol: expected her own event, got {other:?}"),
    }
    // Nobody connected: reached 0 connections.
    let nobody = control.ok(
        "POST",
        "/v1/users/nobody/events",
        Some(&json!({"name": "x", "data": 1})),
    );
    assert_eq!(nobody["connections"], 0, "{nobody}");
    for body in [
        r#"{"data":1}"#,
        r#"{"name":"","data":1}"#,
        r#"{"name":"has space","data":1}"#,
        r#"{"name":"x","data":1,"extra":true}"#,
    ] {
        control.fails("POST", "/v1/users/alice/events", Some(body), 400, "invalid");
    }
    let big = format!(r#"{{"name":"x","data":"{}"}}"#, "a".repeat(40_000));
    let response = control.request("POST", "/v1/users/alice/events", Some(&big));
    assert!(
        response.status == 400 || response.status == 413,
        "a 40 kB event: {} {}",
        response.status,
        response.body_text()
    );
}

#[test]
fn agents_are_patched_and_listed_with_their_load() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut bob = agent(&server, "agent:bob", JSON);
    let _bob2 = Client::connect(&server, "agent:bob", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut bob);

    let view = control.ok(
        "PATCH",
        "/v1/agents/bob",
        Some(&json!({"status": "away", "capacity": 3, "weight": 7, "groups": ["billing", "vip"]})),
    );
    assert_eq!(view["user"], "bob");
    assert_eq!(view["status"], "away");
    assert_eq!(view["capacity"], 3);
    assert_eq!(view["weight"], 7);
    assert_eq!(view["groups"], json!(["billing", "vip"]));
    assert_eq!(view["conversations"], json!([conv]));
    assert_eq!(control.get("/v1/agents/bob"), view);
    let list = control.get("/v1/agents");
    let listed = agent_view(&list, "bob");
    assert_eq!(listed["connections"], 2, "{list}");
    assert_eq!(listed["conversations"], json!([conv]));
    assert_eq!(listed["grace_left_ms"], Value::Null);

    // Away: a new visitor waits; back online, it is assigned to bob.
    let mut w = Client::connect(&server, "wendy", JSON);
    let waiting = w.start_new();
    wait_system(&mut w, waiting, SystemKind::Queued);
    control.ok(
        "PATCH",
        "/v1/agents/bob",
        Some(&json!({"status": "online"})),
    );
    let assigned = wait_system(&mut w, waiting, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("bob"));
    let view = control.get("/v1/agents/bob");
    assert_eq!(view["conversations"], json!([conv, waiting]), "{view}");
    // Partial patches keep the other fields.
    let view = control.ok("PATCH", "/v1/agents/bob", Some(&json!({"groups": []})));
    assert_eq!(
        (&view["capacity"], &view["weight"], &view["groups"]),
        (&json!(3), &json!(7), &json!([])),
        "{view}"
    );

    for body in [
        "{}",
        r#"{"capacity":1001}"#,
        r#"{"capacity":-1}"#,
        r#"{"weight":"10"}"#,
        r#"{"status":"busy"}"#,
        r#"{"groups":["a","a"]}"#,
        r#"{"groups":[""]}"#,
        r#"{"nickname":"b"}"#,
    ] {
        control.fails("PATCH", "/v1/agents/bob", Some(body), 400, "invalid");
    }
    control.fails("GET", "/v1/agents/nobody", None, 404, "not_found");
}

#[test]
fn a_weight_of_10_wins_the_next_visitor() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    // Equal weights: ties go by name, agent-a first.
    let mut v1 = Client::connect(&server, "v1", JSON);
    start_served_by(&mut v1, &mut a);
    let mut v2 = Client::connect(&server, "v2", JSON);
    start_served_by(&mut v2, &mut b);
    // Both at 1 conversation; weight 10 makes agent-b the choice twice in a row.
    let view = control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"weight": 10})));
    assert_eq!(view["weight"], 10);
    let mut v3 = Client::connect(&server, "v3", JSON);
    start_served_by(&mut v3, &mut b);
    let mut v4 = Client::connect(&server, "v4", JSON);
    start_served_by(&mut v4, &mut b);
    // Back to weight 1: agent-a has more spare capacity again.
    control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"weight": 1})));
    let mut v5 = Client::connect(&server, "v5", JSON);
    start_served_by(&mut v5, &mut a);
}

#[test]
fn kick_closes_one_connection_or_every_connection_of_a_user_with_the_reason() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut tab1 = Client::connect(&server, "alice", JSON);
    let mut tab2 = Client::connect(&server, "alice", JSON);
    let kicked = control.ok(
        "DELETE",
        &format!("/v1/connections/{}?reason=policy-test", tab1.conn),
        None,
    );
    assert_eq!(kicked["closed"], 1, "{kicked}");
    let (code, reason) = expect_close(&mut tab1, IO_TIMEOUT);
    assert_eq!((code, reason.as_str()), (KICK_CLOSE_CODE, "policy-test"));
    control.wait_connections("alice", 1);
    // The other tab is untouched.
    control.ok(
        "POST",
        "/v1/users/alice/events",
        Some(&json!({"name": "still", "data": 1})),
    );
    tab2.wait_for(
        "the event still",
        |f| matches!(f, OwnedServerFrame::Event { name, .. } if name == "still"),
    );
    // The same connection again: gone.
    control.fails(
        "DELETE",
        &format!("/v1/connections/{}", tab1.conn),
        None,
        404,
        "not_found",
    );
    control.fails(
        "DELETE",
        "/v1/connections/123456789",
        None,
        404,
        "not_found",
    );
    control.fails("DELETE", "/v1/connections/x", None, 400, "invalid");
    control.fails(
        "DELETE",
        &format!("/v1/connections/{}?reason=a", tab2.conn),
        Some(r#"{"reason":"b"}"#),
        400,
        "invalid",
    );
    let long = "r".repeat(124);
    control.fails(
        "DELETE",
        &format!("/v1/connections/{}?reason={long}", tab2.conn),
        None,
        400,
        "invalid",
    );

    // Every connection of a user, reason in the body.
    let mut tab3 = Client::connect(&server, "alice", BIN);
    let mut bystander = Client::connect(&server, "carol", JSON);
    control.wait_connections("alice", 2);
    let kicked = control.ok(
        "DELETE",
        "/v1/users/alice/connections",
        Some(&json!({"reason": "account closed"})),
    );
    assert_eq!(kicked["closed"], 2, "{kicked}");
    for tab in [&mut tab2, &mut tab3] {
        let (code, reason) = expect_close(tab, IO_TIMEOUT);
        assert_eq!(
            (code, reason.as_str()),
            (KICK_CLOSE_CODE, "account closed"),
            "{}",
            tab.name
        );
    }
    control.wait_connections("alice", 0);
    let nobody = control.ok("DELETE", "/v1/users/alice/connections", None);
    assert_eq!(nobody["closed"], 0, "{nobody}");
    control.ok(
        "POST",
        "/v1/users/carol/events",
        Some(&json!({"name": "ok", "data": true})),
    );
    assert!(
        matches!(bystander.next(), OwnedServerFrame::Event { name, .. } if name == "ok"),
        "{}",
        bystander.dump()
    );
}

#[test]
fn drain_stops_readiness_closes_clients_with_1012_and_refuses_new_ones() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut clients: Vec<Client> = (0..4)
        .map(|i| Client::connect(&server, &format!("d{i}"), JSON))
        .collect();
    let status = control.get("/v1/drain");
    assert_eq!(status["draining"], false, "{status}");
    assert_eq!(status["started_at_ms"], Value::Null, "{status}");

    let started = control.ok("POST", "/v1/drain", None);
    assert_eq!(started["draining"], true, "{started}");
    assert!(
        started["started_at_ms"].as_u64().unwrap_or(0) > 0,
        "{started}"
    );
    let readyz = control.request("GET", "/readyz", None);
    assert_eq!(
        readyz.status,
        503,
        "readyz while draining: {}",
        readyz.body_text()
    );
    assert_eq!(control.get("/livez")["status"], "live");
    for client in &mut clients {
        let (code, _) = expect_close(client, IO_TIMEOUT);
        assert_eq!(code, 1012, "{}", client.name);
    }
    let done = poll(&control, "/v1/drain", "done", |d| {
        d["connections_left"] == 0 && d["done"] == true
    });
    assert!(done["elapsed_ms"].is_u64(), "{done}");
    assert!(
        !upgrade_accepted(server.addr()),
        "a new connection was upgraded while draining"
    );
    // Draining twice is harmless and keeps the first start time.
    let again = control.ok("POST", "/v1/drain", Some(&json!({})));
    assert_eq!(again["started_at_ms"], started["started_at_ms"], "{again}");
    assert_eq!(control.get("/v1/stats")["draining"], true);
    control.fails("POST", "/v1/drain", Some(r#"{"now":true}"#), 400, "invalid");
}

#[test]
fn degradation_is_read_pinned_and_returned_to_automatic() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let view = control.get("/v1/degradation");
    assert_eq!(
        (&view["level"], &view["pinned"]),
        (&json!(0), &json!(false)),
        "{view}"
    );
    let mut c = Client::connect(&server, "alice", JSON);
    for level in [2, 1, 3, 0] {
        let view = control.ok("PUT", "/v1/degradation", Some(&json!({"level": level})));
        assert_eq!(view["level"], level, "{view}");
        assert_eq!(view["pinned"], true, "{view}");
        assert!(view["cause"].is_string(), "{view}");
        assert_eq!(control.get("/v1/degradation"), view);
        // Every change reaches the chat client as a pressure event.
        let event = c.next();
        match &event {
            OwnedServerFrame::Event { name, data } if name == "pressure" => {
                let data: Value = serde_json::from_str(data).unwrap();
                assert_eq!(data, json!({"level": level}), "{event:?}");
            }
            other => panic!("expected a pressure event for level {level}, got {other:?}"),
        }
    }
    let view = control.ok("PUT", "/v1/degradation", Some(&json!({"level": null})));
    assert_eq!(view["pinned"], false, "{view}");
    poll(&control, "/v1/degradation", "automatic at 0", |v| {
        v["level"] == 0 && v["pinned"] == false
    });
    for body in [
        r#"{"level":4}"#,
        r#"{"level":-1}"#,
        r#"{"level":"2"}"#,
        r#"{}"#,
        r#"{"level":1,"x":0}"#,
        r#"[1]"#,
    ] {
        control.fails("PUT", "/v1/degradation", Some(body), 400, "invalid");
    }
}

#[test]
fn a_conversation_offered_to_an_agent_is_listed_under_that_agent() {
    // openapi.yaml: the `agent` filter is "Served by (or offered to) this agent".
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"capacity": 0})));
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    control.ok("PATCH", "/v1/agents/agent-b", Some(&json!({"capacity": 1})));
    a.transfer(conv, "agent-b");
    b.wait_for(
        "the offer",
        |f| matches!(f, OwnedServerFrame::TransferOffer { conv: c, .. } if *c == conv),
    );
    let detail = poll(
        &control,
        &format!("/v1/conversations/{conv}"),
        "transferring",
        |d| d["conversation"]["state"] == "transferring",
    );
    assert_eq!(detail["conversation"]["agent"], "agent-a", "{detail}");
    assert_eq!(detail["conversation"]["transfer_to"], "agent-b", "{detail}");
    let by_origin = control.get("/v1/conversations?agent=agent-a");
    assert_eq!(conv_ids(&by_origin), vec![conv], "{by_origin}");
    let by_target = control.get("/v1/conversations?agent=agent-b");
    assert_eq!(
        conv_ids(&by_target),
        vec![conv],
        "GET /v1/conversations?agent=agent-b must list the conversation offered to agent-b: {by_target}"
    );
}

#[test]
fn waiting_conversations_take_system_messages_but_cannot_be_transferred() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = v.start_new();
    wait_system(&mut v, conv, SystemKind::Queued);
    let posted = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/messages"),
        Some(&json!({"from": "system", "body": "An agent will be with you shortly."})),
    );
    let seq = posted["seq"].as_u64().expect("seq");
    let id = posted["client_msg_id"].as_str().expect("id").to_owned();
    v.expect_message(
        conv,
        seq,
        "system",
        &id,
        "An agent will be with you shortly.",
    );
    // bob connects: the queue goes to bob at once; with capacity 0 a new one waits.
    let mut bob = Client::connect(&server, "agent:bob", JSON);
    bob.wait_for(
        "vic's conversation",
        |f| matches!(f, OwnedServerFrame::Conversation { conv: c, .. } if *c == conv),
    );
    control.ok("PATCH", "/v1/agents/bob", Some(&json!({"capacity": 0})));
    let mut w = Client::connect(&server, "wendy", JSON);
    let waiting = w.start_new();
    wait_system(&mut w, waiting, SystemKind::Queued);
    control.fails(
        "POST",
        &format!("/v1/conversations/{waiting}/transfer"),
        Some(r#"{"to":"bob"}"#),
        409,
        "conflict",
    );
    // Event names over 64 bytes are refused.
    let name = "n".repeat(65);
    control.fails(
        "POST",
        "/v1/users/vic/events",
        Some(&json!({"name": name, "data": 1}).to_string()),
        400,
        "invalid",
    );
}
