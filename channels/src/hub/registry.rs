//! Adapter kinds by name, as the configuration's `kind` field names them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::adapter::{Adapter, AdapterKind, BuildContext};
use crate::config::{AccountSpec, ConfigError};

/// The adapter kinds a hub can build.
#[derive(Clone, Default)]
pub struct AdapterRegistry {
    kinds: BTreeMap<&'static str, Arc<dyn AdapterKind>>,
}

impl fmt::Debug for AdapterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl AdapterRegistry {
    /// No kinds at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The kinds this crate ships: `wechat`, `webhook` and `device`.
    pub fn with_builtin() -> Self {
        let mut registry = Self::empty();
        registry.register(Arc::new(crate::wechat::WechatKind));
        registry.register(Arc::new(crate::webhook::WebhookKind));
        registry.register(Arc::new(crate::device::DeviceKind));
        registry
    }

    /// Adds (or replaces) a kind under its [`AdapterKind::name`].
    pub fn register(&mut self, kind: Arc<dyn AdapterKind>) {
        self.kinds.insert(kind.name(), kind);
    }

    /// The registered kind names.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    /// Builds `account` with its kind.
    pub fn build(
        &self,
        account: &AccountSpec,
        context: &BuildContext,
    ) -> Result<Arc<dyn Adapter>, ConfigError> {
        let kind =
            self.kinds
                .get(account.kind.as_str())
                .ok_or_else(|| ConfigError::UnknownKind {
                    account: account.name.clone(),
                    kind: account.kind.clone(),
                })?;
        kind.build(account, context)
    }
}
