//! eBPF socket steering and load shedding for Switchboard.
//!
//! Two BPF programs, written in C (`bpf/*.bpf.c`, shared layouts in
//! `bpf/switchboard.h`), compiled by build.rs with clang 19 or taken from the
//! checked-in `prebuilt/` objects, and loaded with aya. No aya type appears in this
//! API, so the engine depends on this crate alone.
//!
//! - [`Steering`]: an `sk_reuseport` program on the shards' SO_REUSEPORT listener
//!   group. It picks the shard of every new connection — by hash ([`SteerMode::Hash`])
//!   or by the lowest load score the engine writes ([`SteerMode::LeastLoaded`]) — and
//!   never picks a draining shard. At shed level 3 it first asks a per-source token
//!   bucket ([`TokenBucket`]) and drops the connection over the rate (the client sees
//!   a reset).
//! - [`XdpGuard`]: an XDP program on a named interface that drops TCP SYNs to the
//!   engine's port at shed level 3 when the source's token bucket is empty, before
//!   the kernel spends anything on them (the client retransmits after its back-off).
//!
//! Both keep counters in per-CPU maps ([`SteerCounters`], [`XdpCounters`]) for
//! /metrics, and detach when dropped.
//!
//! ```no_run
//! use switchboard_ebpf::{Mode, SteerMode, Steering, TokenBucket};
//! # fn listeners() -> Vec<std::os::fd::RawFd> { Vec::new() }
//! let bucket = TokenBucket { rate_per_sec: 200, burst: 50 };
//! // `--ebpf auto`: use it when the kernel and privileges allow, else log why.
//! let steering = Mode::Auto.engage("socket steering", || {
//!     Steering::attach(&listeners(), SteerMode::LeastLoaded, bucket)
//! })?;
//! if let Some(steering) = &steering {
//!     steering.set_load(0, 120)?;
//!     steering.set_shed_level(3)?;
//!     let counters = steering.counters()?;
//!     println!("shard 0 got {} connections", counters.steered[0]);
//! }
//! # Ok::<(), switchboard_ebpf::EbpfError>(())
//! ```
#![deny(unsafe_code)]

mod abi;
mod error;
mod load;
mod objects;
mod steer;
#[expect(
    unsafe_code,
    reason = "aya's Pod marker for the map value types and borrowing raw listener fds"
)]
mod sys;
mod xdp;

use std::{fmt, str::FromStr};

pub use error::EbpfError;
pub use objects::OBJECT_SOURCE;
pub use steer::{SteerCounters, Steering};
pub use xdp::{XdpCounters, XdpGuard};

/// Whether this build carries eBPF programs at all.
pub const AVAILABLE: bool = true;

/// Most shards a [`Steering`] group can have.
pub const MAX_SHARDS: usize = abi::MAX_SHARDS;

/// The highest shed level; at this level the programs shed new connections.
pub const SHED_LEVEL_MAX: u8 = abi::SHED_KERNEL_LEVEL;

/// `--ebpf off|auto|required`: whether the engine uses eBPF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Never load BPF programs.
    Off,
    /// Use them when the kernel and privileges allow; otherwise log why and go on.
    Auto,
    /// Use them or fail to start.
    Required,
}

impl Mode {
    /// Runs `attach` as this mode says: not at all (`Off`), as best effort logging a
    /// warning with the reason on failure (`Auto`), or as a must (`Required`).
    /// `what` names the piece in the log line.
    ///
    /// # Errors
    /// `attach`'s error, only in `Required` mode.
    pub fn engage<T>(
        self,
        what: &str,
        attach: impl FnOnce() -> Result<T, EbpfError>,
    ) -> Result<Option<T>, EbpfError> {
        match self {
            Self::Off => Ok(None),
            Self::Required => attach().map(Some),
            Self::Auto => match attach() {
                Ok(value) => Ok(Some(value)),
                Err(error) => {
                    tracing::warn!("eBPF {what} is off: {error}");
                    Ok(None)
                }
            },
        }
    }
}

impl FromStr for Mode {
    type Err = EbpfError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(Self::Off),
            "auto" => Ok(Self::Auto),
            "required" => Ok(Self::Required),
            other => Err(EbpfError::InvalidArgument(format!(
                "eBPF mode {other:?} (expected off, auto or required)"
            ))),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Auto => "auto",
            Self::Required => "required",
        })
    }
}

/// `--steer hash|least-loaded`: how [`Steering`] picks a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SteerMode {
    /// Spread by the connection's hash over the shards that are not draining.
    Hash,
    /// The non-draining shard with the lowest load score; ties spread by hash.
    LeastLoaded,
}

impl SteerMode {
    pub(crate) fn to_abi(self) -> u32 {
        match self {
            Self::Hash => abi::STEER_HASH,
            Self::LeastLoaded => abi::STEER_LEAST_LOADED,
        }
    }
}

impl FromStr for SteerMode {
    type Err = EbpfError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "hash" => Ok(Self::Hash),
            "least-loaded" => Ok(Self::LeastLoaded),
            other => Err(EbpfError::InvalidArgument(format!(
                "steer mode {other:?} (expected hash or least-loaded)"
            ))),
        }
    }
}

impl fmt::Display for SteerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hash => "hash",
            Self::LeastLoaded => "least-loaded",
        })
    }
}

/// The per-source-address token bucket that admits new connections at shed level 3:
/// each source address may open `burst` connections at once and then `rate_per_sec`
/// per second. Both zero: every new connection is shed at level 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    /// Tokens added per second.
    pub rate_per_sec: u32,
    /// Bucket capacity; a source not seen before starts with a full bucket.
    pub burst: u32,
}

/// Whether this process can load the BPF programs: loads both through the verifier
/// without attaching them. For `--ebpf auto`, the error says why not.
///
/// # Errors
/// The reason the programs cannot be loaded (privilege, kernel, verifier).
pub fn probe() -> Result<(), EbpfError> {
    steer::probe()?;
    xdp::probe()
}

fn check_shed_level(level: u8) -> Result<(), EbpfError> {
    if level > SHED_LEVEL_MAX {
        return Err(EbpfError::InvalidArgument(format!(
            "shed level {level} (0 to {SHED_LEVEL_MAX})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for mode in [Mode::Off, Mode::Auto, Mode::Required] {
            assert_eq!(mode.to_string().parse::<Mode>().ok(), Some(mode));
        }
        for mode in [SteerMode::Hash, SteerMode::LeastLoaded] {
            assert_eq!(mode.to_string().parse::<SteerMode>().ok(), Some(mode));
        }
        assert!("on".parse::<Mode>().is_err());
        assert!("random".parse::<SteerMode>().is_err());
    }

    #[test]
    fn engage_follows_the_mode() {
        let fails = || Err::<(), _>(EbpfError::InvalidArgument("no".into()));
        assert!(matches!(Mode::Off.engage("x", || Ok(1)), Ok(None)));
        assert!(matches!(Mode::Auto.engage("x", fails), Ok(None)));
        assert!(Mode::Required.engage("x", fails).is_err());
        assert!(matches!(Mode::Required.engage("x", || Ok(1)), Ok(Some(1))));
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Steering>();
        check::<XdpGuard>();
    }
}
