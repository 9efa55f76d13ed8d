//! Black-box tests of the `echo-client` binary against real servers on loopback: the
//! fastwebsockets baseline (everything comes back: the run is clean), and small
//! tokio-tungstenite servers that duplicate, drop or corrupt one message on every
//! connection (each counted exactly, and the exit status says the run failed).

use std::net::SocketAddr;
use std::process::Command;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const CONNECTIONS: u64 = 8;

/// What a faulty server does to the second and third message of each connection.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The second comes back twice, the third never.
    DuplicateThenDrop,
    /// The second comes back with one byte flipped.
    Corrupt,
}

/// Starts a server on its own thread and runtime; returns its address.
fn spawn_server<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("address"))
                .expect("send address");
            let _ = serve(listener).await;
        });
    });
    rx.recv().expect("server address")
}

async fn faulty(listener: TcpListener, fault: Fault) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let mut n = 0u32;
            while let Some(Ok(message)) = ws.next().await {
                let Message::Binary(payload) = message else {
                    continue;
                };
                n += 1;
                let replies = match (fault, n) {
                    (Fault::DuplicateThenDrop, 2) => vec![payload.clone(), payload],
                    (Fault::DuplicateThenDrop, 3) => vec![],
                    (Fault::Corrupt, 2) => {
                        let mut bytes = payload.to_vec();
                        let last = bytes.len() - 1;
                        bytes[last] ^= 0x40;
                        vec![bytes.into()]
                    }
                    _ => vec![payload],
                };
                for reply in replies {
                    if ws.send(Message::Binary(reply)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// Runs the client for a short window; returns its exit code and its JSON report.
fn run_client(addr: SocketAddr) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_echo-client"))
        .args(["--url", &format!("ws://{addr}/echo")])
        .args(["--connections", &CONNECTIONS.to_string()])
        .args([
            "--warmup",
            "200ms",
            "--duration",
            "500ms",
            "--drain",
            "300ms",
        ])
        .args(["--server-pid", &std::process::id().to_string(), "--json"])
        .output()
        .expect("running echo-client");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "no JSON report ({err}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn count(report: &serde_json::Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {report}"))
}

#[test]
fn against_the_fastwebsockets_baseline_every_reply_is_measured_and_clean() {
    let addr = spawn_server(switchboard_bench::fast_echo::serve);
    let (code, report) = run_client(addr);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["clean"], true);
    assert_eq!(count(&report, "connections_ok"), CONNECTIONS);
    assert!(count(&report, "measured") > 0);
    assert_eq!(count(&report, "sent"), count(&report, "received"));
    for field in ["lost", "duplicated", "out_of_order", "corrupt"] {
        assert_eq!(count(&report, field), 0, "{field}: {report}");
    }
    // The server ran in this process: its CPU over the window was read.
    assert!(report["server_cpu"]["cpu_seconds"].as_f64().is_some());
}

#[test]
fn a_duplicate_and_a_dropped_reply_are_counted_per_connection() {
    let addr = spawn_server(|l| faulty(l, Fault::DuplicateThenDrop));
    let (code, report) = run_client(addr);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["clean"], false);
    assert_eq!(count(&report, "duplicated"), CONNECTIONS);
    assert_eq!(count(&report, "lost"), CONNECTIONS);
    assert_eq!(count(&report, "corrupt"), 0);
    // One in flight: the dropped third message stalls each connection after two.
    assert_eq!(count(&report, "received"), 2 * CONNECTIONS);
}

#[test]
fn a_corrupt_reply_is_refused_and_its_message_counted_lost() {
    let addr = spawn_server(|l| faulty(l, Fault::Corrupt));
    let (code, report) = run_client(addr);
    assert_eq!(code, 1, "{report}");
    assert_eq!(count(&report, "corrupt"), CONNECTIONS);
    assert_eq!(count(&report, "lost"), CONNECTIONS);
    assert_eq!(count(&report, "duplicated"), 0);
}
