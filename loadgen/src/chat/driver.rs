//! The chat event loop: visitors and agents on one thread, each a non-blocking
//! socket under edge-triggered epoll, speaking `/v1/ws` in JSON or binary, with every
//! conversation's two streams booked as frames arrive.
//!
//! Nothing is allocated per chat line on the sending side (the id, body and frame are
//! written into buffers that keep their capacity); received frames are decoded with
//! `switchboard_protocol::chat::Decoder`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use switchboard_protocol::chat::{
    encode_client, AgentStatus, ClientFrame, Decoder, Encoding, OwnedServerFrame, SystemKind,
};
use switchboard_protocol::ws::{encode_close, encode_frame, Event, Limits, Opcode, Reader, Role};

use super::account::{Arrival, SeqView, Stream};
use super::body::{self, Stamp, ID_LEN};
use crate::driver::epoch;
use crate::handshake::{check_upgrade, find_head_end, write_request};
use crate::report::{new_histogram, MAX_LATENCY_NS};
use switchboard_driver::client::{self as sys, Epoll};

const READ_BUFFER: usize = 64 * 1024;
const MAX_HEAD: usize = 16 * 1024;
/// No index: a visitor without a conversation yet, a conversation without an agent.
pub const NONE: usize = usize::MAX;
/// Stream of a conversation written by its visitor.
pub const TO_AGENT: usize = 0;
/// Stream of a conversation written by its agent.
pub const TO_VISITOR: usize = 1;
const VISITOR_SIDE: usize = 0;
const AGENT_SIDE: usize = 1;
/// Failed connection attempts in a row before a client gives up (~10 s of retries).
const MAX_ATTEMPTS: u32 = 60;
/// Connects started per turn of the loop.
const CONNECT_BATCH: usize = 64;
/// Messages sent per turn of the loop before it looks at the sockets again.
pub const SEND_BATCH: u64 = 512;

/// Nanoseconds since the loadgen's epoch.
pub fn now_ns() -> u64 {
    ns_of(Instant::now())
}

/// `at` in nanoseconds since the loadgen's epoch.
pub fn ns_of(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

/// Who a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// A visitor (one conversation).
    Visitor,
    /// An agent (many conversations).
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Connecting,
    Handshaking,
    Open,
    Closed,
}

/// Where a reconnected visitor is in its resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Not resuming.
    No,
    /// Dropped; reconnecting.
    Reconnecting,
    /// `resume` sent after `after_seq`.
    Asked { after_seq: u64 },
    /// Snapshot received; replay runs up to `target`.
    Replaying { target: u64 },
}

/// One WebSocket client.
#[derive(Debug)]
pub struct Client {
    fd: RawFd,
    state: State,
    /// Visitor or agent.
    pub who: Who,
    /// Storm: a visitor that never drops (its latency is the control).
    pub control: bool,
    /// The user id the server should announce.
    user: String,
    /// Request path with the token.
    path: String,
    out: Vec<u8>,
    out_pos: usize,
    mask: [u8; 4],
    key: String,
    head: Vec<u8>,
    dirty: bool,
    /// `welcome` received on the current connection.
    pub welcomed: bool,
    /// A visitor's conversation (index), once known.
    pub conv: usize,
    resume: Resume,
    /// Failed connection attempts in a row.
    attempts: u32,
    /// Storm: when it was dropped, reconnected (welcome) and resumed (ns since epoch).
    pub dropped_ns: Option<u64>,
    /// See `dropped_ns`.
    pub reconnected_ns: Option<u64>,
    /// See `dropped_ns`.
    pub resumed_ns: Option<u64>,
}

/// One conversation as the loadgen sees it.
#[derive(Debug, Clone)]
pub struct Conv {
    /// The server's conversation id.
    pub id: u64,
    /// Its visitor (client index).
    pub visitor: usize,
    /// Its agent (client index), once the agent got it.
    pub agent: usize,
    /// The visitor saw `system assigned`.
    pub visitor_assigned: bool,
    /// The agent saw `system assigned`.
    pub agent_assigned: bool,
    /// [`TO_AGENT`] and [`TO_VISITOR`].
    pub streams: [Stream; 2],
    views: [SeqView; 2],
}

impl Conv {
    fn new(id: u64) -> Self {
        Self {
            id,
            visitor: NONE,
            agent: NONE,
            visitor_assigned: false,
            agent_assigned: false,
            streams: Default::default(),
            views: Default::default(),
        }
    }

    /// Both sides know it is assigned: messages may flow.
    pub fn ready(&self) -> bool {
        self.visitor != NONE && self.agent != NONE && self.visitor_assigned && self.agent_assigned
    }
}

