//! Issue 3 over the wire: how conversations end — by the visitor, by the agent, by the
//! inactivity timeout — and what each side sees afterwards.

use std::time::Duration;

use switchboard_protocol::chat::{ClientFrame, Encoding, OwnedServerFrame, SystemKind};
use switchboard_tests::chat_client::{agent, is_system, start_served_by, Client, SystemItem};
use switchboard_tests::{Server, TWO_SHARDS};

const JSON: Encoding = Encoding::Json;

fn serve(extra: &[&str]) -> Server {
    Server::start_with(TWO_SHARDS, extra)
}

/// Waits for `system ended` of `conv` and returns it (anything before it is skipped).
fn wait_ended(client: &mut Client, conv: u64, within: Duration) -> SystemItem {
    let frame = client.wait_for_within(within, "system ended", |f| {
        matches!(f, OwnedServerFrame::System { conv: c, event: SystemKind::Ended, .. } if *c == conv)
    });
    SystemItem::from_frame(&frame).expect("a system frame")
}

#[test]
fn end_by_the_visitor_reaches_the_visitor_and_the_serving_agent() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.send(&ClientFrame::End { conv });
    let ended = v.expect_system(conv, 3, SystemKind::Ended);
    assert_eq!(ended.reason.as_deref(), Some("visitor"));
    // The agent follows the conversation: it must see the same item on its channel.
    let ended = wait_ended(&mut a, conv, Duration::from_secs(5));
    assert_eq!((ended.seq, ended.reason.as_deref()), (3, Some("visitor")));
}

#[test]
fn end_by_the_agent_reaches_the_agent_itself() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    a.send(&ClientFrame::End { conv });
    let ended = v.expect_system(conv, 3, SystemKind::Ended);
    assert_eq!(ended.reason.as_deref(), Some("agent"));
    let ended = wait_ended(&mut a, conv, Duration::from_secs(5));
    assert_eq!((ended.seq, ended.reason.as_deref()), (3, Some("agent")));
}

#[test]
fn an_ended_conversation_refuses_lines_and_a_new_start_opens_a_new_one() {
    let server = serve(&["--agent-capacity", "1"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    // A second visitor waits: the only agent is full.
    let mut w = Client::connect(&server, "wendy", JSON);
    let conv_w = w.start_new();
    let queued = w.expect_system(conv_w, 2, SystemKind::Queued);
    assert_eq!(queued.position, Some(1));

    v.send(&ClientFrame::End { conv });
    v.expect_system(conv, 3, SystemKind::Ended);
    // The agent's capacity is free again: the waiting visitor gets it.
    let assigned = w.expect_system(conv_w, 3, SystemKind::Assigned);
    assert_eq!(assigned.agent.as_deref(), Some("agent-ann"));
    a.wait_for(
        "the snapshot of the second conversation",
        |f| matches!(f, OwnedServerFrame::Conversation { conv: c, .. } if *c == conv_w),
    );
    // Nothing more goes into the ended conversation, from either side.
    v.say(conv, "late-v", "hello?");
    v.expect_error("conversation_ended");
    a.say(conv, "late-a", "hello?");
    let err = a.wait_for("an error", |f| matches!(f, OwnedServerFrame::Error { .. }));
    assert!(
        matches!(&err, OwnedServerFrame::Error { code, .. } if code == "conversation_ended" || code == "not_participant"),
        "{err:?}"
    );
    // A resume still shows the history, ending with `ended`.
    v.resume(conv, 0);
    let (snapshot, items) = v.expect_snapshot_and_replay(conv, 1);
    assert_eq!(
        snapshot.state,
        switchboard_protocol::chat::ConversationState::Ended
    );
    assert!(is_system(items.last().unwrap(), SystemKind::Ended));
    // The visitor starts again: a new conversation, queued behind nobody but served by
    // nobody either (the agent is full with wendy).
    let conv2 = v.start_new();
    assert_ne!(conv2, conv);
    let queued = v.expect_system(conv2, 2, SystemKind::Queued);
    assert_eq!(queued.position, Some(1));
}

#[test]
fn inactivity_ends_an_idle_conversation_for_both_sides() {
    let server = serve(&["--inactivity-timeout-ms", "1500"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "anyone?");
    v.expect_sent(conv, "v-1");
    a.expect_message(conv, 3, "vic", "v-1", "anyone?");
    // Nobody says anything more; well within 20 s the engine ends it.
    let ended = wait_ended(&mut v, conv, Duration::from_secs(20));
    assert_eq!(
        (ended.seq, ended.reason.as_deref()),
        (4, Some("inactivity"))
    );
    v.say(conv, "v-2", "still there?");
    v.expect_error("conversation_ended");
    // The visitor can start over.
    let conv2 = v.start_new();
    assert_ne!(conv2, conv);
    // The serving agent must be told too.
    let ended = wait_ended(&mut a, conv, Duration::from_secs(5));
    assert_eq!(ended.reason.as_deref(), Some("inactivity"));
}

#[test]
fn activity_keeps_a_conversation_open_past_the_inactivity_timeout() {
    let server = serve(&["--inactivity-timeout-ms", "3000"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    // A line every 500 ms for 5 s: more than the timeout in all, never idle for it.
    let started = std::time::Instant::now();
    let mut seq = 3;
    while started.elapsed() < Duration::from_secs(5) {
        let id = format!("v-{seq}");
        v.say(conv, &id, "tick");
        assert_eq!(v.expect_sent(conv, &id).0, seq, "{}", v.dump());
        a.expect_message(conv, seq, "vic", &id, "tick");
        seq += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}
