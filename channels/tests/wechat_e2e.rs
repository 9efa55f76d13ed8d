//! WeChat Official Account end to end: a simulated platform and its followers on
//! loopback, the hub between them, and a recording sink as the engine.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::sink::RecordingSink;
use support::wechat_sim::{WechatSim, AES_KEY, APP_ID, APP_SECRET, TOKEN};
use switchboard_channels::adapter::RefusalReason;
use switchboard_channels::clock::{Clock, ShiftedClock};
use switchboard_channels::wechat::crypto::{signature, MsgCrypt};
use switchboard_channels::wechat::xml::encrypted_envelope;
use switchboard_channels::{
    ChannelHub, DeliveryFailure, DeliveryOutcome, HubConfig, Identity, OutboundLine, VisitorContent,
};

const PATH: &str = "/wechat/shop";
const WAIT: Duration = Duration::from_secs(10);

fn config(api_base: &str, mode: &str, refresh_margin_secs: u64) -> HubConfig {
    HubConfig::parse(&format!(
        r#"
listen = "127.0.0.1:0"
[hub]
outbound_workers = 2
[[account]]
name = "shop"
kind = "wechat"
path = "{PATH}"
[account.limits]
max_body_bytes = 8192
backoff_initial_ms = 10
backoff_max_ms = 40
[account.settings]
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
mode = "{mode}"
api_base = "{api_base}"
token_refresh_margin_secs = {refresh_margin_secs}
"#
    ))
    .expect("a valid configuration")
}

struct World {
    clock: Arc<ShiftedClock>,
    sim: WechatSim,
    sink: Arc<RecordingSink>,
    hub: ChannelHub,
}

fn world_with(token_ttl_secs: u64, mode: &str, refresh_margin_secs: u64) -> World {
    let clock = Arc::new(ShiftedClock::new());
    let sim = WechatSim::start(Arc::clone(&clock), token_ttl_secs);
    let sink = Arc::new(RecordingSink::default());
    let hub = ChannelHub::builder(config(&sim.base(), mode, refresh_margin_secs))
        .clock(clock.clone())
        .start(sink.clone())
        .expect("the hub starts");
    World {
        clock,
        sim,
        sink,
        hub,
    }
}

fn world() -> World {
    world_with(7200, "safe", 300)
}

impl World {
    /// A follower who has just written to the account (so replies are in window).
    fn greeted(&self, open_id: &str, msg_id: u64) -> support::wechat_sim::Follower<'_> {
        let follower = self.follower(open_id, Duration::from_secs(5));
        assert_eq!(
            follower.post(&follower.text_xml("hi", msg_id)).answer,
            success()
        );
        follower
    }

    fn follower(&self, open_id: &str, timeout: Duration) -> support::wechat_sim::Follower<'_> {
        self.sim
            .follower(open_id, self.hub.local_addr(), PATH, timeout)
    }

    /// An agent's line to `open_id`, queued.
    fn reply(&self, conv: u64, seq: u64, open_id: &str, body: &str) {
        self.hub
            .send_outbound(line(conv, seq, open_id, body))
            .expect("queued");
    }
}

fn line(conv: u64, seq: u64, open_id: &str, body: &str) -> OutboundLine {
    OutboundLine {
        conv,
        seq,
        account: "shop".into(),
        identity: Identity::new("wechat", APP_ID, open_id),
        body: body.into(),
    }
}

fn success() -> Option<(u16, String)> {
    Some((200, "success".into()))
}

#[test]
fn a_follower_message_reaches_the_engine_and_the_agent_reply_reaches_the_follower() {
    let w = world();
    let follower = w.follower("oUser_1", Duration::from_secs(5));
    let posted = follower.post(&follower.text_xml("where is my parcel?", 1001));
    assert_eq!(posted.answer, success());
    assert_eq!(posted.attempts, 1);

    let events = w.sink.wait_events(1, WAIT);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.account, "shop");
    assert_eq!(event.identity.as_str(), format!("wechat:{APP_ID}:oUser_1"));
    assert_eq!(
        event.content,
        VisitorContent::Text {
            text: "where is my parcel?".into()
        }
    );
    assert_eq!(event.platform_msg_id.as_deref(), Some("1001"));

    w.reply(7, 1, "oUser_1", "It left the warehouse today.");
    let reports = w.sink.wait_reports(1, WAIT);
    assert_eq!((reports[0].conv, reports[0].seq), (7, 1));
    assert_eq!(reports[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        w.sim.delivered(),
        vec![(
            "oUser_1".to_owned(),
            "It left the warehouse today.".to_owned()
        )]
    );
    assert_eq!(w.sim.tokens_issued(), 1);
}

