//! Issue 6, item 4 over the wire: pressure self-sensing and degradation levels.
//!
//! - L1 drops ephemeral events (typing, read receipts) while messages still flow;
//! - L2 also pauses new assignments (a new visitor gets `error busy` and waits in the
//!   queue while served conversations keep flowing; un-pinning resumes assignment),
//!   cuts slow consumers at a quarter of `--max-outbound-bytes`, and limits each
//!   connection's lines per second (`error rate_limited`; visitors and agents each by
//!   their own flag);
//! - L3 also refuses new connections while existing ones keep working;
//! - every change reaches every chat connection as `event pressure {"level":N}`;
//! - the automatic level rises when connections pass a tiny budget and falls back one
//!   level at a time after they close (hysteresis).
//!
//! Levels are pinned with `PUT /v1/degradation`. Servers that must stay at level 0 on
//! their own get a huge event-loop-lag budget (a loaded machine must not raise it).

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_protocol::chat::{ClientFrame, Encoding, OwnedServerFrame, SystemKind};
use switchboard_protocol::ws::DataKind;
use switchboard_tests::chat_client::{agent, start_served_by, Client, SystemItem};
use switchboard_tests::control_client::Control;
use switchboard_tests::{
    tcp_connect_small_rcvbuf, upgrade_accepted, wait_for, Deadline, RawWs, Server, IO_TIMEOUT,
};

const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;

fn serve(extra: &[&str]) -> Server {
    let mut args = vec![
        "--shards",
        "2",
        "--close-timeout-ms",
        "1000",
        "--typing-interval-ms",
        "1",
        "--budget-loop-lag-ms",
        "600000",
        // The engine's own shedding at accept; the kernel's (eBPF, token bucket) is
        // covered by `level_3_sheds_in_the_kernel_with_ebpf` below and ebpf/tests.
        "--ebpf",
        "off",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn pin(control: &Control, level: Option<u8>) -> Value {
    let view = control.ok("PUT", "/v1/degradation", Some(&json!({ "level": level })));
    assert_eq!(view["pinned"], level.is_some(), "{view}");
    if let Some(level) = level {
        assert_eq!(view["level"], level, "{view}");
    }
    view
}

fn pressure_level(frame: &OwnedServerFrame) -> Option<u64> {
    match frame {
        OwnedServerFrame::Event { name, data } if name == "pressure" => {
            let data: Value = serde_json::from_str(data)
                .unwrap_or_else(|e| panic!("pressure data is not JSON ({e}): {data}"));
            Some(
                data["level"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("pressure without a level: {data}")),
            )
        }
        _ => None,
    }
}

/// The client's very next frame must be `event pressure {"level": level}`.
fn expect_pressure(client: &mut Client, level: u64) {
    let frame = client.next();
    match &frame {
        OwnedServerFrame::Event { data, .. } if pressure_level(&frame) == Some(level) => {
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data, json!({ "level": level }), "{}", client.name);
        }
        other => panic!(
            "{}: expected pressure level {level}, got {other:?}; log:\n{}",
            client.name,
            client.dump()
        ),
    }
}

fn wait_system(client: &mut Client, conv: u64, event: SystemKind) -> SystemItem {
    let frame = client.wait_for(&format!("system {event} of conv {conv}"), |f| {
        matches!(SystemItem::from_frame(f), Some(item) if item.conv == conv && item.event == event)
    });
    SystemItem::from_frame(&frame).expect("a system frame")
}

/// A visitor's `start` at level 2: it must get both its snapshot (waiting) and the
/// `busy` notice, in either order (they come from different shards). Returns the
/// conversation.
fn start_busy(visitor: &mut Client) -> u64 {
    visitor.start();
    let mut conv = None;
    let mut busy = false;
    while conv.is_none() || !busy {
        match visitor.next() {
            OwnedServerFrame::Conversation { conv: c, state, .. } => {
                assert_eq!(
                    state,
                    switchboard_protocol::chat::ConversationState::Waiting,
                    "{}",
                    visitor.dump()
                );
                conv = Some(c);
            }
            OwnedServerFrame::Error { code, .. } if code == "busy" => busy = true,
            OwnedServerFrame::System { .. } | OwnedServerFrame::Event { .. } => {}
            other => panic!(
                "{}: unexpected {other:?}; log:\n{}",
                visitor.name,
                visitor.dump()
            ),
        }
    }
    conv.unwrap()
}

fn typing(client: &mut Client, conv: u64) {
    client.send(&ClientFrame::Typing { conv });
}

fn read_receipt(client: &mut Client, conv: u64, seq: u64) {
    client.send(&ClientFrame::Read { conv, seq });
}

#[test]
fn level_1_drops_typing_and_read_receipts_while_messages_flow() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);

    // Level 0: both ephemeral events are relayed.
    typing(&mut v, conv);
    assert!(
        matches!(a.next(), OwnedServerFrame::Typing { conv: c, ref from } if c == conv && from == "vic"),
        "{}",
        a.dump()
    );
    read_receipt(&mut v, conv, 2);
    assert!(
        matches!(a.next(), OwnedServerFrame::Read { conv: c, seq: 2, .. } if c == conv),
        "{}",
        a.dump()
    );

    pin(&control, Some(1));
    expect_pressure(&mut a, 1);
    expect_pressure(&mut v, 1);
    // Typing and read before a message on the same connection: the message is the
    // agent's very next frame, so the two were dropped, not delayed.
    for i in 0..3 {
        typing(&mut v, conv);
        read_receipt(&mut v, conv, 2);
        let id = format!("v-{i}");
        v.say(conv, &id, "a message at level 1");
        let (seq, _) = v.expect_sent(conv, &id);
        a.expect_message(conv, seq, "vic", &id, "a message at level 1");
    }
    typing(&mut a, conv);
    read_receipt(&mut a, conv, 3);
    a.say(conv, "a-1", "agent line at level 1");
    let (seq, _) = a.expect_sent(conv, "a-1");
    v.expect_message(conv, seq, "agent-a", "a-1", "agent line at level 1");

    // Back to automatic (level 0): typing is relayed again.
    pin(&control, None);
    expect_pressure(&mut a, 0);
    expect_pressure(&mut v, 0);
    typing(&mut v, conv);
    assert!(
        matches!(a.next(), OwnedServerFrame::Typing { conv: c, .. } if c == conv),
        "{}",
        a.dump()
    );
}

