//! The transitions on a visitor line: answering in the idle state, filling a form.

use super::{Action, BotSession, FormRef, HandoffReason, Outcome, Phase};
use crate::form::{FieldCheck, FormSpec, OnCancel};
use crate::metrics::SessionEvent;
use crate::rules::Then;

impl BotSession {
    pub(super) fn idle_line(&mut self, line: &str, now_ms: u64) -> Vec<Action> {
        let found = self.rules.classify(line);
        match found.intent {
            Some(intent) => self.answer(intent, found.confidence, line, now_ms),
            None => self.miss(now_ms),
        }
    }

    fn miss(&mut self, now_ms: u64) -> Vec<Action> {
        self.rules.session_counters.add(SessionEvent::Missed);
        self.misses += 1;
        if self.misses >= self.rules.settings.max_misses {
            return self.handoff(HandoffReason::LowConfidence, now_ms, true);
        }
        self.system_reply(Some(&self.rules.fallback))
            .into_iter()
            .collect()
    }

    fn answer(&mut self, intent: usize, confidence: f32, line: &str, now_ms: u64) -> Vec<Action> {
        self.misses_before_reply = self.misses;
        self.misses = 0;
        self.remember_intent(intent);
        let rules = self.rules.clone();
        let Some(spec) = rules.intents.get(intent) else {
            return Vec::new();
        };
        let mut actions: Vec<Action> = Vec::new();
        match spec.then {
            Then::Handoff(reason) => {
                actions.extend(self.intent_reply(intent, confidence, now_ms));
                actions.extend(self.handoff(reason, now_ms, true));
            }
            Then::Resolve => {
                actions.extend(self.intent_reply(intent, confidence, now_ms));
                actions.push(self.resolve());
            }
            Then::Continue => match &spec.form {
                Some(form) => {
                    self.prefill(form, line);
                    actions.extend(self.next_field_or_done(FormRef::Intent(intent), form, now_ms));
                }
                None => actions.extend(self.intent_reply(intent, confidence, now_ms)),
            },
        }
        actions
    }

    /// Fields the first line already gives ("where is SO12345678?"). Free-text fields
    /// are not taken from it: the question itself is not the answer.
    fn prefill(&mut self, form: &FormSpec, line: &str) {
        for field in &form.fields {
            if matches!(field.check, FieldCheck::Text) || self.fields.contains_key(&field.name) {
                continue;
            }
            if let Some(value) = field.extract(line) {
                self.fields.insert(field.name.clone(), value);
            }
        }
    }

    pub(super) fn next_field_or_done(
        &mut self,
        form_ref: FormRef,
        form: &FormSpec,
        now_ms: u64,
    ) -> Vec<Action> {
        let fields = &self.fields;
        match form.next_missing(&|name| fields.contains_key(name)) {
            Some(field) => {
                self.phase = Phase::Form {
                    form: form_ref,
                    field,
                    attempts: 0,
                };
                self.ask(form, field, false).into_iter().collect()
            }
            None => self.complete(form_ref, now_ms),
        }
    }

    fn complete(&mut self, form_ref: FormRef, now_ms: u64) -> Vec<Action> {
        match form_ref {
            FormRef::Intent(intent) => {
                self.phase = Phase::Idle;
                self.intent_reply(intent, 1.0, now_ms).into_iter().collect()
            }
            FormRef::LeaveMessage => {
                let rules = self.rules.clone();
                let done = rules
                    .hours
                    .as_ref()
                    .and_then(|h| h.leave_message.as_ref())
                    .map(|l| &l.done_reply);
                let mut actions: Vec<Action> = self.system_reply(done).into_iter().collect();
                self.phase = Phase::Done(Outcome::MessageLeft);
                self.rules.session_counters.add(SessionEvent::MessageLeft);
                actions.push(Action::MessageLeft {
                    intents: self.intents.clone(),
                    fields: self.fields.clone(),
                    language: self.language.clone(),
                });
                actions
            }
        }
    }

    pub(super) fn form_line(
        &mut self,
        line: &str,
        form_ref: FormRef,
        field: usize,
        attempts: u32,
        now_ms: u64,
    ) -> Vec<Action> {
        let rules = self.rules.clone();
        let Some(form) = self.form_spec(&rules, form_ref) else {
            self.phase = Phase::Idle;
            return Vec::new();
        };
        if form.is_cancel(line) {
            return self.cancel(form, form_ref, now_ms);
        }
        if form_ref != FormRef::LeaveMessage {
            if let Some(actions) = self.asked_for_human(line, now_ms) {
                return actions;
            }
        }
        let Some(spec) = form.fields.get(field) else {
            return self.complete(form_ref, now_ms);
        };
        match spec.extract(line) {
            Some(value) => {
                self.fields.insert(spec.name.clone(), value);
                self.next_field_or_done(form_ref, form, now_ms)
            }
            None if attempts + 1 >= form.max_attempts => {
                let leave_allowed = form_ref != FormRef::LeaveMessage;
                self.handoff(HandoffReason::FormExhausted, now_ms, leave_allowed)
            }
            None => {
                self.phase = Phase::Form {
                    form: form_ref,
                    field,
                    attempts: attempts + 1,
                };
                self.ask(form, field, true).into_iter().collect()
            }
        }
    }

    /// In a form, a confident "I want a human" still hands off.
    fn asked_for_human(&mut self, line: &str, now_ms: u64) -> Option<Vec<Action>> {
        let found = self.rules.classify(line);
        let intent = found.intent?;
        let asks =
            self.rules.intents.get(intent)?.then == Then::Handoff(HandoffReason::VisitorAsked);
        if !asks {
            return None;
        }
        self.remember_intent(intent);
        Some(self.handoff(HandoffReason::VisitorAsked, now_ms, true))
    }

    fn cancel(&mut self, form: &FormSpec, form_ref: FormRef, now_ms: u64) -> Vec<Action> {
        match form.on_cancel {
            OnCancel::Handoff => self.handoff(
                HandoffReason::FormCancel,
                now_ms,
                form_ref != FormRef::LeaveMessage,
            ),
            OnCancel::Resume => {
                self.phase = Phase::Idle;
                self.system_reply(form.cancel_reply.as_ref())
                    .into_iter()
                    .collect()
            }
        }
    }

    pub(super) fn form_spec<'r>(
        &self,
        rules: &'r crate::RuleSet,
        form_ref: FormRef,
    ) -> Option<&'r FormSpec> {
        match form_ref {
            FormRef::Intent(i) => rules.intents.get(i)?.form.as_ref(),
            FormRef::LeaveMessage => rules
                .hours
                .as_ref()?
                .leave_message
                .as_ref()
                .map(|l| &l.form),
        }
    }

    fn remember_intent(&mut self, intent: usize) {
        let Some(name) = self.rules.intent_name(intent) else {
            return;
        };
        let known = self.intents.iter().any(|i| i == name);
        if !known && self.intents.len() < self.rules.settings.max_recorded_intents {
            self.intents.push(name.to_owned());
        }
    }
}
