//! The hub itself: the example device adapter end to end, reloads, outbound queue
//! limits and rate limits, and a custom adapter kind registered by the engine.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use support::receiver::Receiver;
use support::sink::RecordingSink;
use switchboard_channels::adapter::{
    Accepted, BuildContext, DeliveryError, HttpReply, InboundRequest, Refusal,
};
use switchboard_channels::config::{AccountSpec, ConfigError};
use switchboard_channels::{
    Adapter, AdapterKind, AdapterRegistry, ChannelHub, DeliveryOutcome, HubConfig, HubError,
    Identity, OutboundLine, OutboundRefused, VisitorContent,
};

const WAIT: Duration = Duration::from_secs(10);

fn device_account(name: &str, path: &str, callback: &str, extra: &str) -> String {
    format!(
        r#"
[[account]]
name = "{name}"
kind = "device"
path = "{path}"
{extra}
[account.settings]
key = "kiosk-key-1234"
callback_url = "{callback}"
"#
    )
}

fn config(hub: &str, accounts: &[String]) -> HubConfig {
    HubConfig::parse(&format!(
        "listen = \"127.0.0.1:0\"\n{hub}\n{}",
        accounts.concat()
    ))
    .expect("valid")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn post(hub: &ChannelHub, path: &str, body: &str) -> u16 {
    agent()
        .post(format!("http://{}{path}", hub.local_addr()))
        .send(body.as_bytes())
        .expect("an answer")
        .status()
        .as_u16()
}

fn line(account: &str, device: &str, conv: u64, seq: u64, body: &str) -> OutboundLine {
    OutboundLine {
        conv,
        seq,
        account: account.into(),
        identity: Identity::new("device", account, device),
        body: body.into(),
    }
}

#[test]
fn the_example_device_adapter_works_end_to_end() {
    let callback = Receiver::ok();
    let sink = Arc::new(RecordingSink::default());
    let accounts = [device_account(
        "lobby",
        "/devices/lobby",
        &callback.url("/screen"),
        "",
    )];
    let hub = ChannelHub::builder(config("", &accounts))
        .start(sink.clone())
        .expect("starts");
    let hello = r#"{"device":"kiosk-1","key":"kiosk-key-1234","seq":1,"text":"I need help"}"#;
    assert_eq!(post(&hub, "/devices/lobby", hello), 200);
    assert_eq!(post(&hub, "/devices/lobby", hello), 200, "a resend");
    assert_eq!(
        post(
            &hub,
            "/devices/lobby",
            r#"{"device":"kiosk-1","key":"wrong-key-000","seq":2,"text":"x"}"#
        ),
        401
    );
    assert_eq!(post(&hub, "/devices/lobby", "not json"), 400);
    let events = sink.wait_events(1, WAIT);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sink.events().len(), 1);
    assert_eq!(events[0].identity.as_str(), "device:lobby:kiosk-1");
    assert_eq!(
        events[0].content,
        VisitorContent::Text {
            text: "I need help".into()
        }
    );

    hub.send_outbound(line("lobby", "kiosk-1", 1, 1, "Someone is coming."))
        .expect("queued");
    assert_eq!(
        sink.wait_reports(1, WAIT)[0].outcome,
        DeliveryOutcome::Delivered
    );
    assert_eq!(
        callback.requests()[0].json(),
        serde_json::json!({"device": "kiosk-1", "text": "Someone is coming."})
    );
}

