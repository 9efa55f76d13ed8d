//! Simulated shards for the service core, in the style of quinn-proto's simulated
//! pair: every owner (the router on shard 0, the conversation homes of each shard) is
//! the real service code, the "mesh" is one FIFO of messages, connections are records
//! of the frames they were sent, and time is a number the test advances. The same
//! dispatch functions the engine's shards call decide where everything goes.
#![allow(dead_code, missing_docs)]

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use switchboard_protocol::chat::{AgentStatus, Decoder, Encoding, OwnedServerFrame, Role};
use switchboard_protocol::conversation::Rules;
use switchboard_service::commands::{HomeCmd, RouterCmd};
use switchboard_service::dispatch::{self, Routed};
use switchboard_service::home::{HomeLimits, HomeOutput, Homes};
use switchboard_service::ids::{ConnId, Peer};
use switchboard_service::router::{Router, RouterConfig, RouterOutput};

/// One message in flight between simulated shards.
#[derive(Debug)]
enum Msg {
    Router(RouterCmd),
    Home(u64, HomeCmd),
    Frame(ConnId, Arc<[u8]>),
}

/// A simulated client connection: everything it was sent, decoded.
#[derive(Debug)]
pub struct Conn {
    pub user: String,
    pub role: Role,
    pub open: bool,
    pub frames: Vec<OwnedServerFrame>,
}

/// The knobs of a simulated node.
#[derive(Debug, Clone)]
pub struct Setup {
    pub shards: usize,
    pub rules: Rules,
    pub limits: HomeLimits,
    pub router: RouterConfig,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            shards: 3,
            rules: Rules {
                inactivity_timeout_ms: 60_000,
                transfer_timeout_ms: 5_000,
            },
            limits: HomeLimits {
                history_len: 100,
                max_followers: 16,
                ended_retention_ms: 60_000,
            },
            router: RouterConfig {
                vip_tier: "vip".into(),
                vip_group: "vip".into(),
                default_capacity: 2,
                agent_grace_ms: 1_000,
                queue_position_interval_ms: 1_000,
            },
        }
    }
}

/// A node of simulated shards.
pub struct Sim {
    pub router: Router,
    pub homes: Vec<Homes>,
    pub conns: BTreeMap<u64, Conn>,
    mesh: VecDeque<Msg>,
    next_conn: u32,
    pub now_ms: u64,
    decoder: Decoder,
    /// Conversations whose home was asked something (for ticks).
    known: HashSet<u64>,
}

impl Sim {
    pub fn new(setup: Setup) -> Sim {
        Sim {
            router: Router::new(setup.router.clone()),
            homes: (0..setup.shards)
                .map(|_| Homes::new(setup.rules, setup.limits))
                .collect(),
            conns: BTreeMap::new(),
            mesh: VecDeque::new(),
            next_conn: 0,
            now_ms: 1_000_000,
            decoder: Decoder::default(),
            known: HashSet::new(),
        }
    }

    fn shards(&self) -> usize {
        self.homes.len()
    }

    /// Opens a connection of `user` (`agent:` prefix: an agent) on the next shard.
    pub fn connect(&mut self, user: &str, role: Role) -> Peer {
        let shard = self.next_conn as usize % self.shards();
        let conn = ConnId::new(shard, self.next_conn, 1);
        self.next_conn += 1;
        self.conns.insert(
            conn.0,
            Conn {
                user: user.to_owned(),
                role,
                open: true,
                frames: Vec::new(),
            },
        );
        let peer = Peer {
            conn,
            encoding: Encoding::Json,
        };
        if role == Role::Agent {
            self.router_cmd(RouterCmd::AgentConnected {
                user: user.into(),
                groups: Box::default(),
                peer,
            });
        }
        peer
    }

    /// An agent connected in `groups`.
    pub fn connect_agent_in(&mut self, user: &str, groups: &[&str]) -> Peer {
        let shard = self.next_conn as usize % self.shards();
        let conn = ConnId::new(shard, self.next_conn, 1);
        self.next_conn += 1;
        self.conns.insert(
            conn.0,
            Conn {
                user: user.to_owned(),
                role: Role::Agent,
                open: true,
                frames: Vec::new(),
            },
        );
        let peer = Peer {
            conn,
            encoding: Encoding::Json,
        };
        self.router_cmd(RouterCmd::AgentConnected {
            user: user.into(),
            groups: groups.iter().map(|g| Box::from(*g)).collect(),
            peer,
        });
        peer
    }