#[test]
fn level_2_makes_new_visitors_wait_busy_while_served_conversations_flow() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v1 = Client::connect(&server, "v1", JSON);
    let served = start_served_by(&mut v1, &mut a);

    pin(&control, Some(2));
    expect_pressure(&mut a, 2);
    expect_pressure(&mut v1, 2);

    // A new visitor: created, a busy notice, and it stays waiting although agent-a has
    // spare capacity.
    let mut v2 = Client::connect(&server, "v2", BIN);
    let waiting = start_busy(&mut v2);
    let list = control.get("/v1/conversations?state=waiting");
    assert_eq!(list["conversations"][0]["visitor"], "v2", "{list}");
    let detail = control.get(&format!("/v1/conversations/{waiting}"));
    assert_eq!(detail["conversation"]["state"], "waiting", "{detail}");
    assert_eq!(control.get("/v1/stats")["queue_length"], 1);

    // The served conversation keeps flowing both ways; agent-a's next frames are these
    // lines, not an assignment of v2.
    for i in 0..3 {
        let id = format!("v1-{i}");
        v1.say(served, &id, "still served at level 2");
        let (seq, _) = v1.expect_sent(served, &id);
        a.expect_message(served, seq, "v1", &id, "still served at level 2");
        let id = format!("a-{i}");
        a.say(served, &id, "yes");
        let (seq, _) = a.expect_sent(served, &id);
        v1.expect_message(served, seq, "agent-a", &id, "yes");
    }
    let agents = control.get("/v1/agents");
    assert_eq!(
        agents["agents"][0]["conversations"],
        json!([served]),
        "{agents}"
    );
    assert_eq!(
        control.get(&format!("/v1/conversations/{waiting}"))["conversation"]["state"],
        "waiting"
    );

    // Un-pinning returns to automatic (0) and resumes assignment: v2 goes to agent-a.
    pin(&control, None);
    let assigned = wait_system(&mut v2, waiting, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-a"));
    a.wait_for(
        "v2's assignment",
        |f| matches!(f, OwnedServerFrame::Conversation { conv, .. } if *conv == waiting),
    );
    v2.say(waiting, "v2-1", "finally");
    let frame = v2.wait_for("sent", |f| matches!(f, OwnedServerFrame::Sent { .. }));
    let OwnedServerFrame::Sent { seq, .. } = frame else {
        unreachable!()
    };
    a.wait_for("v2's line", |f| {
        matches!(f, OwnedServerFrame::Message { conv, seq: s, .. } if *conv == waiting && *s == seq)
    });
}

