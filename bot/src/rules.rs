//! The compiled, immutable rule set and its public face.

use std::path::Path;
use std::sync::Arc;

use crate::clock::{BusinessHours, Window};
use crate::error::RulesError;
use crate::form::FormSpec;
use crate::matcher::{Classification, Matcher, MatcherKind};
use crate::metrics::{MetricsRegistry, MetricsSnapshot, SessionCounters, VariantCounters};
use crate::routing::{RouteAttributes, RouteDecision, RoutingTable};
use crate::session::HandoffReason;
use crate::template::Template;
use crate::text::primary_subtag;

/// The bot's limits and thresholds, from the file's `settings` section; every field
/// has a default and the engine may expose each as a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How Chinese is cut for fuzzy matching.
    pub matcher: MatcherKind,
    /// Lowest confidence (0..=1) that counts as an answer.
    pub threshold: f32,
    /// Misses in a row (lines with no confident answer, or unhelpful feedback) before
    /// the bot hands off.
    pub max_misses: u32,
    /// Hand off after this long without a visitor line (milliseconds).
    pub inactivity_timeout_ms: u64,
    /// Hand off after this long in the bot at all, if set (milliseconds).
    pub max_bot_ms: Option<u64>,
    /// Visitor lines are cut to this many characters before matching.
    pub max_line_chars: usize,
    /// Attempts per form field before handing off, unless the form says otherwise.
    pub max_attempts: u32,
    /// At most this many distinct intents are remembered per session (for the hand-off).
    pub max_recorded_intents: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            matcher: MatcherKind::Ngram,
            threshold: 0.6,
            max_misses: 2,
            inactivity_timeout_ms: 5 * 60 * 1000,
            max_bot_ms: None,
            max_line_chars: 500,
            max_attempts: 3,
            max_recorded_intents: 32,
        }
    }
}

/// Limits on the rules file itself, and an optional matcher override (for comparing
/// matchers on the same file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest rules file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Most intents in a file.
    pub max_intents: usize,
    /// Most example phrases, keywords or patterns per intent (each).
    pub max_per_intent: usize,
    /// Compiled size limit of each regular expression, in bytes.
    pub regex_size_limit: usize,
    /// Use this matcher whatever the file says.
    pub matcher: Option<MatcherKind>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 4 << 20,
            max_intents: 1000,
            max_per_intent: 1000,
            regex_size_limit: 1 << 20,
            matcher: None,
        }
    }
}

/// A text in several languages, each a template.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalText {
    /// (language tag, template), the rule set's default language always present.
    pub texts: Vec<(String, Template)>,
}

impl LocalText {
    /// The template for `language`, else the first one (the default language's).
    pub(crate) fn pick(&self, language: &str) -> Option<&Template> {
        self.texts
            .iter()
            .find(|(l, _)| l == language)
            .or_else(|| self.texts.first())
            .map(|(_, t)| t)
    }
}

/// Whether a variant is for open or closed hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoursState {
    Open,
    Closed,
}

/// One variant of a reply.
#[derive(Debug)]
pub(crate) struct Variant {
    pub name: String,
    pub weight: f64,
    pub text: Option<LocalText>,
    pub window: Option<Window>,
    pub hours: Option<HoursState>,
    pub counters: Arc<VariantCounters>,
}

impl Variant {
    /// Whether this variant has a time condition.
    pub(crate) fn is_conditional(&self) -> bool {
        self.window.is_some() || self.hours.is_some()
    }
}

/// What an intent does after its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    Continue,
    Resolve,
    Handoff(HandoffReason),
}

/// One compiled intent.
#[derive(Debug)]
pub(crate) struct Intent {
    pub name: String,
    pub variants: Vec<Variant>,
    pub form: Option<FormSpec>,
    pub then: Then,
}

/// What to do when a hand-off is due outside business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenClosed {
    LeaveMessage,
    Handoff,
}

