//! The conversation life cycle on simulated shards, deterministically: assignment,
//! VIP routing, capacity, transfers (accept, decline, timeout, lost target), an agent's
//! grace period, resume and gap, dedupe, the inactivity end.

mod sim;

use sim::{Setup, Sim};
use switchboard_protocol::chat::{AgentStatus, Role};

fn items(sim: &Sim, peer: switchboard_service::ids::Peer, conv: u64) -> Vec<String> {
    sim.items(peer, conv)
        .into_iter()
        .map(|(seq, what)| format!("{seq} {what}"))
        .collect()
}

#[test]
fn a_visitor_waits_then_gets_the_first_agent_that_connects() {
    let mut sim = Sim::new(Setup::default());
    let vera = sim.connect("vera", Role::Visitor);
    sim.start(vera, false);
    sim.run();
    let conv = sim.convs_of(vera)[0];
    assert_eq!(items(&sim, vera, conv), ["1 created", "2 queued"]);
    let bob = sim.connect("bob", Role::Agent);
    sim.run();
    assert_eq!(
        items(&sim, vera, conv),
        ["1 created", "2 queued", "3 assigned bob"]
    );
    assert_eq!(
        items(&sim, bob, conv),
        ["1 created", "2 queued", "3 assigned bob"],
        "the agent gets the history"
    );
    sim.say(vera, conv, "v1", "hello");
    sim.run();
    assert_eq!(sim.acks(vera), [(conv, "v1".to_owned(), 4)]);
    assert_eq!(items(&sim, bob, conv).last().unwrap(), "4 message hello");
    assert!(
        !items(&sim, vera, conv).iter().any(|i| i.starts_with("4 ")),
        "the sender gets `sent`, not its own line"
    );
}

#[test]
fn vips_go_to_vip_agents_and_others_to_the_most_spare_capacity() {
    let mut sim = Sim::new(Setup::default());
    let plain = sim.connect("plain", Role::Agent);
    let gold = sim.connect_agent_in("gold", &["vip"]);
    sim.run();
    let vip = sim.connect("vip-visitor", Role::Visitor);
    sim.start(vip, true);
    sim.run();
    let conv = sim.convs_of(vip)[0];
    assert!(items(&sim, vip, conv).contains(&"2 assigned gold".to_owned()));
    // gold has one conversation now, plain none: a normal visitor goes to plain.
    let normal = sim.connect("normal", Role::Visitor);
    sim.start(normal, false);
    sim.run();
    let conv = sim.convs_of(normal)[0];
    assert!(items(&sim, normal, conv).contains(&"2 assigned plain".to_owned()));
    assert!(sim.convs_of(plain).contains(&conv));
    assert!(!sim.convs_of(gold).contains(&conv));
}

#[test]
fn a_full_agent_takes_no_more_and_the_queue_moves_when_it_frees_up() {
    let mut sim = Sim::new(Setup::default());
    let bob = sim.connect("bob", Role::Agent);
    sim.status(bob, AgentStatus::Online, Some(1));
    sim.run();
    let visitors: Vec<_> = (0..3)
        .map(|i| {
            let v = sim.connect(&format!("v{i}"), Role::Visitor);
            sim.start(v, false);
            sim.run();
            v
        })
        .collect();
    let convs: Vec<u64> = visitors.iter().map(|&v| sim.convs_of(v)[0]).collect();
    assert!(items(&sim, visitors[0], convs[0]).contains(&"2 assigned bob".to_owned()));
    assert_eq!(
        items(&sim, visitors[1], convs[1]),
        ["1 created", "2 queued"]
    );
    assert_eq!(sim.router.agent("bob").unwrap().conversations.len(), 1);
    sim.end(bob, convs[0]);
    sim.run();
    assert!(items(&sim, visitors[1], convs[1]).contains(&"3 assigned bob".to_owned()));
    assert!(!items(&sim, visitors[2], convs[2])
        .iter()
        .any(|i| i.contains("assigned")));
}

