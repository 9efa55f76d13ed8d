//! Presence: which connections each user has open. A user's entry lives on the shard
//! `hash(user) % shards`, so it needs no lock; it enforces the relogin policy.

use std::collections::HashMap;

use crate::ids::ConnId;

/// Close code of a connection replaced by a newer one of the same user (`--relogin
/// replace`); 4000–4999 are for applications.
pub const RELOGIN_CLOSE_CODE: u16 = 4001;
/// Close reason of a connection replaced by a newer one of the same user.
pub const RELOGIN_REASON: &str = "replaced by a newer connection of the same user";

/// What happens when a user opens another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloginPolicy {
    /// Several connections per user (tabs, devices) all stay open.
    Allow,
    /// The newest connection wins; older ones are closed with a reason.
    Replace,
}

/// The presence slice of one shard.
#[derive(Debug)]
pub struct Presence {
    policy: ReloginPolicy,
    users: HashMap<Box<str>, Vec<ConnId>>,
}

impl Presence {
    /// An empty directory enforcing `policy`.
    pub fn new(policy: ReloginPolicy) -> Self {
        Presence {
            policy,
            users: HashMap::new(),
        }
    }

    /// `conn` of `user` opened; returns the connections to close under the policy.
    pub fn login(&mut self, user: &str, conn: ConnId) -> Vec<ConnId> {
        let conns = self.users.entry(user.into()).or_default();
        let replaced = match self.policy {
            ReloginPolicy::Allow => Vec::new(),
            ReloginPolicy::Replace => std::mem::take(conns),
        };
        conns.push(conn);
        replaced
    }

    /// `conn` of `user` closed.
    pub fn logout(&mut self, user: &str, conn: ConnId) {
        if let Some(conns) = self.users.get_mut(user) {
            conns.retain(|&c| c != conn);
            if conns.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// Whether the newest connection replaces the older ones.
    pub fn replaces(&self) -> bool {
        self.policy == ReloginPolicy::Replace
    }

    /// Connections of `user` known here.
    pub fn connections(&self, user: &str) -> &[ConnId] {
        self.users.get(user).map_or(&[], Vec::as_slice)
    }
}

/// The shard that keeps `user`'s presence (FNV-1a, stable across runs).
pub fn home_of_user(user: &str, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % shards.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_closes_older_connections_and_allow_keeps_them() {
        let (a, b) = (ConnId::new(0, 1, 0), ConnId::new(1, 2, 0));
        let mut replace = Presence::new(ReloginPolicy::Replace);
        assert!(replace.login("u", a).is_empty());
        assert_eq!(replace.login("u", b), vec![a]);
        assert_eq!(replace.connections("u"), &[b]);
        let mut allow = Presence::new(ReloginPolicy::Allow);
        allow.login("u", a);
        assert!(allow.login("u", b).is_empty());
        allow.logout("u", a);
        assert_eq!(allow.connections("u"), &[b]);
        allow.logout("u", b);
        assert!(allow.connections("u").is_empty());
    }

    #[test]
    fn users_spread_over_shards_deterministically() {
        assert_eq!(home_of_user("alice", 4), home_of_user("alice", 4));
        let homes: std::collections::HashSet<_> =
            (0..64).map(|i| home_of_user(&format!("u{i}"), 4)).collect();
        assert_eq!(homes.len(), 4);
    }
}
