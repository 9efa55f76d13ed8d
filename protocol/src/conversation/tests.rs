//! One test per transition; invariants over random event sequences live in
//! `protocol/tests/conversation_props.rs`.

use super::*;

const RULES: Rules = Rules {
    inactivity_timeout_ms: 1_000,
    transfer_timeout_ms: 100,
};

fn announce(announcement: Announcement) -> Effect {
    Effect::Announce(announcement)
}

fn release(agent: &str) -> Effect {
    Effect::ReleaseAgent {
        agent: agent.into(),
    }
}

fn list(effects: Effects) -> Vec<Effect> {
    effects.into_iter().collect()
}

fn waiting() -> Conversation {
    Conversation::open(1, "v", false, 0).0
}

fn serving(agent: &str) -> Conversation {
    let mut conv = waiting();
    conv.handle(Event::Assign { agent }, 0, &RULES).unwrap();
    conv
}

/// `a` serving, transferring to `b` since t=10.
fn transferring() -> Conversation {
    let mut conv = serving("a");
    conv.handle(Event::RequestTransfer { by: "a", to: "b" }, 10, &RULES)
        .unwrap();
    conv
}

fn serving_phase(agent: &str) -> Phase {
    Phase::Serving {
        agent: agent.into(),
    }
}

#[test]
fn open_announces_created_and_enqueues() {
    let (conv, effects) = Conversation::open(9, "v", true, 5);
    assert_eq!(conv.phase, Phase::Waiting);
    assert_eq!((conv.id, conv.vip, conv.last_activity_ms), (9, true, 5));
    assert_eq!(
        list(effects),
        [announce(Announcement::Created), Effect::Enqueue]
    );
}

#[test]
fn assign_moves_waiting_to_serving_and_only_from_waiting() {
    let mut conv = waiting();
    let effects = conv
        .handle(Event::Assign { agent: "a" }, 7, &RULES)
        .unwrap();
    assert_eq!(conv.phase, serving_phase("a"));
    assert_eq!(conv.last_activity_ms, 7);
    assert_eq!(
        list(effects),
        [announce(Announcement::Assigned { agent: "a".into() })]
    );
    assert_eq!(
        conv.handle(Event::Assign { agent: "b" }, 8, &RULES),
        Err(Rejection::NotWaiting)
    );
    assert_eq!(conv.serving_agent(), Some("a"));
}

#[test]
fn only_the_visitor_the_serving_agent_and_the_system_speak() {
    let mut conv = waiting();
    let message = |from| Event::Message { from };
    assert_eq!(
        list(
            conv.handle(message(Party::Visitor("v")), 1, &RULES)
                .unwrap()
        ),
        [Effect::DeliverMessage]
    );
    assert_eq!(
        conv.handle(message(Party::Agent("a")), 2, &RULES),
        Err(Rejection::NotParticipant)
    );
    conv.handle(Event::Assign { agent: "a" }, 3, &RULES)
        .unwrap();
    for from in [Party::Visitor("v"), Party::Agent("a"), Party::System] {
        assert!(conv.handle(message(from), 4, &RULES).is_ok(), "{from:?}");
    }
    for from in [Party::Visitor("w"), Party::Agent("b"), Party::Agent("v")] {
        assert_eq!(
            conv.handle(message(from), 5, &RULES),
            Err(Rejection::NotParticipant),
            "{from:?}"
        );
    }
    assert_eq!(conv.last_activity_ms, 4, "refused messages are no activity");
}

