//! Inbound WeChat throughput and latency. Prints figures; not a timed test.
//!
//! 1. Messages per second on one core through the whole per-request pipeline after
//!    the body is read (`Account::handle_inbound`: signature, replay window,
//!    envelope, msg_signature, AES-256-CBC decrypt, message XML, dedupe, sink), and
//!    each phase alone.
//! 2. The latency the WeChat work adds over HTTP: round trips to a WeChat account
//!    and to a no-work account on the same hub, alternated, with one keep-alive
//!    client.
//!
//! `cargo bench -p switchboard-channels --bench wechat_inbound`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard_channels::adapter::{
    Accepted, BuildContext, DeliveryError, HttpReply, InboundRequest, Method, Refusal,
};
use switchboard_channels::clock::{Clock, SystemClock};
use switchboard_channels::config::{AccountSpec, ConfigError};
use switchboard_channels::hub::Account;
use switchboard_channels::metrics::Metrics;
use switchboard_channels::wechat::crypto::{signature, MsgCrypt};
use switchboard_channels::wechat::xml::{cdata, encrypted_envelope, parse_envelope, parse_message};
use switchboard_channels::{
    Adapter, AdapterKind, AdapterRegistry, ChannelHub, ConversationSink, DeliveryReport, HubConfig,
    OutboundLine, SinkBusy, VisitorEvent,
};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const APP_ID: &str = "wx5823bf96d3bd56c7";
const MESSAGES: u64 = 20_000;
const ROUND_TRIPS: usize = 2_000;

#[derive(Default)]
struct CountingSink(AtomicU64);

impl ConversationSink for CountingSink {
    fn visitor_event(&self, _event: VisitorEvent) -> Result<(), SinkBusy> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn delivery_report(&self, _report: DeliveryReport) {}
}

/// The baseline account: answers `success` and does nothing else.
struct NullKind;
#[derive(Debug)]
struct Null;
impl Adapter for Null {
    fn inbound(
        &self,
        _request: &InboundRequest<'_>,
        _now: SystemTime,
    ) -> Result<Accepted, Refusal> {
        Ok(Accepted {
            events: Vec::new(),
            reply: HttpReply::text(200, "success"),
        })
    }
    fn deliver(&self, _line: &OutboundLine, _now: SystemTime) -> Result<(), DeliveryError> {
        Ok(())
    }
}
impl AdapterKind for NullKind {
    fn name(&self) -> &'static str {
        "null"
    }
    fn build(
        &self,
        _account: &AccountSpec,
        _context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        Ok(Arc::new(Null))
    }
}

fn config() -> HubConfig {
    HubConfig::parse(&format!(
        r#"
listen = "127.0.0.1:0"
[hub]
http_threads = 1
[[account]]
name = "shop"
kind = "wechat"
path = "/wechat"
[account.limits]
replay_window_secs = 86400
[account.settings]
app_id = "{APP_ID}"
app_secret = "s"
token = "{TOKEN}"
encoding_aes_key = "{KEY}"
api_base = "http://127.0.0.1:9"
[[account]]
name = "null"
kind = "null"
path = "/null"
"#
    ))
    .expect("valid")
}

/// One encrypted follower message: (query, body, inner plaintext).
fn message(crypt: &MsgCrypt, n: u64, now: u64) -> (String, String, String) {
    let plain = format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now}</CreateTime><MsgType>{}</MsgType><Content>{}</Content><MsgId>{}</MsgId></xml>",
        cdata("gh_e136c6e50636"),
        cdata(&format!("oFollower{}", n % 1000)),
        cdata("text"),
        cdata("Hello, I ordered a blue jacket last week and it has not arrived yet. Can you check?"),
        1_000_000 + n
    );
    let encrypt = crypt.encrypt(plain.as_bytes(), rand::random());
    let (ts, nonce) = (now.to_string(), n.to_string());
    let msg_signature = crypt.msg_signature(&ts, &nonce, &encrypt);
    let query = format!(
        "signature={}&timestamp={ts}&nonce={nonce}&openid=o&encrypt_type=aes&msg_signature={msg_signature}",
        signature(&[TOKEN, &ts, &nonce])
    );
    (
        query,
        encrypted_envelope(&encrypt, &msg_signature, now, &nonce),
        plain,
    )
}

