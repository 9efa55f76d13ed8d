//! Issue 14: a single node keeps its conversations across restarts in its data
//! directory. Lines acknowledged with `sent` survive SIGTERM and `kill -9`, once and in
//! order; seq goes on without reuse; `resume {conv, after_seq}` returns exactly the
//! missing items; a waiting visitor keeps its place in the queue; a second process on
//! the same data directory is refused.

use std::time::Duration;

use switchboard_protocol::chat::{ConversationState, Encoding, OwnedServerFrame, SystemKind};
use switchboard_tests::chat_client::Client;
use switchboard_tests::{DataDir, Server};

const JSON: Encoding = Encoding::Json;

/// Stops the server with `signal` and waits until it is gone.
fn stop(mut server: Server, signal: i32) {
    server.signal(signal);
    assert!(
        server.wait_exit(Duration::from_secs(10)).is_some(),
        "the server did not exit on signal {signal}"
    );
}

/// The messages of a replay: (seq, client_msg_id).
fn messages(items: &[OwnedServerFrame]) -> Vec<(u64, String)> {
    items
        .iter()
        .filter_map(|frame| match frame {
            OwnedServerFrame::Message {
                seq, client_msg_id, ..
            } => Some((*seq, client_msg_id.clone())),
            _ => None,
        })
        .collect()
}

fn acked_lines_survive(signal: i32) {
    let dir = DataDir::new("restart");
    let server = Server::on_data_dir(&dir);
    let mut visitor = Client::connect(&server, "vic", JSON);
    let conv = visitor.start_new();
    visitor.expect_system(conv, 2, SystemKind::Queued);
    let mut acked = Vec::new();
    for i in 0..5 {
        let id = format!("line-{i}");
        visitor.say(conv, &id, &format!("hello {i}"));
        let (seq, _) = visitor.expect_sent(conv, &id);
        acked.push((seq, id));
    }
    drop(visitor);
    stop(server, signal);

    let server = Server::on_data_dir(&dir);
    assert!(
        server.stderr_so_far().contains("store recovered"),
        "no recovery report in the log:\n{}",
        server.stderr_so_far()
    );
    let mut visitor = Client::connect(&server, "vic", JSON);
    visitor.resume(conv, 0);
    let (snapshot, items) = visitor.expect_snapshot_and_replay(conv, 1);
    assert_eq!(snapshot.state, ConversationState::Waiting, "{snapshot:?}");
    assert_eq!(messages(&items), acked, "the acked lines, once, in order");
    let last = snapshot.last_seq;

    // seq goes on after the restart, never reused.
    visitor.say(conv, "after", "back again");
    let (seq, _) = visitor.expect_sent(conv, "after");
    assert_eq!(seq, last + 1, "seq continues after the restart");
    // A line sent before the restart is still known: a retry is not a new line.
    visitor.say(conv, "line-2", "hello 2");
    assert_eq!(visitor.expect_sent(conv, "line-2").0, acked[2].0);

    // resume from the middle: exactly the missing items.
    let mut other_tab = Client::connect(&server, "vic", JSON);
    let after = acked[1].0;
    other_tab.resume(conv, after);
    let (snapshot, items) = other_tab.expect_snapshot_and_replay(conv, after + 1);
    assert_eq!(snapshot.last_seq, last + 1);
    let mut want: Vec<(u64, String)> = acked[2..].to_vec();
    want.push((last + 1, "after".into()));
    assert_eq!(messages(&items), want);
}

#[test]
fn acked_lines_survive_sigterm_once_and_in_order() {
    acked_lines_survive(libc::SIGTERM);
}

#[test]
fn acked_lines_survive_kill_9_once_and_in_order() {
    acked_lines_survive(libc::SIGKILL);
}

