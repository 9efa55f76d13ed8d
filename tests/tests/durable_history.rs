//! Issue 14, part 5: history and events without Redis, through the real binary and its
//! control API. Conversations are listed from the store by visitor, agent and time,
//! newest first, ended ones included, with a cursor — also after `kill -9`. The event
//! feed (`GET /v1/events`) gives every stored item once, in order; an archiver that
//! resumes from its last cursor across a node restart misses and repeats nothing; a
//! long-poll answers as soon as an event is stored.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_protocol::chat::{Encoding, SystemKind};
use switchboard_tests::chat_client::{agent, start_served_by, Client};
use switchboard_tests::control_client::Control;
use switchboard_tests::{binary_path, DataDir, Server};

const JSON: Encoding = Encoding::Json;

/// `switchboard ctl ARGS` against `server`; its stdout (it must succeed).
fn ctl(server: &Server, args: &[&str]) -> String {
    let addr = server.control_addr().expect("control address").to_string();
    let output = std::process::Command::new(binary_path())
        .args(["ctl", "--addr", &addr])
        .args(args)
        .env_remove("SWITCHBOARD_CONTROL_TOKEN")
        .env_remove("SWITCHBOARD_CONTROL_ADDR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run switchboard ctl");
    assert!(
        output.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn kill_9(mut server: Server) {
    server.signal(libc::SIGKILL);
    assert!(
        server.wait_exit(Duration::from_secs(10)).is_some(),
        "the server did not die"
    );
}

fn ids(list: &Value) -> Vec<u64> {
    list["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("no conversations in {list}"))
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect()
}

fn created(list: &Value, conv: u64) -> u64 {
    list["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["id"] == conv)
        .and_then(|c| c["created_at_ms"].as_u64())
        .unwrap_or_else(|| panic!("conversation {conv} not in {list}"))
}

/// What the listing tests ask, before and after the restart.
fn check_listings(control: &Control, c1: u64, c2: u64, c3: u64) {
    let vic = control.get("/v1/conversations?visitor=vic");
    assert_eq!(ids(&vic), [c3, c1], "vic's, newest first: {vic}");
    let ended = &vic["conversations"][1];
    assert_eq!(ended["state"], "ended", "{vic}");
    assert_eq!(ended["agent"], "ann", "who served it: {vic}");
    assert_eq!(vic.get("next_cursor"), None, "one page: {vic}");

    let ann = control.get("/v1/conversations?since_ms=0&agent=ann");
    assert_eq!(ids(&ann), [c1], "{ann}");
    let ended_only = control.get("/v1/conversations?since_ms=0&state=ended");
    assert_eq!(ids(&ended_only), [c1], "{ended_only}");

    // Pages of two, newest first, then the rest with the cursor.
    let first = control.get("/v1/conversations?since_ms=0&limit=2");
    assert_eq!(ids(&first), [c3, c2], "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no next_cursor: {first}"));
    let second = control.get(&format!("/v1/conversations?cursor={cursor}&limit=2"));
    assert_eq!(ids(&second), [c1], "{second}");
    assert_eq!(second.get("next_cursor"), None, "{second}");

    // The time range is on creation: [since, until).
    let all = control.get("/v1/conversations?since_ms=0");
    let (t2, t3) = (created(&all, c2), created(&all, c3));
    let range = control.get(&format!("/v1/conversations?since_ms={t2}&until_ms={t3}"));
    assert_eq!(ids(&range), [c2], "{range}");
    let later = control.get(&format!("/v1/conversations?since_ms={t3}"));
    assert_eq!(ids(&later), [c3], "{later}");
}

#[test]
fn conversations_are_listed_from_the_store_newest_first_across_a_restart() {
    let dir = DataDir::new("history");
    let server = Server::on_data_dir(&dir);
    let control = Control::of(&server);
    let mut ann = agent(&server, "agent:ann", JSON);
    let mut vic = Client::connect(&server, "vic", JSON);
    let c1 = start_served_by(&mut vic, &mut ann);
    vic.say(c1, "h-1", "hello");
    vic.expect_sent(c1, "h-1");
    control.ok("POST", &format!("/v1/conversations/{c1}/end"), None);
    vic.expect_system(c1, 4, SystemKind::Ended);
    // Nobody takes the next ones: they wait (their creation times differ).
    control.ok(
        "PATCH",
        "/v1/agents/ann",
        Some(&serde_json::json!({"status": "offline"})),
    );
    std::thread::sleep(Duration::from_millis(20));
    let mut bob = Client::connect(&server, "bob", JSON);
    let c2 = bob.start_new();
    bob.expect_system(c2, 2, SystemKind::Queued);
    std::thread::sleep(Duration::from_millis(20));
    let c3 = vic.start_new();
    vic.expect_system(c3, 2, SystemKind::Queued);
    check_listings(&control, c1, c2, c3);

    drop((ann, vic, bob));
    kill_9(server);
    let server = Server::on_data_dir(&dir);
    let control = Control::of(&server);
    check_listings(&control, c1, c2, c3);

    // The same through `ctl`: a page of one, and the cursor for the next.
    let page: Value = serde_json::from_str(&ctl(
        &server,
        &["--json", "history", "--visitor", "vic", "--limit", "1"],
    ))
    .expect("ctl history --json");
    assert_eq!(ids(&page), [c3], "{page}");
    let cursor = page["next_cursor"].as_str().expect("next_cursor");
    let table = ctl(
        &server,
        &["history", "--visitor", "vic", "--cursor", cursor],
    );
    assert!(table.contains("ended") && table.contains("vic"), "{table}");
    let events: Value = serde_json::from_str(&ctl(
        &server,
        &["--json", "events", "--after", "0", "--limit", "2"],
    ))
    .expect("ctl events --json");
    assert_eq!(events["events"][0]["kind"], "created", "{events}");
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(2),
        "{events}"
    );

    // Bad parameters are 400 invalid, never a guess.
    for bad in [
        "/v1/conversations?since_ms=10&until_ms=5",
        "/v1/conversations?cursor=nope",
        "/v1/conversations?cursor=1.2.3",
        "/v1/conversations?visitor=",
        "/v1/conversations?visitor=vic&limit=0",
        "/v1/conversations?since_ms=-1",
        "/v1/conversations?visitor=vic&colour=red",
    ] {
        control.fails("GET", bad, None, 400, "invalid");
    }
    // The live listing is still there, oldest first (the restart ended c1 for good).
    let live = control.get("/v1/conversations?state=waiting");
    assert_eq!(ids(&live), [c2, c3], "{live}");
}

/// An archiver: reads pages of `limit` from `cursor` until one is empty; returns the
/// (conv, seq) of every event and the cursor to resume from.
fn archive(control: &Control, mut cursor: String, limit: usize) -> (Vec<(u64, u64)>, String) {
    let mut seen = Vec::new();
    loop {
        let page = control.get(&format!("/v1/events?after={cursor}&limit={limit}"));
        let events = page["events"].as_array().expect("events").clone();
        for event in &events {
            // As in sb:events: `message`, or the system item's event (`created`, ...).
            let kind = match event["item"]["kind"].as_str() {
                Some("system") => &event["item"]["event"],
                _ => &event["item"]["kind"],
            };
            assert_eq!(&event["kind"], kind, "the kind is the item's: {event}");
            assert_eq!(event["item"]["v"], 1, "the versioned item record: {event}");
            seen.push((
                event["conv"].as_u64().expect("conv"),
                event["item"]["seq"].as_u64().expect("seq"),
            ));
        }
        cursor = page["next_cursor"]
            .as_str()
            .expect("next_cursor")
            .to_owned();
        if events.is_empty() {
            return (seen, cursor);
        }
    }
}

/// Every item of `conv` the store holds, as (conv, seq).
fn stored(control: &Control, conv: u64) -> Vec<(u64, u64)> {
    let page = control.get(&format!("/v1/conversations/{conv}/items?limit=1000"));
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (conv, i["seq"].as_u64().expect("seq")))
        .collect()
}

fn say_lines(client: &mut Client, conv: u64, prefix: &str, n: usize) {
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        client.say(conv, &id, "a line");
        client.expect_sent(conv, &id);
    }
}

