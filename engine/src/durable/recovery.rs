//! Rebuilding conversations from the store's records at start-up: the newest state
//! record of each stream, and its newest items (as many as `--history-len` keeps).
//!
//! A restart ends every connection, so the stored followers are dropped: the
//! connection ids of the new process would otherwise name strangers. Ended
//! conversations past the in-memory retention are not held again (their records stay
//! on disk until `--retain`), but their ids stay taken.

use std::collections::{HashMap, VecDeque};

use switchboard_service::home::{Item, RouterNote};
use switchboard_service::records::{decode_item, decode_state, ConvState, LoadedConv};
use switchboard_store::RecordRef;

use super::records::{ITEM_KIND, STATE_KIND};

/// One stream while its records are read.
#[derive(Debug, Default)]
struct Partial {
    state: Option<ConvState>,
    items: VecDeque<Item>,
}

/// Collects the records recovery hands over, in LSN order.
#[derive(Debug)]
pub(super) struct Rebuild {
    convs: HashMap<u64, Partial>,
    history_len: usize,
    skipped: u64,
}

/// What recovery rebuilt, for the shards and the router.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Conversations to hold, per home shard (`conv % shards`).
    pub per_shard: Vec<Vec<LoadedConv>>,
    /// What the router must learn: waiting conversations in their queue order, then
    /// the served ones.
    pub router_notes: Vec<RouterNote>,
    /// One past the highest conversation id stored.
    pub next_conv: u64,
    /// Records that were not readable conversation records (skipped, logged).
    pub skipped: u64,
}

impl Recovered {
    /// Conversations held again.
    pub fn conversations(&self) -> usize {
        self.per_shard.iter().map(Vec::len).sum()
    }
}

impl Rebuild {
    pub(super) fn new(history_len: usize) -> Self {
        Rebuild {
            convs: HashMap::new(),
            history_len: history_len.max(1),
            skipped: 0,
        }
    }

    /// One valid record.
    pub(super) fn add(&mut self, record: RecordRef<'_>) {
        let Ok(text) = std::str::from_utf8(record.payload) else {
            self.skipped += 1;
            return;
        };
        let partial = self.convs.entry(record.stream).or_default();
        match record.kind {
            STATE_KIND => match decode_state(text) {
                Ok(state) => partial.state = Some(state),
                Err(_) => self.skipped += 1,
            },
            ITEM_KIND => match decode_item(text) {
                // A seq at or below the newest one held is not new: never twice.
                Ok(item) if partial.items.back().is_none_or(|b| b.seq() < item.seq()) => {
                    partial.items.push_back(item);
                    if partial.items.len() > self.history_len {
                        partial.items.pop_front();
                    }
                }
                Ok(_) | Err(_) => self.skipped += 1,
            },
            _ => self.skipped += 1,
        }
    }

    /// The conversations to hold and the router's notes.
    pub(super) fn finish(self, shards: usize, now_ms: u64, ended_retention_ms: u64) -> Recovered {
        let mut recovered = Recovered {
            per_shard: (0..shards).map(|_| Vec::new()).collect(),
            skipped: self.skipped,
            ..Recovered::default()
        };
        let mut waiting = Vec::new();
        let mut serving = Vec::new();
        for (conv, partial) in self.convs {
            recovered.next_conv = recovered.next_conv.max(conv + 1);
            let Some(loaded) = loaded(conv, partial) else {
                recovered.skipped += 1;
                continue;
            };
            let fsm = &loaded.state.fsm;
            if fsm.is_ended() {
                if fsm.last_activity_ms + ended_retention_ms <= now_ms {
                    continue;
                }
            } else {
                let note = RouterNote::Restore {
                    conv,
                    visitor: fsm.visitor.as_str().into(),
                    vip: fsm.vip,
                    agent: fsm.serving_agent().map(Into::into),
                };
                match fsm.serving_agent() {
                    None => waiting.push((loaded.state.created_ms, conv, note)),
                    Some(_) => serving.push(note),
                }
            }
            recovered.per_shard[(conv % shards as u64) as usize].push(loaded);
        }
        // Queue order is the order they were opened in (ids break ties: the router
        // hands them out in order).
        waiting.sort_by_key(|&(created, conv, _)| (created, conv));
        recovered.router_notes = waiting.into_iter().map(|(_, _, note)| note).collect();
        recovered.router_notes.extend(serving);
        recovered
    }
}

