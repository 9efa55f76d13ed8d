//! What the control API asks of a shard's conversations: listings, details, and the
//! admin actions (post as the system or a bot, end, move to another agent).

use switchboard_protocol::conversation::{Effect, Event, Party, Phase};

use super::{Home, HomeOutput, Homes, Item, ItemBody};
use crate::error::ServiceError;
use crate::ids::Peer;
use crate::views::{
    ConversationState, Counts, Detail, Filter, ItemView, Post, Posted, Sender, Summary,
};

fn view_state(phase: &Phase) -> ConversationState {
    match phase {
        Phase::Waiting => ConversationState::Waiting,
        Phase::Serving { .. } => ConversationState::Serving,
        Phase::Transferring { .. } => ConversationState::Transferring,
        Phase::Ended { .. } => ConversationState::Ended,
    }
}

fn summarize(home: &Home, now_ms: u64) -> Summary {
    let transfer_to = match &home.fsm.phase {
        Phase::Transferring { to, .. } => Some(to.clone()),
        _ => None,
    };
    let waiting = home.fsm.phase == Phase::Waiting;
    Summary {
        id: home.fsm.id,
        state: view_state(&home.fsm.phase),
        visitor: home.fsm.visitor.clone(),
        agent: home.fsm.serving_agent().map(str::to_owned),
        transfer_to,
        vip: home.fsm.vip,
        created_at_ms: home.created_ms,
        age_ms: now_ms.saturating_sub(home.created_ms),
        idle_ms: now_ms.saturating_sub(home.fsm.last_activity_ms),
        last_seq: home.next_seq - 1,
        queue_position: if waiting { home.queue_position } else { None },
    }
}

impl Item {
    /// The item as the control API shows it.
    pub fn view(&self) -> ItemView {
        item_view(self)
    }
}

fn item_view(item: &Item) -> ItemView {
    match &item.body {
        ItemBody::Message {
            from,
            client_msg_id,
            body,
        } => ItemView::Message {
            seq: item.seq,
            ts: item.ts,
            from: from.to_string(),
            client_msg_id: client_msg_id.to_string(),
            body: body.to_string(),
        },
        ItemBody::System {
            kind,
            agent,
            position,
            reason,
        } => ItemView::System {
            seq: item.seq,
            ts: item.ts,
            event: kind.as_str().to_owned(),
            agent: agent.as_deref().map(str::to_owned),
            position: *position,
            reason: reason.as_deref().map(str::to_owned),
        },
    }
}

fn not_found(conv: u64) -> ServiceError {
    ServiceError::not_found(format!("conversation {conv}"))
}

impl Homes {
    /// Conversations matching `filter` (at most `filter.limit`, oldest first).
    pub fn summaries(&self, filter: &Filter, now_ms: u64) -> Vec<Summary> {
        let mut list: Vec<Summary> = self
            .convs
            .values()
            .map(|home| summarize(home, now_ms))
            .filter(|s| filter.state.is_none_or(|state| s.state == state))
            .filter(|s| {
                filter.agent.as_deref().is_none_or(|agent| {
                    s.agent.as_deref() == Some(agent) || s.transfer_to.as_deref() == Some(agent)
                })
            })
            .filter(|s| filter.min_age_ms.is_none_or(|age| s.age_ms >= age))
            .collect();
        list.sort_by_key(|s| s.id);
        list.truncate(filter.limit);
        list
    }

