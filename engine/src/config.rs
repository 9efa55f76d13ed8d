//! Command-line configuration. Every limit the engine enforces is a flag here, with
//! a default that suits one node serving a busy shop.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Switchboard: the connection engine of a self-hosted live-chat system.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of `switchboard`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: shards, listeners and every endpoint.
    Serve(Box<ServeArgs>),
    /// Call a running node's control API (stats, conversations, agents, kick, drain …).
    Ctl(Box<switchboard_control_api::CtlArgs>),
}

/// Flags of `switchboard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Public address for WebSocket and HTTP (`/v1/ws`, `/echo`, `/health`).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Number of shards (event loops); default: one per available CPU.
    #[arg(long)]
    pub shards: Option<usize>,
    /// CPUs to pin shards to, e.g. `0,1` or `0-3`; shard i runs on the i-th CPU listed.
    #[arg(long, value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Listen backlog of each shard's listener.
    #[arg(long, default_value_t = 4096)]
    pub backlog: i32,
    /// Largest payload of one WebSocket frame; larger frames close the connection (1009).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,
    /// Largest message, all fragments together (1009 when exceeded).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Unsent bytes a connection may have queued before it is cut as a slow consumer (1013).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_outbound_bytes: usize,
    /// Largest HTTP request head (431 when exceeded).
    #[arg(long, default_value_t = 8192)]
    pub max_handshake_bytes: usize,
    /// HTTP sessions (long-poll, SSE): longest wait of a long-poll with nothing to
    /// return (it then answers with no frames and the client polls again).
    #[arg(long, default_value_t = 25_000)]
    pub poll_wait_ms: u64,
    /// HTTP sessions: frames buffered for a client that has not polled them (or, on
    /// SSE, kept for a `Last-Event-ID` reconnect); one more ends the session.
    #[arg(long, default_value_t = 256)]
    pub session_buffer_frames: usize,
    /// HTTP sessions: a session nobody polls or streams this long ends, and its
    /// user's presence goes as when a WebSocket closes.
    #[arg(long, default_value_t = 60_000)]
    pub session_idle_ms: u64,
    /// HTTP sessions: an idle SSE stream gets a keep-alive comment this often.
    #[arg(long, default_value_t = 15_000)]
    pub sse_keepalive_ms: u64,
    /// HTTP sessions: largest request body (`Content-Length`; 413 over it).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_request_body_bytes: usize,
    /// HTTP sessions: frames one upstream request may carry (400 over it).
    #[arg(long, default_value_t = 64)]
    pub session_post_frames: usize,
    /// HTTP sessions one shard holds at most (503 over it; at most 262144).
    #[arg(long, default_value_t = 100_000)]
    pub max_sessions_per_shard: usize,
    /// Time allowed for the whole request head to arrive (slowloris guard; 408).
    #[arg(long, default_value_t = 5000)]
    pub handshake_timeout_ms: u64,
    /// The server pings a connection that has been quiet this long.
    #[arg(long, default_value_t = 30_000)]
    pub ping_interval_ms: u64,
    /// A connection that sent nothing (not even a pong) this long is closed (1001).
    #[arg(long, default_value_t = 90_000)]
    pub idle_timeout_ms: u64,
    /// After sending a close frame, wait this long for the peer's close, then drop TCP.
    #[arg(long, default_value_t = 2000)]
    pub close_timeout_ms: u64,
    /// On SIGINT/SIGTERM the process exits within this deadline.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_deadline_ms: u64,
    /// Connections one shard holds at most; further accepts are closed at once.
    #[arg(long, default_value_t = 100_000)]
    pub max_connections_per_shard: usize,
    /// I/O driver of the shards: `io-uring`, `epoll`, or `auto` (io_uring, and epoll
    /// when io_uring is refused — by Docker's or Kubernetes' default seccomp profile,
    /// `kernel.io_uring_disabled`, or an old kernel — with one log line saying so).
    #[arg(long, value_enum, default_value_t = IoDriver::Auto)]
    pub io_driver: IoDriver,
    /// Receive buffers per shard, shared by all its connections (power of two, ≤ 32768).
    /// Default: 4096 up to 4 shards, then a node-wide budget of 16384 shared out (at
    /// least 512 per shard), so the fixed memory stays linear in shards with a small
    /// constant (the buffers are a fixed cost, mapped at start).
    #[arg(long)]
    pub recv_buffers: Option<u16>,
    /// Size of each receive buffer in bytes.
    #[arg(long, default_value_t = 4096)]
    pub recv_buffer_size: u32,
    /// Completion batching (Linux ≥ 6.12, io_uring min-wait): a shard about to sleep
    /// waits up to this many microseconds for `--batch-want` completions, then wakes at
    /// the first one, so under moderate load one loop turn (one io_uring_enter, one
    /// batch of sends, one wake-up per other shard) handles several messages. Trades
    /// latency for CPU: each hop may wait up to this long (an idle shard still sleeps
    /// until its first event; with `--batch-when-busy` only a busy shard batches).
    /// 0: off, a shard wakes at every completion. Ignored, with a warning, on a kernel
    /// without min-wait.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub batch_wait_us: u32,
    /// Completions a batched wait asks for (see `--batch-wait-us`); it ends early once
    /// that many are there.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_want: u32,
    /// Batch only while the shard is busy: when it handled at least this many
    /// completions per millisecond over the last 16 ms (0: always batch). A quiet
    /// shard then keeps waking at its first completion, so low load keeps its latency.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub batch_when_busy: u32,
    /// Messages a shard may have queued towards one other shard before it holds them back
    /// (the queues grow on demand: an idle pair costs no slots).
    #[arg(long, default_value_t = 65_536)]
    pub mesh_queue: usize,
    /// Messages from the cluster bridge (other nodes, Redis answers) one shard may have
    /// waiting; beyond it the bridge retries, then drops with a log line.
    #[arg(long, default_value_t = 65_536)]
    pub mesh_inbound_queue: usize,
    /// Messages a shard holds back per destination shard whose queue is full. Beyond it,
    /// frames for that shard's connections are dropped (counted in
    /// `switchboard_mesh_dropped_total`; the recipients see a `seq` jump and `resume`);
    /// service commands are always kept.
    #[arg(long, default_value_t = 65_536)]
    pub mesh_holdback: usize,
    /// HS256 secret that signs visitor and agent tokens (JWT) of `/v1/ws`; at least
    /// 32 bytes (RFC 7518 §3.2), or the node refuses to start.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Clock skew tolerated on a token's `exp` and `nbf`, in seconds (at most 600): a
    /// token is refused once `now >= exp + leeway`.
    #[arg(long, default_value_t = crate::auth::DEFAULT_LEEWAY_SECS,
          value_parser = clap::value_parser!(u64).range(0..=crate::auth::MAX_LEEWAY_SECS))]
    pub jwt_leeway_s: u64,
    /// File holding the HS256 secret (one trailing newline is ignored; at least 32 bytes).
    #[arg(long)]
    pub jwt_secret_file: Option<std::path::PathBuf>,
    /// PEM file with the Ed25519 (EdDSA) or RSA (RS256) public key that verifies tokens.
    #[arg(long)]
    pub jwt_public_key: Option<std::path::PathBuf>,
    /// Let visitors in without a token (they get an issued id `anon-<conn>`).
    #[arg(long)]
    pub anonymous_visitors: bool,
    /// Connect webhook: POST each new credential (token and the cookies named by
    /// --auth-webhook-cookie) as JSON to this URL and take the identity it answers
    /// (200 `{"user","role","tier","groups","expires_in_s"}`; 401/403 refuse). Tokens the
    /// --jwt-* key verifies need no call. Failures and timeouts give the client 503.
    #[arg(long)]
    pub auth_webhook: Option<String>,
    /// Cookie forwarded to the connect webhook (repeatable), e.g. a shop's session cookie.
    #[arg(long = "auth-webhook-cookie", value_name = "NAME")]
    pub auth_webhook_cookies: Vec<String>,
    /// Deadline of one connect webhook call, connect included, in ms.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub auth_webhook_timeout_ms: u64,
    /// Longest time an identity from the webhook is reused without a call, in ms (the
    /// answer's `expires_in_s` may shorten it; 0: ask every time).
    #[arg(long, default_value_t = 60_000)]
    pub auth_webhook_cache_ms: u64,
    /// How long a refusal from the webhook is remembered, in ms.
    #[arg(long, default_value_t = 5_000)]
    pub auth_webhook_refusal_cache_ms: u64,
    /// Answers each shard caches at most.
    #[arg(long, default_value_t = 65_536)]
    pub auth_webhook_cache_entries: usize,
    /// Connect webhook calls in flight at once (worker threads).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub auth_webhook_workers: u64,
    /// Calls waiting for a worker at most; beyond, 503 at once.
    #[arg(long, default_value_t = 4_096)]
    pub auth_webhook_queue: usize,
    /// Connections one shard may have waiting for the webhook; beyond, 503.
    #[arg(long, default_value_t = 10_000)]
    pub auth_webhook_max_waiting: usize,
    /// Ordered items (messages, system events) kept per conversation for resume.
    #[arg(long, default_value_t = 1000)]
    pub history_len: usize,
    /// Concurrent conversations of an agent that has not set its own capacity.
    #[arg(long, default_value_t = 5)]
    pub agent_capacity: u32,
    /// How long an agent whose last connection dropped keeps its conversations.
    #[arg(long, default_value_t = 30_000)]
    pub agent_grace_ms: u64,
    /// A waiting visitor is told a changed queue place (an ephemeral `queue` frame) at
    /// most this often.
    #[arg(long, default_value_t = 1_500)]
    pub queue_position_interval_ms: u64,
    /// How long a transfer offer waits for the target agent's answer.
    #[arg(long, default_value_t = 60_000)]
    pub transfer_timeout_ms: u64,
    /// A conversation with no message or transition for this long ends.
    #[arg(long, default_value_t = 30 * 60 * 1000)]
    pub inactivity_timeout_ms: u64,
    /// How long an ended conversation stays readable (resume, late acks).
    #[arg(long, default_value_t = 5 * 60 * 1000)]
    pub ended_retention_ms: u64,
    /// Connections following one conversation at most (tabs and devices of both sides).
    #[arg(long, default_value_t = 32)]
    pub max_followers: usize,
    /// At degradation level 2 and above, chat lines a visitor connection may send per
    /// second; more get `error rate_limited` and no `sent`, so a flood from some
    /// conversations cannot starve the others. 0: no limit.
    #[arg(long, default_value_t = 20)]
    pub degrade_visitor_lines_per_s: u16,
    /// At degradation level 2 and above, chat lines an agent connection may send per
    /// second (over all its conversations). 0: no limit.
    #[arg(long, default_value_t = 60)]
    pub degrade_agent_lines_per_s: u16,
    /// Typing indicators pass at most once per this interval per connection.
    #[arg(long, default_value_t = 1000)]
    pub typing_interval_ms: u64,
    /// Token tier (`tier` claim) that makes a visitor a VIP.
    #[arg(long, default_value = "vip")]
    pub vip_tier: String,
    /// Agent group that serves VIP visitors first.
    #[arg(long, default_value = "vip")]
    pub vip_group: String,
    /// A user opening another connection: keep all (`allow`) or close the older ones
    /// (`replace`, close code 4001).
    #[arg(long, value_enum, default_value = "allow")]
    pub relogin: Relogin,
    /// Address of the control API (HTTP JSON for the admin and routing services), or
    /// `off`. A non-loopback address requires a token.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub control_listen: String,
    /// Bearer token the control API requires.
    #[arg(long, env = "SWITCHBOARD_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// File holding the control API's bearer token.
    #[arg(long)]
    pub control_token_file: Option<std::path::PathBuf>,
    /// Pressure budget: event-loop lag (ms) that counts as 100 %.
    #[arg(long, default_value_t = 200)]
    pub budget_loop_lag_ms: u64,
    /// Pressure budget: unsent bytes over all connections (MiB) that count as 100 %.
    #[arg(long, default_value_t = 512)]
    pub budget_queued_mib: u64,
    /// Pressure budget: connections that count as 100 % (default: 90 % of
    /// --max-connections-per-shard × shards).
    #[arg(long)]
    pub budget_connections: Option<u64>,
    /// Pressure budget: resident memory (MiB) that counts as 100 %.
    #[arg(long, default_value_t = 8192)]
    pub budget_memory_mib: u64,
    /// eBPF programs: `off`, `auto` (use them when the kernel and privileges allow,
    /// otherwise say why and run without) or `required` (fail to start without them).
    #[arg(long, default_value = "auto", value_parser = crate::kernel::parse_mode)]
    pub ebpf: switchboard_ebpf::Mode,
    /// How the eBPF program picks a shard for a new connection: `hash` or
    /// `least-loaded` (a stalled or busy shard stops getting new connections).
    #[arg(long, default_value = "least-loaded", value_parser = crate::kernel::parse_steer)]
    pub steer: switchboard_ebpf::SteerMode,
    /// Network interface to guard with the XDP program (drops new SYNs at level 3 over
    /// the per-source token bucket, before a socket exists). Off when not given.
    #[arg(long)]
    pub xdp_interface: Option<String>,
    /// At level 3, new connections admitted per second per source address (kernel token bucket).
    #[arg(long, default_value_t = 20)]
    pub shed_rate: u32,
    /// At level 3, the burst of new connections a source may open at once.
    #[arg(long, default_value_t = 40)]
    pub shed_burst: u32,
    /// Cluster mode: the Redis URL (`redis://[user:password@]host:port/db`), or a
    /// Redis Cluster's seed URLs separated by commas. Without it the node runs alone on
    /// its embedded defaults.
    #[arg(long, env = "SWITCHBOARD_REDIS", hide_env_values = true)]
    pub redis: Option<String>,
    /// `--redis` names a Redis Cluster (implied when it lists several seed URLs,
    /// comma-separated).
    #[arg(long)]
    pub redis_cluster: bool,
    /// This node's name in the cluster registry (default: host name and process id).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Cluster mode: a node whose heartbeat is this old is dead, and its conversations
    /// are taken over (it heartbeats every third of it).
    #[arg(long, default_value_t = 3000)]
    pub node_ttl_ms: u64,
    /// Cluster mode: timeout of one Redis round trip.
    #[arg(long, default_value_t = 1000)]
    pub redis_timeout_ms: u64,
    /// Cluster mode: requests the shards may have waiting for the Redis bridge; over
    /// it a client gets an `unavailable` error at once.
    #[arg(long, default_value_t = 65_536)]
    pub cluster_queue: usize,
    /// Cluster mode: approximate length of the admin event stream `sb:events`.
    #[arg(long, default_value_t = 1_000_000)]
    pub events_maxlen: usize,
    /// The durable store's data directory (created on first start; one process at a
    /// time: a second one on the same directory is refused). Not used in cluster mode,
    /// where Redis is the source of truth.
    #[arg(long, default_value = "./switchboard-data")]
    pub data_dir: std::path::PathBuf,
    /// `sync`: `sent` only once the line is on stable storage (fdatasync); `async`:
    /// once written, synced within --durability-sync-interval-ms; `off`: memory only.
    #[arg(long, value_enum, default_value_t = Durability::Sync)]
    pub durability: Durability,
    /// `--durability async`: the longest a written line waits for its fdatasync.
    #[arg(long, default_value_t = 10)]
    pub durability_sync_interval_ms: u64,
    /// Store writes a shard may have in flight; over it a line is refused with
    /// `unavailable` (the client sends it again with the same client_msg_id).
    #[arg(long, default_value_t = 4096)]
    pub store_queue_depth: usize,
    /// A store log segment is sealed (and may be compacted) at this size (MiB).
    #[arg(long, default_value_t = 64)]
    pub store_segment_mib: u32,
    /// `GET /v1/events`: the largest `limit` (events per page).
    #[arg(long, default_value_t = 1000)]
    pub events_max_limit: usize,
    /// `GET /v1/events`: the longest `wait_ms` a long-poll may ask for.
    #[arg(long, default_value_t = 25_000)]
    pub events_max_wait_ms: u64,
    /// Ended conversations are kept on disk this long (e.g. `30d`, `12h`, `90m`, `45s`)
    /// after their last activity; compaction drops them afterwards.
    #[arg(long, default_value = "30d", value_parser = parse_retain)]
    pub retain: Duration,
    /// PEM certificate chain (leaf first) that turns on TLS on the public listener
    /// (`wss://`, `https://`); needs `--tls-key`. Repeat both for several certificates,
    /// chosen per connection by SNI (the first pair when no name matches). SIGHUP
    /// reloads the files: new handshakes get the new certificates, open connections
    /// stay as they are, and a file that fails to load keeps the old ones (logged).
    #[arg(long)]
    pub tls_cert: Vec<std::path::PathBuf>,
    /// PEM private key of the `--tls-cert` at the same position.
    #[arg(long)]
    pub tls_key: Vec<std::path::PathBuf>,
    /// Also accept TLS 1.2 (default: TLS 1.3 only).
    #[arg(long)]
    pub tls12: bool,
    /// TLS 1.3 session tickets sent after each full handshake, for resumption (0: none,
    /// every reconnect is a full handshake).
    #[arg(long, default_value_t = 2)]
    pub tls_tickets: usize,
    /// Which rustls API the shards drive: `unbuffered` (no TLS buffer held while a
    /// connection is idle) or `buffered` (kept to compare; see docs/design.md).
    #[arg(long, value_enum, default_value_t = crate::tls::TlsApi::Unbuffered, hide = true)]
    pub tls_api: crate::tls::TlsApi,
    /// Test-only fault injection: `SHARD:MS` makes shard SHARD panic MS milliseconds
    /// after it started (to test the shard failure policy).
    #[arg(long, hide = true)]
    pub inject_shard_panic: Option<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
}

