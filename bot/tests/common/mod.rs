//! Shared by the integration tests: the sample rule set and instants in and out of its
//! business hours (09:00–22:00 at +08:00).
#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;
use switchboard_bot::{Action, Claims, Context, RuleSet};

/// 2026-12-03 (a Thursday) 10:00 at +08:00: open.
pub const OPEN_MS: u64 = 1_796_263_200_000;
/// 2026-12-03 23:00 at +08:00: closed.
pub const CLOSED_MS: u64 = 1_796_310_000_000;
/// 2026-11-11 12:00 at +08:00: open, during the 11.11 promotion.
pub const DOUBLE_11_MS: u64 = 1_794_369_600_000;

pub fn sample_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/bot")
        .join(rel)
}

pub fn sample_yaml() -> String {
    std::fs::read_to_string(sample_path("ecommerce.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

pub fn sample_rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml(&sample_yaml()).unwrap_or_else(|e| panic!("{e}")))
}

pub fn ctx<'a>(now_ms: u64, visitor: &'a str, claims: &'a Claims) -> Context<'a> {
    Context {
        now_ms,
        visitor_id: visitor,
        language: None,
        claims,
    }
}

/// The texts of every reply and question, in order.
pub fn texts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { text, .. } => Some(text.clone()),
            Action::Ask { prompt, .. } => Some(prompt.clone()),
            _ => None,
        })
        .collect()
}

/// The reply's intent, if the actions have one.
pub fn replied_intent(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Reply { intent, .. } => intent.clone(),
        _ => None,
    })
}