/// Everything the chat scenarios count.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatTally {
    /// Connections whose upgrade completed (reconnections included).
    pub connections_ok: u64,
    /// Clients that never got a connection (every attempt failed).
    pub connections_failed: u64,
    /// Connection attempts that failed (refused, reset, shed, closed before the
    /// upgrade) and were retried after a short backoff, as a real client would.
    pub connect_retries: u64,
    /// Connections the server closed or reset before the run ended.
    pub closed_early: u64,
    /// Seconds to open every connection of the setup.
    pub connect_seconds: f64,
    /// Conversations opened by visitors.
    pub conversations: u64,
    /// Conversations assigned (both sides saw `assigned`) before traffic started.
    pub conversations_assigned: u64,
    /// Seconds from the first visitor connecting to the last conversation assigned.
    pub assign_seconds: f64,
    /// Chat lines sent.
    pub sent: u64,
    /// Lines not sent because their sender's connection was down.
    pub send_skipped: u64,
    /// `sent` acks received for distinct lines.
    pub acked: u64,
    /// Distinct lines delivered to the other side.
    pub delivered: u64,
    /// Lines delivered inside the measured window.
    pub delivered_in_window: u64,
    /// Lines sent and never delivered.
    pub lost: u64,
    /// Deliveries of a line already delivered.
    pub duplicated: u64,
    /// Lines delivered after a later line of the same conversation and direction.
    pub out_of_order: u64,
    /// Lines sent and never acked.
    pub unacked: u64,
    /// Lines acked and never delivered (a loss of an acknowledged line).
    pub acked_lost: u64,
    /// `error rate_limited` answers: lines the engine refused under pressure (level
    /// 2+). A refused line is neither acked nor delivered, so a clean run has exactly
    /// this many unacked and lost lines.
    pub rate_limited: u64,
    /// Acks of a line already acked.
    pub ack_duplicated: u64,
    /// Acks that came after the ack of a later line.
    pub ack_out_of_order: u64,
    /// Deliveries or acks that do not match what was sent (id, body, sender, size),
    /// or frames that do not decode.
    pub corrupt: u64,
    /// `message`/`system` items whose seq was not above every seq the connection had
    /// seen in that conversation.
    pub seq_errors: u64,
    /// `gap` frames (history did not reach back).
    pub gaps: u64,
    /// `error` frames (other than `busy`).
    pub error_frames: u64,
    /// `error busy` notices: the engine under pressure paused assignments and the
    /// conversation waits in the queue (not a failure by itself; it shows in the
    /// assignment time).
    pub busy_notices: u64,
    /// Frames about a conversation the loadgen does not know.
    pub unknown_conversation: u64,
    /// Pings answered.
    pub pings: u64,
    /// A few error messages.
    pub errors: Vec<String>,
}

impl ChatTally {
    /// Remembers an error message (the first few only).
    pub fn note_error(&mut self, message: String) {
        if self.errors.len() < 8 {
            self.errors.push(message);
        }
    }

    /// Nothing lost, duplicated, reordered, corrupted or refused.
    pub fn is_clean(&self) -> bool {
        self.connections_failed == 0
            && self.closed_early == 0
            && self.lost == self.rate_limited
            && self.acked_lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.unacked == self.rate_limited
            && self.ack_duplicated == 0
            && self.ack_out_of_order == 0
            && self.corrupt == 0
            && self.seq_errors == 0
            && self.gaps == 0
            && self.error_frames == 0
            && self.unknown_conversation == 0
            && self.send_skipped == 0
    }
}

/// Which conversations and directions the open loop writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Visitor → agent and agent → visitor, half each.
    Both,
    /// Visitor → agent only.
    ToAgent,
    /// Agent → visitor only.
    ToVisitor,
}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server address.
    pub addr: SocketAddrV4,
    /// `Host` header.
    pub host: String,
    /// Path of `/v1/ws` (may carry a query).
    pub path: String,
    /// The agents' server address (`addr` unless they go to another node).
    pub agent_addr: SocketAddrV4,
    /// The agents' `Host` header.
    pub agent_host: String,
    /// The agents' path of `/v1/ws`.
    pub agent_path: String,
    /// Source addresses, round-robin by client index.
    pub source_ips: Vec<Ipv4Addr>,
    /// JSON or binary.
    pub encoding: Encoding,
    /// Bytes per chat line body.
    pub body_size: usize,
    /// Capacity agents announce.
    pub agent_capacity: u32,
    /// Connection attempts in progress at once.
    pub connect_concurrency: usize,
}

/// Connections, conversations, counters.
#[derive(Debug)]
pub struct World {
    /// Every client: agents first, then visitors.
    pub clients: Vec<Client>,
    /// Every conversation seen.
    pub convs: Vec<Conv>,
    by_id: HashMap<u64, usize>,
    /// The counters.
    pub tally: ChatTally,
    /// Delivery latency (intended send → arrival) of lines intended in the window.
    pub delivery: Histogram<u64>,
    /// Ack latency (intended send → `sent`) of lines intended in the window.
    pub ack: Histogram<u64>,
    /// Storm: delivery latency on control conversations before the drop.
    pub control_before: Histogram<u64>,
    /// Storm: delivery latency on control conversations from the drop on.
    pub control_during: Histogram<u64>,
    /// Measured window (ns since epoch): latency by intended time, rate by arrival.
    pub window: (u64, u64),
    /// Storm: from when control latency counts as "during" (ns since epoch).
    pub storm_from: u64,
    settings: Settings,
    decoder: Decoder,
    payload: Vec<u8>,
    body: Vec<u8>,
    dirty: Vec<usize>,
    closing: bool,
}

