//! The bridge's heartbeat: the Redis side of the registry. It renews this node's entry
//! and the router lease, reserves conversation id blocks, reads the registry, asks
//! [`Registry::observe`](super::registry::Registry::observe) what that means, and
//! carries the decisions out — telling the shards, and taking over the conversations of
//! nodes that died.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Value;

use super::bridge::{deliver_to_shard, Bridge};
use super::registry::Decision;
use super::store::{Op, Script};
use super::{keys, ClusterEvent, NodeInfo};
use crate::shard::ShardMsg;

/// Conversation ids reserved per `INCRBY`.
const CONV_ID_BLOCK: u64 = 1024;

/// Exit status of a node whose number another run took (EX_SOFTWARE).
const NUMBER_TAKEN_EXIT: i32 = 70;

impl Bridge {
    /// One heartbeat; a Redis failure is recorded and retried at the next one.
    pub(super) fn heartbeat(&mut self) {
        if let Err(err) = self.try_heartbeat() {
            self.failed(&err);
        }
    }

    fn try_heartbeat(&mut self) -> redis::RedisResult<()> {
        let Some((renewed, leader)) = self.renew()? else {
            return Ok(());
        };
        if leader == self.link.node {
            self.top_up_conv_ids()?;
        }
        let (nodes, dead) = self.read_registry()?;
        let decisions = self.registry.observe(renewed, leader, &nodes, &dead);
        self.link.leader.store(leader, Ordering::Release);
        let listed = super::bridge::status_nodes(&nodes);
        self.link.set_status(|s| s.nodes = listed);
        for decision in decisions {
            self.carry_out(decision)?;
        }
        Ok(())
    }

    fn carry_out(&mut self, decision: Decision) -> redis::RedisResult<()> {
        let me = self.link.node;
        match decision {
            Decision::Exit => {
                tracing::error!(
                    node = me,
                    "another run took this node's number while it was unreachable; stopping so that two nodes never answer to one number"
                );
                std::process::exit(NUMBER_TAKEN_EXIT);
            }
            Decision::DropLocalCopies => {
                tracing::warn!(
                    node = me,
                    "this node's registry entry had expired: dropping every local conversation copy (others may own them now)"
                );
                self.to_every_shard(|| ClusterEvent::Expired);
            }
            Decision::Joined(node) => tracing::info!(node, "node joined"),
            Decision::NodeDown(node) => {
                tracing::warn!(node, "node left or died");
                self.to_every_shard(|| ClusterEvent::NodeDown { node });
            }
            Decision::LeaderChanged(leader) => {
                tracing::info!(leader, "router leader");
                // Shard 0 resets its router first, then asks the other shards to announce.
                deliver_to_shard(
                    &self.shared,
                    0,
                    ShardMsg::Cluster(ClusterEvent::LeaderChanged { leader }),
                );
            }
            Decision::TakeOver(number) => self.take_over(number)?,
        }
        Ok(())
    }

    fn to_every_shard(&self, event: impl Fn() -> ClusterEvent) {
        for shard in 0..self.shared.shards() {
            deliver_to_shard(&self.shared, shard, ShardMsg::Cluster(event()));
        }
    }

    /// Renews this node's entry and the router lease: (heartbeat answer, leader).
    fn renew(&mut self) -> redis::RedisResult<Option<(i64, u16)>> {
        let me = self.link.node;
        let (entry, marker) = self.registry.entry();
        let ttl = self.registry.ttl_ms();
        if self.connection().is_none() {
            return Ok(None);
        }
        let mut heartbeat = self.script(Script::Heartbeat, 1);
        heartbeat
            .arg(keys::node(me))
            .arg(entry)
            .arg(ttl)
            .arg(&marker);
        let mut lease = self.script(Script::Leader, 1);
        lease.arg(keys::LEADER).arg(me).arg(ttl);
        let mut listed = redis::cmd("SADD");
        listed.arg(keys::NODES).arg(me);
        let values = self.run_ops(&[Op::keyed(heartbeat), Op::keyed(lease), Op::keyed(listed)])?;
        let mut values = values.into_iter();
        let renewed = redis::from_redis_value::<i64>(values.next().unwrap_or(Value::Nil))?;
        let leader = redis::from_redis_value::<u16>(values.next().unwrap_or(Value::Nil))?;
        Ok(Some((renewed, leader)))
    }

    /// On the lease holder: keeps at least two blocks of conversation ids ready. Run
    /// after every batch (while this node holds the lease) as well as at each
    /// heartbeat: a burst of new conversations (a sale starting) can use up a block
    /// within one heartbeat, and the router refuses `start` while it has no id.
    pub(super) fn top_up_conv_ids(&mut self) -> redis::RedisResult<()> {
        while self.link.conv_ids.len() < 2 {
            self.reserve_ids()?;
        }
        Ok(())
    }