/// `--durability`: when a line counts as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Acknowledged once on stable storage.
    Sync,
    /// Acknowledged once written; synced within a bounded interval.
    Async,
    /// Memory only (no data directory).
    Off,
}

/// Parses `--retain`: a number and a unit (`d`, `h`, `m`, `s`).
fn parse_retain(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 30d"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{text:?}: the unit is d, h, m or s")),
    };
    number
        .checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Receive buffers of the whole node when `--recv-buffers` is not given.
const RECV_BUFFER_BUDGET: usize = 16_384;

impl ServeArgs {
    /// Receive buffers each shard gets (`--recv-buffers`, or the node-wide budget
    /// shared out, at most 4096 and at least 512 a shard).
    pub fn recv_buffers_per_shard(&self) -> u16 {
        self.recv_buffers.unwrap_or_else(|| {
            let share = (RECV_BUFFER_BUDGET / self.shard_count().max(1)).clamp(512, 4096);
            // A power of two, rounded down.
            1u16 << (usize::BITS - 1 - share.leading_zeros())
        })
    }

    /// What shard `index` is configured with.
    pub fn shard_config(&self, index: usize) -> crate::shard::ShardConfig {
        use crate::shard::{Settings, ShardConfig};
        ShardConfig {
            settings: Settings {
                handshake_timeout_ms: self.handshake_timeout_ms,
                ping_interval_ms: self.ping_interval_ms,
                idle_timeout_ms: self.idle_timeout_ms,
                close_timeout_ms: self.close_timeout_ms,
                shutdown_deadline_ms: self.shutdown_deadline_ms,
                max_outbound_bytes: self.max_outbound_bytes,
                max_handshake_bytes: self.max_handshake_bytes,
                max_connections: self
                    .max_connections_per_shard
                    .min(switchboard_service::ids::SLOT_MASK as usize + 1),
                mesh_holdback: self.mesh_holdback,
            },
            driver: switchboard_driver::DriverConfig {
                sq_entries: 4096,
                cq_entries: 16384,
                recv_buffers: self.recv_buffers_per_shard(),
                recv_buffer_size: self.recv_buffer_size,
                batch_wait_us: self.batch_wait_us,
                batch_want: self.batch_want,
            },
            ws: switchboard_protocol::ws::Limits {
                max_frame: self.max_frame_bytes,
                max_message: self.max_message_bytes,
                role: switchboard_protocol::ws::Role::Server,
            },
            tick: self.tick(),
            batch_when_busy: self.batch_when_busy,
            injected_panic_ms: self.injected_panic_ms(index),
            sessions: crate::shard::SessionLimits {
                poll_wait_ms: self.poll_wait_ms,
                buffer_frames: self.session_buffer_frames,
                idle_ms: self.session_idle_ms,
                keepalive_ms: self.sse_keepalive_ms,
                max_body: self.max_request_body_bytes,
                post_frames: self.session_post_frames,
                max_sessions: self.max_sessions_per_shard,
            },
        }
    }

