//! The checker's common parts: the problem list, texts, weights, regexes, names.

use regex::Regex;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::locate::DocPath;
use crate::metrics::MetricsRegistry;
use crate::rules::{LoadOptions, LocalText};
use crate::schema::RawText;
use crate::template::{KnownFields, Template};

/// Collects problems while compiling.
pub(crate) struct Checker<'a> {
    pub options: &'a LoadOptions,
    pub registry: Arc<MetricsRegistry>,
    /// Declared languages, default first (set once `languages` is checked).
    pub languages: Vec<String>,
    /// Every field some form collects.
    pub fields: FieldNames,
    problems: Vec<(DocPath, String)>,
}

/// The set of field names any form collects.
#[derive(Debug, Default)]
pub(crate) struct FieldNames(pub BTreeSet<String>);

impl KnownFields for FieldNames {
    fn is_known_field(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn new(options: &'a LoadOptions, registry: Arc<MetricsRegistry>) -> Self {
        Self {
            options,
            registry,
            languages: Vec::new(),
            fields: FieldNames::default(),
            problems: Vec::new(),
        }
    }

    pub(crate) fn into_problems(self) -> Vec<(DocPath, String)> {
        self.problems
    }

    /// Records a problem at `path`.
    pub(crate) fn problem(&mut self, path: &DocPath, message: impl Into<String>) {
        self.problems.push((path.clone(), message.into()));
    }

    /// `Some(value)` if `ok`, else a problem and `None`.
    pub(crate) fn require<T>(
        &mut self,
        ok: bool,
        value: T,
        path: &DocPath,
        message: &str,
    ) -> Option<T> {
        if ok {
            Some(value)
        } else {
            self.problem(path, message);
            None
        }
    }

    /// A weight in (0, max].
    pub(crate) fn weight(&mut self, value: f64, max: f64, path: &DocPath) -> f32 {
        if !(value.is_finite() && value > 0.0 && value <= max) {
            self.problem(
                path,
                format!("weight {value} must be above 0 and at most {max}"),
            );
        }
        value as f32
    }

    /// A name of lower-case letters, digits and `_`.
    pub(crate) fn name(&mut self, name: &str, what: &str, path: &DocPath) {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            self.problem(
                path,
                format!("{what} `{name}` must be 1 to 64 of a-z, 0-9, `_` and `-`"),
            );
        }
    }

    /// A regex compiled under the size limit.
    pub(crate) fn regex(&mut self, source: &str, path: &DocPath) -> Option<Regex> {
        match regex::RegexBuilder::new(source)
            .size_limit(self.options.regex_size_limit)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                self.problem(path, format!("regular expression does not compile: {e}"));
                None
            }
        }
    }

    /// A per-language text: declared languages only, the default one present, every
    /// template valid.
    pub(crate) fn text(&mut self, raw: &RawText, path: &DocPath) -> LocalText {
        let mut texts = Vec::new();
        for (lang, template) in raw {
            let at = path.key(lang);
            if !self.languages.iter().any(|l| l == lang) {
                self.problem(&at, format!("language `{lang}` is not in `languages`"));
                continue;
            }
            if template.trim().is_empty() {
                self.problem(&at, "text is empty");
            }
            match Template::parse(template, &self.fields) {
                Ok(t) => texts.push((lang.clone(), t)),
                Err(e) => self.problem(&at, e),
            }
        }
        if let Some(default) = self.languages.first().cloned() {
            if !raw.contains_key(&default) {
                self.problem(
                    path,
                    format!("text has no `{default}` (the default language)"),
                );
            }
            // The default language first, so it is the fallback of `LocalText::pick`.
            texts.sort_by_key(|(l, _)| *l != default);
        }
        LocalText { texts }
    }

    /// An optional text.
    pub(crate) fn opt_text(&mut self, raw: Option<&RawText>, path: &DocPath) -> Option<LocalText> {
        raw.map(|t| self.text(t, path))
    }

    /// Refuses a list longer than the per-intent limit.
    pub(crate) fn bounded(&mut self, len: usize, path: &DocPath) {
        let max = self.options.max_per_intent;
        if len > max {
            self.problem(path, format!("{len} entries, over the limit of {max}"));
        }
    }
}
