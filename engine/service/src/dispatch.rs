//! Running commands against their owners, and where each owner's outputs go: the one
//! place that knows which method a command calls and which owner an output is for.
//!
//! The engine's shards call these with commands that came over the mesh (or from
//! Redis); the in-process tests call them with commands their simulated shards pass
//! around. Either way the same code decides, so what the tests prove is what runs.

use switchboard_protocol::chat::{Role, ServerFrame};

use crate::commands::{HomeCmd, RouterCmd};
use crate::home::{encode, RouterNote};
use crate::ids::Peer;
use crate::reply::ReplyHandle;
use crate::router::{Router, RouterOutput};
use crate::views::Summary;
use crate::ServiceError;

/// Runs one router command; its outputs are appended to `out`.
pub fn run_router_cmd(
    router: &mut Router,
    cmd: RouterCmd,
    now_ms: u64,
    out: &mut Vec<RouterOutput>,
) {
    match cmd {
        RouterCmd::VisitorStart { visitor, vip, peer } => {
            router.visitor_start(&visitor, vip, peer, out)
        }
        RouterCmd::AgentConnected { user, groups, peer } => {
            router.agent_connected(&user, &groups, peer, out)
        }
        RouterCmd::AgentRestore {
            user,
            groups,
            peer,
            status,
            capacity,
        } => router.agent_restore(&user, &groups, peer, status, capacity, now_ms, out),
        RouterCmd::AgentDisconnected { user, conn } => {
            router.agent_disconnected(&user, conn, now_ms, out)
        }
        RouterCmd::AgentStatus {
            user,
            status,
            capacity,
        } => router.agent_status(&user, status, capacity, out),
        RouterCmd::TransferAnswer {
            conv,
            agent,
            accept,
            peer,
        } => router.transfer_answer(conv, &agent, accept, peer, out),
        RouterCmd::Note(note) => run_router_note(router, note, now_ms, out),
    }
}

fn run_router_note(
    router: &mut Router,
    note: RouterNote,
    now_ms: u64,
    out: &mut Vec<RouterOutput>,
) {
    match note {
        RouterNote::Requeue { conv, vip } => router.requeue(conv, vip, out),
        RouterNote::Release { agent, conv } => router.release(&agent, conv, out),
        RouterNote::Ended { conv, visitor } => router.ended(conv, &visitor, out),
        RouterNote::TransferRequested {
            conv,
            from,
            to,
            visitor,
        } => router.transfer_requested(conv, &from, &to, &visitor, out),
        RouterNote::Moved { conv, from, to } => router.moved(conv, &from, &to),
        RouterNote::Restore {
            conv,
            visitor,
            vip,
            agent,
        } => router.restore(conv, &visitor, vip, agent.as_deref(), now_ms, out),
    }
}

/// Where a router output goes.
#[derive(Debug)]
pub enum Routed {
    /// A command for the home of `conv`.
    Home {
        /// The conversation.
        conv: u64,
        /// The command.
        cmd: HomeCmd,
    },
    /// An encoded frame for one connection (`conv` 0: about no conversation).
    Frame {
        /// The connection.
        peer: Peer,
        /// The conversation the frame is about.
        conv: u64,
        /// The frame, in the connection's encoding.
        payload: std::sync::Arc<[u8]>,
    },
    /// No conversation could be opened for this visitor (cluster mode, no ids).
    Unavailable {
        /// The visitor's connection.
        peer: Peer,
    },
}

/// Turns one router output into what to deliver, pushed to `to`.
pub fn route_router_output(output: RouterOutput, to: &mut Vec<Routed>) {
    let home = |conv, cmd| Routed::Home { conv, cmd };
    match output {
        RouterOutput::Create {
            conv,
            visitor,
            vip,
            peer,
        } => to.push(home(conv, HomeCmd::Create { visitor, vip, peer })),
        RouterOutput::Attach {
            conv,
            peer,
            user,
            agent,
        } => {
            let role = if agent { Role::Agent } else { Role::Visitor };
            let cmd = HomeCmd::Attach {
                peer,
                user,
                role,
                after_seq: None,
            };
            to.push(home(conv, cmd));
        }
        RouterOutput::Assign { conv, agent, peers } => {
            to.push(home(conv, HomeCmd::Assign { agent, peers }))
        }
        RouterOutput::QueuePosition { conv, position } => {
            to.push(home(conv, HomeCmd::QueuePosition { position }))
        }
        RouterOutput::Offer {
            conv,
            from,
            visitor,
            peers,
        } => {
            for peer in peers {
                let frame = ServerFrame::TransferOffer {
                    conv,
                    from_agent: &from,
                    visitor: &visitor,
                };
                let payload = encode(peer.encoding, &frame);
                to.push(Routed::Frame {
                    peer,
                    conv,
                    payload,
                });
            }
        }
        RouterOutput::TransferUnavailable { conv, to: agent } => {
            to.push(home(conv, HomeCmd::TransferUnavailable { to: agent }))
        }
        RouterOutput::TransferAnswer {
            conv,
            agent,
            accept,
            peer,
            peers,
        } => to.push(home(
            conv,
            HomeCmd::TransferAnswer {
                agent,
                accept,
                peer,
                peers,
            },
        )),
        RouterOutput::Busy { peer } => {
            let frame = ServerFrame::Error {
                code: "busy",
                message: "all agents are busy right now; your conversation waits in the queue",
            };
            to.push(Routed::Frame {
                peer,
                conv: 0,
                payload: encode(peer.encoding, &frame),
            });
        }
        RouterOutput::Unavailable { peer } => to.push(Routed::Unavailable { peer }),
        RouterOutput::AgentLost { conv, agent } => {
            to.push(home(conv, HomeCmd::AgentLost { agent }))
        }
        RouterOutput::Presence {
            conv,
            agent,
            online,
        } => to.push(home(
            conv,
            HomeCmd::Presence {
                user: agent,
                role: Role::Agent,
                online,
            },
        )),
    }
}

/// The answer to an administrative command, for whoever is waiting on `reply`.
#[derive(Debug)]
pub struct AdminAnswer {
    /// Where it goes.
    pub reply: ReplyHandle,
    /// The conversation afterwards, or why not.
    pub result: Result<Summary, ServiceError>,
}

/// Whether a home command changes anything that must be stored (acks, typing, read
/// receipts and unfollows do not).
pub fn is_durable(cmd: &HomeCmd) -> bool {
    !matches!(
        cmd,
        HomeCmd::Ack { .. } | HomeCmd::Ephemeral { .. } | HomeCmd::Unfollow { .. }
    )
}
