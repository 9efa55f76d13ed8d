//! Intents: their names, signals (keywords, patterns, examples), replies and variants,
//! forms, and the matcher built from all of them.

use std::collections::BTreeSet;

use super::checker::Checker;
use crate::clock::{parse_instant, Window};
use crate::locate::DocPath;
use crate::matcher::{
    FeatureExtractor, FuzzyIndex, IntentWeights, KeywordIndex, Matcher, PatternIndex,
};
use crate::rules::{HoursState, Intent, Settings, Then, Variant};
use crate::schema::{
    RawHoursState, RawIntent, RawReply, RawRuleReason, RawRules, RawThen, RawVariant, RawWindow,
};
use crate::session::HandoffReason;
use crate::text::normalize;

/// The name that means "no intent" in evaluations; no intent may take it.
pub(crate) const NO_INTENT: &str = "none";

/// The variant name of a reply written without variants.
pub(crate) const DEFAULT_VARIANT: &str = "default";

/// The signals of every intent, gathered for the matcher.
#[derive(Default)]
struct Signals {
    keywords: Vec<(usize, String, f32)>,
    patterns: Vec<(usize, String, f32)>,
    examples: Vec<(usize, String)>,
    weights: Vec<IntentWeights>,
}

impl Checker<'_> {
    pub(crate) fn intents(
        &mut self,
        raw: &RawRules,
        settings: &Settings,
        has_hours: bool,
        path: &DocPath,
    ) -> (Vec<Intent>, Option<Matcher>) {
        if raw.intents.len() > self.options.max_intents {
            self.problem(
                path,
                format!(
                    "{} intents, over the limit of {}",
                    raw.intents.len(),
                    self.options.max_intents
                ),
            );
        }
        let mut names = BTreeSet::new();
        let mut signals = Signals::default();
        let mut intents = Vec::new();
        for (i, intent) in raw.intents.iter().enumerate() {
            let at = path.index(i);
            self.name(&intent.name, "intent name", &at.key("name"));
            if intent.name == NO_INTENT {
                self.problem(&at.key("name"), "`none` is reserved for \"no intent\"");
            }
            if !names.insert(intent.name.as_str()) {
                self.problem(
                    &at.key("name"),
                    format!("intent `{}` is defined twice", intent.name),
                );
            }
            self.signals(i, intent, &raw.settings, &at, &mut signals);
            intents.push(self.intent(intent, settings, has_hours, &at));
        }
        let matcher = self.matcher(signals, settings);
        (intents, matcher)
    }

    fn signals(
        &mut self,
        index: usize,
        raw: &RawIntent,
        s: &crate::schema::RawSettings,
        path: &DocPath,
        out: &mut Signals,
    ) {
        for (list, len) in [
            ("keywords", raw.keywords.len()),
            ("patterns", raw.patterns.len()),
            ("examples", raw.examples.len()),
        ] {
            self.bounded(len, &path.key(list));
        }
        if raw.keywords.is_empty() && raw.patterns.is_empty() && raw.examples.is_empty() {
            self.problem(path, "an intent needs keywords, patterns or examples");
        }
        for (j, k) in raw.keywords.iter().enumerate() {
            let at = path.key("keywords").index(j);
            let weight = self.weight(k.weight.unwrap_or(s.keyword_weight), 1.0, &at);
            let text = normalize(&k.text);
            if let Some(text) = self.require(!text.is_empty(), text, &at, "keyword is empty") {
                out.keywords.push((index, text, weight));
            }
        }
        for (j, p) in raw.patterns.iter().enumerate() {
            let at = path.key("patterns").index(j);
            let weight = self.weight(p.weight.unwrap_or(s.pattern_weight), 1.0, &at);
            if self.regex(&p.text, &at).is_some() {
                out.patterns.push((index, p.text.clone(), weight));
            }
        }
        for (j, e) in raw.examples.iter().enumerate() {
            let text = normalize(e);
            if let Some(text) = self.require(
                !text.is_empty(),
                text,
                &path.key("examples").index(j),
                "example is empty",
            ) {
                out.examples.push((index, text));
            }
        }
        let fuzzy_weight = self.weight(raw.fuzzy_weight, 2.0, &path.key("fuzzy_weight"));
        out.weights.push(IntentWeights {
            priority: raw.priority,
            fuzzy_weight,
        });
    }

    fn matcher(&mut self, signals: Signals, settings: &Settings) -> Option<Matcher> {
        let root = DocPath::default().key("intents");
        let keywords = KeywordIndex::build(&signals.keywords)
            .map_err(|e| self.problem(&root, e))
            .ok()?;
        let patterns = PatternIndex::build(
            &signals.patterns,
            self.options.regex_size_limit.saturating_mul(16),
        )
        .map_err(|e| self.problem(&root, format!("patterns together: {e}")))
        .ok()?;
        let extractor = FeatureExtractor::new(settings.matcher);
        let examples: Vec<(usize, Vec<u64>)> = signals
            .examples
            .iter()
            .map(|(i, text)| (*i, extractor.features(text)))
            .collect();
        let fuzzy = FuzzyIndex::build(&examples, signals.weights.len());
        Some(Matcher::new(
            keywords,
            patterns,
            fuzzy,
            extractor,
            signals.weights,
            settings.threshold,
        ))
    }

    fn intent(
        &mut self,
        raw: &RawIntent,
        settings: &Settings,
        has_hours: bool,
        path: &DocPath,
    ) -> Intent {
        let then = match (raw.then, raw.handoff_reason) {
            (RawThen::Handoff, Some(RawRuleReason::VisitorAsked)) => {
                Then::Handoff(HandoffReason::VisitorAsked)
            }
            (RawThen::Handoff, Some(RawRuleReason::Rule) | None) => {
                Then::Handoff(HandoffReason::Rule)
            }
            (RawThen::Resolve, None) => Then::Resolve,
            (RawThen::Continue, None) => Then::Continue,
            (_, Some(_)) => {
                self.problem(
                    &path.key("handoff_reason"),
                    "`handoff_reason` needs `then: handoff`",
                );
                Then::Continue
            }
        };
        if then == Then::Continue && raw.reply.is_none() {
            self.problem(
                path,
                "an intent that does not hand off or resolve needs a `reply`",
            );
        }
        if then != Then::Continue && raw.form.is_some() {
            self.problem(
                &path.key("form"),
                "a form needs `then: continue` (the default)",
            );
        }
        let form = raw
            .form
            .as_ref()
            .map(|f| self.form(f, settings, &path.key("form")));
        let variants = match &raw.reply {
            Some(reply) => self.reply(&raw.name, reply, has_hours, &path.key("reply")),
            None => vec![self.variant_without_text(&raw.name)],
        };
        Intent {
            name: raw.name.clone(),
            variants,
            form,
            then,
        }
    }

    fn variant_without_text(&self, intent: &str) -> Variant {
        Variant {
            name: DEFAULT_VARIANT.to_owned(),
            weight: 1.0,
            text: None,
            window: None,
            hours: None,
            counters: self.registry.variant(intent, DEFAULT_VARIANT),
        }
    }

    fn reply(
        &mut self,
        intent: &str,
        raw: &RawReply,
        has_hours: bool,
        path: &DocPath,
    ) -> Vec<Variant> {
        match (&raw.text, raw.variants.is_empty()) {
            (Some(text), true) => {
                let mut v = self.variant_without_text(intent);
                v.text = Some(self.text(text, &path.key("text")));
                vec![v]
            }
            (None, false) => self.variants(intent, &raw.variants, has_hours, &path.key("variants")),
            _ => {
                self.problem(
                    path,
                    "a reply has either `text` or `variants`, not both or neither",
                );
                Vec::new()
            }
        }
    }

    fn variants(
        &mut self,
        intent: &str,
        raw: &[RawVariant],
        has_hours: bool,
        path: &DocPath,
    ) -> Vec<Variant> {
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for (i, v) in raw.iter().enumerate() {
            let at = path.index(i);
            self.name(&v.name, "variant name", &at.key("name"));
            if !names.insert(v.name.as_str()) {
                self.problem(
                    &at.key("name"),
                    format!("variant `{}` is defined twice", v.name),
                );
            }
            let weight = f64::from(self.weight(v.weight, 1e6, &at.key("weight")));
            let (window, hours) = match &v.active {
                Some(w) => self.window(w, has_hours, &at.key("active")),
                None => (None, None),
            };
            out.push(Variant {
                name: v.name.clone(),
                weight,
                text: Some(self.text(&v.text, &at.key("text"))),
                window,
                hours,
                counters: self.registry.variant(intent, &v.name),
            });
        }
        if !out.is_empty() && out.iter().all(Variant::is_conditional) {
            self.problem(
                path,
                "at least one variant must have no `active` condition (it is used at other times)",
            );
        }
        out
    }

    fn window(
        &mut self,
        raw: &RawWindow,
        has_hours: bool,
        path: &DocPath,
    ) -> (Option<Window>, Option<HoursState>) {
        let mut instant = |s: &Option<String>, key: &str| {
            s.as_deref().and_then(|t| {
                parse_instant(t)
                    .map_err(|e| self.problem(&path.key(key), e))
                    .ok()
            })
        };
        let from_ms = instant(&raw.from, "from");
        let until_ms = instant(&raw.until, "until");
        if let (Some(f), Some(u)) = (from_ms, until_ms) {
            self.require(
                f < u,
                (),
                &path.key("until"),
                "`until` must be after `from`",
            );
        }
        let hours = raw.hours.map(|h| match h {
            RawHoursState::Open => HoursState::Open,
            RawHoursState::Closed => HoursState::Closed,
        });
        if hours.is_some() && !has_hours {
            self.problem(
                &path.key("hours"),
                "`hours` needs a `business_hours` section",
            );
        }
        if raw.from.is_none() && raw.until.is_none() && raw.hours.is_none() {
            self.problem(path, "`active` needs `from`, `until` or `hours`");
        }
        let window =
            (raw.from.is_some() || raw.until.is_some()).then_some(Window { from_ms, until_ms });
        (window, hours)
    }
}
