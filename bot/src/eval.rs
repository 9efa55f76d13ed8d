//! The offline evaluator behind `switchboard bot match --rules FILE [--expect]`.
//!
//! Input is plain lines (one utterance each) or JSON lines `{"text": ..., "intent":
//! ...}` (an optional `"lang"` groups the accuracy by language; without it the script
//! decides: any Han character is `zh`, else `en`). Each line is answered as the first
//! line of a fresh session would be, and printed as JSON `{"text", "intent",
//! "confidence", "reply"}`; `intent` is `"none"` when nothing reached the threshold.
//! With expected intents, a confusion table and the accuracy follow.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

use crate::compile::NO_INTENT;
use crate::session::{Action, BotSession, Claims, Context};
use crate::text::{script_of, Script};
use crate::RuleSet;

/// Why an evaluation input was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A line starting with `{` is not a valid utterance object.
    #[error("line {line}: not a JSON utterance: {message}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// The JSON parser's message.
        message: String,
    },
    /// `--expect` was given but an utterance has no expected intent.
    #[error("utterance {utterance}: no expected \"intent\" (needed with --expect)")]
    MissingExpectation {
        /// 1-based number of the utterance (blank lines not counted).
        utterance: usize,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Write(#[from] io::Error),
}

/// One utterance to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// What the visitor says.
    pub text: String,
    /// The expected intent (`none` for no intent), if labelled.
    #[serde(default)]
    pub intent: Option<String>,
    /// A language label for per-language figures (`en`, `zh`, `mixed`, ...).
    #[serde(default)]
    pub lang: Option<String>,
}

/// Parses the evaluator's input: blank lines are skipped, a line starting with `{` is
/// JSON, anything else is plain text.
pub fn parse_utterances(input: &str) -> Result<Vec<Utterance>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            let u: Utterance = serde_json::from_str(line).map_err(|e| EvalError::Json {
                line: i + 1,
                message: e.to_string(),
            })?;
            out.push(u);
        } else {
            out.push(Utterance {
                text: line.to_owned(),
                intent: None,
                lang: None,
            });
        }
    }
    Ok(out)
}

/// The answer to one utterance, as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResult {
    /// The utterance.
    pub text: String,
    /// The intent found, or `none`.
    pub intent: String,
    /// The confidence (of the best candidate when `none`).
    pub confidence: f32,
    /// The first thing the bot would say (a reply or a question), if anything.
    pub reply: Option<String>,
}

/// Answers one utterance as the first line of a fresh session at `now_ms`.
pub fn match_line(rules: &Arc<RuleSet>, text: &str, now_ms: u64) -> LineResult {
    let found = rules.classify(text);
    let claims = Claims::default();
    let ctx = Context {
        now_ms,
        visitor_id: "evaluator",
        language: None,
        claims: &claims,
    };
    let (mut session, _) = BotSession::start(Arc::clone(rules), &ctx);
    let reply = session
        .on_visitor_line(text, &ctx)
        .into_iter()
        .find_map(|a| match a {
            Action::Reply { text, .. } => Some(text),
            Action::Ask { prompt, .. } => Some(prompt),
            _ => None,
        });
    LineResult {
        text: text.to_owned(),
        intent: found
            .intent
            .and_then(|i| rules.intent_name(i))
            .unwrap_or(NO_INTENT)
            .to_owned(),
        confidence: (found.confidence * 1000.0).round() / 1000.0,
        reply,
    }
}

/// Accuracy and confusions against expected intents.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scores {
    /// Utterances scored.
    pub total: usize,
    /// Utterances whose intent was the expected one.
    pub correct: usize,
    /// Per language label: (correct, total).
    pub by_language: BTreeMap<String, (usize, usize)>,
    /// (expected, found) → count, for every pair including the correct ones.
    pub confusion: BTreeMap<(String, String), usize>,
}

impl Scores {
    /// Correct / total (0 when empty).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.total)
    }

    /// The accuracy of one language label.
    pub fn language_accuracy(&self, lang: &str) -> Option<f64> {
        self.by_language.get(lang).map(|&(c, t)| ratio(c, t))
    }

    fn add(&mut self, expected: &str, found: &str, lang: &str) {
        let ok = expected == found;
        self.total += 1;
        self.correct += usize::from(ok);
        let entry = self.by_language.entry(lang.to_owned()).or_default();
        entry.0 += usize::from(ok);
        entry.1 += 1;
        *self
            .confusion
            .entry((expected.to_owned(), found.to_owned()))
            .or_default() += 1;
    }

    /// The confusion table (rows expected, columns found) and the accuracies, as text.
    pub fn render(&self) -> String {
        let mut labels: Vec<&str> = self
            .confusion
            .keys()
            .flat_map(|(e, f)| [e.as_str(), f.as_str()])
            .collect();
        labels.sort_unstable();
        labels.dedup();
        // Row labels are "NN name"; columns are the row numbers.
        let width = labels
            .iter()
            .map(|l| l.len() + 3)
            .max()
            .unwrap_or(0)
            .max(16);
        let mut out = String::new();
        let _ = write!(out, "{:width$} |", "expected \\ found");
        for (i, _) in labels.iter().enumerate() {
            let _ = write!(out, " {i:>3}");
        }
        out.push('\n');
        for (i, expected) in labels.iter().enumerate() {
            let _ = write!(out, "{:width$} |", format!("{i:>2} {expected}"));
            for found in &labels {
                let key = ((*expected).to_owned(), (*found).to_owned());
                match self.confusion.get(&key) {
                    Some(n) => {
                        let _ = write!(out, " {n:>3}");
                    }
                    None => out.push_str("   ."),
                }
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "accuracy: {}/{} = {:.1}%",
            self.correct,
            self.total,
            100.0 * self.accuracy()
        );
        for (lang, &(c, t)) in &self.by_language {
            let _ = writeln!(out, "  {lang}: {c}/{t} = {:.1}%", 100.0 * ratio(c, t));
        }
        out
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn language_label(u: &Utterance) -> String {
    u.lang.clone().unwrap_or_else(|| match script_of(&u.text) {
        Script::Han => "zh".to_owned(),
        Script::Latin | Script::Unknown => "en".to_owned(),
    })
}

/// Scores labelled utterances (unlabelled ones are skipped).
pub fn score(rules: &RuleSet, utterances: &[Utterance]) -> Scores {
    let mut scores = Scores::default();
    for u in utterances {
        let Some(expected) = &u.intent else { continue };
        let found = rules.classify(&u.text);
        let name = found
            .intent
            .and_then(|i| rules.intent_name(i))
            .unwrap_or(NO_INTENT);
        scores.add(expected, name, &language_label(u));
    }
    scores
}

/// The whole `bot match` command: one JSON line per utterance to `out`, then (with
/// `expect`) the confusion table and accuracy. Returns the scores when expected.
pub fn run_match(
    rules: &Arc<RuleSet>,
    input: &str,
    expect: bool,
    now_ms: u64,
    out: &mut dyn Write,
) -> Result<Option<Scores>, EvalError> {
    let utterances = parse_utterances(input)?;
    if expect {
        let missing = utterances.iter().position(|u| u.intent.is_none());
        if let Some(index) = missing {
            return Err(EvalError::MissingExpectation {
                utterance: index + 1,
            });
        }
    }
    for u in &utterances {
        let result = match_line(rules, &u.text, now_ms);
        let json = serde_json::to_string(&result).map_err(io::Error::other)?;
        writeln!(out, "{json}")?;
    }
    if !expect {
        return Ok(None);
    }
    let scores = score(rules, &utterances);
    write!(out, "{}", scores.render())?;
    Ok(Some(scores))
}
