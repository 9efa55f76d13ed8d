//! Cluster mode: a conversation's copy in Redis. After each change the home hands the
//! shard a [`PersistRecord`] (new items and the state, fenced); a conversation taken
//! over or reloaded comes back through [`Homes::install`].

use std::hash::{Hash as _, Hasher as _};

use super::seen::SeenIds;
use super::{Follower, Home, HomeOutput, Homes, Item, ItemBody};
use crate::ids::Peer;
use crate::records::StoredFollower;
use crate::records::{ConvState, LoadedConv, PersistRecord};

/// What a home knows of its conversation's copy in Redis.
#[derive(Debug, Clone, Copy)]
pub(super) struct Durable {
    /// This node's fencing token (0: never written, the first write creates it).
    fence: u64,
    /// Items from this sequence number on are not written yet.
    written_next: u64,
    /// Hash of the state last written.
    written_hash: u64,
    /// Changes whenever the conversation is (re)loaded here, so that late answers
    /// about an earlier copy are recognised.
    epoch: u64,
}

impl Durable {
    pub(super) fn new(epoch: u64) -> Self {
        Durable {
            fence: 0,
            written_next: 1,
            written_hash: 0,
            epoch,
        }
    }
}

/// A hash of what the stored state holds beyond what a chat line changes (next seq,
/// last activity, acks), computed from the fields themselves: a line costs no JSON of
/// the state.
///
/// With `followers` false (the local store: a restart ends every connection, so stored
/// followers are dropped when it is read back) a connection that follows or leaves
/// changes nothing to write, and a `resume` needs no disk.
fn shape_hash(home: &Home, followers: bool) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let fsm = &home.fsm;
    (fsm.id, &fsm.visitor, fsm.vip, &fsm.phase).hash(&mut hasher);
    // Only whether it was queued: a later place is ephemeral (a `queue` frame), and
    // writing the state at each one cost every waiting conversation a write per
    // announcement, O(queue) writes per assignment (bench/queue-drain, cluster mode:
    // 61 Redis commands per assignment at 20,000 queued against 27 at 2,000). The
    // stored place is the first one; the router recomputes places after a restart.
    (home.created_ms, home.queue_position.is_some()).hash(&mut hasher);
    if followers {
        for follower in &home.followers {
            (follower.peer.conn, follower.peer.encoding, &follower.user).hash(&mut hasher);
        }
    }
    hasher.finish()
}

impl Item {
    /// Its sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its server time (ms since the epoch).
    pub fn ts(&self) -> u64 {
        self.ts
    }

    /// Its kind in the admin event stream: `message` or the system event's name.
    pub fn kind(&self) -> &'static str {
        match &self.body {
            ItemBody::Message { .. } => "message",
            ItemBody::System { kind, .. } => kind.as_str(),
        }
    }
}

impl Homes {
    pub(super) fn next_epoch(&mut self) -> u64 {
        self.last_epoch += 1;
        self.last_epoch
    }

    /// Whether `conv` is held here.
    pub fn contains(&self, conv: u64) -> bool {
        self.convs.contains_key(&conv)
    }

    /// The load epoch of `conv` here (0: not held).
    pub fn epoch(&self, conv: u64) -> u64 {
        self.convs.get(&conv).map_or(0, |h| h.durable.epoch)
    }

