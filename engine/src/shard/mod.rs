//! A shard: one thread pinned to one CPU, running one io_uring event loop that owns a
//! listener and every connection it accepted, for their whole lives.
//!
//! The loop is: submit what is queued and wait for completions ([`Uring::wait`]);
//! handle each completion (accept, received bytes, finished send, tick, wake-up);
//! then flush every connection that got output during the turn in one batch of sends
//! and wake the shards that got mesh messages. One `io_uring_enter` per turn does all
//! the submitting and the waiting.

mod auth_wait;
mod cluster;
mod conn;
mod control;
mod degrade;
mod durable;
mod frames;
mod handshake;
mod http_session;
mod msg;
mod output;
mod service;
mod session_host;
mod sessions;
mod tls;
mod tls_session;
mod token;

pub use msg::{SessionReq, ShardMsg};
pub use sessions::SessionLimits;

use std::collections::VecDeque;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_protocol::chat::Decoder;
use switchboard_protocol::ws::{self, close_code};

use crate::auth::Authenticator;
use crate::metrics::ShardCounters;
use crate::pressure::{Budgets, PressureMonitor};
use crate::shared::Shared;
use conn::{Phase, Slab};
use std::sync::atomic::Ordering;
use switchboard_driver::os as sys;
use switchboard_driver::{
    AnyDriver, Completion, Driver, DriverChoice, DriverConfig, RecvBuf, RecvEnd, ThinBuf,
};
use switchboard_protocol::conversation::Rules;
use switchboard_service::home::{HomeLimits, HomeOutput, Homes};
use switchboard_service::ids::ConnId;
use switchboard_service::presence::{Presence, ReloginPolicy};
use switchboard_service::router::{Router, RouterConfig, RouterOutput};

/// Timeouts and limits a shard applies to its connections.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Request head not complete in time: 408.
    pub handshake_timeout_ms: u64,
    /// A connection quiet this long is pinged.
    pub ping_interval_ms: u64,
    /// Nothing received this long: close 1001.
    pub idle_timeout_ms: u64,
    /// How long a close waits for the peer's.
    pub close_timeout_ms: u64,
    /// Shutdown ends within this.
    pub shutdown_deadline_ms: u64,
    /// Unsent bytes per connection before it is cut as a slow consumer.
    pub max_outbound_bytes: usize,
    /// Largest request head.
    pub max_handshake_bytes: usize,
    /// Connections per shard.
    pub max_connections: usize,
    /// Messages held back per destination shard.
    pub mesh_holdback: usize,
}

/// Everything a shard is configured with, made from the flags by
/// [`ServeArgs::shard_config`](crate::config::ServeArgs::shard_config): the shard never
/// reads the command line itself.
#[derive(Debug, Clone, Copy)]
pub struct ShardConfig {
    /// Connection timeouts and limits.
    pub settings: Settings,
    /// The I/O driver's sizes.
    pub driver: DriverConfig,
    /// WebSocket frame and message limits.
    pub ws: ws::Limits,
    /// The housekeeping tick.
    pub tick: Duration,
    /// `--batch-when-busy`.
    pub batch_when_busy: u32,
    /// Test-only: panic this long after start.
    pub injected_panic_ms: Option<u64>,
    /// HTTP long-poll and SSE sessions.
    pub sessions: sessions::SessionLimits,
}

/// Largest output buffer kept for reuse; bigger ones go back to the allocator.
const POOLED_BUFFER_MAX: usize = 64 * 1024;
/// Output buffers kept for reuse per shard.
const POOLED_BUFFERS: usize = 1024;

