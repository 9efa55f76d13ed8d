//! The live rule set: readers take the current version without a lock, a reload
//! compiles the new file off to the side and swaps it in atomically. A file that does
//! not compile leaves the running version untouched.

use arc_swap::ArcSwap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::compile::compile;
use crate::error::RulesError;
use crate::metrics::{MetricsRegistry, MetricsSnapshot};
use crate::rules::{read_rules_file, LoadOptions, RuleSet};

/// The current rule set, swappable at run time.
#[derive(Debug)]
pub struct RulesHandle {
    current: ArcSwap<RuleSet>,
    options: LoadOptions,
    registry: Arc<MetricsRegistry>,
    last_version: AtomicU64,
    /// Serializes reloads, so versions are handed out in the order they are swapped in.
    reloading: Mutex<()>,
}

impl RulesHandle {
    /// A handle on a rules file (version 1).
    pub fn load(path: &Path, options: LoadOptions) -> Result<Self, RulesError> {
        let yaml = read_rules_file(path, &options)?;
        Self::from_yaml_with(&yaml, options)
    }

    /// A handle on a rules document with default limits (version 1).
    pub fn from_yaml(yaml: &str) -> Result<Self, RulesError> {
        Self::from_yaml_with(yaml, LoadOptions::default())
    }

    /// A handle on a rules document (version 1).
    pub fn from_yaml_with(yaml: &str, options: LoadOptions) -> Result<Self, RulesError> {
        let registry = Arc::new(MetricsRegistry::default());
        let rules = compile(yaml, &options, 1, Arc::clone(&registry))?;
        Ok(Self {
            current: ArcSwap::from_pointee(rules),
            options,
            registry,
            last_version: AtomicU64::new(1),
            reloading: Mutex::new(()),
        })
    }

    /// The rule set in force now. Lock-free; a new session keeps this `Arc` until it ends.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// The version in force now.
    pub fn version(&self) -> u64 {
        self.current.load().version()
    }

    /// Compiles `path` and, if it is valid, makes it the current version. Returns the
    /// new version; on error the running version stays.
    pub fn reload_from(&self, path: &Path) -> Result<u64, RulesError> {
        let yaml = read_rules_file(path, &self.options)?;
        self.reload_from_yaml(&yaml)
    }

    /// [`Self::reload_from`] for a document already in memory (a control API upload).
    pub fn reload_from_yaml(&self, yaml: &str) -> Result<u64, RulesError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let version = self.last_version.load(Ordering::Relaxed) + 1;
        let rules = compile(yaml, &self.options, version, Arc::clone(&self.registry))?;
        self.current.store(Arc::new(rules));
        self.last_version.store(version, Ordering::Relaxed);
        Ok(version)
    }

    /// Every counter, across all versions of this handle.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.registry.snapshot()
    }
}