impl World {
    fn conv_index(&mut self, id: u64) -> usize {
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        let i = self.convs.len();
        self.convs.push(Conv::new(id));
        self.by_id.insert(id, i);
        i
    }

    fn mark_dirty(&mut self, i: usize) {
        if !self.clients[i].dirty {
            self.clients[i].dirty = true;
            self.dirty.push(i);
        }
    }

    fn send_frame(&mut self, i: usize, frame: &ClientFrame<'_>) {
        self.payload.clear();
        encode_client(self.settings.encoding, frame, &mut self.payload);
        let c = &mut self.clients[i];
        encode_frame(
            &mut c.out,
            self.settings.encoding.opcode(),
            &self.payload,
            Some(c.mask),
        );
        self.mark_dirty(i);
    }

    /// Sends the next line of `conv`'s stream `dir`, meant to leave at `intended_ns`.
    pub fn send_line(&mut self, conv: usize, dir: usize, intended_ns: u64) {
        let c = &self.convs[conv];
        let sender = if dir == TO_AGENT { c.visitor } else { c.agent };
        if sender == NONE || self.clients[sender].state != State::Open {
            self.tally.send_skipped += 1;
            return;
        }
        let stamp = Stamp {
            counter: c.streams[dir].sent,
            intended_ns,
        };
        let conv_id = c.id;
        let mut id = [0u8; ID_LEN];
        body::write_id(&mut id, stamp);
        let mut text = std::mem::take(&mut self.body);
        body::write_body(&mut text, stamp, self.settings.body_size);
        let frame = ClientFrame::Send {
            conv: conv_id,
            client_msg_id: Cow::Borrowed(std::str::from_utf8(&id).expect("hex is ascii")),
            body: Cow::Borrowed(std::str::from_utf8(&text).expect("filler is ascii")),
        };
        self.send_frame(sender, &frame);
        self.body = text;
        self.convs[conv].streams[dir].sent += 1;
        self.tally.sent += 1;
    }

    fn on_event(&mut self, i: usize, event: Event<'_>, now: u64) -> bool {
        match event {
            Event::Message { kind, payload } => {
                if self.settings.encoding.check_data_kind(kind).is_err() {
                    self.tally.corrupt += 1;
                    self.tally
                        .note_error(format!("client {i}: a frame of the wrong data kind"));
                    return true;
                }
                if self.settings.encoding == Encoding::Json && self.hot_json(i, payload, now) {
                    return true;
                }
                match self.decoder.decode_server(self.settings.encoding, payload) {
                    Ok(frame) => self.on_frame(i, frame, now),
                    Err(err) => {
                        self.tally.corrupt += 1;
                        self.tally
                            .note_error(format!("client {i}: undecodable frame: {err}"));
                    }
                }
                true
            }
            Event::Ping(data) => {
                self.tally.pings += 1;
                let c = &mut self.clients[i];
                encode_frame(&mut c.out, Opcode::Pong, data, Some(c.mask));
                self.mark_dirty(i);
                true
            }
            Event::Pong(_) => true,
            Event::Close(frame) => {
                let reason =
                    frame.map_or_else(|| "no code".to_owned(), |(c, r)| format!("{c} {r}"));
                if !self.closing {
                    self.tally
                        .note_error(format!("client {i}: server sent close: {reason}"));
                }
                false
            }
        }
    }