#[test]
fn reload_adds_removes_and_changes_accounts_without_touching_the_others() {
    let callback = Receiver::ok();
    let sink = Arc::new(RecordingSink::default());
    let url = callback.url("/cb");
    let keep = device_account("keep", "/d/keep", &url, "");
    let gone = device_account("gone", "/d/gone", &url, "");
    let hub = ChannelHub::builder(config("", &[keep.clone(), gone]))
        .start(sink.clone())
        .expect("starts");
    let hello =
        |seq: u64| format!(r#"{{"device":"k1","key":"kiosk-key-1234","seq":{seq},"text":"hi"}}"#);
    assert_eq!(post(&hub, "/d/keep", &hello(1)), 200);
    assert_eq!(post(&hub, "/d/gone", &hello(1)), 200);

    let changed = device_account("keep", "/d/keep-moved", &url, "");
    let added = device_account("added", "/d/added", &url, "");
    let summary = hub
        .reload(config("", &[keep.clone(), added.clone()]))
        .expect("reloads");
    assert_eq!(
        (summary.added, summary.removed, summary.unchanged),
        (
            vec!["added".to_owned()],
            vec!["gone".to_owned()],
            vec!["keep".to_owned()]
        )
    );
    assert_eq!(post(&hub, "/d/gone", &hello(2)), 404);
    assert_eq!(post(&hub, "/d/added", &hello(1)), 200);
    // The unchanged account kept its dedupe window: its resend is still a duplicate.
    assert_eq!(post(&hub, "/d/keep", &hello(1)), 200);
    assert_eq!(sink.wait_events(3, WAIT).len(), 3);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sink.events().len(), 3, "keep:1 was not taken twice");

    let summary = hub
        .reload(config("", &[changed, added.clone()]))
        .expect("reloads");
    assert_eq!(summary.changed, ["keep"]);
    assert_eq!(post(&hub, "/d/keep", &hello(5)), 404);
    assert_eq!(post(&hub, "/d/keep-moved", &hello(5)), 200);

    let broken = device_account("broken", "/d/broken", "ftp://nowhere", "")
        .replace("kiosk-key-1234", "short");
    assert!(matches!(
        hub.reload(config("", &[keep.clone(), broken])),
        Err(HubError::Config(ConfigError::Settings { .. }))
    ));
    assert_eq!(
        post(&hub, "/d/added", &hello(9)),
        200,
        "a failed reload changed nothing"
    );
    let mut other_listen = config("", &[keep]);
    other_listen.listen = "127.0.0.1:1".parse().expect("addr");
    assert!(matches!(
        hub.reload(other_listen),
        Err(HubError::NeedsRestart("listen"))
    ));
}

#[test]
fn a_full_outbound_queue_answers_at_once_and_unknown_accounts_are_refused() {
    // The device never answers quickly: each delivery holds the single worker.
    let slow = Receiver::with_policy(Box::new(|_, _| {
        std::thread::sleep(Duration::from_millis(300));
        200
    }));
    let sink = Arc::new(RecordingSink::default());
    let accounts = [device_account("slow", "/d/slow", &slow.url("/cb"), "")];
    let hub = ChannelHub::builder(config(
        "[hub]\noutbound_workers = 1\noutbound_queue = 3",
        &accounts,
    ))
    .start(sink.clone())
    .expect("starts");
    for seq in 1..=3 {
        hub.send_outbound(line("slow", "k", 1, seq, "x"))
            .expect("room for three");
    }
    let started = Instant::now();
    assert_eq!(
        hub.send_outbound(line("slow", "k", 2, 1, "x")),
        Err(OutboundRefused::QueueFull(3))
    );
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "never blocks"
    );
    assert_eq!(
        hub.send_outbound(line("nobody", "k", 1, 1, "x")),
        Err(OutboundRefused::UnknownAccount("nobody".into()))
    );
    assert_eq!(hub.metrics().outbound_queue_depth(), 3);
    assert_eq!(sink.wait_reports(3, WAIT).len(), 3);
    assert!(support::eventually(WAIT, || hub
        .metrics()
        .outbound_queue_depth()
        == 0));
    hub.send_outbound(line("slow", "k", 2, 1, "x"))
        .expect("room again");
}

