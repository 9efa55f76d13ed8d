//! WeChat's server API as the adapter uses it: the access-token cache and the
//! customer-service message API. The base URL is configurable so tests point it at a
//! local simulator.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::adapter::DeliveryError;
use crate::event::DeliveryFailure;
use crate::http_client::{self, Answer};

/// `access_token` is invalid (another client refreshed it, or it was revoked).
pub const ERR_INVALID_TOKEN: i64 = 40001;
/// `access_token` expired.
pub const ERR_EXPIRED_TOKEN: i64 = 42001;
/// `access_token` is not a valid token at all.
pub const ERR_MALFORMED_TOKEN: i64 = 40014;
/// The follower's 48-hour reply window has passed.
pub const ERR_REPLY_WINDOW: i64 = 45015;
/// The platform is busy: retry later.
pub const ERR_SYSTEM_BUSY: i64 = -1;
/// The API's rate limit was reached: retry later.
pub const ERR_FREQUENCY: i64 = 45009;

/// The platform's JSON answer.
#[derive(Debug, Deserialize)]
struct ApiAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: String,
    expires_at: SystemTime,
}

/// The API client of one account.
pub struct PlatformApi {
    base: String,
    app_id: String,
    secret: String,
    agent: ureq::Agent,
    refresh_margin: Duration,
    reply_window_hours: u64,
    token: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for PlatformApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret or the token.
        f.debug_struct("PlatformApi")
            .field("base", &self.base)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl PlatformApi {
    /// A client of `base` (`https://api.weixin.qq.com` in production).
    pub fn new(
        base: &str,
        app_id: &str,
        secret: &str,
        agent: ureq::Agent,
        refresh_margin: Duration,
        reply_window_hours: u64,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            app_id: app_id.to_owned(),
            secret: secret.to_owned(),
            agent,
            refresh_margin,
            reply_window_hours,
            token: Mutex::new(None),
        }
    }

    /// Sends a text through the customer-service API. A token the platform calls
    /// invalid or expired is refreshed once and the send retried once.
    pub fn send_text(
        &self,
        open_id: &str,
        text: &str,
        now: SystemTime,
    ) -> Result<(), DeliveryError> {
        let body = serde_json::json!({
            "touser": open_id,
            "msgtype": "text",
            "text": { "content": text },
        })
        .to_string();
        let token = self.token(now, None)?;
        let answer = self.post_custom(&token, body.as_bytes())?;
        if !is_token_error(answer.errcode) {
            return self.judge(answer);
        }
        let token = self.token(now, Some(&token))?;
        let answer = self.post_custom(&token, body.as_bytes())?;
        if is_token_error(answer.errcode) {
            return Err(DeliveryError::Transient(format!(
                "access token refused twice: {} {}",
                answer.errcode, answer.errmsg
            )));
        }
        self.judge(answer)
    }

    fn judge(&self, answer: ApiAnswer) -> Result<(), DeliveryError> {
        match answer.errcode {
            0 => Ok(()),
            ERR_REPLY_WINDOW => Err(DeliveryError::Permanent(
                DeliveryFailure::ReplyWindowClosed {
                    hours: self.reply_window_hours,
                },
            )),
            ERR_SYSTEM_BUSY | ERR_FREQUENCY => Err(DeliveryError::Transient(format!(
                "{} {}",
                answer.errcode, answer.errmsg
            ))),
            code => Err(DeliveryError::Permanent(DeliveryFailure::Rejected {
                code,
                message: answer.errmsg,
            })),
        }
    }

    fn post_custom(&self, token: &str, body: &[u8]) -> Result<ApiAnswer, DeliveryError> {
        let url = format!(
            "{}/cgi-bin/message/custom/send?{}",
            self.base,
            query(&[("access_token", token)])
        );
        parse(http_client::post_json(&self.agent, &url, &[], body)?)
    }

    /// A token valid for at least the refresh margin. `rejected` is a token the
    /// platform just refused: it is replaced unless another worker already did.
    /// The lock is held while fetching so concurrent senders fetch once.
    fn token(&self, now: SystemTime, rejected: Option<&str>) -> Result<String, DeliveryError> {
        let mut cached = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(token) = cached.as_ref() {
            let fresh = now + self.refresh_margin < token.expires_at;
            if fresh && rejected != Some(token.value.as_str()) {
                return Ok(token.value.clone());
            }
        }
        let fetched = self.fetch_token(now)?;
        let value = fetched.value.clone();
        *cached = Some(fetched);
        Ok(value)
    }

    fn fetch_token(&self, now: SystemTime) -> Result<CachedToken, DeliveryError> {
        let url = format!(
            "{}/cgi-bin/token?{}",
            self.base,
            query(&[
                ("grant_type", "client_credential"),
                ("appid", &self.app_id),
                ("secret", &self.secret)
            ])
        );
        let answer = parse(http_client::get(&self.agent, &url)?)?;
        match (answer.errcode, answer.access_token, answer.expires_in) {
            (0, Some(value), Some(expires_in)) if !value.is_empty() => Ok(CachedToken {
                value,
                expires_at: now + Duration::from_secs(expires_in),
            }),
            (ERR_SYSTEM_BUSY, _, _) | (0, _, _) => Err(DeliveryError::Transient(format!(
                "token: {} {}",
                answer.errcode, answer.errmsg
            ))),
            (code, _, _) => Err(DeliveryError::Permanent(DeliveryFailure::Rejected {
                code,
                message: format!("getting an access token: {}", answer.errmsg),
            })),
        }
    }
}

fn is_token_error(code: i64) -> bool {
    matches!(
        code,
        ERR_INVALID_TOKEN | ERR_EXPIRED_TOKEN | ERR_MALFORMED_TOKEN
    )
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    query.finish()
}

fn parse(answer: Answer) -> Result<ApiAnswer, DeliveryError> {
    if answer.status >= 500 || answer.status == 429 {
        return Err(DeliveryError::Transient(format!("http {}", answer.status)));
    }
    serde_json::from_str(&answer.body)
        .map_err(|_| DeliveryError::Transient(format!("http {}: not a json answer", answer.status)))
}