    /// The two frames that make up nearly all the traffic, `message` and `sent`, read
    /// from JSON in one pass with their strings borrowed from the payload (no
    /// allocation). False when the frame is anything else, or a string has escapes:
    /// the full decoder takes it then.
    fn hot_json(&mut self, i: usize, payload: &[u8], now: u64) -> bool {
        #[derive(serde::Deserialize)]
        struct Hot<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            conv: u64,
            seq: u64,
            from: Option<&'a str>,
            client_msg_id: &'a str,
            body: Option<&'a str>,
        }
        let Ok(hot) = serde_json::from_slice::<Hot<'_>>(payload) else {
            return false;
        };
        match (hot.kind, hot.from, hot.body) {
            ("message", Some(from), Some(text)) => {
                self.on_message(i, hot.conv, hot.seq, from, hot.client_msg_id, text, now);
                true
            }
            ("sent", None, None) => {
                self.on_sent(i, hot.conv, hot.client_msg_id, now);
                true
            }
            _ => false,
        }
    }

    fn on_frame(&mut self, i: usize, frame: OwnedServerFrame, now: u64) {
        let who = self.clients[i].who;
        match frame {
            OwnedServerFrame::Welcome { user, .. } => {
                if user != self.clients[i].user {
                    self.tally.corrupt += 1;
                    self.tally.note_error(format!(
                        "client {i}: welcome for {user:?}, expected {:?}",
                        self.clients[i].user
                    ));
                }
                self.clients[i].welcomed = true;
                self.clients[i].attempts = 0;
                match (who, self.clients[i].resume) {
                    (Who::Agent, _) => {
                        let capacity = Some(self.settings.agent_capacity);
                        self.send_frame(
                            i,
                            &ClientFrame::AgentStatus {
                                status: AgentStatus::Online,
                                capacity,
                            },
                        );
                    }
                    (Who::Visitor, Resume::Reconnecting) if self.clients[i].conv != NONE => {
                        let conv = &self.convs[self.clients[i].conv];
                        let after_seq = conv.views[VISITOR_SIDE].last;
                        let id = conv.id;
                        self.clients[i].reconnected_ns = Some(now);
                        self.clients[i].resume = Resume::Asked { after_seq };
                        self.send_frame(
                            i,
                            &ClientFrame::Resume {
                                conv: id,
                                after_seq,
                            },
                        );
                    }
                    (Who::Visitor, _) => self.send_frame(i, &ClientFrame::Start),
                }
            }
            OwnedServerFrame::Conversation {
                conv,
                visitor,
                last_seq,
                ..
            } => {
                let k = self.conv_index(conv);
                match who {
                    Who::Visitor => {
                        let c = &mut self.clients[i];
                        if visitor != c.user {
                            self.tally.corrupt += 1;
                            self.tally.note_error(format!(
                                "client {i}: conversation {conv} of {visitor:?}, expected {:?}",
                                c.user
                            ));
                        }
                        if c.conv == NONE {
                            c.conv = k;
                            self.convs[k].visitor = i;
                            self.tally.conversations += 1;
                        } else if c.conv != k {
                            self.tally.corrupt += 1;
                            self.tally
                                .note_error(format!("client {i}: a second conversation {conv}"));
                        }
                        if let Resume::Asked { after_seq } = c.resume {
                            if last_seq <= after_seq {
                                c.resume = Resume::No;
                                c.resumed_ns = Some(now);
                            } else {
                                c.resume = Resume::Replaying { target: last_seq };
                            }
                        }
                    }
                    Who::Agent => {
                        let c = &mut self.convs[k];
                        if c.agent == NONE {
                            c.agent = i;
                        } else if c.agent != i {
                            self.tally.corrupt += 1;
                            self.tally.note_error(format!(
                                "conversation {conv} went to a second agent (client {i})"
                            ));
                        }
                    }
                }
            }
            OwnedServerFrame::System {
                conv, seq, event, ..
            } => {
                let Some(k) = self.known_conv(i, conv) else {
                    return;
                };
                let side = side_of(who);
                if !self.convs[k].views[side].item(seq) {
                    self.seq_error(i, conv, seq, side, k);
                }
                if event == SystemKind::Assigned {
                    match who {
                        Who::Visitor => self.convs[k].visitor_assigned = true,
                        Who::Agent => self.convs[k].agent_assigned = true,
                    }
                }
                self.check_resumed(i, seq, now);
            }
            OwnedServerFrame::Message {
                conv,
                seq,
                from,
                client_msg_id,
                body: text,
                ..
            } => self.on_message(i, conv, seq, &from, &client_msg_id, &text, now),
            OwnedServerFrame::Sent {
                conv,
                client_msg_id,
                ..
            } => self.on_sent(i, conv, &client_msg_id, now),
            OwnedServerFrame::Gap {
                conv,
                after_seq,
                oldest_seq,
            } => {
                self.tally.gaps += 1;
                self.tally.note_error(format!(
                    "client {i}: gap in conversation {conv}: after {after_seq}, oldest {oldest_seq}"
                ));
            }
            OwnedServerFrame::Error { code, .. } if code == "busy" => {
                self.tally.busy_notices += 1;
            }
            OwnedServerFrame::Error { code, .. } if code == "rate_limited" => {
                self.tally.rate_limited += 1;
            }
            OwnedServerFrame::Error { code, message } => {
                self.tally.error_frames += 1;
                self.tally
                    .note_error(format!("client {i}: error {code}: {message}"));
            }
            // Ephemeral and other frames: not part of what is checked. Later
            // versions add server frames; clients ignore those they do not know.
            _ => {}
        }
    }

    /// A `message`: the other side's line, checked and timed.
    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        i: usize,
        conv: u64,
        seq: u64,
        from: &str,
        client_msg_id: &str,
        text: &str,
        now: u64,
    ) {
        let who = self.clients[i].who;
        let Some(k) = self.known_conv(i, conv) else {
            return;
        };
        let side = side_of(who);
        if !self.convs[k].views[side].item(seq) {
            self.seq_error(i, conv, seq, side, k);
        }
        self.check_resumed(i, seq, now);
        let dir = match who {
            Who::Agent => TO_AGENT,
            Who::Visitor => TO_VISITOR,
        };
        let c = &self.convs[k];
        let sender = if dir == TO_AGENT { c.visitor } else { c.agent };
        let stamp = body::read_id(client_msg_id)
            .filter(|s| body::check_body(text, *s, self.settings.body_size));
        let from_ok = sender != NONE && self.clients[sender].user == from;
        let Some(stamp) = stamp.filter(|_| from_ok) else {
            self.tally.corrupt += 1;
            self.tally.note_error(format!(
                "conversation {conv}: message seq {seq} from {from:?} id {client_msg_id:?} does not check"
            ));
            return;
        };
        let stream = &mut self.convs[k].streams[dir];
        let arrival = stream.delivered.arrive(stamp.counter, stream.sent);
        let t = &mut self.tally;
        if !book(
            arrival,
            &mut t.out_of_order,
            &mut t.duplicated,
            &mut t.corrupt,
        ) {
            return;
        }
        self.tally.delivered += 1;
        if self.in_window(now) {
            self.tally.delivered_in_window += 1;
        }
        let latency = latency_ns(now, stamp.intended_ns);
        if self.in_window(stamp.intended_ns) {
            self.delivery.saturating_record(latency);
        }
        if who == Who::Visitor && self.clients[i].control {
            if stamp.intended_ns >= self.storm_from {
                self.control_during.saturating_record(latency);
            } else {
                self.control_before.saturating_record(latency);
            }
        }
    }

    /// Whether `ns` falls in the measured window.
    fn in_window(&self, ns: u64) -> bool {
        ns >= self.window.0 && ns < self.window.1
    }

    /// A `sent`: the server accepted one of this client's lines.
    fn on_sent(&mut self, i: usize, conv: u64, client_msg_id: &str, now: u64) {
        let who = self.clients[i].who;
        let Some(k) = self.known_conv(i, conv) else {
            return;
        };
        let dir = match who {
            Who::Visitor => TO_AGENT,
            Who::Agent => TO_VISITOR,
        };
        let Some(stamp) = body::read_id(client_msg_id) else {
            self.tally.corrupt += 1;
            self.tally
                .note_error(format!("conversation {conv}: ack of {client_msg_id:?}"));
            return;
        };
        let stream = &mut self.convs[k].streams[dir];
        let arrival = stream.acked.arrive(stamp.counter, stream.sent);
        let t = &mut self.tally;
        if !book(
            arrival,
            &mut t.ack_out_of_order,
            &mut t.ack_duplicated,
            &mut t.corrupt,
        ) {
            return;
        }
        self.tally.acked += 1;
        if self.in_window(stamp.intended_ns) {
            self.ack
                .saturating_record(latency_ns(now, stamp.intended_ns));
        }
    }

    fn known_conv(&mut self, i: usize, conv: u64) -> Option<usize> {
        let k = self.by_id.get(&conv).copied();
        if k.is_none() {
            self.tally.unknown_conversation += 1;
            self.tally.note_error(format!(
                "client {i}: a frame of unknown conversation {conv}"
            ));
        }
        k
    }

    fn seq_error(&mut self, i: usize, conv: u64, seq: u64, side: usize, k: usize) {
        self.tally.seq_errors += 1;
        let last = self.convs[k].views[side].last;
        self.tally.note_error(format!(
            "client {i}: conversation {conv}: seq {seq} after seq {last}"
        ));
    }

    fn check_resumed(&mut self, i: usize, seq: u64, now: u64) {
        let c = &mut self.clients[i];
        if let Resume::Replaying { target } = c.resume {
            if seq >= target {
                c.resume = Resume::No;
                c.resumed_ns = Some(now);
            }
        }
    }

    /// Books what never arrived, once the run is over.
    pub fn settle_accounts(&mut self) {
        for c in &self.convs {
            for s in &c.streams {
                self.tally.lost += s.undelivered();
                self.tally.unacked += s.unacked();
                self.tally.acked_lost += s.acked_undelivered();
            }
        }
    }

    /// Lines sent and not yet both delivered and acked.
    pub fn outstanding(&self) -> u64 {
        self.tally.sent.saturating_sub(self.tally.delivered) + self.tally.sent - self.tally.acked
    }
}