/// A conversation as the home holds it. The state is written only when it changes
/// beyond a chat line, so its next seq and last activity come from the newest item.
fn loaded(conv: u64, partial: Partial) -> Option<LoadedConv> {
    let mut state = partial.state?;
    state.followers.clear();
    let items: Vec<Item> = partial.items.into();
    if let Some(newest) = items.last() {
        state.next_seq = state.next_seq.max(newest.seq() + 1);
        if !state.fsm.is_ended() {
            state.fsm.last_activity_ms = state.fsm.last_activity_ms.max(newest.ts());
        }
    }
    Some(LoadedConv {
        conv,
        fence: 1,
        state,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::chat::Encoding;
    use switchboard_protocol::conversation::Conversation;
    use switchboard_service::ids::{ConnId, Peer};
    use switchboard_service::records::{encode_state, StoredFollower};

    fn state(conv: u64, visitor: &str, created_ms: u64) -> Vec<u8> {
        let (fsm, _) = Conversation::open(conv, visitor, false, created_ms);
        let follower = StoredFollower {
            peer: Peer {
                conn: ConnId::new(0, 1, 1),
                encoding: Encoding::Json,
            },
            user: visitor.into(),
            acked: 0,
        };
        let state = ConvState {
            fsm,
            next_seq: 2,
            created_ms,
            queue_position: None,
            followers: vec![follower],
        };
        encode_state(&state).into_bytes()
    }

    fn item(seq: u64) -> Vec<u8> {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{seq},"kind":"message","from":"v","client_msg_id":"m{seq}","body":"b"}}"#
        )
        .into_bytes()
    }

    fn add(rebuild: &mut Rebuild, stream: u64, kind: u8, payload: &[u8]) {
        rebuild.add(RecordRef {
            lsn: 0,
            stream,
            seq: 0,
            kind,
            payload,
        });
    }

    #[test]
    fn conversations_come_back_in_queue_order_without_followers() {
        let mut rebuild = Rebuild::new(2);
        // Conversation 8 was opened first, 5 later (ids need not follow creation).
        add(&mut rebuild, 5, STATE_KIND, &state(5, "late", 2_000));
        add(&mut rebuild, 8, STATE_KIND, &state(8, "early", 1_000));
        for seq in 2..=5 {
            add(&mut rebuild, 8, ITEM_KIND, &item(seq));
        }
        add(&mut rebuild, 8, ITEM_KIND, &item(4));
        add(&mut rebuild, 9, ITEM_KIND, b"not json");
        let recovered = rebuild.finish(2, 3_000, 60_000);
        let order: Vec<u64> = recovered
            .router_notes
            .iter()
            .map(|note| match note {
                RouterNote::Restore { conv, .. } => *conv,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(order, [8, 5], "oldest waiting first");
        assert_eq!(recovered.next_conv, 10, "every stored id stays taken");
        let eight = recovered.per_shard[0]
            .iter()
            .find(|c| c.conv == 8)
            .expect("conversation 8 on shard 0");
        assert!(
            eight.state.followers.is_empty(),
            "no follower survives a restart"
        );
        let seqs: Vec<u64> = eight.items.iter().map(Item::seq).collect();
        assert_eq!(
            seqs,
            [4, 5],
            "the newest --history-len items, a repeat ignored"
        );
        assert_eq!(eight.state.next_seq, 6, "seq goes on after the newest item");
        assert_eq!(
            recovered.skipped, 3,
            "the repeat, the bad record, the stateless stream"
        );
    }
}
