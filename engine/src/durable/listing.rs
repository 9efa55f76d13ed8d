//! `GET /v1/conversations?visitor=&since_ms=&until_ms=&cursor=`: conversations listed
//! from the store, ended ones within `--retain` included, newest first.
//!
//! Scanning the log per request would cost O(log size), so a small index (conversation
//! → visitor, agent, state, created, last activity, last seq) is built at recovery
//! from the records the store replays, and kept current by the control thread itself:
//! before each listing it reads the records appended since (`read_from` its own
//! cursor, durable records only). No shard ever takes the index's lock, and the writer
//! thread stays generic; the price is that a listing first pays for the records
//! written since the previous one.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use switchboard_control_api::model::{
    ConversationList, ConversationState, ConversationSummary, HistoryCursor, HistoryQuery,
};
use switchboard_control_api::ApiError;
use switchboard_protocol::conversation::Phase;
use switchboard_service::records::{decode_item, decode_state};
use switchboard_store::StoreReader;

use super::records::{ITEM_KIND, STATE_KIND};

/// Records read per catch-up step.
const CATCH_UP_CHUNK: usize = 4096;

/// What a listing shows of one conversation.
#[derive(Debug)]
struct Entry {
    /// Shared with the per-visitor key.
    visitor: Arc<str>,
    /// The serving agent; after the end, the agent who served it last.
    agent: Option<Box<str>>,
    transfer_to: Option<Box<str>>,
    state: ConversationState,
    vip: bool,
    created_ms: u64,
    last_activity_ms: u64,
    last_seq: u64,
}

/// The index: entries, and the listing order (creation time, id) overall and per
/// visitor. A visitor has few conversations, so theirs are a sorted `Vec` (a
/// `BTreeSet` each cost ~200 bytes more per conversation, measured).
#[derive(Debug, Default)]
pub struct ConvIndex {
    entries: HashMap<u64, Entry>,
    order: BTreeSet<(u64, u64)>,
    by_visitor: HashMap<Arc<str>, Vec<(u64, u64)>>,
    /// The next LSN to read: every record below it has been applied.
    next_lsn: u64,
}

impl ConvIndex {
    /// Conversations indexed.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Applies one record (recovery replays them in LSN order; so does the catch-up).
    pub fn apply(&mut self, lsn: u64, stream: u64, kind: u8, payload: &[u8]) {
        self.next_lsn = self.next_lsn.max(lsn + 1);
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        match kind {
            STATE_KIND => {
                if let Ok(state) = decode_state(text) {
                    self.apply_state(stream, &state);
                }
            }
            ITEM_KIND => {
                // Items of a conversation whose state is unreadable are not listed.
                if let (Some(entry), Ok(item)) = (self.entries.get_mut(&stream), decode_item(text))
                {
                    entry.last_seq = entry.last_seq.max(item.seq());
                    if entry.state != ConversationState::Ended {
                        entry.last_activity_ms = entry.last_activity_ms.max(item.ts());
                    }
                }
            }
            _ => {}
        }
    }

    fn apply_state(&mut self, conv: u64, state: &switchboard_service::records::ConvState) {
        let fsm = &state.fsm;
        let (phase, agent, transfer_to) = match &fsm.phase {
            Phase::Waiting => (ConversationState::Waiting, None, None),
            Phase::Serving { agent } => (ConversationState::Serving, Some(agent.as_str()), None),
            Phase::Transferring { from, to, .. } => (
                ConversationState::Transferring,
                Some(from.as_str()),
                Some(to.as_str()),
            ),
            Phase::Ended { .. } => (ConversationState::Ended, None, None),
        };
        let key = (state.created_ms, conv);
        let entry = self.entries.entry(conv).or_insert_with(|| Entry {
            visitor: fsm.visitor.as_str().into(),
            agent: None,
            transfer_to: None,
            state: phase,
            vip: fsm.vip,
            created_ms: state.created_ms,
            last_activity_ms: 0,
            last_seq: 0,
        });
        if entry.created_ms != state.created_ms {
            self.order.remove(&(entry.created_ms, conv));
            if let Some(keys) = self.by_visitor.get_mut(&entry.visitor) {
                keys.retain(|&k| k != (entry.created_ms, conv));
            }
            entry.created_ms = state.created_ms;
        }
        if agent.is_some() || phase != ConversationState::Ended {
            entry.agent = agent.map(Into::into);
        }
        entry.transfer_to = transfer_to.map(Into::into);
        entry.state = phase;
        entry.vip = fsm.vip;
        entry.last_activity_ms = entry.last_activity_ms.max(fsm.last_activity_ms);
        entry.last_seq = entry.last_seq.max(state.next_seq.saturating_sub(1));
        self.order.insert(key);
        let keys = self
            .by_visitor
            .entry(Arc::clone(&entry.visitor))
            .or_default();
        if let Err(at) = keys.binary_search(&key) {
            keys.insert(at, key);
        }
    }

