//! The generic JSON channel (kind `webhook`). Inbound: `POST` a [`WebhookMessage`]
//! with `Switchboard-Signature: t=<unix>,v1=<hex>` over `t + "." + body` and,
//! optionally, an `Idempotency-Key` (retries with the same key give one event).
//! Outbound: agent lines are POSTed to `reply_url`, signed the same way.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::signature::{self, SignatureError, SIGNATURE_HEADER};
use crate::adapter::{
    Accepted, Adapter, AdapterKind, BuildContext, DeliveryError, HttpReply, InboundRequest,
    Incoming, Method, Refusal, RefusalReason,
};
use crate::clock::unix_secs;
use crate::config::{AccountSpec, ConfigError};
use crate::event::{DeliveryFailure, Identity, OutboundLine, VisitorContent, VisitorEvent};
use crate::http_client;

/// The `kind` name.
pub const KIND: &str = "webhook";
/// The dedupe header.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `settings` table of a `webhook` account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The HMAC secret inbound requests are signed with (at least 16 bytes).
    pub secret: String,
    /// Where agent lines are POSTed.
    pub reply_url: String,
    /// The secret outbound lines are signed with; `secret` when unset.
    #[serde(default)]
    pub reply_secret: Option<String>,
}

/// The inbound JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookMessage {
    /// The visitor's id in the calling system: 1-128 of letters, digits, `-_.@:`.
    pub visitor: String,
    /// What they sent.
    #[serde(flatten)]
    pub content: WireContent,
    /// When they sent it (Unix milliseconds); the request's time when absent.
    #[serde(default)]
    pub sent_at_ms: Option<u64>,
    /// The calling system's message id.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// The content of a [`WebhookMessage`], tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WireContent {
    /// `{"type": "text", "text": "..."}`
    Text {
        /// The text.
        text: String,
    },
    /// `{"type": "image", "media_id": "...", "url": "..."}`
    Image {
        /// The caller's media id.
        media_id: String,
        /// Where the picture is.
        #[serde(default)]
        url: Option<String>,
    },
    /// `{"type": "location", "latitude": 1.0, "longitude": 2.0}`
    Location {
        /// Degrees.
        latitude: f64,
        /// Degrees.
        longitude: f64,
        /// A place name.
        #[serde(default)]
        label: Option<String>,
    },
}

/// Builds `webhook` accounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookKind;

impl AdapterKind for WebhookKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn build(
        &self,
        account: &AccountSpec,
        context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        let settings: WebhookSettings = account.settings()?;
        let problem = if settings.secret.len() < 16 {
            Some("secret must be at least 16 bytes")
        } else if !(settings.reply_url.starts_with("http://")
            || settings.reply_url.starts_with("https://"))
        {
            Some("reply_url must be http:// or https://")
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(ConfigError::settings(account, message));
        }
        Ok(Arc::new(WebhookAdapter {
            account: account.name.clone(),
            reply_secret: settings
                .reply_secret
                .clone()
                .unwrap_or_else(|| settings.secret.clone()),
            settings,
            replay_window: account.limits.replay_window(),
            http: context.http.clone(),
        }))
    }
}

/// One generic JSON account.
pub struct WebhookAdapter {
    account: String,
    settings: WebhookSettings,
    reply_secret: String,
    replay_window: Duration,
    http: ureq::Agent,
}

impl std::fmt::Debug for WebhookAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAdapter")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

fn refusal(reason: RefusalReason) -> Refusal {
    Refusal {
        reason,
        reply: json_reply(reason),
    }
}

fn json_reply(reason: RefusalReason) -> HttpReply {
    let status = reason.default_reply().status;
    HttpReply::json(status, &serde_json::json!({ "error": reason.label() }))
}

fn visitor_ok(visitor: &str) -> bool {
    (1..=128).contains(&visitor.len())
        && visitor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b))
}

