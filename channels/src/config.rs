//! The `--channels FILE` configuration: a TOML file with the hub's listener and
//! limits, one `[[account]]` entry per platform account, and the outbound webhook
//! subscriptions. Every limit has a default; the schema is in `channels/README.md`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::webhook::{DispatcherLimits, Subscription};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid channels configuration: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("invalid channels configuration: {0}")]
    Invalid(String),
    /// An account names a kind no adapter was registered for.
    #[error("account {account:?}: unknown kind {kind:?}")]
    UnknownKind {
        /// The account's name.
        account: String,
        /// The kind it names.
        kind: String,
    },
    /// An account's `settings` table is wrong for its kind.
    #[error("account {account:?}: {message}")]
    Settings {
        /// The account's name.
        account: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// A [`ConfigError::Settings`] of `account`.
    pub fn settings(account: &AccountSpec, message: impl Into<String>) -> Self {
        Self::Settings {
            account: account.name.clone(),
            message: message.into(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The address of the hub's HTTP listener (fixed for the hub's life).
    pub listen: SocketAddr,
    /// Threads, queues and other hub-wide limits.
    #[serde(default)]
    pub hub: HubLimits,
    /// The platform accounts.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountSpec>,
    /// Outbound webhook subscriptions (used by [`crate::webhook::WebhookDispatcher`]).
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<Subscription>,
    /// The dispatcher's limits.
    #[serde(default)]
    pub dispatcher: DispatcherLimits,
}

impl HubConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit and that names and paths are unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.hub.validate()?;
        self.dispatcher.validate()?;
        let mut names = HashSet::new();
        let mut paths = HashSet::new();
        for account in &self.accounts {
            account.validate()?;
            if !names.insert(account.name.as_str()) {
                return invalid(format!("account name {:?} is used twice", account.name));
            }
            if !paths.insert(account.path.as_str()) {
                return invalid(format!("path {:?} is used twice", account.path));
            }
        }
        let mut subscriptions = HashSet::new();
        for subscription in &self.subscriptions {
            subscription.validate()?;
            if !subscriptions.insert(subscription.name.as_str()) {
                return invalid(format!(
                    "subscription {:?} is used twice",
                    subscription.name
                ));
            }
        }
        Ok(())
    }
}

/// Hub-wide threads and queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubLimits {
    /// Threads that answer inbound HTTP requests.
    pub http_threads: usize,
    /// Threads that deliver outbound lines (a conversation always uses the same one).
    pub outbound_workers: usize,
    /// Lines each outbound worker holds, queued or being retried; over it
    /// `send_outbound` answers `QueueFull` at once.
    pub outbound_queue: usize,
    /// Open inbound connections; more are closed at accept.
    pub max_connections: usize,
    /// Time a connection may take to send a request's head (slowloris guard).
    pub header_read_timeout_ms: u64,
    /// Time a request may take to send its body.
    pub body_read_timeout_ms: u64,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            http_threads: 2,
            outbound_workers: 2,
            outbound_queue: 4096,
            max_connections: 1024,
            header_read_timeout_ms: 5_000,
            body_read_timeout_ms: 5_000,
        }
    }
}

impl HubLimits {
    fn validate(&self) -> Result<(), ConfigError> {
        in_range("hub.http_threads", self.http_threads, 1, 256)?;
        in_range("hub.outbound_workers", self.outbound_workers, 1, 256)?;
        in_range("hub.outbound_queue", self.outbound_queue, 1, 10_000_000)?;
        in_range("hub.max_connections", self.max_connections, 1, 1_000_000)?;
        in_range(
            "hub.header_read_timeout_ms",
            self.header_read_timeout_ms,
            1,
            600_000,
        )?;
        in_range(
            "hub.body_read_timeout_ms",
            self.body_read_timeout_ms,
            1,
            600_000,
        )
    }
}

/// One platform account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// A unique name: letters, digits, `-`, `_`, `.`; used in metrics, logs and
    /// [`crate::OutboundLine::account`].
    pub name: String,
    /// The adapter kind (`wechat`, `webhook`, `device`, or one you registered).
    pub kind: String,
    /// The inbound path on the hub's listener, such as `/wechat/shop`.
    pub path: String,
    /// Limits of this account.
    #[serde(default)]
    pub limits: AccountLimits,
    /// The outbound rate limit.
    #[serde(default)]
    pub rate: RateLimit,
    /// An optional inbound rate limit (requests over it get 429).
    #[serde(default)]
    pub inbound_rate: Option<RateLimit>,
    /// The kind's own settings (credentials, URLs); see each kind's schema.
    #[serde(default)]
    pub settings: toml::Table,
}