fn side_of(who: Who) -> usize {
    match who {
        Who::Visitor => VISITOR_SIDE,
        Who::Agent => AGENT_SIDE,
    }
}

/// The event loop and the world it drives.
pub struct Driver {
    epoll: Epoll,
    events: Vec<libc::epoll_event>,
    buf: Box<[u8]>,
    readers: Vec<Reader>,
    limits: Limits,
    connect_queue: VecDeque<usize>,
    /// Clients waiting to retry a failed attempt, with when.
    retry_queue: VecDeque<(Instant, usize)>,
    in_setup: usize,
    /// Clients, conversations, counters.
    pub world: World,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("clients", &self.world.clients.len())
            .field("in_setup", &self.in_setup)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A loop for `agents` agents and `visitors` visitors, of which the last `control`
    /// are control visitors; user ids start with `prefix`.
    pub fn new(
        settings: Settings,
        agents: usize,
        visitors: usize,
        control: usize,
        prefix: &str,
    ) -> io::Result<Self> {
        let sep_of = |path: &str| if path.contains('?') { '&' } else { '?' };
        let mut clients = Vec::with_capacity(agents + visitors);
        for j in 0..agents + visitors {
            let (who, user, token) = if j < agents {
                let user = format!("{prefix}a{j}");
                (Who::Agent, user.clone(), format!("agent:{user}"))
            } else {
                let user = format!("{prefix}v{}", j - agents);
                (Who::Visitor, user.clone(), user)
            };
            clients.push(Client {
                fd: -1,
                state: State::NotStarted,
                who,
                control: j >= agents + visitors - control,
                user,
                path: {
                    let base = match who {
                        Who::Agent => &settings.agent_path,
                        Who::Visitor => &settings.path,
                    };
                    format!("{base}{}token={token}", sep_of(base))
                },
                out: Vec::new(),
                out_pos: 0,
                mask: [0; 4],
                key: String::new(),
                head: Vec::new(),
                dirty: false,
                welcomed: false,
                conv: NONE,
                resume: Resume::No,
                attempts: 0,
                dropped_ns: None,
                reconnected_ns: None,
                resumed_ns: None,
            });
        }
        let readers = (0..clients.len()).map(|_| Reader::default()).collect();
        Ok(Self {
            epoll: Epoll::new()?,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            readers,
            limits: Limits {
                max_frame: 1 << 24,
                max_message: 1 << 24,
                role: Role::Client,
            },
            connect_queue: VecDeque::new(),
            retry_queue: VecDeque::new(),
            in_setup: 0,
            world: World {
                clients,
                convs: Vec::new(),
                by_id: HashMap::new(),
                tally: ChatTally::default(),
                delivery: new_histogram(),
                ack: new_histogram(),
                control_before: new_histogram(),
                control_during: new_histogram(),
                window: (0, u64::MAX),
                storm_from: u64::MAX,
                settings,
                decoder: Decoder::default(),
                payload: Vec::new(),
                body: Vec::new(),
                dirty: Vec::new(),
                closing: false,
            },
        })
    }

