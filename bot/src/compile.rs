//! From the file's shape ([`crate::schema`]) to a validated [`RuleSet`].
//!
//! Every check records the document path of what it refused and goes on, so one load
//! reports every problem; only at the end are the paths turned into lines and columns
//! (see [`crate::locate`]).

mod checker;
mod intents;
mod sections;

use std::sync::Arc;

use crate::error::{Problem, RulesError};
use crate::metrics::MetricsRegistry;
use crate::rules::{LoadOptions, RuleSet};
use crate::schema::RawRules;

use checker::Checker;
pub(crate) use intents::NO_INTENT;

/// Compiles `yaml` into rule-set `version`, counting into `registry`.
pub(crate) fn compile(
    yaml: &str,
    options: &LoadOptions,
    version: u64,
    registry: Arc<MetricsRegistry>,
) -> Result<RuleSet, RulesError> {
    if yaml.len() > options.max_file_bytes {
        return Err(RulesError::TooLarge {
            size: yaml.len(),
            limit: options.max_file_bytes,
        });
    }
    let raw: RawRules = serde_yaml::from_str(yaml).map_err(|e| RulesError::from_yaml(&e))?;
    let mut checker = Checker::new(options, registry);
    let rules = checker.rules(raw, version);
    let problems = checker.into_problems();
    match rules {
        Some(rules) if problems.is_empty() => Ok(rules),
        _ => Err(RulesError::Invalid {
            problems: problems
                .into_iter()
                .map(|(path, message)| Problem {
                    location: path.locate_nearest(yaml),
                    path: path.render(),
                    message,
                })
                .collect(),
        }),
    }
}
