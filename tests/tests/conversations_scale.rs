//! Issue 3 over the wire at scale: 1,000 concurrent conversations on 2 shards.
//!
//! 1,000 visitor connections (half JSON, half binary) and 20 agents with capacity 50
//! (half JSON, half binary). Every visitor starts a conversation and, once assigned,
//! sends N lines at once; every agent answers each line as it arrives. Checked per
//! conversation and per connection: every ordered item (`system`, `message`, the
//! sender's own `sent`) has the next seq — strictly increasing with no gap — and every
//! line arrives exactly once on the other side, under the seq its sender was given.
//!
//! One thread drives all 1,020 sockets: non-blocking tungstenite sockets and `poll(2)`,
//! so the client costs little CPU next to the server on a shared 2-CPU machine.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use switchboard_protocol::chat::{
    self, ClientFrame, Decoder, Encoding, OwnedServerFrame, SystemKind,
};
use switchboard_tests::chat_client::{agent, Client};
use switchboard_tests::{Server, WsClient};
use tungstenite::Message;

const VISITORS: usize = 1000;
const AGENTS: usize = 20;
const CAPACITY: usize = 50;
const LINES: usize = 20;
const BOUND: Duration = Duration::from_secs(60);

/// One socket of the run, visitor or agent.
struct Peer {
    ws: WsClient,
    encoding: Encoding,
    decoder: Decoder,
    user: String,
    agent: bool,
    /// Last ordered seq seen per conversation (this connection's own view).
    last: HashMap<u64, u64>,
    /// Visitor: its conversation and the agent serving it.
    conv: Option<u64>,
    served_by: Option<String>,
    /// Lines this connection sent, by client id: the seq its `sent` gave.
    sent: HashMap<String, u64>,
    /// Lines received from the other side, by client id: (conv, seq).
    received: HashMap<String, (u64, u64)>,
    /// Agent: conversations assigned to it.
    convs: HashSet<u64>,
    failure: Option<String>,
    flush_pending: bool,
}