    /// Queues clients `range` for connecting.
    pub fn connect(&mut self, range: impl IntoIterator<Item = usize>) {
        self.connect_queue.extend(range);
    }

    /// Connections being opened or queued for it (retries included).
    pub fn connecting(&self) -> usize {
        self.in_setup + self.connect_queue.len() + self.retry_queue.len()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.world
            .clients
            .iter()
            .filter(|c| c.state == State::Open)
            .count()
    }

    /// Whether client `i` is open and welcomed.
    pub fn is_ready(&self, i: usize) -> bool {
        let c = &self.world.clients[i];
        c.state == State::Open && c.welcomed
    }

    /// Whether client `i` has given up (closed or failed).
    pub fn is_closed(&self, i: usize) -> bool {
        self.world.clients[i].state == State::Closed
    }

    /// Starts queued connects, waits for readiness up to `timeout`, handles it, and
    /// writes what was queued.
    pub fn turn(&mut self, mut timeout: Duration) {
        let now = Instant::now();
        while let Some(&(at, i)) = self.retry_queue.front() {
            if at > now {
                timeout = timeout.min(at - now);
                break;
            }
            self.retry_queue.pop_front();
            self.connect_queue.push_back(i);
        }
        // Start at most a batch of connects per turn, so the ones already under way
        // are served between batches instead of after all of them.
        let limit = self.world.settings.connect_concurrency.max(1);
        let mut started = 0;
        while self.in_setup < limit && started < CONNECT_BATCH {
            let Some(i) = self.connect_queue.pop_front() else {
                break;
            };
            self.start_connect(i);
            started += 1;
        }
        if !self.connect_queue.is_empty() && self.in_setup < limit {
            timeout = Duration::ZERO;
        }
        self.flush_dirty();
        let n = match self.epoll.wait(&mut self.events, Some(timeout)) {
            Ok(n) => n,
            Err(err) => {
                self.world.tally.note_error(format!("epoll_wait: {err}"));
                std::thread::sleep(Duration::from_millis(1));
                return;
            }
        };
        for k in 0..n {
            let event = self.events[k];
            self.handle(event.u64 as usize, event.events);
        }
        self.flush_dirty();
    }

    /// Writes every client's queued bytes.
    pub fn flush_dirty(&mut self) {
        while let Some(i) = self.world.dirty.pop() {
            self.world.clients[i].dirty = false;
            self.flush(i);
        }
    }

