//! A local WeChat platform, faithful to the parts the adapter uses:
//!
//! - `GET /cgi-bin/token`: issues access tokens that expire (`expires_in`), checks
//!   the app id and secret (40013 / 40125);
//! - `POST /cgi-bin/message/custom/send`: 40001 for an unknown or revoked token,
//!   42001 for an expired one, -1 when told to be busy, 45015 when the follower's
//!   last message is more than 48 hours old (or they never wrote);
//! - followers who post encrypted XML to the hub the way WeChat does (signature,
//!   msg_signature, encrypt_type=aes), retry when not answered within their timeout
//!   (WeChat: 5 s, three retries), and check the answer.
//!
//! Time is the shared [`ShiftedClock`], so tests move it by hours.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use switchboard_channels::clock::{Clock, ShiftedClock};
use switchboard_channels::wechat::crypto::{signature, MsgCrypt};
use switchboard_channels::wechat::xml::{cdata, encrypted_envelope};

pub const APP_ID: &str = "wx5823bf96d3bd56c7";
pub const APP_SECRET: &str = "app-secret-for-tests";
pub const TOKEN: &str = "QDG6eK";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub const REPLY_WINDOW: Duration = Duration::from_secs(48 * 3600);

struct IssuedToken {
    expires_at: SystemTime,
    revoked: bool,
}

#[derive(Default)]
struct Platform {
    tokens: HashMap<String, IssuedToken>,
    issued: u32,
    token_ttl_secs: u64,
    last_inbound: HashMap<String, SystemTime>,
    delivered: Vec<(String, String)>,
    busy_sends: u32,
    send_calls: u32,
}

/// The simulated platform; stops when dropped.
pub struct WechatSim {
    addr: SocketAddr,
    platform: Arc<Mutex<Platform>>,
    clock: Arc<ShiftedClock>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

fn json(value: serde_json::Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(value.to_string())
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

impl WechatSim {
    /// A platform whose tokens live `token_ttl_secs`.
    pub fn start(clock: Arc<ShiftedClock>, token_ttl_secs: u64) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let platform = Arc::new(Mutex::new(Platform {
            token_ttl_secs,
            ..Platform::default()
        }));
        let thread = {
            let (server, platform, clock) = (
                Arc::clone(&server),
                Arc::clone(&platform),
                Arc::clone(&clock),
            );
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let url = request.url().to_owned();
                    let now = clock.now();
                    let answer = {
                        let mut platform = platform.lock().unwrap();
                        if url.starts_with("/cgi-bin/token?") {
                            platform.token(&query_of(&url), now)
                        } else if url.starts_with("/cgi-bin/message/custom/send?") {
                            platform.send(&query_of(&url), &body, now)
                        } else {
                            serde_json::json!({"errcode": 404, "errmsg": "no such api"})
                        }
                    };
                    let _ = request.respond(json(answer));
                }
            })
        };
        Self {
            addr,
            platform,
            clock,
            server,
            thread: Some(thread),
        }
    }

    /// The base URL for the adapter's `api_base`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Texts the platform delivered: (openid, content).
    pub fn delivered(&self) -> Vec<(String, String)> {
        self.platform.lock().unwrap().delivered.clone()
    }

    /// The delivered texts only, in order.
    pub fn delivered_texts(&self) -> Vec<String> {
        self.delivered().into_iter().map(|(_, text)| text).collect()
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.platform.lock().unwrap().issued
    }

    /// Calls of the send API so far.
    pub fn send_calls(&self) -> u32 {
        self.platform.lock().unwrap().send_calls
    }

    /// Revokes every token (as when another client fetched a new one).
    pub fn revoke_tokens(&self) {
        for token in self.platform.lock().unwrap().tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Expires every token now, whatever it was issued for: 42001 from now on.
    pub fn expire_tokens(&self) {
        for token in self.platform.lock().unwrap().tokens.values_mut() {
            token.expires_at = SystemTime::UNIX_EPOCH;
        }
    }

    /// Answers the next `n` sends with errcode -1 (system busy).
    pub fn busy_sends(&self, n: u32) {
        self.platform.lock().unwrap().busy_sends = n;
    }

    /// Records that `open_id` wrote at `at` (the platform sees every message).
    fn saw_inbound(&self, open_id: &str, at: SystemTime) {
        self.platform
            .lock()
            .unwrap()
            .last_inbound
            .insert(open_id.to_owned(), at);
    }

    /// A follower of the account with this answer timeout.
    pub fn follower(
        &self,
        open_id: &str,
        hub: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Follower<'_> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Follower {
            sim: self,
            open_id: open_id.to_owned(),
            url: format!("http://{hub}{path}"),
            crypt: MsgCrypt::new(TOKEN, AES_KEY, APP_ID).unwrap(),
            agent,
        }
    }
}

impl Platform {
    fn token(&mut self, query: &HashMap<String, String>, now: SystemTime) -> serde_json::Value {
        if query.get("grant_type").map(String::as_str) != Some("client_credential") {
            return serde_json::json!({"errcode": 40002, "errmsg": "invalid grant_type"});
        }
        if query.get("appid").map(String::as_str) != Some(APP_ID) {
            return serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"});
        }
        if query.get("secret").map(String::as_str) != Some(APP_SECRET) {
            return serde_json::json!({"errcode": 40125, "errmsg": "invalid appsecret"});
        }
        self.issued += 1;
        let value = format!("ACCESS_TOKEN_{}", self.issued);
        let expires_at = now + Duration::from_secs(self.token_ttl_secs);
        self.tokens.insert(
            value.clone(),
            IssuedToken {
                expires_at,
                revoked: false,
            },
        );
        serde_json::json!({"access_token": value, "expires_in": self.token_ttl_secs})
    }

