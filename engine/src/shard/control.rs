//! Control-plane requests reaching a shard: each is answered from what this shard owns
//! (its conversations, the router on shard 0, its users' presence, its connections).

use switchboard_control_api::ApiError;

use super::conn::Phase;
use super::Shard;
use crate::control::{answer, answer_service, views, ControlOp, ControlReply, ControlRequest};
use crate::shard::ShardMsg;
use switchboard_service::commands::HomeCmd;
use switchboard_service::ids::ConnId;
use switchboard_service::router::{Router, RouterOutput};
use switchboard_service::{ReplyHandle, ServiceError};

/// Close code of a connection closed by the control API (4000–4999: application codes).
const KICK_CLOSE_CODE: u16 = 4002;

impl Shard {
    /// Runs every control request waiting for this shard.
    pub(super) fn drain_control(&mut self) {
        while let Some(request) = self.shared.pop_control(self.index) {
            self.on_control(request);
        }
    }

    fn on_control(&mut self, request: ControlRequest) {
        let ControlRequest { op, reply } = request;
        let now = self.wall_ms;
        match op {
            ControlOp::Counts => {
                let queue = self.router.as_ref().map(Router::queue_stats);
                let counts = views::counts(self.homes.counts());
                answer(&reply, ControlReply::Counts(counts, queue));
            }
            ControlOp::List(filter) => {
                let list = self.homes.summaries(&views::filter(&filter), now);
                let list = list.into_iter().map(views::summary).collect();
                answer(&reply, ControlReply::List(list));
            }
            ControlOp::Detail { conv, recent } => {
                answer_service(&reply, self.homes.detail(conv, recent, now), |d| {
                    ControlReply::Detail(views::detail(d))
                })
            }
            ControlOp::Assign { conv, agent } => self.router_then_home(&reply, |router, out| {
                router.force_assign(conv, &agent, out).map(|peers| {
                    (
                        conv,
                        HomeCmd::AdminAssign {
                            agent: agent.as_str().into(),
                            peers,
                            reply: ReplyHandle::new(reply.clone()),
                        },
                    )
                })
            }),
            ControlOp::Transfer { conv, to, force } => {
                self.router_then_home(&reply, |router, _| {
                    router.transfer_target(&to).map(|peers| {
                        (
                            conv,
                            HomeCmd::AdminTransfer {
                                to: to.as_str().into(),
                                peers,
                                force,
                                reply: ReplyHandle::new(reply.clone()),
                            },
                        )
                    })
                })
            }
            ControlOp::End { conv } => {
                let result = self.with_homes(conv, |homes, out| homes.admin_end(conv, now, out));
                answer_service(&reply, result, |s| ControlReply::Summary(views::summary(s)));
            }
            ControlOp::Post { conv, msg } => {
                let post = views::post(&msg);
                let result = self.with_homes(conv, |homes, out| homes.post(conv, &post, now, out));
                answer_service(&reply, result, |p| ControlReply::Posted(views::posted(p)));
            }
            ControlOp::Push { user, event } => {
                let conns = self.presence.connections(&user).to_vec();
                let data: Box<str> = event.data.get().into();
                for &conn in &conns {
                    let msg = ShardMsg::Push {
                        conn,
                        name: event.name.as_str().into(),
                        data: data.clone(),
                    };
                    self.post_to(conn.shard(), msg);
                }
                answer(&reply, ControlReply::Count(conns.len() as u32));
            }
            ControlOp::Agents => match self.router.as_ref() {
                Some(router) => {
                    let agents = router.views(now).into_iter().map(views::agent).collect();
                    answer(&reply, ControlReply::Agents(agents));
                }
                None => answer(&reply, ControlReply::Error(no_router())),
            },
            ControlOp::UpdateAgent { user, patch } => {
                let patch = views::agent_patch(&patch);
                match self.with_router(|router, out| router.update_agent(&user, &patch, now, out)) {
                    Some(view) => answer(&reply, ControlReply::Agent(views::agent(view))),
                    None => answer(&reply, ControlReply::Error(no_router())),
                }
            }
            ControlOp::KickConnection { conn, reason } => {
                let id = ConnId(conn);
                let open = self
                    .conns
                    .get_mut(id.slot(), id.generation())
                    .is_some_and(|c| c.phase == Phase::Open);
                if open {
                    self.close_with(id.slot(), id.generation(), KICK_CLOSE_CODE, &reason);
                    answer(&reply, ControlReply::Count(1));
                } else {
                    answer(
                        &reply,
                        ControlReply::Error(ApiError::not_found(format!("connection {conn}"))),
                    );
                }
            }
            ControlOp::KickUser { user, reason } => {
                let conns = self.presence.connections(&user).to_vec();
                for &conn in &conns {
                    let msg = ShardMsg::Kick {
                        conn,
                        code: KICK_CLOSE_CODE,
                        reason: reason.as_str().into(),
                    };
                    self.post_to(conn.shard(), msg);
                }
                answer(&reply, ControlReply::Count(conns.len() as u32));
            }
            ControlOp::Drain => {
                self.begin_drain();
                answer(&reply, ControlReply::Done);
            }
        }
    }

    /// Runs a router decision that, when it succeeds, hands a command to a home.
    fn router_then_home(
        &mut self,
        reply: &crate::control::Reply,
        decide: impl FnOnce(&mut Router, &mut Vec<RouterOutput>) -> Result<(u64, HomeCmd), ServiceError>,
    ) {
        match self.with_router(decide) {
            Some(Ok((conv, cmd))) => self.send_home(conv, cmd),
            Some(Err(err)) => answer(reply, ControlReply::Error(views::error(err))),
            None => answer(reply, ControlReply::Error(no_router())),
        }
    }

    /// Stops accepting and asks every client to reconnect elsewhere (close 1012).
    pub(super) fn begin_drain(&mut self) {
        tracing::info!(
            shard = self.index,
            connections = self.conns.len(),
            "draining"
        );
        let within = self.settings.close_timeout_ms;
        self.close_all(
            DRAIN_CLOSE_CODE,
            "draining: reconnect to another node",
            within,
        );
    }
}

fn no_router() -> ApiError {
    ApiError::unavailable("no router on this shard")
}

/// 1012 "service restart": the client should reconnect (to another node).
const DRAIN_CLOSE_CODE: u16 = 1012;
