//! The engine side of the control API: [`NodeControl`] implements the control-api
//! crate's [`Engine`] trait by turning each call into typed [`ControlOp`]s for the
//! shards that own the data, and waiting (on the control thread, never on a shard)
//! for their replies.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_control_api::model::{
    AgentPatch, AgentView, ConversationCounts, ConversationDetail, ConversationFilter,
    ConversationSummary, DegradationView, DrainStatus, KickResult, NodeStats, NodeTotals,
    PostMessage, PostedMessage, PushEvent, PushResult, ShardStats,
};
use switchboard_control_api::{ApiError, Engine};

pub mod views;

use crate::kernel::KernelGuards;
use crate::shared::Shared;
use switchboard_service::ids::ConnId;
use switchboard_service::presence::home_of_user;
use switchboard_service::router::QueueStats;

/// How long a control call waits for the shards.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a reply goes.
pub type Reply = SyncSender<ControlReply>;

/// What the control plane asks one shard.
#[derive(Debug)]
pub enum ControlOp {
    /// Conversation counts (and the queue length on shard 0).
    Counts,
    /// Conversations homed on the shard matching the filter.
    List(ConversationFilter),
    /// One conversation with its recent items (its home).
    Detail {
        /// The conversation.
        conv: u64,
        /// How many recent items.
        recent: usize,
    },
    /// Give a waiting conversation to an agent (the router, then the home).
    Assign {
        /// The conversation.
        conv: u64,
        /// The agent.
        agent: String,
    },
    /// Offer a served conversation to another agent, or move it at once (`force`)
    /// (the router, then the home).
    Transfer {
        /// The conversation.
        conv: u64,
        /// The target agent.
        to: String,
        /// Move at once instead of offering.
        force: bool,
    },
    /// End a conversation (its home).
    End {
        /// The conversation.
        conv: u64,
    },
    /// Post a system or bot message (its home).
    Post {
        /// The conversation.
        conv: u64,
        /// The message.
        msg: PostMessage,
    },
    /// Push an event to every connection of a user (the user's presence home).
    Push {
        /// The user.
        user: String,
        /// The event.
        event: PushEvent,
    },
    /// Every agent (the router).
    Agents,
    /// Change an agent (the router).
    UpdateAgent {
        /// The agent.
        user: String,
        /// The changes.
        patch: AgentPatch,
    },
    /// Close one connection (its shard).
    KickConnection {
        /// The connection.
        conn: u64,
        /// Close reason.
        reason: String,
    },
    /// Close every connection of a user (the user's presence home).
    KickUser {
        /// The user.
        user: String,
        /// Close reason.
        reason: String,
    },
    /// Stop accepting and ask clients to reconnect elsewhere (every shard).
    Drain,
}

/// A shard's answer.
#[derive(Debug)]
pub enum ControlReply {
    /// Conversation counts, with the router's queue from shard 0.
    Counts(ConversationCounts, Option<QueueStats>),
    /// Conversations of one shard.
    List(Vec<ConversationSummary>),
    /// A conversation summary.
    Summary(ConversationSummary),
    /// A conversation with items.
    Detail(ConversationDetail),
    /// A posted message.
    Posted(PostedMessage),
    /// How many connections were reached or closed.
    Count(u32),
    /// Agents.
    Agents(Vec<AgentView>),
    /// One agent.
    Agent(AgentView),
    /// Done, nothing to report.
    Done,
    /// It failed.
    Error(ApiError),
}

/// A request in a shard's control queue.
#[derive(Debug)]
pub struct ControlRequest {
    /// What to do.
    pub op: ControlOp,
    /// Where the answer goes.
    pub reply: Reply,
}

/// Answers on `reply`, ignoring a caller that stopped waiting.
pub fn answer(reply: &Reply, value: ControlReply) {
    let _ = reply.try_send(value);
}

/// Answers `Ok` values with `wrap`, errors as [`ControlReply::Error`].
pub fn answer_with<T>(
    reply: &Reply,
    result: Result<T, ApiError>,
    wrap: impl FnOnce(T) -> ControlReply,
) {
    answer(reply, result.map_or_else(ControlReply::Error, wrap));
}

