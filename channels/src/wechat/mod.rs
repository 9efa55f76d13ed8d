//! WeChat Official Account: the server-URL handshake, signatures, the three message
//! modes (plaintext, compatible, safe), the follower messages as visitor events, and
//! agent replies through the customer-service API with the 48-hour reply window.
//!
//! The endpoint answers `success` as soon as the event is with the engine: WeChat
//! waits 5 s and then retries (three times), so nothing here waits for an agent.

pub mod api;
pub mod crypto;
pub mod xml;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::adapter::{
    Accepted, Adapter, AdapterKind, BuildContext, DeliveryError, HttpReply, InboundRequest,
    Incoming, Method, Refusal, RefusalReason,
};
use crate::clock::unix_secs;
use crate::config::{AccountSpec, ConfigError};
use crate::event::{DeliveryFailure, Identity, OutboundLine, VisitorContent, VisitorEvent};
use crate::recent::RecentKeys;
use api::PlatformApi;
use crypto::{CryptoError, MsgCrypt};
use xml::Message;

/// The `kind` name.
pub const KIND: &str = "wechat";

/// How messages are carried, as set in the Official Account's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plaintext XML, `signature` only.
    Plain,
    /// Both: a body may carry `Encrypt` (then checked as in safe mode) or not.
    Compatible,
    /// Encrypted bodies only (`msg_signature`).
    #[default]
    Safe,
}

/// The `settings` table of a `wechat` account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSettings {
    /// AppID.
    pub app_id: String,
    /// AppSecret, for access tokens.
    pub app_secret: String,
    /// The server configuration's Token.
    pub token: String,
    /// The 43-character EncodingAESKey (required unless `mode = "plain"`).
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The message mode.
    #[serde(default)]
    pub mode: Mode,
    /// The API's base URL.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The reply window after a follower's last message.
    #[serde(default = "default_reply_window_hours")]
    pub reply_window_hours: u64,
    /// An access token is refreshed this long before it expires.
    #[serde(default = "default_refresh_margin")]
    pub token_refresh_margin_secs: u64,
    /// Followers whose last message time is remembered (for the reply window);
    /// one that is forgotten is tried and the platform decides (errcode 45015).
    #[serde(default = "default_followers_tracked")]
    pub followers_tracked: usize,
}

fn default_api_base() -> String {
    "https://api.weixin.qq.com".into()
}
fn default_reply_window_hours() -> u64 {
    48
}
fn default_refresh_margin() -> u64 {
    300
}
fn default_followers_tracked() -> usize {
    1_000_000
}

/// Builds `wechat` accounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct WechatKind;

impl AdapterKind for WechatKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn build(
        &self,
        account: &AccountSpec,
        context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        let settings: WechatSettings = account.settings()?;
        Ok(Arc::new(WechatAdapter::new(
            account,
            settings,
            context.http.clone(),
        )?))
    }
}

/// One Official Account.
#[derive(Debug)]
pub struct WechatAdapter {
    account: String,
    app_id: String,
    token: String,
    mode: Mode,
    crypt: Option<MsgCrypt>,
    api: PlatformApi,
    replay_window: Duration,
    reply_window: Duration,
    reply_window_hours: u64,
    last_inbound: RecentKeys,
}

fn settings_error(account: &AccountSpec, message: &str) -> ConfigError {
    ConfigError::settings(account, message)
}

impl WechatAdapter {
    /// An adapter for `account` with its settings and HTTP client.
    pub fn new(
        account: &AccountSpec,
        settings: WechatSettings,
        http: ureq::Agent,
    ) -> Result<Self, ConfigError> {
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !id_ok(&settings.app_id) {
            return Err(settings_error(
                account,
                "app_id must be 1-64 letters, digits or '_'",
            ));
        }
        if settings.token.is_empty() || !(1..=24 * 365).contains(&settings.reply_window_hours) {
            return Err(settings_error(
                account,
                "token must be set and reply_window_hours be 1..=8760",
            ));
        }
        let crypt = match (&settings.encoding_aes_key, settings.mode) {
            (None, Mode::Plain) => None,
            (None, _) => {
                return Err(settings_error(
                    account,
                    "encoding_aes_key is required unless mode = \"plain\"",
                ))
            }
            (Some(key), _) => Some(
                MsgCrypt::new(&settings.token, key, &settings.app_id)
                    .map_err(|e| settings_error(account, &e.to_string()))?,
            ),
        };
        let refresh_margin = Duration::from_secs(settings.token_refresh_margin_secs);
        let api = PlatformApi::new(
            &settings.api_base,
            &settings.app_id,
            &settings.app_secret,
            http,
            refresh_margin,
            settings.reply_window_hours,
        );
        let reply_window = Duration::from_secs(settings.reply_window_hours * 3600);
        Ok(Self {
            account: account.name.clone(),
            app_id: settings.app_id,
            token: settings.token,
            mode: settings.mode,
            crypt,
            api,
            replay_window: account.limits.replay_window(),
            reply_window,
            reply_window_hours: settings.reply_window_hours,
            last_inbound: RecentKeys::new(settings.followers_tracked, reply_window),
        })
    }

    /// The server-URL verification: echo `echostr` when the signature is right.
    fn handshake(
        &self,
        request: &InboundRequest<'_>,
        now: SystemTime,
    ) -> Result<Accepted, Refusal> {
        let timestamp = self.check_plain_signature(request, true, now)?;
        let _ = timestamp;
        let echo = request
            .query_param("echostr")
            .ok_or(RefusalReason::Malformed)?;
        Ok(Accepted {
            events: Vec::new(),
            reply: HttpReply::text(200, echo),
        })
    }