/// The leave-a-message path.
#[derive(Debug)]
pub(crate) struct LeaveMessage {
    pub form: FormSpec,
    pub done_reply: LocalText,
}

/// Business hours and what happens outside them.
#[derive(Debug)]
pub(crate) struct Hours {
    pub hours: BusinessHours,
    pub closed_reply: LocalText,
    pub when_closed: WhenClosed,
    pub leave_message: Option<LeaveMessage>,
}

/// One immutable, validated version of the bot's rules.
///
/// Cheap to share: sessions hold it in an `Arc` from start to end, so a reload never
/// changes the rules under a conversation.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) version: u64,
    pub(crate) settings: Settings,
    /// Declared languages; the first is the default.
    pub(crate) languages: Vec<String>,
    pub(crate) welcome: Option<LocalText>,
    pub(crate) fallback: LocalText,
    pub(crate) handoff_reply: Option<LocalText>,
    pub(crate) hours: Option<Hours>,
    pub(crate) intents: Vec<Intent>,
    pub(crate) matcher: Matcher,
    pub(crate) routing: RoutingTable,
    pub(crate) metrics: Arc<MetricsRegistry>,
    pub(crate) session_counters: Arc<SessionCounters>,
}

impl RuleSet {
    /// Compiles a rules document (version 0, counters of its own).
    pub fn from_yaml(yaml: &str) -> Result<Self, RulesError> {
        Self::from_yaml_with(yaml, &LoadOptions::default())
    }

    /// Compiles a rules document with explicit limits.
    pub fn from_yaml_with(yaml: &str, options: &LoadOptions) -> Result<Self, RulesError> {
        crate::compile::compile(yaml, options, 0, Arc::default())
    }

    /// Reads and compiles a rules file.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, RulesError> {
        let yaml = read_rules_file(path, options)?;
        Self::from_yaml_with(&yaml, options)
    }

    /// The version number the handle gave this rule set (0 outside a handle).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The declared languages, default first.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Intent names in file order (the indices of [`Classification::intent`]).
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.intents.iter().map(|i| i.name.as_str())
    }

    /// The name of the intent at `index`.
    pub fn intent_name(&self, index: usize) -> Option<&str> {
        self.intents.get(index).map(|i| i.name.as_str())
    }

    /// Which intent a line is about (the line is cut to `max_line_chars` first).
    pub fn classify(&self, line: &str) -> Classification {
        let line = crate::text::truncate_chars(line, self.settings.max_line_chars);
        self.matcher.classify(line)
    }

    /// Where a conversation with these attributes should queue.
    pub fn route(&self, attrs: &RouteAttributes) -> RouteDecision {
        self.routing.route(attrs)
    }

    /// The routing section.
    pub fn routing(&self) -> &RoutingTable {
        &self.routing
    }

    /// Every counter of this rule set's registry (shared with the other versions of
    /// the same handle).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The declared language a tag stands for: the same tag, else the same primary
    /// subtag (`zh-CN` → `zh`), else none.
    pub(crate) fn resolve_language(&self, tag: &str) -> Option<&str> {
        let exact = self.languages.iter().find(|l| l.eq_ignore_ascii_case(tag));
        let primary = primary_subtag(tag);
        exact
            .or_else(|| self.languages.iter().find(|l| primary_subtag(l) == primary))
            .map(String::as_str)
    }

    /// The default language.
    pub(crate) fn default_language(&self) -> &str {
        self.languages.first().map_or("en", String::as_str)
    }

    pub(crate) fn intent_index(&self, name: &str) -> Option<usize> {
        self.intents.iter().position(|i| i.name == name)
    }
}

/// Reads a rules file, refusing one over the size limit before reading it all.
pub(crate) fn read_rules_file(path: &Path, options: &LoadOptions) -> Result<String, RulesError> {
    let read_err = |source| RulesError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > options.max_file_bytes {
        return Err(RulesError::TooLarge {
            size,
            limit: options.max_file_bytes,
        });
    }
    std::fs::read_to_string(path).map_err(read_err)
}
