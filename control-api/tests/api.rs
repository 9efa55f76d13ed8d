//! Every route's happy path and its 4xx cases, against the fake engine.

mod common;

use common::*;

#[test]
fn probes_are_open_and_readyz_follows_draining() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let live = request(addr, "GET", "/livez", None, None);
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "live");
    assert_eq!(request(addr, "GET", "/readyz", None, None).status, 200);
    engine.state.lock().unwrap().draining = true;
    let not_ready = request(addr, "GET", "/readyz", None, None);
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.code(), "unavailable");
    server.shutdown();
}

#[test]
fn auth_is_enforced_on_every_other_route() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    for route in switchboard_control_api::routes::ROUTES
        .iter()
        .filter(|r| r.auth)
    {
        let path = route
            .path
            .replace("{id}", "1")
            .replace("{conn}", "10")
            .replace("{user}", "a1");
        for token in [
            None,
            Some("wrong-token-0123456789"),
            Some("test-token-012345678"),
        ] {
            let answer = request(addr, route.method, &path, Some("{}"), token);
            assert_eq!(answer.status, 401, "{} {path} with {token:?}", route.method);
            assert_eq!(answer.code(), "unauthorized");
            assert!(answer
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"));
        }
    }
    let scheme = raw(
        addr,
        format!("GET /v1/stats HTTP/1.1\r\nAuthorization: Basic {TOKEN}\r\n\r\n").as_bytes(),
    );
    assert_eq!(scheme.status, 401);
    assert_eq!(call(addr, "GET", "/v1/stats", None).status, 200);
    server.shutdown();
}

#[test]
fn without_a_token_everything_is_open() {
    let (server, _) = start(None);
    let answer = request(server.local_addr(), "GET", "/v1/stats", None, None);
    assert_eq!(answer.status, 200);
    server.shutdown();
}

#[test]
fn stats_and_metrics() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let stats = call(addr, "GET", "/v1/stats", None);
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()["shards"].as_array().unwrap().len(), 2);
    assert_eq!(stats.json()["totals"]["connections"], 3);
    let metrics = call(addr, "GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&metrics.body).contains("switchboard_connections"));
    assert_eq!(call(addr, "GET", "/v1/stats?x=1", None).status, 400);
    assert_eq!(call(addr, "GET", "/v1/stats", Some("{}")).code(), "invalid");
    server.shutdown();
}

#[test]
fn list_conversations_with_filters() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let ids = |path: &str| -> Vec<u64> {
        let answer = call(addr, "GET", path, None);
        assert_eq!(answer.status, 200, "{path}");
        answer.json()["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids("/v1/conversations"), vec![1, 2, 3]);
    assert_eq!(ids("/v1/conversations?state=serving"), vec![2]);
    assert_eq!(ids("/v1/conversations?agent=a1"), vec![2]);
    assert_eq!(ids("/v1/conversations?min_age_ms=2000"), vec![2, 3]);
    assert_eq!(ids("/v1/conversations?limit=1"), vec![1]);
    assert_eq!(ids("/v1/conversations?agent=a%31&state=serving"), vec![2]);
    for bad in [
        "/v1/conversations?state=open",
        "/v1/conversations?limit=0",
        "/v1/conversations?limit=1001",
        "/v1/conversations?limit=-1",
        "/v1/conversations?limit=1&limit=2",
        "/v1/conversations?min_age_ms=abc",
        "/v1/conversations?agent=",
        "/v1/conversations?agent=a%20b",
        "/v1/conversations?agent=%zz",
        "/v1/conversations?colour=red",
    ] {
        let answer = call(addr, "GET", bad, None);
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.code(), "invalid", "{bad}");
    }
    server.shutdown();
}