    /// Checks `signature` (required when `required`) and the timestamp window;
    /// returns the timestamp text.
    fn check_plain_signature(
        &self,
        request: &InboundRequest<'_>,
        required: bool,
        now: SystemTime,
    ) -> Result<String, Refusal> {
        let timestamp = request
            .query_param("timestamp")
            .ok_or(RefusalReason::Malformed)?;
        let nonce = request.query_param("nonce").unwrap_or_default();
        match request.query_param("signature") {
            Some(given) if !crypto::verify_signature(&given, &self.token, &timestamp, &nonce) => {
                return Err(RefusalReason::BadSignature.into());
            }
            None if required => return Err(RefusalReason::BadSignature.into()),
            _ => {}
        }
        self.check_fresh(&timestamp, now)?;
        Ok(timestamp)
    }

    fn check_fresh(&self, timestamp: &str, now: SystemTime) -> Result<(), Refusal> {
        let sent: u64 = timestamp.parse().map_err(|_| RefusalReason::Malformed)?;
        let now = unix_secs(now);
        if sent.abs_diff(now) > self.replay_window.as_secs() {
            return Err(RefusalReason::Stale.into());
        }
        Ok(())
    }

    /// A follower's POST: verify, decrypt when encrypted, parse.
    fn receive(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal> {
        let body = std::str::from_utf8(request.body).map_err(|_| RefusalReason::Malformed)?;
        let encrypted = match self.mode {
            Mode::Plain => false,
            Mode::Safe => true,
            Mode::Compatible => request.query_param("encrypt_type").as_deref() == Some("aes"),
        };
        let message = if encrypted {
            let plain = self.open(request, body, now)?;
            xml::parse_message(&plain)
        } else {
            self.check_plain_signature(request, true, now)?;
            xml::parse_message(body)
        }
        .map_err(|_| RefusalReason::Malformed)?;
        let incoming = self.to_incoming(message)?;
        if incoming.event.content != VisitorContent::Unsubscribe {
            self.last_inbound
                .touch(incoming.event.identity.platform_user(), now);
        }
        Ok(Accepted {
            events: vec![incoming],
            reply: HttpReply::text(200, "success"),
        })
    }

    /// Safe mode: check both signatures and the timestamp, then decrypt.
    fn open(
        &self,
        request: &InboundRequest<'_>,
        body: &str,
        now: SystemTime,
    ) -> Result<String, Refusal> {
        let crypt = self.crypt.as_ref().ok_or(RefusalReason::Malformed)?;
        let timestamp = self.check_plain_signature(request, false, now)?;
        let nonce = request.query_param("nonce").unwrap_or_default();
        let envelope = xml::parse_envelope(body).map_err(|_| RefusalReason::Malformed)?;
        let encrypt = envelope.encrypt.ok_or(RefusalReason::Malformed)?;
        let given = request
            .query_param("msg_signature")
            .ok_or(RefusalReason::BadSignature)?;
        if !crypt.verify_msg_signature(&given, &timestamp, &nonce, &encrypt) {
            return Err(RefusalReason::BadSignature.into());
        }
        let plain = crypt.decrypt(&encrypt).map_err(|error| match error {
            CryptoError::WrongApp => RefusalReason::WrongApp,
            _ => RefusalReason::Malformed,
        })?;
        String::from_utf8(plain).map_err(|_| RefusalReason::Malformed.into())
    }

    fn to_incoming(&self, message: Message) -> Result<Incoming, Refusal> {
        let open_id_ok = !message.from_user.is_empty()
            && message.from_user.len() <= 128
            && message
                .from_user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !open_id_ok {
            return Err(RefusalReason::Malformed.into());
        }
        let dedupe_key = match message.msg_id {
            Some(id) => format!("m:{id}"),
            None => format!(
                "e:{}:{}:{}",
                message.from_user,
                message.create_time,
                event_name(&message.body)
            ),
        };
        let content = message.body;
        Ok(Incoming {
            event: VisitorEvent {
                account: self.account.clone(),
                identity: Identity::new(KIND, &self.app_id, &message.from_user),
                content,
                platform_msg_id: message.msg_id.map(|id| id.to_string()),
                sent_at: SystemTime::UNIX_EPOCH + Duration::from_secs(message.create_time),
            },
            dedupe_key: Some(dedupe_key),
        })
    }

    /// The OpenID of an identity of this account.
    fn open_id<'a>(&self, identity: &'a Identity) -> Option<&'a str> {
        let rest = identity.as_str().strip_prefix(KIND)?.strip_prefix(':')?;
        let open_id = rest.strip_prefix(self.app_id.as_str())?.strip_prefix(':')?;
        (!open_id.is_empty()).then_some(open_id)
    }
}

/// What tells two events of one follower at one second apart.
fn event_name(body: &VisitorContent) -> &str {
    match body {
        VisitorContent::OtherEvent { name } => name,
        other => other.kind_name(),
    }
}

impl Adapter for WechatAdapter {
    fn inbound(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal> {
        match request.method {
            Method::Get => self.handshake(request, now),
            Method::Post => self.receive(request, now),
            Method::Other => Err(RefusalReason::Method.into()),
        }
    }

    fn deliver(&self, line: &OutboundLine, now: SystemTime) -> Result<(), DeliveryError> {
        let open_id = self.open_id(&line.identity).ok_or_else(|| {
            DeliveryError::Permanent(DeliveryFailure::ForeignIdentity(line.identity.to_string()))
        })?;
        if let Some(last) = self.last_inbound.last(open_id) {
            if now
                .duration_since(last)
                .is_ok_and(|age| age > self.reply_window)
            {
                return Err(DeliveryError::Permanent(
                    DeliveryFailure::ReplyWindowClosed {
                        hours: self.reply_window_hours,
                    },
                ));
            }
        }
        self.api.send_text(open_id, &line.body, now)
    }
}