    /// The connection closes (frames to it fail from now on).
    pub fn disconnect(&mut self, peer: Peer) {
        let Some(conn) = self.conns.get_mut(&peer.conn.0) else {
            return;
        };
        conn.open = false;
        if conn.role == Role::Agent {
            let user = conn.user.clone().into();
            self.router_cmd(RouterCmd::AgentDisconnected {
                user,
                conn: peer.conn,
            });
        }
    }

    pub fn router_cmd(&mut self, cmd: RouterCmd) {
        self.mesh.push_back(Msg::Router(cmd));
    }

    pub fn home_cmd(&mut self, conv: u64, cmd: HomeCmd) {
        self.known.insert(conv);
        self.mesh.push_back(Msg::Home(conv, cmd));
    }

    fn user(&self, peer: Peer) -> (Box<str>, Role) {
        let conn = &self.conns[&peer.conn.0];
        (conn.user.as_str().into(), conn.role)
    }

    pub fn start(&mut self, visitor: Peer, vip: bool) {
        let (user, _) = self.user(visitor);
        self.router_cmd(RouterCmd::VisitorStart {
            visitor: user,
            vip,
            peer: visitor,
        });
    }

    pub fn say(&mut self, peer: Peer, conv: u64, id: &str, body: &str) {
        let (user, role) = self.user(peer);
        self.home_cmd(
            conv,
            HomeCmd::Send {
                peer,
                user,
                role,
                client_msg_id: id.into(),
                body: body.into(),
            },
        );
    }

    pub fn resume(&mut self, peer: Peer, conv: u64, after_seq: u64) {
        let (user, role) = self.user(peer);
        self.home_cmd(
            conv,
            HomeCmd::Attach {
                peer,
                user,
                role,
                after_seq: Some(after_seq),
            },
        );
    }

    pub fn status(&mut self, agent: Peer, status: AgentStatus, capacity: Option<u32>) {
        let (user, _) = self.user(agent);
        self.router_cmd(RouterCmd::AgentStatus {
            user,
            status,
            capacity,
        });
    }

    pub fn transfer(&mut self, agent: Peer, conv: u64, to: &str) {
        let (user, _) = self.user(agent);
        self.home_cmd(
            conv,
            HomeCmd::Transfer {
                peer: agent,
                user,
                to: to.into(),
            },
        );
    }

    pub fn answer_transfer(&mut self, agent: Peer, conv: u64, accept: bool) {
        let (user, _) = self.user(agent);
        self.router_cmd(RouterCmd::TransferAnswer {
            conv,
            agent: user,
            accept,
            peer: agent,
        });
    }

    pub fn end(&mut self, peer: Peer, conv: u64) {
        let (user, role) = self.user(peer);
        self.home_cmd(conv, HomeCmd::End { peer, user, role });
    }

    /// Delivers every message in flight, and everything they cause, in FIFO order.
    pub fn run(&mut self) {
        let mut steps = 0;
        while let Some(msg) = self.mesh.pop_front() {
            steps += 1;
            assert!(steps < 1_000_000, "the simulated node never settles");
            self.step(msg);
        }
    }

    fn step(&mut self, msg: Msg) {
        match msg {
            Msg::Router(cmd) => {
                let mut out = Vec::new();
                dispatch::run_router_cmd(&mut self.router, cmd, self.now_ms, &mut out);
                self.route(out);
            }
            Msg::Home(conv, cmd) => {
                self.known.insert(conv);
                let shard = (conv % self.shards() as u64) as usize;
                let mut out = Vec::new();
                let answer = self.homes[shard].run(conv, cmd, self.now_ms, &mut out);
                assert!(answer.is_none(), "no admin commands in the simulation");
                self.home_outputs(conv, out);
            }
            Msg::Frame(conn, payload) => self.deliver(conn, &payload),
        }
    }

