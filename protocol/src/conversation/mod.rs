//! The life of one conversation between a visitor and at most one agent, as a pure
//! function: [`step`]`(conversation, event, now_ms, rules)` → [`Transition`] (the next
//! phase and the [`Effect`]s the engine must carry out), with no I/O and no clock.
//!
//! ```text
//!             Assign                 RequestTransfer
//!   Waiting ──────────▶ Serving(a) ─────────────────▶ Transferring(a → b)
//!      ▲                  │    ▲                         │   │   │
//!      │   AgentLost(a)   │    └── decline / timeout /   │   │   │ AcceptTransfer(b)
//!      └──────────────────┘        b lost, a still here ─┘   │   └──────▶ Serving(b)
//!      └──────────── decline / timeout / b lost, a lost ─────┘
//!
//!   every live phase ── End by a party, End by the system, inactivity Tick ──▶ Ended
//! ```
//!
//! - Only the conversation's visitor, its serving agent and the system may speak
//!   ([`Conversation::check_speaker`]); nothing is accepted once it has ended.
//! - At most one agent serves it: the one last assigned, or the one that accepted the
//!   last transfer. During a transfer the origin agent keeps serving (and speaking)
//!   until the target accepts, unless the origin is lost meanwhile.
//! - Timeouts are not timers: the engine sends [`Event::Tick`] now and then (at the
//!   latest at [`Conversation::next_deadline_ms`]) and `step` compares `now_ms` with the
//!   deadlines, so a stale timer can never fire into a later transfer.
//! - A refused event is an `Err(`[`Rejection`]`)` and changes nothing; its
//!   [`Rejection::code`] is meant for an `error` frame.
//!
//! ```
//! use switchboard_protocol::conversation::{
//!     Announcement, Conversation, Effect, Event, Party, Phase, Rules,
//! };
//!
//! let rules = Rules::default();
//! let (mut conv, _created) = Conversation::open(7, "visitor-1", false, 1_000);
//! let effects = conv.handle(Event::Assign { agent: "agent-9" }, 2_000, &rules).unwrap();
//! assert_eq!(conv.phase, Phase::Serving { agent: "agent-9".into() });
//! assert!(effects.contains(&Effect::Announce(Announcement::Assigned { agent: "agent-9".into() })));
//! let effects = conv.handle(Event::Message { from: Party::Visitor("visitor-1") }, 2_500, &rules).unwrap();
//! assert_eq!(effects.iter().collect::<Vec<_>>(), [&Effect::DeliverMessage]);
//! assert!(conv.handle(Event::Message { from: Party::Agent("agent-2") }, 2_600, &rules).is_err());
//! ```

mod effects;
mod frames;
mod step;

pub use effects::{Effects, MAX_EFFECTS};
pub use step::{step, Transition};

/// One conversation: a visitor, its current phase and when anything last happened.
/// Small and cloneable; the engine keeps it on the conversation's home shard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conversation {
    /// The conversation id (unique in the deployment).
    pub id: u64,
    /// The visitor's user id: the only visitor who may see and speak in it.
    pub visitor: String,
    /// Whether the visitor is of the VIP tier (for routing; the state machine ignores it).
    pub vip: bool,
    /// Where the conversation is in its life.
    pub phase: Phase,
    /// Server time (ms) of the last accepted message or transition; inactivity is
    /// measured from it.
    pub last_activity_ms: u64,
}

/// Where a conversation is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// In the routing queue, no agent yet. The visitor may already write.
    Waiting,
    /// One agent serves the visitor.
    Serving {
        /// The serving agent's user id.
        agent: String,
    },
    /// The serving agent `from` has offered the conversation to agent `to`, who has
    /// not answered yet.
    Transferring {
        /// The agent that asked for the transfer (serving until `to` accepts).
        from: String,
        /// The agent the conversation is offered to.
        to: String,
        /// False once `from` was lost during the transfer: it was released then, and a
        /// failed transfer goes back to the queue instead of back to it.
        origin_available: bool,
        /// Server time (ms) the transfer was requested; it times out after
        /// [`Rules::transfer_timeout_ms`].
        since_ms: u64,
    },
    /// Over for good; every later event but [`Event::Tick`] is refused.
    Ended {
        /// Why it ended.
        reason: EndReason,
    },
}

/// Why a conversation ended (the `reason` of the `ended` system message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EndReason {
    /// The visitor closed it.
    Visitor,
    /// The serving agent closed it.
    Agent,
    /// Nothing happened in it for longer than [`Rules::inactivity_timeout_ms`].
    Inactivity,
    /// The system (the control API) closed it.
    Admin,
}

impl EndReason {
    /// The wire name: `visitor`, `agent`, `inactivity` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Visitor => "visitor",
            EndReason::Agent => "agent",
            EndReason::Inactivity => "inactivity",
            EndReason::Admin => "admin",
        }
    }
}

