//! Issue 5: the control API's errors against the real engine — JSON bodies with stable
//! codes, 4xx for bad input, never a 5xx, and the node keeps serving afterwards.

use serde_json::json;
use switchboard_protocol::chat::Encoding;
use switchboard_tests::chat_client::{agent, start_served_by, Client};
use switchboard_tests::control_client::{assert_error, Control};
use switchboard_tests::{http_exchange, Server, TWO_SHARDS};

fn serve() -> Server {
    Server::start(TWO_SHARDS)
}

#[test]
fn protocol_level_errors_have_stable_codes() {
    let server = serve();
    let control = Control::of(&server);
    control.fails("GET", "/v2/nothing", None, 404, "no_route");
    control.fails("GET", "/v1/conversations/1/nothing", None, 404, "no_route");
    let response = control.request("DELETE", "/v1/stats", None);
    assert_error("DELETE", "/v1/stats", &response, 405, "method_not_allowed");
    assert!(
        response
            .header("allow")
            .is_some_and(|allow| allow.contains("GET")),
        "405 without Allow: {response:?}"
    );
    let response = control.request("GET", "/v1/degradation/extra", None);
    assert_error("GET", "/v1/degradation/extra", &response, 404, "no_route");
    // A body that is not JSON by its content type.
    let response = control.request_with(
        "PUT",
        "/v1/degradation",
        Some("level=1"),
        &["Content-Type: application/x-www-form-urlencoded"],
    );
    assert_error(
        "PUT",
        "/v1/degradation",
        &response,
        415,
        "unsupported_media_type",
    );
    // Over 64 KiB.
    let big = format!(r#"{{"from":"system","body":"{}"}}"#, "x".repeat(70 * 1024));
    let response = control.request("POST", "/v1/conversations/1/messages", Some(&big));
    assert_error(
        "POST",
        "/v1/conversations/1/messages",
        &response,
        413,
        "payload_too_large",
    );
    // A required body missing.
    control.fails("PUT", "/v1/degradation", None, 400, "invalid");
    control.fails("PATCH", "/v1/agents/bob", None, 400, "invalid");
    // Ids out of range or not numbers.
    control.fails(
        "GET",
        "/v1/conversations/18446744073709551616",
        None,
        400,
        "invalid",
    );
    control.fails("GET", "/v1/conversations/-1", None, 400, "invalid");
    control.fails("GET", "/v1/conversations/1.5", None, 400, "invalid");
    // A user id over 128 characters or with a space.
    let long = "u".repeat(129);
    control.fails("GET", &format!("/v1/agents/{long}"), None, 400, "invalid");
    control.fails("GET", "/v1/agents/a%20b", None, 400, "invalid");
    // Still serving.
    assert!(control.get("/v1/stats")["totals"].is_object());
}

#[test]
fn a_spray_of_bad_inputs_never_answers_5xx_and_the_node_keeps_working() {
    let server = serve();
    let control = Control::of(&server);
    let mut a = agent(&server, "agent:agent-a", Encoding::Json);
    let mut v = Client::connect(&server, "vic", Encoding::Json);
    let conv = start_served_by(&mut v, &mut a);
    let conv_path = format!("/v1/conversations/{conv}");
    let paths = [
        "/v1/stats".to_owned(),
        "/v1/conversations".to_owned(),
        conv_path.clone(),
        format!("{conv_path}/assign"),
        format!("{conv_path}/transfer"),
        "/v1/conversations/0/end".to_owned(),
        format!("{conv_path}/messages"),
        "/v1/conversations/0/messages".to_owned(),
        "/v1/conversations/18446744073709551615/transfer".to_owned(),
        "/v1/users/vic/events".to_owned(),
        "/v1/users/%FF%FE/events".to_owned(),
        "/v1/users/%/events".to_owned(),
        "/v1/agents".to_owned(),
        "/v1/agents/agent-a".to_owned(),
        "/v1/agents/%00".to_owned(),
        format!("/v1/connections/{}", u64::MAX),
        "/v1/connections/4242424242".to_owned(),
        "/v1/users/nobody-here/connections?reason=%ZZ".to_owned(),
        "/v1/degradation".to_owned(),
        "/v1/conversations?state=&agent=&limit=&min_age_ms=".to_owned(),
        "/v1/conversations?limit=99999999999999999999999".to_owned(),
    ];
    let bodies = [
        None,
        Some(""),
        Some("null"),
        Some("[]"),
        Some("{"),
        Some(r#"{"agent":null,"to":null,"level":null}"#),
        Some(r#"{"from":{"bot":"b","x":1},"body":"x"}"#),
        Some(r#"{"from":"system","body":"\ud800"}"#),
        Some(r#"{"capacity":1e3,"weight":1.5}"#),
        Some(r#"{"groups":"vip"}"#),
        Some(r#"{"name":"n","data":{"deep":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}"#),
        Some("\u{0}\u{1}"),
    ];
    let mut answered = 0;
    for path in &paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            for body in bodies {
                let response = control.request(method, path, body);
                assert!(
                    response.status < 500 && response.status >= 200,
                    "{method} {path} {body:?}: {} {}",
                    response.status,
                    response.body_text()
                );
                if response.status >= 400 {
                    let value: serde_json::Value = serde_json::from_slice(&response.body)
                        .unwrap_or_else(|e| {
                            panic!(
                                "{method} {path} {body:?}: error body is not JSON ({e}): {}",
                                response.body_text()
                            )
                        });
                    assert!(
                        value["error"]["code"].is_string(),
                        "{method} {path}: {value}"
                    );
                }
                answered += 1;
            }
        }
    }
    assert!(answered > 1000);
    // Garbage that is not HTTP at all.
    for raw in [
        &b"\x16\x03\x01\x00\xa5\x01\x00\x00"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /v1/stats HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/drain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        if let Ok(response) = http_exchange(control.addr, raw) {
            assert!(
                response.status < 500,
                "{:?}: {} {}",
                String::from_utf8_lossy(raw),
                response.status,
                response.body_text()
            );
        }
    }
    // The node still works: the conversation flows, stats answer, not draining.
    v.say(conv, "after", "still ok?");
    let sent = v.wait_for("sent", |f| {
        matches!(f, switchboard_protocol::chat::OwnedServerFrame::Sent { .. })
    });
    let switchboard_protocol::chat::OwnedServerFrame::Sent { seq, .. } = sent else {
        unreachable!()
    };
    a.wait_for("the line", |f| {
        matches!(f, switchboard_protocol::chat::OwnedServerFrame::Message { seq: s, .. } if *s == seq)
    });
    let stats = control.get("/v1/stats");
    assert_eq!(stats["draining"], false, "{stats}");
    let view = control.ok("PUT", "/v1/degradation", Some(&json!({"level": null})));
    assert_eq!(view["pinned"], false);
}