    /// The injected panic for shard `index`, if any: after how many ms.
    pub fn injected_panic_ms(&self, index: usize) -> Option<u64> {
        let (shard, ms) = self.inject_shard_panic.as_deref()?.split_once(':')?;
        (shard.parse::<usize>().ok()? == index).then_some(())?;
        ms.parse().ok()
    }

    /// Checks values clap cannot check alone.
    pub fn validate(&self) -> Result<(), String> {
        let buffers = self.recv_buffers_per_shard();
        if !buffers.is_power_of_two() || buffers > 32768 {
            return Err("--recv-buffers must be a power of two up to 32768".into());
        }
        if self.recv_buffer_size < 512 {
            return Err("--recv-buffer-size must be at least 512".into());
        }
        if self.shards == Some(0) || self.shard_count() > switchboard_service::ids::MAX_SHARDS {
            return Err(format!(
                "--shards must be between 1 and {}",
                switchboard_service::ids::MAX_SHARDS
            ));
        }
        let longest = [
            self.handshake_timeout_ms,
            self.ping_interval_ms,
            self.idle_timeout_ms,
            self.close_timeout_ms,
            self.poll_wait_ms,
            self.session_idle_ms,
            self.sse_keepalive_ms,
        ];
        if longest.iter().any(|&ms| ms == 0 || ms > MAX_TIMEOUT_MS) {
            return Err(format!(
                "timeouts must be between 1 ms and {MAX_TIMEOUT_MS} ms"
            ));
        }
        if self.store_queue_depth == 0 || self.store_segment_mib == 0 {
            return Err("--store-queue-depth and --store-segment-mib must be positive".into());
        }
        if self.durability_sync_interval_ms == 0 || self.durability_sync_interval_ms > 60_000 {
            return Err("--durability-sync-interval-ms must be between 1 and 60000".into());
        }
        if self.session_buffer_frames == 0 || self.session_post_frames == 0 {
            return Err(
                "--session-buffer-frames and --session-post-frames must be positive".into(),
            );
        }
        if self.max_frame_bytes == 0 || self.max_message_bytes == 0 {
            return Err("frame and message limits must be positive".into());
        }
        if self.tls_cert.len() != self.tls_key.len() {
            return Err(format!(
                "--tls-cert and --tls-key come in pairs (got {} certificates and {} keys)",
                self.tls_cert.len(),
                self.tls_key.len()
            ));
        }
        if self.tls12 && self.tls_cert.is_empty() {
            return Err("--tls12 needs --tls-cert and --tls-key".into());
        }
        if let (Some(cpus), Some(shards)) = (&self.cpus, self.shards) {
            if cpus.0.len() < shards {
                return Err(format!(
                    "--cpus lists {} CPUs for {shards} shards",
                    cpus.0.len()
                ));
            }
        }
        Ok(())
    }