/// Why a transfer did not complete (the `reason` of `transfer_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferFailure {
    /// The target agent declined.
    Declined,
    /// The target agent did not answer within [`Rules::transfer_timeout_ms`].
    TimedOut,
    /// The target agent was lost (its grace period expired) before answering.
    TargetLost,
}

impl TransferFailure {
    /// The wire name: `declined`, `timed_out` or `target_lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferFailure::Declined => "declined",
            TransferFailure::TimedOut => "timed_out",
            TransferFailure::TargetLost => "target_lost",
        }
    }
}

/// Why a conversation went back to the routing queue (the `reason` of `requeued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequeueReason {
    /// The serving agent was lost.
    AgentLost,
    /// A transfer failed and the origin agent had been lost meanwhile.
    TransferFailed,
}

impl RequeueReason {
    /// The wire name: `agent_lost` or `transfer_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequeueReason::AgentLost => "agent_lost",
            RequeueReason::TransferFailed => "transfer_failed",
        }
    }
}

/// Who is acting: a user of one of the two roles, or the system (the control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party<'a> {
    /// A visitor, by user id.
    Visitor(&'a str),
    /// An agent, by user id.
    Agent(&'a str),
    /// The engine or the control API on behalf of the company.
    System,
}

/// Something that happened to a conversation. User ids are borrowed: `step` copies
/// only the ones the next phase keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event<'a> {
    /// The router gives the waiting conversation to `agent`.
    Assign {
        /// The agent's user id.
        agent: &'a str,
    },
    /// Agent `by` (who must be serving) offers the conversation to agent `to`.
    RequestTransfer {
        /// The requesting agent.
        by: &'a str,
        /// The target agent.
        to: &'a str,
    },
    /// Agent `by` (who must be the transfer's target) takes the conversation.
    AcceptTransfer {
        /// The accepting agent.
        by: &'a str,
    },
    /// Agent `by` (who must be the transfer's target) refuses it.
    DeclineTransfer {
        /// The declining agent.
        by: &'a str,
    },
    /// `agent` can no longer serve: its grace period after a disconnect expired, or it
    /// went offline.
    AgentLost {
        /// The lost agent.
        agent: &'a str,
    },
    /// A message (chat line) from `from`.
    Message {
        /// The sender.
        from: Party<'a>,
    },
    /// `by` closes the conversation.
    End {
        /// Who closes it: the visitor, the serving agent, or the system (admin).
        by: Party<'a>,
    },
    /// Time passes: ends an idle conversation and fails a transfer nobody answered.
    Tick,
}

/// The limits a conversation lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// A live conversation with no message or transition for longer than this ends
    /// with [`EndReason::Inactivity`] at the next [`Event::Tick`].
    pub inactivity_timeout_ms: u64,
    /// A transfer not answered for longer than this fails with
    /// [`TransferFailure::TimedOut`] at the next [`Event::Tick`].
    pub transfer_timeout_ms: u64,
}

impl Default for Rules {
    /// 30 minutes of inactivity, 60 seconds to answer a transfer.
    fn default() -> Self {
        Rules {
            inactivity_timeout_ms: 30 * 60 * 1000,
            transfer_timeout_ms: 60 * 1000,
        }
    }
}

/// What the engine must do after a transition, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this as a `system` message on the conversation's ordered channel (it gets
    /// the next sequence number, like a chat message).
    Announce(Announcement),
    /// The message event was accepted: give it the next sequence number and deliver it.
    DeliverMessage,
    /// Put the conversation (back) into the routing queue.
    Enqueue,
    /// `agent` no longer serves this conversation: give its capacity back.
    ReleaseAgent {
        /// The released agent.
        agent: String,
    },
    /// Send a `transfer_offer` to agent `to`.
    OfferTransfer {
        /// The target agent.
        to: String,
    },
    /// The offer to `to` is void (timed out, target lost, conversation ended): tell it
    /// if it is still there.
    WithdrawOffer {
        /// The agent the offer was made to.
        to: String,
    },
}

/// A transition clients should see, carried as a `system` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// The conversation was opened (by [`Conversation::open`]).
    Created,
    /// `agent` now serves the conversation.
    Assigned {
        /// The agent.
        agent: String,
    },
    /// The serving agent `from` offered the conversation to `to`.
    TransferRequested {
        /// The requesting agent.
        from: String,
        /// The target agent.
        to: String,
    },
    /// `to` accepted the transfer and now serves the conversation instead of `from`.
    Transferred {
        /// The previous agent.
        from: String,
        /// The new agent.
        to: String,
    },
    /// The transfer to `to` failed; the conversation is back with `fell_back_to`, or in
    /// the queue when that is `None` (followed by [`Announcement::Requeued`]).
    TransferFailed {
        /// The agent the conversation had been offered to.
        to: String,
        /// Why the transfer failed.
        why: TransferFailure,
        /// The agent serving again (the origin), if it was still available.
        fell_back_to: Option<String>,
    },
    /// The conversation is back in the routing queue.
    Requeued {
        /// Why.
        why: RequeueReason,
    },
    /// The conversation ended.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// Why an event was refused. Nothing changed; the engine may answer the acting client