impl Peer {
    fn new(client: Client, agent: bool) -> Peer {
        client
            .ws
            .get_ref()
            .set_nonblocking(true)
            .expect("non-blocking socket");
        Peer {
            user: client.user.clone(),
            encoding: client.encoding,
            ws: client.ws,
            decoder: Decoder::default(),
            agent,
            last: HashMap::new(),
            conv: None,
            served_by: None,
            sent: HashMap::new(),
            received: HashMap::new(),
            convs: HashSet::new(),
            failure: None,
            flush_pending: false,
        }
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(format!("{}: {why}", self.user));
        }
    }

    fn send(&mut self, frame: &ClientFrame<'_>) {
        let mut payload = Vec::new();
        chat::encode_client(self.encoding, frame, &mut payload);
        let message = match self.encoding {
            Encoding::Json => Message::text(String::from_utf8(payload).unwrap()),
            Encoding::Binary => Message::binary(payload),
        };
        match self.ws.send(message) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {
                self.flush_pending = true
            }
            Err(err) => self.fail(format!("send failed: {err}")),
        }
    }

    fn flush(&mut self) {
        match self.ws.flush() {
            Ok(()) => self.flush_pending = false,
            Err(tungstenite::Error::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => self.fail(format!("flush failed: {err}")),
        }
    }

    /// An ordered item of `conv` with `seq`: must be the next one.
    fn ordered(&mut self, conv: u64, seq: u64, what: &str) {
        match self.last.get_mut(&conv) {
            Some(last) if seq == *last + 1 => *last = seq,
            Some(last) => {
                let last = *last;
                self.fail(format!(
                    "conv {conv}: {what} seq {seq} after {last} (gap, duplicate or reorder)"
                ))
            }
            None => self.fail(format!("conv {conv}: {what} seq {seq} before any snapshot")),
        }
    }

    /// Reads everything available (a failure is recorded in `failure`).
    fn pump(&mut self) {
        loop {
            let message = match self.ws.read() {
                Ok(message) => message,
                Err(tungstenite::Error::Io(err))
                    if err.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    return
                }
                Err(err) => return self.fail(format!("read failed: {err}")),
            };
            let payload = match message {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(data) => data.to_vec(),
                Message::Close(close) => return self.fail(format!("closed by server: {close:?}")),
                _ => continue,
            };
            match self.decoder.decode_server(self.encoding, &payload) {
                Ok(frame) => self.on_frame(frame),
                Err(err) => return self.fail(format!("undecodable frame: {err}")),
            }
        }
    }

    fn on_frame(&mut self, frame: OwnedServerFrame) {
        match frame {
            OwnedServerFrame::Conversation {
                conv,
                agent,
                last_seq,
                ..
            } => {
                // A snapshot is followed by the replay of the whole history (from 1).
                if self.last.insert(conv, 0).is_some() {
                    self.fail(format!("second snapshot of conv {conv}"));
                }
                if self.agent {
                    if agent.as_deref() != Some(self.user.as_str()) {
                        self.fail(format!("snapshot of conv {conv} served by {agent:?}"));
                    }
                    if last_seq < 2 {
                        self.fail(format!(
                            "agent snapshot of conv {conv} with last_seq {last_seq}"
                        ));
                    }
                    self.convs.insert(conv);
                } else {
                    self.conv = Some(conv);
                }
            }
            OwnedServerFrame::System {
                conv,
                seq,
                event,
                agent,
                ..
            } => {
                self.ordered(conv, seq, "system");
                match event {
                    SystemKind::Assigned if !self.agent => {
                        self.served_by = agent;
                        for k in 0..LINES {
                            let id = format!("{}-{k}", self.user);
                            self.send(&ClientFrame::Send {
                                conv,
                                client_msg_id: id.as_str().into(),
                                body: format!("visitor line {k} of {}", self.user).into(),
                            });
                        }
                    }
                    SystemKind::Created | SystemKind::Assigned => {}
                    other => self.fail(format!("unexpected system {other} in conv {conv}")),
                }
            }
            OwnedServerFrame::Sent {
                conv,
                client_msg_id,
                seq,
                ..
            } => {
                self.ordered(conv, seq, "sent");
                if self.sent.insert(client_msg_id.clone(), seq).is_some() {
                    self.fail(format!("two `sent` for {client_msg_id}"));
                }
            }
            OwnedServerFrame::Message {
                conv,
                seq,
                from,
                client_msg_id,
                body,
                ..
            } => {
                self.ordered(conv, seq, "message");
                if from == self.user {
                    self.fail(format!("own line {client_msg_id} echoed as a message"));
                }
                if self
                    .received
                    .insert(client_msg_id.clone(), (conv, seq))
                    .is_some()
                {
                    self.fail(format!("line {client_msg_id} delivered twice"));
                }
                if self.agent {
                    let want = format!(
                        "visitor line {} of {from}",
                        client_msg_id.rsplit('-').next().unwrap_or("")
                    );
                    if body != want {
                        self.fail(format!("body {body:?} for {client_msg_id}"));
                    }
                    let reply = format!("re-{client_msg_id}");
                    self.send(&ClientFrame::Send {
                        conv,
                        client_msg_id: reply.as_str().into(),
                        body: format!("answer to {client_msg_id}").into(),
                    });
                }
            }
            other => self.fail(format!("unexpected frame {other:?}")),
        }
    }

    fn done(&self) -> bool {
        if self.agent {
            self.convs.len() == CAPACITY
                && self.received.len() == CAPACITY * LINES
                && self.sent.len() == CAPACITY * LINES
        } else {
            self.sent.len() == LINES && self.received.len() == LINES
        }
    }
}