impl WebhookAdapter {
    fn receive(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal> {
        let header = request
            .header(SIGNATURE_HEADER)
            .ok_or(refusal(RefusalReason::BadSignature))?;
        signature::verify(
            header,
            self.settings.secret.as_bytes(),
            request.body,
            unix_secs(now),
            self.replay_window.as_secs(),
        )
        .map_err(|error| match error {
            SignatureError::Stale => refusal(RefusalReason::Stale),
            SignatureError::Malformed | SignatureError::Mismatch => {
                refusal(RefusalReason::BadSignature)
            }
        })?;
        let message: WebhookMessage =
            serde_json::from_slice(request.body).map_err(|_| refusal(RefusalReason::Malformed))?;
        if !visitor_ok(&message.visitor) || !content_ok(&message.content) {
            return Err(refusal(RefusalReason::Malformed));
        }
        let key = match request.header(IDEMPOTENCY_HEADER) {
            Some(key) if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY => {
                return Err(refusal(RefusalReason::Malformed))
            }
            Some(key) => Some(format!("k:{key}")),
            None => message.message_id.as_ref().map(|id| format!("m:{id}")),
        };
        let sent_at = message
            .sent_at_ms
            .map_or(now, |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
        let event = VisitorEvent {
            account: self.account.clone(),
            identity: Identity::new(KIND, &self.account, &message.visitor),
            content: to_content(message.content),
            platform_msg_id: message.message_id,
            sent_at,
        };
        Ok(Accepted {
            events: vec![Incoming {
                event,
                dedupe_key: key,
            }],
            reply: HttpReply::json(202, &serde_json::json!({ "accepted": true })),
        })
    }
}

fn content_ok(content: &WireContent) -> bool {
    match content {
        WireContent::Text { text } => !text.is_empty(),
        WireContent::Image { media_id, .. } => !media_id.is_empty(),
        WireContent::Location {
            latitude,
            longitude,
            ..
        } => {
            latitude.is_finite()
                && longitude.is_finite()
                && latitude.abs() <= 90.0
                && longitude.abs() <= 180.0
        }
    }
}

fn to_content(content: WireContent) -> VisitorContent {
    match content {
        WireContent::Text { text } => VisitorContent::Text { text },
        WireContent::Image { media_id, url } => VisitorContent::Image { media_id, url },
        WireContent::Location {
            latitude,
            longitude,
            label,
        } => VisitorContent::Location {
            latitude,
            longitude,
            scale: None,
            label,
        },
    }
}

impl Adapter for WebhookAdapter {
    fn inbound(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal> {
        match request.method {
            Method::Post => self.receive(request, now),
            _ => Err(refusal(RefusalReason::Method)),
        }
    }

    fn deliver(&self, line: &OutboundLine, now: SystemTime) -> Result<(), DeliveryError> {
        let prefix = format!("{KIND}:{}:", self.account);
        let visitor = line
            .identity
            .as_str()
            .strip_prefix(&prefix)
            .ok_or_else(|| {
                DeliveryError::Permanent(DeliveryFailure::ForeignIdentity(
                    line.identity.to_string(),
                ))
            })?;
        let body = serde_json::json!({
            "conv": line.conv,
            "seq": line.seq,
            "visitor": visitor,
            "text": line.body,
        })
        .to_string();
        let signature = signature::sign(
            self.reply_secret.as_bytes(),
            unix_secs(now),
            body.as_bytes(),
        );
        let idempotency = format!("{}:{}", line.conv, line.seq);
        let headers = [
            (SIGNATURE_HEADER, signature.as_str()),
            (IDEMPOTENCY_HEADER, idempotency.as_str()),
        ];
        let answer = http_client::post_json(
            &self.http,
            &self.settings.reply_url,
            &headers,
            body.as_bytes(),
        )?;
        match answer.status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => {
                Err(DeliveryError::Transient(format!("http {}", answer.status)))
            }
            status => Err(DeliveryError::Permanent(DeliveryFailure::Rejected {
                code: i64::from(status),
                message: answer.body.chars().take(200).collect(),
            })),
        }
    }

    fn refusal_reply(&self, reason: RefusalReason) -> HttpReply {
        json_reply(reason)
    }
}