/// Everything a shard thread needs to start.
#[derive(Debug)]
pub struct ShardSetup {
    /// Shard index.
    pub index: usize,
    /// The shard's listener (bound, listening).
    pub listener: socket2::Socket,
    /// This shard's configuration.
    pub config: ShardConfig,
    /// What the node's shards share, the mesh among it.
    pub shared: Arc<Shared>,
    /// Who may connect to `/v1/ws`.
    pub auth: Arc<dyn Authenticator>,
    /// The connect webhook (`--auth-webhook`), and whether `auth` is tried first.
    pub webhook: Option<(Arc<crate::auth::webhook::WebhookClient>, bool)>,
    /// Routing settings (the router runs on shard 0).
    pub router: RouterConfig,
    /// Conversation rules and limits.
    pub conversations: (Rules, HomeLimits),
    /// Customer-service settings.
    pub service: ServiceSettings,
    /// Pressure budgets (the monitor runs on shard 0).
    pub budgets: Budgets,
    /// The Redis bridge, in cluster mode.
    pub cluster: crate::cluster::MaybeLink,
    /// The I/O driver every shard of the node runs (resolved: not `Auto`).
    pub driver: DriverChoice,
    /// The local store: this shard's appender (None: memory only, or cluster mode).
    pub store: Option<switchboard_store::Appender>,
    /// Conversations read back from the store, homed on this shard.
    pub recovered: Vec<switchboard_service::records::LoadedConv>,
    /// Shard 0: what the router must learn of them, in queue order, and one past the
    /// highest conversation id stored.
    pub router_restore: (Vec<switchboard_service::home::RouterNote>, u64),
    /// TLS on the listener (`--tls-cert`): every connection starts with a handshake.
    pub tls: Option<crate::tls::ShardTls>,
}

/// One shard's event loop and everything it owns.
#[derive(Debug)]
pub struct Shard {
    index: usize,
    driver: AnyDriver,
    conns: Slab,
    limits: ws::Limits,
    settings: Settings,
    tick: Duration,
    shared: Arc<Shared>,
    auth: Arc<dyn Authenticator>,
    /// The connect webhook's waiting room and cache, when `--auth-webhook` is set.
    webhook: Option<auth_wait::WebhookAuth>,
    listener: RawFd,
    accepting: bool,
    /// Slots that got output this turn.
    dirty: Vec<u32>,
    /// Cleared output buffers for reuse.
    pool: Vec<ThinBuf>,
    /// Scratch for encoding chat frames.
    scratch: Vec<u8>,
    decoder: Decoder,
    /// Mesh messages that found their queue full, per destination shard.
    held_back: Vec<VecDeque<ShardMsg>>,
    /// Destination shards to wake at the end of the turn.
    to_wake: Vec<bool>,
    started: Instant,
    now_ms: u64,
    shutdown_started_ms: Option<u64>,
    last_tick: Instant,
    /// Wall-clock milliseconds since the Unix epoch, read once per loop turn
    /// (timestamps of messages, conversation timeouts).
    wall_ms: u64,
    /// The router, on shard 0 only.
    router: Option<Router>,
    /// The conversations this shard is home to.
    homes: Homes,
    /// The users whose presence lives on this shard.
    presence: Presence,
    /// The pressure monitor (shard 0 only).
    pressure: Option<PressureMonitor>,
    /// The degradation level this shard applies.
    level: u8,
    /// Resident memory last read (shard 0).
    memory_bytes: u64,
    /// When memory was last read (shard clock, ms).
    memory_read_ms: u64,
    /// Customer-service settings.
    service: ServiceSettings,
    /// Service commands this shard sent itself, run before the turn ends.
    local: VecDeque<ShardMsg>,
    router_out: Vec<RouterOutput>,
    /// Scratch for where router outputs go.
    routed: Vec<switchboard_service::dispatch::Routed>,
    home_out: Vec<HomeOutput>,
    tick_out: Vec<(u64, HomeOutput)>,
    /// Cluster mode: the bridge, and what this shard waits for from it.
    cluster: Option<cluster::ClusterSide>,
    /// The local store's appender and the outputs waiting for it.
    store: Option<durable::StoreSide>,
    /// Shard 0: router notes of recovered conversations, applied before serving.
    router_restore: Option<(Vec<switchboard_service::home::RouterNote>, u64)>,
    /// This node's number (0 outside cluster mode): the top bits of connection ids.
    node: u16,
    /// `--batch-when-busy`: completions per turn from which waits batch.
    batch_when_busy: u32,
    /// Test-only: panic at this shard clock (ms) — the shard failure policy's test.
    injected_panic_ms: Option<u64>,
    /// The accept paused at a resource limit, and when to try again.
    accept_backoff: AcceptBackoff,
    /// TLS on the listener.
    tls: Option<crate::tls::ShardTls>,
    /// Scratch for decrypted bytes (one record's worth at a time, reused).
    tls_plain: Vec<u8>,
    /// HTTP long-poll and SSE sessions held here.
    sessions: sessions::Sessions,
    /// Their limits.
    session_limits: sessions::SessionLimits,
    /// Scratch for HTTP answers of sessions (reused).
    http_scratch: Vec<u8>,
}