#[test]
fn transfer_request_offers_to_the_target_and_only_the_serving_agent_asks() {
    let mut conv = serving("a");
    assert_eq!(
        conv.handle(Event::RequestTransfer { by: "b", to: "c" }, 1, &RULES),
        Err(Rejection::NotServingAgent)
    );
    assert_eq!(
        conv.handle(Event::RequestTransfer { by: "a", to: "a" }, 1, &RULES),
        Err(Rejection::TransferToSelf)
    );
    let effects = conv
        .handle(Event::RequestTransfer { by: "a", to: "b" }, 10, &RULES)
        .unwrap();
    assert_eq!(
        conv.phase,
        Phase::Transferring {
            from: "a".into(),
            to: "b".into(),
            origin_available: true,
            since_ms: 10
        }
    );
    assert_eq!(
        list(effects),
        [
            announce(Announcement::TransferRequested {
                from: "a".into(),
                to: "b".into()
            }),
            Effect::OfferTransfer { to: "b".into() }
        ]
    );
    assert_eq!(
        conv.handle(Event::RequestTransfer { by: "a", to: "c" }, 11, &RULES),
        Err(Rejection::TransferPending)
    );
    // The origin still serves; the target does not yet.
    assert_eq!(conv.serving_agent(), Some("a"));
    assert!(conv.check_speaker(Party::Agent("a")).is_ok());
    assert_eq!(
        conv.check_speaker(Party::Agent("b")),
        Err(Rejection::NotParticipant)
    );
    assert_eq!(
        waiting().handle(Event::RequestTransfer { by: "a", to: "b" }, 1, &RULES),
        Err(Rejection::NotServingAgent)
    );
}

#[test]
fn accepted_transfer_serves_the_new_agent_and_releases_the_old() {
    let mut conv = transferring();
    assert_eq!(
        conv.handle(Event::AcceptTransfer { by: "c" }, 20, &RULES),
        Err(Rejection::NoTransferOffered)
    );
    let effects = conv
        .handle(Event::AcceptTransfer { by: "b" }, 20, &RULES)
        .unwrap();
    assert_eq!(conv.phase, serving_phase("b"));
    assert_eq!(
        list(effects),
        [
            release("a"),
            announce(Announcement::Transferred {
                from: "a".into(),
                to: "b".into()
            })
        ]
    );
    assert_eq!(
        conv.handle(Event::AcceptTransfer { by: "b" }, 21, &RULES),
        Err(Rejection::NoTransferOffered)
    );
}

#[test]
fn declined_transfer_falls_back_to_the_origin() {
    let mut conv = transferring();
    assert_eq!(
        conv.handle(Event::DeclineTransfer { by: "a" }, 20, &RULES),
        Err(Rejection::NoTransferOffered)
    );
    let effects = conv
        .handle(Event::DeclineTransfer { by: "b" }, 20, &RULES)
        .unwrap();
    assert_eq!(conv.phase, serving_phase("a"));
    assert_eq!(
        list(effects),
        [announce(Announcement::TransferFailed {
            to: "b".into(),
            why: TransferFailure::Declined,
            fell_back_to: Some("a".into())
        })]
    );
}

#[test]
fn unanswered_transfer_times_out_on_a_tick_and_falls_back() {
    let mut conv = transferring();
    assert_eq!(conv.next_deadline_ms(&RULES), Some(111));
    assert!(list(conv.handle(Event::Tick, 110, &RULES).unwrap()).is_empty());
    let effects = conv.handle(Event::Tick, 111, &RULES).unwrap();
    assert_eq!(conv.phase, serving_phase("a"));
    assert_eq!(conv.last_activity_ms, 111);
    assert_eq!(
        list(effects),
        [
            Effect::WithdrawOffer { to: "b".into() },
            announce(Announcement::TransferFailed {
                to: "b".into(),
                why: TransferFailure::TimedOut,
                fell_back_to: Some("a".into())
            })
        ]
    );
}

#[test]
fn lost_target_falls_back_to_the_origin() {
    let mut conv = transferring();
    let effects = conv
        .handle(Event::AgentLost { agent: "b" }, 30, &RULES)
        .unwrap();
    assert_eq!(conv.phase, serving_phase("a"));
    assert_eq!(
        list(effects),
        [
            Effect::WithdrawOffer { to: "b".into() },
            announce(Announcement::TransferFailed {
                to: "b".into(),
                why: TransferFailure::TargetLost,
                fell_back_to: Some("a".into())
            })
        ]
    );
}