    fn start_connect(&mut self, i: usize) {
        self.in_setup += 1;
        self.world.clients[i].state = State::Connecting;
        if let Err(err) = self.try_start_connect(i) {
            self.drop_conn(i, &format!("connect: {err}"));
        }
    }

    fn try_start_connect(&mut self, i: usize) -> io::Result<()> {
        let fd = sys::tcp_socket()?;
        self.world.clients[i].fd = fd;
        let ips = &self.world.settings.source_ips;
        if !ips.is_empty() {
            sys::bind_source(fd, ips[i % ips.len()])?;
        }
        self.epoll.add(fd, i as u64)?;
        let settings = &self.world.settings;
        let addr = match self.world.clients[i].who {
            Who::Agent => settings.agent_addr,
            Who::Visitor => settings.addr,
        };
        sys::connect(fd, addr)
    }

    fn handle(&mut self, i: usize, events: u32) {
        let readable = events
            & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
            != 0;
        let writable = events & libc::EPOLLOUT as u32 != 0;
        match self.world.clients[i].state {
            State::Connecting => {
                if !writable && !readable {
                    return;
                }
                if let Err(err) = sys::take_socket_error(self.world.clients[i].fd) {
                    return self.drop_conn(i, &format!("connect: {err}"));
                }
                self.send_upgrade_request(i);
            }
            State::Handshaking => {
                if readable {
                    self.read_handshake(i);
                } else if writable {
                    self.flush(i);
                }
            }
            State::Open => {
                if writable {
                    self.flush(i);
                }
                if readable && self.world.clients[i].state == State::Open {
                    self.read_frames(i);
                }
            }
            State::NotStarted | State::Closed => {}
        }
    }

    fn send_upgrade_request(&mut self, i: usize) {
        let mut raw = [0u8; 20];
        sys::fill_random(&mut raw);
        let protocol = self.world.settings.encoding.subprotocol();
        let settings = &self.world.settings;
        let c = &mut self.world.clients[i];
        let host = match c.who {
            Who::Agent => &settings.agent_host,
            Who::Visitor => &settings.host,
        };
        c.key = base64::engine::general_purpose::STANDARD.encode(&raw[..16]);
        c.mask = [raw[16], raw[17], raw[18], raw[19]];
        c.out.clear();
        c.out_pos = 0;
        write_request(&mut c.out, host, &c.path, &c.key, Some(protocol));
        c.state = State::Handshaking;
        self.flush(i);
    }