    /// The certificate and key files, paired in order (empty: plain TCP).
    pub fn tls_files(&self) -> Vec<crate::tls::CertFiles> {
        self.tls_cert
            .iter()
            .zip(&self.tls_key)
            .map(|(cert, key)| crate::tls::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .collect()
    }

    /// How many shards to run.
    pub fn shard_count(&self) -> usize {
        self.shards.unwrap_or_else(|| match &self.cpus {
            Some(cpus) => cpus.0.len(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// The CPU shard `index` is pinned to.
    pub fn cpu_for(&self, index: usize) -> usize {
        match &self.cpus {
            Some(cpus) => cpus.0[index % cpus.0.len()],
            None => index % std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Interval of each shard's housekeeping tick: fine enough for the shortest timeout.
    pub fn tick(&self) -> Duration {
        let shortest = [
            self.handshake_timeout_ms,
            self.ping_interval_ms,
            self.idle_timeout_ms,
            self.close_timeout_ms,
            self.poll_wait_ms,
            self.session_idle_ms,
            self.sse_keepalive_ms,
        ]
        .into_iter()
        .min()
        .unwrap_or(1000);
        Duration::from_millis((shortest / 4).clamp(10, 250))
    }
}

/// Longest timeout: connection clocks are 32-bit milliseconds compared with wrapping
/// arithmetic, which is exact for spans below 2^31 ms (24 days).
pub const MAX_TIMEOUT_MS: u64 = 1 << 30;

/// A list of CPU indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses `0,2,4-7`.
pub fn parse_cpu_list(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |_| format!("bad CPU list item {part:?}");
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (usize, usize) =
                    (from.parse().map_err(bad)?, to.parse().map_err(bad)?);
                if from > to {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(part.parse().map_err(bad)?),
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(CpuList(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0,2,4-6"), Ok(CpuList(vec![0, 2, 4, 5, 6])));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn defaults_are_valid_and_tick_follows_the_shortest_timeout() {
        let cli = Cli::parse_from(["switchboard", "serve"]);
        let Command::Serve(args) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(args.listen.to_string(), "0.0.0.0:8080");
        assert!(args.validate().is_ok());
        assert_eq!(args.tick(), Duration::from_millis(250));
        let cli = Cli::parse_from(["switchboard", "serve", "--handshake-timeout-ms", "200"]);
        let Command::Serve(args) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(args.tick(), Duration::from_millis(50));
    }
}

/// `--io-driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoDriver {
    /// io_uring, or epoll when io_uring is refused.
    Auto,
    /// io_uring only (refused: the node does not start).
    IoUring,
    /// epoll only.
    Epoll,
}

/// `--relogin`: what happens when a user opens another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Relogin {
    /// Several connections per user (tabs, devices) all stay open.
    Allow,
    /// The newest connection wins; older ones are closed with 4001.
    Replace,
}

impl From<Relogin> for switchboard_service::presence::ReloginPolicy {
    fn from(relogin: Relogin) -> Self {
        match relogin {
            Relogin::Allow => Self::Allow,
            Relogin::Replace => Self::Replace,
        }
    }
}