#[test]
fn an_archiver_resuming_from_its_cursor_misses_and_repeats_nothing_across_a_restart() {
    let dir = DataDir::new("feed");
    let server = Server::on_data_dir(&dir);
    let control = Control::of(&server);
    let mut vic = Client::connect(&server, "vic", JSON);
    let conv = vic.start_new();
    vic.expect_system(conv, 2, SystemKind::Queued);
    say_lines(&mut vic, conv, "a", 3);
    let mut bob = Client::connect(&server, "bob", JSON);
    let other = bob.start_new();
    bob.expect_system(other, 2, SystemKind::Queued);
    say_lines(&mut bob, other, "b", 2);

    let (mut archived, cursor) = archive(&control, "0".into(), 2);
    say_lines(&mut vic, conv, "c", 3);
    // One page of the new lines only, then the node dies before the archiver goes on.
    let page = control.get(&format!("/v1/events?after={cursor}&limit=2"));
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{page}");
    for event in events {
        archived.push((
            event["conv"].as_u64().expect("conv"),
            event["item"]["seq"].as_u64().expect("seq"),
        ));
    }
    let cursor = events[1]["cursor"].as_str().expect("cursor").to_owned();
    drop((vic, bob));
    kill_9(server);

    let server = Server::on_data_dir(&dir);
    let control = Control::of(&server);
    let mut vic = Client::connect(&server, "vic", JSON);
    vic.resume(conv, 0);
    vic.expect_snapshot_and_replay(conv, 1);
    say_lines(&mut vic, conv, "d", 2);
    let (rest, cursor) = archive(&control, cursor, 3);
    archived.extend(rest);

    let mut expected: Vec<(u64, u64)> = stored(&control, conv);
    expected.extend(stored(&control, other));
    let mut sorted = archived.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        archived.len(),
        "an event repeated: {archived:?}"
    );
    expected.sort_unstable();
    assert_eq!(sorted, expected, "every stored item, once");
    for c in [conv, other] {
        let seqs: Vec<u64> = archived
            .iter()
            .filter(|(x, _)| *x == c)
            .map(|&(_, s)| s)
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    }

    // Nothing new: a long-poll waits its time and keeps the cursor.
    let started = Instant::now();
    let empty = control.get(&format!("/v1/events?after={cursor}&wait_ms=300"));
    assert!(started.elapsed() >= Duration::from_millis(300), "{empty}");
    assert_eq!(empty["events"], serde_json::json!([]), "{empty}");
    assert_eq!(empty["next_cursor"], cursor.as_str(), "{empty}");

    // A line stored during a long-poll ends it at once.
    let waiter = {
        let control = control.clone();
        let cursor = cursor.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let page = control.get(&format!("/v1/events?after={cursor}&wait_ms=8000"));
            (page, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    say_lines(&mut vic, conv, "e", 1);
    let (page, waited) = waiter.join().expect("the long-poll");
    assert!(waited < Duration::from_secs(5), "answered late: {waited:?}");
    assert_eq!(page["events"][0]["kind"], "message", "{page}");
    assert_eq!(page["events"][0]["item"]["client_msg_id"], "e-0", "{page}");

    for bad in [
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/events?wait_ms=25001",
        "/v1/events?after=abc",
        "/v1/events?after=-1",
        "/v1/events?from=1",
    ] {
        control.fails("GET", bad, None, 400, "invalid");
    }
}

#[test]
fn without_a_store_the_feed_and_history_say_why() {
    let server = Server::start(&["--shards", "1", "--durability", "off"]);
    let control = Control::of(&server);
    control.fails("GET", "/v1/events", None, 503, "unavailable");
    control.fails(
        "GET",
        "/v1/conversations?visitor=vic",
        None,
        503,
        "unavailable",
    );
    control.get("/v1/conversations");
}
