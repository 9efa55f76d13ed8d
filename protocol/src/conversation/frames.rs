//! How the state machine's values appear on the wire: an [`Announcement`] becomes a
//! `system` frame, a [`Phase`] the `state` of a `conversation` snapshot.

use super::{Announcement, Conversation, Phase};
use crate::chat::{ConversationState, ServerFrame, SystemKind};

impl Announcement {
    /// The `event` of its `system` frame.
    pub fn kind(&self) -> SystemKind {
        match self {
            Announcement::Created => SystemKind::Created,
            Announcement::Assigned { .. } => SystemKind::Assigned,
            Announcement::TransferRequested { .. } => SystemKind::TransferRequested,
            Announcement::Transferred { .. } => SystemKind::Transferred,
            Announcement::TransferFailed { .. } => SystemKind::TransferFailed,
            Announcement::Requeued { .. } => SystemKind::Requeued,
            Announcement::Ended { .. } => SystemKind::Ended,
        }
    }

    /// The `agent` of its `system` frame: the assigned agent, the transfer's target,
    /// the new agent, or the agent served again after a failed transfer.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Announcement::Assigned { agent } => Some(agent),
            Announcement::TransferRequested { to, .. } | Announcement::Transferred { to, .. } => {
                Some(to)
            }
            Announcement::TransferFailed { fell_back_to, .. } => fell_back_to.as_deref(),
            Announcement::Created | Announcement::Requeued { .. } | Announcement::Ended { .. } => {
                None
            }
        }
    }

    /// The `reason` of its `system` frame (`declined`, `agent_lost`, `inactivity`, …).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Announcement::TransferFailed { why, .. } => Some(why.as_str()),
            Announcement::Requeued { why } => Some(why.as_str()),
            Announcement::Ended { reason } => Some(reason.as_str()),
            _ => None,
        }
    }

    /// Its `system` frame in conversation `conv`, with the sequence number and server
    /// time the engine gave it.
    pub fn to_frame(&self, conv: u64, seq: u64, ts: u64) -> ServerFrame<'_> {
        ServerFrame::System {
            conv,
            seq,
            ts,
            event: self.kind(),
            agent: self.agent(),
            position: None,
            reason: self.reason(),
        }
    }
}

impl Phase {
    /// The `state` of a `conversation` snapshot.
    pub fn state(&self) -> ConversationState {
        match self {
            Phase::Waiting => ConversationState::Waiting,
            Phase::Serving { .. } => ConversationState::Serving,
            Phase::Transferring { .. } => ConversationState::Transferring,
            Phase::Ended { .. } => ConversationState::Ended,
        }
    }
}

impl Conversation {
    /// Its `conversation` snapshot frame, given the sequence number of its latest
    /// ordered item. `agent` is the serving agent (during a transfer, the origin
    /// unless it was lost).
    pub fn snapshot(&self, last_seq: u64) -> ServerFrame<'_> {
        ServerFrame::Conversation {
            conv: self.id,
            state: self.phase.state(),
            visitor: &self.visitor,
            agent: self.serving_agent(),
            last_seq,
        }
    }
}
