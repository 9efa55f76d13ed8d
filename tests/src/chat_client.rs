//! A typed chat client of `/v1/ws` for the conversation tests (issue 3).
//!
//! [`Client`] speaks either encoding (`switchboard.v1.json` text messages or
//! `switchboard.v1.bin` rkyv binary messages) over tungstenite, sends
//! [`ClientFrame`]s and decodes every server message into an [`OwnedServerFrame`]. It
//! keeps every frame it ever received in [`Client::log`], so a failing assertion can
//! show the whole conversation as that client saw it.
//!
//! Reading is strict by default ([`Client::next`]: the very next frame), with
//! [`Client::wait_for`] for the places where other frames may legitimately come first
//! (queue positions, ephemeral events); frames skipped that way are kept in the log.
//!
//! [`Client::router_barrier`] is the black-box way to know the router (shard 0) has
//! processed everything an agent connection sent so far (its `AgentConnected` and any
//! `agent_status`): a `decline_transfer` for a conversation that does not exist goes to
//! the router first, then to the conversation's home, which answers
//! `unknown_conversation`. Commands from one connection reach the router in order, so
//! once that error is back, the earlier ones have been applied.

use std::time::{Duration, Instant};

use switchboard_protocol::chat::{
    self, AgentStatus, ClientFrame, ConversationState, Decoder, Encoding, OwnedServerFrame, Role,
    SystemKind,
};
use tungstenite::Message;

use crate::{ws_read, Deadline, Server, WsClient, IO_TIMEOUT};

/// A conversation id no test ever reaches, for [`Client::router_barrier`].
pub const NO_SUCH_CONV: u64 = 9_000_000_001;

/// How a client authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No token at all.
    None,
    /// `?token=...` in the URL.
    Query(&'a str),
    /// `Authorization: Bearer ...`.
    Bearer(&'a str),
}

/// A chat client of `/v1/ws`.
#[derive(Debug)]
pub struct Client {
    /// The socket.
    pub ws: WsClient,
    /// The encoding negotiated.
    pub encoding: Encoding,
    /// `welcome.conn`.
    pub conn: u64,
    /// `welcome.shard`.
    pub shard: u16,
    /// `welcome.user`.
    pub user: String,
    /// `welcome.role`.
    pub role: Role,
    /// Every frame received, in order (the welcome included).
    pub log: Vec<OwnedServerFrame>,
    /// A name for messages (`visitor v1`, `agent-b`, ...).
    pub name: String,
    decoder: Decoder,
    /// Frames read but not consumed yet (by [`Client::wait_for`]).
    pending: std::collections::VecDeque<OwnedServerFrame>,
}

/// Why a connection was refused at upgrade.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The response body (lossy text).
    pub body: String,
}

impl Client {
    /// Connects with a dev-authenticator or JWT token in `?token=` (panics on refusal).
    pub fn connect(server: &Server, token: &str, encoding: Encoding) -> Client {
        Client::connect_auth(server, Auth::Query(token), encoding)
    }

    /// Connects with the given authentication (panics on refusal).
    pub fn connect_auth(server: &Server, auth: Auth<'_>, encoding: Encoding) -> Client {
        match Client::try_connect(server, auth, encoding) {
            Ok(client) => client,
            Err(refused) => panic!("/v1/ws refused ({auth:?}): {refused:?}"),
        }
    }