#[test]
fn a_waiting_visitor_keeps_its_place_across_a_restart() {
    let dir = DataDir::new("queue");
    let server = Server::on_data_dir(&dir);
    let mut first = Client::connect(&server, "first-visitor", JSON);
    let conv_first = first.start_new();
    let mut second = Client::connect(&server, "second-visitor", JSON);
    let conv_second = second.start_new();
    drop((first, second));
    stop(server, libc::SIGKILL);

    let server = Server::start(&[
        "--shards",
        "2",
        "--data-dir",
        dir.arg(),
        "--agent-capacity",
        "1",
    ]);
    // Agents that take one conversation each get them in the order they waited before
    // the restart.
    let mut ann = Client::connect(&server, "agent:ann", JSON);
    assert_eq!(ann.expect_assignment(conv_first).conv, conv_first);
    let mut bob = Client::connect(&server, "agent:bob", JSON);
    assert_eq!(bob.expect_assignment(conv_second).conv, conv_second);
    // A new conversation never reuses a stored id.
    let mut third = Client::connect(&server, "third-visitor", JSON);
    third.start();
    let snapshot = third.expect_snapshot();
    assert!(snapshot.conv > conv_second, "{snapshot:?} reuses an id");
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = DataDir::new("lock");
    let _server = Server::on_data_dir(&dir);
    let err = Server::try_start(&["--shards", "1", "--data-dir", dir.arg()])
        .expect_err("a second server on the same data directory must not start");
    let text = format!("{err:#}");
    assert!(
        text.contains("in use by another switchboard process"),
        "unclear refusal: {text}"
    );
}

#[test]
fn the_control_api_pages_stored_items_after_a_restart() {
    use switchboard_tests::control_client::Control;
    let dir = DataDir::new("paging");
    let server = Server::on_data_dir(&dir);
    let mut visitor = Client::connect(&server, "pager", JSON);
    let conv = visitor.start_new();
    visitor.expect_system(conv, 2, SystemKind::Queued);
    for i in 0..5 {
        let id = format!("p-{i}");
        visitor.say(conv, &id, &format!("page line {i}"));
        visitor.expect_sent(conv, &id);
    }
    drop(visitor);
    stop(server, libc::SIGKILL);

    let server = Server::on_data_dir(&dir);
    let control = Control::of(&server);
    let page = control.get(&format!(
        "/v1/conversations/{conv}/items?after_seq=3&limit=2"
    ));
    let seqs: Vec<u64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [4, 5], "{page}");
    assert_eq!(page["items"][0]["client_msg_id"], "p-1", "{page}");
    assert_eq!(page["more"], true, "{page}");
    let rest = control.get(&format!("/v1/conversations/{conv}/items?after_seq=5"));
    let seqs: Vec<u64> = rest["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [6, 7], "{rest}");
    assert_eq!(rest["more"], false, "{rest}");
    control.fails(
        "GET",
        "/v1/conversations/424242/items",
        None,
        404,
        "not_found",
    );
}

/// `--durability async` acknowledges once written and syncs later; a clean stop
/// (SIGTERM) must sync what was acknowledged before the process exits. The sync
/// interval is a minute here, so nothing is synced before the signal: the store's
/// readers (the control API's items) see only synced records, and do not see them yet.
#[test]
fn async_mode_syncs_everything_acked_at_a_clean_stop() {
    use switchboard_tests::control_client::Control;
    let dir = DataDir::new("async-stop");
    let async_args = [
        "--shards",
        "2",
        "--data-dir",
        dir.arg(),
        "--durability",
        "async",
        "--durability-sync-interval-ms",
        "60000",
        "--close-timeout-ms",
        "500",
    ];
    let server = Server::start(&async_args);
    let mut visitor = Client::connect(&server, "lazy", JSON);
    let conv = visitor.start_new();
    visitor.expect_system(conv, 2, SystemKind::Queued);
    let mut acked = Vec::new();
    for i in 0..5 {
        let id = format!("async-{i}");
        visitor.say(conv, &id, &format!("written, not yet synced {i}"));
        acked.push((visitor.expect_sent(conv, &id).0, id));
    }
    let control = Control::of(&server);
    control.fails(
        "GET",
        &format!("/v1/conversations/{conv}/items"),
        None,
        404,
        "not_found",
    );
    drop(visitor);
    let mut server = server;
    server.signal(libc::SIGTERM);
    assert!(
        server.wait_exit(Duration::from_secs(10)).is_some(),
        "the server did not exit on SIGTERM"
    );
    let log = server.stderr_so_far();
    assert!(
        log.contains("store closed: everything written is synced"),
        "no final sync in the log:\n{log}"
    );

    let server = Server::start(&async_args);
    let mut visitor = Client::connect(&server, "lazy", JSON);
    visitor.resume(conv, 0);
    let (_, items) = visitor.expect_snapshot_and_replay(conv, 1);
    assert_eq!(messages(&items), acked, "every acked line, once, in order");
}
