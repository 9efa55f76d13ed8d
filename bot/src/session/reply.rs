//! Producing actions: replies (with variant choice), questions, hand-offs, the end.

use super::{Action, BotSession, FormRef, HandoffReason, Outcome, Phase};
use crate::form::FormSpec;
use crate::metrics::{SessionEvent, VariantEvent};
use crate::routing::{AttrValue, RouteAttributes};
use crate::rules::{HoursState, LocalText, Variant, WhenClosed};
use crate::variant::choose;

impl BotSession {
    /// A reply that belongs to no intent (welcome, fallback, closed notice, ...).
    pub(super) fn system_reply(&self, text: Option<&LocalText>) -> Option<Action> {
        let template = text?.pick(&self.language)?;
        Some(Action::Reply {
            text: template.render(&self.claims, &self.fields, &self.visitor_id),
            intent: None,
            variant: None,
            confidence: 1.0,
        })
    }

    /// The reply of an intent, in the variant this visitor gets; counts the match.
    pub(super) fn intent_reply(
        &mut self,
        intent: usize,
        confidence: f32,
        now_ms: u64,
    ) -> Option<Action> {
        let rules = self.rules.clone();
        let spec = rules.intents.get(intent)?;
        let index = self.pick_variant(intent, now_ms)?;
        let variant = spec.variants.get(index)?;
        variant.counters.add(VariantEvent::Matched);
        // An intent without text (a hand-off) is no reply to rate: feedback and the
        // hand-off counter stay with the reply before it.
        let template = variant.text.as_ref()?.pick(&self.language)?;
        self.last_reply = Some((intent, index));
        self.variants
            .insert(spec.name.clone(), variant.name.clone());
        Some(Action::Reply {
            text: template.render(&self.claims, &self.fields, &self.visitor_id),
            intent: Some(spec.name.clone()),
            variant: Some(variant.name.clone()),
            confidence,
        })
    }

    /// Variants whose time condition holds win over the others (a promotion replaces
    /// the usual answer while it runs); among the eligible, the visitor keeps the one
    /// first given, else the stable hash picks by weight.
    fn pick_variant(&self, intent: usize, now_ms: u64) -> Option<usize> {
        let spec = self.rules.intents.get(intent)?;
        let active: Vec<usize> = (0..spec.variants.len())
            .filter(|&i| {
                spec.variants[i].is_conditional() && self.is_active(&spec.variants[i], now_ms)
            })
            .collect();
        let pool: Vec<usize> = if active.is_empty() {
            (0..spec.variants.len())
                .filter(|&i| !spec.variants[i].is_conditional())
                .collect()
        } else {
            active
        };
        if let Some(given) = self.variants.get(&spec.name) {
            if let Some(&i) = pool.iter().find(|&&i| spec.variants[i].name == *given) {
                return Some(i);
            }
        }
        let weights: Vec<f64> = pool.iter().map(|&i| spec.variants[i].weight).collect();
        choose(&weights, &self.visitor_id, &spec.name).and_then(|k| pool.get(k).copied())
    }

    fn is_active(&self, variant: &Variant, now_ms: u64) -> bool {
        let in_window = variant.window.is_none_or(|w| w.contains(now_ms));
        let hours_ok = match variant.hours {
            None => true,
            Some(state) => {
                let open = self.is_open(now_ms);
                (state == HoursState::Open) == open
            }
        };
        in_window && hours_ok
    }

    fn is_open(&self, now_ms: u64) -> bool {
        self.rules
            .hours
            .as_ref()
            .is_none_or(|h| h.hours.is_open(now_ms))
    }

    /// The question for a form field (its retry text after a refused answer).
    pub(super) fn ask(&self, form: &FormSpec, field: usize, retry: bool) -> Option<Action> {
        let spec = form.fields.get(field)?;
        let text = if retry {
            spec.retry.as_ref().unwrap_or(&spec.prompt)
        } else {
            &spec.prompt
        };
        let template = text.pick(&self.language)?;
        Some(Action::Ask {
            field: spec.name.clone(),
            prompt: template.render(&self.claims, &self.fields, &self.visitor_id),
        })
    }

    /// Hands off — or, out of hours with a leave-a-message path, starts that form
    /// (unless `leave_allowed` is false: timeouts, and failures of that form itself).
    pub(super) fn handoff(
        &mut self,
        reason: HandoffReason,
        now_ms: u64,
        leave_allowed: bool,
    ) -> Vec<Action> {
        let rules = self.rules.clone();
        let closed = rules.hours.as_ref().filter(|h| !h.hours.is_open(now_ms));
        let mut actions: Vec<Action> = Vec::new();
        if let Some(hours) = closed {
            actions.extend(self.system_reply(Some(&hours.closed_reply)));
            let leave = hours
                .leave_message
                .as_ref()
                .filter(|_| hours.when_closed == WhenClosed::LeaveMessage);
            if let Some(leave) = leave.filter(|_| leave_allowed) {
                actions.extend(self.next_field_or_done(FormRef::LeaveMessage, &leave.form, now_ms));
                return actions;
            }
        } else {
            actions.extend(self.system_reply(rules.handoff_reply.as_ref()));
        }
        if let Some(v) = self.last_variant() {
            v.counters.add(VariantEvent::HandedOff);
        }
        rules.session_counters.add(SessionEvent::HandedOff(reason));
        self.phase = Phase::Done(Outcome::HandedOff(reason));
        actions.push(Action::Handoff {
            reason,
            intents: self.intents.clone(),
            fields: self.fields.clone(),
            route: rules.route(&self.route_attributes()),
            language: self.language.clone(),
        });
        actions
    }

    /// The bot closes the conversation; every variant given shares the credit.
    pub(super) fn resolve(&mut self) -> Action {
        let rules = self.rules.clone();
        for (intent, variant) in &self.variants {
            let counters = rules.intent_index(intent).and_then(|i| {
                rules.intents[i]
                    .variants
                    .iter()
                    .find(|v| v.name == *variant)
            });
            if let Some(v) = counters {
                v.counters.add(VariantEvent::Resolved);
            }
        }
        rules.session_counters.add(SessionEvent::Resolved);
        self.phase = Phase::Done(Outcome::Resolved);
        Action::Resolved
    }

    fn last_variant(&self) -> Option<&Variant> {
        let (intent, variant) = self.last_reply?;
        self.rules.intents.get(intent)?.variants.get(variant)
    }

    /// The attributes routing sees: claims, the language spoken, intents, fields.
    pub fn route_attributes(&self) -> RouteAttributes {
        let mut attrs = RouteAttributes::from_claims(&self.claims);
        attrs.set("language", AttrValue::Text(self.language.clone()));
        attrs.set("intents", AttrValue::List(self.intents.clone()));
        for (name, value) in &self.fields {
            attrs.set(&format!("fields.{name}"), AttrValue::Text(value.clone()));
        }
        attrs
    }
}
