//! Issue 3 over the wire: who may connect (JWT tokens: expired, bad signature,
//! missing, wrong role → HTTP 401; `--anonymous-visitors`) and who may see and speak in
//! a conversation (an agent only in the ones assigned to it, a visitor only in its own).

use std::time::Duration;

use switchboard_protocol::chat::{AgentStatus, ClientFrame, Encoding, OwnedServerFrame, Role};
use switchboard_tests::chat_client::{agent, start_served_by, Auth, Client};
use switchboard_tests::jwt::hs256;
use switchboard_tests::{new_ws_key, public_http_exchange, Server, TWO_SHARDS};

const JSON: Encoding = Encoding::Json;
const BIN: Encoding = Encoding::Binary;
const SECRET: &str = "auth-tests-secret-that-is-long-enough-0123456789";

fn serve(extra: &[&str]) -> Server {
    Server::start_with(TWO_SHARDS, extra)
}

fn token(sub: &str, role: &str, exp_in_secs: i64) -> String {
    hs256(SECRET, sub, role, None, &[], exp_in_secs)
}

/// The raw HTTP answer to an upgrade of `/v1/ws` with `auth` (a query or a header).
fn upgrade_status(server: &Server, query: &str, header: Option<&str>) -> (u16, String) {
    let mut request = format!(
        "GET /v1/ws{query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
        server.addr(),
        new_ws_key()
    );
    if let Some(header) = header {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let response = public_http_exchange(server.addr(), request.as_bytes()).expect("an HTTP answer");
    (response.status, response.body_text())
}

fn assert_refused(server: &Server, auth: Auth<'_>, why: &str) {
    match Client::try_connect(server, auth, JSON) {
        Ok(client) => panic!("{why}: accepted as {}", client.name),
        Err(refused) => {
            assert_eq!(refused.status, 401, "{why}: {refused:?}");
        }
    }
}

#[test]
fn bad_tokens_get_401_at_upgrade_and_nothing_else() {
    let server = serve(&["--jwt-secret", SECRET]);
    let expired = token("vic", "visitor", -3600);
    let forged = hs256(
        "another-secret-that-is-long-enough-0123456789",
        "vic",
        "visitor",
        None,
        &[],
        3600,
    );
    let bad_role = token("vic", "admin", 3600);
    let anon_squatter = token("anon-1", "visitor", 3600);
    // Change the signature's first character (its last one also carries padding
    // bits, which a lenient base64 decoder ignores).
    let valid = token("vic", "visitor", 3600);
    let at = valid.rfind('.').expect("a JWT has a signature") + 1;
    let changed = if valid[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{changed}{}", &valid[..at], &valid[at + 1..]);
    for (auth, why) in [
        (Auth::None, "no token"),
        (Auth::Query(""), "empty token"),
        (Auth::Query(&expired), "expired token"),
        (Auth::Bearer(&expired), "expired token as bearer"),
        (Auth::Query(&forged), "signed with another secret"),
        (Auth::Query(&tampered), "tampered signature"),
        (Auth::Query("not.a.jwt"), "garbage"),
        (Auth::Query("alice"), "a dev token"),
        (Auth::Query(&bad_role), "role admin"),
        (Auth::Query(&anon_squatter), "sub with the anonymous prefix"),
    ] {
        assert_refused(&server, auth, why);
    }
    // The raw answer: 401 with a JSON error body, no upgrade.
    let (status, body) = upgrade_status(&server, &format!("?token={expired}"), None);
    assert_eq!(status, 401, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    // A good token in either place is accepted, with the claims' user and role.
    let good = token("vic", "visitor", 3600);
    let v = Client::connect_auth(&server, Auth::Query(&good), JSON);
    assert_eq!((v.user.as_str(), v.role), ("vic", Role::Visitor));
    let agent_token = token("agent-a", "agent", 3600);
    let a = Client::connect_auth(&server, Auth::Bearer(&agent_token), BIN);
    assert_eq!((a.user.as_str(), a.role), ("agent-a", Role::Agent));
}

#[test]
fn a_token_signed_with_the_secret_file_is_accepted() {
    let dir = std::env::temp_dir().join(format!("switchboard-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let server = serve(&["--jwt-secret-file", file.to_str().unwrap()]);
    let good = token("vic", "visitor", 3600);
    let v = Client::connect_auth(&server, Auth::Query(&good), JSON);
    assert_eq!(v.user, "vic");
    assert_refused(
        &server,
        Auth::Query(&token("vic", "visitor", -3600)),
        "expired",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anonymous_visitors_get_an_issued_id_and_a_conversation_but_bad_tokens_stay_out() {
    let server = serve(&["--jwt-secret", SECRET, "--anonymous-visitors"]);
    let mut a = agent(&server, &token("agent-a", "agent", 3600), JSON);
    let mut v = Client::connect_auth(&server, Auth::None, JSON);
    assert_eq!(v.role, Role::Visitor);
    assert_eq!(v.user, format!("anon-{}", v.conn), "issued id");
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "hi, no account here");
    v.expect_sent(conv, "v-1");
    a.expect_message(conv, 3, &v.user.clone(), "v-1", "hi, no account here");
    // Two anonymous visitors are two different users with two conversations.
    let mut w = Client::connect_auth(&server, Auth::None, BIN);
    assert_ne!(w.user, v.user);
    let conv_w = w.start_new();
    assert_ne!(conv_w, conv);
    // Anonymous access does not let bad or expired tokens in.
    assert_refused(
        &server,
        Auth::Query(&token("x", "visitor", -3600)),
        "expired",
    );
    assert_refused(&server, Auth::Query("garbage"), "garbage");
}

#[test]
fn without_anonymous_visitors_a_jwt_server_refuses_tokenless_connections() {
    let server = serve(&["--jwt-secret", SECRET]);
    let (status, _) = upgrade_status(&server, "", None);
    assert_eq!(status, 401);
    // The refusal does not depend on where the token would have been.
    let (status, _) = upgrade_status(&server, "", Some("Authorization: Bearer "));
    assert_eq!(status, 401);
}

/// Every request of `intruder` on `conv` is refused with `not_participant`.
fn assert_refused_everything(intruder: &mut Client, conv: u64) {
    intruder.resume(conv, 0);
    intruder.expect_error("not_participant");
    intruder.say(conv, "sneak-1", "let me in");
    intruder.expect_error("not_participant");
    intruder.send(&ClientFrame::Read { conv, seq: 1 });
    intruder.expect_error("not_participant");
    intruder.send(&ClientFrame::Typing { conv });
    intruder.expect_error("not_participant");
    intruder.send(&ClientFrame::End { conv });
    intruder.expect_error("not_participant");
    intruder.send(&ClientFrame::Ack { conv, seq: 2 });
    // A resume from any seq, and in the other encoding too.
    intruder.resume(conv, 1);
    intruder.expect_error("not_participant");
}

#[test]
fn an_agent_cannot_see_or_speak_in_another_agents_conversation() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut b = agent(&server, "agent:agent-b", BIN);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "private");
    v.expect_sent(conv, "v-1");
    a.expect_message(conv, 3, "vic", "v-1", "private");
    assert_refused_everything(&mut b, conv);
    // Nothing of the intruder reached the participants, and nothing changed: the
    // next items are the next lines.
    a.say(conv, "a-1", "still private");
    assert_eq!(a.expect_sent(conv, "a-1").0, 4);
    v.expect_message(conv, 4, "agent-a", "a-1", "still private");
    // And the intruder got no line of it.
    b.expect_silence(Duration::from_millis(300));
    assert!(
        !b.log.iter().any(|f| matches!(
            f,
            OwnedServerFrame::Message { .. } | OwnedServerFrame::Conversation { .. }
        )),
        "{}",
        b.dump()
    );
}

#[test]
fn a_visitor_cannot_see_or_speak_in_another_visitors_conversation() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    let mut w = Client::connect(&server, "wendy", BIN);
    assert_refused_everything(&mut w, conv);
    // wendy's own `start` opens her own conversation, not vic's.
    let conv_w = w.start_new();
    assert_ne!(conv_w, conv);
    v.say(conv, "v-1", "mine");
    assert_eq!(v.expect_sent(conv, "v-1").0, 3);
    a.wait_for(
        "vic's line",
        |f| matches!(f, OwnedServerFrame::Message { conv: c, seq: 3, .. } if *c == conv),
    );
}

#[test]
fn unknown_conversations_and_role_mismatches_are_errors_that_keep_the_connection() {
    let server = serve(&[]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    for conv in [424_242u64, 424_243] {
        v.resume(conv, 0);
        v.expect_error("unknown_conversation");
        v.say(conv, "x", "anyone?");
        v.expect_error("unknown_conversation");
        v.send(&ClientFrame::End { conv });
        v.expect_error("unknown_conversation");
    }
    // Roles: agents do not start conversations, visitors do not set a status.
    a.start();
    a.expect_error("visitors_only");
    v.status(AgentStatus::Online, Some(50));
    v.expect_error("agents_only");
    v.send(&ClientFrame::AcceptTransfer { conv: 1 });
    v.expect_error("agents_only");
    // Both connections still work.
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "v-1", "ok");
    assert_eq!(v.expect_sent(conv, "v-1").0, 3);
}

#[test]
fn a_read_receipt_on_an_unknown_conversation_is_answered_unknown_conversation() {
    let server = serve(&[]);
    let mut v = Client::connect(&server, "vic", JSON);
    v.send(&ClientFrame::Read { conv: 777, seq: 1 });
    match v.try_next(Duration::from_secs(3)) {
        Some(OwnedServerFrame::Error { code, .. }) => assert_eq!(code, "unknown_conversation"),
        other => panic!(
            "read on an unknown conversation: expected error unknown_conversation, got {other:?}"
        ),
    }
}

#[test]
fn dev_tokens_make_agents_with_groups_and_visitors() {
    let server = serve(&[]);
    let a = Client::connect(&server, "agent:bob:vip,sales", JSON);
    assert_eq!((a.user.as_str(), a.role), ("bob", Role::Agent));
    let v = Client::connect(&server, "alice", BIN);
    assert_eq!((v.user.as_str(), v.role), ("alice", Role::Visitor));
    let anon = Client::connect_auth(&server, Auth::None, JSON);
    assert_eq!(anon.user, format!("anon-{}", anon.conn));
}

#[test]
fn relogin_replace_closes_the_older_connection_with_a_reason_and_allow_keeps_both() {
    let server = serve(&["--relogin", "replace"]);
    let mut a = agent(&server, "agent:agent-a", JSON);
    let mut old = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut old, &mut a);
    let mut new = Client::connect(&server, "vic", BIN);
    // The older connection is closed by the server with 4001 and a reason.
    let close = match switchboard_tests::ws_read(&mut old.ws, switchboard_tests::IO_TIMEOUT) {
        Ok(tungstenite::Message::Close(close)) => close,
        Ok(other) => panic!("expected a close of the older connection, got {other:?}"),
        Err(err) => panic!("expected a close frame of the older connection, got {err}"),
    };
    let close = close.expect("a close code");
    assert_eq!(u16::from(close.code), 4001, "{close:?}");
    assert!(!close.reason.is_empty(), "close without a reason");
    // The newest connection carries on in the same conversation.
    new.resume(conv, 2);
    assert_eq!(new.expect_snapshot().last_seq, 2);
    new.say(conv, "v-1", "from the new device");
    assert_eq!(new.expect_sent(conv, "v-1").0, 3);
    a.expect_message(conv, 3, "vic", "v-1", "from the new device");

    // The default (allow) keeps every connection of a user.
    let server = serve(&[]);
    let mut first = Client::connect(&server, "vic", JSON);
    let mut second = Client::connect(&server, "vic", JSON);
    let conv = first.start_new();
    // No agent: the conversation waits, first in the queue.
    first.expect_system(conv, 2, switchboard_protocol::chat::SystemKind::Queued);
    second.start();
    second.expect_snapshot_and_replay(conv, 1);
    first.expect_silence(Duration::from_millis(200));
}

/// README: `exp` is required (a token without it gets 401), the clock-skew leeway is
/// `--jwt-leeway-s` (a token expired 5 s ago passes with the default 30 s, not with 0),
/// and an HS256 secret under 32 bytes stops the node at start with a clear message.
#[test]
fn the_documented_jwt_rules_hold() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let no_exp = encode(
        &Header::default(),
        &serde_json::json!({"sub": "vic", "role": "visitor"}),
        &key,
    )
    .unwrap();
    let just_expired = token("vic", "visitor", -5);
    let default = serve(&["--jwt-secret", SECRET]);
    let (status, body) = upgrade_status(&default, &format!("?token={no_exp}"), None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("exp"), "{body}");
    assert!(
        Client::try_connect(&default, Auth::Query(&just_expired), JSON).is_ok(),
        "within the default leeway"
    );
    let strict = serve(&["--jwt-secret", SECRET, "--jwt-leeway-s", "0"]);
    assert_refused(&strict, Auth::Query(&just_expired), "no leeway");
    match Server::try_start(&["--jwt-secret", "too-short"]) {
        Ok(_) => panic!("a 9-byte secret was accepted"),
        Err(err) => assert!(format!("{err:#}").contains("32"), "{err:#}"),
    }
}
