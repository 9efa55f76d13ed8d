//! The engine's use of the kernel programs of `switchboard-ebpf`: steering new
//! connections among the shards' listeners and shedding them at the door.
//!
//! Nothing here runs on a shard. A small steering thread writes each shard's load
//! score (connections, event-loop lag, and a large penalty when the shard's heartbeat
//! is stale, so a stalled shard stops getting connections), the drain flag and the shed
//! level into the programs' maps every 100 ms.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchboard_ebpf::{
    Mode, SteerCounters, SteerMode, Steering, TokenBucket, XdpCounters, XdpGuard,
};

use crate::config::ServeArgs;
use crate::shared::Shared;

/// How often the steering thread refreshes the maps.
const REFRESH: Duration = Duration::from_millis(100);
/// A shard whose heartbeat is older than this is stalled and gets no new connection.
const STALE_AFTER_MS: u64 = 1_000;
/// Score of a stalled shard: far above any live one.
const STALLED_SCORE: u32 = u32::MAX / 2;

/// The kernel programs this node runs (either may be absent).
#[derive(Debug, Default)]
pub struct KernelGuards {
    /// Steering of the listener group.
    pub steering: Option<Arc<Steering>>,
    /// The XDP guard on `--xdp-interface`.
    pub xdp: Option<Arc<XdpGuard>>,
}

impl KernelGuards {
    /// Attaches what the flags ask for; with `--ebpf auto` a failure is logged and the
    /// node runs without it, with `required` it is an error.
    pub fn attach(
        args: &ServeArgs,
        listeners: &[RawFd],
        port: u16,
    ) -> anyhow::Result<KernelGuards> {
        let mode = args.ebpf;
        let bucket = TokenBucket {
            rate_per_sec: args.shed_rate,
            burst: args.shed_burst,
        };
        let steering = mode
            .engage("socket steering", || {
                Steering::attach(listeners, args.steer, bucket)
            })
            .context("attaching the eBPF steering program (--ebpf required)")?;
        let xdp = match &args.xdp_interface {
            Some(interface) => mode
                .engage("XDP shedding", || XdpGuard::attach(interface, port, bucket))
                .with_context(|| format!("attaching XDP on {interface} (--ebpf required)"))?,
            None => None,
        };
        match (&steering, mode) {
            (Some(_), _) => {
                tracing::info!(steer = %args.steer, "eBPF steering attached to the listener group")
            }
            (None, Mode::Off) => tracing::info!(
                "eBPF off (--ebpf off): the kernel's SO_REUSEPORT hash spreads connections"
            ),
            (None, _) => tracing::warn!(
                "eBPF steering unavailable: the kernel's SO_REUSEPORT hash spreads connections"
            ),
        }
        if let Some(xdp) = &xdp {
            tracing::info!(interface = xdp.interface(), port, "XDP shedding attached");
        }
        Ok(KernelGuards {
            steering: steering.map(Arc::new),
            xdp: xdp.map(Arc::new),
        })
    }

    /// Whether any program is attached.
    pub fn enabled(&self) -> bool {
        self.steering.is_some() || self.xdp.is_some()
    }

    /// Starts the thread that keeps the maps current, if there is anything to keep.
    pub fn start_refresh(&self, shared: Arc<Shared>) -> Option<JoinHandle<()>> {
        if !self.enabled() {
            return None;
        }
        let steering = self.steering.clone();
        let xdp = self.xdp.clone();
        let spawned = std::thread::Builder::new()
            .name("ebpf-steering".into())
            .spawn(move || refresh_loop(&shared, steering.as_deref(), xdp.as_deref()));
        match spawned {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::error!(%err, "could not start the eBPF steering thread; maps stay as they are");
                None
            }
        }
    }

    /// Prometheus lines for the programs' counters.
    pub fn metrics(&self) -> String {
        let mut out = format!(
            "# HELP switchboard_ebpf_enabled Whether eBPF steering or shedding is attached.\n# TYPE switchboard_ebpf_enabled gauge\nswitchboard_ebpf_enabled {}\n",
            u8::from(self.enabled())
        );
        if let Some(counters) = self.steering.as_ref().and_then(|s| s.counters().ok()) {
            render_steering(&counters, &mut out);
        }
        if let Some(counters) = self.xdp.as_ref().and_then(|x| x.counters().ok()) {
            render_xdp(&counters, &mut out);
        }
        out
    }
}