/// bob serves `vic`; ann is online and empty. Returns (vic, bob, ann, conv).
fn served(
    sim: &mut Sim,
) -> (
    switchboard_service::ids::Peer,
    switchboard_service::ids::Peer,
    switchboard_service::ids::Peer,
    u64,
) {
    let bob = sim.connect("bob", Role::Agent);
    sim.run();
    let vic = sim.connect("vic", Role::Visitor);
    sim.start(vic, false);
    sim.run();
    let ann = sim.connect("ann", Role::Agent);
    sim.run();
    let conv = sim.convs_of(vic)[0];
    assert!(sim.convs_of(bob).contains(&conv));
    (vic, bob, ann, conv)
}

#[test]
fn an_accepted_transfer_moves_the_conversation_and_the_old_agent_stops_seeing_it() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, ann, conv) = served(&mut sim);
    sim.transfer(bob, conv, "ann");
    sim.run();
    assert_eq!(sim.offers(ann), [conv]);
    sim.answer_transfer(ann, conv, true);
    sim.run();
    assert_eq!(
        items(&sim, vic, conv)[2..],
        ["3 transfer_requested ann", "4 transferred ann"]
    );
    sim.say(vic, conv, "v1", "still there?");
    sim.run();
    assert_eq!(
        items(&sim, ann, conv).last().unwrap(),
        "5 message still there?"
    );
    assert!(!items(&sim, bob, conv).iter().any(|i| i.starts_with("5 ")));
    assert_eq!(sim.router.agent("ann").unwrap().conversations, [conv]);
    assert!(sim.router.agent("bob").unwrap().conversations.is_empty());
}

#[test]
fn a_declined_or_unanswered_transfer_falls_back_to_the_serving_agent() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, ann, conv) = served(&mut sim);
    sim.transfer(bob, conv, "ann");
    sim.run();
    sim.answer_transfer(ann, conv, false);
    sim.run();
    assert_eq!(
        items(&sim, vic, conv)[3],
        "4 transfer_failed bob (declined)"
    );
    sim.transfer(bob, conv, "ann");
    sim.run();
    sim.advance(6_000);
    assert_eq!(
        items(&sim, vic, conv)[5],
        "6 transfer_failed bob (timed_out)"
    );
    assert_eq!(sim.router.agent("bob").unwrap().conversations, [conv]);
}

#[test]
fn an_offer_to_a_target_whose_grace_ran_out_fails_target_lost_before_the_timeout() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, ann, conv) = served(&mut sim);
    sim.transfer(bob, conv, "ann");
    sim.run();
    sim.disconnect(ann);
    sim.run();
    sim.advance(1_500); // past the 1 s grace, before the 5 s transfer timeout
    assert_eq!(
        items(&sim, vic, conv)[3],
        "4 transfer_failed bob (target_lost)"
    );
}

#[test]
fn an_agent_keeps_its_conversations_through_its_grace_period_only() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, _ann, conv) = served(&mut sim);
    sim.disconnect(bob);
    sim.run();
    sim.advance(500);
    let bob2 = sim.connect("bob", Role::Agent);
    sim.run();
    assert!(
        sim.convs_of(bob2).contains(&conv),
        "the new device gets it back"
    );
    sim.disconnect(bob2);
    sim.run();
    sim.advance(1_500);
    let after: Vec<String> = items(&sim, vic, conv);
    assert!(
        after.contains(&"3 requeued (agent_lost)".to_owned()),
        "{after:?}"
    );
    // ann, idle, takes it from the queue.
    assert!(
        after.iter().any(|i| i.ends_with("assigned ann")),
        "{after:?}"
    );
}

