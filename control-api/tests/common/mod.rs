//! An in-memory [`Engine`] for the server's tests, and raw-HTTP helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_control_api::model::*;
use switchboard_control_api::{serve, ApiError, ControlAuth, ControlServer, Engine};

pub const TOKEN: &str = "test-token-0123456789";
/// A conversation id whose lookup panics inside the engine.
pub const PANIC_ID: u64 = 666;

#[derive(Debug, Default)]
pub struct State {
    pub convs: BTreeMap<u64, (ConversationSummary, Vec<ConversationItem>)>,
    pub agents: BTreeMap<String, AgentView>,
    pub conns: BTreeMap<u64, String>,
    pub draining: bool,
    pub pin: Option<u8>,
    pub pushed: Vec<(String, PushEvent)>,
    pub kicked: Vec<(u64, String)>,
    /// What `GET /v1/nodes` answers; `None` answers like the trait's default (503).
    pub nodes: Option<NodesView>,
}

#[derive(Debug, Default)]
pub struct FakeEngine {
    pub state: Mutex<State>,
}

fn conv(
    id: u64,
    state: ConversationState,
    visitor: &str,
    agent: Option<&str>,
) -> ConversationSummary {
    ConversationSummary {
        id,
        state,
        visitor: visitor.into(),
        agent: agent.map(Into::into),
        transfer_to: None,
        vip: false,
        created_at_ms: 1_700_000_000_000,
        age_ms: id * 1000,
        idle_ms: 10,
        last_seq: 1,
        queue_position: (state == ConversationState::Waiting).then_some(1),
    }
}

fn agent(user: &str, conns: u32) -> AgentView {
    AgentView {
        user: user.into(),
        status: AgentStatus::Online,
        capacity: 3,
        weight: 1,
        groups: vec![],
        connections: conns,
        conversations: vec![],
        grace_left_ms: None,
    }
}

impl FakeEngine {
    /// Conversation 1 waiting (visitor v1), 2 served by a1 (visitor v2), 3 ended;
    /// agents a1 and a2; connections 10 (a1), 11 and 12 (v1).
    pub fn seeded() -> Arc<FakeEngine> {
        let engine = FakeEngine::default();
        {
            let mut s = engine.state.lock().unwrap();
            s.convs
                .insert(1, (conv(1, ConversationState::Waiting, "v1", None), vec![]));
            let items = vec![
                ConversationItem::System {
                    seq: 1,
                    ts: 1,
                    event: "assigned".into(),
                    agent: Some("a1".into()),
                    position: None,
                    reason: None,
                },
                ConversationItem::Message {
                    seq: 2,
                    ts: 2,
                    from: "v2".into(),
                    client_msg_id: "m1".into(),
                    body: "hello".into(),
                },
            ];
            s.convs.insert(
                2,
                (conv(2, ConversationState::Serving, "v2", Some("a1")), items),
            );
            s.convs
                .insert(3, (conv(3, ConversationState::Ended, "v3", None), vec![]));
            let mut a1 = agent("a1", 1);
            a1.conversations = vec![2];
            s.agents.insert("a1".into(), a1);
            s.agents.insert("a2".into(), agent("a2", 0));
            s.conns.insert(10, "a1".into());
            s.conns.insert(11, "v1".into());
            s.conns.insert(12, "v1".into());
            s.nodes = Some(cluster_nodes());
        }
        Arc::new(engine)
    }

    fn summary(&self, id: u64) -> Result<ConversationSummary, ApiError> {
        if id == PANIC_ID {
            panic!("fake engine panics on purpose");
        }
        let s = self.state.lock().unwrap();
        s.convs
            .get(&id)
            .map(|c| c.0.clone())
            .ok_or_else(|| ApiError::not_found(format!("conversation {id}")))
    }

    fn with_conv<T>(
        &self,
        id: u64,
        f: impl FnOnce(&mut State, u64) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.summary(id)?;
        let mut s = self.state.lock().unwrap();
        f(&mut s, id)
    }
}

/// A cluster of two nodes, `n1` (this one) and `n2`, on a Redis with a password.
pub fn cluster_nodes() -> NodesView {
    NodesView {
        mode: "cluster".into(),
        redis: Some(RedisStatusView {
            connected: true,
            url: "redis://:***@127.0.0.1:6379/".into(),
            last_error: None,
        }),
        nodes: vec![
            NodeView {
                name: "n1".into(),
                number: 1,
                listen: "127.0.0.1:8080".into(),
                control: Some("127.0.0.1:9090".into()),
                started_ms: 1_700_000_000_000,
                heartbeat_ms: 1_700_000_001_000,
                this_node: true,
                router: true,
            },
            NodeView {
                name: "n2".into(),
                number: 2,
                listen: "127.0.0.1:8081".into(),
                control: None,
                started_ms: 1_700_000_000_500,
                heartbeat_ms: 1_700_000_000_900,
                this_node: false,
                router: false,
            },
        ],
    }
}

