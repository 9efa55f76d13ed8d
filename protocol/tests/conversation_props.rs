//! Invariants of the conversation state machine over random event sequences: a small
//! cast (one visitor, a stranger, three agents) so that events often hit the right
//! people, and short timeouts so that ticks often fire.

use std::collections::HashMap;

use proptest::prelude::*;
use switchboard_protocol::conversation::{
    step, Announcement, Conversation, Effect, Event, Party, Phase, Rules, MAX_EFFECTS,
};

const RULES: Rules = Rules {
    inactivity_timeout_ms: 400,
    transfer_timeout_ms: 150,
};
const VISITOR: &str = "v";
const USERS: [&str; 5] = ["a1", "a2", "a3", "v", "w"];

/// An event with its user ids as indices into [`USERS`].
#[derive(Debug, Clone, Copy)]
enum Ev {
    Assign(usize),
    Request(usize, usize),
    Accept(usize),
    Decline(usize),
    Lost(usize),
    Message(P),
    End(P),
    Tick,
}

#[derive(Debug, Clone, Copy)]
enum P {
    Visitor(usize),
    Agent(usize),
    System,
}

impl P {
    fn party(self) -> Party<'static> {
        match self {
            P::Visitor(i) => Party::Visitor(USERS[i]),
            P::Agent(i) => Party::Agent(USERS[i]),
            P::System => Party::System,
        }
    }
}

impl Ev {
    fn event(self) -> Event<'static> {
        match self {
            Ev::Assign(a) => Event::Assign { agent: USERS[a] },
            Ev::Request(by, to) => Event::RequestTransfer {
                by: USERS[by],
                to: USERS[to],
            },
            Ev::Accept(by) => Event::AcceptTransfer { by: USERS[by] },
            Ev::Decline(by) => Event::DeclineTransfer { by: USERS[by] },
            Ev::Lost(agent) => Event::AgentLost {
                agent: USERS[agent],
            },
            Ev::Message(from) => Event::Message { from: from.party() },
            Ev::End(by) => Event::End { by: by.party() },
            Ev::Tick => Event::Tick,
        }
    }
}

fn agent() -> impl Strategy<Value = usize> {
    // Mostly agents, sometimes a visitor id used as an agent id.
    prop_oneof![4 => 0usize..3, 1 => 3usize..5]
}

fn party() -> impl Strategy<Value = P> {
    prop_oneof![
        3 => prop_oneof![3 => Just(3usize), 1 => Just(4usize)].prop_map(P::Visitor),
        3 => agent().prop_map(P::Agent),
        1 => Just(P::System),
    ]
}

fn event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => agent().prop_map(Ev::Assign),
        3 => (agent(), agent()).prop_map(|(by, to)| Ev::Request(by, to)),
        3 => agent().prop_map(Ev::Accept),
        2 => agent().prop_map(Ev::Decline),
        2 => agent().prop_map(Ev::Lost),
        5 => party().prop_map(Ev::Message),
        1 => party().prop_map(Ev::End),
        3 => Just(Ev::Tick),
    ]
}

/// Events with the time that passes before each (often none, sometimes past a timeout).
fn history() -> impl Strategy<Value = Vec<(u64, Ev)>> {
    let gap = prop_oneof![3 => Just(0u64), 5 => 1u64..120, 1 => 120u64..600];
    proptest::collection::vec((gap, event()), 0..80)
}

