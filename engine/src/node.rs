//! A node: binds the listener group, starts one pinned shard thread per CPU, reports
//! start failures, and shuts down gracefully on SIGINT/SIGTERM; SIGHUP reloads the TLS certificates.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use switchboard_protocol::conversation::Rules;

use crate::auth::{self, Authenticator, DevAuthenticator, JwtOptions};
use crate::config::ServeArgs;
use crate::control::NodeControl;
use crate::kernel::{listener_fds, KernelGuards};
use crate::listener;
use crate::pressure::Budgets;
use crate::shard::{ServiceSettings, Shard, ShardSetup};
use crate::shared::Shared;
use switchboard_control_api::{check_bind, read_token_file, ControlAuth, ControlServer};
use switchboard_driver::os as sys;
use switchboard_driver::DriverChoice;
use switchboard_service::home::HomeLimits;
use switchboard_service::router::RouterConfig;

/// What a shard thread reports to the node.
enum ShardReport {
    Ready,
    Failed(usize, String),
    Stopped(usize),
}

/// Runs a node until it is told to stop; returns once every shard has stopped or the
/// shutdown deadline passed.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.validate().map_err(anyhow::Error::msg)?;
    sys::block_termination_signals().context("blocking termination signals")?;
    let shards = args.shard_count();
    let (listeners, bound) = listener::bind_group(args.listen, shards, args.backlog)?;
    let limits = crate::shared::MeshLimits {
        pair: args.mesh_queue,
        inbound: args.mesh_inbound_queue,
    };
    let shared = Arc::new(Shared::new(shards, limits).context("creating the shard mesh")?);
    let (auth, verifies_tokens) = authenticator(&args)?;
    let webhook = start_webhook(&args, &shared)?;
    let tls = node_tls(&args)?;
    let kernel = Arc::new(KernelGuards::attach(
        &args,
        &listener_fds(&listeners),
        bound.port(),
    )?);
    shared.set_kernel_sheds(kernel.steering.is_some());
    // Bound before the cluster registers this node, so the registry (and
    // `GET /v1/nodes`) names the real control address, not `--control-listen`'s.
    let control = bind_control(&args)?;
    let control_addr = control.as_ref().map(|c| c.bound);
    let (link, bridge) = match start_cluster(&args, bound, control_addr, &shared)? {
        Some((link, bridge)) => (Some(link), Some(bridge)),
        None => (None, None),
    };
    let driver = resolve_driver(args.io_driver)?;
    let opened = crate::durable::open(&args, shards)?;
    let (mut appenders, mut recovered, _compactor) = match opened {
        Some(opened) => {
            shared.set_store(Arc::clone(&opened.store));
            shared.set_history(Arc::clone(&opened.history));
            let appenders = crate::durable::appenders(&opened.store, &shared);
            (
                appenders.into_iter().map(Some).collect(),
                opened.recovered,
                opened.compactor,
            )
        }
        None => (
            (0..shards).map(|_| None).collect::<Vec<_>>(),
            crate::durable::Recovered::default(),
            None,
        ),
    };
    let mut router_restore = Some((
        std::mem::take(&mut recovered.router_notes),
        recovered.next_conv,
    ));
    let args = Arc::new(args);
    let (reports, inbox) = mpsc::channel();
    let mut threads = Vec::with_capacity(shards);
    for (index, listener) in listeners.into_iter().enumerate() {
        let setup = ShardSetup {
            budgets: budgets(&args, shards),
            router: router_config(&args),
            conversations: conversation_rules(&args),
            service: ServiceSettings {
                vip_tier: args.vip_tier.as_str().into(),
                typing_interval_ms: args.typing_interval_ms,
                degrade_visitor_lines_per_s: args.degrade_visitor_lines_per_s,
                degrade_agent_lines_per_s: args.degrade_agent_lines_per_s,
                relogin: args.relogin.into(),
            },
            index,
            listener,
            config: args.shard_config(index),
            shared: Arc::clone(&shared),
            auth: Arc::clone(&auth),
            webhook: webhook.as_ref().map(|c| (Arc::clone(c), verifies_tokens)),
            cluster: link.clone(),
            driver,
            store: appenders[index].take(),
            recovered: recovered
                .per_shard
                .get_mut(index)
                .map(std::mem::take)
                .unwrap_or_default(),
            router_restore: router_restore.take().unwrap_or_default(),
            tls: tls.as_ref().map(|tls| tls.shard.clone()),
        };
        let cpu = args.cpu_for(index);
        let reports = reports.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shard-{index}"))
            .spawn(move || run_shard(setup, cpu, &reports))
            .context("spawning a shard thread")?;
        threads.push(thread);
    }
    drop(reports);
    wait_until_ready(&inbox, shards, &shared)?;
    announce(bound, shards)?;
    let _control = match control {
        Some(control) => Some(start_control(
            control,
            &shared,
            &kernel,
            link.clone(),
            bound,
        )?),
        None => None,
    };
    let _refresh = kernel.start_refresh(Arc::clone(&shared));
    let signal = wait_for_termination(tls.as_ref());
    tracing::info!(signal, "termination signal received: closing connections");
    let deadline = Instant::now() + Duration::from_millis(args.shutdown_deadline_ms);
    shared.begin_shutdown();
    wait_until_stopped(&inbox, shards, deadline);
    crate::durable::close(shared.store());
    if let Some(bridge) = bridge {
        bridge.stop();
    }
    for thread in threads {
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
    Ok(())
}