/// Answers a service result: `Ok` values with `wrap`, refusals mapped to API errors.
pub fn answer_service<T>(
    reply: &Reply,
    result: Result<T, switchboard_service::ServiceError>,
    wrap: impl FnOnce(T) -> ControlReply,
) {
    answer_with(reply, result.map_err(views::error), wrap);
}

/// Answers through a handle that travelled with a service command (it holds a
/// [`Reply`]: this adapter made it).
pub fn answer_handle(handle: &switchboard_service::ReplyHandle, value: ControlReply) {
    match handle.get::<Reply>() {
        Some(reply) => answer(reply, value),
        None => tracing::error!("a control reply handle that holds no reply channel"),
    }
}

/// [`answer_service`] through a handle.
pub fn answer_handle_service<T>(
    handle: &switchboard_service::ReplyHandle,
    result: Result<T, switchboard_service::ServiceError>,
    wrap: impl FnOnce(T) -> ControlReply,
) {
    answer_handle(
        handle,
        result
            .map_err(views::error)
            .map_or_else(ControlReply::Error, wrap),
    );
}

/// The node as the control API sees it.
#[derive(Debug)]
pub struct NodeControl {
    shared: Arc<Shared>,
    kernel: Arc<KernelGuards>,
    started: Instant,
    started_ms: u64,
    drain_started: Mutex<Option<(Instant, u64)>>,
    cluster: crate::cluster::MaybeLink,
    listen: String,
    /// The control API's own bound address.
    control: String,
}

impl NodeControl {
    /// Control over the shards of the node.
    pub fn new(
        shared: Arc<Shared>,
        kernel: Arc<KernelGuards>,
        cluster: crate::cluster::MaybeLink,
        listen: String,
        control: String,
    ) -> Self {
        NodeControl {
            shared,
            kernel,
            started: Instant::now(),
            started_ms: switchboard_driver::os::wall_clock_ms(),
            drain_started: Mutex::new(None),
            cluster,
            listen,
            control,
        }
    }

    fn ask(&self, shard: usize, op: ControlOp) -> Result<ControlReply, ApiError> {
        let (reply, answer) = sync_channel(1);
        self.send(shard, op, reply)?;
        wait(&answer)
    }

    fn send(&self, shard: usize, op: ControlOp, reply: Reply) -> Result<(), ApiError> {
        self.shared
            .push_control(shard, ControlRequest { op, reply })
            .map_err(|_| {
                ApiError::unavailable(format!("shard {shard} is too busy for control requests"))
            })
    }

    /// Sends `make()` to every shard and collects the replies.
    fn ask_all(&self, make: impl Fn() -> ControlOp) -> Result<Vec<ControlReply>, ApiError> {
        let shards = self.shared.shards();
        let (reply, answers) = sync_channel(shards);
        for shard in 0..shards {
            self.send(shard, make(), reply.clone())?;
        }
        (0..shards).map(|_| wait(&answers)).collect()
    }

    fn home_of(&self, conv: u64) -> usize {
        (conv % self.shared.shards() as u64) as usize
    }

    fn shard_stats(&self) -> Vec<ShardStats> {
        let metrics = self.shared.metrics();
        (0..metrics.shard_count())
            .map(|index| {
                let s = metrics.shard(index);
                let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                ShardStats {
                    shard: index as u32,
                    connections: load(&s.connections),
                    accepts: load(&s.accepts),
                    rejects: load(&s.rejects),
                    messages_in: load(&s.messages_in),
                    messages_out: load(&s.messages_out),
                    deliveries: load(&s.deliveries),
                    outbound_queue_bytes: load(&s.outbound_queue_bytes),
                    loop_lag_us: load(&s.loop_lag_us),
                }
            })
            .collect()
    }