impl Engine for FakeEngine {
    fn ready(&self) -> bool {
        !self.state.lock().unwrap().draining
    }

    fn node_stats(&self) -> Result<NodeStats, ApiError> {
        let s = self.state.lock().unwrap();
        Ok(NodeStats {
            version: "test".into(),
            uptime_ms: 1234,
            draining: s.draining,
            totals: NodeTotals {
                connections: s.conns.len() as u64,
                ..NodeTotals::default()
            },
            conversations: ConversationCounts::default(),
            queue_length: 1,
            shards: vec![
                ShardStats {
                    shard: 0,
                    connections: 2,
                    ..ShardStats::default()
                },
                ShardStats {
                    shard: 1,
                    connections: 1,
                    ..ShardStats::default()
                },
            ],
        })
    }

    fn metrics(&self) -> Result<String, ApiError> {
        Ok("# TYPE switchboard_connections gauge\nswitchboard_connections{shard=\"0\"} 2\n".into())
    }

    fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>, ApiError> {
        let s = self.state.lock().unwrap();
        Ok(s.convs
            .values()
            .map(|c| c.0.clone())
            .filter(|c| filter.state.is_none_or(|st| st == c.state))
            .filter(|c| filter.agent.is_none() || filter.agent == c.agent)
            .filter(|c| filter.min_age_ms.is_none_or(|m| c.age_ms >= m))
            .take(filter.limit)
            .collect())
    }

    fn conversation(&self, id: u64, recent: usize) -> Result<ConversationDetail, ApiError> {
        let summary = self.summary(id)?;
        let s = self.state.lock().unwrap();
        let items = &s.convs[&id].1;
        Ok(ConversationDetail {
            conversation: summary,
            items: items[items.len().saturating_sub(recent)..].to_vec(),
            followers: 1,
        })
    }

    fn assign(&self, id: u64, agent: &str) -> Result<ConversationSummary, ApiError> {
        self.with_conv(id, |s, id| {
            if !s.agents.contains_key(agent) {
                return Err(ApiError::not_found(format!("agent {agent}")));
            }
            let c = &mut s.convs.get_mut(&id).unwrap().0;
            if c.state == ConversationState::Ended {
                return Err(ApiError::conflict("the conversation ended"));
            }
            c.state = ConversationState::Serving;
            c.agent = Some(agent.into());
            c.queue_position = None;
            Ok(c.clone())
        })
    }

    fn transfer(&self, id: u64, to: &str, force: bool) -> Result<ConversationSummary, ApiError> {
        self.with_conv(id, |s, id| {
            if !s.agents.contains_key(to) {
                return Err(ApiError::not_found(format!("agent {to}")));
            }
            let c = &mut s.convs.get_mut(&id).unwrap().0;
            if c.state != ConversationState::Serving {
                return Err(ApiError::conflict("the conversation is not being served"));
            }
            if force {
                c.agent = Some(to.into());
            } else {
                c.state = ConversationState::Transferring;
                c.transfer_to = Some(to.into());
            }
            Ok(c.clone())
        })
    }

    fn end(&self, id: u64) -> Result<ConversationSummary, ApiError> {
        self.with_conv(id, |s, id| {
            let c = &mut s.convs.get_mut(&id).unwrap().0;
            if c.state == ConversationState::Ended {
                return Err(ApiError::conflict("the conversation already ended"));
            }
            c.state = ConversationState::Ended;
            Ok(c.clone())
        })
    }

    fn post_message(&self, id: u64, msg: &PostMessage) -> Result<PostedMessage, ApiError> {
        self.with_conv(id, |s, id| {
            let (c, items) = s.convs.get_mut(&id).unwrap();
            if c.state == ConversationState::Ended {
                return Err(ApiError::conflict("the conversation ended"));
            }
            let client_msg_id = msg.client_msg_id.clone().expect("the server fills it in");
            if let Some(seq) = items.iter().find_map(|i| match i {
                ConversationItem::Message {
                    seq,
                    client_msg_id: m,
                    ..
                } if *m == client_msg_id => Some(*seq),
                _ => None,
            }) {
                return Ok(PostedMessage {
                    conv: id,
                    seq,
                    ts: 5,
                    client_msg_id,
                    duplicate: true,
                });
            }
            c.last_seq += 1;
            let from = match &msg.from {
                Sender::System => "system".to_owned(),
                Sender::Bot(b) => format!("bot:{b}"),
            };
            items.push(ConversationItem::Message {
                seq: c.last_seq,
                ts: 5,
                from,
                client_msg_id: client_msg_id.clone(),
                body: msg.body.clone(),
            });
            Ok(PostedMessage {
                conv: id,
                seq: c.last_seq,
                ts: 5,
                client_msg_id,
                duplicate: false,
            })
        })
    }

