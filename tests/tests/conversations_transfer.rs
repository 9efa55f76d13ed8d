//! Issue 3 over the wire: transfers between agents — accepted, declined (falls back
//! to the previous agent), timed out, to a target that cannot take it, refused
//! requests, and a transfer whose origin agent is lost (back to the queue).

use std::time::Duration;

use switchboard_protocol::chat::SystemKind;
use switchboard_protocol::chat::{ClientFrame, ConversationState, Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{agent, start_served_by, Client, SystemItem};
use switchboard_tests::{Server, TWO_SHARDS};

const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;

fn serve(extra: &[&str]) -> Server {
    Server::start_with(TWO_SHARDS, extra)
}

/// agent-a serves a conversation of `vic`; agent-b is online and empty.
fn setup(server: &Server) -> (Client, Client, Client, u64) {
    let mut a = agent(server, "agent:agent-a", JSON);
    let b = agent(server, "agent:agent-b", BIN);
    let mut v = Client::connect(server, "vic", JSON);
    // Ties go to agent-a by name.
    let conv = start_served_by(&mut v, &mut a);
    (v, a, b, conv)
}

/// a asks to transfer `conv` to agent-b: both a and the visitor see
/// `transfer_requested {agent-b}` as seq 3, and b gets the offer.
fn request_transfer(v: &mut Client, a: &mut Client, b: &mut Client, conv: u64) {
    a.transfer(conv, "agent-b");
    for side in [&mut *v, &mut *a] {
        let item = side.expect_system(conv, 3, SystemKind::TransferRequested);
        assert_eq!(item.agent.as_deref(), Some("agent-b"), "{}", side.name);
    }
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
}

#[test]
fn an_accepted_transfer_moves_the_conversation_to_the_new_agent() {
    let server = serve(&[]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    v.say(conv, "v-0", "I need billing");
    // seq 3 is the line; the transfer request is seq 4 then. Keep the helper's seqs
    // simple instead: read the line first.
    v.expect_sent(conv, "v-0");
    a.expect_message(conv, 3, "vic", "v-0", "I need billing");
    a.transfer(conv, "agent-b");
    for side in [&mut v, &mut a] {
        let item = side.expect_system(conv, 4, SystemKind::TransferRequested);
        assert_eq!(item.agent.as_deref(), Some("agent-b"));
    }
    assert!(matches!(b.next(), OwnedServerFrame::TransferOffer { conv: c, .. } if c == conv));
    // While the offer is pending, the origin agent still serves.
    a.say(conv, "a-0", "transferring you to billing");
    assert_eq!(a.expect_sent(conv, "a-0").0, 5);
    v.expect_message(conv, 5, "agent-a", "a-0", "transferring you to billing");

    b.send(&ClientFrame::AcceptTransfer { conv });
    let item = v.expect_system(conv, 6, SystemKind::Transferred);
    assert_eq!(item.agent.as_deref(), Some("agent-b"));
    // The new agent follows: snapshot (serving, agent-b) and the whole history.
    let (snapshot, items) = b.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.state, ConversationState::Serving);
    assert_eq!(snapshot.agent.as_deref(), Some("agent-b"));
    assert_eq!(snapshot.last_seq, 6);
    assert!(
        matches!(&items[2], OwnedServerFrame::Message { client_msg_id, .. } if client_msg_id == "v-0")
    );
    // The conversation goes on with agent-b.
    b.say(conv, "b-0", "billing here");
    assert_eq!(b.expect_sent(conv, "b-0").0, 7);
    v.expect_message(conv, 7, "agent-b", "b-0", "billing here");
    v.say(conv, "v-1", "thanks");
    v.expect_sent(conv, "v-1");
    b.expect_message(conv, 8, "vic", "v-1", "thanks");
    // The old agent is out: it may no longer speak, read or resume.
    a.say(conv, "a-late", "one more thing");
    a.wait_for(
        "not_participant for the old agent's line",
        |f| matches!(f, OwnedServerFrame::Error { code, .. } if code == "not_participant"),
    );
    a.resume(conv, 0);
    a.expect_error("not_participant");
    // The old agent's last item of the conversation is the `transferred` that ended its
    // part (its view is one sequence too), and nothing after it.
    let last = a
        .log
        .iter()
        .filter_map(SystemItem::from_frame)
        .rfind(|item| item.conv == conv);
    assert!(
        matches!(&last, Some(item) if item.seq == 6 && item.event == SystemKind::Transferred && item.agent.as_deref() == Some("agent-b")),
        "old agent's last system item: {last:?}; {}",
        a.dump()
    );
    // ...and no line reached it after the transfer.
    let after_transfer: Vec<_> = a
        .log
        .iter()
        .filter(|f| matches!(f, OwnedServerFrame::Message { seq, .. } if *seq > 6))
        .collect();
    assert!(
        after_transfer.is_empty(),
        "old agent still receives: {after_transfer:?}"
    );
}

#[test]
fn a_declined_transfer_falls_back_to_the_previous_agent() {
    let server = serve(&[]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    request_transfer(&mut v, &mut a, &mut b, conv);
    b.send(&ClientFrame::DeclineTransfer { conv });
    for side in [&mut v, &mut a] {
        let item = side.expect_system(conv, 4, SystemKind::TransferFailed);
        assert_eq!(
            (item.agent.as_deref(), item.reason.as_deref()),
            (Some("agent-a"), Some("declined")),
            "{}",
            side.name
        );
    }
    // agent-a still serves.
    a.say(conv, "a-1", "still me");
    assert_eq!(a.expect_sent(conv, "a-1").0, 5);
    v.expect_message(conv, 5, "agent-a", "a-1", "still me");
    // b, having declined, cannot accept any more.
    b.send(&ClientFrame::AcceptTransfer { conv });
    b.expect_error("no_transfer_offered");
    // A new transfer may be asked for after the failed one.
    a.transfer(conv, "agent-b");
    v.expect_system(conv, 6, SystemKind::TransferRequested);
    assert!(matches!(b.next(), OwnedServerFrame::TransferOffer { .. }));
}

#[test]
fn an_unanswered_transfer_times_out_and_falls_back() {
    let server = serve(&["--transfer-timeout-ms", "800"]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    request_transfer(&mut v, &mut a, &mut b, conv);
    // b does not answer.
    for side in [&mut v, &mut a] {
        let frame = side.wait_for_within(Duration::from_secs(20), "transfer_failed", |f| {
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
            (4, Some("agent-a"), Some("timed_out")),
            "{}",
            side.name
        );
    }
    // Too late to accept.
    b.send(&ClientFrame::AcceptTransfer { conv });
    b.expect_error("no_transfer_offered");
    a.say(conv, "a-1", "back with me");
    v.expect_message(conv, 5, "agent-a", "a-1", "back with me");
}

#[test]
fn a_transfer_to_an_agent_that_cannot_take_it_fails_at_once() {
    let server = serve(&[]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    let mut seq = 3;
    // Unknown agent; then agent-b away; then agent-b full.
    b.status(switchboard_protocol::chat::AgentStatus::Away, None);
    b.router_barrier();
    let mut targets = vec!["agent-nobody", "agent-b"];
    let mut c = agent(&server, "agent:agent-c", JSON);
    c.status(switchboard_protocol::chat::AgentStatus::Online, Some(0));
    c.router_barrier();
    targets.push("agent-c");
    for target in targets {
        a.transfer(conv, target);
        for side in [&mut v, &mut a] {
            let item = side.expect_system(conv, seq, SystemKind::TransferRequested);
            assert_eq!(item.agent.as_deref(), Some(target));
            let item = side.expect_system(conv, seq + 1, SystemKind::TransferFailed);
            assert_eq!(
                item.agent.as_deref(),
                Some("agent-a"),
                "transfer to {target}"
            );
            eprintln!("transfer to {target} failed with reason {:?}", item.reason);
        }
        seq += 2;
    }
    a.say(conv, "a-1", "still me");
    assert_eq!(a.expect_sent(conv, "a-1").0, seq);
}

#[test]
fn transfer_requests_that_make_no_sense_are_refused() {
    let server = serve(&[]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    a.transfer(conv, "agent-a");
    a.expect_error("transfer_to_self");
    // Only the serving agent may transfer.
    b.transfer(conv, "agent-b");
    let code = match b.next() {
        OwnedServerFrame::Error { code, .. } => code,
        other => panic!("{other:?}"),
    };
    assert!(
        code == "not_serving_agent" || code == "not_participant",
        "{code}"
    );
    // Visitors may not transfer at all.
    v.transfer(conv, "agent-b");
    v.expect_error("agents_only");
    // One pending offer at a time.
    request_transfer(&mut v, &mut a, &mut b, conv);
    a.transfer(conv, "agent-b");
    a.expect_error("transfer_pending");
    // An agent that was not offered it cannot accept it.
    let mut c = agent(&server, "agent:agent-c", JSON);
    c.send(&ClientFrame::AcceptTransfer { conv });
    c.expect_error("no_transfer_offered");
}

#[test]
fn a_transfer_whose_origin_agent_is_lost_goes_back_to_the_queue_when_declined() {
    let server = serve(&["--agent-grace-ms", "300"]);
    let (mut v, mut a, mut b, conv) = setup(&server);
    request_transfer(&mut v, &mut a, &mut b, conv);
    drop(a);
    // Let the origin's grace period pass (a precondition, not an assertion).
    std::thread::sleep(Duration::from_millis(1500));
    b.send(&ClientFrame::DeclineTransfer { conv });
    let item = v.expect_system(conv, 4, SystemKind::TransferFailed);
    assert_eq!(
        (item.agent.as_deref(), item.reason.as_deref()),
        (None, Some("declined"))
    );
    let item = v.expect_system(conv, 5, SystemKind::Requeued);
    assert_eq!(item.reason.as_deref(), Some("transfer_failed"));
    // The only agent left online is b: it gets the conversation from the queue.
    let item = v.expect_system(conv, 6, SystemKind::Assigned);
    assert_eq!(item.agent.as_deref(), Some("agent-b"));
    b.expect_assignment(conv);
}
