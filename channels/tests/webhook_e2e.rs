//! Signed webhooks both ways, end to end on loopback: the inbound JSON channel
//! through the hub, and the outbound dispatcher against real HTTP receivers.

mod support;

use support::event_log::EventLog;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::eventually;
use support::receiver::{Received, Receiver};
use support::sink::RecordingSink;
use switchboard_channels::clock::{Clock, SystemClock};
use switchboard_channels::webhook::signature::{sign, verify};
use switchboard_channels::webhook::{DispatcherLimits, EventKind, Subscription};
use switchboard_channels::{
    ChannelHub, DeliveryOutcome, HubConfig, Identity, OutboundLine, VisitorContent,
    WebhookDispatcher,
};

const WAIT: Duration = Duration::from_secs(15);
const SECRET: &str = "inbound-secret-0123456789";
const REPLY_SECRET: &str = "reply-secret-0123456789";
const SUB_SECRET: &str = "subscription-secret-0123";

fn now() -> u64 {
    SystemClock.unix_secs()
}

// ---------------------------------------------------------------- inbound channel

struct Inbound {
    sink: Arc<RecordingSink>,
    hub: ChannelHub,
    replies: Receiver,
    agent: ureq::Agent,
}

fn inbound() -> Inbound {
    let replies = Receiver::ok();
    let config = HubConfig::parse(&format!(
        r#"
listen = "127.0.0.1:0"
[[account]]
name = "crm"
kind = "webhook"
path = "/hooks/crm"
[account.settings]
secret = "{SECRET}"
reply_url = "{}"
reply_secret = "{REPLY_SECRET}"
"#,
        replies.url("/replies")
    ))
    .expect("valid");
    let sink = Arc::new(RecordingSink::default());
    let hub = ChannelHub::builder(config)
        .start(sink.clone())
        .expect("starts");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    Inbound {
        sink,
        hub,
        replies,
        agent,
    }
}

