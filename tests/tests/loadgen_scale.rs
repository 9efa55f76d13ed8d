//! The loadgen past one process's descriptor limit: 24,000 connections, more than a
//! process may hold here (`ulimit -n` 20000), must be split by the loadgen itself over
//! worker processes and spread over several source addresses, and all must open.
//!
//! One server process cannot hold them either, so two `switchboard` processes share one
//! port through SO_REUSEPORT (eBPF steering off, so the kernel's hash spreads the
//! connections over both processes' listeners).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchboard_tests::binary_path;

/// Connections to open: over one process's descriptor limit.
const CONNECTIONS: usize = 24_000;

/// A server process, killed on drop.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `switchboard serve --listen ADDR` and returns it with the bound address.
fn start(listen: &str) -> (Node, String) {
    let mut child = Command::new(binary_path())
        .args([
            "serve", "--listen", listen, "--shards", "1", "--ebpf", "off",
        ])
        .args(["--control-listen", "off", "--budget-loop-lag-ms", "600000"])
        .args(["--durability", "off"])
        .args(["--max-connections-per-shard", "19000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("switchboard starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a stdout line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .to_owned();
    (Node(child), addr)
}

fn loadgen_path() -> PathBuf {
    binary_path().with_file_name("switchboard-loadgen")
}

#[test]
fn the_loadgen_splits_a_run_larger_than_one_process_over_workers_and_source_addresses() {
    let loadgen = loadgen_path();
    assert!(
        loadgen.exists(),
        "no loadgen at {} (cargo build --workspace --bins)",
        loadgen.display()
    );
    let (_first, addr) = start("127.0.0.1:0");
    let (_second, second_addr) = start(&addr);
    assert_eq!(addr, second_addr, "both processes share the port");
    let output = Command::new(&loadgen)
        .args(["idle", "--url", &format!("ws://{addr}/echo")])
        .args([
            "--connections",
            &CONNECTIONS.to_string(),
            "--source-ip-count",
            "4",
        ])
        .args([
            "--hold",
            "500ms",
            "--settle",
            "200ms",
            "--connect-timeout",
            "90s",
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("the loadgen runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert!(output.status.success(), "loadgen failed: {report:#}");
    let workers = report["workers"].as_u64().unwrap_or(0);
    assert!(
        workers >= 2,
        "{CONNECTIONS} connections need at least two workers: {report:#}"
    );
    assert_eq!(
        report["connections_ok"].as_u64(),
        Some(CONNECTIONS as u64),
        "{report:#}"
    );
    // Held long enough to be sure they were all open at once, then closed by the loadgen.
    std::thread::sleep(Duration::from_millis(100));
}