/// Customer-service settings a shard needs at hand.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Tokens with this tier are VIP visitors.
    pub vip_tier: Box<str>,
    /// Typing indicators pass at most once per this interval per connection.
    pub typing_interval_ms: u64,
    /// At level 2+, lines per second a visitor connection may send (0: no limit).
    pub degrade_visitor_lines_per_s: u16,
    /// At level 2+, lines per second an agent connection may send (0: no limit).
    pub degrade_agent_lines_per_s: u16,
    /// Several connections per user, or the newest only.
    pub relogin: ReloginPolicy,
}

impl Shard {
    /// Builds the shard's ring and arms its listener, tick and wake-up read.
    pub fn new(setup: ShardSetup) -> std::io::Result<Self> {
        let config = setup.config;
        let driver = switchboard_driver::open(setup.driver, &config.driver)?;
        let shards = setup.shared.shards();
        let mut shard = Shard {
            index: setup.index,
            driver,
            conns: Slab::default(),
            limits: config.ws,
            settings: config.settings,
            tick: config.tick,
            shared: setup.shared,
            auth: setup.auth,
            webhook: setup
                .webhook
                .map(|(client, local_first)| auth_wait::WebhookAuth::new(client, local_first)),
            listener: setup.listener.into_raw_fd(),
            accepting: true,
            dirty: Vec::new(),
            pool: Vec::new(),
            scratch: Vec::new(),
            decoder: Decoder::default(),
            held_back: (0..shards).map(|_| VecDeque::new()).collect(),
            to_wake: vec![false; shards],
            started: Instant::now(),
            now_ms: 0,
            shutdown_started_ms: None,
            last_tick: Instant::now(),
            wall_ms: sys::wall_clock_ms(),
            router: (setup.index == 0).then(|| {
                let mut router = Router::new(setup.router.clone());
                if setup.cluster.is_some() {
                    router.use_id_blocks();
                }
                router
            }),
            homes: Homes::new(setup.conversations.0, setup.conversations.1),
            presence: Presence::new(setup.service.relogin),
            pressure: (setup.index == 0).then(|| PressureMonitor::new(setup.budgets)),
            level: 0,
            memory_bytes: 0,
            memory_read_ms: 0,
            service: setup.service.clone(),
            local: VecDeque::new(),
            router_out: Vec::new(),
            routed: Vec::new(),
            home_out: Vec::new(),
            tick_out: Vec::new(),
            node: setup.cluster.as_ref().map_or(0, |link| link.node()),
            batch_when_busy: config.batch_when_busy,
            injected_panic_ms: config.injected_panic_ms,
            accept_backoff: AcceptBackoff::default(),
            tls: setup.tls,
            tls_plain: Vec::new(),
            sessions: sessions::Sessions::default(),
            session_limits: config.sessions,
            http_scratch: Vec::new(),
            cluster: setup.cluster.map(cluster::ClusterSide::new),
            store: setup.store.map(durable::StoreSide::new),
            router_restore: (setup.index == 0).then_some(setup.router_restore),
        };
        if shard.store.is_some() {
            shard.homes.forget_followers_when_stored();
        }
        shard.install_recovered(setup.recovered);
        shard
            .driver
            .accept_multi(shard.listener, token::pack(token::ACCEPT, 0, 0));
        shard
            .driver
            .tick_every(shard.tick, token::pack(token::TICK, 0, 0));
        let waker = shard.shared.mesh().waker_fd(shard.index);
        shard
            .driver
            .watch_wake(waker, token::pack(token::WAKE, 0, 0));
        Ok(shard)
    }

    /// Runs until shutdown completes.
    pub fn run(mut self) -> std::io::Result<()> {
        let mut completions = Vec::with_capacity(1024);
        let mut load = BusyMeter::new(self.batch_when_busy);
        self.restore_router();
        loop {
            completions.clear();
            // This turn's store records go as one batch before the shard waits.
            self.flush_store();
            if self.shared.mesh().may_sleep(self.index) {
                let waited = self.driver.wait(&mut completions, load.busy());
                self.shared.mesh().awake(self.index);
                waited?;
            } else {
                self.driver.poll(&mut completions)?;
            }
            self.now_ms = self.started.elapsed().as_millis() as u64;
            self.wall_ms = sys::wall_clock_ms();
            load.count(completions.len(), self.now_ms);
            for completion in completions.drain(..) {
                self.handle(completion);
            }
            self.drain_store();
            self.drain_mesh();
            self.run_local();
            self.answer_ready_sessions();
            self.flush_dirty();
            self.flush_mesh();
            if self.finished() {
                tracing::debug!(shard = self.index, "shard stopped");
                return Ok(());
            }
        }
    }

