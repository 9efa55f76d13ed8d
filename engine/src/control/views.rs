//! The control adapter's translation between the control API's documents
//! (`switchboard_control_api::model`) and the service's own views and refusals
//! (`switchboard_service::views`, `ServiceError`): the service never names an API type.

use switchboard_control_api::model as api;
use switchboard_control_api::ApiError;
use switchboard_service::views::{
    self as service, AgentStatus as ServiceStatus, ConversationState as ServiceState,
};
use switchboard_service::ServiceError;

/// A service refusal as an HTTP answer: not found → 404, conflict → 409.
pub fn error(err: ServiceError) -> ApiError {
    match err {
        ServiceError::NotFound(what) => ApiError::not_found(what),
        ServiceError::Conflict(why) => ApiError::conflict(why),
    }
}

fn state(state: ServiceState) -> api::ConversationState {
    match state {
        ServiceState::Waiting => api::ConversationState::Waiting,
        ServiceState::Serving => api::ConversationState::Serving,
        ServiceState::Transferring => api::ConversationState::Transferring,
        ServiceState::Ended => api::ConversationState::Ended,
    }
}

fn service_state(state: api::ConversationState) -> ServiceState {
    match state {
        api::ConversationState::Waiting => ServiceState::Waiting,
        api::ConversationState::Serving => ServiceState::Serving,
        api::ConversationState::Transferring => ServiceState::Transferring,
        api::ConversationState::Ended => ServiceState::Ended,
    }
}

fn status(status: ServiceStatus) -> api::AgentStatus {
    match status {
        ServiceStatus::Online => api::AgentStatus::Online,
        ServiceStatus::Away => api::AgentStatus::Away,
        ServiceStatus::Offline => api::AgentStatus::Offline,
    }
}

fn service_status(status: api::AgentStatus) -> ServiceStatus {
    match status {
        api::AgentStatus::Online => ServiceStatus::Online,
        api::AgentStatus::Away => ServiceStatus::Away,
        api::AgentStatus::Offline => ServiceStatus::Offline,
    }
}

/// Counts per state.
pub fn counts(c: service::Counts) -> api::ConversationCounts {
    api::ConversationCounts {
        waiting: c.waiting,
        serving: c.serving,
        transferring: c.transferring,
        ended: c.ended,
    }
}

/// A listing filter.
pub fn filter(f: &api::ConversationFilter) -> service::Filter {
    service::Filter {
        state: f.state.map(service_state),
        agent: f.agent.clone(),
        min_age_ms: f.min_age_ms,
        limit: f.limit,
    }
}

/// A conversation summary.
pub fn summary(s: service::Summary) -> api::ConversationSummary {
    api::ConversationSummary {
        id: s.id,
        state: state(s.state),
        visitor: s.visitor,
        agent: s.agent,
        transfer_to: s.transfer_to,
        vip: s.vip,
        created_at_ms: s.created_at_ms,
        age_ms: s.age_ms,
        idle_ms: s.idle_ms,
        last_seq: s.last_seq,
        queue_position: s.queue_position,
    }
}

/// An item as the control API shows it.
pub fn item(item: service::ItemView) -> api::ConversationItem {
    match item {
        service::ItemView::Message {
            seq,
            ts,
            from,
            client_msg_id,
            body,
        } => api::ConversationItem::Message {
            seq,
            ts,
            from,
            client_msg_id,
            body,
        },
        service::ItemView::System {
            seq,
            ts,
            event,
            agent,
            position,
            reason,
        } => api::ConversationItem::System {
            seq,
            ts,
            event,
            agent,
            position,
            reason,
        },
    }
}

/// A conversation with its recent items.
pub fn detail(d: service::Detail) -> api::ConversationDetail {
    api::ConversationDetail {
        conversation: summary(d.summary),
        items: d.items.into_iter().map(item).collect(),
        followers: d.followers,
    }
}

/// A message to post.
pub fn post(m: &api::PostMessage) -> service::Post {
    service::Post {
        from: match &m.from {
            api::Sender::System => service::Sender::System,
            api::Sender::Bot(name) => service::Sender::Bot(name.clone()),
        },
        body: m.body.clone(),
        client_msg_id: m.client_msg_id.clone(),
    }
}

/// A posted message.
pub fn posted(p: service::Posted) -> api::PostedMessage {
    api::PostedMessage {
        conv: p.conv,
        seq: p.seq,
        ts: p.ts,
        client_msg_id: p.client_msg_id,
        duplicate: p.duplicate,
    }
}

/// An agent.
pub fn agent(a: service::AgentView) -> api::AgentView {
    api::AgentView {
        user: a.user,
        status: status(a.status),
        capacity: a.capacity,
        weight: a.weight,
        groups: a.groups,
        connections: a.connections,
        conversations: a.conversations,
        grace_left_ms: a.grace_left_ms,
    }
}

/// Changes to an agent.
pub fn agent_patch(p: &api::AgentPatch) -> service::AgentPatch {
    service::AgentPatch {
        status: p.status.map(service_status),
        capacity: p.capacity,
        weight: p.weight,
        groups: p.groups.clone(),
    }
}
