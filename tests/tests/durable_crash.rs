//! Issue 14's proof: a visitor keeps sending lines (pipelined, ten at a time) while the
//! node is `kill -9`ed at random moments, six times, and restarted on the same data
//! directory. After each restart every line that was `sent` before is in the
//! conversation exactly once, in the order it was written; lines that were written but
//! whose ack was lost with the process may be there too (once), nothing else is.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use switchboard_protocol::chat::{Encoding, OwnedServerFrame, SystemKind};
use switchboard_tests::chat_client::Client;
use switchboard_tests::{DataDir, Server};

const KILLS: usize = 6;
const BURST: usize = 10;

/// A pseudo-random delay in 30..330 ms (no RNG crate: the clock's nanoseconds mixed).
fn random_delay(round: usize) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mixed = (nanos ^ (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    Duration::from_millis(30 + (mixed >> 33) % 300)
}

/// Line number of a client message id `line-N`.
fn number(id: &str) -> u64 {
    id.strip_prefix("line-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line id {id}"))
}

/// The stored lines after a restart, checked against what was acked: returns them as
/// the new truth (seq, line number).
fn check_replay(items: &[OwnedServerFrame], acked: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let stored: Vec<(u64, u64)> = items
        .iter()
        .filter_map(|frame| match frame {
            OwnedServerFrame::Message {
                seq, client_msg_id, ..
            } => Some((*seq, number(client_msg_id))),
            _ => None,
        })
        .collect();
    let mut seen = HashSet::new();
    for (seq, n) in &stored {
        assert!(seen.insert(*n), "line {n} stored twice: {stored:?}");
        let _ = seq;
    }
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].1 < w[1].1 && w[0].0 < w[1].0),
        "lines out of order: {stored:?}"
    );
    for line in acked {
        assert!(
            stored.contains(line),
            "acked line {line:?} (seq, number) is missing after the crash: {stored:?}"
        );
    }
    stored
}

#[test]
fn acked_lines_survive_repeated_kill_9_once_and_in_order() {
    let dir = DataDir::new("crash");
    // Every line is replayed after each restart: the history holds them all, and the
    // replay may queue more than the default outbound limit.
    let args = [
        "--shards",
        "2",
        "--data-dir",
        dir.arg(),
        "--history-len",
        "200000",
        "--max-outbound-bytes",
        "268435456",
    ];
    let mut conv = None;
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut next_line = 0u64;
    let mut acked_total = 0usize;
    for round in 0..=KILLS {
        let mut server = Server::start(&args);
        let mut visitor = Client::connect(&server, "crash-visitor", Encoding::Json);
        let id = match conv {
            None => {
                let id = visitor.start_new();
                visitor.expect_system(id, 2, SystemKind::Queued);
                id
            }
            Some(id) => {
                visitor.resume(id, 0);
                let (_, items) = visitor.expect_snapshot_and_replay(id, 1);
                acked = check_replay(&items, &acked);
                id
            }
        };
        conv = Some(id);
        if round == KILLS {
            break;
        }
        let pid = server.pid();
        let delay = random_delay(round);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY-free: a plain kill(2) of the child we started.
            let _ = switchboard_driver::os::send_signal(pid, libc::SIGKILL);
        });
        'sending: loop {
            let first = next_line;
            for _ in 0..BURST {
                let line = format!("line-{next_line}");
                if !visitor.try_say(id, &line, "crash test line") {
                    break 'sending;
                }
                next_line += 1;
            }
            let mut acks = 0;
            while acks < next_line - first {
                match visitor.next_or_gone(Duration::from_secs(10)) {
                    Ok(Some(OwnedServerFrame::Sent {
                        seq, client_msg_id, ..
                    })) => {
                        acked.push((seq, number(&client_msg_id)));
                        acked_total += 1;
                        acks += 1;
                    }
                    Ok(Some(other)) => panic!("unexpected frame {other:?}"),
                    Ok(None) => panic!("no ack within 10 s while the server runs"),
                    Err(_) => break 'sending,
                }
            }
        }
        killer.join().expect("killer thread");
        assert!(
            server.wait_exit(Duration::from_secs(10)).is_some(),
            "the server survived kill -9"
        );
    }
    eprintln!(
        "{KILLS} kills, {next_line} lines sent, {acked_total} acked, {} stored at the end",
        acked.len()
    );
    assert!(acked_total > 0, "no line was ever acked");
}