/// `--tls-cert`/`--tls-key`: the certificates load now, or the node does not start.
fn node_tls(args: &ServeArgs) -> anyhow::Result<Option<crate::tls::NodeTls>> {
    let files = args.tls_files();
    if files.is_empty() {
        return Ok(None);
    }
    let policy = crate::tls::TlsPolicy {
        tls12: args.tls12,
        tickets: args.tls_tickets,
    };
    let tls = crate::tls::NodeTls::new(files, policy, args.tls_api).context("setting up TLS")?;
    let versions = if args.tls12 { "1.3 and 1.2" } else { "1.3" };
    tracing::info!(
        certificates = args.tls_cert.len(),
        versions,
        "TLS on the public listener"
    );
    Ok(Some(tls))
}

/// Waits for SIGINT or SIGTERM; each SIGHUP meanwhile reloads the TLS certificates
/// (here, on the node's own thread: the shards never read a file).
fn wait_for_termination(tls: Option<&crate::tls::NodeTls>) -> i32 {
    loop {
        let signal = sys::wait_for_signal();
        if signal != libc::SIGHUP {
            return signal;
        }
        match tls {
            Some(tls) => tls.reload(),
            None => tracing::info!("SIGHUP: nothing to reload (no --tls-cert)"),
        }
    }
}

/// Cluster mode (`--redis`): joins the registry and starts the Redis bridge.
fn start_cluster(
    args: &ServeArgs,
    bound: SocketAddr,
    control: Option<SocketAddr>,
    shared: &Arc<Shared>,
) -> anyhow::Result<Option<(Arc<crate::cluster::Link>, crate::cluster::BridgeHandle)>> {
    let Some(url) = &args.redis else {
        return Ok(None);
    };
    let name = args.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let control = control.map(|addr| addr.to_string());
    let config = crate::cluster::BridgeConfig {
        url: url.clone(),
        cluster: args.redis_cluster,
        name,
        listen: bound.to_string(),
        control,
        node_ttl_ms: args.node_ttl_ms,
        redis_timeout_ms: args.redis_timeout_ms,
        queue: args.cluster_queue,
        history_len: args.history_len,
        events_maxlen: args.events_maxlen,
    };
    crate::cluster::start(config, Arc::clone(shared)).map(Some)
}

/// The connect webhook's workers, when `--auth-webhook` is set; answers go to the
/// asking shard's inbound queue.
fn start_webhook(
    args: &ServeArgs,
    shared: &Arc<Shared>,
) -> anyhow::Result<Option<Arc<auth::webhook::WebhookClient>>> {
    let Some(url) = args.auth_webhook.clone() else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("--auth-webhook must be an http:// or https:// URL, not {url:?}");
    }
    let options = auth::webhook::WebhookOptions {
        url,
        timeout: std::time::Duration::from_millis(args.auth_webhook_timeout_ms),
        cache_ttl: std::time::Duration::from_millis(args.auth_webhook_cache_ms),
        refusal_ttl: std::time::Duration::from_millis(args.auth_webhook_refusal_cache_ms),
        cache_entries: args.auth_webhook_cache_entries,
        workers: args.auth_webhook_workers as usize,
        queue: args.auth_webhook_queue,
        max_waiting: args.auth_webhook_max_waiting,
        cookies: args.auth_webhook_cookies.clone(),
    };
    let mesh_of = Arc::clone(shared);
    let deliver: auth::webhook::client::Deliver = Arc::new(move |shard, key, verdict| {
        let msg = crate::shard::ShardMsg::AuthAnswer { key, verdict };
        if mesh_of.mesh().push_inbound(shard, msg).is_err() {
            // The waiting connections get 503 at their deadline.
            tracing::warn!(
                shard,
                "auth webhook answer dropped: the shard's inbound queue is full"
            );
        }
    });
    let client = auth::webhook::WebhookClient::start(options, deliver)
        .context("starting the auth webhook's workers")?;
    shared.set_auth_webhook(Arc::clone(client.stats()));
    tracing::info!(url = %client.options().url, "connect webhook on");
    Ok(Some(client))
}

