//! The routing decision (`switchboard_engine::service::router::Router`) with 10, 100
//! and 1,000 online agents, against a naive baseline: a linear scan of a `Vec` of
//! agents for the best weighted spare capacity (same score and tie-breaks).
//!
//! - `baseline_vec_scan`: the naive scan;
//! - `pick_agent`: [`Router::pick_agent`] on a router whose agents carry some load;
//! - `visitor_start`: a new visitor's `start` — create, pick, assign (capacities are
//!   large, so every start finds an agent; the router is rebuilt between samples);
//! - `status_round`: `agent_status(away)`, `requeue` of one conversation (nobody can
//!   take it), `agent_status(online)` (its `assign_waiting` gives it to that agent).
//!
//! Run with `cargo bench -p switchboard-bench --bench routing`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use switchboard_protocol::chat::Encoding;
use switchboard_service::ids::{ConnId, Peer};
use switchboard_service::router::{AgentStatus, Router, RouterConfig, RouterOutput};

const AGENT_COUNTS: [u32; 3] = [10, 100, 1_000];

fn peer(n: u32) -> Peer {
    Peer {
        conn: ConnId::new(0, n, 0),
        encoding: Encoding::Json,
    }
}

fn agent_name(i: u32) -> String {
    format!("agent-{i:04}")
}

/// A router with `agents` online agents of weights 1–4, each with one connection.
fn router(agents: u32, capacity: u32) -> Router {
    let mut router = Router::new(RouterConfig {
        vip_tier: "vip".into(),
        vip_group: "vip".into(),
        default_capacity: capacity,
        agent_grace_ms: 30_000,
        queue_position_interval_ms: 1_500,
    });
    let mut out = Vec::new();
    for i in 0..agents {
        let name = agent_name(i);
        router.agent_connected(&name, &[], peer(i), &mut out);
        router.set_weight(&name, 1 + i % 4, &mut out);
    }
    router
}

/// The naive agent record: what a router without any structure would keep.
struct NaiveAgent {
    name: String,
    online: bool,
    capacity: u32,
    weight: u32,
    conversations: u32,
}

/// The baseline: one pass over a `Vec`, same score and tie-breaks as the router.
fn naive_pick(agents: &[NaiveAgent]) -> Option<&str> {
    agents
        .iter()
        .filter(|a| a.online && a.capacity > a.conversations)
        .max_by(|a, b| {
            let score =
                |x: &NaiveAgent| u64::from(x.weight) * u64::from(x.capacity - x.conversations);
            score(a)
                .cmp(&score(b))
                .then(b.conversations.cmp(&a.conversations))
                .then(b.name.cmp(&a.name))
        })
        .map(|a| a.name.as_str())
}

/// The router and the naive list with the same agents, each serving one or two
/// conversations of eight.
fn loaded(agents: u32) -> (Router, Vec<NaiveAgent>) {
    let mut router = router(agents, 8);
    let mut out = Vec::new();
    for v in 0..agents + agents / 2 {
        router.visitor_start(&format!("visitor-{v}"), false, peer(100_000 + v), &mut out);
    }
    let naive = (0..agents)
        .map(|i| {
            let name = agent_name(i);
            let record = router.agent(&name).expect("connected");
            NaiveAgent {
                online: record.status == AgentStatus::Online,
                capacity: record.capacity,
                weight: record.weight,
                conversations: record.conversations.len() as u32,
                name,
            }
        })
        .collect();
    (router, naive)
}

/// `iters` starts of fresh visitors on a freshly built router; only the starts are
/// timed.
fn time_visitor_starts(agents: u32, iters: u64) -> Duration {
    let mut router = router(agents, 1_000_000);
    let names: Vec<String> = (0..iters).map(|v| format!("visitor-{v}")).collect();
    let mut out = Vec::with_capacity(4);
    let start = Instant::now();
    for (v, name) in names.iter().enumerate() {
        out.clear();
        router.visitor_start(name, false, peer(v as u32), &mut out);
        black_box(&out);
    }
    start.elapsed()
}

/// Every agent takes one conversation and serves one; returns the router and the
/// conversation of agent 0.
fn full_router(agents: u32) -> (Router, u64) {
    let mut router = router(agents, 1);
    let mut out = Vec::new();
    for v in 0..agents {
        router.visitor_start(&format!("visitor-{v}"), false, peer(100_000 + v), &mut out);
    }
    assert_eq!(router.queue_len(), 0);
    let conv = router.agent(&agent_name(0)).expect("known").conversations[0];
    (router, conv)
}

fn benches(c: &mut Criterion) {
    for agents in AGENT_COUNTS {
        let mut group = c.benchmark_group(format!("routing/{agents}_agents"));
        let (router, naive) = loaded(agents);
        group.bench_function("baseline_vec_scan", |b| {
            b.iter(|| black_box(naive_pick(black_box(&naive))))
        });
        group.bench_function("pick_agent", |b| {
            b.iter(|| black_box(router.pick_agent(black_box(false))))
        });
        group.bench_function(BenchmarkId::new("visitor_start", "new"), |b| {
            b.iter_custom(|iters| time_visitor_starts(agents, iters))
        });

        let (mut router, conv) = full_router(agents);
        let busy = agent_name(0);
        let mut out = Vec::new();
        group.bench_function("status_round", |b| {
            b.iter(|| {
                out.clear();
                router.agent_status(&busy, AgentStatus::Away, None, &mut out);
                router.requeue(conv, false, &mut out);
                router.agent_status(&busy, AgentStatus::Online, None, &mut out);
                assert!(matches!(out.last(), Some(RouterOutput::Assign { .. })));
            })
        });
        group.finish();
    }
}

/// What `criterion_main!` would generate, without its undocumented public function.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