    fn finished(&self) -> bool {
        let Some(started) = self.shutdown_started_ms else {
            return false;
        };
        (self.conns.is_empty() && !self.accepting)
            || self.now_ms >= started + self.settings.shutdown_deadline_ms
    }

    fn handle(&mut self, completion: Completion) {
        match completion {
            Completion::Accepted { fd, .. } => {
                self.accept_backoff.reset();
                self.admit(fd);
            }
            Completion::AcceptStopped { error, .. } => self.on_accept_stopped(error),
            Completion::Received { token, buf } => {
                let (_, slot, generation) = token::unpack(token);
                self.on_received(slot, generation, buf);
            }
            Completion::RecvStopped { token, end } => {
                let (_, slot, generation) = token::unpack(token);
                self.on_recv_stopped(slot, generation, end);
            }
            Completion::Sent { token, result, buf } => {
                let (_, slot, generation) = token::unpack(token);
                self.on_sent(slot, generation, result, buf);
            }
            Completion::Tick { .. } => self.on_tick(),
            Completion::Woken { .. } => self.on_wake(),
        }
    }

    /// The shard clock as kept in connections (ms, wrapping every 49 days).
    fn now32(&self) -> u32 {
        self.now_ms as u32
    }

    /// The wrapping clock value `ms` from now (timeouts are validated below 2^31 ms).
    fn deadline_in(&self, ms: u64) -> u32 {
        self.now_ms.wrapping_add(ms) as u32
    }

    fn conn_id(&self, slot: u32, generation: u32) -> ConnId {
        ConnId::new(self.index, slot, generation).on_node(self.node)
    }

    fn publish_connections(&self) {
        self.shared.set_connections(self.index, self.conns.len());
    }

    /// The accept ended: at shutdown the listener closes; at a resource limit (the
    /// descriptor limit, kernel memory) it is armed again later, from the tick, with a
    /// growing backoff — re-arming at once would spin the shard until a descriptor is
    /// free; otherwise it is armed again at once.
    fn on_accept_stopped(&mut self, error: Option<std::io::Error>) {
        if self.shutdown_started_ms.is_some() {
            self.accepting = false;
            sys::close(self.listener);
            return;
        }
        let errno = error.as_ref().and_then(std::io::Error::raw_os_error);
        if matches!(
            errno,
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        ) {
            ShardCounters::bump(&self.counters().accept_errors);
            self.accept_backoff.pause(self.now_ms, error, self.index);
            return;
        }
        if let Some(err) = error.filter(|_| errno != Some(libc::ECANCELED)) {
            tracing::warn!(shard = self.index, %err, "accept failed");
        }
        self.accept_backoff.reset();
        self.arm_accept();
    }

    fn arm_accept(&mut self) {
        self.driver
            .accept_multi(self.listener, token::pack(token::ACCEPT, 0, 0));
    }

    /// From the tick: accept again once a paused accept's backoff has run out.
    fn resume_accept(&mut self) {
        if self.accept_backoff.due(self.now_ms) && self.shutdown_started_ms.is_none() {
            self.arm_accept();
        }
    }