/// The token verifier the flags ask for, or the dev authenticator (with a warning),
/// and whether it verifies tokens (false: the dev authenticator).
fn authenticator(args: &ServeArgs) -> anyhow::Result<(Arc<dyn Authenticator>, bool)> {
    let options = JwtOptions {
        secret: args.jwt_secret.clone(),
        secret_file: args.jwt_secret_file.clone(),
        public_key_file: args.jwt_public_key.clone(),
        anonymous_visitors: args.anonymous_visitors,
        leeway_secs: args.jwt_leeway_s,
    };
    match auth::from_options(&options).context("configuring token verification")? {
        Some(verifier) => Ok((verifier, true)),
        // The webhook decides; the dev authenticator is never asked.
        None if args.auth_webhook.is_some() => Ok((Arc::new(DevAuthenticator), false)),
        None => {
            tracing::warn!(
                "no --jwt-secret/--jwt-public-key: /v1/ws uses the dev authenticator (token `alice` is visitor alice, `agent:bob` is agent bob); never in production"
            );
            Ok((Arc::new(DevAuthenticator), false))
        }
    }
}

/// The pressure budgets from the flags.
fn budgets(args: &ServeArgs, shards: usize) -> Budgets {
    let connections = args
        .budget_connections
        .unwrap_or((args.max_connections_per_shard as u64 * shards as u64) * 9 / 10);
    Budgets {
        loop_lag_us: args.budget_loop_lag_ms * 1000,
        queued_bytes: args.budget_queued_mib << 20,
        connections,
        memory_bytes: args.budget_memory_mib << 20,
    }
}

fn router_config(args: &ServeArgs) -> RouterConfig {
    RouterConfig {
        vip_tier: args.vip_tier.as_str().into(),
        vip_group: args.vip_group.as_str().into(),
        default_capacity: args.agent_capacity,
        agent_grace_ms: args.agent_grace_ms,
        queue_position_interval_ms: args.queue_position_interval_ms,
    }
}

fn conversation_rules(args: &ServeArgs) -> (Rules, HomeLimits) {
    let rules = Rules {
        inactivity_timeout_ms: args.inactivity_timeout_ms,
        transfer_timeout_ms: args.transfer_timeout_ms,
    };
    let limits = HomeLimits {
        history_len: args.history_len,
        max_followers: args.max_followers,
        ended_retention_ms: args.ended_retention_ms,
    };
    (rules, limits)
}

/// The driver every shard runs: `auto` probes io_uring once and falls back to epoll,
/// with one line saying why, when it is refused.
fn resolve_driver(choice: crate::config::IoDriver) -> anyhow::Result<DriverChoice> {
    use crate::config::IoDriver;
    match choice {
        IoDriver::Epoll => Ok(DriverChoice::Epoll),
        IoDriver::IoUring => Ok(DriverChoice::IoUring),
        IoDriver::Auto => match switchboard_driver::io_uring_available() {
            Ok(()) => Ok(DriverChoice::IoUring),
            Err(err) if switchboard_driver::is_refusal(&err) => {
                tracing::warn!(
                    %err,
                    "io_uring is refused here (a seccomp profile, kernel.io_uring_disabled or an \
                     old kernel): the shards run on epoll (--io-driver epoll to say so, \
                     io-uring to refuse to start instead)"
                );
                Ok(DriverChoice::Epoll)
            }
            Err(err) => Err(anyhow::Error::new(err).context("probing io_uring")),
        },
    }
}

fn run_shard(setup: ShardSetup, cpu: usize, reports: &mpsc::Sender<ShardReport>) {
    let index = setup.index;
    if let Err(err) = sys::pin_current_thread(cpu) {
        tracing::warn!(shard = index, cpu, %err, "could not pin shard to its CPU; running unpinned");
    }
    let shard = match Shard::new(setup) {
        Ok(shard) => shard,
        Err(err) => {
            let _ = reports.send(ShardReport::Failed(
                index,
                format!("I/O driver setup failed: {err}"),
            ));
            return;
        }
    };
    let _ = reports.send(ShardReport::Ready);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.run()));
    let why = match ran {
        Ok(Ok(())) => {
            let _ = reports.send(ShardReport::Stopped(index));
            return;
        }
        Ok(Err(err)) => format!("its event loop failed: {err}"),
        Err(panic) => format!("it panicked: {}", panic_message(&panic)),
    };
    fail_node(index, &why);
}

