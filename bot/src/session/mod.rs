//! One conversation's bot: a pure state machine. Each call takes the event and the
//! time and returns the actions to carry out; nothing else happens.
//!
//! States: answering questions (idle), filling a form (an intent's, or the
//! leave-a-message form out of hours), and three final ones — handed off, resolved,
//! message left. A final session ignores every further event.

mod action;
mod context;
mod flow;
mod record;
mod reply;

pub use action::{Action, HandoffReason};
pub use context::{Claims, Context};
pub use record::{ReplyRef, RestoreError, SessionRecord, StateRecord};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::SessionEvent;
use crate::rules::RuleSet;
use crate::text::{script_of, truncate_chars, Script};

/// Which form a session is filling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormRef {
    /// The form of the intent at this index.
    Intent(usize),
    /// The out-of-hours leave-a-message form.
    LeaveMessage,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    HandedOff(HandoffReason),
    Resolved,
    MessageLeft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Form {
        form: FormRef,
        field: usize,
        attempts: u32,
    },
    Done(Outcome),
}

/// The bot of one conversation.
#[derive(Debug, Clone)]
pub struct BotSession {
    rules: Arc<RuleSet>,
    visitor_id: String,
    claims: Claims,
    started_ms: u64,
    last_activity_ms: u64,
    language: String,
    misses: u32,
    /// The misses in a row before the last reply: unhelpful feedback on that reply
    /// turns it into one more miss of the same run.
    misses_before_reply: u32,
    phase: Phase,
    /// Distinct intents matched, in order (bounded by `max_recorded_intents`).
    intents: Vec<String>,
    fields: BTreeMap<String, String>,
    /// Intent → the variant this visitor was given (kept for the whole session).
    variants: BTreeMap<String, String>,
    /// The last reply, which feedback is about: (intent index, variant index).
    last_reply: Option<(usize, usize)>,
}

impl BotSession {
    /// Starts the bot on a new conversation; the actions are the welcome, if any.
    pub fn start(rules: Arc<RuleSet>, ctx: &Context<'_>) -> (Self, Vec<Action>) {
        let language = initial_language(&rules, ctx);
        rules.session_counters.add(SessionEvent::Started);
        let session = Self {
            visitor_id: ctx.visitor_id.to_owned(),
            claims: ctx.claims.clone(),
            started_ms: ctx.now_ms,
            last_activity_ms: ctx.now_ms,
            language,
            misses: 0,
            misses_before_reply: 0,
            phase: Phase::Idle,
            intents: Vec::new(),
            fields: BTreeMap::new(),
            variants: BTreeMap::new(),
            last_reply: None,
            rules,
        };
        let welcome = session.system_reply(session.rules.welcome.as_ref());
        (session, welcome.into_iter().collect())
    }

    /// A line from the visitor. Empty lines and lines after the end do nothing.
    pub fn on_visitor_line(&mut self, text: &str, ctx: &Context<'_>) -> Vec<Action> {
        if self.is_finished() {
            return Vec::new();
        }
        let line = truncate_chars(text.trim(), self.rules.settings.max_line_chars);
        if line.is_empty() {
            return Vec::new();
        }
        self.last_activity_ms = self.last_activity_ms.max(ctx.now_ms);
        if self.claims != *ctx.claims {
            self.claims = ctx.claims.clone();
        }
        self.follow_script(line);
        match self.phase {
            Phase::Idle => self.idle_line(line, ctx.now_ms),
            Phase::Form {
                form,
                field,
                attempts,
            } => self.form_line(line, form, field, attempts, ctx.now_ms),
            Phase::Done(_) => Vec::new(),
        }
    }

    /// Time passes: hands off after `inactivity_timeout_ms` without a visitor line or
    /// after `max_bot_ms` in the bot. Call it at least once a second or so.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        if self.is_finished() {
            return Vec::new();
        }
        let settings = &self.rules.settings;
        let idle_for = now_ms.saturating_sub(self.last_activity_ms);
        let in_bot_for = now_ms.saturating_sub(self.started_ms);
        if idle_for >= settings.inactivity_timeout_ms {
            return self.handoff(HandoffReason::Timeout, now_ms, false);
        }
        if settings.max_bot_ms.is_some_and(|max| in_bot_for >= max) {
            return self.handoff(HandoffReason::TimeLimit, now_ms, false);
        }
        Vec::new()
    }

    /// The visitor rated the last reply. Unhelpful counts as a miss, and enough
    /// misses in a row hand off (business hours are judged at the last activity).
    /// Feedback without a reply to rate, or a second one on the same reply, is ignored.
    pub fn on_feedback(&mut self, helpful: bool) -> Vec<Action> {
        let Some((intent, variant)) = self.last_reply.take() else {
            return Vec::new();
        };
        let event = if helpful {
            crate::metrics::VariantEvent::Helpful
        } else {
            crate::metrics::VariantEvent::Unhelpful
        };
        if let Some(v) = self
            .rules
            .intents
            .get(intent)
            .and_then(|i| i.variants.get(variant))
        {
            v.counters.add(event);
        }
        if helpful || self.is_finished() {
            return Vec::new();
        }
        self.misses = self.misses_before_reply + 1;
        self.misses_before_reply = self.misses;
        if self.misses >= self.rules.settings.max_misses {
            // The hand-off is counted against the reply that was just rated.
            self.last_reply = Some((intent, variant));
            return self.handoff(HandoffReason::LowConfidence, self.last_activity_ms, true);
        }
        Vec::new()
    }

    /// Whether the session has ended (handed off, resolved or message left).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// The rule set this session runs on.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// The language the bot answers in.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Fields collected so far.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// Intents matched so far.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// Answer in the script the visitor writes in, when the line says (an order
    /// number alone does not).
    fn follow_script(&mut self, line: &str) {
        let wanted = match script_of(line) {
            Script::Han => "zh",
            Script::Latin => "en",
            Script::Unknown => return,
        };
        if let Some(lang) = self.rules.resolve_language(wanted) {
            if lang != self.language {
                self.language = lang.to_owned();
            }
        }
    }
}

fn initial_language(rules: &RuleSet, ctx: &Context<'_>) -> String {
    ctx.language
        .or(ctx.claims.language.as_deref())
        .and_then(|tag| rules.resolve_language(tag))
        .unwrap_or_else(|| rules.default_language())
        .to_owned()
}