    fn admit(&mut self, fd: RawFd) {
        // At level 3 the kernel sheds when eBPF steering is on (admitting each source
        // at its token-bucket rate); without it, the shard refuses here.
        let shed = self.level >= 3 && !self.shared.kernel_sheds();
        if self.conns.len() >= self.settings.max_connections || !self.accepting_new() || shed {
            ShardCounters::bump(&self.counters().rejects);
            sys::close(fd);
            return;
        }
        let tls = match self.new_tls_session() {
            Ok(tls) => tls,
            Err(err) => {
                tracing::warn!(shard = self.index, %err, "connection refused: TLS session");
                ShardCounters::bump(&self.counters().rejects);
                sys::close(fd);
                return;
            }
        };
        if let Err(err) = self.driver.register_socket(fd) {
            tracing::warn!(shard = self.index, %err, "connection refused: io_uring file table");
            ShardCounters::bump(&self.counters().rejects);
            sys::close(fd);
            return;
        }
        let deadline = self.deadline_in(self.settings.handshake_timeout_ms);
        let Some((slot, generation)) = self.conns.insert(fd, self.now32(), deadline) else {
            self.driver.unregister_socket(fd);
            ShardCounters::bump(&self.counters().rejects);
            sys::close(fd);
            return;
        };
        if let Some(conn) = self.conns.get_mut(slot, generation) {
            conn.recv_armed = true;
            conn.tls = tls;
        }
        self.driver
            .recv_multi(fd, token::pack(token::RECV, slot, generation));
        ShardCounters::bump(&self.counters().accepts);
        self.publish_connections();
    }

    /// This shard's counters.
    pub(super) fn counters(&self) -> &ShardCounters {
        self.shared.metrics().shard(self.index)
    }

    /// Whether new connections are taken (not shutting down, not draining).
    fn accepting_new(&self) -> bool {
        self.shutdown_started_ms.is_none() && !self.shared.draining()
    }

    /// Bytes for a connection (the buffer goes back to the pool when dropped here).
    fn on_received(&mut self, slot: u32, generation: u32, mut buf: RecvBuf) {
        match self.conns.get_mut(slot, generation) {
            Some(conn) if conn.tls.is_some() => {
                self.on_tls_bytes(slot, generation, buf.bytes_mut())
            }
            Some(_) => self.on_bytes(slot, generation, buf.bytes_mut()),
            None => {}
        }
    }