#[test]
fn lost_origin_is_released_and_the_target_may_still_accept() {
    let mut conv = transferring();
    let effects = conv
        .handle(Event::AgentLost { agent: "a" }, 30, &RULES)
        .unwrap();
    assert_eq!(list(effects), [release("a")]);
    assert_eq!(conv.serving_agent(), None);
    assert_eq!(
        conv.check_speaker(Party::Agent("a")),
        Err(Rejection::NotParticipant)
    );
    assert_eq!(
        conv.handle(Event::AgentLost { agent: "a" }, 31, &RULES),
        Err(Rejection::AgentNotInvolved)
    );
    let effects = conv
        .handle(Event::AcceptTransfer { by: "b" }, 40, &RULES)
        .unwrap();
    assert_eq!(conv.phase, serving_phase("b"));
    assert_eq!(
        list(effects),
        [announce(Announcement::Transferred {
            from: "a".into(),
            to: "b".into()
        })],
        "a was released when it was lost, not again"
    );
}

#[test]
fn lost_origin_then_decline_goes_back_to_the_queue() {
    let mut conv = transferring();
    conv.handle(Event::AgentLost { agent: "a" }, 30, &RULES)
        .unwrap();
    let effects = conv
        .handle(Event::DeclineTransfer { by: "b" }, 40, &RULES)
        .unwrap();
    assert_eq!(conv.phase, Phase::Waiting);
    assert_eq!(
        list(effects),
        [
            announce(Announcement::TransferFailed {
                to: "b".into(),
                why: TransferFailure::Declined,
                fell_back_to: None
            }),
            announce(Announcement::Requeued {
                why: RequeueReason::TransferFailed
            }),
            Effect::Enqueue
        ]
    );
}

#[test]
fn lost_origin_then_timeout_goes_back_to_the_queue_with_the_most_effects() {
    let mut conv = transferring();
    conv.handle(Event::AgentLost { agent: "a" }, 30, &RULES)
        .unwrap();
    let effects = conv.handle(Event::Tick, 111, &RULES).unwrap();
    assert_eq!(conv.phase, Phase::Waiting);
    assert_eq!(effects.len(), MAX_EFFECTS);
    assert_eq!(list(effects)[0], Effect::WithdrawOffer { to: "b".into() });
}

#[test]
fn lost_serving_agent_sends_the_conversation_back_to_the_queue() {
    let mut conv = serving("a");
    assert_eq!(
        conv.handle(Event::AgentLost { agent: "b" }, 5, &RULES),
        Err(Rejection::AgentNotInvolved)
    );
    let effects = conv
        .handle(Event::AgentLost { agent: "a" }, 5, &RULES)
        .unwrap();
    assert_eq!(conv.phase, Phase::Waiting);
    assert_eq!(
        list(effects),
        [
            release("a"),
            announce(Announcement::Requeued {
                why: RequeueReason::AgentLost
            }),
            Effect::Enqueue
        ]
    );
    assert_eq!(
        waiting().handle(Event::AgentLost { agent: "a" }, 5, &RULES),
        Err(Rejection::AgentNotInvolved)
    );
}

#[test]
fn end_by_each_party_records_the_reason_and_releases_the_agent() {
    for (by, reason) in [
        (Party::Visitor("v"), EndReason::Visitor),
        (Party::Agent("a"), EndReason::Agent),
        (Party::System, EndReason::Admin),
    ] {
        let mut conv = serving("a");
        let effects = conv.handle(Event::End { by }, 50, &RULES).unwrap();
        assert_eq!(conv.phase, Phase::Ended { reason });
        assert_eq!(
            list(effects),
            [release("a"), announce(Announcement::Ended { reason })]
        );
        assert_eq!(reason.as_str(), format!("{reason:?}").to_lowercase());
    }
    let mut conv = serving("a");
    assert_eq!(
        conv.handle(
            Event::End {
                by: Party::Agent("b")
            },
            50,
            &RULES
        ),
        Err(Rejection::NotParticipant)
    );
    // A waiting conversation has no agent to release.
    let mut conv = waiting();
    let effects = conv
        .handle(
            Event::End {
                by: Party::Visitor("v"),
            },
            50,
            &RULES,
        )
        .unwrap();
    assert_eq!(
        list(effects),
        [announce(Announcement::Ended {
            reason: EndReason::Visitor
        })]
    );
}

#[test]
fn end_during_a_transfer_releases_the_origin_and_withdraws_the_offer() {
    let mut conv = transferring();
    let effects = conv
        .handle(
            Event::End {
                by: Party::Visitor("v"),
            },
            50,
            &RULES,
        )
        .unwrap();
    assert_eq!(
        list(effects),
        [
            release("a"),
            Effect::WithdrawOffer { to: "b".into() },
            announce(Announcement::Ended {
                reason: EndReason::Visitor
            })
        ]
    );
}

