//! Issue 5: the control API's bearer-token auth, enforced by the real server, and the
//! refusal to serve a non-loopback control address without a token.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use switchboard_tests::chat_client::Client;
use switchboard_tests::control_client::{assert_error, Control};
use switchboard_tests::{binary_path, Deadline, Server};

const TOKEN: &str = "test-token-0123456789abcdef";

/// Every route of the OpenAPI document but the probes, with a body that would be valid.
const PROTECTED: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/metrics", None),
    ("GET", "/v1/stats", None),
    ("GET", "/v1/conversations", None),
    ("GET", "/v1/conversations/1", None),
    (
        "POST",
        "/v1/conversations/1/assign",
        Some(r#"{"agent":"bob"}"#),
    ),
    (
        "POST",
        "/v1/conversations/1/transfer",
        Some(r#"{"to":"bob"}"#),
    ),
    ("POST", "/v1/conversations/1/end", None),
    (
        "POST",
        "/v1/conversations/1/messages",
        Some(r#"{"from":"system","body":"x"}"#),
    ),
    ("POST", "/v1/users/alice/events", Some(r#"{"name":"x"}"#)),
    ("GET", "/v1/agents", None),
    ("GET", "/v1/agents/bob", None),
    ("PATCH", "/v1/agents/bob", Some(r#"{"weight":2}"#)),
    ("DELETE", "/v1/connections/1", None),
    ("DELETE", "/v1/users/alice/connections", None),
    ("GET", "/v1/drain", None),
    ("GET", "/v1/degradation", None),
    ("PUT", "/v1/degradation", Some(r#"{"level":1}"#)),
    // Last: with the token it drains the node.
    ("POST", "/v1/drain", None),
];

#[test]
fn every_route_but_the_probes_needs_the_bearer_token() {
    let server = Server::start(&["--shards", "2", "--control-token", TOKEN]);
    let anonymous = Control::of(&server);
    let wrong = anonymous.with_token("not-the-token-0123456789");
    let right = anonymous.with_token(TOKEN);
    // The probes are open.
    assert_eq!(anonymous.get("/livez")["status"], "live");
    assert_eq!(anonymous.get("/readyz")["status"], "ready");
    let mut alice = Client::connect(&server, "alice", switchboard_protocol::chat::Encoding::Json);
    for &(method, path, body) in PROTECTED {
        for caller in [&anonymous, &wrong] {
            let response = caller.request(method, path, body);
            let error = assert_error(method, path, &response, 401, "unauthorized");
            assert!(
                !error["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(TOKEN),
                "{error}"
            );
        }
    }
    // A scheme other than Bearer, or the token in another header, is refused too.
    for header in [
        format!("Authorization: Basic {TOKEN}"),
        format!("Authorization: Bearer{TOKEN}"),
        format!("X-Token: {TOKEN}"),
    ] {
        let response = anonymous.request_with("GET", "/v1/stats", None, &[header.as_str()]);
        assert_error("GET", "/v1/stats", &response, 401, "unauthorized");
    }
    // Nothing an unauthorized call asked for happened: alice got no event, the level
    // is 0, the node is not draining.
    let view = right.get("/v1/degradation");
    assert_eq!(
        (&view["level"], &view["pinned"]),
        (&json!(0), &json!(false))
    );
    assert_eq!(right.get("/v1/drain")["draining"], false);
    let pushed = right.ok(
        "POST",
        "/v1/users/alice/events",
        Some(&json!({"name": "authorized", "data": 1})),
    );
    assert_eq!(pushed["connections"], 1, "{pushed}");
    match alice.next() {
        switchboard_protocol::chat::OwnedServerFrame::Event { name, .. } => {
            assert_eq!(name, "authorized", "an unauthorized push reached alice")
        }
        other => panic!("alice: expected the authorized event, got {other:?}"),
    }
    // With the token every route answers (not 401).
    for &(method, path, body) in PROTECTED {
        let response = right.request(method, path, body);
        assert_ne!(
            response.status,
            401,
            "{method} {path} with the token: {}",
            response.body_text()
        );
        assert!(
            response.status < 500,
            "{method} {path} with the token: {} {}",
            response.status,
            response.body_text()
        );
    }
}

/// Runs `switchboard serve` with `args` and waits (bounded) for it to exit; returns
/// (exit code, stderr). Kills it if it does not exit.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(binary_path())
        .arg("serve")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--durability",
            "off",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let deadline = Deadline::after(Duration::from_secs(20));
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => break Some(status),
            None if deadline.passed() => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("collect output");
    assert!(
        status.is_some(),
        "switchboard {args:?} kept running; stdout {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_non_loopback_control_address_without_a_token_is_refused_at_start() {
    let (code, stderr) = run_to_exit(&["--control-listen", "0.0.0.0:0"]);
    assert!(
        code.is_some_and(|c| c != 0),
        "exit {code:?}; stderr {stderr}"
    );
    assert!(
        stderr.contains("0.0.0.0") && stderr.contains("token"),
        "the message does not say why: {stderr}"
    );
}

#[test]
fn a_short_control_token_is_refused_at_start() {
    let (code, stderr) = run_to_exit(&["--control-token", "short"]);
    assert!(
        code.is_some_and(|c| c != 0),
        "exit {code:?}; stderr {stderr}"
    );
    assert!(stderr.contains("token"), "{stderr}");
}

#[test]
fn a_token_file_works_like_the_flag() {
    let dir = std::env::temp_dir().join(format!("sb-control-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let server = Server::start(&[
        "--shards",
        "1",
        "--control-token-file",
        file.to_str().unwrap(),
    ]);
    let control = Control::of(&server);
    let response = control.request("GET", "/v1/stats", None);
    assert_error("GET", "/v1/stats", &response, 401, "unauthorized");
    assert!(control.with_token(TOKEN).get("/v1/stats")["totals"].is_object());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_non_loopback_control_address_with_a_token_serves() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--control-listen",
        "0.0.0.0:0",
        "--control-token",
        TOKEN,
    ]);
    // The harness does not wait for the control line when the test picks the address:
    // read it from stdout.
    let line = switchboard_tests::wait_for(Duration::from_secs(10), || {
        server
            .stdout_so_far()
            .lines()
            .find_map(|l| l.strip_prefix("control on ").map(str::to_owned))
    })
    .expect("a `control on` line");
    let bound: std::net::SocketAddr = line.trim().parse().expect("an address");
    assert!(bound.ip().is_unspecified(), "{bound}");
    let control = Control {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], bound.port())),
        token: Some(TOKEN.to_owned()),
    };
    assert!(control.get("/v1/stats")["totals"].is_object());
    let anonymous = Control {
        token: None,
        ..control
    };
    let response = anonymous.request("GET", "/v1/agents", None);
    assert_error("GET", "/v1/agents", &response, 401, "unauthorized");
}