    /// What to write to Redis after a change of `conv`, if anything changed.
    pub fn persist_record(&mut self, conv: u64) -> Option<PersistRecord> {
        let home = self.convs.get_mut(&conv)?;
        // What a chat line changes anyway (next seq, last activity, acks) is left out of
        // the comparison: a line writes its item and the next seq, not the state again
        // (a new owner takes both back from the items, see `cluster::registry`).
        let hash = shape_hash(home, self.followers_durable);
        let state = if hash != home.durable.written_hash || home.durable.fence == 0 {
            crate::records::encode_state(&stored_state(home))
        } else {
            String::new()
        };
        let durable = &mut home.durable;
        // The new items are the newest ones: found from the back, not by a walk over
        // the whole history.
        let new = home
            .history
            .iter()
            .rev()
            .take_while(|item| item.seq >= durable.written_next)
            .count();
        let items: Vec<(&'static str, String)> = home
            .history
            .newest(new)
            .map(|item| (item.kind(), crate::records::encode_item(item)))
            .collect();
        if items.is_empty() && state.is_empty() {
            return None;
        }
        let create = durable.fence == 0;
        if create {
            durable.fence = 1;
        }
        let record = PersistRecord {
            conv,
            fence: durable.fence,
            create,
            state,
            first_seq: durable.written_next,
            next_seq: home.next_seq,
            expire_ms: if home.fsm.is_ended() {
                self.limits.ended_retention_ms.max(1)
            } else {
                0
            },
            items,
        };
        durable.written_next = home.next_seq;
        durable.written_hash = hash;
        Some(record)
    }

    /// Holds a conversation loaded from Redis (this node owns it now) and sends each
    /// follower still connected what it has not acknowledged.
    pub fn install(&mut self, loaded: LoadedConv, out: &mut Vec<HomeOutput>) {
        let LoadedConv {
            conv,
            fence,
            state,
            items,
        } = loaded;
        let mut seen_ids = SeenIds::default();
        for item in &items {
            if let ItemBody::Message {
                from,
                client_msg_id,
                ..
            } = &item.body
            {
                seen_ids.insert(from, client_msg_id, item.seq);
            }
        }
        let epoch = self.next_epoch();
        let home = Home {
            fsm: state.fsm,
            created_ms: state.created_ms,
            queue_position: state.queue_position,
            next_seq: state.next_seq,
            history: items.into(),
            seen_ids,
            followers: Vec::new(),
            durable: Durable {
                fence,
                written_next: state.next_seq,
                written_hash: 0,
                epoch,
            },
        };
        self.convs.insert(conv, home);
        for follower in state.followers {
            self.follow(
                conv,
                follower.peer,
                &follower.user,
                Some(follower.acked),
                out,
            );
        }
    }

    /// The local store keeps no followers (see `shape_hash`): from now on a change of
    /// followers alone writes nothing.
    pub fn forget_followers_when_stored(&mut self) {
        self.followers_durable = false;
    }

    /// A write of `conv` from item `first_seq` on failed (and nobody was told of it):
    /// those items are taken back, the next line gets `first_seq` again, and the state
    /// is written again with the next write. A state change itself (assigned, ended)
    /// stays in memory; only its record waits for the next successful write.
    /// `with_state`: the failed write carried the state (only then must it be
    /// written again; a chat line leaves it alone, so reads stay free of writes).
    pub fn rewind(&mut self, conv: u64, first_seq: u64, with_state: bool) {
        let Some(home) = self.convs.get_mut(&conv) else {
            return;
        };
        if with_state {
            home.durable.written_hash = 0;
        }
        if first_seq >= home.next_seq {
            return;
        }
        while home
            .history
            .back()
            .is_some_and(|item| item.seq >= first_seq)
        {
            home.history.pop_back();
        }
        home.next_seq = first_seq;
        home.durable.written_next = home.durable.written_next.min(first_seq);
    }

    /// What a new router leader must learn of the live conversations held here.
    pub fn restore_notes(&self) -> Vec<super::RouterNote> {
        self.convs
            .iter()
            .filter(|(_, home)| !home.fsm.is_ended())
            .map(|(&conv, home)| super::RouterNote::Restore {
                conv,
                visitor: home.fsm.visitor.as_str().into(),
                vip: home.fsm.vip,
                agent: home.fsm.serving_agent().map(Into::into),
            })
            .collect()
    }

    /// Every conversation held, with its load epoch.
    pub fn held_epochs(&self) -> Vec<(u64, u64)> {
        self.convs
            .iter()
            .map(|(&conv, home)| (conv, home.durable.epoch))
            .collect()
    }

    /// Forgets the local copy of `conv` (a write failed); returns its followers.
    pub fn unload(&mut self, conv: u64) -> Vec<Peer> {
        self.convs
            .remove(&conv)
            .map(|home| home.followers.iter().map(|f| f.peer).collect())
            .unwrap_or_default()
    }
}

fn stored_state(home: &Home) -> ConvState {
    ConvState {
        fsm: home.fsm.clone(),
        next_seq: home.next_seq,
        created_ms: home.created_ms,
        queue_position: home.queue_position,
        followers: home.followers.iter().map(stored_follower).collect(),
    }
}

fn stored_follower(follower: &Follower) -> StoredFollower {
    StoredFollower {
        peer: follower.peer,
        user: follower.user.clone(),
        acked: follower.acked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::HomeLimits;
    use crate::ids::ConnId;
    use switchboard_protocol::chat::{Encoding, Role};
    use switchboard_protocol::conversation::Rules;

    fn homes() -> Homes {
        let rules = Rules {
            inactivity_timeout_ms: 1 << 40,
            transfer_timeout_ms: 1 << 40,
        };
        let limits = HomeLimits {
            history_len: 100,
            max_followers: 8,
            ended_retention_ms: 1000,
        };
        Homes::new(rules, limits)
    }

    fn say(homes: &mut Homes, peer: Peer, id: &str) {
        let mut out = Vec::new();
        homes.send(
            7,
            peer,
            "vic".into(),
            Role::Visitor,
            id.into(),
            "hi".into(),
            10,
            &mut out,
        );
    }

    #[test]
    fn a_failed_line_is_taken_back_and_its_seq_given_again() {
        let mut homes = homes();
        homes.forget_followers_when_stored();
        let peer = Peer {
            conn: ConnId::new(0, 1, 1),
            encoding: Encoding::Json,
        };
        let mut out = Vec::new();
        homes.create(7, "vic", false, peer, 1, &mut out);
        assert!(homes.persist_record(7).is_some_and(|r| !r.state.is_empty()));
        say(&mut homes, peer, "a");
        let failed = homes.persist_record(7).expect("the line is written");
        assert!(failed.state.is_empty(), "a chat line writes no state");
        assert_eq!(failed.items.len(), 1);
        homes.rewind(7, failed.first_seq, false);
        assert!(
            homes.persist_record(7).is_none(),
            "nothing left to write, no state"
        );

        say(&mut homes, peer, "a");
        let again = homes.persist_record(7).expect("the retry is written");
        assert_eq!(
            again.first_seq, failed.first_seq,
            "the same seq, never seen by anyone"
        );
        assert_eq!(again.items, failed.items);

        // A follower more is no write on the local store.
        let other = Peer {
            conn: ConnId::new(1, 2, 1),
            encoding: Encoding::Json,
        };
        homes.attach(
            7,
            crate::home::Actor {
                peer: other,
                user: "vic",
                role: Role::Visitor,
            },
            Some(0),
            &mut out,
        );
        assert!(homes.persist_record(7).is_none());
    }

    #[test]
    fn a_later_queue_place_writes_nothing() {
        let mut homes = homes();
        let peer = Peer {
            conn: ConnId::new(0, 1, 1),
            encoding: Encoding::Json,
        };
        let mut out = Vec::new();
        homes.create(7, "vic", false, peer, 1, &mut out);
        homes
            .persist_record(7)
            .expect("the new conversation is written");
        homes.queue_position(7, 900, 2, &mut out);
        let queued = homes
            .persist_record(7)
            .expect("the `queued` item is written");
        assert_eq!(queued.items.len(), 1);
        assert!(!queued.state.is_empty(), "the state says it is queued");
        for position in (1..900).rev().step_by(97) {
            out.clear();
            homes.queue_position(7, position, 3, &mut out);
            assert_eq!(out.len(), 1, "the follower gets a `queue` frame");
            assert!(
                homes.persist_record(7).is_none(),
                "place {position}: nothing to store"
            );
        }
    }
}
