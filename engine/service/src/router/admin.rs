//! What the control API asks of the router: agent views and changes (the routing
//! service's lever), and assignments or moves decided outside the engine.

use super::{Agent, AgentStatus, Router, RouterOutput};
use crate::error::ServiceError;
use crate::ids::Peer;
use crate::views::{AgentPatch, AgentView};

impl Router {
    fn view(&self, user: &str, agent: &Agent, now_ms: u64) -> AgentView {
        // An agent with no connection and no grace period left can take nothing,
        // whatever it last said: it is reported offline.
        let gone = agent.conns.is_empty() && agent.lost_since_ms.is_none();
        AgentView {
            user: user.to_owned(),
            status: if gone {
                AgentStatus::Offline
            } else {
                agent.status
            },
            capacity: agent.capacity,
            weight: agent.weight,
            groups: agent.groups.iter().map(|g| g.to_string()).collect(),
            connections: agent.conns.len() as u32,
            conversations: agent.conversations.clone(),
            grace_left_ms: agent
                .lost_since_ms
                .map(|since| (since + self.config.agent_grace_ms).saturating_sub(now_ms)),
        }
    }

    /// Every agent, by user id.
    pub fn views(&self, now_ms: u64) -> Vec<AgentView> {
        let mut views: Vec<AgentView> = self
            .agents
            .iter()
            .map(|(user, agent)| self.view(user, agent, now_ms))
            .collect();
        views.sort_by(|a, b| a.user.cmp(&b.user));
        views
    }

    /// Changes an agent's status, capacity, weight or groups; an agent not seen yet is
    /// recorded (offline) so the routing service can prepare it. Reassigns the queue.
    pub fn update_agent(
        &mut self,
        user: &str,
        patch: &AgentPatch,
        now_ms: u64,
        out: &mut Vec<RouterOutput>,
    ) -> AgentView {
        let capacity = self.config.default_capacity;
        let agent = self.agents.entry(user.into()).or_insert_with(|| Agent {
            status: AgentStatus::Offline,
            capacity,
            weight: 1,
            groups: Box::default(),
            conns: Vec::new(),
            conversations: Vec::new(),
            lost_since_ms: None,
        });
        if let Some(status) = patch.status {
            agent.status = status;
        }
        if let Some(capacity) = patch.capacity {
            agent.capacity = capacity;
        }
        if let Some(weight) = patch.weight {
            agent.weight = weight;
        }
        if let Some(groups) = &patch.groups {
            agent.groups = groups.iter().map(|g| g.as_str().into()).collect();
        }
        self.assign_waiting(out);
        let agent = &self.agents[user];
        self.view(user, agent, now_ms)
    }

    /// Takes waiting conversation `conv` out of the queue for `agent` (an admin decision:
    /// the agent must be connected; its capacity may be exceeded). Returns its connections.
    pub fn force_assign(
        &mut self,
        conv: u64,
        agent: &str,
        out: &mut Vec<RouterOutput>,
    ) -> Result<Vec<Peer>, ServiceError> {
        if conv == 0 || conv >= self.next_conv {
            return Err(ServiceError::not_found(format!("conversation {conv}")));
        }
        let record = self
            .agents
            .get(agent)
            .ok_or_else(|| ServiceError::not_found(format!("agent {agent}")))?;
        if record.conns.is_empty() {
            return Err(ServiceError::conflict(format!(
                "agent {agent} has no open connection"
            )));
        }
        self.queue.remove(conv).ok_or_else(|| {
            ServiceError::conflict(format!("conversation {conv} is not waiting in the queue"))
        })?;
        let record = self
            .agents
            .get_mut(agent)
            .ok_or_else(|| ServiceError::not_found(format!("agent {agent}")))?;
        record.conversations.push(conv);
        let peers = record.conns.clone();
        self.assign_waiting(out);
        Ok(peers)
    }

    /// The connections of `to` if it can take one more conversation now.
    pub fn transfer_target(&self, to: &str) -> Result<Vec<Peer>, ServiceError> {
        let record = self
            .agents
            .get(to)
            .ok_or_else(|| ServiceError::not_found(format!("agent {to}")))?;
        if !record.can_take() {
            return Err(ServiceError::conflict(format!(
                "agent {to} cannot take a conversation now (status, connections or capacity)"
            )));
        }
        Ok(record.conns.clone())
    }

    /// Conversations waiting for an agent.
    pub fn queue_length(&self) -> u64 {
        self.queue.len() as u64
    }
}
