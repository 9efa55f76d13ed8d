//! The chat scenarios' accounting against a small test server that speaks just enough
//! of `/v1/ws` (JSON): welcome, start → assignment round-robin to the connected agents,
//! send → sent + message with one seq per conversation, resume → snapshot + replay.
//! Honest, it must give clean runs; told to drop, repeat or reorder the 10th line of
//! every conversation and direction, to drop an ack, or to replay one item too many on
//! resume, the loadgen must report exactly that. Started with two listeners over one
//! state (two "nodes" of one cluster), it checks that `--agent-url` puts the agents
//! on the second one and the visitors on the first.

mod common;
use common::loadgen;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard_protocol::chat::{
    encode_server, ClientFrame, ConversationState, Decoder, Encoding, Role, ServerFrame, SystemKind,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// How the test server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Never deliver the 10th line of each conversation and direction (it is acked).
    DropTenth,
    /// Deliver the 10th line twice.
    RepeatTenth,
    /// Deliver the 10th line after the 11th.
    SwapTenthAndEleventh,
    /// Never ack the 10th line of each conversation and direction (it is delivered).
    DropTenthAck,
    /// Refuse the 10th line of each conversation and direction with `error
    /// rate_limited` (as the engine does under pressure): no ack, no delivery.
    RateLimitTenth,
    /// On resume, replay from `after_seq` itself instead of the item after it.
    ReplayOneTooMany,
    /// Close the first 3 TCP connections at once, without an upgrade (as a server
    /// shedding load at accept does).
    ShedFirstThree,
}

#[derive(Default)]
struct Shared {
    fault: Option<Fault>,
    next_conn: u64,
    peers: HashMap<u64, UnboundedSender<Vec<u8>>>,
    agents: Vec<(u64, String)>,
    next_agent: usize,
    next_conv: u64,
    convs: HashMap<u64, Conv>,
    /// Which listener (node) each upgraded connection came through, and as whom:
    /// (node, is_agent).
    arrivals: Vec<(usize, bool)>,
}

struct Conv {
    visitor: String,
    agent: String,
    visitor_conn: Option<u64>,
    agent_conn: u64,
    seq: u64,
    /// Every ordered item as encoded for the visitor, with its seq.
    history: Vec<(u64, Vec<u8>)>,
    counts: [u64; 2],
    held: [Option<Vec<u8>>; 2],
}

fn encode(frame: &ServerFrame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_server(Encoding::Json, frame, &mut out);
    out
}

fn system(conv: u64, seq: u64, event: SystemKind, agent: Option<&str>) -> Vec<u8> {
    encode(&ServerFrame::System {
        conv,
        seq,
        ts: 1,
        event,
        agent,
        position: None,
        reason: None,
    })
}

impl Shared {
    fn to(&self, conn: Option<u64>, frame: Vec<u8>) {
        if let Some(tx) = conn.and_then(|c| self.peers.get(&c)) {
            let _ = tx.send(frame);
        }
    }

    fn start(&mut self, conn: u64, visitor: &str) {
        let (agent_conn, agent) = self.agents[self.next_agent % self.agents.len()].clone();
        self.next_agent += 1;
        self.next_conv += 1;
        let id = self.next_conv;
        let created = system(id, 1, SystemKind::Created, None);
        let assigned = system(id, 2, SystemKind::Assigned, Some(&agent));
        let snapshot = |state, agent: Option<&str>, last_seq| {
            encode(&ServerFrame::Conversation {
                conv: id,
                state,
                visitor,
                agent,
                last_seq,
            })
        };
        self.to(Some(conn), snapshot(ConversationState::Waiting, None, 0));
        self.to(Some(conn), created.clone());
        self.to(Some(conn), assigned.clone());
        self.to(
            Some(agent_conn),
            snapshot(ConversationState::Serving, Some(&agent), 2),
        );
        self.to(Some(agent_conn), created.clone());
        self.to(Some(agent_conn), assigned.clone());
        self.convs.insert(
            id,
            Conv {
                visitor: visitor.to_owned(),
                agent,
                visitor_conn: Some(conn),
                agent_conn,
                seq: 2,
                history: vec![(1, created), (2, assigned)],
                counts: [0; 2],
                held: [None, None],
            },
        );
    }

