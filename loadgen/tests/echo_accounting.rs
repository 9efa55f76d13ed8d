//! The loadgen's accounting against real servers: an honest echo server (the tokio
//! baseline, started in-process) must give a clean run with zero loss, duplication or
//! reordering in every mode, and servers that drop, repeat, reorder or corrupt a message
//! must be caught.

mod common;
use common::loadgen;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// How a test server misbehaves.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Never answer the 10th message of each connection.
    DropTenth,
    /// Answer the 10th message of each connection twice.
    RepeatTenth,
    /// Answer the 10th message of each connection after the 11th.
    SwapTenthAndEleventh,
    /// Flip one byte of the 10th message of each connection.
    CorruptTenth,
}

/// Starts a server on its own thread and runtime; returns its address.
fn start_server(fault: Option<Fault>) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            match fault {
                None => switchboard_bench::echo_baseline::serve(listener)
                    .await
                    .unwrap(),
                Some(fault) => loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    tokio::spawn(faulty_connection(stream, fault));
                },
            }
        });
    });
    addr
}

async fn faulty_connection(stream: tokio::net::TcpStream, fault: Fault) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let mut count = 0u64;
    let mut held = None;
    while let Some(Ok(message)) = ws.next().await {
        if !message.is_binary() {
            continue;
        }
        count += 1;
        let mut data = message.into_data().to_vec();
        let mut replies = vec![data.clone()];
        match (fault, count) {
            (Fault::DropTenth, 10) => replies.clear(),
            (Fault::RepeatTenth, 10) => replies.push(data),
            (Fault::SwapTenthAndEleventh, 10) => held = replies.pop(),
            (Fault::SwapTenthAndEleventh, 11) => replies.extend(held.take()),
            (Fault::CorruptTenth, 10) => {
                let last = data.len() - 1;
                data[last] ^= 0x40;
                replies = vec![data];
            }
            _ => {}
        }
        for reply in replies {
            if ws.send(Message::Binary(reply.into())).await.is_err() {
                return;
            }
        }
    }
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/echo")
}

