//! Switchboard's first-line bot: a rule bot that serves a new conversation before a
//! human agent does, and hands it to the human queue with what it learnt.
//!
//! The crate is pure logic. It reads a rules file (YAML, schema in `bot/SCHEMA.md`) and
//! otherwise does no I/O, starts no thread and never reads the clock: time is the
//! `now_ms` the caller passes in. That keeps every decision deterministic and testable.
//!
//! A tour:
//! - [`RuleSet`]: one immutable, validated, versioned compilation of a rules file —
//!   intents (keywords, regular expressions, fuzzy similarity to example phrases in
//!   English and Chinese), replies with per-language text, A/B variants and promotion
//!   windows, forms, business hours and routing rules. Loading reports every problem
//!   with its line and column ([`RulesError`]).
//! - [`RulesHandle`]: the live version. [`RulesHandle::reload_from`] swaps in a new
//!   validated version atomically; a bad file keeps the running one. Readers never lock.
//! - [`BotSession`]: one conversation's bot, a state machine of (state, event, now) that
//!   returns [`Action`]s. It keeps the `Arc<RuleSet>` it started with until it ends, and
//!   turns into an explicit versioned [`SessionRecord`] for persistence.
//! - [`metrics`]: counters per intent and variant, without locks on the match path,
//!   and a [`MetricsSnapshot`] that renders as Prometheus text or JSON.
//! - [`routing`]: first-match rules from visitor attributes to a skill group and a
//!   priority.
//! - [`eval`]: the offline evaluator behind `switchboard bot match`.
//!
//! ```
//! use switchboard_bot::{Action, BotSession, Claims, Context, RulesHandle};
//!
//! let yaml = r#"
//! version: 1
//! languages: [en]
//! fallback: { en: "Sorry, I did not get that." }
//! intents:
//!   - name: greeting
//!     keywords: [hello]
//!     reply: { text: { en: "Hi {claims.name|there}!" } }
//! "#;
//! let handle = RulesHandle::from_yaml(yaml).unwrap();
//! let claims = Claims { name: Some("Ada".into()), ..Claims::default() };
//! let ctx = Context { now_ms: 0, visitor_id: "v1", language: None, claims: &claims };
//! let (mut session, _) = BotSession::start(handle.current(), &ctx);
//! let actions = session.on_visitor_line("hello!", &ctx);
//! assert!(matches!(&actions[0], Action::Reply { text, .. } if text == "Hi Ada!"));
//! ```
#![forbid(unsafe_code)]

mod clock;
mod compile;
mod error;
pub mod eval;
mod form;
mod handle;
mod locate;
mod matcher;
pub mod metrics;
pub mod routing;
mod rules;
mod schema;
mod session;
mod template;
mod text;
mod variant;

pub use error::{Location, Problem, RulesError};
pub use handle::RulesHandle;
pub use matcher::{Classification, MatcherKind};
pub use metrics::MetricsSnapshot;
pub use rules::{LoadOptions, RuleSet, Settings};
pub use session::{
    Action, BotSession, Claims, Context, HandoffReason, ReplyRef, RestoreError, SessionRecord,
    StateRecord,
};
pub use variant::stable_hash;
