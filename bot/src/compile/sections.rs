//! The top of the document: version, languages, settings, shared texts, business
//! hours, forms and routing.

use std::collections::BTreeSet;

use super::checker::Checker;
use crate::clock::{parse_clock, parse_day, parse_offset, BusinessHours};
use crate::form::{FieldCheck, FieldSpec, FormSpec, OnCancel};
use crate::locate::DocPath;
use crate::routing::{parse_condition, RouteRule, RoutingTable, KNOWN_ATTRIBUTES};
use crate::rules::{Hours, LeaveMessage, RuleSet, Settings, WhenClosed};
use crate::schema::{
    RawField, RawFieldKind, RawForm, RawHours, RawOnCancel, RawRouting, RawRules, RawSettings,
    RawWhenClosed,
};
use crate::text::normalize;

/// The schema version this crate reads.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Longest line limit a file may set, in characters.
const MAX_LINE_CHARS: usize = 100_000;

impl Checker<'_> {
    pub(crate) fn rules(&mut self, raw: RawRules, version: u64) -> Option<RuleSet> {
        let root = DocPath::default();
        if raw.version != SCHEMA_VERSION {
            self.problem(
                &root.key("version"),
                format!(
                    "schema version {} is not supported (only {SCHEMA_VERSION})",
                    raw.version
                ),
            );
        }
        self.languages(&raw.languages, &root.key("languages"));
        let mut settings = self.settings(&raw.settings, &root.key("settings"));
        if let Some(kind) = self.options.matcher {
            settings.matcher = kind;
        }
        self.collect_fields(&raw);
        let welcome = self.opt_text(raw.welcome.as_ref(), &root.key("welcome"));
        let fallback = self.text(&raw.fallback, &root.key("fallback"));
        let handoff_reply = self.opt_text(raw.handoff_reply.as_ref(), &root.key("handoff_reply"));
        let hours = raw
            .business_hours
            .as_ref()
            .and_then(|h| self.hours(h, &settings, &root.key("business_hours")));
        let (intents, matcher) =
            self.intents(&raw, &settings, hours.is_some(), &root.key("intents"));
        let routing = self.routing(raw.routing.as_ref(), &root.key("routing"));
        Some(RuleSet {
            version,
            settings,
            languages: self.languages.clone(),
            welcome,
            fallback,
            handoff_reply,
            hours,
            intents,
            matcher: matcher?,
            routing,
            session_counters: self.registry.sessions(),
            metrics: self.registry.clone(),
        })
    }

    fn languages(&mut self, languages: &[String], path: &DocPath) {
        if languages.is_empty() {
            self.problem(
                path,
                "at least one language is needed (the first is the default)",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, lang) in languages.iter().enumerate() {
            let ok = !lang.is_empty()
                && lang.len() <= 35
                && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                self.problem(&path.index(i), format!("`{lang}` is not a language tag"));
            }
            if !seen.insert(lang.to_ascii_lowercase()) {
                self.problem(&path.index(i), format!("language `{lang}` is listed twice"));
            }
        }
        self.languages = languages.to_vec();
    }

    fn settings(&mut self, raw: &RawSettings, path: &DocPath) -> Settings {
        let threshold = raw.threshold;
        if !(threshold.is_finite() && threshold > 0.0 && threshold <= 1.0) {
            self.problem(
                &path.key("threshold"),
                "threshold must be above 0 and at most 1",
            );
        }
        self.require(
            raw.max_misses >= 1,
            (),
            &path.key("max_misses"),
            "max_misses must be at least 1",
        );
        self.require(
            raw.max_attempts >= 1,
            (),
            &path.key("max_attempts"),
            "max_attempts must be at least 1",
        );
        self.require(
            raw.inactivity_timeout_ms >= 1000,
            (),
            &path.key("inactivity_timeout_ms"),
            "inactivity_timeout_ms must be at least 1000",
        );
        self.require(
            (1..=MAX_LINE_CHARS).contains(&raw.max_line_chars),
            (),
            &path.key("max_line_chars"),
            "max_line_chars must be from 1 to 100000",
        );
        self.require(
            (1..=1000).contains(&raw.max_recorded_intents),
            (),
            &path.key("max_recorded_intents"),
            "max_recorded_intents must be from 1 to 1000",
        );
        self.weight(raw.keyword_weight, 1.0, &path.key("keyword_weight"));
        self.weight(raw.pattern_weight, 1.0, &path.key("pattern_weight"));
        Settings {
            matcher: raw.matcher,
            threshold: threshold as f32,
            max_misses: raw.max_misses,
            inactivity_timeout_ms: raw.inactivity_timeout_ms,
            max_bot_ms: raw.max_bot_ms,
            max_line_chars: raw.max_line_chars,
            max_attempts: raw.max_attempts,
            max_recorded_intents: raw.max_recorded_intents,
        }
    }

    /// Every field some form collects, so templates and routing can name them.
    fn collect_fields(&mut self, raw: &RawRules) {
        let intent_forms = raw.intents.iter().filter_map(|i| i.form.as_ref());
        let leave = raw
            .business_hours
            .as_ref()
            .and_then(|h| h.leave_message.as_ref())
            .map(|l| &l.form);
        for form in intent_forms.chain(leave) {
            self.fields
                .0
                .extend(form.fields.iter().map(|f| f.name.clone()));
        }
    }

    pub(crate) fn form(&mut self, raw: &RawForm, settings: &Settings, path: &DocPath) -> FormSpec {
        if raw.fields.is_empty() {
            self.problem(&path.key("fields"), "a form needs at least one field");
        }
        let mut names = BTreeSet::new();
        let mut fields = Vec::new();
        for (i, f) in raw.fields.iter().enumerate() {
            let at = path.key("fields").index(i);
            if !names.insert(f.name.as_str()) {
                self.problem(
                    &at.key("name"),
                    format!("field `{}` is in this form twice", f.name),
                );
            }
            fields.extend(self.field(f, &at));
        }
        let mut cancel_words = Vec::new();
        for (i, w) in raw.cancel_words.iter().enumerate() {
            let word = normalize(w);
            match self.require(
                !word.is_empty(),
                word,
                &path.key("cancel_words").index(i),
                "cancel word is empty",
            ) {
                Some(word) => cancel_words.push(word),
                None => continue,
            }
        }
        let max_attempts = raw.max_attempts.unwrap_or(settings.max_attempts);
        self.require(
            max_attempts >= 1,
            (),
            &path.key("max_attempts"),
            "max_attempts must be at least 1",
        );
        let cancel_reply = self.opt_text(raw.cancel_reply.as_ref(), &path.key("cancel_reply"));
        let on_cancel = match raw.on_cancel {
            RawOnCancel::Handoff => OnCancel::Handoff,
            RawOnCancel::Resume => OnCancel::Resume,
        };
        if on_cancel == OnCancel::Resume && cancel_reply.is_none() {
            self.problem(
                &path.key("on_cancel"),
                "`on_cancel: resume` needs a `cancel_reply`",
            );
        }
        FormSpec {
            fields,
            cancel_words,
            max_attempts,
            on_cancel,
            cancel_reply,
        }
    }

    fn field(&mut self, raw: &RawField, path: &DocPath) -> Option<FieldSpec> {
        self.name(&raw.name, "field name", &path.key("name"));
        let prompt = self.text(&raw.prompt, &path.key("prompt"));
        let retry = self.opt_text(raw.retry.as_ref(), &path.key("retry"));
        if !(1..=1000).contains(&raw.max_chars) {
            self.problem(&path.key("max_chars"), "max_chars must be from 1 to 1000");
        }
        let pattern_at = path.key("pattern");
        let check = match (raw.kind, raw.pattern.as_deref()) {
            (RawFieldKind::Pattern, Some(p)) => FieldCheck::Pattern(self.regex(p, &pattern_at)?),
            (RawFieldKind::Pattern, None) => {
                self.problem(&path.key("kind"), "`kind: pattern` needs a `pattern`");
                return None;
            }
            (_, Some(_)) => {
                self.problem(&pattern_at, "only `kind: pattern` takes a `pattern`");
                return None;
            }
            (RawFieldKind::Phone, None) => FieldCheck::phone().ok()?,
            (RawFieldKind::Email, None) => FieldCheck::email().ok()?,
            (RawFieldKind::Text, None) => FieldCheck::Text,
        };
        Some(FieldSpec {
            name: raw.name.clone(),
            check,
            prompt,
            retry,
            max_chars: raw.max_chars,
        })
    }

    fn hours(&mut self, raw: &RawHours, settings: &Settings, path: &DocPath) -> Option<Hours> {
        let offset =
            parse_offset(&raw.utc_offset).map_err(|e| self.problem(&path.key("utc_offset"), e));
        let open = parse_clock(&raw.open).map_err(|e| self.problem(&path.key("open"), e));
        let close = parse_clock(&raw.close).map_err(|e| self.problem(&path.key("close"), e));
        let mut days = 0u8;
        for (i, d) in raw.days.iter().enumerate() {
            match parse_day(d) {
                Ok(bit) if days & bit != 0 => self.problem(
                    &path.key("days").index(i),
                    format!("day `{d}` is listed twice"),
                ),
                Ok(bit) => days |= bit,
                Err(e) => self.problem(&path.key("days").index(i), e),
            }
        }
        if raw.days.is_empty() {
            self.problem(&path.key("days"), "business hours need at least one day");
        }
        let closed_reply = self.text(&raw.closed_reply, &path.key("closed_reply"));
        let when_closed = match raw.when_closed {
            RawWhenClosed::LeaveMessage => WhenClosed::LeaveMessage,
            RawWhenClosed::Handoff => WhenClosed::Handoff,
        };
        let leave_at = path.key("leave_message");
        let leave_message = raw.leave_message.as_ref().map(|l| LeaveMessage {
            form: self.form(&l.form, settings, &leave_at.key("form")),
            done_reply: self.text(&l.done_reply, &leave_at.key("done_reply")),
        });
        if when_closed == WhenClosed::LeaveMessage && leave_message.is_none() {
            self.problem(
                &path.key("when_closed"),
                "`when_closed: leave_message` needs a `leave_message`",
            );
        }
        let (offset, open, close) = (offset.ok()?, open.ok()?, close.ok()?);
        if open == close {
            self.problem(&path.key("close"), "open and close are the same time");
        }
        Some(Hours {
            hours: BusinessHours::new(offset, days, open, close),
            closed_reply,
            when_closed,
            leave_message,
        })
    }

    fn routing(&mut self, raw: Option<&RawRouting>, path: &DocPath) -> RoutingTable {
        let Some(raw) = raw else {
            return RoutingTable::default();
        };
        self.name(
            &raw.default.group,
            "group",
            &path.key("default").key("group"),
        );
        let mut names = BTreeSet::new();
        let mut rules = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let at = path.key("rules").index(i);
            self.name(&r.name, "routing rule name", &at.key("name"));
            self.name(&r.group, "group", &at.key("group"));
            if !names.insert(r.name.as_str()) {
                self.problem(
                    &at.key("name"),
                    format!("routing rule `{}` is defined twice", r.name),
                );
            }
            if r.when.is_empty() {
                self.problem(
                    &at.key("when"),
                    "a routing rule needs at least one condition",
                );
            }
            let mut conditions = Vec::new();
            for (j, text) in r.when.iter().enumerate() {
                let cond_at = at.key("when").index(j);
                match parse_condition(text) {
                    Ok(c) => {
                        self.attribute(&c.attribute, &cond_at);
                        conditions.push(c);
                    }
                    Err(e) => self.problem(&cond_at, e.to_string()),
                }
            }
            rules.push(RouteRule {
                name: r.name.clone(),
                conditions,
                group: r.group.clone(),
                priority: r.priority,
            });
        }
        RoutingTable {
            rules,
            default_group: raw.default.group.clone(),
            default_priority: raw.default.priority,
        }
    }

    fn attribute(&mut self, name: &str, path: &DocPath) {
        if let Some(field) = name.strip_prefix("fields.") {
            if !self.fields.0.contains(field) {
                self.problem(path, format!("`{name}` names a field no form collects"));
            }
        } else if !KNOWN_ATTRIBUTES.contains(&name) {
            self.problem(
                path,
                format!(
                    "unknown attribute `{name}`; known: {}, fields.<name>",
                    KNOWN_ATTRIBUTES.join(", ")
                ),
            );
        }
    }
}