    /// Connects; an HTTP refusal of the upgrade is returned.
    pub fn try_connect(
        server: &Server,
        auth: Auth<'_>,
        encoding: Encoding,
    ) -> Result<Client, Refused> {
        let path = match auth {
            Auth::Query(token) => format!("/v1/ws?token={token}"),
            _ => "/v1/ws".to_owned(),
        };
        let bearer;
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Auth::Bearer(token) = auth {
            bearer = format!("Bearer {token}");
            headers.push(("Authorization", bearer.as_str()));
        }
        let url = server.ws_url(&path);
        let (ws, response) = try_ws_connect(&url, encoding.subprotocol(), &headers)?;
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(encoding.subprotocol()),
            "subprotocol not answered"
        );
        let mut client = Client {
            ws,
            encoding,
            conn: 0,
            shard: 0,
            user: String::new(),
            role: Role::Visitor,
            log: Vec::new(),
            name: String::new(),
            decoder: Decoder::default(),
            pending: Default::default(),
        };
        match client.next() {
            OwnedServerFrame::Welcome {
                conn,
                shard,
                user,
                role,
            } => {
                client.conn = conn;
                client.shard = shard;
                client.name = format!("{role} {user} (conn {conn}, shard {shard})");
                client.user = user;
                client.role = role;
            }
            other => panic!("first frame is not welcome: {other:?}"),
        }
        Ok(client)
    }

    /// Sends one client frame in this connection's encoding.
    pub fn send(&mut self, frame: &ClientFrame<'_>) {
        let mut payload = Vec::new();
        chat::encode_client(self.encoding, frame, &mut payload);
        let message = match self.encoding {
            Encoding::Json => Message::text(String::from_utf8(payload).expect("JSON is UTF-8")),
            Encoding::Binary => Message::binary(payload),
        };
        self.ws
            .send(message)
            .unwrap_or_else(|err| panic!("{}: send {frame:?}: {err}", self.name));
    }

    /// `start`.
    pub fn start(&mut self) {
        self.send(&ClientFrame::Start);
    }

    /// `send {conv, client_msg_id, body}`.
    pub fn say(&mut self, conv: u64, client_msg_id: &str, body: &str) {
        self.send(&ClientFrame::Send {
            conv,
            client_msg_id: client_msg_id.into(),
            body: body.into(),
        });
    }

    /// `resume {conv, after_seq}`.
    pub fn resume(&mut self, conv: u64, after_seq: u64) {
        self.send(&ClientFrame::Resume { conv, after_seq });
    }

    /// `agent_status {status, capacity}`.
    pub fn status(&mut self, status: AgentStatus, capacity: Option<u32>) {
        self.send(&ClientFrame::AgentStatus { status, capacity });
    }

    /// `transfer {conv, to}`.
    pub fn transfer(&mut self, conv: u64, to: &str) {
        self.send(&ClientFrame::Transfer {
            conv,
            to: to.into(),
        });
    }

    /// Waits until the router has applied everything this (agent) connection sent
    /// before (see the module documentation).
    pub fn router_barrier(&mut self) {
        self.send(&ClientFrame::DeclineTransfer { conv: NO_SUCH_CONV });
        self.expect_error("unknown_conversation");
    }

    /// The next frame (pending first), waiting at most [`IO_TIMEOUT`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> OwnedServerFrame {
        self.next_within(IO_TIMEOUT)
    }

    /// The next frame, waiting at most `timeout`; panics with the log on timeout.
    pub fn next_within(&mut self, timeout: Duration) -> OwnedServerFrame {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        match self.try_next(timeout) {
            Some(frame) => frame,
            None => panic!(
                "{}: no frame within {timeout:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The next frame, or `None` if nothing arrives within `timeout`. The ephemeral
    /// `queue` and `presence` frames, which come whenever places and participants
    /// change, are logged but skipped: see [`Client::wait_logged`].
    pub fn try_next(&mut self, timeout: Duration) -> Option<OwnedServerFrame> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.read_frame(deadline.saturating_duration_since(Instant::now()))?;
            if !matches!(
                frame,
                OwnedServerFrame::Queue { .. } | OwnedServerFrame::Presence { .. }
            ) {
                return Some(frame);
            }
        }
    }

    /// The next frame other than `queue`/`presence`, `Ok(None)` if nothing came within
    /// `timeout`, `Err` once the connection failed or closed (the crash tests, where
    /// the server is killed under the client).
    pub fn next_or_gone(&mut self, timeout: Duration) -> Result<Option<OwnedServerFrame>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let message = match ws_read(
                &mut self.ws,
                deadline.saturating_duration_since(Instant::now()),
            ) {
                Ok(Message::Text(text)) if self.encoding == Encoding::Json => {
                    text.as_bytes().to_vec()
                }
                Ok(Message::Binary(data)) if self.encoding == Encoding::Binary => data.to_vec(),
                Ok(Message::Close(close)) => return Err(format!("closed: {close:?}")),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(err) => return Err(err.to_string()),
            };
            let frame = self
                .decoder
                .decode_server(self.encoding, &message)
                .map_err(|err| format!("undecodable server frame: {err}"))?;
            self.log.push(frame.clone());
            if !matches!(
                frame,
                OwnedServerFrame::Queue { .. } | OwnedServerFrame::Presence { .. }
            ) {
                return Ok(Some(frame));
            }
        }
    }

    /// `send {conv, client_msg_id, body}`; false when the connection is gone.
    pub fn try_say(&mut self, conv: u64, client_msg_id: &str, body: &str) -> bool {
        let frame = ClientFrame::Send {
            conv,
            client_msg_id: client_msg_id.into(),
            body: body.into(),
        };
        let mut payload = Vec::new();
        chat::encode_client(self.encoding, &frame, &mut payload);
        let message = match self.encoding {
            Encoding::Json => Message::text(String::from_utf8(payload).expect("JSON is UTF-8")),
            Encoding::Binary => Message::binary(payload),
        };
        self.ws.send(message).is_ok()
    }

    /// Reads until the log holds a frame matching `pred` (also an ephemeral one that
    /// [`Client::try_next`] skips), within [`IO_TIMEOUT`]; panics with the log if none.
    pub fn wait_logged(&mut self, what: &str, mut pred: impl FnMut(&OwnedServerFrame) -> bool) {
        let deadline = Instant::now() + IO_TIMEOUT;
        while !self.log.iter().any(&mut pred) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: no {what}; received so far:\n{}",
                self.name,
                self.dump()
            );
            if let Some(frame) = self.read_frame(left) {
                if !matches!(
                    frame,
                    OwnedServerFrame::Queue { .. } | OwnedServerFrame::Presence { .. }
                ) {
                    self.pending.push_back(frame);
                }
            }
        }
    }

    fn read_frame(&mut self, timeout: Duration) -> Option<OwnedServerFrame> {
        let message = match ws_read(&mut self.ws, timeout) {
            Ok(message) => message,
            Err(tungstenite::Error::Io(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(err) => panic!(
                "{}: read failed: {err}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        };
        let payload: Vec<u8> = match (&message, self.encoding) {
            (Message::Text(text), Encoding::Json) => text.as_bytes().to_vec(),
            (Message::Binary(data), Encoding::Binary) => data.to_vec(),
            (Message::Close(close), _) => panic!(
                "{}: server closed the connection: {close:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
            (other, encoding) => panic!(
                "{}: a {} message on {encoding:?}",
                self.name,
                if other.is_text() { "text" } else { "binary" }
            ),
        };
        let frame = self
            .decoder
            .decode_server(self.encoding, &payload)
            .unwrap_or_else(|err| {
                panic!(
                    "{}: undecodable server frame ({err}): {:?}",
                    self.name,
                    String::from_utf8_lossy(&payload)
                )
            });
        self.log.push(frame.clone());
        Some(frame)
    }

    /// Reads until a frame matches `pred` (within [`IO_TIMEOUT`] overall, or `timeout`
    /// with [`Client::wait_for_within`]); frames before it are dropped (they stay in the
    /// log). Panics with the log when none comes.
    pub fn wait_for(
        &mut self,
        what: &str,
        pred: impl FnMut(&OwnedServerFrame) -> bool,
    ) -> OwnedServerFrame {
        self.wait_for_within(IO_TIMEOUT, what, pred)
    }

    /// [`Client::wait_for`] with an explicit overall timeout.
    pub fn wait_for_within(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&OwnedServerFrame) -> bool,
    ) -> OwnedServerFrame {
        let deadline = Deadline::after(timeout);
        loop {
            match self.try_next(deadline.left()) {
                Some(frame) if pred(&frame) => return frame,
                Some(_) => {}
                None => panic!(
                    "{}: no {what} within {timeout:?}; received so far:\n{}",
                    self.name,
                    self.dump()
                ),
            }
        }
    }

    /// Asserts nothing at all arrives within `quiet` (used only where a test must show
    /// that something did *not* happen, after a positive barrier made it observable).
    pub fn expect_silence(&mut self, quiet: Duration) {
        if let Some(frame) = self.try_next(quiet) {
            panic!(
                "{}: expected nothing, got {frame:?}; received so far:\n{}",
                self.name,
                self.dump()
            );
        }
    }

    /// The next frame must be an `error` with `code`; returns its message.
    pub fn expect_error(&mut self, code: &str) -> String {
        match self.next() {
            OwnedServerFrame::Error { code: got, message } if got == code => message,
            other => panic!(
                "{}: expected error {code}, got {other:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The next frame must be a `conversation` snapshot; returns it as a [`Snapshot`].
    pub fn expect_snapshot(&mut self) -> Snapshot {
        match self.next() {
            OwnedServerFrame::Conversation {
                conv,
                state,
                visitor,
                agent,
                last_seq,
            } => Snapshot {
                conv,
                state,
                visitor,
                agent,
                last_seq,
            },
            other => panic!(
                "{}: expected a conversation snapshot, got {other:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The next frame must be `system` `event` of `conv` with `seq`; returns it.
    pub fn expect_system(&mut self, conv: u64, seq: u64, event: SystemKind) -> SystemItem {
        let frame = self.next();
        match SystemItem::from_frame(&frame) {
            Some(item) if item.conv == conv && item.seq == seq && item.event == event => item,
            _ => panic!(
                "{}: expected system {event} seq {seq} of conv {conv}, got {frame:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The next frame must be a `message` of `conv` with `seq` from `from` with
    /// `client_msg_id` and `body`.
    pub fn expect_message(&mut self, conv: u64, seq: u64, from: &str, id: &str, body: &str) {
        match self.next() {
            OwnedServerFrame::Message {
                conv: c,
                seq: s,
                from: f,
                client_msg_id,
                body: b,
                ts,
            } if c == conv
                && s == seq
                && f == from
                && client_msg_id == id
                && b == body
                && ts > 0 => {}
            other => panic!(
                "{}: expected message seq {seq} {from}/{id}/{body:?} of conv {conv}, got {other:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The next frame must be `sent` for `conv`/`id`; returns `(seq, ts)`.
    pub fn expect_sent(&mut self, conv: u64, id: &str) -> (u64, u64) {
        match self.next() {
            OwnedServerFrame::Sent {
                conv: c,
                client_msg_id,
                seq,
                ts,
            } if c == conv && client_msg_id == id => (seq, ts),
            other => panic!(
                "{}: expected sent for {id} in conv {conv}, got {other:?}; received so far:\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// The log, one frame a line.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for frame in self.log.iter().rev().take(60).rev() {
            out.push_str(&format!("  {frame:?}\n"));
        }
        if self.log.len() > 60 {
            out.push_str(&format!(
                "  ({} earlier frames not shown)\n",
                self.log.len() - 60
            ));
        }
        out
    }

    /// Closes the connection (close handshake, best effort) and drops it.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let deadline = Deadline::after(Duration::from_secs(3));
        while !deadline.passed() {
            match ws_read(&mut self.ws, deadline.left()) {
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

impl Client {
    /// A visitor's `start` of a new conversation: the snapshot (waiting, `last_seq`
    /// 1) and `system created` seq 1. Returns the conversation id.
    pub fn start_new(&mut self) -> u64 {
        self.start();
        let snapshot = self.expect_snapshot();
        assert_eq!(
            (snapshot.state, snapshot.last_seq, snapshot.agent.as_deref()),
            (ConversationState::Waiting, 1, None),
            "{}: snapshot of a new conversation: {snapshot:?}",
            self.name
        );
        assert_eq!(
            snapshot.visitor, self.user,
            "{}: snapshot visitor",
            self.name
        );
        self.expect_system(snapshot.conv, 1, SystemKind::Created);
        snapshot.conv
    }

    /// The next frames must be a snapshot of `conv` followed by the replay of every
    /// ordered item `from..=snapshot.last_seq`, contiguous. Returns both.
    pub fn expect_snapshot_and_replay(
        &mut self,
        conv: u64,
        from: u64,
    ) -> (Snapshot, Vec<OwnedServerFrame>) {
        let snapshot = self.expect_snapshot();
        assert_eq!(
            snapshot.conv, conv,
            "{}: snapshot of the wrong conversation",
            self.name
        );
        let mut items = Vec::new();
        for seq in from..=snapshot.last_seq {
            let frame = self.next();
            assert_eq!(
                ordered_seq(&frame),
                Some((conv, seq)),
                "{}: replay of conv {conv} after {snapshot:?}: expected seq {seq}, got {frame:?}; received so far:\n{}",
                self.name,
                self.dump()
            );
            items.push(frame);
        }
        (snapshot, items)
    }

    /// An agent's side of an assignment: snapshot (serving, this agent) and the whole
    /// history, ending with `system assigned {this agent}`. Returns the snapshot.
    pub fn expect_assignment(&mut self, conv: u64) -> Snapshot {
        let (snapshot, items) = self.expect_snapshot_and_replay(conv, 1);
        assert_eq!(
            snapshot.state,
            ConversationState::Serving,
            "{}: {snapshot:?}",
            self.name
        );
        assert_eq!(
            snapshot.agent.as_deref(),
            Some(self.user.as_str()),
            "{}: {snapshot:?}",
            self.name
        );
        let last = items.last().and_then(SystemItem::from_frame);
        assert!(
            matches!(&last, Some(item) if item.event == SystemKind::Assigned && item.agent.as_deref() == Some(self.user.as_str())),
            "{}: replay does not end with assigned to it: {items:?}",
            self.name
        );
        snapshot
    }
}

/// A `conversation` snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The conversation.
    pub conv: u64,
    /// Its state.
    pub state: ConversationState,
    /// Its visitor.
    pub visitor: String,
    /// Its serving agent.
    pub agent: Option<String>,
    /// Its newest seq.
    pub last_seq: u64,
}

/// A `system` frame's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemItem {
    /// The conversation.
    pub conv: u64,
    /// Its seq.
    pub seq: u64,
    /// The event.
    pub event: SystemKind,
    /// `agent`.
    pub agent: Option<String>,
    /// `position`.
    pub position: Option<u32>,
    /// `reason`.
    pub reason: Option<String>,
}

impl SystemItem {
    /// The fields of a `system` frame, `None` for any other frame.
    pub fn from_frame(frame: &OwnedServerFrame) -> Option<SystemItem> {
        match frame {
            OwnedServerFrame::System {
                conv,
                seq,
                event,
                agent,
                position,
                reason,
                ts,
            } => {
                assert!(*ts > 0, "system frame without a timestamp: {frame:?}");
                Some(SystemItem {
                    conv: *conv,
                    seq: *seq,
                    event: *event,
                    agent: agent.clone(),
                    position: *position,
                    reason: reason.clone(),
                })
            }
            _ => None,
        }
    }
}

/// Whether `frame` is `system` `event` (of any conversation).
pub fn is_system(frame: &OwnedServerFrame, event: SystemKind) -> bool {
    matches!(frame, OwnedServerFrame::System { event: e, .. } if *e == event)
}

/// The conversation and seq of an ordered item (`message` or `system`).
pub fn ordered_seq(frame: &OwnedServerFrame) -> Option<(u64, u64)> {
    match frame {
        OwnedServerFrame::Message { conv, seq, .. }
        | OwnedServerFrame::System { conv, seq, .. } => Some((*conv, *seq)),
        _ => None,
    }
}

/// Opens a tungstenite client offering `protocol`; an HTTP answer other than 101 is
/// returned as [`Refused`].
pub fn try_ws_connect(
    url: &str,
    protocol: &str,
    headers: &[(&str, &str)],
) -> Result<(WsClient, tungstenite::handshake::client::Response), Refused> {
    use tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let host = request.uri().authority().expect("authority").to_string();
    let stream = crate::wire::TestStream::over(crate::tcp_connect(
        host.parse().expect("ws url with IP:port"),
    ));
    match tungstenite::client::client(request, stream) {
        Ok(pair) => Ok(pair),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(Refused {
                status: response.status().as_u16(),
                body: response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            })
        }
        Err(err) => panic!("WebSocket handshake with {url} failed: {err}"),
    }
}

/// Connects an agent and waits until the router knows it ([`Client::router_barrier`]).
pub fn agent(server: &Server, token: &str, encoding: Encoding) -> Client {
    let mut agent = Client::connect(server, token, encoding);
    assert_eq!(agent.role, Role::Agent, "{token} is not an agent");
    agent.router_barrier();
    agent
}

/// `visitor` starts a new conversation that `agent` (known to be the router's choice)
/// gets: the visitor sees `created` (1) and `assigned` (2), the agent the snapshot and
/// the history. Returns the conversation id.
pub fn start_served_by(visitor: &mut Client, agent: &mut Client) -> u64 {
    let conv = visitor.start_new();
    let assigned = visitor.expect_system(conv, 2, SystemKind::Assigned);
    assert_eq!(
        assigned.agent.as_deref(),
        Some(agent.user.as_str()),
        "{}: assigned to the wrong agent",
        visitor.name
    );
    agent.expect_assignment(conv);
    conv
}

/// One ordered chat line as a client saw it: its own (`sent`) or another's (`message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Sequence number.
    pub seq: u64,
    /// Sender user id.
    pub from: String,
    /// Its client message id.
    pub id: String,
}

/// Reads `count` chat lines of `conv` (`sent` for the client's own, `message` for the
/// others'); any other frame fails the test.
pub fn read_lines(client: &mut Client, conv: u64, count: usize) -> Vec<Line> {
    let mut lines = Vec::with_capacity(count);
    while lines.len() < count {
        let frame = client.next();
        let line = match frame {
            OwnedServerFrame::Sent {
                conv: c,
                client_msg_id,
                seq,
                ..
            } if c == conv => Line {
                seq,
                from: client.user.clone(),
                id: client_msg_id,
            },
            OwnedServerFrame::Message {
                conv: c,
                seq,
                from,
                client_msg_id,
                ..
            } if c == conv => Line {
                seq,
                from,
                id: client_msg_id,
            },
            other => panic!(
                "{}: expected a chat line of conv {conv}, got {other:?}; received so far:\n{}",
                client.name,
                client.dump()
            ),
        };
        lines.push(line);
    }
    lines
}

/// Asserts `lines` have the contiguous seqs `first..first + len`.
pub fn assert_contiguous(who: &str, lines: &[Line], first: u64) {
    let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    let want: Vec<u64> = (first..first + lines.len() as u64).collect();
    assert_eq!(
        seqs, want,
        "{who}: seqs are not contiguous from {first}: {lines:?}"
    );
}
