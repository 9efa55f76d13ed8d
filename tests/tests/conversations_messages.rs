//! Issue 3 over the wire: chat lines on a conversation's ordered channel.
//!
//! Visitor and agent on different shards chatting both ways; other tabs of the same
//! user; `sent` acks and their seqs; a retried `client_msg_id` (same connection and
//! after a reconnect); a visitor that drops and resumes with no gap and no duplicate
//! while the agent keeps writing; a resume beyond the history (`gap`); typing (relayed,
//! rate-limited) and read receipts; a whole conversation on the binary protocol next
//! to a JSON client.

use std::time::Duration;

use switchboard_protocol::chat::SystemKind;
use switchboard_protocol::chat::{ClientFrame, ConversationState, Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{
    agent, assert_contiguous, ordered_seq, read_lines, start_served_by, Client,
};
use switchboard_tests::Server;

const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;

fn serve(extra: &[&str]) -> Server {
    let mut args = vec!["--close-timeout-ms", "1000"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Connects `token` again and again until its connection lands on a shard outside
/// `avoid` (connections are spread over the shards by SO_REUSEPORT's hash).
fn connect_avoiding(server: &Server, token: &str, encoding: Encoding, avoid: &[u16]) -> Client {
    for _ in 0..200 {
        let client = Client::connect(server, token, encoding);
        if !avoid.contains(&client.shard) {
            return client;
        }
        client.close();
    }
    panic!("200 connections of {token} all landed on shards {avoid:?}");
}

/// Both sides write `per_side` lines at once (pipelined, interleaving at the home);
/// each side must see one contiguous run of seqs starting at `first`, its own lines
/// and the other's each in the order written, and both must agree on every seq.
fn chat_both_ways(v: &mut Client, a: &mut Client, conv: u64, first: u64, per_side: usize) {
    for i in 0..per_side {
        v.say(conv, &format!("pv-{i}"), &format!("visitor line {i}"));
        a.say(conv, &format!("pa-{i}"), &format!("agent line {i} ✓"));
    }
    let seen_v = read_lines(v, conv, 2 * per_side);
    let seen_a = read_lines(a, conv, 2 * per_side);
    assert_contiguous(&v.name, &seen_v, first);
    assert_contiguous(&a.name, &seen_a, first);
    assert_eq!(
        seen_v, seen_a,
        "visitor and agent disagree on the conversation"
    );
    for (who, prefix) in [(&v.user, "pv-"), (&a.user, "pa-")] {
        let ids: Vec<&str> = seen_v
            .iter()
            .filter(|l| &l.from == who)
            .map(|l| l.id.as_str())
            .collect();
        let want: Vec<String> = (0..per_side).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(ids, want, "lines of {who} out of order or missing");
    }
}

fn visitor_and_agent_on_different_shards(shards: &str) {
    let server = serve(&["--shards", shards]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = connect_avoiding(&server, "vic", JSON, &[a.shard]);
    assert_ne!(v.shard, a.shard);
    let conv = start_served_by(&mut v, &mut a);
    let home = conv % u64::from(server.shards());
    eprintln!(
        "visitor on shard {}, agent on shard {}, conversation {conv} at home shard {home}",
        v.shard, a.shard
    );
    v.say(conv, "v-hello", "hello, my order is late");
    assert_eq!(v.expect_sent(conv, "v-hello").0, 3);
    a.expect_message(conv, 3, "vic", "v-hello", "hello, my order is late");
    a.say(conv, "a-hello", "sorry to hear that, let me look");
    assert_eq!(a.expect_sent(conv, "a-hello").0, 4);
    v.expect_message(
        conv,
        4,
        "agent-ann",
        "a-hello",
        "sorry to hear that, let me look",
    );
    chat_both_ways(&mut v, &mut a, conv, 5, 25);
}

#[test]
fn visitor_and_agent_on_different_shards_chat_both_ways() {
    visitor_and_agent_on_different_shards("2");
}

#[test]
fn visitor_agent_and_home_on_three_different_shards() {
    // Conversation 1 lives on shard 1; the visitor and the agent land on 0 and 2.
    let server = serve(&["--shards", "3"]);
    let mut a = Client::connect(&server, "agent:agent-ann", JSON);
    while a.shard == 1 {
        a.close();
        a = Client::connect(&server, "agent:agent-ann", JSON);
    }
    a.router_barrier();
    let mut v = connect_avoiding(&server, "vic", JSON, &[a.shard, 1]);
    let conv = start_served_by(&mut v, &mut a);
    assert_eq!(conv, 1, "first conversation of a fresh server");
    chat_both_ways(&mut v, &mut a, conv, 3, 20);
}

#[test]
fn every_other_tab_of_both_sides_gets_each_line_and_the_sender_gets_sent() {
    let server = serve(&["--shards", "2"]);
    let mut a1 = agent(&server, "agent:agent-ann", JSON);
    let mut v1 = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v1, &mut a1);
    // A second tab of the visitor: `start` gives back the open conversation.
    let mut v2 = Client::connect(&server, "vic", BIN);
    v2.start();
    let (snapshot, _) = v2.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.state, ConversationState::Serving);
    assert_eq!(snapshot.agent.as_deref(), Some("agent-ann"));
    assert_eq!(snapshot.last_seq, 2);
    // A second device of the agent gets every conversation it serves.
    let mut a2 = Client::connect(&server, "agent:agent-ann", BIN);
    a2.expect_snapshot_and_replay(conv, 1);

    v1.say(conv, "v1-a", "from tab one");
    assert_eq!(v1.expect_sent(conv, "v1-a").0, 3);
    for other in [&mut v2, &mut a1, &mut a2] {
        other.expect_message(conv, 3, "vic", "v1-a", "from tab one");
    }
    a2.say(conv, "a2-a", "from the agent's phone");
    assert_eq!(a2.expect_sent(conv, "a2-a").0, 4);
    for other in [&mut v1, &mut v2, &mut a1] {
        other.expect_message(conv, 4, "agent-ann", "a2-a", "from the agent's phone");
    }
    // A tab that closes stops receiving; the others carry on.
    v2.close();
    a1.say(conv, "a1-b", "still there?");
    assert_eq!(a1.expect_sent(conv, "a1-b").0, 5);
    v1.expect_message(conv, 5, "agent-ann", "a1-b", "still there?");
    a2.expect_message(conv, 5, "agent-ann", "a1-b", "still there?");
}

#[test]
fn visitor_drops_and_resumes_with_no_gap_and_no_duplicate_while_the_agent_writes() {
    let server = serve(&["--shards", "2"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-0", "first");
    let (seen, _) = v.expect_sent(conv, "v-0");
    assert_eq!(seen, 3);
    a.expect_message(conv, 3, "vic", "v-0", "first");
    // The visitor's only connection goes away; the agent keeps writing.
    v.close();
    for i in 1..=3 {
        a.say(conv, &format!("a-{i}"), &format!("while you were away {i}"));
        assert_eq!(a.expect_sent(conv, &format!("a-{i}")).0, 3 + i);
    }
    let mut v = Client::connect(&server, "vic", JSON);
    // One more line races the resume: it must come exactly once, replayed or live.
    a.say(conv, "a-4", "racing the resume");
    v.resume(conv, seen);
    let snapshot = v.expect_snapshot();
    assert_eq!(snapshot.conv, conv);
    assert_eq!(snapshot.state, ConversationState::Serving);
    assert!(
        (6..=7).contains(&snapshot.last_seq),
        "last_seq {}",
        snapshot.last_seq
    );
    a.expect_sent(conv, "a-4");
    a.say(conv, "a-5", "after the resume");
    let lines = read_lines(&mut v, conv, 5);
    assert_contiguous(&v.name, &lines, 4);
    let ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
    // And the resumed connection is a full participant again.
    v.say(conv, "v-1", "back");
    assert_eq!(v.expect_sent(conv, "v-1").0, 9);
    a.expect_sent(conv, "a-5");
    a.expect_message(conv, 9, "vic", "v-1", "back");
    // A resume from 0 replays everything, in order.
    let mut v3 = Client::connect(&server, "vic", BIN);
    v3.resume(conv, 0);
    let (snapshot, items) = v3.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.last_seq, 9);
    assert!(matches!(
        &items[0],
        OwnedServerFrame::System {
            event: SystemKind::Created,
            ..
        }
    ));
}

#[test]
fn resume_beyond_a_short_history_says_gap_then_replays_what_is_left() {
    let server = serve(&["--shards", "2", "--history-len", "5"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    for i in 3..=10u64 {
        v.say(conv, &format!("v-{i}"), &format!("line {i}"));
        assert_eq!(v.expect_sent(conv, &format!("v-{i}")).0, i);
    }
    // History holds seqs 6..=10 now.
    let mut tab = Client::connect(&server, "vic", JSON);
    for (after, gap) in [(2u64, true), (4, true), (0, true), (5, false), (8, false)] {
        tab.resume(conv, after);
        let snapshot = tab.expect_snapshot();
        assert_eq!(snapshot.last_seq, 10);
        let first = if gap {
            match tab.next() {
                OwnedServerFrame::Gap {
                    conv: c,
                    after_seq,
                    oldest_seq,
                } => {
                    assert_eq!((c, after_seq, oldest_seq), (conv, after, 6));
                }
                other => panic!("resume after {after}: expected gap, got {other:?}"),
            }
            6
        } else {
            after + 1
        };
        for seq in first..=10 {
            let frame = tab.next();
            assert_eq!(
                ordered_seq(&frame),
                Some((conv, seq)),
                "resume after {after}: {frame:?}"
            );
        }
    }
    // Nothing to replay after the newest seq: just the snapshot, then live lines.
    tab.resume(conv, 10);
    assert_eq!(tab.expect_snapshot().last_seq, 10);
    a.say(conv, "a-11", "live");
    tab.expect_message(conv, 11, "agent-ann", "a-11", "live");
}

#[test]
fn a_retried_client_msg_id_is_acked_with_its_first_seq_and_delivered_once() {
    let server = serve(&["--shards", "2"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);

    // Same connection: the second send of dup-1 is a retry.
    v.say(conv, "dup-1", "only once please");
    v.say(conv, "dup-1", "only once please");
    let first = v.expect_sent(conv, "dup-1");
    let again = v.expect_sent(conv, "dup-1");
    assert_eq!(
        first, again,
        "a retry must be acked with the original seq and ts"
    );
    assert_eq!(first.0, 3);
    v.say(conv, "next-1", "and then this");
    assert_eq!(v.expect_sent(conv, "next-1").0, 4);
    a.expect_message(conv, 3, "vic", "dup-1", "only once please");
    a.expect_message(conv, 4, "vic", "next-1", "and then this");

    // After a reconnect: the first connection sends and vanishes without reading its
    // ack; the new one retries the same id.
    v.say(conv, "dup-2", "sent just before the network died");
    drop(v);
    let mut v2 = Client::connect(&server, "vic", BIN);
    v2.say(conv, "dup-2", "sent just before the network died");
    let (seq, _) = v2.expect_sent(conv, "dup-2");
    assert_eq!(seq, 5);
    v2.say(conv, "next-2", "after the retry");
    assert_eq!(v2.expect_sent(conv, "next-2").0, 6);
    a.expect_message(conv, 5, "vic", "dup-2", "sent just before the network died");
    a.expect_message(conv, 6, "vic", "next-2", "after the retry");

    // The agent's retries work the same way, and the resumed visitor sees each once.
    a.say(conv, "a-dup", "agent line");
    let first = a.expect_sent(conv, "a-dup");
    a.say(conv, "a-dup", "agent line");
    assert_eq!(a.expect_sent(conv, "a-dup"), first);
    v2.resume(conv, 6);
    assert_eq!(v2.expect_snapshot().last_seq, 7);
    v2.expect_message(conv, 7, "agent-ann", "a-dup", "agent line");
    a.say(conv, "a-next", "after");
    v2.expect_message(conv, 8, "agent-ann", "a-next", "after");
}

#[test]
fn typing_is_relayed_to_the_other_side_and_rate_limited_per_connection() {
    let server = serve(&["--shards", "2", "--typing-interval-ms", "60000"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    let mut v_tab = Client::connect(&server, "vic", JSON);
    v_tab.resume(conv, 2);
    assert_eq!(v_tab.expect_snapshot().last_seq, 2);

    for _ in 0..20 {
        v.send(&ClientFrame::Typing { conv });
    }
    v.say(conv, "v-1", "typed it");
    v.expect_sent(conv, "v-1");
    // The agent: exactly one typing, then the line (both went the same way, in order).
    match a.next() {
        OwnedServerFrame::Typing { conv: c, from } => assert_eq!((c, from.as_str()), (conv, "vic")),
        other => panic!("expected typing, got {other:?}"),
    }
    a.expect_message(conv, 3, "vic", "v-1", "typed it");
    // The visitor's other tab is the same user: it gets the line, not the typing.
    v_tab.expect_message(conv, 3, "vic", "v-1", "typed it");
    // The limit is per connection: the agent's own typing passes once too.
    a.send(&ClientFrame::Typing { conv });
    a.send(&ClientFrame::Typing { conv });
    a.say(conv, "a-1", "ok");
    for tab in [&mut v, &mut v_tab] {
        match tab.next() {
            OwnedServerFrame::Typing { conv: c, from } => {
                assert_eq!((c, from.as_str()), (conv, "agent-ann"))
            }
            other => panic!("expected typing, got {other:?}"),
        }
        tab.expect_message(conv, 4, "agent-ann", "a-1", "ok");
    }
}

#[test]
fn typing_passes_again_after_the_interval() {
    let server = serve(&["--shards", "1", "--typing-interval-ms", "200"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.send(&ClientFrame::Typing { conv });
    // Wait past the interval (a precondition, not an assertion).
    std::thread::sleep(Duration::from_millis(600));
    v.send(&ClientFrame::Typing { conv });
    v.say(conv, "v-1", "x");
    for _ in 0..2 {
        assert!(
            matches!(a.next(), OwnedServerFrame::Typing { .. }),
            "{}",
            a.dump()
        );
    }
    a.expect_message(conv, 3, "vic", "v-1", "x");
}

#[test]
fn read_receipts_are_relayed_both_ways_unsequenced() {
    let server = serve(&["--shards", "2"]);
    let mut a = agent(&server, "agent:agent-ann", BIN);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "hi");
    v.expect_sent(conv, "v-1");
    a.expect_message(conv, 3, "vic", "v-1", "hi");
    a.send(&ClientFrame::Read { conv, seq: 3 });
    match v.next() {
        OwnedServerFrame::Read { conv: c, from, seq } => {
            assert_eq!((c, from.as_str(), seq), (conv, "agent-ann", 3))
        }
        other => panic!("expected read, got {other:?}"),
    }
    // Read receipts are not rate limited, and they take no seq.
    for seq in 1..=3 {
        v.send(&ClientFrame::Read { conv, seq });
    }
    for seq in 1..=3 {
        match a.next() {
            OwnedServerFrame::Read {
                conv: c,
                from,
                seq: s,
            } => {
                assert_eq!((c, from.as_str(), s), (conv, "vic", seq))
            }
            other => panic!("expected read, got {other:?}"),
        }
    }
    a.say(conv, "a-1", "next line takes seq 4");
    assert_eq!(a.expect_sent(conv, "a-1").0, 4);
    v.expect_message(conv, 4, "agent-ann", "a-1", "next line takes seq 4");
    // Ephemeral events are not replayed.
    let mut tab = Client::connect(&server, "vic", JSON);
    tab.resume(conv, 0);
    let (_, items) = tab.expect_snapshot_and_replay(conv, 1);
    assert_eq!(items.len(), 4);
}

#[test]
fn a_whole_conversation_on_the_binary_protocol_next_to_a_json_agent() {
    let server = serve(&["--shards", "2"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "bin-vic", BIN);
    assert_eq!(v.encoding, Encoding::Binary);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "binary hello 🚀");
    assert_eq!(v.expect_sent(conv, "v-1").0, 3);
    a.expect_message(conv, 3, "bin-vic", "v-1", "binary hello 🚀");
    let long = "a fairly long agent answer that is stored out of line in rkyv ".repeat(20);
    a.say(conv, "a-1", &long);
    assert_eq!(a.expect_sent(conv, "a-1").0, 4);
    v.expect_message(conv, 4, "agent-ann", "a-1", &long);
    chat_both_ways(&mut v, &mut a, conv, 5, 10);
    v.send(&ClientFrame::Typing { conv });
    assert!(matches!(a.next(), OwnedServerFrame::Typing { .. }));
    a.send(&ClientFrame::Read { conv, seq: 24 });
    assert!(matches!(v.next(), OwnedServerFrame::Read { seq: 24, .. }));
    // A binary resume from a new connection.
    let mut v2 = Client::connect(&server, "bin-vic", BIN);
    v2.resume(conv, 20);
    let (snapshot, _) = v2.expect_snapshot_and_replay(conv, 21);
    assert_eq!(snapshot.last_seq, 24);
    // The agent ends it: every follower sees `ended {agent}`, the agent too.
    a.send(&ClientFrame::End { conv });
    for client in [&mut v, &mut v2, &mut a] {
        let ended = client.expect_system(conv, 25, SystemKind::Ended);
        assert_eq!(ended.reason.as_deref(), Some("agent"));
    }
    v.say(conv, "v-late", "too late");
    v.expect_error("conversation_ended");

    // And the other way round: a binary agent with a JSON visitor.
    let mut b = agent(&server, "agent:agent-bin", BIN);
    a.send(&ClientFrame::AgentStatus {
        status: switchboard_protocol::chat::AgentStatus::Away,
        capacity: None,
    });
    a.router_barrier();
    let mut w = Client::connect(&server, "json-vic", JSON);
    let conv2 = start_served_by(&mut w, &mut b);
    assert_ne!(conv2, conv);
    chat_both_ways(&mut w, &mut b, conv2, 3, 10);
}

/// `sent` means "accepted": a client_msg_id is the *sender's* id for its line. When the
/// agent happens to use the same id as the visitor did (simple clients count 1, 2, 3…),
/// its line is a new line, not a retry of someone else's — it must be delivered, and
/// its `sent` must not point at the visitor's seq.
#[test]
fn the_same_client_msg_id_from_the_other_party_is_a_new_line_not_a_retry() {
    let server = serve(&["--shards", "2"]);
    let mut a = agent(&server, "agent:agent-ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "1", "visitor's first line");
    assert_eq!(v.expect_sent(conv, "1").0, 3);
    a.expect_message(conv, 3, "vic", "1", "visitor's first line");
    a.say(conv, "1", "agent's first line");
    let (seq, _) = a.expect_sent(conv, "1");
    assert_eq!(
        seq, 4,
        "the agent's line was acked with the visitor's seq {seq} (taken as a retry of the visitor's id)"
    );
    v.expect_message(conv, 4, "agent-ann", "1", "agent's first line");
}