/// Sends `count` lines at once and returns how many got `sent` and how many
/// `error rate_limited` (every line gets exactly one of the two).
fn burst(client: &mut Client, conv: u64, prefix: &str, count: usize) -> (usize, usize) {
    for i in 0..count {
        client.say(conv, &format!("{prefix}-{i}"), "a line in a burst");
    }
    let (mut sent, mut limited) = (0, 0);
    while sent + limited < count {
        match client.next() {
            OwnedServerFrame::Sent { .. } => sent += 1,
            OwnedServerFrame::Error { code, .. } if code == "rate_limited" => limited += 1,
            OwnedServerFrame::Error { code, message } => panic!("{code}: {message}"),
            _ => {}
        }
    }
    (sent, limited)
}

#[test]
fn level_2_limits_each_visitor_s_lines_and_agents_by_their_own_flag() {
    let server = serve(&[
        "--degrade-visitor-lines-per-s",
        "5",
        "--degrade-agent-lines-per-s",
        "0",
    ]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v1 = Client::connect(&server, "v1", JSON);
    let conv = start_served_by(&mut v1, &mut a);
    // Level 0: no limit.
    assert_eq!(burst(&mut v1, conv, "calm", 30), (30, 0));
    pin(&control, Some(2));
    expect_pressure(&mut v1, 2);
    a.wait_for("pressure 2", |f| pressure_level(f) == Some(2));
    // Level 2: at most 5 per second (a burst may straddle two seconds: 10).
    let (sent, limited) = burst(&mut v1, conv, "flood", 30);
    assert!((5..=10).contains(&sent), "{sent} sent, {limited} limited");
    assert_eq!(sent + limited, 30);
    // Agents have their own limit (off here).
    assert_eq!(burst(&mut a, conv, "agent", 30), (30, 0));
    // A refused line sent again later with the same id is accepted once.
    std::thread::sleep(Duration::from_millis(1100));
    v1.say(conv, "flood-29", "a line in a burst");
    v1.wait_for("the retried line", |f| {
        matches!(f, OwnedServerFrame::Sent { client_msg_id, .. } if client_msg_id == "flood-29")
    });
    pin(&control, None);
    v1.wait_for("pressure 0", |f| pressure_level(f) == Some(0));
    assert_eq!(burst(&mut v1, conv, "after", 30), (30, 0));
}

#[test]
fn an_admin_assignment_still_works_at_level_2() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut bob = agent(&server, "agent:bob", JSON);
    pin(&control, Some(2));
    expect_pressure(&mut bob, 2);
    let mut v = Client::connect(&server, "alice", JSON);
    let conv = start_busy(&mut v);
    let summary = control.ok(
        "POST",
        &format!("/v1/conversations/{conv}/assign"),
        Some(&json!({"agent": "bob"})),
    );
    assert_eq!(summary["agent"], "bob", "{summary}");
    let assigned = wait_system(&mut v, conv, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("bob"));
    bob.wait_for(
        "the assignment",
        |f| matches!(f, OwnedServerFrame::Conversation { conv: c, .. } if *c == conv),
    );
}

/// Opens a raw chat connection whose socket buffer is tiny and which reads nothing.
fn slow_reader(server: &Server, user: &str) -> (RawWs, u64) {
    let stream = tcp_connect_small_rcvbuf(server.addr(), 4096);
    let (mut ws, _) =
        RawWs::connect_stream(stream, server.addr(), &format!("/v1/ws?token={user}"), &[]);
    let (kind, welcome) = ws.expect_message(IO_TIMEOUT);
    assert_eq!(kind, DataKind::Text);
    let welcome: Value = serde_json::from_slice(&welcome).unwrap();
    (ws, welcome["conn"].as_u64().expect("conn"))
}

