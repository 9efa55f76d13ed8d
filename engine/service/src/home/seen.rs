//! The client message ids a conversation has accepted, for dedupe: a retry by the same
//! sender is recognised, while the other party may use the same id for its own line.
//!
//! Keyed by a 64-bit hash of (sender, id), so remembering a line allocates nothing and
//! a growing table moves 16-byte entries; a hash hit is confirmed against the stored
//! item itself, so a collision can never swallow a different line.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher};

use super::history::History;
use super::ItemBody;

/// Accepted lines by hash of sender and client message id: their sequence number.
#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    by_key: HashMap<u64, u64>,
}

fn key(from: &str, client_msg_id: &str) -> u64 {
    let mut hasher = BuildHasherDefault::<DefaultHasher>::default().build_hasher();
    from.hash(&mut hasher);
    client_msg_id.hash(&mut hasher);
    hasher.finish()
}

fn is_line_of(history: &History, seq: u64, from: &str, client_msg_id: &str) -> bool {
    matches!(
        history.by_seq(seq).map(|item| &item.body),
        Some(ItemBody::Message { from: f, client_msg_id: id, .. }) if &**f == from && &**id == client_msg_id
    )
}

impl SeenIds {
    /// The seq of the line `from` sent with `client_msg_id`, if it is still held.
    pub(crate) fn get(&self, history: &History, from: &str, client_msg_id: &str) -> Option<u64> {
        let seq = *self.by_key.get(&key(from, client_msg_id))?;
        is_line_of(history, seq, from, client_msg_id).then_some(seq)
    }

    /// Remembers an accepted line.
    pub(crate) fn insert(&mut self, from: &str, client_msg_id: &str, seq: u64) {
        self.by_key.insert(key(from, client_msg_id), seq);
    }

    /// Forgets a line leaving the history (unless its key now names a later line).
    pub(crate) fn forget(&mut self, from: &str, client_msg_id: &str, seq: u64) {
        let key = key(from, client_msg_id);
        if self.by_key.get(&key) == Some(&seq) {
            self.by_key.remove(&key);
        }
    }
}