#[test]
fn get_conversation() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let detail = call(addr, "GET", "/v1/conversations/2", None).json();
    assert_eq!(detail["conversation"]["agent"], "a1");
    assert_eq!(detail["items"].as_array().unwrap().len(), 2);
    assert_eq!(detail["items"][0]["kind"], "system");
    assert_eq!(detail["items"][1]["kind"], "message");
    let one = call(addr, "GET", "/v1/conversations/2?recent=1", None).json();
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let missing = call(addr, "GET", "/v1/conversations/99", None);
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (404, "not_found")
    );
    for bad in [
        "/v1/conversations/abc",
        "/v1/conversations/-1",
        "/v1/conversations/+1",
        "/v1/conversations/18446744073709551616",
        "/v1/conversations/1?recent=1001",
        "/v1/conversations/1?recent=x",
    ] {
        assert_eq!(call(addr, "GET", bad, None).status, 400, "{bad}");
    }
    assert_eq!(
        call(addr, "GET", "/v1/conversations/18446744073709551615", None).status,
        404
    );
    server.shutdown();
}

#[test]
fn assign_transfer_end() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let assigned = call(
        addr,
        "POST",
        "/v1/conversations/1/assign",
        Some(r#"{"agent":"a2"}"#),
    );
    assert_eq!(assigned.status, 200);
    assert_eq!(assigned.json()["state"], "serving");
    assert_eq!(assigned.json()["agent"], "a2");
    let transferred = call(
        addr,
        "POST",
        "/v1/conversations/1/transfer",
        Some(r#"{"to":"a1"}"#),
    );
    assert_eq!(transferred.status, 200);
    assert_eq!(transferred.json()["transfer_to"], "a1");
    let again = call(
        addr,
        "POST",
        "/v1/conversations/1/transfer",
        Some(r#"{"to":"a1"}"#),
    );
    assert_eq!((again.status, again.code().as_str()), (409, "conflict"));
    let ended = call(addr, "POST", "/v1/conversations/1/end", None);
    assert_eq!(ended.json()["state"], "ended");
    assert_eq!(
        call(addr, "POST", "/v1/conversations/2/end", Some("{}")).status,
        200
    );
    assert_eq!(
        call(addr, "POST", "/v1/conversations/1/end", None).status,
        409
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/v1/conversations/3/assign",
            Some(r#"{"agent":"a1"}"#)
        )
        .status,
        409
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/v1/conversations/9/assign",
            Some(r#"{"agent":"a1"}"#)
        )
        .status,
        404
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/v1/conversations/2/assign",
            Some(r#"{"agent":"zz"}"#)
        )
        .status,
        404
    );
    for (path, body) in [
        ("/v1/conversations/1/assign", ""),
        ("/v1/conversations/1/assign", "{}"),
        ("/v1/conversations/1/assign", r#"{"agent":""}"#),
        ("/v1/conversations/1/assign", r#"{"agent":"a b"}"#),
        ("/v1/conversations/1/assign", r#"{"agent":"a1","extra":1}"#),
        ("/v1/conversations/1/assign", r#"{"agent":7}"#),
        ("/v1/conversations/1/assign", "not json"),
        ("/v1/conversations/1/assign", "[]"),
        ("/v1/conversations/x/assign", r#"{"agent":"a1"}"#),
        ("/v1/conversations/1/transfer", r#"{"agent":"a1"}"#),
        ("/v1/conversations/1/end", r#"{"now":true}"#),
        ("/v1/conversations/1/end", "null"),
    ] {
        let answer = call(
            addr,
            "POST",
            path,
            if body.is_empty() { None } else { Some(body) },
        );
        assert_eq!(answer.status, 400, "{path} {body}");
    }
    let long = format!(r#"{{"agent":"{}"}}"#, "a".repeat(129));
    assert_eq!(
        call(addr, "POST", "/v1/conversations/1/assign", Some(&long)).status,
        400
    );
    server.shutdown();
}

#[test]
fn post_messages() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let posted = call(
        addr,
        "POST",
        "/v1/conversations/2/messages",
        Some(r#"{"from":"system","body":"hello from ops","client_msg_id":"ops-1"}"#),
    );
    assert_eq!(posted.status, 200);
    assert_eq!(posted.json()["seq"], 2);
    assert_eq!(posted.json()["duplicate"], false);
    let dup = call(
        addr,
        "POST",
        "/v1/conversations/2/messages",
        Some(r#"{"from":"system","body":"hello from ops","client_msg_id":"ops-1"}"#),
    );
    assert_eq!(dup.json()["duplicate"], true);
    let bot = call(
        addr,
        "POST",
        "/v1/conversations/2/messages",
        Some(r#"{"from":{"bot":"helper"},"body":"hi"}"#),
    );
    assert_eq!(bot.status, 200);
    assert!(bot.json()["client_msg_id"]
        .as_str()
        .unwrap()
        .starts_with("api-"));
    {
        let state = engine.state.lock().unwrap();
        let items = &state.convs[&2].1;
        assert!(
            matches!(items.last(), Some(switchboard_control_api::model::ConversationItem::Message { from, .. }) if from == "bot:helper")
        );
    }
    assert_eq!(
        call(
            addr,
            "POST",
            "/v1/conversations/3/messages",
            Some(r#"{"from":"system","body":"x"}"#)
        )
        .status,
        409
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/v1/conversations/9/messages",
            Some(r#"{"from":"system","body":"x"}"#)
        )
        .status,
        404
    );
    let huge = format!(
        r#"{{"from":"system","body":"{}"}}"#,
        "x".repeat(16 * 1024 + 1)
    );
    for body in [
        r#"{"from":"system","body":""}"#,
        r#"{"from":"admin","body":"x"}"#,
        r#"{"from":{"bot":""},"body":"x"}"#,
        r#"{"from":{"bot":"a b"},"body":"x"}"#,
        r#"{"from":{"robot":"b"},"body":"x"}"#,
        r#"{"from":"system"}"#,
        r#"{"from":"system","body":"x","client_msg_id":""}"#,
        r#"{"from":"system","body":"x","extra":1}"#,
        huge.as_str(),
    ] {
        assert_eq!(
            call(addr, "POST", "/v1/conversations/2/messages", Some(body)).status,
            400,
            "{body:.80}"
        );
    }
    server.shutdown();
}

#[test]
fn push_events() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let pushed = call(
        addr,
        "POST",
        "/v1/users/v1/events",
        Some(r#"{"name":"order.updated","data":{"order":7}}"#),
    );
    assert_eq!(pushed.status, 200);
    assert_eq!(pushed.json()["connections"], 2);
    let nobody = call(
        addr,
        "POST",
        "/v1/users/nobody/events",
        Some(r#"{"name":"x"}"#),
    );
    assert_eq!(nobody.json()["connections"], 0);
    assert_eq!(
        engine.state.lock().unwrap().pushed[0].1.data.get(),
        r#"{"order":7}"#
    );
    // Passed through byte for byte: key order, number spelling and precision kept.
    let exact = r#"{"z":1,"a":1.50,"big":12345678901234567890123}"#;
    let body = format!(r#"{{"name":"x","data":{exact}}}"#);
    assert_eq!(
        call(addr, "POST", "/v1/users/v1/events", Some(&body)).status,
        200
    );
    assert_eq!(engine.state.lock().unwrap().pushed[2].1.data.get(), exact);
    let pressure = call(
        addr,
        "POST",
        "/v1/users/v1/events",
        Some(r#"{"name":"pressure","data":{"level":3}}"#),
    );
    assert_eq!(
        pressure.status, 400,
        "the engine's own event name is refused"
    );
    let big = format!(r#"{{"name":"x","data":"{}"}}"#, "y".repeat(33 * 1024));
    for (path, body) in [
        ("/v1/users/v1/events", r#"{"data":1}"#),
        ("/v1/users/v1/events", r#"{"name":""}"#),
        ("/v1/users/v1/events", r#"{"name":"has space"}"#),
        ("/v1/users/v1/events", r#"{"name":"x","extra":1}"#),
        ("/v1/users/v1/events", big.as_str()),
        ("/v1/users/a%20b/events", r#"{"name":"x"}"#),
        ("/v1/users/%ff/events", r#"{"name":"x"}"#),
    ] {
        assert_eq!(
            call(addr, "POST", path, Some(body)).status,
            400,
            "{path} {body:.60}"
        );
    }
    server.shutdown();
}

#[test]
fn agents_list_get_patch() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let list = call(addr, "GET", "/v1/agents", None).json();
    assert_eq!(list["agents"].as_array().unwrap().len(), 2);
    assert_eq!(
        call(addr, "GET", "/v1/agents/a1", None).json()["conversations"][0],
        2
    );
    assert_eq!(call(addr, "GET", "/v1/agents/zz", None).status, 404);
    let patched = call(
        addr,
        "PATCH",
        "/v1/agents/a2",
        Some(r#"{"status":"away","capacity":5,"weight":10,"groups":["vip","billing"]}"#),
    );
    assert_eq!(patched.status, 200);
    let a2 = patched.json();
    assert_eq!(
        (
            a2["status"].as_str(),
            a2["capacity"].as_u64(),
            a2["weight"].as_u64()
        ),
        (Some("away"), Some(5), Some(10))
    );
    assert_eq!(a2["groups"][1], "billing");
    let weight_only = call(addr, "PATCH", "/v1/agents/a2", Some(r#"{"weight":0}"#)).json();
    assert_eq!(
        (
            weight_only["weight"].as_u64(),
            weight_only["capacity"].as_u64()
        ),
        (Some(0), Some(5))
    );
    assert_eq!(
        call(addr, "PATCH", "/v1/agents/zz", Some(r#"{"weight":1}"#)).status,
        404
    );
    let many: Vec<String> = (0..33).map(|i| format!("\"g{i}\"")).collect();
    let many = format!(r#"{{"groups":[{}]}}"#, many.join(","));
    for body in [
        "{}",
        r#"{"status":"busy"}"#,
        r#"{"capacity":1001}"#,
        r#"{"capacity":-1}"#,
        r#"{"weight":1001}"#,
        r#"{"weight":1.5}"#,
        r#"{"groups":["a","a"]}"#,
        r#"{"groups":[""]}"#,
        r#"{"groups":"vip"}"#,
        r#"{"colour":"red"}"#,
        many.as_str(),
    ] {
        assert_eq!(
            call(addr, "PATCH", "/v1/agents/a1", Some(body)).status,
            400,
            "{body}"
        );
    }
    server.shutdown();
}

#[test]
fn kicks() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let one = call(
        addr,
        "DELETE",
        "/v1/connections/10",
        Some(r#"{"reason":"bye"}"#),
    );
    assert_eq!((one.status, one.json()["closed"].as_u64()), (200, Some(1)));
    assert_eq!(call(addr, "DELETE", "/v1/connections/10", None).status, 404);
    let user = call(
        addr,
        "DELETE",
        "/v1/users/v1/connections?reason=maintenance",
        None,
    );
    assert_eq!(user.json()["closed"], 2);
    assert_eq!(
        call(addr, "DELETE", "/v1/users/v1/connections", None).json()["closed"],
        0
    );
    {
        let state = engine.state.lock().unwrap();
        assert_eq!(state.kicked[0], (10, "bye".to_owned()));
        assert_eq!(state.kicked[1].1, "maintenance");
    }
    let long = format!(r#"{{"reason":"{}"}}"#, "r".repeat(124));
    for (path, body) in [
        ("/v1/connections/x", None),
        ("/v1/connections/1", Some(long.as_str())),
        ("/v1/connections/1", Some(r#"{"why":"x"}"#)),
        ("/v1/connections/1?reason=a", Some(r#"{"reason":"b"}"#)),
        ("/v1/connections/1?reason=%0a", None),
        ("/v1/users/%20/connections", None),
    ] {
        assert_eq!(call(addr, "DELETE", path, body).status, 400, "{path}");
    }
    server.shutdown();
}

#[test]
fn drain_and_degradation() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    assert_eq!(
        call(addr, "GET", "/v1/drain", None).json()["draining"],
        false
    );
    let started = call(addr, "POST", "/v1/drain", None);
    assert_eq!(started.status, 200);
    assert_eq!(started.json()["draining"], true);
    assert_eq!(
        call(addr, "GET", "/v1/drain", None).json()["connections_left"],
        3
    );
    assert_eq!(
        call(addr, "POST", "/v1/drain", Some(r#"{"force":true}"#)).status,
        400
    );

    assert_eq!(
        call(addr, "GET", "/v1/degradation", None).json()["pinned"],
        false
    );
    let pinned = call(addr, "PUT", "/v1/degradation", Some(r#"{"level":2}"#)).json();
    assert_eq!(
        (pinned["level"].as_u64(), pinned["pinned"].as_bool()),
        (Some(2), Some(true))
    );
    let auto = call(addr, "PUT", "/v1/degradation", Some(r#"{"level":null}"#)).json();
    assert_eq!(auto["pinned"], false);
    for body in [
        None,
        Some("{}"),
        Some(r#"{"level":4}"#),
        Some(r#"{"level":-1}"#),
        Some(r#"{"level":"2"}"#),
        Some(r#"{"level":1,"x":1}"#),
        Some("[1]"),
    ] {
        assert_eq!(
            call(addr, "PUT", "/v1/degradation", body).status,
            400,
            "{body:?}"
        );
    }
    server.shutdown();
}

#[test]
fn unknown_routes_and_wrong_methods() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    for path in [
        "/",
        "/v1",
        "/v1/stats/",
        "/v2/stats",
        "/v1/conversations/1/nope",
        "/v1/agents/a1/x",
    ] {
        let answer = call(addr, "GET", path, None);
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (404, "no_route"),
            "{path}"
        );
    }
    let wrong = call(addr, "DELETE", "/v1/degradation", None);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, PUT"));
    assert_eq!(wrong.code(), "method_not_allowed");
    assert_eq!(
        call(addr, "POST", "/v1/stats", None).header("allow"),
        Some("GET")
    );
    assert_eq!(call(addr, "HEAD", "/livez", None).status, 405);
    server.shutdown();
}

#[test]
fn a_panicking_engine_answers_500_internal_and_the_server_lives_on() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let answer = call(addr, "GET", &format!("/v1/conversations/{PANIC_ID}"), None);
    assert_eq!((answer.status, answer.code().as_str()), (500, "internal"));
    assert_eq!(call(addr, "GET", "/v1/stats", None).status, 200);
    server.shutdown();
}

#[test]
fn nodes_lists_the_cluster_and_answers_503_without_a_listing() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let answer = call(addr, "GET", "/v1/nodes", None);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let view: switchboard_control_api::model::NodesView =
        serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(view, cluster_nodes());
    let json = answer.json();
    assert_eq!(json["mode"], "cluster");
    assert_eq!(json["redis"]["connected"], true);
    assert!(json["redis"]["last_error"].is_null());
    assert_eq!(json["nodes"][0]["this_node"], true);
    assert_eq!(json["nodes"][1]["number"], 2);
    assert!(json["nodes"][1]["control"].is_null());

    // Single mode: no Redis, the field is null (not absent).
    engine.state.lock().unwrap().nodes = Some(switchboard_control_api::model::NodesView {
        mode: "single".into(),
        redis: None,
        nodes: vec![cluster_nodes().nodes[0].clone()],
    });
    let single = call(addr, "GET", "/v1/nodes", None).json();
    assert_eq!(single["mode"], "single");
    assert!(single.as_object().unwrap()["redis"].is_null());

    assert_eq!(call(addr, "GET", "/v1/nodes?x=1", None).code(), "invalid");
    assert_eq!(call(addr, "GET", "/v1/nodes", Some("{}")).status, 400);
    assert_eq!(
        call(addr, "POST", "/v1/nodes", None).header("allow"),
        Some("GET")
    );
    assert_eq!(
        request(addr, "GET", "/v1/nodes", None, None).code(),
        "unauthorized"
    );

    // An engine without a listing (the trait's default).
    engine.state.lock().unwrap().nodes = None;
    let none = call(addr, "GET", "/v1/nodes", None);
    assert_eq!((none.status, none.code().as_str()), (503, "unavailable"));
    assert_eq!(
        none.json()["error"]["message"],
        "node listing is not available"
    );
    server.shutdown();
}
