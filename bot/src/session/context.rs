//! What the engine tells the bot about the visitor and the moment.

use serde::{Deserialize, Serialize};

/// The visitor's claims (from their token): used in replies (`{claims.name}`) and
/// routing (`tier in [vip, gold]`). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Customer tier, such as `vip`.
    #[serde(default)]
    pub tier: Option<String>,
    /// Lifetime value, in the shop's currency.
    #[serde(default)]
    pub ltv: Option<f64>,
    /// Preferred language tag, such as `zh-CN`.
    #[serde(default)]
    pub language: Option<String>,
    /// Groups the visitor belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Channel the conversation came from (`web`, `app`, ...).
    #[serde(default)]
    pub channel: Option<String>,
}

/// The context of one call into a session.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The visitor's stable id (A/B variants hash it).
    pub visitor_id: &'a str,
    /// The language the visitor's client asked for, if any (`Accept-Language`).
    pub language: Option<&'a str>,
    /// The visitor's claims.
    pub claims: &'a Claims,
}