    fn read_handshake(&mut self, i: usize) {
        loop {
            let fd = self.world.clients[i].fd;
            match sys::recv(fd, &mut self.buf) {
                Ok(0) => return self.drop_conn(i, "server closed during the upgrade"),
                Ok(n) => {
                    let head = &mut self.world.clients[i].head;
                    head.extend_from_slice(&self.buf[..n]);
                    if let Some(end) = find_head_end(head) {
                        return self.finish_handshake(i, end);
                    }
                    if head.len() > MAX_HEAD {
                        return self.drop_conn(i, "upgrade response head too large");
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("upgrade: {err}")),
            }
        }
    }

    fn finish_handshake(&mut self, i: usize, head_end: usize) {
        let expected = self.world.settings.encoding.subprotocol();
        let c = &mut self.world.clients[i];
        match check_upgrade(&c.head[..head_end], &c.key) {
            Err(reason) => return self.drop_conn(i, &reason),
            Ok(chosen) if chosen.as_deref() != Some(expected) => {
                return self.drop_conn(
                    i,
                    &format!("server chose subprotocol {chosen:?}, we offered {expected}"),
                )
            }
            Ok(_) => {}
        }
        let head = std::mem::take(&mut c.head);
        c.key = String::new();
        c.state = State::Open;
        self.in_setup -= 1;
        self.world.tally.connections_ok += 1;
        let now = now_ns();
        for piece in head[head_end..].chunks(READ_BUFFER) {
            self.buf[..piece.len()].copy_from_slice(piece);
            if !self.process(i, piece.len(), now) {
                return;
            }
        }
        self.read_frames(i);
    }

    fn read_frames(&mut self, i: usize) {
        loop {
            let fd = self.world.clients[i].fd;
            match sys::recv(fd, &mut self.buf) {
                Ok(0) => return self.drop_conn(i, "server closed the connection"),
                Ok(n) => {
                    if !self.process(i, n, now_ns()) {
                        return;
                    }
                    if n < self.buf.len() {
                        break;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("recv: {err}")),
            }
        }
    }

    fn process(&mut self, i: usize, n: usize, now: u64) -> bool {
        let Driver {
            buf,
            readers,
            limits,
            world,
            ..
        } = self;
        let mut closed = false;
        let result = readers[i].feed(&mut buf[..n], limits, &mut |event| {
            let more = world.on_event(i, event, now);
            closed |= !more;
            more
        });
        match result {
            Err(err) => {
                self.drop_conn(i, &format!("protocol error from server: {err}"));
                false
            }
            Ok(_) if closed => {
                self.drop_conn(i, "server sent close");
                false
            }
            Ok(_) => true,
        }
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.world.clients[i];
        if c.fd < 0 || !matches!(c.state, State::Open | State::Handshaking) {
            return;
        }
        while c.out_pos < c.out.len() {
            match sys::send(c.fd, &c.out[c.out_pos..]) {
                Ok(n) => c.out_pos += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.drop_conn(i, &format!("send: {err}")),
            }
        }
        c.out.clear();
        c.out_pos = 0;
    }

    fn drop_conn(&mut self, i: usize, reason: &str) {
        let closing = self.world.closing;
        let c = &mut self.world.clients[i];
        let failed_attempt = matches!(c.state, State::Connecting | State::Handshaking)
            || (c.state == State::Open && !c.welcomed);
        if failed_attempt && !closing && c.attempts < MAX_ATTEMPTS {
            c.attempts += 1;
            // Retry after 100-200 ms (spread by client, so retries do not come in waves).
            if c.state != State::Open {
                self.in_setup = self.in_setup.saturating_sub(1);
            }
            if c.fd >= 0 {
                sys::close(c.fd);
                c.fd = -1;
            }
            c.state = State::NotStarted;
            c.out.clear();
            c.out_pos = 0;
            c.head.clear();
            self.readers[i] = Reader::default();
            let backoff = Duration::from_millis(100 + (i as u64 * 37) % 100);
            self.retry_queue.push_back((Instant::now() + backoff, i));
            self.retry_queue.make_contiguous().sort_by_key(|r| r.0);
            let t = &mut self.world.tally;
            t.connect_retries += 1;
            if t.connect_retries <= 3 {
                t.note_error(format!("client {i}: {reason} (retried)"));
            }
            return;
        }
        if failed_attempt && !closing {
            self.world.tally.connections_failed += 1;
        }
        match c.state {
            State::Connecting | State::Handshaking => {
                self.in_setup = self.in_setup.saturating_sub(1);
            }
            State::Open if !closing => self.world.tally.closed_early += 1,
            _ => {}
        }
        if c.state != State::Closed && !closing {
            let user = c.user.clone();
            self.world.tally.note_error(format!("{user}: {reason}"));
        }
        let c = &mut self.world.clients[i];
        if c.fd >= 0 {
            sys::close(c.fd);
            c.fd = -1;
        }
        c.state = State::Closed;
        c.head = Vec::new();
    }

    /// Storm: drops client `i`'s TCP connection on purpose and queues its reconnect.
    pub fn drop_and_reconnect(&mut self, i: usize, now: u64) {
        let c = &mut self.world.clients[i];
        if c.fd >= 0 {
            sys::close(c.fd);
            c.fd = -1;
        }
        c.state = State::NotStarted;
        c.out.clear();
        c.out_pos = 0;
        c.head.clear();
        c.welcomed = false;
        c.resume = Resume::Reconnecting;
        c.dropped_ns = Some(now);
        c.reconnected_ns = None;
        c.resumed_ns = None;
        self.readers[i] = Reader::default();
        self.connect_queue.push_back(i);
    }

    /// Connection attempts in progress at once from now on.
    pub fn set_connect_concurrency(&mut self, limit: usize) {
        self.world.settings.connect_concurrency = limit;
    }

    /// Storm: whether client `i` finished its resume.
    pub fn resumed(&self, i: usize) -> bool {
        self.world.clients[i].resumed_ns.is_some()
    }

    /// Sends a close frame on every open connection and closes every socket.
    pub fn close_all(&mut self) {
        self.world.closing = true;
        for i in 0..self.world.clients.len() {
            let c = &self.world.clients[i];
            if c.state != State::Closed && !(c.state == State::Open && c.welcomed) {
                // Still retrying when the run ended.
                self.world.tally.connections_failed += 1;
            }
            if self.world.clients[i].state == State::Open {
                let c = &mut self.world.clients[i];
                encode_close(&mut c.out, 1000, "loadgen done", Some(c.mask));
                self.flush(i);
            }
            self.drop_conn(i, "done");
        }
    }
}

/// Books an arrival in the late / duplicate / corrupt counters; whether it counts as a
/// new arrival.
fn book(arrival: Arrival, late: &mut u64, duplicated: &mut u64, corrupt: &mut u64) -> bool {
    match arrival {
        Arrival::InOrder => true,
        Arrival::Late => {
            *late += 1;
            true
        }
        Arrival::Duplicate => {
            *duplicated += 1;
            false
        }
        Arrival::Unknown => {
            *corrupt += 1;
            false
        }
    }
}

/// A latency from the intended send time, clamped to what the histograms hold.
fn latency_ns(now: u64, intended_ns: u64) -> u64 {
    now.saturating_sub(intended_ns).clamp(1, MAX_LATENCY_NS)
}
