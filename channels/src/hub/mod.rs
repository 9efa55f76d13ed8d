//! The `ChannelHub`: built from a [`HubConfig`], it serves every account's inbound
//! path on its own HTTP listener, delivers outbound lines on its own worker threads,
//! and reloads accounts without dropping the others. The engine only calls
//! [`ChannelHub::send_outbound`] (never blocks) and implements [`ConversationSink`].

mod accounts;
mod outbound;
mod registry;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use accounts::{Account, Routes};
pub use registry::AdapterRegistry;

use crate::adapter::BuildContext;
use crate::clock::{Clock, SystemClock};
use crate::config::{AccountSpec, ConfigError, HubConfig, HubLimits};
use crate::event::OutboundLine;
use crate::metrics::Metrics;
use crate::sink::ConversationSink;

/// Why the hub could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The configuration is invalid or an account could not be built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting that needs a restart changed (`listen` or `[hub]`).
    #[error("{0} cannot change on reload; restart the engine to change it")]
    NeedsRestart(&'static str),
    /// A thread or runtime could not be started.
    #[error("cannot start the hub: {0}")]
    Start(std::io::Error),
}

/// Why [`ChannelHub::send_outbound`] did not take a line. The engine turns these into
/// a system item at once; nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefused {
    /// The conversation's worker already holds `hub.outbound_queue` lines.
    #[error("the channel's outbound queue is full ({0} lines)")]
    QueueFull(usize),
    /// No account has that name.
    #[error("no channel account named {0:?}")]
    UnknownAccount(String),
    /// The hub is shutting down.
    #[error("the channel hub is shutting down")]
    ShuttingDown,
}

/// What a reload did, by account name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// New accounts.
    pub added: Vec<String>,
    /// Accounts that are gone.
    pub removed: Vec<String>,
    /// Accounts whose entry changed (rebuilt; their state starts afresh).
    pub changed: Vec<String>,
    /// Accounts left running untouched.
    pub unchanged: Vec<String>,
}

/// What every hub thread shares.
pub(crate) struct Shared {
    routes: RwLock<Arc<Routes>>,
    pub(crate) sink: Arc<dyn ConversationSink>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: HubLimits,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The current accounts.
    pub(crate) fn routes(&self) -> Arc<Routes> {
        Arc::clone(&self.routes.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// How to start a hub: the configuration plus what the engine injects.
#[derive(Debug)]
pub struct HubBuilder {
    config: HubConfig,
    registry: AdapterRegistry,
    clock: Arc<dyn Clock>,
}

impl HubBuilder {
    /// Uses `registry` instead of [`AdapterRegistry::with_builtin`].
    pub fn registry(mut self, registry: AdapterRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds every account, binds the listener and starts the threads.
    pub fn start(self, sink: Arc<dyn ConversationSink>) -> Result<ChannelHub, HubError> {
        self.config.validate()?;
        let metrics = Arc::new(Metrics::default());
        let mut accounts = Vec::new();
        for spec in &self.config.accounts {
            accounts.push(build_account(&self.registry, spec, &self.clock, &metrics)?);
        }
        let shared = Arc::new(Shared {
            routes: RwLock::new(Arc::new(Routes::new(accounts))),
            sink,
            clock: self.clock,
            metrics,
            limits: self.config.hub.clone(),
        });
        let outbound = outbound::Outbound::start(&shared).map_err(HubError::Start)?;
        let server = server::HttpServer::start(self.config.listen, &shared)?;
        Ok(ChannelHub {
            shared,
            registry: self.registry,
            config: RwLock::new(self.config),
            outbound,
            server: Some(server),
        })
    }
}

fn build_account(
    registry: &AdapterRegistry,
    spec: &AccountSpec,
    clock: &Arc<dyn Clock>,
    metrics: &Metrics,
) -> Result<Arc<Account>, ConfigError> {
    let context = BuildContext {
        clock: Arc::clone(clock),
        http: crate::http_client::agent_for(&spec.limits),
    };
    let adapter = registry.build(spec, &context)?;
    Ok(Arc::new(Account::new(
        spec.clone(),
        adapter,
        metrics.account(&spec.name),
    )))
}

/// The running channel layer. Dropping it shuts it down.
#[derive(Debug)]
pub struct ChannelHub {
    shared: Arc<Shared>,
    registry: AdapterRegistry,
    config: RwLock<HubConfig>,
    outbound: outbound::Outbound,
    server: Option<server::HttpServer>,
}

impl ChannelHub {
    /// A hub of `config` with the built-in adapters and the system clock.
    pub fn builder(config: HubConfig) -> HubBuilder {
        HubBuilder {
            config,
            registry: AdapterRegistry::with_builtin(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The listener's address (useful when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map_or_else(|| self.config().listen, server::HttpServer::local_addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> HubConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The hub's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Queues an agent's line for delivery. Returns at once: the result comes later
    /// through [`ConversationSink::delivery_report`]. Lines of one conversation are
    /// delivered in `seq` order, one at a time.
    pub fn send_outbound(&self, line: OutboundLine) -> Result<(), OutboundRefused> {
        if self.shared.routes().by_name(&line.account).is_none() {
            return Err(OutboundRefused::UnknownAccount(line.account));
        }
        self.outbound.enqueue(line)
    }

    /// Applies a new configuration: new accounts start, removed ones stop taking
    /// requests, changed ones are rebuilt, unchanged ones keep running with their
    /// state. Nothing changes if any account fails to build.
    pub fn reload(&self, new: HubConfig) -> Result<ReloadSummary, HubError> {
        new.validate()?;
        let mut config = self.config.write().unwrap_or_else(|p| p.into_inner());
        if new.listen != config.listen {
            return Err(HubError::NeedsRestart("listen"));
        }
        if new.hub != config.hub {
            return Err(HubError::NeedsRestart("[hub]"));
        }
        let old = self.shared.routes();
        let mut summary = ReloadSummary::default();
        let mut accounts = Vec::new();
        for spec in &new.accounts {
            match old.by_name(&spec.name) {
                Some(running) if running.spec == *spec => {
                    summary.unchanged.push(spec.name.clone());
                    accounts.push(Arc::clone(running));
                }
                previous => {
                    let list = if previous.is_some() {
                        &mut summary.changed
                    } else {
                        &mut summary.added
                    };
                    list.push(spec.name.clone());
                    accounts.push(build_account(
                        &self.registry,
                        spec,
                        &self.shared.clock,
                        &self.shared.metrics,
                    )?);
                }
            }
        }
        summary.removed = old
            .accounts()
            .filter(|a| !new.accounts.iter().any(|s| s.name == a.spec.name))
            .map(|a| a.spec.name.clone())
            .collect();
        *self
            .shared
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Routes::new(accounts));
        *config = new;
        summary.added.sort();
        summary.removed.sort();
        summary.changed.sort();
        summary.unchanged.sort();
        Ok(summary)
    }

    /// Stops the listener, then the workers; lines still queued are reported as
    /// failed (`ShutDown`). Waits at most about `grace` for requests in flight.
    pub fn shutdown(mut self, grace: Duration) {
        self.stop(grace);
    }

    fn stop(&mut self, grace: Duration) {
        if let Some(server) = self.server.take() {
            server.stop(grace);
        }
        self.outbound.stop();
    }
}

impl Drop for ChannelHub {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}