    fn push_event(&self, user: &str, event: &PushEvent) -> Result<PushResult, ApiError> {
        let mut s = self.state.lock().unwrap();
        let connections = s.conns.values().filter(|u| *u == user).count() as u32;
        s.pushed.push((user.into(), event.clone()));
        Ok(PushResult {
            user: user.into(),
            connections,
        })
    }

    fn agents(&self) -> Result<Vec<AgentView>, ApiError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .agents
            .values()
            .cloned()
            .collect())
    }

    fn update_agent(&self, user: &str, patch: &AgentPatch) -> Result<AgentView, ApiError> {
        let mut s = self.state.lock().unwrap();
        let a = s
            .agents
            .get_mut(user)
            .ok_or_else(|| ApiError::not_found(format!("agent {user}")))?;
        if let Some(v) = patch.status {
            a.status = v;
        }
        if let Some(v) = patch.capacity {
            a.capacity = v;
        }
        if let Some(v) = patch.weight {
            a.weight = v;
        }
        if let Some(v) = &patch.groups {
            a.groups = v.clone();
        }
        Ok(a.clone())
    }

    fn kick_connection(&self, conn: u64, reason: &str) -> Result<KickResult, ApiError> {
        let mut s = self.state.lock().unwrap();
        if s.conns.remove(&conn).is_none() {
            return Err(ApiError::not_found(format!("connection {conn}")));
        }
        s.kicked.push((conn, reason.into()));
        Ok(KickResult { closed: 1 })
    }

    fn kick_user(&self, user: &str, reason: &str) -> Result<KickResult, ApiError> {
        let mut s = self.state.lock().unwrap();
        let ids: Vec<u64> = s
            .conns
            .iter()
            .filter(|(_, u)| *u == user)
            .map(|(c, _)| *c)
            .collect();
        for id in &ids {
            s.conns.remove(id);
            s.kicked.push((*id, reason.into()));
        }
        Ok(KickResult {
            closed: ids.len() as u32,
        })
    }

    fn drain(&self) -> Result<DrainStatus, ApiError> {
        self.state.lock().unwrap().draining = true;
        self.drain_status()
    }

    fn drain_status(&self) -> Result<DrainStatus, ApiError> {
        let s = self.state.lock().unwrap();
        Ok(DrainStatus {
            draining: s.draining,
            started_at_ms: s.draining.then_some(1),
            elapsed_ms: s.draining.then_some(2),
            connections_left: s.conns.len() as u64,
            done: s.draining && s.conns.is_empty(),
        })
    }

    fn degradation(&self) -> Result<DegradationView, ApiError> {
        let s = self.state.lock().unwrap();
        Ok(DegradationView {
            level: s.pin.unwrap_or(0),
            pinned: s.pin.is_some(),
            cause: s.pin.map(|_| "pinned".to_owned()),
        })
    }

    fn set_degradation(&self, pin: Option<u8>) -> Result<DegradationView, ApiError> {
        self.state.lock().unwrap().pin = pin;
        self.degradation()
    }

    fn nodes(&self) -> Result<NodesView, ApiError> {
        self.state
            .lock()
            .unwrap()
            .nodes
            .clone()
            .ok_or_else(|| ApiError::unavailable("node listing is not available"))
    }
}

/// A server on a free loopback port with the fake engine.
pub fn start(token: Option<&str>) -> (ControlServer, Arc<FakeEngine>) {
    let engine = FakeEngine::seeded();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(
        listener,
        engine.clone(),
        ControlAuth {
            token: token.map(Into::into),
        },
    )
    .unwrap();
    (server, engine)
}

/// One parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads exactly one answer (Content-Length framed) from `stream`, byte by byte in the
/// head so a pipelined second answer stays in the socket.
pub fn read_answer(stream: &mut TcpStream) -> Answer {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let k = stream.read(&mut byte).expect("read");
        assert!(
            k > 0,
            "eof before the answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    assert!(parsed.parse(&buf).unwrap().is_complete());
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let status = parsed.code.unwrap();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends raw bytes on a new connection and reads one answer.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes).unwrap();
    read_answer(&mut stream)
}

/// One request with the test token (when `token`) on a new connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Answer {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        text.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        text.push_str("\r\n");
    }
    raw(addr, text.as_bytes())
}

/// `request` with the test token.
pub fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Answer {
    request(addr, method, path, body, Some(TOKEN))
}