    fn reserve_ids(&mut self) -> redis::RedisResult<()> {
        let mut reserve = redis::cmd("INCRBY");
        reserve.arg(keys::CONV_SEQ).arg(CONV_ID_BLOCK);
        let end = self.query::<u64>(reserve)?;
        let link = Arc::clone(&self.link);
        let _ = link.conv_ids.push(end + 1 - CONV_ID_BLOCK..end + 1);
        Ok(())
    }

    /// The registry as listed: the entries alive, and the listed numbers without one.
    fn read_registry(&mut self) -> redis::RedisResult<(Vec<NodeInfo>, Vec<u16>)> {
        let me = self.link.node;
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::NODES);
        let members: Vec<u16> = self.query(smembers)?;
        // One GET each (the keys are in different slots of a Redis Cluster).
        let gets: Vec<Op> = members
            .iter()
            .map(|&n| {
                let mut get = redis::cmd("GET");
                get.arg(keys::node(n));
                Op::keyed(get)
            })
            .collect();
        let entries = if gets.is_empty() {
            Vec::new()
        } else {
            self.run_ops(&gets)?
        };
        let mut nodes = Vec::new();
        let mut dead = Vec::new();
        for (&number, entry) in members.iter().zip(entries) {
            let info = redis::from_redis_value::<Option<String>>(entry)
                .ok()
                .flatten()
                .and_then(|e| serde_json::from_str::<NodeInfo>(&e).ok());
            match info {
                Some(info) => nodes.push(info),
                None if number != me => dead.push(number),
                None => {}
            }
        }
        Ok((nodes, dead))
    }

    /// Takes over every conversation dead node `number` owned, then forgets its
    /// presence entries.
    fn take_over(&mut self, number: u16) -> redis::RedisResult<()> {
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::owned(number));
        let convs: Vec<u64> = self.query(smembers)?;
        let alive = self.registry.alive_numbers();
        let resolves: Vec<Op> = convs
            .iter()
            .map(|&conv| self.resolve_op(conv, &alive))
            .collect();
        let answers = if resolves.is_empty() {
            Vec::new()
        } else {
            self.run_ops(&resolves)?
        };
        self.bury(number)?;
        let shards = self.shared.shards() as u64;
        let mut followups = super::bridge::Followups::default();
        for (&conv, value) in convs.iter().zip(answers) {
            let place = self.place(conv, value, &mut followups);
            if let super::Place::Here(_) = place {
                let shard = (conv % shards) as usize;
                self.to_shard(
                    shard,
                    ShardMsg::Cluster(ClusterEvent::Resolved { conv, place }),
                );
            }
        }
        followups.run(self)?;
        Ok(())
    }

    /// Forgets dead node `number`'s presence entries and, once it owns nothing, the
    /// node itself. Idempotent: survivors may do it at the same time.
    fn bury(&mut self, number: u16) -> redis::RedisResult<()> {
        let mut smembers = redis::cmd("SMEMBERS");
        smembers.arg(keys::node_users(number));
        let users: Vec<String> = self.query(smembers)?;
        for user in users {
            let mut all = redis::cmd("HGETALL");
            all.arg(keys::presence(&user));
            let conns: Vec<(u64, u16)> = self.query(all)?;
            let gone: Vec<u64> = conns
                .into_iter()
                .filter(|&(_, node)| node == number)
                .map(|(conn, _)| conn)
                .collect();
            if !gone.is_empty() {
                let mut del = redis::cmd("HDEL");
                del.arg(keys::presence(&user)).arg(gone);
                self.query::<()>(del)?;
            }
        }
        let mut forget = redis::cmd("DEL");
        forget.arg(keys::node_users(number));
        self.query::<()>(forget)?;
        let mut scard = redis::cmd("SCARD");
        scard.arg(keys::owned(number));
        if self.query::<u64>(scard)? == 0 {
            let mut unlist = redis::cmd("SREM");
            unlist.arg(keys::NODES).arg(number);
            self.query::<()>(unlist)?;
        }
        Ok(())
    }

    /// Runs one command through the bridge's connection.
    fn query<T: redis::FromRedisValue>(&mut self, cmd: redis::Cmd) -> redis::RedisResult<T> {
        match self.connection() {
            Some(store) => store.query(cmd),
            None => Err((redis::ErrorKind::Io, "Redis unavailable (reconnecting)").into()),
        }
    }
}