    fn counts(&self) -> Result<(ConversationCounts, QueueStats), ApiError> {
        let mut counts = ConversationCounts::default();
        let mut queue = QueueStats::default();
        for reply in self.ask_all(|| ControlOp::Counts)? {
            match reply {
                ControlReply::Counts(c, q) => {
                    counts.waiting += c.waiting;
                    counts.serving += c.serving;
                    counts.transferring += c.transferring;
                    counts.ended += c.ended;
                    if let Some(q) = q {
                        queue = q;
                    }
                }
                other => return Err(unexpected(other)),
            }
        }
        Ok((counts, queue))
    }

    fn node_level_metrics(&self, counts: &ConversationCounts, queue: &QueueStats) -> String {
        let level = self.shared.level().get();
        let draining = u8::from(self.shared.draining());
        format!(
            "# HELP switchboard_conversations Conversations by state.\n# TYPE switchboard_conversations gauge\n\
             switchboard_conversations{{state=\"waiting\"}} {}\nswitchboard_conversations{{state=\"serving\"}} {}\n\
             switchboard_conversations{{state=\"transferring\"}} {}\nswitchboard_conversations{{state=\"ended\"}} {}\n\
             # HELP switchboard_queue_length Conversations waiting for an agent.\n# TYPE switchboard_queue_length gauge\n\
             switchboard_queue_length {}\n\
             # HELP switchboard_queue_oldest_wait_seconds How long the oldest waiting conversation has waited.\n# TYPE switchboard_queue_oldest_wait_seconds gauge\n\
             switchboard_queue_oldest_wait_seconds {}\n\
             # HELP switchboard_queue_wait_seconds Time conversations waited in the queue before an agent took them.\n# TYPE switchboard_queue_wait_seconds summary\n\
             switchboard_queue_wait_seconds_sum {}\nswitchboard_queue_wait_seconds_count {}\n\
             # HELP switchboard_degradation_level Degradation level (0 normal .. 3 shedding).\n# TYPE switchboard_degradation_level gauge\n\
             switchboard_degradation_level {level}\n\
             # HELP switchboard_draining Whether the node is draining.\n# TYPE switchboard_draining gauge\n\
             switchboard_draining {draining}\n\
             # HELP switchboard_uptime_seconds Seconds since the node started.\n# TYPE switchboard_uptime_seconds gauge\n\
             switchboard_uptime_seconds {}\n",
            counts.waiting,
            counts.serving,
            counts.transferring,
            counts.ended,
            queue.length,
            queue.oldest_wait_ms as f64 / 1e3,
            queue.waited_ms_total as f64 / 1e3,
            queue.assigned,
            self.started.elapsed().as_secs_f64()
        )
    }

    fn degradation_view(&self) -> DegradationView {
        let pinned = self.shared.level().pinned();
        let cause = if pinned {
            "pinned by the control API".to_owned()
        } else {
            self.shared.level_cause()
        };
        DegradationView {
            level: self.shared.level().get(),
            pinned,
            cause: Some(cause),
        }
    }
}

fn wait(answers: &Receiver<ControlReply>) -> Result<ControlReply, ApiError> {
    match answers.recv_timeout(REPLY_TIMEOUT) {
        Ok(ControlReply::Error(err)) => Err(err),
        Ok(reply) => Ok(reply),
        Err(_) => Err(ApiError::unavailable("the shards did not answer in time")),
    }
}

fn unexpected(reply: ControlReply) -> ApiError {
    ApiError::Internal {
        message: format!("unexpected shard reply {reply:?}"),
    }
}

impl Engine for NodeControl {
    fn ready(&self) -> bool {
        !self.shared.draining() && !self.shared.shutting_down()
    }

    fn node_stats(&self) -> Result<NodeStats, ApiError> {
        let shards = self.shard_stats();
        let (conversations, queue_length) = self.counts()?;
        let totals = NodeTotals {
            connections: shards.iter().map(|s| s.connections).sum(),
            accepts: shards.iter().map(|s| s.accepts).sum(),
            rejects: shards.iter().map(|s| s.rejects).sum(),
            messages_in: shards.iter().map(|s| s.messages_in).sum(),
            messages_out: shards.iter().map(|s| s.messages_out).sum(),
            deliveries: shards.iter().map(|s| s.deliveries).sum(),
            outbound_queue_bytes: shards.iter().map(|s| s.outbound_queue_bytes).sum(),
            max_loop_lag_us: shards.iter().map(|s| s.loop_lag_us).max().unwrap_or(0),
        };
        Ok(NodeStats {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            draining: self.shared.draining(),
            totals,
            conversations,
            queue_length: queue_length.length,
            shards,
        })
    }