    fn send(&mut self, conn: u64, from_agent: bool, id: u64, client_msg_id: &str, body: &str) {
        let fault = self.fault;
        let Some(conv) = self.convs.get_mut(&id) else {
            return;
        };
        let dir = usize::from(from_agent);
        conv.counts[dir] += 1;
        let n = conv.counts[dir];
        conv.seq += 1;
        let seq = conv.seq;
        let from = if from_agent {
            conv.agent.clone()
        } else {
            conv.visitor.clone()
        };
        let message = encode(&ServerFrame::Message {
            conv: id,
            seq,
            ts: 1,
            from: &from,
            client_msg_id,
            body,
        });
        conv.history.push((seq, message.clone()));
        let other = if from_agent {
            conv.visitor_conn
        } else {
            Some(conv.agent_conn)
        };
        if fault == Some(Fault::RateLimitTenth) && n == 10 {
            conv.history.pop();
            conv.seq -= 1;
            let refusal = encode(&ServerFrame::Error {
                code: "rate_limited",
                message: "too many lines",
            });
            return self.to(Some(conn), refusal);
        }
        let mut deliveries = vec![message];
        match (fault, n) {
            (Some(Fault::DropTenth), 10) => deliveries.clear(),
            (Some(Fault::RepeatTenth), 10) => deliveries.push(deliveries[0].clone()),
            (Some(Fault::SwapTenthAndEleventh), 10) => conv.held[dir] = deliveries.pop(),
            (Some(Fault::SwapTenthAndEleventh), 11) => deliveries.extend(conv.held[dir].take()),
            _ => {}
        }
        let ack = encode(&ServerFrame::Sent {
            conv: id,
            client_msg_id,
            seq,
            ts: 1,
        });
        if !(fault == Some(Fault::DropTenthAck) && n == 10) {
            self.to(Some(conn), ack);
        }
        for frame in deliveries {
            self.to(other, frame);
        }
    }

    fn resume(&mut self, conn: u64, id: u64, after_seq: u64) {
        let first = if self.fault == Some(Fault::ReplayOneTooMany) {
            after_seq
        } else {
            after_seq + 1
        };
        let Some(conv) = self.convs.get_mut(&id) else {
            return;
        };
        conv.visitor_conn = Some(conn);
        let mut frames = vec![encode(&ServerFrame::Conversation {
            conv: id,
            state: ConversationState::Serving,
            visitor: &conv.visitor,
            agent: Some(&conv.agent),
            last_seq: conv.seq,
        })];
        frames.extend(
            conv.history
                .iter()
                .filter(|(seq, _)| *seq >= first)
                .map(|(_, f)| f.clone()),
        );
        for frame in frames {
            self.to(Some(conn), frame);
        }
    }
}

/// Starts a test server on its own thread; returns its address.
fn start_server(fault: Option<Fault>) -> SocketAddr {
    start_nodes(fault, 1).0[0]
}

/// Starts a test server with `nodes` listeners over one state (as the nodes of one
/// cluster), each on its own thread; returns their addresses and the state.
fn start_nodes(fault: Option<Fault>, nodes: usize) -> (Vec<SocketAddr>, Arc<Mutex<Shared>>) {
    let shared = Arc::new(Mutex::new(Shared {
        fault,
        ..Default::default()
    }));
    let addrs = (0..nodes)
        .map(|node| listen(node, fault, shared.clone()))
        .collect();
    (addrs, shared)
}

/// One listener (`node`) of the test server on its own thread.
fn listen(node: usize, fault: Option<Fault>, shared: Arc<Mutex<Shared>>) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let mut shed = if fault == Some(Fault::ShedFirstThree) {
                3
            } else {
                0
            };
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                if shed > 0 {
                    shed -= 1;
                    drop(stream);
                    continue;
                }
                tokio::spawn(connection(node, stream, shared.clone()));
            }
        });
    });
    addr
}

async fn connection(node: usize, stream: tokio::net::TcpStream, shared: Arc<Mutex<Shared>>) {
    let mut token = String::new();
    // The error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let query = request.uri().query().unwrap_or("");
        token = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .unwrap_or("")
            .to_owned();
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            Encoding::JSON_SUBPROTOCOL.parse().unwrap(),
        );
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let text = String::from_utf8(frame).unwrap();
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
    let (is_agent, user) = match token.strip_prefix("agent:") {
        Some(user) => (true, user.to_owned()),
        None => (false, token.clone()),
    };
    let conn = {
        let mut s = shared.lock().unwrap();
        s.next_conn += 1;
        let conn = s.next_conn;
        s.peers.insert(conn, tx.clone());
        s.arrivals.push((node, is_agent));
        if is_agent {
            s.agents.push((conn, user.clone()));
        }
        let _ = tx.send(encode(&ServerFrame::Welcome {
            conn,
            shard: 0,
            user: &user,
            role: if is_agent { Role::Agent } else { Role::Visitor },
        }));
        conn
    };
    let mut decoder = Decoder::default();
    while let Some(Ok(message)) = source.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = decoder.decode_client(Encoding::Json, text.as_bytes()) else {
            continue;
        };
        let mut s = shared.lock().unwrap();
        match frame {
            ClientFrame::Start => s.start(conn, &user),
            ClientFrame::Send {
                conv,
                client_msg_id,
                body,
            } => s.send(conn, is_agent, conv, &client_msg_id, &body),
            ClientFrame::Resume { conv, after_seq } => s.resume(conn, conv, after_seq),
            _ => {}
        }
    }
    let mut s = shared.lock().unwrap();
    s.peers.remove(&conn);
    for conv in s.convs.values_mut() {
        if conv.visitor_conn == Some(conn) {
            conv.visitor_conn = None;
        }
    }
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/v1/ws")
}

