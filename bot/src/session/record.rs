//! The persisted form of a session: an explicit, versioned record (`"v": 1`) whose
//! JSON is pinned by golden files, so a refactor of the state machine cannot silently
//! change what is on disk. Intents, fields and variants are named, not numbered, so a
//! record restores onto a newer rule set (the one in force after a restart).
//!
//! The visitor's claims are not in the record: the engine has them from the token and
//! passes them again on restore.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BotSession, Context, FormRef, HandoffReason, Outcome, Phase};
use crate::rules::RuleSet;

/// The record version this crate writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    /// Record version, always 1 for now.
    pub v: u32,
    /// The version of the rule set the session ran on when stored.
    pub rules_version: u64,
    /// When the bot started, ms since the epoch.
    pub started_ms: u64,
    /// The last visitor line, ms since the epoch.
    pub last_activity_ms: u64,
    /// The language the bot answers in.
    pub language: String,
    /// Misses in a row.
    pub misses: u32,
    /// Misses in a row before the last reply (unhelpful feedback adds to these).
    pub misses_before_reply: u32,
    /// Where the state machine is.
    pub state: StateRecord,
    /// Intents matched, in order.
    pub intents: Vec<String>,
    /// Fields collected.
    pub fields: BTreeMap<String, String>,
    /// Intent → variant given to this visitor.
    pub variants: BTreeMap<String, String>,
    /// The reply that feedback would rate.
    pub last_reply: Option<ReplyRef>,
}

/// A reply by intent and variant name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRef {
    /// The intent.
    pub intent: String,
    /// The variant.
    pub variant: String,
}

/// The state machine's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StateRecord {
    /// Answering questions.
    Idle,
    /// Filling an intent's form.
    Form {
        /// The intent whose form it is.
        intent: String,
        /// The field being asked for.
        field: String,
        /// Refused answers so far for that field.
        attempts: u32,
    },
    /// Filling the out-of-hours leave-a-message form.
    LeaveMessage {
        /// The field being asked for.
        field: String,
        /// Refused answers so far.
        attempts: u32,
    },
    /// Handed off (final).
    HandedOff {
        /// Why.
        reason: HandoffReason,
    },
    /// Resolved by the bot (final).
    Resolved,
    /// A message was left (final).
    MessageLeft,
}

/// Why a record cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The record is of a version this crate does not read.
    #[error("session record version {0} is not supported (only {RECORD_VERSION})")]
    Version(u32),
    /// The record is in a form of an intent the rule set no longer has (or that no
    /// longer has a form).
    #[error("session is in a form of intent `{0}`, which the rules no longer have")]
    UnknownForm(String),
    /// The field being asked for is no longer in that form.
    #[error("session is asking for field `{0}`, which the form no longer has")]
    UnknownField(String),
}

impl BotSession {
    /// The session as a record to store.
    pub fn record(&self) -> SessionRecord {
        SessionRecord {
            v: RECORD_VERSION,
            rules_version: self.rules.version(),
            started_ms: self.started_ms,
            last_activity_ms: self.last_activity_ms,
            language: self.language.clone(),
            misses: self.misses,
            misses_before_reply: self.misses_before_reply,
            state: self.state_record(),
            intents: self.intents.clone(),
            fields: self.fields.clone(),
            variants: self.variants.clone(),
            last_reply: self.last_reply.and_then(|(i, v)| {
                let intent = self.rules.intents.get(i)?;
                Some(ReplyRef {
                    intent: intent.name.clone(),
                    variant: intent.variants.get(v)?.name.clone(),
                })
            }),
        }
    }