fn slow_consumers_cut(control: &Control) -> u64 {
    let metrics = control.request("GET", "/metrics", None).body_text();
    metrics
        .lines()
        .filter(|l| l.starts_with("switchboard_slow_consumers_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn level_2_cuts_a_slow_consumer_at_a_quarter_of_the_outbound_limit() {
    // The kernel's socket buffers absorb a few MB before the engine's own queue grows,
    // so the proof is the close reason, which names the limit in force: 1 MiB / 4.
    let server = serve(&["--max-outbound-bytes", "1048576"]);
    let control = Control::of(&server);
    // Watchers on every shard show when the level has been applied everywhere.
    let mut watchers: Vec<Client> = Vec::new();
    for i in 0..16 {
        watchers.push(Client::connect(&server, &format!("watch{i}"), JSON));
        let shards: std::collections::BTreeSet<u16> = watchers.iter().map(|c| c.shard).collect();
        if shards.len() == usize::from(server.shards()) {
            break;
        }
    }
    pin(&control, Some(2));
    for watcher in &mut watchers {
        expect_pressure(watcher, 2);
    }
    let (mut slow, _) = slow_reader(&server, "slowpoke");
    control.wait_connections("slowpoke", 1);
    // Up to 12 MB in 30 kB events, until the engine cuts it.
    let body = json!({"name": "bulk", "data": "x".repeat(30_000)});
    for i in 0..400 {
        control.ok("POST", "/v1/users/slowpoke/events", Some(&body));
        if i % 20 == 19 && slow_consumers_cut(&control) > 0 {
            break;
        }
    }
    assert_eq!(
        slow_consumers_cut(&control),
        1,
        "the slow reader was not cut"
    );
    let close = slow.expect_close(Duration::from_secs(30));
    let (code, reason) = close.expect("a close code");
    assert_eq!(code, 1013, "{reason}");
    assert!(
        reason.contains("262144"),
        "the cut did not use a quarter of 1048576: {reason:?}"
    );
    // The watchers (fast readers) were not cut.
    for watcher in &mut watchers {
        watcher.send(&ClientFrame::Start);
        watcher.wait_for("its snapshot", |f| {
            matches!(f, OwnedServerFrame::Conversation { .. })
        });
    }
}

#[test]
fn level_3_refuses_new_connections_while_existing_ones_keep_working() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);
    let rejects_before = control.get("/v1/stats")["totals"]["rejects"]
        .as_u64()
        .unwrap();

    pin(&control, Some(3));
    expect_pressure(&mut a, 3);
    expect_pressure(&mut v, 3);
    for _ in 0..3 {
        assert!(
            !upgrade_accepted(server.addr()),
            "a new connection was upgraded at level 3"
        );
    }
    let stats = control.get("/v1/stats");
    assert!(
        stats["totals"]["rejects"].as_u64().unwrap() >= rejects_before + 3,
        "rejects not counted: {stats}"
    );
    // The conversation already served keeps working.
    for i in 0..3 {
        let id = format!("v-{i}");
        v.say(conv, &id, "at level 3");
        let (seq, _) = v.expect_sent(conv, &id);
        a.expect_message(conv, seq, "vic", &id, "at level 3");
    }
    // Down to 1: new connections are taken again.
    pin(&control, Some(1));
    expect_pressure(&mut a, 1);
    expect_pressure(&mut v, 1);
    assert!(
        upgrade_accepted(server.addr()),
        "a new connection was refused at level 1"
    );
    pin(&control, None);
}

#[test]
fn every_level_change_reaches_every_chat_connection() {
    let server = serve(&[]);
    let control = Control::of(&server);
    let mut clients = vec![
        Client::connect(&server, "p1", JSON),
        Client::connect(&server, "p2", BIN),
        Client::connect(&server, "p3", JSON),
        Client::connect(&server, "p4", BIN),
        Client::connect(&server, "agent:agent-p", JSON),
    ];
    for level in [1u8, 3, 2, 0, 3] {
        pin(&control, Some(level));
        for client in &mut clients {
            expect_pressure(client, u64::from(level));
        }
    }
    // Back to automatic: the node is idle, so the level returns to 0 — announced too.
    pin(&control, None);
    for client in &mut clients {
        expect_pressure(client, 0);
    }
    let view = control.get("/v1/degradation");
    assert_eq!(
        (&view["level"], &view["pinned"]),
        (&json!(0), &json!(false))
    );
}