fn assert_clean(code: i32, report: &Value) {
    assert_eq!(code, 0, "{report:#}");
    for field in [
        "connections_failed",
        "closed_early",
        "lost",
        "duplicated",
        "out_of_order",
        "corrupt",
    ] {
        assert_eq!(report[field], 0, "{field} in {report:#}");
    }
    assert_eq!(report["clean"], true);
    assert_eq!(report["sent"], report["received"], "{report:#}");
    assert!(report["sent"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["measured"].as_u64().unwrap() > 0, "{report:#}");
    assert!(
        report["latency"]["p50_us"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
}

/// A short closed loop over three connections against a server with `fault`, with
/// `extra` loadgen flags.
fn faulty_run(fault: Fault, extra: &[&str]) -> (i32, Value) {
    let url = url(start_server(Some(fault)));
    let mut args = vec![
        "echo",
        "--url",
        &url,
        "--connections",
        "3",
        "--duration",
        "500ms",
        "--warmup",
        "0s",
    ];
    args.extend_from_slice(extra);
    loadgen(&args)
}

#[test]
fn an_honest_server_gives_a_clean_closed_loop_run() {
    let url = url(start_server(None));
    let args = [
        "echo",
        "--url",
        &url,
        "--connections",
        "50",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
    ];
    let (code, report) = loadgen(&args);
    assert_clean(code, &report);
    assert_eq!(report["connections_ok"], 50);
}

#[test]
fn an_honest_server_gives_a_clean_run_with_several_in_flight_threads_and_sources() {
    let url = url(start_server(None));
    let (code, report) = loadgen(&[
        "echo",
        "--url",
        &url,
        "--connections",
        "40",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
        "--inflight",
        "8",
        "--threads",
        "2",
        "--source-ip-count",
        "3",
        "--size",
        "300",
    ]);
    assert_clean(code, &report);
}

#[test]
fn an_honest_server_gives_a_clean_open_loop_run_over_two_workers() {
    let url = url(start_server(None));
    let (code, report) = loadgen(&[
        "echo",
        "--url",
        &url,
        "--connections",
        "60",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
        "--rate",
        "3000",
        "--workers",
        "2",
    ]);
    assert_clean(code, &report);
    assert_eq!(report["workers"], 2);
    assert_eq!(report["connections_ok"], 60);
    // About 3,000 msgs/s were offered and all came back.
    let rate = report["msgs_per_sec"].as_f64().unwrap();
    assert!((2000.0..=3800.0).contains(&rate), "{report:#}");
}

#[test]
fn idle_connections_open_and_the_server_rss_is_read() {
    let url = url(start_server(None));
    let pid = std::process::id().to_string();
    let (code, report) = loadgen(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "200",
        "--hold",
        "200ms",
        "--settle",
        "100ms",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["connections_ok"], 200);
    assert!(report["server_rss"]["rss_after_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_dropped_message_is_reported_as_lost_and_fails_the_run() {
    let (code, report) = faulty_run(Fault::DropTenth, &["--inflight", "4", "--drain", "300ms"]);
    assert_eq!(code, 1, "{report:#}");
    // In a closed loop a dropped message also stalls one slot of its connection, but
    // the others keep going, so the loss shows up as exactly one per connection.
    assert_eq!(report["lost"], 3, "{report:#}");
    assert_eq!(report["duplicated"], 0);
    assert_eq!(report["clean"], false);
}

#[test]
fn a_repeated_message_is_reported_as_duplicated_and_fails_the_run() {
    let (code, report) = faulty_run(Fault::RepeatTenth, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["duplicated"], 3, "{report:#}");
    assert_eq!(report["lost"], 0);
}

#[test]
fn a_reordered_pair_is_reported_as_out_of_order_and_fails_the_run() {
    let (code, report) = faulty_run(Fault::SwapTenthAndEleventh, &["--inflight", "4"]);
    assert_eq!(code, 1, "{report:#}");
    // The 11th arrives ahead of the 10th, then the 10th arrives late: two per connection.
    assert_eq!(report["out_of_order"], 6, "{report:#}");
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["duplicated"], 0, "{report:#}");
}

#[test]
fn a_corrupted_reply_is_reported_and_fails_the_run() {
    let (code, report) = faulty_run(
        Fault::CorruptTenth,
        &["--inflight", "4", "--drain", "300ms"],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["corrupt"], 3, "{report:#}");
    // The corrupted reply does not count as an answer: its message is lost.
    assert_eq!(report["lost"], 3, "{report:#}");
}

#[test]
fn the_io_uring_closed_loop_is_clean_with_several_in_flight_and_threads() {
    let url = url(start_server(None));
    let (code, report) = loadgen(&[
        "echo",
        "--url",
        &url,
        "--connections",
        "40",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
        "--inflight",
        "8",
        "--threads",
        "2",
        "--size",
        "300",
        "--io-uring",
    ]);
    assert_clean(code, &report);
    assert_eq!(report["io_uring"], true, "{report:#}");
    // No fallback to epoll (it would be noted here).
    assert_eq!(report["errors"], serde_json::json!([]), "{report:#}");
}

#[test]
fn the_io_uring_closed_loop_counts_a_dropped_message_as_lost() {
    let (code, report) = faulty_run(
        Fault::DropTenth,
        &["--inflight", "4", "--drain", "300ms", "--io-uring"],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["lost"], 3, "{report:#}");
    assert_eq!(report["duplicated"], 0, "{report:#}");
}

#[test]
fn the_io_uring_closed_loop_counts_a_reordered_pair() {
    let (code, report) = faulty_run(
        Fault::SwapTenthAndEleventh,
        &["--inflight", "4", "--io-uring"],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["out_of_order"], 6, "{report:#}");
    assert_eq!(report["lost"], 0, "{report:#}");
}

#[test]
fn sends_right_after_each_read_give_a_clean_run() {
    let url = url(start_server(None));
    let (code, report) = loadgen(&[
        "echo",
        "--url",
        &url,
        "--connections",
        "20",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
        "--flush-each-read",
    ]);
    assert_clean(code, &report);
    assert_eq!(report["flush_each_read"], true, "{report:#}");
}