    fn state_record(&self) -> StateRecord {
        match self.phase {
            Phase::Idle => StateRecord::Idle,
            Phase::Form {
                form,
                field,
                attempts,
            } => {
                let field_name = self
                    .form_spec(&self.rules, form)
                    .and_then(|f| f.fields.get(field))
                    .map_or_else(String::new, |f| f.name.clone());
                match form {
                    FormRef::Intent(i) => StateRecord::Form {
                        intent: self.rules.intent_name(i).unwrap_or_default().to_owned(),
                        field: field_name,
                        attempts,
                    },
                    FormRef::LeaveMessage => StateRecord::LeaveMessage {
                        field: field_name,
                        attempts,
                    },
                }
            }
            Phase::Done(Outcome::HandedOff(reason)) => StateRecord::HandedOff { reason },
            Phase::Done(Outcome::Resolved) => StateRecord::Resolved,
            Phase::Done(Outcome::MessageLeft) => StateRecord::MessageLeft,
        }
    }

    /// Rebuilds a session from a record onto `rules` (normally the handle's current
    /// version), with the visitor's id and claims from `ctx`. Variants and the last
    /// reply that the rules no longer have are dropped (the next reply picks again);
    /// a form that is gone is an error, for the engine to start afresh or hand off.
    pub fn restore(
        rules: Arc<RuleSet>,
        record: &SessionRecord,
        ctx: &Context<'_>,
    ) -> Result<Self, RestoreError> {
        if record.v != RECORD_VERSION {
            return Err(RestoreError::Version(record.v));
        }
        let phase = restore_phase(&rules, &record.state)?;
        let language = rules
            .resolve_language(&record.language)
            .unwrap_or_else(|| rules.default_language())
            .to_owned();
        let variants = record
            .variants
            .iter()
            .filter(|(intent, variant)| find_variant(&rules, intent, variant).is_some())
            .map(|(i, v)| (i.clone(), v.clone()))
            .collect();
        let last_reply = record
            .last_reply
            .as_ref()
            .and_then(|r| find_variant(&rules, &r.intent, &r.variant));
        let max_intents = rules.settings.max_recorded_intents;
        Ok(Self {
            visitor_id: ctx.visitor_id.to_owned(),
            claims: ctx.claims.clone(),
            started_ms: record.started_ms,
            last_activity_ms: record.last_activity_ms,
            language,
            misses: record.misses,
            misses_before_reply: record.misses_before_reply,
            phase,
            intents: record.intents.iter().take(max_intents).cloned().collect(),
            fields: record.fields.clone(),
            variants,
            last_reply,
            rules,
        })
    }
}

fn find_variant(rules: &RuleSet, intent: &str, variant: &str) -> Option<(usize, usize)> {
    let i = rules.intent_index(intent)?;
    let v = rules.intents[i]
        .variants
        .iter()
        .position(|v| v.name == variant)?;
    Some((i, v))
}

fn restore_phase(rules: &RuleSet, state: &StateRecord) -> Result<Phase, RestoreError> {
    Ok(match state {
        StateRecord::Idle => Phase::Idle,
        StateRecord::Form {
            intent,
            field,
            attempts,
        } => {
            let index = rules
                .intent_index(intent)
                .filter(|&i| rules.intents[i].form.is_some())
                .ok_or_else(|| RestoreError::UnknownForm(intent.clone()))?;
            let form = rules.intents[index].form.as_ref();
            let field_index = form
                .and_then(|f| f.fields.iter().position(|f| f.name == *field))
                .ok_or_else(|| RestoreError::UnknownField(field.clone()))?;
            Phase::Form {
                form: FormRef::Intent(index),
                field: field_index,
                attempts: *attempts,
            }
        }
        StateRecord::LeaveMessage { field, attempts } => {
            let form = rules.hours.as_ref().and_then(|h| h.leave_message.as_ref());
            let form = form.ok_or_else(|| RestoreError::UnknownForm("leave_message".to_owned()))?;
            let field_index = form
                .form
                .fields
                .iter()
                .position(|f| f.name == *field)
                .ok_or_else(|| RestoreError::UnknownField(field.clone()))?;
            Phase::Form {
                form: FormRef::LeaveMessage,
                field: field_index,
                attempts: *attempts,
            }
        }
        StateRecord::HandedOff { reason } => Phase::Done(Outcome::HandedOff(*reason)),
        StateRecord::Resolved => Phase::Done(Outcome::Resolved),
        StateRecord::MessageLeft => Phase::Done(Outcome::MessageLeft),
    })
}
