//! The conversation state machine (`switchboard_protocol::conversation`) against "no
//! state machine": every case looks its conversation up in a map of 10,000, as the
//! home shard does, then
//!
//! - `baseline`: bumps a counter (what a chat without phases or rules would do);
//! - `message`: [`Conversation::handle`] of a visitor's message (the hot path);
//! - `assign`: [`step`] of an assignment on a waiting conversation (computed, not
//!   applied, so every round starts from the same state);
//! - `transfer_round`: four handled events, `a` → `b` and back (request, accept,
//!   request, accept), ending in the state it started from.
//!
//! Run with `cargo bench -p switchboard-bench --bench conversation`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::Criterion;
use switchboard_protocol::conversation::{step, Conversation, Event, Party, Rules};

const CONVERSATIONS: u64 = 10_000;
const TARGET: u64 = 4_242;

fn visitor(id: u64) -> String {
    format!("visitor-{id:08x}")
}

/// Conversations `0..CONVERSATIONS`, each served by `agent-a` when `serving`.
fn conversations(serving: bool, rules: &Rules) -> HashMap<u64, Conversation> {
    (0..CONVERSATIONS)
        .map(|id| {
            let (mut conv, _) = Conversation::open(id, &visitor(id), false, 1_000);
            if serving {
                conv.handle(Event::Assign { agent: "agent-a" }, 1_000, rules)
                    .expect("assigns");
            }
            (id, conv)
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let rules = Rules::default();
    let mut group = c.benchmark_group("conversation");

    let mut counters: HashMap<u64, u64> = (0..CONVERSATIONS).map(|id| (id, 0)).collect();
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let seq = counters.get_mut(&black_box(TARGET)).expect("present");
            *seq += 1;
            black_box(*seq)
        })
    });

    let mut serving = conversations(true, &rules);
    let sender = visitor(TARGET);
    let mut now = 2_000;
    group.bench_function("message", |b| {
        b.iter(|| {
            now += 1;
            let conv = serving.get_mut(&black_box(TARGET)).expect("present");
            let from = Party::Visitor(black_box(&sender));
            let effects = conv
                .handle(Event::Message { from }, now, &rules)
                .expect("accepted");
            black_box(effects)
        })
    });

    let waiting = conversations(false, &rules);
    group.bench_function("assign", |b| {
        b.iter(|| {
            let conv = waiting.get(&black_box(TARGET)).expect("present");
            let agent = black_box("agent-b");
            black_box(step(conv, Event::Assign { agent }, now, &rules).expect("assigns"))
        })
    });

    group.bench_function("transfer_round", |b| {
        b.iter(|| {
            now += 1;
            let conv = serving.get_mut(&black_box(TARGET)).expect("present");
            for (from, to) in [("agent-a", "agent-b"), ("agent-b", "agent-a")] {
                let request = Event::RequestTransfer { by: from, to };
                black_box(conv.handle(request, now, &rules).expect("requested"));
                let accept = Event::AcceptTransfer { by: to };
                black_box(conv.handle(accept, now, &rules).expect("accepted"));
            }
        })
    });
    group.finish();
}

/// What `criterion_main!` would generate, without its undocumented public function.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