    fn route(&mut self, out: Vec<RouterOutput>) {
        let mut routed = Vec::new();
        for output in out {
            dispatch::route_router_output(output, &mut routed);
        }
        for item in routed {
            match item {
                Routed::Home { conv, cmd } => self.home_cmd(conv, cmd),
                Routed::Frame { peer, payload, .. } => {
                    self.mesh.push_back(Msg::Frame(peer.conn, payload))
                }
                Routed::Unavailable { .. } => panic!("ids never run out on one node"),
            }
        }
    }

    fn home_outputs(&mut self, conv: u64, out: Vec<HomeOutput>) {
        for output in out {
            match output {
                HomeOutput::Frame { to, payload } => {
                    if self.conns.get(&to.0).is_some_and(|c| c.open) {
                        self.mesh.push_back(Msg::Frame(to, payload));
                    } else {
                        // As a shard does when a connection is gone.
                        self.home_cmd(conv, HomeCmd::Unfollow { conn: to });
                    }
                }
                HomeOutput::Router(note) => self.router_cmd(RouterCmd::Note(note)),
            }
        }
    }

    fn deliver(&mut self, conn: ConnId, payload: &[u8]) {
        let frame = self
            .decoder
            .decode_server(Encoding::Json, payload)
            .expect("the service encodes valid frames");
        if let Some(c) = self.conns.get_mut(&conn.0).filter(|c| c.open) {
            c.frames.push(frame);
        }
    }

    /// Time passes: the router's and every home's tick run, then the mesh settles.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        let mut out = Vec::new();
        self.router.tick(self.now_ms, &mut out);
        self.route(out);
        for shard in 0..self.shards() {
            let mut out = Vec::new();
            self.homes[shard].tick(self.now_ms, &mut out);
            for (conv, output) in out {
                self.home_outputs(conv, vec![output]);
            }
        }
        self.run();
    }

    pub fn frames(&self, peer: Peer) -> &[OwnedServerFrame] {
        &self.conns[&peer.conn.0].frames
    }

    /// The conversation ids this connection got a snapshot of, in order.
    pub fn convs_of(&self, peer: Peer) -> Vec<u64> {
        let mut convs = Vec::new();
        for frame in self.frames(peer) {
            if let OwnedServerFrame::Conversation { conv, .. } = frame {
                if !convs.contains(conv) {
                    convs.push(*conv);
                }
            }
        }
        convs
    }

    /// The ordered items (message, system) this connection got for `conv`, as
    /// (seq, short description).
    pub fn items(&self, peer: Peer, conv: u64) -> Vec<(u64, String)> {
        self.frames(peer)
            .iter()
            .filter_map(|f| match f {
                OwnedServerFrame::Message {
                    conv: c, seq, body, ..
                } if *c == conv => Some((*seq, format!("message {body}"))),
                OwnedServerFrame::System {
                    conv: c,
                    seq,
                    event,
                    agent,
                    reason,
                    ..
                } if *c == conv => Some((
                    *seq,
                    format!(
                        "{}{}{}",
                        event.as_str(),
                        agent.as_ref().map(|a| format!(" {a}")).unwrap_or_default(),
                        reason
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                )),
                _ => None,
            })
            .collect()
    }

    /// The `sent` acks this connection got: (conv, client_msg_id, seq).
    pub fn acks(&self, peer: Peer) -> Vec<(u64, String, u64)> {
        self.frames(peer)
            .iter()
            .filter_map(|f| match f {
                OwnedServerFrame::Sent {
                    conv,
                    client_msg_id,
                    seq,
                    ..
                } => Some((*conv, client_msg_id.clone(), *seq)),
                _ => None,
            })
            .collect()
    }

    /// The error codes this connection got.
    pub fn errors(&self, peer: Peer) -> Vec<String> {
        self.frames(peer)
            .iter()
            .filter_map(|f| match f {
                OwnedServerFrame::Error { code, .. } => Some(code.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn offers(&self, peer: Peer) -> Vec<u64> {
        self.frames(peer)
            .iter()
            .filter_map(|f| match f {
                OwnedServerFrame::TransferOffer { conv, .. } => Some(*conv),
                _ => None,
            })
            .collect()
    }
}