    fn metrics(&self) -> Result<String, ApiError> {
        let (counts, queue) = self.counts()?;
        Ok(self.shared.metrics().render_prometheus(
            &(self.node_level_metrics(&counts, &queue)
                + &self.kernel.metrics()
                + &crate::cluster::view::metrics(self.cluster.as_deref())
                + &crate::durable::metrics(self.shared.store())
                + &self.shared.auth_webhook_metrics()),
        ))
    }

    fn nodes(&self) -> Result<switchboard_control_api::model::NodesView, ApiError> {
        Ok(crate::cluster::view::nodes_view(
            self.cluster.as_deref(),
            &self.listen,
            &self.control,
            self.started_ms,
        ))
    }

    fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>, ApiError> {
        let mut all = Vec::new();
        for reply in self.ask_all(|| ControlOp::List(filter.clone()))? {
            match reply {
                ControlReply::List(list) => all.extend(list),
                other => return Err(unexpected(other)),
            }
        }
        all.sort_by_key(|s| s.id);
        all.truncate(filter.limit);
        Ok(all)
    }

    fn conversation(&self, id: u64, recent: usize) -> Result<ConversationDetail, ApiError> {
        match self.ask(self.home_of(id), ControlOp::Detail { conv: id, recent })? {
            ControlReply::Detail(detail) => Ok(detail),
            other => Err(unexpected(other)),
        }
    }