#[test]
fn inactivity_ends_the_conversation_after_the_timeout_and_activity_postpones_it() {
    let mut conv = serving("a");
    assert_eq!(conv.next_deadline_ms(&RULES), Some(1_001));
    assert!(conv.handle(Event::Tick, 1_000, &RULES).unwrap().is_empty());
    conv.handle(
        Event::Message {
            from: Party::Visitor("v"),
        },
        900,
        &RULES,
    )
    .unwrap();
    assert!(conv.handle(Event::Tick, 1_500, &RULES).unwrap().is_empty());
    let effects = conv.handle(Event::Tick, 1_901, &RULES).unwrap();
    assert_eq!(
        conv.phase,
        Phase::Ended {
            reason: EndReason::Inactivity
        }
    );
    assert_eq!(
        list(effects),
        [
            release("a"),
            announce(Announcement::Ended {
                reason: EndReason::Inactivity
            })
        ]
    );
    assert_eq!(conv.next_deadline_ms(&RULES), None);
}

#[test]
fn ended_is_final_and_accepts_nothing() {
    let mut conv = serving("a");
    conv.handle(
        Event::End {
            by: Party::Visitor("v"),
        },
        1,
        &RULES,
    )
    .unwrap();
    let before = conv.clone();
    for event in [
        Event::Assign { agent: "a" },
        Event::Message {
            from: Party::Visitor("v"),
        },
        Event::Message {
            from: Party::System,
        },
        Event::End { by: Party::System },
        Event::AgentLost { agent: "a" },
        Event::RequestTransfer { by: "a", to: "b" },
    ] {
        assert_eq!(conv.handle(event, 2, &RULES), Err(Rejection::Ended));
    }
    assert!(conv
        .handle(Event::Tick, u64::MAX, &RULES)
        .unwrap()
        .is_empty());
    assert_eq!(conv, before);
}

#[test]
fn a_clock_stepping_back_does_not_move_activity_back() {
    let mut conv = serving("a");
    conv.handle(
        Event::Message {
            from: Party::System,
        },
        500,
        &RULES,
    )
    .unwrap();
    conv.handle(
        Event::Message {
            from: Party::System,
        },
        100,
        &RULES,
    )
    .unwrap();
    assert_eq!(conv.last_activity_ms, 500);
}

#[test]
fn rejection_codes_are_snake_case_and_distinct() {
    let all = [
        Rejection::Ended,
        Rejection::NotParticipant,
        Rejection::NotWaiting,
        Rejection::NotServingAgent,
        Rejection::TransferPending,
        Rejection::TransferToSelf,
        Rejection::NoTransferOffered,
        Rejection::AgentNotInvolved,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), all.len());
    assert!(codes
        .iter()
        .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
}

#[test]
fn announcements_become_system_frames() {
    use crate::chat::{ConversationState, ServerFrame, SystemKind};
    let failed = Announcement::TransferFailed {
        to: "b".into(),
        why: TransferFailure::TimedOut,
        fell_back_to: Some("a".into()),
    };
    assert_eq!(
        failed.to_frame(7, 3, 99),
        ServerFrame::System {
            conv: 7,
            seq: 3,
            ts: 99,
            event: SystemKind::TransferFailed,
            agent: Some("a"),
            position: None,
            reason: Some("timed_out"),
        }
    );
    let requeued = Announcement::Requeued {
        why: RequeueReason::AgentLost,
    };
    assert_eq!(
        (requeued.kind(), requeued.agent(), requeued.reason()),
        (SystemKind::Requeued, None, Some("agent_lost"))
    );
    let transferred = Announcement::Transferred {
        from: "a".into(),
        to: "b".into(),
    };
    assert_eq!(transferred.agent(), Some("b"));
    let conv = transferring();
    assert_eq!(
        conv.snapshot(5),
        ServerFrame::Conversation {
            conv: 1,
            state: ConversationState::Transferring,
            visitor: "v",
            agent: Some("a"),
            last_seq: 5,
        }
    );
}