    /// Forgets ended conversations past `retain_ms` (compaction drops their records;
    /// without this the index would keep them until the next restart). A walk over
    /// the index, so the caller runs it now and then, not per listing.
    pub fn prune(&mut self, now_ms: u64, retain_ms: u64) {
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.state == ConversationState::Ended
                    && e.last_activity_ms.saturating_add(retain_ms) <= now_ms
            })
            .map(|(&conv, _)| conv)
            .collect();
        for conv in expired {
            let Some(entry) = self.entries.remove(&conv) else {
                continue;
            };
            let key = (entry.created_ms, conv);
            self.order.remove(&key);
            if let Some(keys) = self.by_visitor.get_mut(&entry.visitor) {
                keys.retain(|&k| k != key);
                if keys.is_empty() {
                    self.by_visitor.remove(&entry.visitor);
                }
            }
        }
    }

    /// Reads and applies every durable record appended since the last call.
    pub fn catch_up(&mut self, reader: &StoreReader) -> Result<(), ApiError> {
        while self.next_lsn <= reader.durable_lsn() {
            let page = reader
                .read_from(self.next_lsn, CATCH_UP_CHUNK)
                .map_err(|err| ApiError::internal(format!("reading the store: {err}")))?;
            for record in &page.records {
                self.apply(record.lsn, record.stream, record.kind, &record.payload);
            }
            if page.next_lsn <= self.next_lsn {
                break;
            }
            self.next_lsn = page.next_lsn;
        }
        Ok(())
    }

    /// The page `query` asks for, as of `now_ms`. Ended conversations past
    /// `retain_ms` are left out (compaction drops them, at its own pace).
    pub fn page(&self, query: &HistoryQuery, now_ms: u64, retain_ms: u64) -> ConversationList {
        let mut upper = Bound::Unbounded;
        if let Some(until) = query.until_ms {
            upper = Bound::Excluded((until, 0));
        }
        if let Some(HistoryCursor { created_ms, id }) = query.cursor {
            let at = (created_ms, id);
            if !matches!(upper, Bound::Excluded(u) if u <= at) {
                upper = Bound::Excluded(at);
            }
        }
        let lower = (query.since_ms.unwrap_or(0), 0);
        let mut conversations = Vec::with_capacity(query.limit.min(256));
        let mut next_cursor = None;
        let keys: Box<dyn Iterator<Item = &(u64, u64)>> = match &query.visitor {
            Some(visitor) => {
                let keys = self
                    .by_visitor
                    .get(visitor.as_str())
                    .map_or(&[][..], Vec::as_slice);
                let start = keys.partition_point(|&k| k < lower);
                let end = match upper {
                    Bound::Excluded(u) => keys.partition_point(|&k| k < u),
                    _ => keys.len(),
                };
                Box::new(keys[start..end.max(start)].iter().rev())
            }
            // An empty range (lower above upper) would panic in `range`.
            None => match upper {
                Bound::Excluded(u) if u <= lower => Box::new(std::iter::empty()),
                _ => Box::new(self.order.range((Bound::Included(lower), upper)).rev()),
            },
        };
        for &(created_ms, conv) in keys {
            let Some(entry) = self.entries.get(&conv) else {
                continue;
            };
            if !matches(entry, query, now_ms, retain_ms) {
                continue;
            }
            if conversations.len() == query.limit {
                let last: &ConversationSummary = &conversations[conversations.len() - 1];
                next_cursor = Some(
                    HistoryCursor {
                        created_ms: last.created_at_ms,
                        id: last.id,
                    }
                    .encode(),
                );
                break;
            }
            conversations.push(summary(conv, created_ms, entry, now_ms));
        }
        ConversationList {
            conversations,
            next_cursor,
        }
    }
}

fn matches(entry: &Entry, query: &HistoryQuery, now_ms: u64, retain_ms: u64) -> bool {
    if entry.state == ConversationState::Ended
        && entry.last_activity_ms.saturating_add(retain_ms) <= now_ms
    {
        return false;
    }
    if query.state.is_some_and(|s| s != entry.state) {
        return false;
    }
    if let Some(agent) = &query.agent {
        let serves = entry.agent.as_deref() == Some(agent.as_str());
        let offered = entry.transfer_to.as_deref() == Some(agent.as_str());
        if !serves && !offered {
            return false;
        }
    }
    query
        .min_age_ms
        .is_none_or(|age| now_ms.saturating_sub(entry.created_ms) >= age)
}