    fn conversation_items(
        &self,
        id: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<switchboard_control_api::model::ItemPage, ApiError> {
        crate::durable::read_items(self.shared.store(), id, after_seq, limit)
    }

    fn conversation_history(
        &self,
        query: &switchboard_control_api::model::HistoryQuery,
    ) -> Result<switchboard_control_api::model::ConversationList, ApiError> {
        let Some((store, history)) = self.shared.history() else {
            return Err(ApiError::unavailable(
                "listing by visitor or time needs the node's durable store \
                 (--durability off or cluster mode keeps none)",
            ));
        };
        history.list(store, query)
    }

    fn events(
        &self,
        query: &switchboard_control_api::model::EventQuery,
    ) -> Result<switchboard_control_api::model::EventPage, ApiError> {
        let Some((store, history)) = self.shared.history() else {
            let why = if self.cluster.is_some() {
                "cluster mode: read the event feed from the Redis stream sb:events (XREADGROUP)"
            } else {
                "--durability off: this node stores no events"
            };
            return Err(ApiError::unavailable(why));
        };
        let shared = &self.shared;
        history.events(store, query, &|| shared.shutting_down())
    }

    fn assign(&self, id: u64, agent: &str) -> Result<ConversationSummary, ApiError> {
        match self.ask(
            0,
            ControlOp::Assign {
                conv: id,
                agent: agent.to_owned(),
            },
        )? {
            ControlReply::Summary(summary) => Ok(summary),
            other => Err(unexpected(other)),
        }
    }

    fn transfer(&self, id: u64, to: &str, force: bool) -> Result<ConversationSummary, ApiError> {
        match self.ask(
            0,
            ControlOp::Transfer {
                conv: id,
                to: to.to_owned(),
                force,
            },
        )? {
            ControlReply::Summary(summary) => Ok(summary),
            other => Err(unexpected(other)),
        }
    }

    fn end(&self, id: u64) -> Result<ConversationSummary, ApiError> {
        match self.ask(self.home_of(id), ControlOp::End { conv: id })? {
            ControlReply::Summary(summary) => Ok(summary),
            other => Err(unexpected(other)),
        }
    }

    fn post_message(&self, id: u64, msg: &PostMessage) -> Result<PostedMessage, ApiError> {
        match self.ask(
            self.home_of(id),
            ControlOp::Post {
                conv: id,
                msg: msg.clone(),
            },
        )? {
            ControlReply::Posted(posted) => Ok(posted),
            other => Err(unexpected(other)),
        }
    }

    fn push_event(&self, user: &str, event: &PushEvent) -> Result<PushResult, ApiError> {
        let home = home_of_user(user, self.shared.shards());
        match self.ask(
            home,
            ControlOp::Push {
                user: user.to_owned(),
                event: event.clone(),
            },
        )? {
            ControlReply::Count(connections) => Ok(PushResult {
                user: user.to_owned(),
                connections,
            }),
            other => Err(unexpected(other)),
        }
    }

    fn agents(&self) -> Result<Vec<AgentView>, ApiError> {
        match self.ask(0, ControlOp::Agents)? {
            ControlReply::Agents(agents) => Ok(agents),
            other => Err(unexpected(other)),
        }
    }

    fn update_agent(&self, user: &str, patch: &AgentPatch) -> Result<AgentView, ApiError> {
        match self.ask(
            0,
            ControlOp::UpdateAgent {
                user: user.to_owned(),
                patch: patch.clone(),
            },
        )? {
            ControlReply::Agent(agent) => Ok(agent),
            other => Err(unexpected(other)),
        }
    }

    fn kick_connection(&self, conn: u64, reason: &str) -> Result<KickResult, ApiError> {
        let shard = ConnId(conn).shard();
        let node = self.cluster.as_ref().map_or(0, |link| link.node());
        if shard >= self.shared.shards() || ConnId(conn).node() != node {
            return Err(ApiError::not_found(format!("connection {conn}")));
        }
        match self.ask(
            shard,
            ControlOp::KickConnection {
                conn,
                reason: reason.to_owned(),
            },
        )? {
            ControlReply::Count(closed) => Ok(KickResult { closed }),
            other => Err(unexpected(other)),
        }
    }

    fn kick_user(&self, user: &str, reason: &str) -> Result<KickResult, ApiError> {
        let home = home_of_user(user, self.shared.shards());
        match self.ask(
            home,
            ControlOp::KickUser {
                user: user.to_owned(),
                reason: reason.to_owned(),
            },
        )? {
            ControlReply::Count(closed) => Ok(KickResult { closed }),
            other => Err(unexpected(other)),
        }
    }

    fn drain(&self) -> Result<DrainStatus, ApiError> {
        {
            let mut started = self
                .drain_started
                .lock()
                .map_err(|_| ApiError::unavailable("drain state poisoned"))?;
            if started.is_none() {
                let wall = switchboard_driver::os::wall_clock_ms();
                *started = Some((Instant::now(), wall));
                self.shared.begin_drain();
                self.ask_all(|| ControlOp::Drain)?;
            }
        }
        self.drain_status()
    }

    fn drain_status(&self) -> Result<DrainStatus, ApiError> {
        let started = *self
            .drain_started
            .lock()
            .map_err(|_| ApiError::unavailable("drain state poisoned"))?;
        let connections_left = self.shared.total_connections() as u64;
        Ok(DrainStatus {
            draining: started.is_some(),
            started_at_ms: started.map(|(_, wall)| wall),
            elapsed_ms: started.map(|(at, _)| at.elapsed().as_millis() as u64),
            connections_left,
            done: started.is_some() && connections_left == 0,
        })
    }

    fn degradation(&self) -> Result<DegradationView, ApiError> {
        Ok(self.degradation_view())
    }

    fn set_degradation(&self, pin: Option<u8>) -> Result<DegradationView, ApiError> {
        if pin.is_some_and(|level| level > 3) {
            return Err(ApiError::invalid("level must be 0..=3"));
        }
        self.shared.level().pin(pin);
        tracing::info!(
            level = self.shared.level().get(),
            pinned = pin.is_some(),
            "degradation level set by the control API"
        );
        for shard in 0..self.shared.shards() {
            self.shared.mesh().wake(shard);
        }
        Ok(self.degradation_view())
    }
}