/// 6 conversations, 2 agents, 600 lines/s both ways: each conversation and direction
/// gets about 50 lines a second, well past the 11th.
fn chat(fault: Option<Fault>, extra: &[&str]) -> (i32, Value) {
    let url = url(start_server(fault));
    let mut args = vec!["--url", url.as_str()];
    args.extend_from_slice(extra);
    small_chat(&args)
}

const CHECKS: [&str; 15] = [
    "connections_failed",
    "closed_early",
    "lost",
    "acked_lost",
    "rate_limited",
    "duplicated",
    "out_of_order",
    "unacked",
    "ack_duplicated",
    "ack_out_of_order",
    "corrupt",
    "seq_errors",
    "gaps",
    "error_frames",
    "unknown_conversation",
];

/// Every check is 0 except those in `expected`, which have exactly their value.
fn assert_counts(code: i32, report: &Value, expected: &[(&str, u64)]) {
    for field in CHECKS {
        let want = expected
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(0, |(_, n)| *n);
        assert_eq!(report[field], want, "{field} in {report:#}");
    }
    let count = |field: &str| {
        expected
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(0, |(_, n)| *n)
    };
    // Refused lines are neither acked nor delivered: exactly that many is clean.
    let refused = count("rate_limited");
    let clean = expected.iter().all(|(field, n)| {
        *n == 0 || (matches!(*field, "lost" | "unacked" | "rate_limited") && *n == refused)
    });
    assert_eq!(report["clean"], clean, "{report:#}");
    assert_eq!(code, if clean { 0 } else { 1 }, "{report:#}");
    assert_eq!(report["conversations_assigned"], 6, "{report:#}");
    assert!(report["sent"].as_u64().unwrap() > 6 * 2 * 11, "{report:#}");
}

#[test]
fn an_honest_server_gives_a_clean_chat_run() {
    let (code, report) = chat(None, &["--source-ip-count", "2"]);
    assert_counts(code, &report, &[]);
    assert_eq!(report["sent"], report["delivered"]);
    assert_eq!(report["sent"], report["acked"]);
    assert!(report["latency"]["p50_us"].as_f64().unwrap() > 0.0);
    assert!(report["ack_latency"]["count"].as_u64().unwrap() > 0);
    // About 600 lines/s offered, all delivered.
    let rate = report["delivered_per_sec"].as_f64().unwrap();
    assert!((450.0..=750.0).contains(&rate), "{report:#}");
}

#[test]
fn one_direction_only_is_clean_too() {
    let (code, report) = chat(None, &["--direction", "to-agent"]);
    assert_counts(code, &report, &[]);
}

#[test]
fn a_dropped_line_is_lost_once_per_conversation_and_direction() {
    let (code, report) = chat(Some(Fault::DropTenth), &[]);
    assert_counts(code, &report, &[("lost", 12), ("acked_lost", 12)]);
}

#[test]
fn rate_limited_lines_are_counted_and_explain_exactly_the_unacked_and_lost() {
    let (code, report) = chat(Some(Fault::RateLimitTenth), &[]);
    assert_counts(
        code,
        &report,
        &[("rate_limited", 12), ("lost", 12), ("unacked", 12)],
    );
}

#[test]
fn a_repeated_line_is_a_duplicate_and_a_seq_error() {
    let (code, report) = chat(Some(Fault::RepeatTenth), &[]);
    assert_counts(code, &report, &[("duplicated", 12), ("seq_errors", 12)]);
}

#[test]
fn a_swapped_pair_is_one_line_out_of_order_and_a_seq_error() {
    let (code, report) = chat(Some(Fault::SwapTenthAndEleventh), &[]);
    assert_counts(code, &report, &[("out_of_order", 12), ("seq_errors", 12)]);
}

#[test]
fn a_missing_ack_is_reported() {
    let (code, report) = chat(Some(Fault::DropTenthAck), &[]);
    assert_counts(code, &report, &[("unacked", 12)]);
}