    /// A connection's receive ended: the peer closed or failed (tear down), or the
    /// driver stopped it (every buffer was out: arm it again).
    fn on_recv_stopped(&mut self, slot: u32, generation: u32, end: RecvEnd) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        conn.recv_armed = false;
        match end {
            RecvEnd::Stopped if conn.phase != Phase::Dead => {
                conn.recv_armed = true;
                let fd = conn.fd;
                self.driver
                    .recv_multi(fd, token::pack(token::RECV, slot, generation));
            }
            RecvEnd::Stopped | RecvEnd::Cancelled => {}
            RecvEnd::Eof | RecvEnd::Failed(_) => self.teardown(slot, generation),
        }
        self.finish_teardown(slot, generation);
    }

    fn on_bytes(&mut self, slot: u32, generation: u32, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        conn.last_rx_ms = self.now_ms as u32;
        conn.ping_outstanding = false;
        match conn.phase {
            Phase::Handshake => self.on_handshake_bytes(slot, generation, data),
            Phase::Authenticating => self.on_bytes_while_authenticating(slot, generation, data),
            Phase::Open => self.on_frame_bytes(slot, generation, data),
            // Bytes after our close frame (the peer's close, or late data), or after
            // a session request (answers close the connection), are dropped.
            Phase::Http | Phase::Closing | Phase::Dead => {}
        }
    }

    fn on_tick(&mut self) {
        if self.injected_panic_ms.is_some_and(|at| self.now_ms >= at) {
            panic!("injected fault (--inject-shard-panic)");
        }
        self.resume_accept();
        self.measure_lag();
        self.check_pressure();
        self.service_tick();
        self.sessions_tick();
        self.sweep_auth_waits();
        let now = self.now32();
        let mut unsent = 0u64;
        for slot in 0..self.conns.capacity_slots() {
            let Some(conn) = self.conns.slot_mut(slot) else {
                continue;
            };
            let generation = conn.generation;
            unsent += conn.unsent_bytes() as u64;
            let quiet = u64::from(now.wrapping_sub(conn.last_rx_ms));
            let overdue = reached(now, conn.deadline_ms);
            match conn.phase {
                Phase::Handshake if overdue => {
                    self.respond_error(
                        slot,
                        generation,
                        408,
                        "Request Timeout",
                        "timeout",
                        "request head not received in time",
                    );
                }
                Phase::Authenticating if overdue => self.respond_error(
                    slot,
                    generation,
                    503,
                    "Service Unavailable",
                    "auth_unavailable",
                    "the auth back end did not answer in time",
                ),
                Phase::Closing if overdue => self.teardown(slot, generation),
                Phase::Http if conn.deadline_ms != 0 && overdue => {
                    self.respond_error(
                        slot,
                        generation,
                        504,
                        "Gateway Timeout",
                        "session_timeout",
                        "the session did not answer in time",
                    );
                }
                Phase::Open if quiet >= self.settings.idle_timeout_ms => {
                    self.close_with(slot, generation, close_code::GOING_AWAY, "idle timeout");
                }
                Phase::Open
                    if quiet >= self.settings.ping_interval_ms && !conn.ping_outstanding =>
                {
                    conn.ping_outstanding = true;
                    self.enqueue_frame(slot, generation, ws::Opcode::Ping, b"keepalive");
                }
                _ => {}
            }
            self.finish_teardown(slot, generation);
        }
        self.counters()
            .outbound_queue_bytes
            .store(unsent, Ordering::Relaxed);
    }

    /// Event-loop lag: how much later than its period this tick ran.
    fn measure_lag(&mut self) {
        let now = Instant::now();
        let late = now.saturating_duration_since(self.last_tick + self.tick);
        self.last_tick = now;
        self.counters()
            .loop_lag_us
            .store(late.as_micros() as u64, Ordering::Relaxed);
        self.counters()
            .heartbeat_ms
            .store(self.wall_ms, Ordering::Relaxed);
        self.counters()
            .conversations
            .store(self.homes.len() as u64, Ordering::Relaxed);
        self.counters()
            .http_sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
    }

    fn on_wake(&mut self) {
        self.drain_control();
        self.apply_level();
        // The mesh queues are drained at the end of every turn (see `run`).
        if self.shared.shutting_down() && self.shutdown_started_ms.is_none() {
            self.begin_shutdown();
        }
    }

    /// Handles every message other shards queued for this one.
    fn drain_mesh(&mut self) {
        for from in 0..self.shared.shards() {
            if from == self.index {
                continue;
            }
            while let Some(msg) = self.shared.mesh().pop(from, self.index) {
                self.on_mesh_message(msg);
            }
        }
        while let Some(msg) = self.shared.mesh().pop_inbound(self.index) {
            self.on_mesh_message(msg);
        }
    }

    fn begin_shutdown(&mut self) {
        tracing::info!(
            shard = self.index,
            connections = self.conns.len(),
            "shutting down"
        );
        self.shutdown_started_ms = Some(self.now_ms);
        let within = self
            .settings
            .close_timeout_ms
            .min(self.settings.shutdown_deadline_ms);
        self.close_all(close_code::GOING_AWAY, "server shutting down", within);
    }

    /// Stops accepting and closes every connection: open ones with `code` and `reason`,
    /// waiting at most `within_ms` for each peer's close; half-done handshakes at once.
    /// Shutdown and drain both end this way.
    pub(super) fn close_all(&mut self, code: u16, reason: &str, within_ms: u64) {
        self.driver
            .cancel_accept(self.listener, token::pack(token::ACCEPT, 0, 0));
        for slot in 0..self.conns.capacity_slots() {
            let Some(conn) = self.conns.slot_mut(slot) else {
                continue;
            };
            let generation = conn.generation;
            match conn.phase {
                Phase::Open => {
                    self.close_with(slot, generation, code, reason);
                    let deadline = self.deadline_in(within_ms);
                    if let Some(conn) = self.conns.get_mut(slot, generation) {
                        conn.deadline_ms = deadline;
                    }
                }
                Phase::Handshake | Phase::Authenticating => self.teardown(slot, generation),
                Phase::Http => self.respond_error(
                    slot,
                    generation,
                    503,
                    "Service Unavailable",
                    "shutting_down",
                    reason,
                ),
                Phase::Closing | Phase::Dead => {}
            }
            self.finish_teardown(slot, generation);
        }
    }

    /// Sends what each destination shard got this turn and wakes it once.
    fn flush_mesh(&mut self) {
        for to in 0..self.held_back.len() {
            while let Some(msg) = self.held_back[to].pop_front() {
                if let Err(msg) = self.shared.mesh().push(self.index, to, msg) {
                    self.held_back[to].push_front(msg);
                    break;
                }
                self.to_wake[to] = true;
            }
            if std::mem::take(&mut self.to_wake[to]) {
                self.shared.mesh().wake_if_sleeping(to);
            }
        }
    }

    fn send_to_shard(&mut self, to: usize, msg: ShardMsg) {
        if self.held_back[to].len() >= self.settings.mesh_holdback && msg.is_droppable() {
            // The destination is far behind: frames are given up (their recipients
            // resume from the seq they have), commands never are.
            ShardCounters::bump(&self.counters().mesh_dropped);
            self.to_wake[to] = true;
            return;
        }
        if self.held_back[to].is_empty() {
            match self.shared.mesh().push(self.index, to, msg) {
                Ok(()) => {
                    self.to_wake[to] = true;
                    return;
                }
                Err(msg) => self.held_back[to].push_back(msg),
            }
        } else {
            self.held_back[to].push_back(msg);
        }
        // The destination is behind; it is woken now so it drains its queue.
        self.to_wake[to] = true;
    }
}