fn summary(conv: u64, created_ms: u64, entry: &Entry, now_ms: u64) -> ConversationSummary {
    ConversationSummary {
        id: conv,
        state: entry.state,
        visitor: entry.visitor.to_string(),
        agent: entry.agent.as_deref().map(str::to_owned),
        transfer_to: entry.transfer_to.as_deref().map(str::to_owned),
        vip: entry.vip,
        created_at_ms: created_ms,
        age_ms: now_ms.saturating_sub(created_ms),
        idle_ms: now_ms.saturating_sub(entry.last_activity_ms),
        last_seq: entry.last_seq,
        // The live listing has queue places; the store does not keep them current.
        queue_position: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::conversation::{Conversation, EndReason};
    use switchboard_service::records::{encode_state, ConvState};

    fn state(conv: u64, visitor: &str, created_ms: u64, phase: Phase) -> Vec<u8> {
        let (mut fsm, _) = Conversation::open(conv, visitor, false, created_ms);
        fsm.phase = phase;
        fsm.last_activity_ms = created_ms;
        encode_state(&ConvState {
            fsm,
            next_seq: 2,
            created_ms,
            queue_position: None,
            followers: Vec::new(),
        })
        .into_bytes()
    }

    fn query() -> HistoryQuery {
        HistoryQuery {
            visitor: None,
            agent: None,
            state: None,
            since_ms: None,
            until_ms: None,
            min_age_ms: None,
            cursor: None,
            limit: 10,
        }
    }

    fn ids(list: &ConversationList) -> Vec<u64> {
        list.conversations.iter().map(|c| c.id).collect()
    }

    fn index() -> ConvIndex {
        let mut index = ConvIndex::default();
        let serving = Phase::Serving {
            agent: "ann".into(),
        };
        let ended = Phase::Ended {
            reason: EndReason::Visitor,
        };
        index.apply(1, 1, STATE_KIND, &state(1, "vic", 1_000, Phase::Waiting));
        index.apply(2, 1, STATE_KIND, &state(1, "vic", 1_000, serving.clone()));
        index.apply(3, 1, STATE_KIND, &state(1, "vic", 1_000, ended));
        index.apply(4, 2, STATE_KIND, &state(2, "bob", 2_000, serving));
        index.apply(5, 3, STATE_KIND, &state(3, "vic", 3_000, Phase::Waiting));
        index
    }

    #[test]
    fn newest_first_by_visitor_with_a_cursor() {
        let index = index();
        let mut q = query();
        q.visitor = Some("vic".into());
        q.limit = 1;
        let first = index.page(&q, 5_000, u64::MAX / 2);
        assert_eq!(ids(&first), [3]);
        q.cursor = first.next_cursor.as_deref().and_then(HistoryCursor::parse);
        let second = index.page(&q, 5_000, u64::MAX / 2);
        assert_eq!(ids(&second), [1]);
        assert_eq!(second.conversations[0].state, ConversationState::Ended);
        assert_eq!(
            second.conversations[0].agent.as_deref(),
            Some("ann"),
            "an ended conversation names the agent who served it"
        );
        assert_eq!(second.next_cursor, None);
    }

    #[test]
    fn agent_time_range_and_retention() {
        let index = index();
        let mut q = query();
        q.agent = Some("ann".into());
        assert_eq!(ids(&index.page(&q, 5_000, 60_000)), [2, 1]);
        assert_eq!(
            ids(&index.page(&q, 5_000, 1_000)),
            [2],
            "ended past --retain"
        );
        let mut q = query();
        q.since_ms = Some(1_500);
        q.until_ms = Some(3_000);
        assert_eq!(ids(&index.page(&q, 5_000, 60_000)), [2]);
        q.since_ms = Some(3_000);
        assert_eq!(ids(&index.page(&q, 5_000, 60_000)), Vec::<u64>::new());
    }

    #[test]
    fn pruning_forgets_only_ended_conversations_past_retention() {
        let mut index = index();
        index.prune(5_000, 60_000);
        assert_eq!(index.len(), 3);
        index.prune(5_000, 1_000);
        assert_eq!(index.len(), 2, "the ended one goes");
        let mut q = query();
        q.visitor = Some("vic".into());
        assert_eq!(ids(&index.page(&q, 5_000, 60_000)), [3]);
    }

    /// Memory per indexed conversation, for design.md (`--ignored --nocapture`).
    #[test]
    #[ignore]
    fn memory_per_conversation() {
        fn rss_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmRSS")
        }
        const N: u64 = 200_000;
        let records: Vec<Vec<u8>> = (0..N)
            .map(|i| {
                let phase = Phase::Serving {
                    agent: format!("agent-{}", i % 50),
                };
                state(i, &format!("visitor-{i}"), 1_000 + i, phase)
            })
            .collect();
        let before = rss_kib();
        let mut index = ConvIndex::default();
        for (i, record) in records.iter().enumerate() {
            index.apply(i as u64, i as u64, STATE_KIND, record);
        }
        let after = rss_kib();
        println!(
            "{} conversations: {} bytes each",
            index.len(),
            (after - before) * 1024 / N
        );
    }
}