#[test]
fn resume_replays_what_is_missing_and_says_gap_when_the_history_is_gone() {
    let setup = Setup {
        limits: switchboard_service::home::HomeLimits {
            history_len: 5,
            ..Setup::default().limits
        },
        ..Setup::default()
    };
    let mut sim = Sim::new(setup);
    let (vic, bob, _ann, conv) = served(&mut sim);
    for i in 0..6 {
        sim.say(bob, conv, &format!("b{i}"), &format!("line {i}"));
    }
    sim.run();
    let tab = sim.connect("vic", Role::Visitor);
    sim.resume(tab, conv, 6);
    sim.run();
    assert_eq!(
        items(&sim, tab, conv),
        ["7 message line 4", "8 message line 5"],
        "exactly the items after 6"
    );
    let late = sim.connect("vic", Role::Visitor);
    sim.resume(late, conv, 1);
    sim.run();
    let gap = sim.frames(late).iter().find_map(|f| match f {
        switchboard_protocol::chat::OwnedServerFrame::Gap { oldest_seq, .. } => Some(*oldest_seq),
        _ => None,
    });
    assert_eq!(gap, Some(4), "items 2 and 3 are gone from a 5-item history");
    assert_eq!(sim.items(late, conv).first().map(|i| i.0), Some(4));
    let _ = vic;
}

#[test]
fn a_retried_line_is_stored_once_and_acknowledged_with_its_first_seq() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, _ann, conv) = served(&mut sim);
    sim.say(vic, conv, "same", "once");
    sim.say(vic, conv, "same", "once");
    sim.run();
    let acks = sim.acks(vic);
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[0].2, acks[1].2, "{acks:?}");
    let lines: Vec<_> = items(&sim, bob, conv)
        .into_iter()
        .filter(|i| i.contains("message once"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The other party may use the same id for its own line.
    sim.say(bob, conv, "same", "mine");
    sim.run();
    assert!(items(&sim, vic, conv)
        .iter()
        .any(|i| i.ends_with("message mine")));
}

#[test]
fn an_idle_conversation_ends_for_inactivity() {
    let mut sim = Sim::new(Setup::default());
    let (vic, bob, _ann, conv) = served(&mut sim);
    sim.advance(61_000);
    assert_eq!(
        items(&sim, vic, conv).last().unwrap(),
        "3 ended (inactivity)"
    );
    assert!(sim.router.agent("bob").unwrap().conversations.is_empty());
    sim.say(vic, conv, "late", "anyone?");
    sim.run();
    assert_eq!(sim.errors(vic), ["conversation_ended"]);
    let _ = bob;
}

/// Issue #20: a long queue drained by a busy agent costs each visitor O(1) frames per
/// announcement interval — not one sequenced item per visitor ahead of it (≈ n²/2 in
/// all) — and no visitor's history fills up with places.
#[test]
fn queue_places_cost_each_visitor_a_bounded_number_of_frames() {
    let mut sim = Sim::new(Setup::default());
    let bob = sim.connect("bob", Role::Agent);
    sim.status(bob, AgentStatus::Online, Some(1));
    sim.run();
    let visitors: Vec<_> = (0..200)
        .map(|i| {
            let v = sim.connect(&format!("v{i}"), Role::Visitor);
            sim.start(v, false);
            v
        })
        .collect();
    sim.run();
    let started = sim.now_ms;
    // bob ends each conversation as soon as he gets it, 100 ms apart.
    for _ in 0..200 {
        let serving = sim.router.agent("bob").unwrap().conversations.clone();
        for conv in serving {
            sim.end(bob, conv);
        }
        sim.run();
        sim.advance(100);
    }
    let elapsed = sim.now_ms - started;
    let interval = Setup::default().router.queue_position_interval_ms;
    let mut total = 0;
    for &v in &visitors {
        let places = sim
            .frames(v)
            .iter()
            .filter(|f| {
                matches!(
                    f,
                    switchboard_protocol::chat::OwnedServerFrame::Queue { .. }
                )
            })
            .count();
        assert!(
            places as u64 <= elapsed / interval + 1,
            "{places} place frames in {elapsed} ms"
        );
        total += places;
        let conv = sim.convs_of(v)[0];
        let kinds: Vec<String> = sim.items(v, conv).into_iter().map(|i| i.1).collect();
        assert!(
            kinds.iter().all(|k| !k.starts_with("queue_position")),
            "places are not sequenced items: {kinds:?}"
        );
        assert!(
            kinds.len() <= 4,
            "created, queued, assigned, ended: {kinds:?}"
        );
    }
    assert!(total < 200 * 200 / 2 / 4, "{total} place frames in all");
}
