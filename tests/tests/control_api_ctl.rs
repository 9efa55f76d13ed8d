//! Issue 5: `switchboard ctl` against a real node: readable tables by default, valid
//! JSON with `--json`, the token passed on, and a non-zero exit on errors.

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use switchboard_protocol::chat::{Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{agent, start_served_by, Client};
use switchboard_tests::control_client::{expect_close, Control};
use switchboard_tests::{binary_path, Server, IO_TIMEOUT, TWO_SHARDS};

/// Close code of a connection kicked through the control API (openapi.yaml: 4002).
const KICK_CLOSE_CODE: u16 = 4002;
const TOKEN: &str = "ctl-token-0123456789abcdef";

fn ctl(server: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let addr = server.control_addr().expect("control address").to_string();
    let mut command = Command::new(binary_path());
    command
        .args(["ctl", "--addr", &addr, "--timeout-ms", "10000"])
        .env_remove("SWITCHBOARD_CONTROL_TOKEN")
        .env_remove("SWITCHBOARD_CONTROL_ADDR")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.args(args).output().expect("run switchboard ctl")
}

fn ok_text(server: &Server, args: &[&str]) -> String {
    let output = ctl(server, Some(TOKEN), args);
    assert!(
        output.status.success(),
        "ctl {args:?}: {:?}\nstdout {}\nstderr {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn ok_json(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok_text(server, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ctl {args:?} --json: {e}: {text}"))
}

#[test]
fn ctl_prints_tables_and_json_and_acts_on_the_node() {
    let server = Server::start_with(TWO_SHARDS, &["--control-token", TOKEN]);
    let mut a = agent(&server, "agent:agent-a", Encoding::Json);
    let mut b = agent(&server, "agent:agent-b", Encoding::Json);
    let mut v = Client::connect(&server, "vic", Encoding::Json);
    let conv = start_served_by(&mut v, &mut a);
    let conv_s = conv.to_string();

    // stats
    let table = ok_text(&server, &["stats"]);
    assert!(
        table.contains("SHARD") && table.contains("CONNS") && table.contains("serving 1"),
        "stats table: {table}"
    );
    assert!(
        !table.trim_start().starts_with('{'),
        "a table, not JSON: {table}"
    );
    let stats = ok_json(&server, &["stats"]);
    assert_eq!(stats["totals"]["connections"], 3, "{stats}");
    assert_eq!(stats["shards"].as_array().map(Vec::len), Some(2));

    // conversations and one conversation
    let table = ok_text(&server, &["conversations"]);
    assert!(
        table.contains(&conv_s) && table.contains("vic") && table.contains("agent-a"),
        "conversations table: {table}"
    );
    let list = ok_json(&server, &["conversations", "--state", "serving"]);
    assert_eq!(list["conversations"][0]["id"], conv, "{list}");
    let list = ok_json(&server, &["conversations", "--agent", "agent-b"]);
    assert_eq!(list["conversations"], Value::Array(vec![]), "{list}");
    let detail = ok_json(&server, &["conversation", &conv_s]);
    assert_eq!(detail["conversation"]["state"], "serving", "{detail}");
    let table = ok_text(&server, &["conversation", &conv_s]);
    assert!(table.contains("assigned"), "conversation table: {table}");

    // agents
    let table = ok_text(&server, &["agents"]);
    assert!(
        table.contains("agent-a") && table.contains("agent-b"),
        "agents table: {table}"
    );
    let agents = ok_json(&server, &["agents"]);
    assert_eq!(
        agents["agents"].as_array().map(Vec::len),
        Some(2),
        "{agents}"
    );
    let view = ok_json(
        &server,
        &["agent", "agent-b", "--weight", "3", "--capacity", "4"],
    );
    assert_eq!(
        (&view["weight"], &view["capacity"]),
        (&3.into(), &4.into()),
        "{view}"
    );

    // say, push, transfer, end
    let posted = ok_json(
        &server,
        &["say", &conv_s, "hello from ctl", "--bot", "ctlbot"],
    );
    let seq = posted["seq"].as_u64().expect("seq");
    v.expect_message(
        conv,
        seq,
        "bot:ctlbot",
        posted["client_msg_id"].as_str().unwrap(),
        "hello from ctl",
    );
    let pushed = ok_json(&server, &["push", "vic", "promo", r#"{"code":"X1"}"#]);
    assert_eq!(pushed["connections"], 1, "{pushed}");
    v.wait_for("the promo event", |f| {
        matches!(f, OwnedServerFrame::Event { name, data } if name == "promo" && data == r#"{"code":"X1"}"#)
    });
    let offered = ok_json(&server, &["transfer", &conv_s, "agent-b"]);
    assert_eq!(offered["state"], "transferring", "{offered}");
    assert_eq!(offered["transfer_to"], "agent-b", "{offered}");
    b.wait_for("the offer", |f| {
        matches!(f, OwnedServerFrame::TransferOffer { .. })
    });
    b.send(&switchboard_protocol::chat::ClientFrame::DeclineTransfer { conv });
    let moved = ok_json(&server, &["transfer", &conv_s, "agent-b", "--force"]);
    assert_eq!(moved["agent"], "agent-b", "{moved}");
    b.wait_for("the snapshot", |f| {
        matches!(f, OwnedServerFrame::Conversation { .. })
    });
    let ended = ok_text(&server, &["end", &conv_s]);
    assert!(ended.contains("ended"), "end table: {ended}");

    // degrade
    let line = ok_text(&server, &["degrade", "1"]);
    assert!(line.contains('1'), "degrade: {line}");
    let view = ok_json(&server, &["degrade"]);
    assert_eq!((&view["level"], &view["pinned"]), (&1.into(), &true.into()));
    let view = ok_json(&server, &["degrade", "auto"]);
    assert_eq!(view["pinned"], false, "{view}");
    assert!(!ctl(&server, Some(TOKEN), &["degrade", "7"])
        .status
        .success());

    // metrics
    let text = ok_text(&server, &["metrics"]);
    assert!(text.contains("switchboard_connections{"), "{text}");

    // kick
    let kicked = ok_json(
        &server,
        &["kick", &v.conn.to_string(), "--reason", "from ctl"],
    );
    assert_eq!(kicked["closed"], 1, "{kicked}");
    let (code, reason) = expect_close(&mut v, IO_TIMEOUT);
    assert_eq!((code, reason.as_str()), (KICK_CLOSE_CODE, "from ctl"));

    // errors: no token, unknown conversation, unreachable node
    let output = ctl(&server, None, &["stats"]);
    assert!(!output.status.success(), "ctl without the token succeeded");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("401")
            || String::from_utf8_lossy(&output.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = ctl(&server, Some(TOKEN), &["conversation", "987654321"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not_found"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // drain (last)
    let status = ok_json(&server, &["drain"]);
    assert_eq!(status["draining"], true, "{status}");
    let text = ok_text(&server, &["drain", "--status"]);
    assert!(text.contains("drain"), "drain table: {text}");
    let control = Control::of(&server).with_token(TOKEN);
    assert_eq!(control.request("GET", "/readyz", None).status, 503);
}

#[test]
fn ctl_against_a_closed_port_fails_cleanly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let output = Command::new(binary_path())
        .args(["ctl", "--addr", &addr, "--timeout-ms", "3000", "stats"])
        .env_remove("SWITCHBOARD_CONTROL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard ctl");
    assert!(!output.status.success());
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