/// `--batch-when-busy`: whether the shard's completion rate over the last window of
/// [`BusyMeter::WINDOW_MS`] reached the threshold (and, once busy, stays above half
/// of it). A rate, not completions per turn:
/// batching itself puts more completions in each turn, so a per-turn measure would
/// keep batching on once it started.
#[derive(Debug)]
struct BusyMeter {
    per_window: u64,
    window_start_ms: u64,
    count: u64,
    busy: bool,
}

impl BusyMeter {
    const WINDOW_MS: u64 = 16;

    fn new(per_ms: u32) -> Self {
        BusyMeter {
            per_window: u64::from(per_ms) * Self::WINDOW_MS,
            window_start_ms: 0,
            count: 0,
            busy: per_ms == 0,
        }
    }

    fn count(&mut self, completions: usize, now_ms: u64) {
        if self.per_window == 0 {
            return;
        }
        self.count += completions as u64;
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        if elapsed >= Self::WINDOW_MS {
            // Hysteresis: on at the threshold, off below half of it (batching itself
            // lowers the completion rate: sends merge, fewer wake-ups).
            let rate = self.count * Self::WINDOW_MS;
            let bar = self.per_window * elapsed;
            self.busy = if self.busy {
                rate * 2 >= bar
            } else {
                rate >= bar
            };
            self.window_start_ms = now_ms;
            self.count = 0;
        }
    }

    fn busy(&self) -> bool {
        self.busy
    }
}

/// Whether the wrapping clock value `deadline` has passed at `now`.
fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) as i32 >= 0
}

/// An accept paused at a resource limit (`EMFILE`, `ENFILE`, ...): when to try again
/// (10 ms, doubling to 1 s, as libuv and Go back off), and a log line at most every
/// [`AcceptBackoff::LOG_EVERY_MS`] with how often it happened meanwhile.
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// Armed again at this shard time (None: not paused).
    retry_at_ms: Option<u64>,
    delay_ms: u64,
    last_log_ms: Option<u64>,
    since_log: u64,
}

impl AcceptBackoff {
    const FIRST_MS: u64 = 10;
    const MAX_MS: u64 = 1_000;
    const LOG_EVERY_MS: u64 = 10_000;

    fn pause(&mut self, now_ms: u64, error: Option<std::io::Error>, shard: usize) {
        self.delay_ms = (self.delay_ms * 2).clamp(Self::FIRST_MS, Self::MAX_MS);
        self.retry_at_ms = Some(now_ms + self.delay_ms);
        self.since_log += 1;
        let quiet = self
            .last_log_ms
            .is_none_or(|at| now_ms >= at + Self::LOG_EVERY_MS);
        if quiet {
            let err = error.map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(
                shard,
                times = self.since_log,
                retry_in_ms = self.delay_ms,
                "accept paused at a resource limit ({err}); retrying with backoff \
                 (switchboard_accept_errors_total counts them)"
            );
            self.last_log_ms = Some(now_ms);
            self.since_log = 0;
        }
    }

    /// Whether a paused accept should be armed now (it then counts as armed).
    fn due(&mut self, now_ms: u64) -> bool {
        match self.retry_at_ms {
            Some(at) if now_ms >= at => {
                self.retry_at_ms = None;
                true
            }
            _ => false,
        }
    }

    /// The accept worked again: the next pause starts from the shortest delay.
    fn reset(&mut self) {
        self.delay_ms = 0;
    }
}