impl AccountSpec {
    fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return invalid(format!(
                "account name {:?} must be 1-64 letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        let path_ok = self.path.starts_with('/')
            && self.path.len() <= 256
            && !self.path.contains(['?', '#', ' ']);
        if !path_ok {
            return invalid(format!(
                "account {:?}: path {:?} must start with '/' and hold no '?', '#' or space",
                self.name, self.path
            ));
        }
        self.limits.validate(&self.name)?;
        self.rate.validate(&self.name)?;
        if let Some(rate) = &self.inbound_rate {
            rate.validate(&self.name)?;
        }
        Ok(())
    }

    /// Deserializes the `settings` table into a kind's own settings type.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::Value::Table(self.settings.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::settings(self, format!("settings: {}", e.message()))
            })
    }
}

/// Per-account limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountLimits {
    /// The largest inbound body; larger ones get 413 unread.
    pub max_body_bytes: usize,
    /// How far a request's timestamp may be from now, either way.
    pub replay_window_secs: u64,
    /// How many message keys the dedupe window remembers.
    pub dedupe_capacity: usize,
    /// How long a message key is remembered.
    pub dedupe_window_secs: u64,
    /// The timeout of one outbound HTTP call, connect to last byte.
    pub request_timeout_ms: u64,
    /// The connect timeout of an outbound call.
    pub connect_timeout_ms: u64,
    /// Attempts per outbound line before it is reported failed.
    pub max_attempts: u32,
    /// The first retry's backoff; it doubles each attempt, with jitter.
    pub backoff_initial_ms: u64,
    /// The backoff's ceiling.
    pub backoff_max_ms: u64,
}

impl Default for AccountLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            replay_window_secs: 300,
            dedupe_capacity: 100_000,
            dedupe_window_secs: 600,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 2_000,
            max_attempts: 5,
            backoff_initial_ms: 200,
            backoff_max_ms: 30_000,
        }
    }
}

impl AccountLimits {
    fn validate(&self, account: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("account {account:?}: limits.{name}");
        in_range(
            &field("max_body_bytes"),
            self.max_body_bytes,
            64,
            64 * 1024 * 1024,
        )?;
        in_range(
            &field("replay_window_secs"),
            self.replay_window_secs,
            1,
            86_400,
        )?;
        in_range(
            &field("dedupe_capacity"),
            self.dedupe_capacity,
            1,
            10_000_000,
        )?;
        in_range(
            &field("dedupe_window_secs"),
            self.dedupe_window_secs,
            1,
            7 * 86_400,
        )?;
        in_range(
            &field("request_timeout_ms"),
            self.request_timeout_ms,
            1,
            600_000,
        )?;
        in_range(
            &field("connect_timeout_ms"),
            self.connect_timeout_ms,
            1,
            600_000,
        )?;
        in_range(&field("max_attempts"), self.max_attempts, 1, 100)?;
        in_range(
            &field("backoff_initial_ms"),
            self.backoff_initial_ms,
            1,
            3_600_000,
        )?;
        in_range(
            &field("backoff_max_ms"),
            self.backoff_max_ms,
            self.backoff_initial_ms,
            3_600_000,
        )
    }

    /// `replay_window_secs` as a duration.
    pub fn replay_window(&self) -> Duration {
        Duration::from_secs(self.replay_window_secs)
    }
}

/// A token bucket: `per_second` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// The sustained rate.
    pub per_second: f64,
    /// The largest burst.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 100,
        }
    }
}

impl RateLimit {
    fn validate(&self, account: &str) -> Result<(), ConfigError> {
        if !(self.per_second > 0.0 && self.per_second <= 1e6) {
            return invalid(format!(
                "account {account:?}: rate per_second must be in (0, 1e6]"
            ));
        }
        in_range(
            &format!("account {account:?}: rate burst"),
            self.burst,
            1,
            1_000_000,
        )
    }
}

/// `Err(Invalid)` unless `min <= value <= max`.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return invalid(format!("{name} = {value} is outside {min}..={max}"));
    }
    Ok(())
}

pub(crate) fn invalid<T>(message: String) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(message))
}