fn kind(phase: &Phase) -> u8 {
    match phase {
        Phase::Waiting => 0,
        Phase::Serving { .. } => 1,
        Phase::Transferring { .. } => 2,
        Phase::Ended { .. } => 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_any_event_sequence(history in history(), start in 0u64..1_000) {
        let (mut conv, _) = Conversation::open(1, VISITOR, false, start);
        let mut now = start;
        // Agent -> conversations it serves here, counted from Assign/Accept (+1) and
        // ReleaseAgent (-1): what the engine's capacity accounting would see.
        let mut load: HashMap<String, i32> = HashMap::new();
        let mut last_named: Option<String> = None;
        let mut ended_at: Option<Phase> = None;

        for (gap, ev) in history {
            now += gap;
            let event = ev.event();
            let before = conv.clone();
            let result = step(&conv, event, now, &RULES);
            prop_assert_eq!(&conv, &before, "step is pure");
            let Ok(transition) = result else {
                // Refused: nothing changes (handle must agree).
                prop_assert_eq!(conv.handle(event, now, &RULES).err(), result.err());
                prop_assert_eq!(&conv, &before);
                continue;
            };
            let effects = conv.apply(transition);
            let list: Vec<&Effect> = effects.iter().collect();
            prop_assert!(list.len() <= MAX_EFFECTS);

            // Ended is final: nothing but a no-op tick is accepted afterwards.
            if let Some(ended) = &ended_at {
                prop_assert!(matches!(ev, Ev::Tick), "{:?} accepted after end", ev);
                prop_assert!(list.is_empty());
                prop_assert_eq!(&conv.phase, ended);
                continue;
            }

            // Nothing is delivered after ended (or for any event but an accepted message).
            let delivered = list.iter().filter(|e| ***e == Effect::DeliverMessage).count();
            prop_assert_eq!(delivered, usize::from(matches!(ev, Ev::Message(_))));
            if delivered == 1 {
                prop_assert_eq!(list.len(), 1);
                prop_assert_eq!(&conv.phase, &before.phase);
            }

            if let Ev::Assign(a) | Ev::Accept(a) = ev {
                last_named = Some(USERS[a].to_owned());
                *load.entry(USERS[a].to_owned()).or_default() += 1;
            }
            // The serving agent is always the one last assigned or accepted.
            if let Some(agent) = conv.serving_agent() {
                prop_assert_eq!(Some(agent), last_named.as_deref());
            }

            // Released agents are exactly the ones that stop serving.
            let released: Vec<&str> = list.iter().filter_map(|e| match e {
                Effect::ReleaseAgent { agent } => Some(agent.as_str()),
                _ => None,
            }).collect();
            let expected: Vec<&str> = before.serving_agent()
                .filter(|b| conv.serving_agent() != Some(*b))
                .into_iter().collect();
            prop_assert_eq!(&released, &expected);
            for agent in released {
                *load.entry(agent.to_owned()).or_default() -= 1;
            }

            // A transfer resolves to the new agent, the previous agent or the queue.
            if let Phase::Transferring { from, to, origin_available, .. } = &before.phase {
                match &conv.phase {
                    Phase::Transferring { from: f, to: t, .. } => {
                        prop_assert_eq!((f, t), (from, to));
                    }
                    Phase::Serving { agent } if agent == to => {
                        prop_assert!(matches!(ev, Ev::Accept(_)));
                    }
                    Phase::Serving { agent } => {
                        prop_assert_eq!(agent, from);
                        prop_assert!(*origin_available);
                    }
                    Phase::Waiting => prop_assert!(!origin_available),
                    Phase::Ended { .. } => {}
                }
            }

            // Every change of phase is announced; Enqueue exactly when entering the
            // queue; an offer exactly when a transfer starts.
            let announced = list.iter().any(|e| matches!(e, Effect::Announce(_)));
            if kind(&before.phase) != kind(&conv.phase) {
                prop_assert!(announced, "{:?} -> {:?} unannounced", before.phase, conv.phase);
            }
            let entered_queue = conv.phase == Phase::Waiting && before.phase != Phase::Waiting;
            prop_assert_eq!(list.contains(&&Effect::Enqueue), entered_queue);
            let started = kind(&conv.phase) == 2 && kind(&before.phase) != 2;
            prop_assert_eq!(list.iter().any(|e| matches!(e, Effect::OfferTransfer { .. })), started);
            if let Phase::Ended { reason } = conv.phase {
                prop_assert_eq!(list.last(), Some(&&Effect::Announce(Announcement::Ended { reason })));
            }

            // Activity never goes back; a tick leaves no deadline behind it.
            prop_assert!(conv.last_activity_ms >= before.last_activity_ms);
            if matches!(ev, Ev::Tick) {
                if let Some(deadline) = conv.next_deadline_ms(&RULES) {
                    prop_assert!(deadline > now, "tick at {} left deadline {}", now, deadline);
                }
            }

            if conv.is_ended() {
                ended_at = Some(conv.phase.clone());
            }
        }

        // Capacity accounting balances: each agent holds exactly the conversation it
        // still serves.
        for (agent, count) in &load {
            let serving = i32::from(conv.serving_agent() == Some(agent.as_str()));
            prop_assert_eq!(*count, serving, "agent {}", agent);
        }
    }

    #[test]
    fn ticks_always_answer_and_a_live_conversation_ends_once_idle(
        history in history(),
        late in 0u64..10_000,
    ) {
        let (mut conv, _) = Conversation::open(1, VISITOR, true, 0);
        let mut now = 0;
        for (gap, ev) in history {
            now += gap;
            let _ = conv.handle(ev.event(), now, &RULES);
        }
        // Past every timeout, two ticks at most (a transfer timing out, then the
        // inactivity that follows) end any conversation.
        let far = now + RULES.inactivity_timeout_ms + RULES.transfer_timeout_ms + 2 + late;
        conv.handle(Event::Tick, far, &RULES).unwrap();
        let later = far + RULES.inactivity_timeout_ms + 1;
        conv.handle(Event::Tick, later, &RULES).unwrap();
        prop_assert!(conv.is_ended(), "{:?}", conv.phase);
    }
}