fn render_steering(counters: &SteerCounters, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP switchboard_ebpf_steered_total New connections the steering program sent to each shard.\n# TYPE switchboard_ebpf_steered_total counter");
    for (shard, steered) in counters.steered.iter().enumerate() {
        let _ = writeln!(
            out,
            "switchboard_ebpf_steered_total{{shard=\"{shard}\"}} {steered}"
        );
    }
    let _ = writeln!(out, "# HELP switchboard_ebpf_shed_total New connections dropped in the kernel at shed level 3.\n# TYPE switchboard_ebpf_shed_total counter");
    let _ = writeln!(
        out,
        "switchboard_ebpf_shed_total{{program=\"reuseport\",why=\"bucket\"}} {}",
        counters.dropped_bucket
    );
    let _ = writeln!(
        out,
        "switchboard_ebpf_shed_total{{program=\"reuseport\",why=\"level\"}} {}",
        counters.dropped_level
    );
    let _ = writeln!(out, "# HELP switchboard_ebpf_fallback_total Connections left to the kernel's hash.\n# TYPE switchboard_ebpf_fallback_total counter\nswitchboard_ebpf_fallback_total {}", counters.fallback);
}

fn render_xdp(counters: &XdpCounters, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP switchboard_xdp_syn_total SYNs to the guarded port seen by XDP.\n# TYPE switchboard_xdp_syn_total counter");
    let _ = writeln!(
        out,
        "switchboard_xdp_syn_total{{verdict=\"pass\"}} {}",
        counters.passed
    );
    let _ = writeln!(
        out,
        "switchboard_xdp_syn_total{{verdict=\"drop_bucket\"}} {}",
        counters.dropped_bucket
    );
    let _ = writeln!(
        out,
        "switchboard_xdp_syn_total{{verdict=\"drop_level\"}} {}",
        counters.dropped_level
    );
}

/// Writes scores, drain flags and the shed level until shutdown.
fn refresh_loop(shared: &Shared, steering: Option<&Steering>, xdp: Option<&XdpGuard>) {
    let mut last_level = u8::MAX;
    let mut last_draining = None;
    while !shared.shutting_down() {
        let started = Instant::now();
        let now_ms = switchboard_driver::os::wall_clock_ms();
        if let Some(steering) = steering {
            for shard in 0..shared.shards() {
                if let Err(err) = steering.set_load(shard, load_score(shared, shard, now_ms)) {
                    tracing::debug!(%err, shard, "could not write a load score");
                }
            }
            let draining = shared.draining();
            if last_draining != Some(draining) {
                for shard in 0..shared.shards() {
                    let _ = steering.set_draining(shard, draining);
                }
                last_draining = Some(draining);
            }
        }
        let level = shared.level().get();
        if level != last_level {
            if let Some(steering) = steering {
                let _ = steering.set_shed_level(level);
            }
            if let Some(xdp) = xdp {
                let _ = xdp.set_shed_level(level);
            }
            last_level = level;
        }
        std::thread::sleep(REFRESH.saturating_sub(started.elapsed()));
    }
}

/// Connections plus lag (1 point per connection, 10 points per ms of lag); a shard
/// whose loop has not ticked for a second is stalled.
fn load_score(shared: &Shared, shard: usize, now_ms: u64) -> u32 {
    let counters = shared.metrics().shard(shard);
    let heartbeat = counters.heartbeat_ms.load(Ordering::Relaxed);
    if heartbeat != 0 && now_ms.saturating_sub(heartbeat) > STALE_AFTER_MS {
        return STALLED_SCORE;
    }
    let connections = counters.connections.load(Ordering::Relaxed);
    let lag_ms = counters.loop_lag_us.load(Ordering::Relaxed) / 1000;
    u32::try_from(connections + lag_ms * 10)
        .unwrap_or(STALLED_SCORE - 1)
        .min(STALLED_SCORE - 1)
}

/// The raw descriptors of the listeners, in shard order.
pub fn listener_fds(listeners: &[socket2::Socket]) -> Vec<RawFd> {
    use std::os::fd::AsRawFd;
    listeners.iter().map(AsRawFd::as_raw_fd).collect()
}

/// Parses `--steer`.
pub fn parse_steer(text: &str) -> Result<SteerMode, String> {
    text.parse()
        .map_err(|e: switchboard_ebpf::EbpfError| e.to_string())
}

/// Parses `--ebpf`.
pub fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse()
        .map_err(|e: switchboard_ebpf::EbpfError| e.to_string())
}