fn post<'a>(query: &'a str, body: &'a str, headers: &'a [(String, String)]) -> InboundRequest<'a> {
    InboundRequest {
        method: Method::Post,
        path: "/wechat",
        query,
        headers,
        body: body.as_bytes(),
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn in_process(crypt: &MsgCrypt, messages: &[(String, String, String)]) {
    let hub_config = config();
    let spec = hub_config.accounts[0].clone();
    let context = BuildContext {
        clock: Arc::new(SystemClock),
        http: ureq::Agent::new_with_defaults(),
    };
    let adapter = AdapterRegistry::with_builtin()
        .build(&spec, &context)
        .expect("builds");
    let account = Account::new(
        spec,
        Arc::clone(&adapter),
        Metrics::default().account("shop"),
    );
    let sink = CountingSink::default();
    let headers = Vec::new();
    let started = Instant::now();
    for (query, body, _) in messages {
        let request = post(query, body, &headers);
        let reply = account.handle_inbound(&request, &sink, SystemClock.now());
        assert_eq!(reply.status, 200);
    }
    let elapsed = started.elapsed();
    assert_eq!(sink.0.load(Ordering::Relaxed), messages.len() as u64);
    let rate = per_second(messages.len() as u64, elapsed);
    println!(
        "whole pipeline (handle_inbound), one core: {rate:>10.0} msgs/s  ({:.2} µs/msg)",
        1e6 / rate
    );

    let phase = |name: &str, work: &dyn Fn(&(String, String, String))| {
        let started = Instant::now();
        for m in messages {
            work(m);
        }
        let rate = per_second(messages.len() as u64, started.elapsed());
        println!("  {name:<34} {rate:>10.0} /s  ({:.2} µs)", 1e6 / rate);
    };
    phase("adapter.inbound alone (no dedupe)", &|(query, body, _)| {
        let request = post(query, body, &headers);
        std::hint::black_box(adapter.inbound(&request, SystemClock.now()).ok());
    });
    let encrypts: Vec<String> = messages
        .iter()
        .map(|(_, body, _)| {
            parse_envelope(body)
                .expect("envelope")
                .encrypt
                .expect("encrypt")
        })
        .collect();
    phase("envelope xml parse", &|(_, body, _)| {
        std::hint::black_box(parse_envelope(body).ok());
    });
    phase("signature + msg_signature (sha1)", &|(query, _, _)| {
        std::hint::black_box(signature(&[TOKEN, query, "1"]));
        std::hint::black_box(signature(&[TOKEN, query, "1", query]));
    });
    let index = AtomicU64::new(0);
    phase("aes-256-cbc decrypt + app id check", &|_| {
        let i = index.fetch_add(1, Ordering::Relaxed) as usize;
        std::hint::black_box(crypt.decrypt(&encrypts[i]).ok());
    });
    phase("message xml parse", &|(_, _, plain)| {
        std::hint::black_box(parse_message(plain).ok());
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn over_http(messages: &[(String, String, String)]) {
    let mut registry = AdapterRegistry::with_builtin();
    registry.register(Arc::new(NullKind));
    let hub = ChannelHub::builder(config())
        .registry(registry)
        .start(Arc::new(CountingSink::default()))
        .expect("starts");
    let agent = ureq::Agent::new_with_defaults();
    let base = format!("http://{}", hub.local_addr());
    let mut wechat = Vec::with_capacity(ROUND_TRIPS);
    let mut null = Vec::with_capacity(ROUND_TRIPS);
    let post = |path: &str, query: &str, body: &str| {
        let started = Instant::now();
        let mut response = agent
            .post(format!("{base}{path}?{query}"))
            .send(body.as_bytes())
            .expect("answer");
        let _ = response.body_mut().read_to_string();
        started.elapsed()
    };
    for (query, body, _) in messages {
        wechat.push(post("/wechat", query, body));
        null.push(post("/null", query, body));
    }
    wechat.sort();
    null.sort();
    println!(
        "HTTP round trip over loopback, one keep-alive client, {ROUND_TRIPS} each, alternated:"
    );
    for (name, times) in [("no-work account", &null), ("wechat account", &wechat)] {
        println!(
            "  {name:<16} p50 {:>7.1} µs   p99 {:>7.1} µs",
            micros(percentile(times, 0.5)),
            micros(percentile(times, 0.99))
        );
    }
    let added = micros(percentile(&wechat, 0.5)) - micros(percentile(&null, 0.5));
    println!("  added by the WeChat work at p50: {added:.1} µs");
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let crypt = MsgCrypt::new(TOKEN, KEY, APP_ID).expect("key");
    let now = SystemClock.unix_secs();
    let messages: Vec<_> = (0..MESSAGES).map(|n| message(&crypt, n, now)).collect();
    // Every message has its own MsgId, so none is a duplicate; the HTTP run (its own
    // hub) takes the last ones.
    let (first, last) = messages.split_at(messages.len() - ROUND_TRIPS);
    in_process(&crypt, first);
    over_http(last);
}