impl Inbound {
    fn post(
        &self,
        body: &str,
        signature: Option<String>,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .agent
            .post(format!("http://{}/hooks/crm", self.hub.local_addr()))
            .header("Content-Type", "application/json");
        if let Some(signature) = signature {
            request = request.header("Switchboard-Signature", signature);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let mut response = request.send(body.as_bytes()).expect("an answer");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("a body");
        (status, serde_json::from_str(&text).expect("json"))
    }

    fn signed(&self, body: &str, key: Option<&str>) -> (u16, serde_json::Value) {
        self.post(
            body,
            Some(sign(SECRET.as_bytes(), now(), body.as_bytes())),
            key,
        )
    }
}

#[test]
fn a_signed_post_becomes_one_event_per_idempotency_key_and_replies_go_back_signed() {
    let w = inbound();
    let body = r#"{"visitor":"cust-42","type":"text","text":"my order is late"}"#;
    assert_eq!(
        w.signed(body, Some("k-1")),
        (202, serde_json::json!({"accepted": true}))
    );
    assert_eq!(
        w.signed(body, Some("k-1")),
        (202, serde_json::json!({"accepted": true})),
        "a retry is acknowledged"
    );
    let location = r#"{"visitor":"cust-42","type":"location","latitude":48.85,"longitude":2.35}"#;
    assert_eq!(w.signed(location, Some("k-2")).0, 202);
    let events = w.sink.wait_events(2, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(w.sink.events().len(), 2, "the retry gave no second event");
    assert_eq!(events[0].identity.as_str(), "webhook:crm:cust-42");
    assert_eq!(
        events[0].content,
        VisitorContent::Text {
            text: "my order is late".into()
        }
    );
    assert!(matches!(events[1].content, VisitorContent::Location { .. }));

    w.hub
        .send_outbound(OutboundLine {
            conv: 11,
            seq: 4,
            account: "crm".into(),
            identity: Identity::new("webhook", "crm", "cust-42"),
            body: "It ships tomorrow.".into(),
        })
        .expect("queued");
    assert_eq!(
        w.sink.wait_reports(1, WAIT)[0].outcome,
        DeliveryOutcome::Delivered
    );
    let reply = &w.replies.requests()[0];
    let header = reply.header("switchboard-signature").expect("signed");
    verify(header, REPLY_SECRET.as_bytes(), &reply.body, now(), 60)
        .expect("signed with the reply secret");
    assert_eq!(reply.header("idempotency-key"), Some("11:4"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"conv": 11, "seq": 4, "visitor": "cust-42", "text": "It ships tomorrow."})
    );
}

#[test]
fn bad_signatures_replays_and_malformed_bodies_are_refused() {
    let w = inbound();
    let body = r#"{"visitor":"v1","type":"text","text":"hi"}"#;
    let refused = |reason: &str| serde_json::json!({ "error": reason });
    assert_eq!(w.post(body, None, None), (401, refused("bad_signature")));
    assert_eq!(
        w.post(
            body,
            Some(sign(b"wrong-secret-0123456", now(), body.as_bytes())),
            None
        ),
        (401, refused("bad_signature"))
    );
    assert_eq!(
        w.post(body, Some("t=1,v1=zz".into()), None),
        (401, refused("bad_signature"))
    );
    let old = sign(SECRET.as_bytes(), now() - 3600, body.as_bytes());
    assert_eq!(w.post(body, Some(old), None), (403, refused("stale")));
    assert_eq!(w.signed("{not json", None), (400, refused("malformed")));
    assert_eq!(
        w.signed(
            r#"{"visitor":"bad visitor!","type":"text","text":"x"}"#,
            None
        ),
        (400, refused("malformed"))
    );
    assert_eq!(
        w.signed(
            r#"{"visitor":"v","type":"text","text":"x"}"#,
            Some(&"k".repeat(300))
        ),
        (400, refused("malformed"))
    );
    assert!(w.sink.events().is_empty());
}

#[test]
fn a_busy_engine_gets_a_503_and_the_retry_is_taken() {
    let w = inbound();
    w.sink.refuse_next(1);
    let body = r#"{"visitor":"v2","type":"text","text":"anyone?"}"#;
    assert_eq!(
        w.signed(body, Some("k-busy")),
        (503, serde_json::json!({"error": "busy"}))
    );
    assert_eq!(
        w.signed(body, Some("k-busy")).0,
        202,
        "the key was released"
    );
    assert_eq!(w.sink.wait_events(1, WAIT).len(), 1);
}

// ---------------------------------------------------------------- outbound dispatcher

fn limits() -> DispatcherLimits {
    DispatcherLimits {
        max_attempts: 5,
        backoff_initial_ms: 5,
        backoff_max_ms: 20,
        cursor_flush_ms: 10,
        ..DispatcherLimits::default()
    }
}

fn subscription(receiver: &Receiver, events: Vec<EventKind>) -> Subscription {
    Subscription {
        name: "crm".into(),
        url: receiver.url("/events"),
        secret: SUB_SECRET.into(),
        events,
    }
}

fn start(
    receiver: &Receiver,
    log: &Arc<EventLog>,
    dir: &Path,
    limits: &DispatcherLimits,
) -> WebhookDispatcher {
    WebhookDispatcher::start(
        &[subscription(receiver, Vec::new())],
        limits,
        dir,
        log.clone(),
        Arc::new(SystemClock),
    )
    .expect("starts")
}

fn event_id(request: &Received) -> u64 {
    request.json()["id"].as_u64().expect("an id")
}

/// Delivered event ids, each once.
fn delivered_ids(receiver: &Receiver) -> Vec<u64> {
    let mut ids: Vec<u64> = receiver.accepted().iter().map(event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn publish(dispatcher: &WebhookDispatcher, log: &EventLog, conv: u64, kind: EventKind) -> u64 {
    let event = log.append(conv, kind);
    dispatcher.publish(&event);
    event.id
}

#[test]
fn a_failing_receiver_still_gets_every_event_once_in_order_per_conversation() {
    // Conversation 1's events fail twice each, conversation 2's once, 3's never.
    let receiver = Receiver::with_policy(Box::new(|request, before| {
        let failures = match request.json()["conv"].as_u64() {
            Some(1) => 2,
            Some(2) => 1,
            _ => 0,
        };
        if before < failures {
            500
        } else {
            200
        }
    }));
    let log = Arc::new(EventLog::default());
    let dir = tempfile::tempdir().expect("dir");
    let dispatcher = start(&receiver, &log, dir.path(), &limits());
    let kinds = [
        EventKind::Created,
        EventKind::Assigned,
        EventKind::Message,
        EventKind::Transferred,
        EventKind::Ended,
    ];
    for round in 0..4 {
        for conv in 1..=3 {
            publish(
                &dispatcher,
                &log,
                conv,
                kinds[(round + conv as usize) % kinds.len()],
            );
        }
    }
    assert!(
        eventually(WAIT, || delivered_ids(&receiver).len() == 12),
        "{:?}",
        delivered_ids(&receiver)
    );
    assert_eq!(delivered_ids(&receiver), (1..=12).collect::<Vec<_>>());

    let requests = receiver.requests();
    let mut per_conv: HashMap<u64, Vec<u64>> = HashMap::new();
    for request in &requests {
        let header = request.header("switchboard-signature").expect("signed");
        verify(header, SUB_SECRET.as_bytes(), &request.body, now(), 60).expect("a valid signature");
        assert_eq!(
            request.header("switchboard-event-id"),
            Some(event_id(request).to_string().as_str())
        );
        per_conv
            .entry(request.json()["conv"].as_u64().unwrap())
            .or_default()
            .push(event_id(request));
    }
    for (conv, attempts) in &per_conv {
        // Every attempt of a conversation's event comes after its predecessor was
        // delivered: the ids of the attempts never go down.
        assert!(
            attempts.windows(2).all(|w| w[0] <= w[1]),
            "conv {conv}: {attempts:?}"
        );
    }
    assert_eq!(per_conv[&1].len(), 12, "four events, three attempts each");
    assert_eq!(per_conv[&3].len(), 4);
    let stats = dispatcher.stats("crm").expect("known");
    assert!(eventually(WAIT, || stats
        .cursor
        .load(std::sync::atomic::Ordering::Relaxed)
        == 12));
    assert_eq!(stats.retried.load(std::sync::atomic::Ordering::Relaxed), 12);
    assert!(dispatcher
        .render_metrics()
        .contains("switchboard_webhook_delivered_total{subscription=\"crm\"} 12"));
}

#[test]
fn a_restarted_dispatcher_resumes_from_its_cursor() {
    let receiver = Receiver::ok();
    let log = Arc::new(EventLog::default());
    log.append(1, EventKind::Created); // history before the subscription existed
    let dir = tempfile::tempdir().expect("dir");
    // Event 6 must still be retrying (not dead-lettered) when the dispatcher stops.
    let limits = DispatcherLimits {
        max_attempts: 1000,
        ..limits()
    };
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    for conv in [1, 2, 1, 2] {
        publish(&dispatcher, &log, conv, EventKind::Message);
    }
    assert!(
        eventually(WAIT, || delivered_ids(&receiver) == [2, 3, 4, 5]),
        "{:?}",
        delivered_ids(&receiver)
    );

    // The receiver goes down; event 6 cannot be delivered before the stop.
    receiver.set_policy(Box::new(|_, _| 503));
    publish(&dispatcher, &log, 3, EventKind::Message);
    assert!(eventually(WAIT, || receiver
        .requests()
        .iter()
        .any(|r| event_id(r) == 6)));
    dispatcher.shutdown();
    let cursor = std::fs::read_to_string(dir.path().join("crm.cursor")).expect("a cursor file");
    assert_eq!(cursor, r#"{"version":1,"cursor":5}"#);

    // While it is down, the engine logs more events (nobody publishes them).
    log.append(2, EventKind::Ended);
    log.append(4, EventKind::Created);
    receiver.set_policy(Box::new(|_, _| 200));
    let before = receiver.requests().len();
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    assert!(
        eventually(WAIT, || delivered_ids(&receiver) == [2, 3, 4, 5, 6, 7, 8]),
        "{:?}",
        delivered_ids(&receiver)
    );
    let after_restart: Vec<u64> = receiver.requests()[before..].iter().map(event_id).collect();
    assert_eq!(
        after_restart,
        [6, 7, 8],
        "resumed after the cursor, nothing earlier again"
    );
    publish(&dispatcher, &log, 1, EventKind::Ended);
    assert!(eventually(WAIT, || delivered_ids(&receiver).contains(&9)));
}

#[test]
fn dead_letters_are_listed_kept_across_restarts_and_redelivered_on_demand() {
    // Conversation 9 is refused for good; conversation 8 is fine.
    let receiver = Receiver::refusing_conv(9);
    let log = Arc::new(EventLog::default());
    let dir = tempfile::tempdir().expect("dir");
    let limits = DispatcherLimits {
        max_attempts: 3,
        ..limits()
    };
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    let dead_id = publish(&dispatcher, &log, 9, EventKind::Created);
    let next_id = publish(&dispatcher, &log, 9, EventKind::Message);
    publish(&dispatcher, &log, 8, EventKind::Created);
    assert!(eventually(WAIT, || dispatcher
        .dead_letters("crm")
        .expect("known")
        .len()
        == 2));
    let dead = dispatcher.dead_letters("crm").expect("known");
    assert_eq!(
        dead.iter().map(|d| d.event.id).collect::<Vec<_>>(),
        [dead_id, next_id]
    );
    assert!(dead
        .iter()
        .all(|d| d.attempts == 3 && d.last_error == "http 500"));
    assert!(delivered_ids(&receiver).contains(&3));
    assert!(dispatcher.dead_letters("nope").is_err());
    dispatcher.shutdown();

    // They survive a restart.
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    assert_eq!(dispatcher.dead_letters("crm").expect("known").len(), 2);
    receiver.set_policy(Box::new(|_, _| 200));
    assert_eq!(
        dispatcher
            .redeliver("crm", Some(vec![dead_id]))
            .expect("queued"),
        1
    );
    assert!(eventually(WAIT, || dispatcher
        .dead_letters("crm")
        .expect("known")
        .len()
        == 1));
    assert_eq!(dispatcher.redeliver("crm", None).expect("queued"), 1);
    assert!(eventually(WAIT, || dispatcher
        .dead_letters("crm")
        .expect("known")
        .is_empty()));
    assert_eq!(delivered_ids(&receiver), [1, 2, 3]);
    dispatcher.shutdown();
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    assert!(
        dispatcher.dead_letters("crm").expect("known").is_empty(),
        "the emptied list was stored"
    );
}

#[test]
fn an_overflowing_queue_is_caught_up_from_the_log() {
    let receiver = Receiver::with_policy(Box::new(|_, _| {
        std::thread::sleep(Duration::from_millis(1));
        200
    }));
    let log = Arc::new(EventLog::default());
    let dir = tempfile::tempdir().expect("dir");
    let limits = DispatcherLimits {
        queue: 2,
        max_in_flight: 4,
        catch_up_batch: 3,
        ..limits()
    };
    let dispatcher = start(&receiver, &log, dir.path(), &limits);
    for n in 0..120u64 {
        publish(&dispatcher, &log, n % 5, EventKind::Message);
    }
    assert!(
        eventually(WAIT, || delivered_ids(&receiver).len() == 120),
        "{}",
        delivered_ids(&receiver).len()
    );
    assert_eq!(delivered_ids(&receiver), (1..=120).collect::<Vec<_>>());
    let stats = dispatcher.stats("crm").expect("known");
    assert!(stats.overflowed.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(stats.log_reads.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let mut last: HashMap<u64, u64> = HashMap::new();
    for request in receiver.accepted() {
        let conv = request.json()["conv"].as_u64().unwrap();
        let id = event_id(&request);
        assert!(
            last.get(&conv).is_none_or(|prev| *prev < id),
            "conv {conv} out of order"
        );
        last.insert(conv, id);
    }
}

#[test]
fn a_subscription_gets_only_the_kinds_it_asked_for() {
    let receiver = Receiver::ok();
    let log = Arc::new(EventLog::default());
    let dir = tempfile::tempdir().expect("dir");
    let sub = subscription(&receiver, vec![EventKind::Ended, EventKind::Handoff]);
    let dispatcher = WebhookDispatcher::start(
        &[sub],
        &limits(),
        dir.path(),
        log.clone(),
        Arc::new(SystemClock),
    )
    .expect("starts");
    for kind in [
        EventKind::Created,
        EventKind::Handoff,
        EventKind::Message,
        EventKind::Ended,
    ] {
        publish(&dispatcher, &log, 1, kind);
    }
    assert!(eventually(WAIT, || delivered_ids(&receiver) == [2, 4]));
    let stats = dispatcher.stats("crm").expect("known");
    assert!(
        eventually(WAIT, || stats
            .cursor
            .load(std::sync::atomic::Ordering::Relaxed)
            == 4),
        "skipped kinds move the cursor"
    );
}