    fn send(
        &mut self,
        query: &HashMap<String, String>,
        body: &str,
        now: SystemTime,
    ) -> serde_json::Value {
        self.send_calls += 1;
        let token = query.get("access_token").and_then(|t| self.tokens.get(t));
        match token {
            None => {
                return serde_json::json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
            }
            Some(token) if token.revoked => {
                return serde_json::json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
            }
            Some(token) if token.expires_at <= now => {
                return serde_json::json!({"errcode": 42001, "errmsg": "access_token expired"})
            }
            Some(_) => {}
        }
        if self.busy_sends > 0 {
            self.busy_sends -= 1;
            return serde_json::json!({"errcode": -1, "errmsg": "system error"});
        }
        let Ok(message) = serde_json::from_str::<serde_json::Value>(body) else {
            return serde_json::json!({"errcode": 47001, "errmsg": "data format error"});
        };
        let (Some(to), Some("text"), Some(content)) = (
            message["touser"].as_str(),
            message["msgtype"].as_str(),
            message["text"]["content"].as_str(),
        ) else {
            return serde_json::json!({"errcode": 47001, "errmsg": "data format error"});
        };
        let in_window = self
            .last_inbound
            .get(to)
            .is_some_and(|at| now.duration_since(*at).is_ok_and(|age| age <= REPLY_WINDOW));
        if !in_window {
            return serde_json::json!({"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"});
        }
        self.delivered.push((to.to_owned(), content.to_owned()));
        serde_json::json!({"errcode": 0, "errmsg": "ok"})
    }
}

impl Drop for WechatSim {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How a follower's post ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Requests sent (1 + retries).
    pub attempts: u32,
    /// The last answer, if any came in time.
    pub answer: Option<(u16, String)>,
}

/// A follower: writes to the account as WeChat would deliver it.
pub struct Follower<'a> {
    sim: &'a WechatSim,
    pub open_id: String,
    url: String,
    crypt: MsgCrypt,
    agent: ureq::Agent,
}

impl Follower<'_> {
    /// A text message's plaintext XML.
    pub fn text_xml(&self, content: &str, msg_id: u64) -> String {
        self.message_xml(&format!(
            "<MsgType>{}</MsgType><Content>{}</Content><MsgId>{msg_id}</MsgId>",
            cdata("text"),
            cdata(content)
        ))
    }

    /// A message's plaintext XML with `inner` after the common fields.
    pub fn message_xml(&self, inner: &str) -> String {
        format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{}</CreateTime>{inner}</xml>",
            cdata("gh_e136c6e50636"),
            cdata(&self.open_id),
            self.sim.clock.unix_secs()
        )
    }

    /// Encrypts `plain` and posts it as WeChat does, retrying up to three times
    /// when no `success` comes back in time. The retries are the same request.
    pub fn post(&self, plain: &str) -> Posted {
        let (query, body) = self.encrypted_request(plain, self.sim.clock.unix_secs());
        self.sim.saw_inbound(&self.open_id, self.sim.clock.now());
        let mut posted = Posted {
            attempts: 0,
            answer: None,
        };
        while posted.attempts < 4 {
            posted.attempts += 1;
            posted.answer = self.post_raw(&query, &body);
            if matches!(&posted.answer, Some((200, text)) if text == "success" || text.is_empty()) {
                break;
            }
        }
        posted
    }

    /// The query and body of an encrypted post signed at `timestamp`.
    pub fn encrypted_request(&self, plain: &str, timestamp: u64) -> (String, String) {
        let encrypt = self.crypt.encrypt(plain.as_bytes(), rand::random());
        let nonce = format!("{}", rand::random::<u32>());
        let ts = timestamp.to_string();
        let msg_signature = self.crypt.msg_signature(&ts, &nonce, &encrypt);
        let plain_signature = signature(&[TOKEN, &ts, &nonce]);
        let query = format!(
            "signature={plain_signature}&timestamp={ts}&nonce={nonce}&openid={}&encrypt_type=aes&msg_signature={msg_signature}",
            self.open_id
        );
        (
            query,
            encrypted_envelope(&encrypt, &msg_signature, timestamp, &nonce),
        )
    }

    /// One POST; `None` when no answer came within the timeout.
    pub fn post_raw(&self, query: &str, body: &str) -> Option<(u16, String)> {
        let mut response = self
            .agent
            .post(format!("{}?{query}", self.url))
            .send(body.as_bytes())
            .ok()?;
        let status = response.status().as_u16();
        Some((
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        ))
    }

    /// One GET (the server-URL verification).
    pub fn get_raw(&self, query: &str) -> Option<(u16, String)> {
        let mut response = self
            .agent
            .get(format!("{}?{query}", self.url))
            .call()
            .ok()?;
        let status = response.status().as_u16();
        Some((
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        ))
    }
}
