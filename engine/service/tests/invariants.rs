//! Random command sequences on simulated shards, checking what must always hold: each
//! connection sees a conversation's items once each and in order (contiguous from 1 for
//! a visitor that never left), every follower sees the same item at the same seq, a
//! conversation has at most one serving agent, no agent is over capacity, and an
//! acknowledged line is a stored line of its sender.

mod sim;

use std::collections::HashMap;

use proptest::prelude::*;
use sim::{Setup, Sim};
use switchboard_protocol::chat::{AgentStatus, Role};
use switchboard_service::ids::Peer;

#[derive(Debug, Clone)]
enum Op {
    Visitor,
    Agent(u8),
    Start(u8),
    Say(u8, u8),
    End(u8, u8),
    Transfer(u8, u8, u8),
    Answer(u8, u8, bool),
    Status(u8, u8),
    Disconnect(u8),
    Resume(u8, u8, u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Visitor),
        1 => (0u8..4).prop_map(Op::Agent),
        3 => any::<u8>().prop_map(Op::Start),
        8 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Say(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::End(a, b)),
        2 => (any::<u8>(), any::<u8>(), 0u8..4).prop_map(|(a, b, c)| Op::Transfer(a, b, c)),
        2 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(a, b, c)| Op::Answer(a, b, c)),
        1 => (any::<u8>(), 0u8..3).prop_map(|(a, b)| Op::Status(a, b)),
        1 => any::<u8>().prop_map(Op::Disconnect),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Op::Resume(a, b, c)),
        2 => (1u16..3000).prop_map(Op::Advance),
    ]
}

struct World {
    sim: Sim,
    peers: Vec<Peer>,
    /// Visitor connections that started a conversation and never closed or resumed.
    steady: Vec<Peer>,
    /// Connections that resumed or closed: they may legitimately see items again.
    tainted: Vec<Peer>,
    next_id: u32,
}

fn pick<T: Copy>(list: &[T], n: u8) -> Option<T> {
    (!list.is_empty()).then(|| list[n as usize % list.len()])
}