    /// How many conversations are in each state.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for home in self.convs.values() {
            match home.fsm.phase {
                Phase::Waiting => counts.waiting += 1,
                Phase::Serving { .. } => counts.serving += 1,
                Phase::Transferring { .. } => counts.transferring += 1,
                Phase::Ended { .. } => counts.ended += 1,
            }
        }
        counts
    }

    /// One conversation's summary.
    pub fn summary(&self, conv: u64, now_ms: u64) -> Result<Summary, ServiceError> {
        self.convs
            .get(&conv)
            .map(|home| summarize(home, now_ms))
            .ok_or_else(|| not_found(conv))
    }

    /// One conversation with its `recent` last items.
    pub fn detail(&self, conv: u64, recent: usize, now_ms: u64) -> Result<Detail, ServiceError> {
        let home = self.convs.get(&conv).ok_or_else(|| not_found(conv))?;
        let skip = home.history.len().saturating_sub(recent);
        Ok(Detail {
            summary: summarize(home, now_ms),
            items: home.history.iter().skip(skip).map(item_view).collect(),
            followers: home.followers.len() as u32,
        })
    }

    /// Posts a message as the system or a bot: same ordered channel, delivered to every
    /// follower. A repeated `client_msg_id` returns the first message's seq.
    pub fn post(
        &mut self,
        conv: u64,
        msg: &Post,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Result<Posted, ServiceError> {
        let rules = self.rules;
        let home = self.convs.get_mut(&conv).ok_or_else(|| not_found(conv))?;
        let client_msg_id = msg
            .client_msg_id
            .clone()
            .unwrap_or_else(|| format!("api-{}", home.next_seq));
        let from = match &msg.from {
            Sender::System => "system".to_owned(),
            Sender::Bot(name) => format!("bot:{name}"),
        };
        if let Some(seq) = home.seen_ids.get(&home.history, &from, &client_msg_id) {
            let ts = home.history.by_seq(seq).map_or(now_ms, |i| i.ts);
            return Ok(Posted {
                conv,
                seq,
                ts,
                client_msg_id,
                duplicate: true,
            });
        }
        home.fsm
            .handle(
                Event::Message {
                    from: Party::System,
                },
                now_ms,
                &rules,
            )
            .map_err(|rejection| ServiceError::conflict(rejection.to_string()))?;
        let item = ItemBody::Message {
            from: from.into(),
            client_msg_id: client_msg_id.as_str().into(),
            body: msg.body.as_str().into(),
        };
        let seq = self.publish(conv, item, now_ms, None, out);
        Ok(Posted {
            conv,
            seq,
            ts: now_ms,
            client_msg_id,
            duplicate: false,
        })
    }

    /// Ends a conversation on the company's behalf (reason `admin`).
    pub fn admin_end(
        &mut self,
        conv: u64,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Result<Summary, ServiceError> {
        self.admin_step(conv, Event::End { by: Party::System }, now_ms, out)?;
        self.summary(conv, now_ms)
    }

    /// Offers a served conversation to agent `to` on the company's behalf, with the
    /// life cycle of an agent's own `transfer` (`transfer_requested`, an offer to `to`,
    /// then accept, decline or timeout). With `force` it moves at once (the routing
    /// service decided; the router checked that `to` can take it): a transfer
    /// requested and accepted in one go, so clients see `transfer_requested` then
    /// `transferred`.
    pub fn admin_transfer(
        &mut self,
        conv: u64,
        to: &str,
        peers: &[Peer],
        force: bool,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Result<Summary, ServiceError> {
        let by = {
            let home = self.convs.get(&conv).ok_or_else(|| not_found(conv))?;
            home.fsm.serving_agent().map(str::to_owned).ok_or_else(|| {
                ServiceError::conflict("the conversation has no serving agent; assign it instead")
            })?
        };
        if !force {
            self.admin_step(conv, Event::RequestTransfer { by: &by, to }, now_ms, out)?;
            return self.summary(conv, now_ms);
        }
        // No offer goes out: the routing service decided, the target takes it at once.
        self.admin_step_without_offer(conv, Event::RequestTransfer { by: &by, to }, now_ms, out)?;
        self.admin_step(conv, Event::AcceptTransfer { by: to }, now_ms, out)?;
        for &peer in peers {
            self.follow(conv, peer, to, None, out);
        }
        self.summary(conv, now_ms)
    }

    fn admin_step(
        &mut self,
        conv: u64,
        event: Event<'_>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Result<(), ServiceError> {
        self.admin_step_keeping(conv, event, now_ms, out, |_| true)
    }

    /// An admin transition whose transfer offer is not sent (the routing service decided).
    fn admin_step_without_offer(
        &mut self,
        conv: u64,
        event: Event<'_>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
    ) -> Result<(), ServiceError> {
        self.admin_step_keeping(conv, event, now_ms, out, |e| {
            !matches!(e, Effect::OfferTransfer { .. })
        })
    }

    fn admin_step_keeping(
        &mut self,
        conv: u64,
        event: Event<'_>,
        now_ms: u64,
        out: &mut Vec<HomeOutput>,
        keep: impl Fn(&Effect) -> bool,
    ) -> Result<(), ServiceError> {
        let rules = self.rules;
        let home = self.convs.get_mut(&conv).ok_or_else(|| not_found(conv))?;
        let effects = home
            .fsm
            .handle(event, now_ms, &rules)
            .map_err(|rejection| ServiceError::conflict(rejection.to_string()))?;
        self.carry_out(conv, effects.into_iter().filter(|e| keep(e)), now_ms, out);
        Ok(())
    }

    /// Whether `conv` is homed here and waiting for an agent.
    pub fn is_waiting(&self, conv: u64) -> Result<bool, ServiceError> {
        let home = self.convs.get(&conv).ok_or_else(|| not_found(conv))?;
        Ok(home.fsm.phase == Phase::Waiting)
    }
}