/// Exit status of a node stopped because a shard failed (EX_SOFTWARE).
pub const SHARD_FAILURE_EXIT: i32 = 70;

/// The shard failure policy: a shard that dies takes the node down at once, so that
/// the supervisor (systemd `Restart=on-failure`, Kubernetes) starts a fresh one.
/// Carrying on is worse: the dead shard's SO_REUSEPORT listener would keep accepting
/// into a backlog nobody reads, its connections would hang open, and the conversations
/// (or the router) it was home to would stop answering. With the durable store or
/// Redis, a restart loses nothing that was acknowledged.
fn fail_node(index: usize, why: &str) -> ! {
    tracing::error!(
        shard = index,
        "shard {index} stopped because {why}; exiting ({SHARD_FAILURE_EXIT}) so the supervisor restarts the node"
    );
    eprintln!("switchboard: shard {index} stopped because {why}; exiting");
    std::process::exit(SHARD_FAILURE_EXIT);
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn wait_until_ready(
    inbox: &mpsc::Receiver<ShardReport>,
    shards: usize,
    shared: &Shared,
) -> anyhow::Result<()> {
    let mut ready = 0;
    while ready < shards {
        match inbox.recv_timeout(Duration::from_secs(30)) {
            Ok(ShardReport::Ready) => ready += 1,
            Ok(ShardReport::Failed(index, why)) => {
                shared.begin_shutdown();
                bail!("shard {index} failed to start: {why}");
            }
            Ok(ShardReport::Stopped(index)) => bail!("shard {index} stopped during start"),
            Err(_) => bail!("shards did not start within 30 s ({ready} of {shards} ready)"),
        }
    }
    Ok(())
}

/// The control API's listener, bound, with its token; nothing serves it yet.
struct BoundControl {
    listener: std::net::TcpListener,
    bound: SocketAddr,
    token: Option<String>,
}

/// Binds the control API's listener, unless `--control-listen off`.
fn bind_control(args: &ServeArgs) -> anyhow::Result<Option<BoundControl>> {
    if args.control_listen.eq_ignore_ascii_case("off") {
        tracing::info!("control API disabled (--control-listen off)");
        return Ok(None);
    }
    let addr: SocketAddr = args.control_listen.parse().with_context(|| {
        format!(
            "--control-listen {:?} is not an address (or `off`)",
            args.control_listen
        )
    })?;
    let token = match (&args.control_token, &args.control_token_file) {
        (Some(_), Some(_)) => bail!("give --control-token or --control-token-file, not both"),
        (Some(token), None) => Some(token.clone()),
        (None, Some(path)) => Some(read_token_file(path).map_err(anyhow::Error::msg)?),
        (None, None) => None,
    };
    check_bind(addr, token.as_deref()).map_err(anyhow::Error::msg)?;
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("binding the control API on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("reading the control address")?;
    Ok(Some(BoundControl {
        listener,
        bound,
        token,
    }))
}

/// Starts the control API on its own threads (off the shards).
fn start_control(
    control: BoundControl,
    shared: &Arc<Shared>,
    kernel: &Arc<KernelGuards>,
    link: crate::cluster::MaybeLink,
    listen: SocketAddr,
) -> anyhow::Result<ControlServer> {
    let BoundControl {
        listener,
        bound,
        token,
    } = control;
    let engine = Arc::new(NodeControl::new(
        Arc::clone(shared),
        Arc::clone(kernel),
        link,
        listen.to_string(),
        bound.to_string(),
    ));
    let server = switchboard_control_api::serve(listener, engine, ControlAuth { token })
        .context("starting the control API")?;
    tracing::info!(%bound, "control API listening");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "control on {bound}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;
    Ok(server)
}

fn announce(bound: SocketAddr, shards: usize) -> anyhow::Result<()> {
    tracing::info!(%bound, shards, "listening");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {bound} shards={shards}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;
    Ok(())
}

fn wait_until_stopped(inbox: &mpsc::Receiver<ShardReport>, shards: usize, deadline: Instant) {
    let mut stopped = 0;
    while stopped < shards {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left) {
            Ok(ShardReport::Stopped(_)) => stopped += 1,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    stopped,
                    shards,
                    "shutdown deadline passed; exiting with shards still closing"
                );
                return;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
    tracing::info!("all shards stopped");
}