#[test]
fn the_outbound_rate_limit_paces_deliveries_and_failures_retry_in_order() {
    // The first attempt of every line fails; 10 lines/s with a burst of 2.
    let device = Receiver::with_policy(Box::new(|_, before| if before == 0 { 503 } else { 200 }));
    let sink = Arc::new(RecordingSink::default());
    let extra = "[account.rate]\nper_second = 10.0\nburst = 2\n[account.limits]\nbackoff_initial_ms = 5\nbackoff_max_ms = 10";
    let accounts = [device_account(
        "paced",
        "/d/paced",
        &device.url("/cb"),
        extra,
    )];
    let hub = ChannelHub::builder(config("", &accounts))
        .start(sink.clone())
        .expect("starts");
    let started = Instant::now();
    for seq in 1..=4 {
        hub.send_outbound(line("paced", "k", 5, seq, &format!("line {seq}")))
            .expect("queued");
    }
    let reports = sink.wait_reports(4, WAIT);
    // 8 attempts at 10/s after a burst of 2: at least 0.6 s.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.seq, r.attempts))
            .collect::<Vec<_>>(),
        [(1, 2), (2, 2), (3, 2), (4, 2)]
    );
    let texts: Vec<String> = device
        .accepted()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["line 1", "line 2", "line 3", "line 4"]);
    let text = hub.metrics().render();
    assert!(
        text.contains("switchboard_channels_outbound_retries_total{account=\"paced\"} 4"),
        "{text}"
    );
}

/// A kind the engine could register itself: answers every request with its own text.
struct EchoKind;

#[derive(Debug)]
struct Echo;

impl Adapter for Echo {
    fn inbound(&self, request: &InboundRequest<'_>, _now: SystemTime) -> Result<Accepted, Refusal> {
        Ok(Accepted {
            events: Vec::new(),
            reply: HttpReply::text(200, format!("echo {}", request.query)),
        })
    }

    fn deliver(&self, _line: &OutboundLine, _now: SystemTime) -> Result<(), DeliveryError> {
        Ok(())
    }
}

impl AdapterKind for EchoKind {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn build(
        &self,
        _account: &AccountSpec,
        _context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        Ok(Arc::new(Echo))
    }
}

#[test]
fn kinds_are_looked_up_in_the_registry() {
    let echo = "[[account]]\nname = \"e\"\nkind = \"echo\"\npath = \"/e\"\n".to_owned();
    let sink = Arc::new(RecordingSink::default());
    let builtin = ChannelHub::builder(config("", std::slice::from_ref(&echo))).start(sink.clone());
    assert!(matches!(
        builtin,
        Err(HubError::Config(ConfigError::UnknownKind { .. }))
    ));
    let mut registry = AdapterRegistry::with_builtin();
    registry.register(Arc::new(EchoKind));
    assert_eq!(registry.names(), ["device", "echo", "webhook", "wechat"]);
    let hub = ChannelHub::builder(config("", &[echo]))
        .registry(registry)
        .start(sink)
        .expect("starts");
    let mut answer = agent()
        .get(format!("http://{}/e?x=1", hub.local_addr()))
        .call()
        .expect("answer");
    assert_eq!(
        answer.body_mut().read_to_string().expect("body"),
        "echo x=1"
    );
}

#[test]
fn configuration_errors_are_reported() {
    let bad = [
        ("listen = \"127.0.0.1:0\"\n[[account]]\nname = \"a b\"\nkind = \"device\"\npath = \"/a\"", "name"),
        ("listen = \"127.0.0.1:0\"\n[[account]]\nname = \"a\"\nkind = \"device\"\npath = \"a\"", "path"),
        ("listen = \"127.0.0.1:0\"\n[hub]\noutbound_queue = 0", "outbound_queue"),
        ("listen = \"127.0.0.1:0\"\n[hub]\nunknown = 1", "unknown"),
        ("listen = \"127.0.0.1:0\"\n[[account]]\nname = \"a\"\nkind = \"device\"\npath = \"/a\"\n[account.limits]\nbackoff_initial_ms = 10\nbackoff_max_ms = 5", "backoff_max_ms"),
    ];
    for (text, needle) in bad {
        let error = HubConfig::parse(text).expect_err(needle).to_string();
        assert!(error.contains(needle), "{error}");
    }
    let twice = format!(
        "listen = \"127.0.0.1:0\"\n{}{}",
        device_account("a", "/a", "http://x", ""),
        device_account("a", "/b", "http://x", "")
    );
    assert!(HubConfig::parse(&twice)
        .expect_err("dup")
        .to_string()
        .contains("used twice"));
}