#[test]
fn connections_shed_at_accept_are_retried_and_counted() {
    let (code, report) = chat(Some(Fault::ShedFirstThree), &[]);
    assert_counts(code, &report, &[]);
    assert_eq!(report["connect_retries"], 3, "{report:#}");
    assert_eq!(report["connections_ok"], 8, "{report:#}");
}

/// A short chat run of 6 visitors and 2 agents at 600 lines/s, with `extra` flags.
fn small_chat(extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["chat"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--visitors",
        "6",
        "--agents",
        "2",
        "--rate",
        "600",
        "--duration",
        "1s",
        "--warmup",
        "300ms",
        "--drain",
        "1s",
    ]);
    loadgen(&args)
}

#[test]
fn agent_url_puts_the_agents_on_another_node() {
    let (addrs, shared) = start_nodes(None, 2);
    let (visitor_url, agent_url) = (url(addrs[0]), url(addrs[1]));
    // This test process serves both "nodes": its CPU is reported with --cpu-pid.
    let me = std::process::id().to_string();
    let (code, report) = small_chat(&[
        "--url",
        &visitor_url,
        "--agent-url",
        &agent_url,
        "--cpu-pid",
        &me,
    ]);
    assert_counts(code, &report, &[]);
    assert_eq!(report["url"], visitor_url.as_str(), "{report:#}");
    assert_eq!(report["agent_url"], agent_url.as_str(), "{report:#}");
    let other = report["other_cpu"].as_array().unwrap();
    assert_eq!(other.len(), 1, "{report:#}");
    assert_eq!(other[0]["pid"].to_string(), me, "{report:#}");
    assert!(
        other[0]["cpu_seconds"].as_f64().unwrap() >= 0.0,
        "{report:#}"
    );
    let mut arrivals = shared.lock().unwrap().arrivals.clone();
    arrivals.sort_unstable();
    // Visitors (not agents) on node 0, agents on node 1, nothing else.
    let expected: Vec<(usize, bool)> = std::iter::repeat_n((0, false), 6)
        .chain(std::iter::repeat_n((1, true), 2))
        .collect();
    assert_eq!(arrivals, expected, "{report:#}");
}

#[test]
fn without_agent_url_everyone_is_on_the_one_url() {
    let (addrs, shared) = start_nodes(None, 2);
    let only = url(addrs[0]);
    let (code, report) = small_chat(&["--url", &only]);
    assert_counts(code, &report, &[]);
    assert_eq!(report["agent_url"], only.as_str(), "{report:#}");
    assert_eq!(report["other_cpu"], serde_json::json!([]), "{report:#}");
    let arrivals = shared.lock().unwrap().arrivals.clone();
    assert_eq!(arrivals.len(), 8, "{report:#}");
    assert!(arrivals.iter().all(|&(node, _)| node == 0), "{arrivals:?}");
}

#[test]
fn hdr_and_plot_files_are_written() {
    let dir = std::env::temp_dir().join(format!("loadgen-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hgrm = dir.join("chat.hgrm");
    let svg = dir.join("chat.svg");
    let (code, report) = chat(
        None,
        &[
            "--hdr-file",
            hgrm.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
        ],
    );
    assert_counts(code, &report, &[]);
    let text = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        text.contains("Percentile") && text.contains("#[Max"),
        "{text}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg") && plot.contains("percentile"),
        "{plot:.200}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn storm(fault: Option<Fault>) -> (i32, Value) {
    let url = url(start_server(fault));
    loadgen(&[
        "storm",
        "--url",
        &url,
        "--visitors",
        "20",
        "--agents",
        "2",
        "--control",
        "4",
        "--rate",
        "480",
        "--drop-at",
        "1s",
        "--after",
        "500ms",
        "--drain",
        "1s",
        "--source-ip-count",
        "2",
    ])
}

#[test]
fn an_honest_server_resumes_every_visitor_after_a_storm() {
    let (code, report) = storm(None);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["clean"], true);
    let s = &report["storm"];
    assert_eq!(s["dropped"], 20, "{report:#}");
    assert_eq!(s["resumed"], 20, "{report:#}");
    assert_eq!(s["not_resumed"], 0, "{report:#}");
    assert!(
        s["control_during"]["count"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(report["sent"], report["delivered"], "{report:#}");
    assert_eq!(report["connections_ok"], 2 + 24 + 20, "{report:#}");
}

#[test]
fn a_replay_of_one_item_too_many_is_a_duplicate_per_resumed_visitor() {
    let (code, report) = storm(Some(Fault::ReplayOneTooMany));
    assert_eq!(code, 1, "{report:#}");
    // Each resumed visitor gets the line it already had again.
    assert_eq!(report["duplicated"], 20, "{report:#}");
    assert_eq!(report["seq_errors"], 20, "{report:#}");
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["storm"]["resumed"], 20, "{report:#}");
}
