//! The example adapter of `channels/README.md`: a kiosk or IoT device that speaks a
//! tiny HTTP-JSON protocol. It POSTs `{"device", "key", "seq", "text"}` to its
//! account's path; agent lines go back as `{"device", "text"}` to `callback_url`.
//! Everything else (listener, dedupe by `dedupe_key`, rate limits, retries, metrics)
//! is the hub's.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::adapter::{
    Accepted, Adapter, AdapterKind, BuildContext, DeliveryError, HttpReply, InboundRequest,
    Incoming,
};
use crate::adapter::{Method, Refusal, RefusalReason};
use crate::config::{AccountSpec, ConfigError};
use crate::event::{DeliveryFailure, Identity, OutboundLine, VisitorContent, VisitorEvent};
use crate::http_client;

/// The `kind` name.
pub const KIND: &str = "device";

/// The account's `settings` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    /// The key every device of the account presents.
    pub key: String,
    /// Where agent lines are POSTed.
    pub callback_url: String,
}

/// What a device POSTs.
#[derive(Debug, Deserialize)]
struct DeviceLine {
    device: String,
    key: String,
    seq: u64,
    text: String,
}

/// Builds `device` accounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceKind;

impl AdapterKind for DeviceKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn build(
        &self,
        account: &AccountSpec,
        context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        let settings: DeviceSettings = account.settings()?;
        if settings.key.len() < 8 {
            return Err(ConfigError::settings(
                account,
                "key must be at least 8 bytes",
            ));
        }
        Ok(Arc::new(DeviceAdapter {
            account: account.name.clone(),
            settings,
            http: context.http.clone(),
        }))
    }
}

/// One device account.
pub struct DeviceAdapter {
    account: String,
    settings: DeviceSettings,
    http: ureq::Agent,
}

impl std::fmt::Debug for DeviceAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAdapter")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Adapter for DeviceAdapter {
    fn inbound(&self, request: &InboundRequest<'_>, now: SystemTime) -> Result<Accepted, Refusal> {
        if request.method != Method::Post {
            return Err(RefusalReason::Method.into());
        }
        let line: DeviceLine =
            serde_json::from_slice(request.body).map_err(|_| RefusalReason::Malformed)?;
        if !bool::from(line.key.as_bytes().ct_eq(self.settings.key.as_bytes())) {
            return Err(RefusalReason::BadSignature.into());
        }
        let name_ok = (1..=64).contains(&line.device.len())
            && line
                .device
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok || line.text.is_empty() {
            return Err(RefusalReason::Malformed.into());
        }
        let event = VisitorEvent {
            account: self.account.clone(),
            identity: Identity::new(KIND, &self.account, &line.device),
            content: VisitorContent::Text { text: line.text },
            platform_msg_id: Some(line.seq.to_string()),
            sent_at: now,
        };
        Ok(Accepted {
            events: vec![Incoming {
                event,
                dedupe_key: Some(format!("{}:{}", line.device, line.seq)),
            }],
            reply: HttpReply::json(200, &serde_json::json!({ "ok": true })),
        })
    }

    fn deliver(&self, line: &OutboundLine, _now: SystemTime) -> Result<(), DeliveryError> {
        let device = line.identity.platform_user();
        if !line.identity.as_str().starts_with(KIND) || device.is_empty() {
            let foreign = DeliveryFailure::ForeignIdentity(line.identity.to_string());
            return Err(DeliveryError::Permanent(foreign));
        }
        let body = serde_json::json!({ "device": device, "text": line.body }).to_string();
        let answer = http_client::post_json(
            &self.http,
            &self.settings.callback_url,
            &[],
            body.as_bytes(),
        )?;
        match answer.status {
            200..=299 => Ok(()),
            status => Err(DeliveryError::Transient(format!(
                "device callback answered {status}"
            ))),
        }
    }
}
