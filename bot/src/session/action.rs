//! What a session asks the engine to do.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::routing::RouteDecision;

/// Why the bot handed a conversation to the human queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HandoffReason {
    /// The visitor asked for a human.
    #[serde(rename = "visitor_asked")]
    VisitorAsked,
    /// The bot had no confident answer `max_misses` times in a row.
    #[serde(rename = "low_confidence")]
    LowConfidence,
    /// An intent's rule says so (`then: handoff`).
    #[serde(rename = "rule")]
    Rule,
    /// The visitor was silent for `inactivity_timeout_ms`.
    #[serde(rename = "timeout")]
    Timeout,
    /// The conversation was in the bot for `max_bot_ms`.
    #[serde(rename = "time_limit")]
    TimeLimit,
    /// The visitor cancelled a form.
    #[serde(rename = "form_cancel")]
    FormCancel,
    /// A form field was refused `max_attempts` times.
    #[serde(rename = "form_exhausted")]
    FormExhausted,
}

impl HandoffReason {
    /// Every reason, in a fixed order (metrics index by it).
    pub const ALL: [HandoffReason; 7] = [
        Self::VisitorAsked,
        Self::LowConfidence,
        Self::Rule,
        Self::Timeout,
        Self::TimeLimit,
        Self::FormCancel,
        Self::FormExhausted,
    ];

    /// The reason's stable name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VisitorAsked => "visitor_asked",
            Self::LowConfidence => "low_confidence",
            Self::Rule => "rule",
            Self::Timeout => "timeout",
            Self::TimeLimit => "time_limit",
            Self::FormCancel => "form_cancel",
            Self::FormExhausted => "form_exhausted",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// One thing for the engine to do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Say this to the visitor.
    Reply {
        /// The text, variables filled in.
        text: String,
        /// The intent answered; `None` for the welcome, fallback and system replies.
        intent: Option<String>,
        /// The reply's variant (`default` without A/B variants).
        variant: Option<String>,
        /// The match's confidence (0..=1; 1 for system replies).
        confidence: f32,
    },
    /// Ask the visitor for a form field.
    Ask {
        /// The field's name.
        field: String,
        /// The question, variables filled in.
        prompt: String,
    },
    /// Hand the conversation to the human queue. Final: the session does nothing more.
    Handoff {
        /// Why.
        reason: HandoffReason,
        /// Intents matched so far, first first.
        intents: Vec<String>,
        /// Fields collected so far.
        fields: BTreeMap<String, String>,
        /// Where to queue, from the rule set's routing section.
        route: RouteDecision,
        /// The language the visitor writes in (a declared language).
        language: String,
    },
    /// Out of hours, the visitor left a message (for the engine to store as a ticket).
    /// Final.
    MessageLeft {
        /// Intents matched so far.
        intents: Vec<String>,
        /// The fields of the leave-a-message form and any collected before.
        fields: BTreeMap<String, String>,
        /// The language the visitor writes in.
        language: String,
    },
    /// The visitor said thanks or goodbye and the bot closed the conversation. Final.
    Resolved,
}