/// with an `error` frame carrying [`Rejection::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejection {
    /// The conversation has ended; nothing more is accepted.
    #[error("the conversation has ended")]
    Ended,
    /// The actor is neither the conversation's visitor nor its serving agent.
    #[error("not a participant of this conversation")]
    NotParticipant,
    /// An assignment for a conversation that is not waiting.
    #[error("the conversation is not waiting for an agent")]
    NotWaiting,
    /// A transfer requested by someone who is not the serving agent.
    #[error("only the serving agent may transfer the conversation")]
    NotServingAgent,
    /// A transfer requested while another one is pending.
    #[error("a transfer is already pending")]
    TransferPending,
    /// A transfer to the agent who is already serving.
    #[error("cannot transfer a conversation to its own agent")]
    TransferToSelf,
    /// An accept or decline from someone the conversation is not offered to.
    #[error("no transfer of this conversation is offered to you")]
    NoTransferOffered,
    /// An agent lost that neither serves the conversation nor is offered it.
    #[error("the agent is not involved in this conversation")]
    AgentNotInvolved,
}

impl Rejection {
    /// A stable machine-readable code for `error` frames, e.g. `not_participant`.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Ended => "conversation_ended",
            Rejection::NotParticipant => "not_participant",
            Rejection::NotWaiting => "not_waiting",
            Rejection::NotServingAgent => "not_serving_agent",
            Rejection::TransferPending => "transfer_pending",
            Rejection::TransferToSelf => "transfer_to_self",
            Rejection::NoTransferOffered => "no_transfer_offered",
            Rejection::AgentNotInvolved => "agent_not_involved",
        }
    }
}

impl Conversation {
    /// A new conversation of `visitor`, waiting for an agent. The effects are
    /// [`Announcement::Created`] and [`Effect::Enqueue`].
    pub fn open(id: u64, visitor: &str, vip: bool, now_ms: u64) -> (Conversation, Effects) {
        let conversation = Conversation {
            id,
            visitor: visitor.to_owned(),
            vip,
            phase: Phase::Waiting,
            last_activity_ms: now_ms,
        };
        let mut effects = Effects::new();
        effects.push(Effect::Announce(Announcement::Created));
        effects.push(Effect::Enqueue);
        (conversation, effects)
    }

    /// The agent serving the conversation now: the assigned agent, or during a
    /// transfer the origin agent unless it was lost.
    pub fn serving_agent(&self) -> Option<&str> {
        match &self.phase {
            Phase::Serving { agent } => Some(agent),
            Phase::Transferring {
                from,
                origin_available: true,
                ..
            } => Some(from),
            Phase::Waiting | Phase::Transferring { .. } | Phase::Ended { .. } => None,
        }
    }

    /// Whether the conversation has ended.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended { .. })
    }

    /// Whether `party` may speak (send, type, mark read) in this conversation now: its
    /// visitor, its serving agent or the system, and only while it is live.
    pub fn check_speaker(&self, party: Party<'_>) -> Result<(), Rejection> {
        if self.is_ended() {
            return Err(Rejection::Ended);
        }
        let allowed = match party {
            Party::Visitor(user) => user == self.visitor,
            Party::Agent(user) => self.serving_agent() == Some(user),
            Party::System => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::NotParticipant)
        }
    }

    /// The earliest server time (ms) at which an [`Event::Tick`] would change
    /// something (end an idle conversation or fail an unanswered transfer); `None`
    /// once ended. Ticking earlier is harmless.
    pub fn next_deadline_ms(&self, rules: &Rules) -> Option<u64> {
        let idle = deadline(self.last_activity_ms, rules.inactivity_timeout_ms);
        match self.phase {
            Phase::Ended { .. } => None,
            Phase::Transferring { since_ms, .. } => {
                Some(idle.min(deadline(since_ms, rules.transfer_timeout_ms)))
            }
            Phase::Waiting | Phase::Serving { .. } => Some(idle),
        }
    }

    /// Applies `event` at `now_ms`: [`step`] followed by [`Conversation::apply`].
    /// On `Err` nothing changed.
    pub fn handle(
        &mut self,
        event: Event<'_>,
        now_ms: u64,
        rules: &Rules,
    ) -> Result<Effects, Rejection> {
        step(self, event, now_ms, rules).map(|transition| self.apply(transition))
    }

    /// Moves to the state a [`Transition`] computed from this conversation describes,
    /// and returns its effects.
    pub fn apply(&mut self, transition: Transition) -> Effects {
        if let Some(phase) = transition.phase {
            self.phase = phase;
        }
        self.last_activity_ms = transition.last_activity_ms;
        transition.effects
    }
}

/// The first millisecond at which something that started at `start_ms` has lasted
/// *longer* than `timeout_ms`.
fn deadline(start_ms: u64, timeout_ms: u64) -> u64 {
    start_ms.saturating_add(timeout_ms).saturating_add(1)
}

#[cfg(test)]
mod tests;