#[test]
fn the_level_rises_with_connections_past_the_budget_and_falls_back_one_step_at_a_time() {
    // Budget 10 connections: 6 → L1 (60 %), 8 → L2 (80 %), 10 → L3 (100 % ≥ 95 %).
    let server = serve(&["--budget-connections", "10"]);
    let control = Control::of(&server);
    let mut observer = Client::connect(&server, "observer", JSON);
    let mut others: Vec<Client> = (0..9)
        .map(|i| Client::connect(&server, &format!("crowd{i}"), JSON))
        .collect();
    let view = wait_for(Duration::from_secs(20), || {
        let view = control.get("/v1/degradation");
        (view["level"] == 3).then_some(view)
    })
    .unwrap_or_else(|| {
        panic!(
            "10 connections of a budget of 10 never reached level 3: {}",
            control.get("/v1/degradation")
        )
    });
    assert_eq!(view["pinned"], false, "{view}");
    let cause = view["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("connections"), "cause: {view}");
    observer.wait_for("pressure 3", |f| pressure_level(f) == Some(3));
    // Shedding at level 3.
    assert!(
        !upgrade_accepted(server.addr()),
        "a connection past the budget was upgraded at level 3"
    );
    let metrics = control.request("GET", "/metrics", None).body_text();
    assert!(
        metrics.contains("switchboard_degradation_level 3"),
        "metrics do not show the level:\n{metrics}"
    );

    // Everyone but the observer leaves: the level comes down one step at a time, each
    // after a calm spell, and the observer is told every step.
    for client in others.drain(..) {
        drop(client);
    }
    let mut steps = Vec::new();
    let deadline = Deadline::after(Duration::from_secs(60));
    while steps.last() != Some(&0) {
        assert!(
            !deadline.passed(),
            "the level did not return to 0: steps {steps:?}, {}",
            control.get("/v1/degradation")
        );
        if let Some(frame) = observer.try_next(deadline.left()) {
            if let Some(level) = pressure_level(&frame) {
                steps.push(level);
            }
        }
    }
    assert_eq!(steps, vec![2, 1, 0], "not one level at a time");
    let view = control.get("/v1/degradation");
    assert_eq!(
        (&view["level"], &view["pinned"]),
        (&json!(0), &json!(false))
    );
    assert!(
        upgrade_accepted(server.addr()),
        "new connections are still refused at level 0"
    );
}

#[test]
fn level_3_sheds_in_the_kernel_with_ebpf() {
    // An empty token bucket: at level 3 the steering program drops every new
    // connection before a socket exists; the served conversation keeps working.
    let server = Server::start(&[
        "--shards",
        "2",
        "--budget-loop-lag-ms",
        "600000",
        "--ebpf",
        "required",
        "--shed-rate",
        "0",
        "--shed-burst",
        "0",
    ]);
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", BIN);
    let conv = start_served_by(&mut v, &mut a);
    pin(&control, Some(3));
    expect_pressure(&mut a, 3);
    // The steering thread writes the level into the map within 100 ms.
    let shed = wait_for(Duration::from_secs(10), || {
        (!upgrade_accepted(server.addr())).then_some(())
    });
    assert!(
        shed.is_some(),
        "new connections were still upgraded at level 3 with eBPF"
    );
    for _ in 0..3 {
        assert!(
            !upgrade_accepted(server.addr()),
            "a new connection was upgraded at level 3"
        );
    }
    let response = control.request("GET", "/metrics", None);
    let metrics = String::from_utf8_lossy(&response.body).into_owned();
    let shed_total: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("switchboard_ebpf_shed_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        shed_total >= 3,
        "kernel shed counters did not move:\n{metrics}"
    );
    // The conversation already served keeps flowing.
    v.send(&ClientFrame::Send {
        conv,
        client_msg_id: "k1".into(),
        body: "still here".into(),
    });
    a.wait_for(
        "the line sent at level 3",
        |f| matches!(f, OwnedServerFrame::Message { body, .. } if body == "still here"),
    );
    pin(&control, None);
}
