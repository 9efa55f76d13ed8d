//! The rules file as written: serde types that mirror `bot/SCHEMA.md` one to one.
//!
//! Only the shape is checked here (unknown keys and wrong types are refused with the
//! parser's position). Everything that needs context — regexes, variables, weights,
//! references between sections — is checked when these are compiled into a `RuleSet`.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

use crate::matcher::MatcherKind;

/// Text per language: language tag → template.
pub(crate) type RawText = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRules {
    pub version: u32,
    pub languages: Vec<String>,
    #[serde(default)]
    pub settings: RawSettings,
    #[serde(default)]
    pub welcome: Option<RawText>,
    pub fallback: RawText,
    #[serde(default)]
    pub handoff_reply: Option<RawText>,
    #[serde(default)]
    pub business_hours: Option<RawHours>,
    pub intents: Vec<RawIntent>,
    #[serde(default)]
    pub routing: Option<RawRouting>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSettings {
    pub matcher: MatcherKind,
    pub threshold: f64,
    pub max_misses: u32,
    pub inactivity_timeout_ms: u64,
    pub max_bot_ms: Option<u64>,
    pub max_line_chars: usize,
    pub max_attempts: u32,
    pub max_recorded_intents: usize,
    pub keyword_weight: f64,
    pub pattern_weight: f64,
}

impl Default for RawSettings {
    fn default() -> Self {
        let s = crate::rules::Settings::default();
        Self {
            matcher: s.matcher,
            threshold: f64::from(s.threshold),
            max_misses: s.max_misses,
            inactivity_timeout_ms: s.inactivity_timeout_ms,
            max_bot_ms: s.max_bot_ms,
            max_line_chars: s.max_line_chars,
            max_attempts: s.max_attempts,
            max_recorded_intents: s.max_recorded_intents,
            keyword_weight: 0.9,
            pattern_weight: 0.95,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntent {
    pub name: String,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub keywords: Vec<Weighted>,
    #[serde(default)]
    pub patterns: Vec<Weighted>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default = "one")]
    pub fuzzy_weight: f64,
    #[serde(default)]
    pub reply: Option<RawReply>,
    #[serde(default)]
    pub form: Option<RawForm>,
    #[serde(default)]
    pub then: RawThen,
    #[serde(default)]
    pub handoff_reason: Option<RawRuleReason>,
}

fn one() -> f64 {
    1.0
}

/// What an intent does after its reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawThen {
    #[default]
    Continue,
    Handoff,
    Resolve,
}

/// The reason an intent with `then: handoff` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawRuleReason {
    VisitorAsked,
    Rule,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReply {
    #[serde(default)]
    pub text: Option<RawText>,
    #[serde(default)]
    pub variants: Vec<RawVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVariant {
    pub name: String,
    #[serde(default = "one")]
    pub weight: f64,
    pub text: RawText,
    #[serde(default)]
    pub active: Option<RawWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub hours: Option<RawHoursState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawHoursState {
    Open,
    Closed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForm {
    pub fields: Vec<RawField>,
    #[serde(default)]
    pub cancel_words: Vec<String>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub on_cancel: RawOnCancel,
    #[serde(default)]
    pub cancel_reply: Option<RawText>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawOnCancel {
    #[default]
    Handoff,
    Resume,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawField {
    pub name: String,
    pub kind: RawFieldKind,
    #[serde(default)]
    pub pattern: Option<String>,
    pub prompt: RawText,
    #[serde(default)]
    pub retry: Option<RawText>,
    #[serde(default = "default_field_chars")]
    pub max_chars: usize,
}

fn default_field_chars() -> usize {
    100
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawFieldKind {
    Pattern,
    Phone,
    Email,
    Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHours {
    pub utc_offset: String,
    pub days: Vec<String>,
    pub open: String,
    pub close: String,
    pub closed_reply: RawText,
    #[serde(default)]
    pub when_closed: RawWhenClosed,
    #[serde(default)]
    pub leave_message: Option<RawLeaveMessage>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawWhenClosed {
    #[default]
    LeaveMessage,
    Handoff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLeaveMessage {
    pub form: RawForm,
    pub done_reply: RawText,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub default: RawTarget,
    #[serde(default)]
    pub rules: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub group: String,
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub name: String,
    pub when: Vec<String>,
    pub group: String,
    #[serde(default)]
    pub priority: i32,
}

/// A keyword or a pattern: a plain string, or `{ text: ..., weight: ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Weighted {
    pub text: String,
    pub weight: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedMap {
    text: String,
    weight: f64,
}

impl<'de> Deserialize<'de> for Weighted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WeightedVisitor)
    }
}

struct WeightedVisitor;

impl<'de> Visitor<'de> for WeightedVisitor {
    type Value = Weighted;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a mapping with `text` and `weight`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Weighted, E> {
        Ok(Weighted {
            text: v.to_owned(),
            weight: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Weighted, A::Error> {
        let m = WeightedMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Weighted {
            text: m.text,
            weight: Some(m.weight),
        })
    }
}