#[test]
fn retried_and_duplicated_posts_give_exactly_one_event() {
    let w = world();
    // The first answer comes after the follower gave up waiting: WeChat retries.
    w.sink.delay_first(Duration::from_millis(800));
    let follower = w.sim.follower(
        "oUser_2",
        w.hub.local_addr(),
        PATH,
        Duration::from_millis(300),
    );
    let posted = follower.post(&follower.text_xml("hello?", 2002));
    assert!(posted.attempts >= 2, "{posted:?}");
    assert_eq!(posted.answer, success());
    // The same message again, freshly encrypted (new nonce, same MsgId).
    assert_eq!(
        follower.post(&follower.text_xml("hello?", 2002)).answer,
        success()
    );

    assert_eq!(w.sink.wait_events(1, WAIT).len(), 1);
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(w.sink.events().len(), 1, "exactly one event");
    let shop = w.hub.metrics().account("shop");
    assert!(
        shop.inbound_duplicates
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[test]
fn an_invalid_or_expired_access_token_is_refreshed_once_and_the_reply_still_arrives() {
    let w = world();
    w.greeted("oUser_3", 3003);
    w.reply(3, 1, "oUser_3", "first");
    w.sink.wait_reports(1, WAIT);
    assert_eq!((w.sim.tokens_issued(), w.sim.send_calls()), (1, 1));

    // Another client took a new token: the platform answers 40001.
    w.sim.revoke_tokens();
    w.reply(3, 2, "oUser_3", "second");
    let reports = w.sink.wait_reports(2, WAIT);
    assert_eq!(reports[1].outcome, DeliveryOutcome::Delivered);
    assert_eq!(reports[1].attempts, 1, "refreshed inside one attempt");
    assert_eq!(
        (w.sim.tokens_issued(), w.sim.send_calls()),
        (2, 3),
        "one refresh, one retry"
    );

    // The platform expired it early: 42001.
    w.sim.expire_tokens();
    w.reply(3, 3, "oUser_3", "third");
    let reports = w.sink.wait_reports(3, WAIT);
    assert_eq!(
        (reports[2].outcome.clone(), reports[2].attempts),
        (DeliveryOutcome::Delivered, 1)
    );
    assert_eq!((w.sim.tokens_issued(), w.sim.send_calls()), (3, 5));
    assert_eq!(w.sim.delivered_texts(), ["first", "second", "third"]);
}

#[test]
fn a_token_is_refreshed_before_it_expires() {
    // Tokens live 400 s and are refreshed 300 s early.
    let w = world_with(400, "safe", 300);
    w.greeted("oUser_4", 4004);
    w.reply(4, 1, "oUser_4", "one");
    w.sink.wait_reports(1, WAIT);
    w.clock.advance(Duration::from_secs(50));
    w.reply(4, 2, "oUser_4", "two");
    w.sink.wait_reports(2, WAIT);
    assert_eq!(w.sim.tokens_issued(), 1, "still well within its life");
    w.clock.advance(Duration::from_secs(60));
    w.reply(4, 3, "oUser_4", "three");
    let reports = w.sink.wait_reports(3, WAIT);
    assert!(reports
        .iter()
        .all(|r| r.outcome == DeliveryOutcome::Delivered));
    assert_eq!(w.sim.tokens_issued(), 2, "refreshed inside the margin");
    assert_eq!(w.sim.send_calls(), 3, "no refused send");
}

#[test]
fn a_reply_after_48_hours_fails_with_a_clear_report() {
    let w = world();
    w.greeted("oUser_5", 5005);
    w.sink.wait_events(1, WAIT);
    w.clock.advance(Duration::from_secs(49 * 3600));

    w.reply(5, 1, "oUser_5", "sorry for the wait");
    let reports = w.sink.wait_reports(1, WAIT);
    let closed = DeliveryOutcome::Failed(DeliveryFailure::ReplyWindowClosed { hours: 48 });
    assert_eq!(reports[0].outcome, closed);
    assert_eq!(
        w.sim.send_calls(),
        0,
        "known to be closed: the platform is not asked"
    );
    let text = DeliveryFailure::ReplyWindowClosed { hours: 48 }.to_string();
    assert!(text.contains("48 hours"), "{text}");

    // A hub that never saw the follower (restarted) learns it from errcode 45015.
    let sink = Arc::new(RecordingSink::default());
    let fresh = ChannelHub::builder(config(&w.sim.base(), "safe", 300))
        .clock(w.clock.clone())
        .start(sink.clone())
        .expect("starts");
    fresh
        .send_outbound(line(5, 2, "oUser_5", "still there?"))
        .expect("queued");
    assert_eq!(sink.wait_reports(1, WAIT)[0].outcome, closed);
    assert_eq!(w.sim.send_calls(), 1);
    assert!(w.sim.delivered().is_empty());
}

#[test]
fn a_busy_platform_is_retried_with_backoff_and_lines_keep_their_order() {
    let w = world();
    w.greeted("oUser_6", 6006);
    w.sim.busy_sends(2);
    for seq in 1..=5 {
        w.hub
            .send_outbound(line(6, seq, "oUser_6", &format!("line {seq}")))
            .expect("queued");
    }
    let reports = w.sink.wait_reports(5, WAIT);
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == DeliveryOutcome::Delivered),
        "{reports:?}"
    );
    assert_eq!(
        reports.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(reports[0].attempts, 3, "two busy answers, then delivered");
    assert_eq!(
        w.sim.delivered_texts(),
        ["line 1", "line 2", "line 3", "line 4", "line 5"]
    );
}

#[test]
fn bad_requests_get_the_documented_answer_and_cost_nothing() {
    let w = world();
    let follower = w.follower("oUser_7", Duration::from_secs(5));
    let now = w.clock.unix_secs();
    let message = follower.text_xml("the real one", 7007);
    let (query, body) = follower.encrypted_request(&message, now);

    // Malformed: not XML at all, but correctly signed as a safe-mode body would be.
    let nonce = "1";
    let garbage_encrypt = "bm90IHhtbA==";
    let crypt = MsgCrypt::new(TOKEN, AES_KEY, APP_ID).expect("key");
    let sig = crypt.msg_signature(&now.to_string(), nonce, garbage_encrypt);
    let signed = |ts: u64, sig: &str| {
        format!(
            "signature={}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={sig}",
            signature(&[TOKEN, &ts.to_string(), nonce])
        )
    };
    assert_eq!(
        follower.post_raw(&signed(now, &sig), "<xml><Encrypt>"),
        Some((400, "malformed request".into()))
    );
    let undecryptable = encrypted_envelope(garbage_encrypt, &sig, now, nonce);
    assert_eq!(
        follower.post_raw(&signed(now, &sig), &undecryptable),
        Some((400, "malformed request".into()))
    );

    // Bad signature: the message signed for another body.
    let tampered = query.replace("msg_signature=", "msg_signature=0");
    assert_eq!(
        follower.post_raw(&tampered, &body),
        Some((401, "invalid signature".into()))
    );

    // Wrong app id: encrypted for another account with the same token and key.
    let other = MsgCrypt::new(TOKEN, AES_KEY, "wx0000000000000000").expect("key");
    let foreign = other.encrypt(message.as_bytes(), [1; 16]);
    let foreign_sig = other.msg_signature(&now.to_string(), nonce, &foreign);
    let foreign_body = encrypted_envelope(&foreign, &foreign_sig, now, nonce);
    assert_eq!(
        follower.post_raw(&signed(now, &foreign_sig), &foreign_body),
        Some((403, "wrong app id".into()))
    );

    // Replay: a correctly signed request from ten minutes ago.
    let (old_query, old_body) = follower.encrypted_request(&message, now - 600);
    assert_eq!(
        follower.post_raw(&old_query, &old_body),
        Some((403, "timestamp outside the replay window".into()))
    );

    // Oversized.
    let huge = format!("<xml>{}</xml>", "x".repeat(9000));
    assert_eq!(
        follower.post_raw(&query, &huge),
        Some((413, "body too large".into()))
    );

    let shop = w.hub.metrics().account("shop");
    for (reason, count) in [
        (RefusalReason::Malformed, 2),
        (RefusalReason::BadSignature, 1),
        (RefusalReason::WrongApp, 1),
        (RefusalReason::Stale, 1),
        (RefusalReason::TooLarge, 1),
    ] {
        assert_eq!(shop.refused_count(reason), count, "{reason:?}");
    }
    assert!(w.sink.events().is_empty(), "nothing reached the engine");

    // Nothing was remembered either: the genuine message (same MsgId) goes through.
    assert_eq!(follower.post_raw(&query, &body), success());
    let events = w.sink.wait_events(1, WAIT);
    assert_eq!(
        events[0].content,
        VisitorContent::Text {
            text: "the real one".into()
        }
    );
    let text = w.hub.metrics().render();
    assert!(text.contains(
        "switchboard_channels_inbound_refused_total{account=\"shop\",reason=\"wrong_app\"} 1"
    ));
}

#[test]
fn unknown_paths_and_methods_are_refused() {
    let w = world();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let base = format!("http://{}", w.hub.local_addr());
    let status = |r: Result<ureq::http::Response<ureq::Body>, ureq::Error>| {
        r.expect("answer").status().as_u16()
    };
    assert_eq!(status(agent.get(format!("{base}/nowhere")).call()), 404);
    assert_eq!(status(agent.put(format!("{base}{PATH}")).send("x")), 405);
}

#[test]
fn server_url_verification_echoes_echostr() {
    let w = world();
    let follower = w.follower("-", Duration::from_secs(5));
    let ts = w.clock.unix_secs().to_string();
    let good = signature(&[TOKEN, &ts, "42"]);
    let query = format!("signature={good}&timestamp={ts}&nonce=42&echostr=7063951374393786713");
    assert_eq!(
        follower.get_raw(&query),
        Some((200, "7063951374393786713".into()))
    );
    let bad = format!(
        "signature={}&timestamp={ts}&nonce=42&echostr=1",
        "0".repeat(40)
    );
    assert_eq!(
        follower.get_raw(&bad),
        Some((401, "invalid signature".into()))
    );
}

#[test]
fn every_message_kind_becomes_a_visitor_event() {
    let w = world();
    let f = w.follower("oUser_8", Duration::from_secs(5));
    let kinds = [
        "<MsgType>image</MsgType><PicUrl>http://img.example/1.jpg</PicUrl><MediaId>media_1</MediaId><MsgId>8001</MsgId>",
        "<MsgType>voice</MsgType><MediaId>media_2</MediaId><Format>amr</Format><Recognition>ni hao</Recognition><MsgId>8002</MsgId>",
        "<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label>Guangzhou</Label><MsgId>8003</MsgId>",
        "<MsgType>event</MsgType><Event>subscribe</Event>",
        "<MsgType>event</MsgType><Event>unsubscribe</Event>",
        "<MsgType>link</MsgType><Title>t</Title><Url>http://x</Url><MsgId>8004</MsgId>",
    ];
    for inner in kinds {
        assert_eq!(f.post(&f.message_xml(inner)).answer, success(), "{inner}");
    }
    let events = w.sink.wait_events(kinds.len(), WAIT);
    let contents: Vec<VisitorContent> = events.into_iter().map(|e| e.content).collect();
    assert_eq!(
        contents,
        vec![
            VisitorContent::Image {
                media_id: "media_1".into(),
                url: Some("http://img.example/1.jpg".into())
            },
            VisitorContent::Voice {
                media_id: "media_2".into(),
                format: Some("amr".into()),
                recognition: Some("ni hao".into())
            },
            VisitorContent::Location {
                latitude: 23.134521,
                longitude: 113.358803,
                scale: Some(20),
                label: Some("Guangzhou".into())
            },
            VisitorContent::Subscribe,
            VisitorContent::Unsubscribe,
            VisitorContent::OtherEvent {
                name: "message:link".into()
            },
        ]
    );
}

#[test]
fn plaintext_mode_takes_signed_plain_xml() {
    let w = world_with(7200, "plain", 300);
    let f = w.follower("oUser_9", Duration::from_secs(5));
    let ts = w.clock.unix_secs().to_string();
    let query = format!(
        "signature={}&timestamp={ts}&nonce=9&openid=oUser_9",
        signature(&[TOKEN, &ts, "9"])
    );
    assert_eq!(
        f.post_raw(&query, &f.text_xml("plain hello", 9009)),
        success()
    );
    assert_eq!(
        w.sink.wait_events(1, WAIT)[0].content,
        VisitorContent::Text {
            text: "plain hello".into()
        }
    );
    let unsigned = format!("timestamp={ts}&nonce=9");
    assert_eq!(
        f.post_raw(&unsigned, &f.text_xml("x", 9010))
            .map(|(s, _)| s),
        Some(401)
    );
}
