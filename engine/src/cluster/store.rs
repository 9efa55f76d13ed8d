//! One Redis or a Redis Cluster, behind the few operations the bridge needs: run a
//! batch of commands as pipelines, call a script, publish.
//!
//! `--redis` takes one URL (a single Redis) or a comma-separated seed list (a Redis
//! Cluster; `--redis-cluster` says so for a single seed). On a cluster, keyed commands
//! go through the cluster client (each to the node of its slot), scripts are sent with
//! `EVAL` (no per-node script cache to keep loaded), and `PUBLISH` (cluster-wide in
//! Redis Cluster) goes over a plain connection to a seed node.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Cmd, FromRedisValue, Value};

use super::scripts;

/// Where Redis is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    seeds: Vec<String>,
    cluster: bool,
    timeout: Duration,
    /// SHA1 of each script, in [`Script::ALL`] order (computed here, loaded on connect).
    shas: Vec<String>,
}

/// A script the bridge calls.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// [`scripts::APPEND`].
    Append,
    /// [`scripts::RESOLVE`].
    Resolve,
    /// [`scripts::HEARTBEAT`].
    Heartbeat,
    /// [`scripts::LEADER`].
    Leader,
}

impl Script {
    const ALL: [Script; 4] = [
        Script::Append,
        Script::Resolve,
        Script::Heartbeat,
        Script::Leader,
    ];

    fn text(self) -> &'static str {
        match self {
            Script::Append => scripts::APPEND,
            Script::Resolve => scripts::RESOLVE,
            Script::Heartbeat => scripts::HEARTBEAT,
            Script::Leader => scripts::LEADER,
        }
    }
}

/// One command of a batch.
#[derive(Debug, Clone)]
pub struct Op {
    cmd: Cmd,
    publish: bool,
}

impl Op {
    /// A command on keys.
    pub fn keyed(cmd: Cmd) -> Op {
        Op {
            cmd,
            publish: false,
        }
    }

    /// `PUBLISH channel payload`.
    pub fn publish(channel: &str, payload: &[u8]) -> Op {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        Op { cmd, publish: true }
    }
}

/// An open connection to Redis.
pub struct Store {
    kind: Kind,
}

enum Kind {
    Single(redis::Connection),
    Cluster {
        keyed: Box<ClusterConnection>,
        publish: redis::Connection,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Single(_) => "Store::Single",
            Kind::Cluster { .. } => "Store::Cluster",
        })
    }
}

impl Endpoint {
    /// Reads `--redis` (comma-separated seeds) and `--redis-cluster`.
    pub fn parse(urls: &str, cluster: bool, timeout: Duration) -> Result<Endpoint, String> {
        let seeds: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if seeds.is_empty() {
            return Err("--redis needs at least one URL".into());
        }
        for seed in &seeds {
            redis::Client::open(seed.as_str())
                .map_err(|e| format!("--redis {}: {e}", super::redact_url(seed)))?;
        }
        let shas = Script::ALL
            .iter()
            .map(|s| redis::Script::new(s.text()).get_hash().to_owned())
            .collect();
        Ok(Endpoint {
            cluster: cluster || seeds.len() > 1,
            seeds,
            timeout,
            shas,
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The seeds, passwords hidden.
    pub fn redacted(&self) -> String {
        self.seeds
            .iter()
            .map(|s| super::redact_url(s))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Opens a connection (and loads the scripts on a single Redis).
    pub fn connect(&self) -> redis::RedisResult<Store> {
        let kind = if self.cluster {
            let keyed = ClusterClient::builder(self.seeds.clone())
                .connection_timeout(self.timeout)
                .response_timeout(self.timeout)
                .build()?
                .get_connection()?;
            Kind::Cluster {
                keyed: Box::new(keyed),
                publish: self.plain(0)?,
            }
        } else {
            Kind::Single(self.plain(0)?)
        };
        let mut store = Store { kind };
        if let Kind::Single(con) = &mut store.kind {
            for script in Script::ALL {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(script.text())
                    .query::<String>(con)?;
            }
        }
        Ok(store)
    }

    /// A call of `script` with its keys and arguments still to add: `EVALSHA` on a
    /// single Redis (loaded at connect), `EVAL` on a cluster (no per-node cache to keep
    /// loaded).
    pub fn script(&self, script: Script, keys: usize) -> Cmd {
        let mut cmd = if self.cluster {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(script.text());
            cmd
        } else {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(&self.shas[script as usize]);
            cmd
        };
        cmd.arg(keys);
        cmd
    }

    /// A plain connection to seed `attempt % seeds` (subscriptions rotate through the
    /// seeds when one fails).
    pub fn plain(&self, attempt: usize) -> redis::RedisResult<redis::Connection> {
        let seed = &self.seeds[attempt % self.seeds.len()];
        let con = redis::Client::open(seed.as_str())?.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }
}

impl Store {
    /// Runs `ops` and returns one value per op, in order. On a single Redis a failed
    /// command is a [`Value::ServerError`] in its place; on a cluster it fails the
    /// batch.
    pub fn run(&mut self, ops: &[Op]) -> redis::RedisResult<Vec<Value>> {
        match &mut self.kind {
            Kind::Single(con) => {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for op in ops {
                    pipe.add_command(op.cmd.clone());
                }
                pipe.query(con)
            }
            Kind::Cluster { keyed, publish } => run_on_cluster(keyed, publish, ops),
        }
    }

    /// Runs one command.
    pub fn query<T: FromRedisValue>(&mut self, cmd: Cmd) -> redis::RedisResult<T> {
        let mut values = self.run(&[Op::keyed(cmd)])?;
        match values.pop() {
            Some(Value::ServerError(err)) => Err(err.into()),
            Some(value) => redis::from_redis_value(value).map_err(Into::into),
            None => Err((redis::ErrorKind::Client, "no answer").into()),
        }
    }
}

fn run_on_cluster(
    keyed: &mut ClusterConnection,
    publish: &mut redis::Connection,
    ops: &[Op],
) -> redis::RedisResult<Vec<Value>> {
    let mut keyed_pipe = redis::cluster::cluster_pipe();
    let mut publish_pipe = redis::pipe();
    for op in ops {
        if op.publish {
            publish_pipe.add_command(op.cmd.clone());
        } else {
            keyed_pipe.add_command(op.cmd.clone());
        }
    }
    let mut keyed_values = if ops.iter().any(|op| !op.publish) {
        keyed_pipe.query::<Vec<Value>>(keyed)?.into_iter()
    } else {
        Vec::new().into_iter()
    };
    let mut published = if ops.iter().any(|op| op.publish) {
        publish_pipe.query::<Vec<Value>>(publish)?.into_iter()
    } else {
        Vec::new().into_iter()
    };
    Ok(ops
        .iter()
        .map(|op| {
            let next = if op.publish {
                published.next()
            } else {
                keyed_values.next()
            };
            next.unwrap_or(Value::Nil)
        })
        .collect())
}
