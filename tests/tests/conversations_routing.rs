//! Issue 3 over the wire: routing waiting visitors to agents.
//!
//! Capacity (set with `agent_status`) and the spare-capacity choice with its
//! tie-breaks (fewer conversations, then name); away agents; queue positions; VIP
//! visitors (JWT `tier`) to VIP-group agents (JWT `groups`) first; an agent that drops
//! (requeued after `--agent-grace-ms` and routed to another agent) or comes back within
//! the grace period (keeps its conversations).
//!
//! Weights come from the routing service through the control API
//! (`PATCH /v1/agents/{user}`).

use std::time::Duration;

use switchboard_protocol::chat::SystemKind;
use switchboard_protocol::chat::{AgentStatus, ConversationState, Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{agent, start_served_by, Client, SystemItem};
use switchboard_tests::jwt::hs256;
use switchboard_tests::{Server, TWO_SHARDS};

const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;

fn serve(extra: &[&str]) -> Server {
    // Places go out at most every 100 ms here (1.5 s by default).
    let mut args = vec!["--queue-position-interval-ms", "100"];
    args.extend_from_slice(extra);
    Server::start_with(TWO_SHARDS, &args)
}

/// `visitor` starts a conversation; returns it and the agent it went to (`None`:
/// queued, with the position it was told).
fn start_and_route(visitor: &mut Client) -> (u64, Result<String, u32>) {
    let conv = visitor.start_new();
    let frame = visitor.next();
    let item = SystemItem::from_frame(&frame)
        .unwrap_or_else(|| panic!("{}: expected a system item, got {frame:?}", visitor.name));
    assert_eq!((item.conv, item.seq), (conv, 2), "{item:?}");
    match item.event {
        SystemKind::Assigned => (conv, Ok(item.agent.expect("assigned names the agent"))),
        SystemKind::Queued => (conv, Err(item.position.expect("a position"))),
        other => panic!("{}: unexpected {other}: {item:?}", visitor.name),
    }
}

#[test]
fn agents_get_conversations_by_spare_capacity_with_ties_to_the_less_loaded() {
    let server = serve(&[]);
    let mut a = Client::connect(&server, "agent:agent-a", JSON);
    a.status(AgentStatus::Online, Some(1));
    a.router_barrier();
    let mut b = Client::connect(&server, "agent:agent-b", BIN);
    b.status(AgentStatus::Online, Some(3));
    b.router_barrier();
    // Spare capacity a=1, b=3. v1: b (3 > 1). v2: b (2 > 1). v3: a and b both have 1
    // spare, a has fewer conversations (0 < 2): a. v4: b (a is full). v5, v6: queued.
    let want = [
        Ok("agent-b"),
        Ok("agent-b"),
        Ok("agent-a"),
        Ok("agent-b"),
        Err(1),
        Err(2),
    ];
    let mut visitors = Vec::new();
    for (i, want) in want.iter().enumerate() {
        let mut v = Client::connect(&server, &format!("v{}", i + 1), JSON);
        let (conv, got) = start_and_route(&mut v);
        assert_eq!(
            got.as_deref().map_err(|p| *p),
            *want,
            "visitor v{} (conv {conv})",
            i + 1
        );
        match got.as_deref() {
            Ok("agent-a") => {
                a.expect_assignment(conv);
            }
            Ok(_) => {
                b.expect_assignment(conv);
            }
            Err(_) => {}
        }
        visitors.push((v, conv));
    }
    // a ends its conversation (v3's): v5, first in the queue, goes to a, and v6 moves
    // up to position 1.
    let conv3 = visitors[2].1;
    a.send(&switchboard_protocol::chat::ClientFrame::End { conv: conv3 });
    visitors[2].0.expect_system(conv3, 3, SystemKind::Ended);
    let (v5, conv5) = &mut visitors[4];
    let assigned = v5.expect_system(*conv5, 3, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-a"));
    a.wait_for(
        "the snapshot of v5's conversation",
        |f| matches!(f, OwnedServerFrame::Conversation { conv, .. } if conv == conv5),
    );
    let (v6, conv6) = &mut visitors[5];
    wait_place(v6, *conv6, 1);
    // b raises its capacity: v6 goes to b at once.
    b.status(AgentStatus::Online, Some(4));
    let assigned = v6.expect_system(*conv6, 3, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-b"));
    b.expect_assignment(*conv6);
}

#[test]
fn equal_agents_take_turns_and_exact_ties_go_by_name() {
    let server = serve(&["--agent-capacity", "2"]);
    let mut b = agent(&server, "agent:agent-b", JSON);
    let mut a = agent(&server, "agent:agent-a", JSON);
    // Empty and equal: by name (a). Then b has more spare; then both 1 spare and 1
    // conversation: by name (a); then b.
    let want = ["agent-a", "agent-b", "agent-a", "agent-b"];
    for (i, want) in want.iter().enumerate() {
        let mut v = Client::connect(&server, &format!("v{i}"), JSON);
        let (conv, got) = start_and_route(&mut v);
        assert_eq!(got.as_deref(), Ok(*want), "visitor v{i}");
        if *want == "agent-a" {
            a.expect_assignment(conv);
        } else {
            b.expect_assignment(conv);
        }
    }
}

#[test]
fn away_agents_take_no_new_conversations_and_keep_theirs() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v1 = Client::connect(&server, "v1", JSON);
    let conv1 = start_served_by(&mut v1, &mut a);
    a.status(AgentStatus::Away, None);
    a.router_barrier();
    let mut v2 = Client::connect(&server, "v2", JSON);
    let (conv2, got) = start_and_route(&mut v2);
    assert_eq!(got, Err(1), "an away agent took a new conversation");
    // It still serves the one it has.
    v1.say(conv1, "v1-1", "are you there?");
    v1.expect_sent(conv1, "v1-1");
    a.expect_message(conv1, 3, "v1", "v1-1", "are you there?");
    // Offline takes none either.
    a.status(AgentStatus::Offline, None);
    a.router_barrier();
    let mut v3 = Client::connect(&server, "v3", JSON);
    assert_eq!(start_and_route(&mut v3).1, Err(2));
    // Back online: both waiting conversations go to it (their homes differ, so the
    // agent may get the two snapshots in either order).
    a.status(AgentStatus::Online, None);
    let assigned = v2.expect_system(conv2, 3, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-a"));
    let conv3 = v3.log.iter().find_map(|f| match f {
        OwnedServerFrame::Conversation { conv, .. } => Some(*conv),
        _ => None,
    });
    let conv3 = conv3.expect("v3 got a snapshot");
    let assigned = v3.expect_system(conv3, 3, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-a"));
    let mut got = Vec::new();
    while got.len() < 2 {
        if let OwnedServerFrame::Conversation { conv, agent, .. } = a.wait_for("a snapshot", |f| {
            matches!(f, OwnedServerFrame::Conversation { .. })
        }) {
            assert_eq!(agent.as_deref(), Some("agent-a"));
            got.push(conv);
        }
    }
    got.sort_unstable();
    assert_eq!(got, [conv2, conv3]);
}

#[test]
fn queue_positions_move_up_one_by_one_as_an_agent_frees_up() {
    let server = serve(&["--agent-capacity", "1"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v0 = Client::connect(&server, "q0", JSON);
    let conv0 = start_served_by(&mut v0, &mut a);
    let mut queue = Vec::new();
    for i in 1..=3u32 {
        let mut v = Client::connect(&server, &format!("q{i}"), JSON);
        let (conv, got) = start_and_route(&mut v);
        assert_eq!(got, Err(i));
        queue.push((v, conv));
    }
    // End the served one: q1 is assigned, q2 and q3 move to 1 and 2.
    a.send(&switchboard_protocol::chat::ClientFrame::End { conv: conv0 });
    v0.expect_system(conv0, 3, SystemKind::Ended);
    let (q1, c1) = &mut queue[0];
    assert_eq!(
        q1.expect_system(*c1, 3, SystemKind::Assigned)
            .agent
            .as_deref(),
        Some("agent-a")
    );
    for (i, (q, c)) in queue.iter_mut().enumerate().skip(1) {
        wait_place(q, *c, i as u32);
        // Places are ephemeral `queue` frames, not items: nothing took seq 3.
        assert!(
            !q.log
                .iter()
                .any(|f| switchboard_tests::chat_client::ordered_seq(f) == Some((*c, 3))),
            "{}",
            q.dump()
        );
    }
}

/// Waits for the ephemeral `queue` frame telling `client` that `conv` is at `place`.
fn wait_place(client: &mut Client, conv: u64, place: u32) {
    client.wait_logged(&format!("queue place {place} of conv {conv}"), |f| {
        matches!(f, OwnedServerFrame::Queue { conv: c, position } if *c == conv && *position == place)
    });
}

const SECRET: &str = "routing-tests-secret-of-at-least-32-bytes!";

#[test]
fn vip_visitors_go_to_vip_group_agents_first_and_to_others_when_none_is_free() {
    let server = serve(&["--jwt-secret", SECRET]);
    let token = |sub: &str, role: &str, tier: Option<&str>, groups: &[&str]| {
        hs256(SECRET, sub, role, tier, groups, 3600)
    };
    // agent-a would win every tie by name; agent-z is the VIP agent.
    let mut general = agent(&server, &token("agent-a", "agent", None, &["sales"]), JSON);
    let mut vip_agent = agent(
        &server,
        &token("agent-z", "agent", None, &["sales", "vip"]),
        JSON,
    );
    vip_agent.status(AgentStatus::Online, Some(1));
    vip_agent.router_barrier();

    let mut vip1 = Client::connect(&server, &token("vip-1", "visitor", Some("vip"), &[]), JSON);
    let (conv, got) = start_and_route(&mut vip1);
    assert_eq!(got.as_deref(), Ok("agent-z"), "VIP visitor went elsewhere");
    vip_agent.expect_assignment(conv);

    // A regular visitor goes by spare capacity (a: 5, z: 0).
    let mut reg = Client::connect(&server, &token("reg-1", "visitor", None, &[]), JSON);
    let (conv, got) = start_and_route(&mut reg);
    assert_eq!(got.as_deref(), Ok("agent-a"));
    general.expect_assignment(conv);

    // The VIP agent is full: the next VIP goes to a regular agent rather than wait.
    let mut vip2 = Client::connect(&server, &token("vip-2", "visitor", Some("vip"), &[]), BIN);
    let (conv, got) = start_and_route(&mut vip2);
    assert_eq!(
        got.as_deref(),
        Ok("agent-a"),
        "VIP not served by others when no VIP agent is free"
    );
    general.expect_assignment(conv);

    // A VIP agent with room wins over a regular agent with much more room.
    vip_agent.status(AgentStatus::Online, Some(2));
    vip_agent.router_barrier();
    let mut vip3 = Client::connect(&server, &token("vip-3", "visitor", Some("vip"), &[]), JSON);
    let (conv, got) = start_and_route(&mut vip3);
    assert_eq!(got.as_deref(), Ok("agent-z"));
    vip_agent.expect_assignment(conv);
}

#[test]
fn vip_tier_and_group_names_come_from_the_flags() {
    let server = serve(&[
        "--jwt-secret",
        SECRET,
        "--vip-tier",
        "gold",
        "--vip-group",
        "concierge",
    ]);
    let token = |sub: &str, role: &str, tier: Option<&str>, groups: &[&str]| {
        hs256(SECRET, sub, role, tier, groups, 3600)
    };
    let mut a = agent(&server, &token("agent-a", "agent", None, &["vip"]), JSON);
    let mut z = agent(
        &server,
        &token("agent-z", "agent", None, &["concierge"]),
        JSON,
    );
    // tier "vip" is nobody special here: ties go by name to agent-a.
    let mut plain = Client::connect(&server, &token("p-1", "visitor", Some("vip"), &[]), JSON);
    let (conv, got) = start_and_route(&mut plain);
    assert_eq!(got.as_deref(), Ok("agent-a"));
    a.expect_assignment(conv);
    // tier "gold" goes to the "concierge" group, even when agent-a has far more room.
    a.status(AgentStatus::Online, Some(10));
    a.router_barrier();
    let mut gold = Client::connect(&server, &token("g-1", "visitor", Some("gold"), &[]), JSON);
    let (conv, got) = start_and_route(&mut gold);
    assert_eq!(got.as_deref(), Ok("agent-z"));
    z.expect_assignment(conv);
}

#[test]
fn a_dropped_agent_keeps_its_conversations_for_the_grace_period_then_they_are_rerouted() {
    let server = serve(&["--agent-grace-ms", "800"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    // Both empty: ties go to agent-a by name.
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "hello");
    v.expect_sent(conv, "v-1");
    a.expect_message(conv, 3, "vic", "v-1", "hello");
    drop(a); // the agent's only connection dies (no close handshake)
             // After the grace period: requeued (agent_lost), then assigned to agent-b.
    let requeued = v.wait_for_within(Duration::from_secs(20), "requeued", |f| {
        matches!(
            f,
            OwnedServerFrame::System {
                event: SystemKind::Requeued,
                ..
            }
        )
    });
    let requeued = SystemItem::from_frame(&requeued).unwrap();
    assert_eq!(
        (requeued.seq, requeued.reason.as_deref()),
        (4, Some("agent_lost"))
    );
    let assigned = v.expect_system(conv, 5, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-b"));
    b.expect_assignment(conv);
    // The new agent has the whole history, and the conversation goes on.
    b.say(conv, "b-1", "I'm taking over");
    assert_eq!(b.expect_sent(conv, "b-1").0, 6);
    v.expect_message(conv, 6, "agent-b", "b-1", "I'm taking over");
    // The old agent, back too late, is no participant any more.
    let mut a2 = Client::connect(&server, "agent:agent-a", JSON);
    a2.say(conv, "a-late", "sorry, I was away");
    a2.expect_error("not_participant");
}

#[test]
fn an_agent_back_within_the_grace_period_keeps_its_conversations() {
    let grace = Duration::from_millis(1500);
    let server = serve(&["--agent-grace-ms", "1500"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    drop(a);
    let mut a = Client::connect(&server, "agent:agent-a", BIN);
    // The reconnected agent gets its conversation back: snapshot and history.
    let (snapshot, _) = a.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.state, ConversationState::Serving);
    assert_eq!(snapshot.agent.as_deref(), Some("agent-a"));
    // Let the grace period pass (a precondition): nothing may happen to it.
    std::thread::sleep(grace * 2);
    v.say(conv, "v-1", "still with me?");
    // The next item of the conversation is this line: no requeued / assigned between.
    assert_eq!(v.expect_sent(conv, "v-1").0, 3, "{}", v.dump());
    a.expect_message(conv, 3, "vic", "v-1", "still with me?");
    a.say(conv, "a-1", "yes");
    v.expect_message(conv, 4, "agent-a", "a-1", "yes");
    // And agent-b was never offered it.
    b.router_barrier();
    b.expect_silence(Duration::from_millis(200));
}

#[test]
fn an_agent_with_another_device_open_is_not_lost_when_one_closes() {
    let server = serve(&["--agent-grace-ms", "300"]);
    let mut a1 = agent(&server, "agent:agent-a", JSON);
    let mut a2 = Client::connect(&server, "agent:agent-a", JSON);
    a2.router_barrier();
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a1);
    a2.expect_assignment(conv);
    drop(a1);
    std::thread::sleep(Duration::from_millis(1500));
    v.say(conv, "v-1", "hello");
    assert_eq!(v.expect_sent(conv, "v-1").0, 3, "{}", v.dump());
    a2.expect_message(conv, 3, "vic", "v-1", "hello");
}

/// `PATCH /v1/agents/{user}` on the control API (loopback, no token).
fn patch_agent(server: &Server, user: &str, body: &str) -> serde_json::Value {
    let addr = server.control_addr().expect("the control API listens");
    let request = format!(
        "PATCH /v1/agents/{user} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response =
        switchboard_tests::http_exchange(addr, request.as_bytes()).expect("control API answer");
    assert_eq!(
        response.status,
        200,
        "PATCH /v1/agents/{user}: {}",
        response.body_text()
    );
    response.json()
}

#[test]
fn weights_set_by_the_routing_service_scale_spare_capacity() {
    let server = serve(&["--agent-capacity", "5"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", JSON);
    let view = patch_agent(&server, "agent-b", r#"{"weight":4}"#);
    assert_eq!(view["weight"], 4, "{view}");
    // Scores (weight × spare): a 1×5, b 4×5=20 → b; b 16, 12, 8 → b; then a 5 > b 4.
    // Without the weight, ties by name would give a, b, a, b, a.
    let want = ["agent-b", "agent-b", "agent-b", "agent-b", "agent-a"];
    for (i, want) in want.iter().enumerate() {
        let mut v = Client::connect(&server, &format!("w{i}"), JSON);
        let (conv, got) = start_and_route(&mut v);
        assert_eq!(got.as_deref(), Ok(*want), "visitor w{i}");
        if *want == "agent-a" {
            a.expect_assignment(conv);
        } else {
            b.expect_assignment(conv);
        }
    }
}