#[test]
fn a_thousand_concurrent_conversations_keep_order_and_lose_nothing() {
    let started = Instant::now();
    let server = Server::start(&[
        "--shards",
        "2",
        "--agent-capacity",
        &CAPACITY.to_string(),
        "--close-timeout-ms",
        "1000",
    ]);
    let mut peers: Vec<Peer> = Vec::with_capacity(VISITORS + AGENTS);
    for i in 0..AGENTS {
        let encoding = if i % 2 == 0 {
            Encoding::Json
        } else {
            Encoding::Binary
        };
        let client = agent(&server, &format!("agent:agent-{i:02}"), encoding);
        peers.push(Peer::new(client, true));
    }
    for i in 0..VISITORS {
        let encoding = if i % 2 == 0 {
            Encoding::Binary
        } else {
            Encoding::Json
        };
        let client = Client::connect(&server, &format!("visitor-{i:04}"), encoding);
        peers.push(Peer::new(client, false));
    }
    let connected = started.elapsed();
    for peer in peers.iter_mut().filter(|p| !p.agent) {
        peer.send(&ClientFrame::Start);
    }
    let deadline = started + BOUND;
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(peers.len());
    loop {
        if let Some(failure) = peers.iter().find_map(|p| p.failure.clone()) {
            panic!("{failure}");
        }
        let done = peers.iter().filter(|p| p.done()).count();
        if done == peers.len() {
            break;
        }
        if Instant::now() >= deadline {
            let visitors_done = peers.iter().filter(|p| !p.agent && p.done()).count();
            let unassigned = peers
                .iter()
                .filter(|p| !p.agent && p.served_by.is_none())
                .count();
            panic!(
                "not finished within {BOUND:?}: {done}/{} connections done, {visitors_done}/{VISITORS} visitors, {unassigned} never assigned",
                peers.len()
            );
        }
        fds.clear();
        for peer in &peers {
            let mut events = libc::POLLIN;
            if peer.flush_pending {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: peer.ws.get_ref().as_raw_fd(),
                events,
                revents: 0,
            });
        }
        if let Err(err) = switchboard_driver::os::poll_fds(&mut fds, 100) {
            assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "poll: {err}");
            continue;
        }
        for (peer, fd) in peers.iter_mut().zip(&fds) {
            if fd.revents & libc::POLLOUT != 0 {
                peer.flush();
            }
            if fd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                peer.pump();
            }
        }
    }
    let finished = started.elapsed();

    // Cross-check both sides of every conversation.
    let by_user: HashMap<&str, &Peer> = peers.iter().map(|p| (p.user.as_str(), p)).collect();
    let mut per_agent: HashMap<&str, usize> = HashMap::new();
    let mut convs = HashSet::new();
    for v in peers.iter().filter(|p| !p.agent) {
        let conv = v.conv.expect("every visitor has a conversation");
        assert!(
            convs.insert(conv),
            "conversation {conv} given to two visitors"
        );
        let agent_name = v.served_by.as_deref().expect("assigned");
        *per_agent.entry(agent_name).or_default() += 1;
        let a = by_user[agent_name];
        assert!(
            a.convs.contains(&conv),
            "{agent_name} never got conv {conv}"
        );
        for k in 0..LINES {
            let id = format!("{}-{k}", v.user);
            let seq = v.sent[&id];
            assert_eq!(
                a.received.get(&id),
                Some(&(conv, seq)),
                "line {id}: the visitor was told seq {seq}"
            );
            let reply = format!("re-{id}");
            let seq = a.sent[&reply];
            assert_eq!(
                v.received.get(&reply),
                Some(&(conv, seq)),
                "answer {reply}: the agent was told seq {seq}"
            );
        }
        // created, assigned, then 2 × LINES lines: the visitor saw all of them.
        assert_eq!(v.last[&conv], 2 + 2 * LINES as u64, "{}", v.user);
    }
    assert_eq!(convs.len(), VISITORS);
    assert_eq!(per_agent.len(), AGENTS);
    assert!(
        per_agent.values().all(|&n| n == CAPACITY),
        "uneven load: {per_agent:?}"
    );
    let lines = VISITORS * LINES * 2;
    eprintln!(
        "{VISITORS} conversations, {lines} lines: connected in {connected:?}, finished in {finished:?} ({:.0} lines/s after connecting)",
        lines as f64 / (finished - connected).as_secs_f64()
    );
}