impl World {
    fn convs(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .peers
            .iter()
            .flat_map(|&p| self.sim.convs_of(p))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn apply(&mut self, op: Op) {
        let convs = self.convs();
        let open: Vec<Peer> = self
            .peers
            .iter()
            .copied()
            .filter(|p| self.sim.conns[&p.conn.0].open)
            .collect();
        let role = |w: &World, p: Peer| w.sim.conns[&p.conn.0].role;
        match op {
            Op::Visitor => {
                let n = self.peers.len();
                let peer = self.sim.connect(&format!("v{n}"), Role::Visitor);
                self.peers.push(peer);
            }
            Op::Agent(n) => {
                let peer = self.sim.connect(&format!("a{n}"), Role::Agent);
                self.peers.push(peer);
            }
            Op::Start(p) => {
                if let Some(peer) = pick(&open, p).filter(|&p| role(self, p) == Role::Visitor) {
                    self.sim.start(peer, p % 5 == 0);
                    if !self.steady.contains(&peer) && !self.tainted.contains(&peer) {
                        self.steady.push(peer);
                    }
                }
            }
            Op::Say(p, c) => {
                if let (Some(peer), Some(conv)) = (pick(&open, p), pick(&convs, c)) {
                    self.next_id += 1;
                    let id = format!("m{}", self.next_id);
                    self.sim.say(peer, conv, &id, &id);
                }
            }
            Op::End(p, c) => {
                if let (Some(peer), Some(conv)) = (pick(&open, p), pick(&convs, c)) {
                    self.sim.end(peer, conv);
                }
            }
            Op::Transfer(p, c, to) => {
                if let (Some(peer), Some(conv)) = (pick(&open, p), pick(&convs, c)) {
                    self.sim.transfer(peer, conv, &format!("a{to}"));
                }
            }
            Op::Answer(p, c, accept) => {
                if let (Some(peer), Some(conv)) = (pick(&open, p), pick(&convs, c)) {
                    if role(self, peer) == Role::Agent {
                        self.sim.answer_transfer(peer, conv, accept);
                    }
                }
            }
            Op::Status(p, s) => {
                if let Some(peer) = pick(&open, p).filter(|&p| role(self, p) == Role::Agent) {
                    let status =
                        [AgentStatus::Online, AgentStatus::Away, AgentStatus::Offline][s as usize];
                    self.sim.status(peer, status, None);
                }
            }
            Op::Disconnect(p) => {
                if let Some(peer) = pick(&open, p) {
                    self.steady.retain(|&s| s != peer);
                    self.tainted.push(peer);
                    self.sim.disconnect(peer);
                }
            }
            Op::Resume(p, c, after) => {
                if let (Some(peer), Some(conv)) = (pick(&open, p), pick(&convs, c)) {
                    self.steady.retain(|&s| s != peer);
                    self.tainted.push(peer);
                    self.sim.resume(peer, conv, u64::from(after % 8));
                }
            }
            Op::Advance(ms) => self.sim.advance(u64::from(ms)),
        }
        self.sim.run();
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let mut content: HashMap<(u64, u64), String> = HashMap::new();
        for &peer in &self.peers {
            for conv in self.sim.convs_of(peer) {
                for (seq, what) in &self.sim.items(peer, conv) {
                    let seen = content.entry((conv, *seq)).or_insert_with(|| what.clone());
                    prop_assert_eq!(
                        &*seen,
                        what,
                        "conv {} seq {} differs between followers",
                        conv,
                        seq
                    );
                }
            }
        }
        for &peer in &self.steady {
            for conv in self.sim.convs_of(peer) {
                let mut seqs: Vec<u64> = self.sim.items(peer, conv).iter().map(|i| i.0).collect();
                seqs.extend(
                    self.sim
                        .acks(peer)
                        .iter()
                        .filter(|a| a.0 == conv)
                        .map(|a| a.2),
                );
                let mut sorted = seqs.clone();
                sorted.sort_unstable();
                sorted.dedup();
                // Ids are unique here, so even acks never repeat a seq.
                prop_assert_eq!(sorted.len(), seqs.len(), "a seq seen twice on {:?}", peer);
                let want: Vec<u64> = (1..=sorted.last().copied().unwrap_or(0)).collect();
                prop_assert_eq!(
                    &sorted,
                    &want,
                    "conv {} not contiguous for {:?}",
                    conv,
                    peer
                );
            }
        }
        let mut serving: HashMap<u64, usize> = HashMap::new();
        for n in 0..4 {
            if let Some(agent) = self.sim.router.agent(&format!("a{n}")) {
                prop_assert!(
                    agent.conversations.len() as u32 <= agent.capacity,
                    "a{} over capacity",
                    n
                );
                for &conv in &agent.conversations {
                    *serving.entry(conv).or_default() += 1;
                }
            }
        }
        prop_assert!(
            serving.values().all(|&n| n <= 1),
            "two agents serve one conversation: {serving:?}"
        );
        for &peer in &self.peers {
            let sender = &self.sim.conns[&peer.conn.0].user;
            for (conv, id, seq) in self.sim.acks(peer) {
                let stored = content.get(&(conv, seq));
                prop_assert!(
                    stored.is_none_or(|what| *what == format!("message {id}")),
                    "{sender}'s ack of {id} at {conv}/{seq} names {stored:?}"
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_invariants_hold_whatever_happens(ops in proptest::collection::vec(op(), 1..80)) {
        let mut world = World {
            sim: Sim::new(Setup::default()),
            peers: Vec::new(),
            steady: Vec::new(),
            tainted: Vec::new(),
            next_id: 0,
        };
        for op in ops {
            world.apply(op);
            world.check()?;
        }
    }
}
