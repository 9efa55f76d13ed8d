//! A real Redis Cluster for the cluster-mode tests: `masters` `redis-server`
//! processes with `cluster-enabled yes` on free loopback ports (each with its bus port
//! at +10000), the 16,384 slots split between them and joined with `CLUSTER MEET` —
//! what `redis-cli --cluster create` does, without needing redis-cli. Every process is
//! killed and the directory removed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::redis_server::{make_temp_dir, redis_server_path};

/// How long the cluster gets to agree (`cluster_state:ok` everywhere).
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Slots of a Redis Cluster.
const SLOTS: u32 = 16_384;

/// A running Redis Cluster of masters only.
#[derive(Debug)]
pub struct RedisCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts `masters` masters and waits until the cluster is ok.
    pub fn start(masters: usize) -> RedisCluster {
        let dir = make_temp_dir();
        let mut cluster = RedisCluster {
            children: Vec::new(),
            ports: Vec::new(),
            dir,
        };
        for _ in 0..masters {
            let port = free_port_pair();
            cluster.children.push(cluster.spawn(port));
            cluster.ports.push(port);
        }
        for &port in &cluster.ports {
            wait_for_ping(port);
        }
        cluster.assign_slots_and_meet();
        cluster.wait_until_ok();
        cluster
    }

    /// The seed list for `--redis`: every master's URL, comma-separated.
    pub fn seeds(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A cluster connection (commands go to the node of their slot).
    pub fn connection(&self) -> redis::cluster::ClusterConnection {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect();
        redis::cluster::ClusterClient::new(seeds)
            .and_then(|c| c.get_connection())
            .expect("connecting to the Redis Cluster")
    }

    fn spawn(&self, port: u16) -> Child {
        Command::new(redis_server_path())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
            .arg("--cluster-config-file")
            .arg(self.dir.join(format!("nodes-{port}.conf")))
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server")
    }

    fn assign_slots_and_meet(&self) {
        let per = SLOTS / self.ports.len() as u32;
        for (i, &port) in self.ports.iter().enumerate() {
            let first = i as u32 * per;
            let last = if i + 1 == self.ports.len() {
                SLOTS - 1
            } else {
                first + per - 1
            };
            let mut con = plain(port);
            redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query::<()>(&mut con)
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        let mut first = plain(self.ports[0]);
        for &port in &self.ports[1..] {
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(port)
                .query::<()>(&mut first)
                .expect("CLUSTER MEET");
        }
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
        let want_nodes = format!("cluster_known_nodes:{}", self.ports.len());
        loop {
            let ok = self.ports.iter().all(|&port| {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut plain(port))
                    .unwrap_or_default();
                info.contains("cluster_state:ok") && info.contains(&want_nodes)
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster on {:?} never became ok",
                self.ports
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn plain(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("connecting to redis on {port}: {e}"))
}

fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pong = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if pong.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis on {port} never answered PING"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A port free on 127.0.0.1 whose cluster bus port (+10000) is free too.
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port > 55_000 {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a Redis Cluster node");
}
