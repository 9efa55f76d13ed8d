//! [`Steering`]: the `sk_reuseport` program on the shards' listener group.

use std::{fmt, os::fd::RawFd, path::PathBuf, sync::Mutex};

use aya::{
    maps::{Array, MapData, ReusePortSockArray},
    programs::SkReuseport,
    Ebpf,
};

use crate::{
    abi::{self, Config, ShardState},
    check_shed_level, load, objects, sys, EbpfError, SteerMode, TokenBucket,
};

const OBJECT: &str = "steer.bpf.o";

/// The reuseport steering program attached to one listener group. Dropping it
/// detaches the program; the kernel then spreads connections by its own hash again.
///
/// Every method takes `&self` (a mutex inside serializes the map writes), so one
/// handle can be shared by the shards and the pressure monitor.
pub struct Steering {
    state: Mutex<State>,
    mode: SteerMode,
    /// The listeners as given, with what `/proc/self/fd/N` named each at attach time,
    /// to detach through one that is still the same socket when dropped.
    listeners: Vec<(RawFd, Option<PathBuf>)>,
}

struct State {
    ebpf: Ebpf,
    config: Config,
    shards: Vec<ShardState>,
}

/// What the steering program did since it was attached (sums over all CPUs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SteerCounters {
    /// New connections steered to each shard, indexed by shard.
    pub steered: Vec<u64>,
    /// New connections dropped at shed level 3 because their source's bucket was empty.
    pub dropped_bucket: u64,
    /// New connections dropped at shed level 3 with a zero token bucket (shed all).
    pub dropped_level: u64,
    /// Connections left to the kernel's own hash: no eligible shard (all draining) or
    /// the kernel refused the chosen listener (for example one being closed).
    pub fallback: u64,
}

impl Steering {
    /// Loads the reuseport program and attaches it to the listener group.
    ///
    /// `listeners` are the shards' SO_REUSEPORT listening sockets in shard order (shard
    /// `i` is `listeners[i]`), all bound to the same address; they must stay open while
    /// this call runs. Every shard starts with load 0, not draining, shed level 0.
    ///
    /// # Errors
    /// No listeners or more than [`crate::MAX_SHARDS`], sockets not in one reuseport
    /// group, or the kernel's refusal (privilege, kernel, verifier).
    pub fn attach(
        listeners: &[RawFd],
        mode: SteerMode,
        bucket: TokenBucket,
    ) -> Result<Self, EbpfError> {
        if listeners.is_empty() || listeners.len() > abi::MAX_SHARDS {
            return Err(EbpfError::InvalidArgument(format!(
                "{} listeners (1 to {} shards)",
                listeners.len(),
                abi::MAX_SHARDS
            )));
        }
        let identities: Vec<(RawFd, Option<PathBuf>)> = listeners
            .iter()
            .map(|&fd| (fd, socket_identity(fd)))
            .collect();

        let mut ebpf = load::object(OBJECT, objects::STEER)?;
        let config = Config {
            steer_mode: mode.to_abi(),
            nr_shards: listeners.len() as u32,
            shed_level: 0,
            rate_per_sec: bucket.rate_per_sec,
            burst: bucket.burst,
            port: 0,
        };
        fill_listeners(&mut ebpf, listeners)?;
        load::write_config(&mut ebpf, OBJECT, abi::STEER_CONFIG, config)?;

        let program: &mut SkReuseport = load::program_mut(&mut ebpf, OBJECT, abi::STEER_PROGRAM)?;
        program
            .load()
            .map_err(|error| EbpfError::from_program_load(abi::STEER_PROGRAM, error))?;
        // Any socket of the group attaches the program to the whole group.
        sys::with_borrowed_fd(listeners[0], |fd| program.attach(fd))
            .ok_or_else(|| EbpfError::InvalidArgument(format!("listener fd {}", listeners[0])))?
            .map_err(|error| {
                EbpfError::from_aya(
                    "attach the steering program to the listeners",
                    OBJECT,
                    &error,
                )
            })?;

        Ok(Self {
            state: Mutex::new(State {
                ebpf,
                config,
                shards: vec![ShardState::default(); listeners.len()],
            }),
            mode,
            listeners: identities,
        })
    }

    /// Number of shards in the group.
    pub fn shards(&self) -> usize {
        self.listeners.len()
    }

    /// The steering mode chosen at attach.
    pub fn mode(&self) -> SteerMode {
        self.mode
    }

    /// Sets `shard`'s load score (lower is preferred by [`SteerMode::LeastLoaded`]).
    ///
    /// # Errors
    /// `shard` out of range, or the map write failed.
    pub fn set_load(&self, shard: usize, score: u32) -> Result<(), EbpfError> {
        self.update_shard(shard, |state| state.load = score)
    }

    /// Marks `shard` as draining (no new connections) or not.
    ///
    /// # Errors
    /// `shard` out of range, or the map write failed.
    pub fn set_draining(&self, shard: usize, draining: bool) -> Result<(), EbpfError> {
        self.update_shard(shard, |state| state.draining = u32::from(draining))
    }

    /// Sets the shed level (0 to 3); at 3 new connections pass the token bucket first.
    ///
    /// # Errors
    /// A level over 3, or the map write failed.
    pub fn set_shed_level(&self, level: u8) -> Result<(), EbpfError> {
        check_shed_level(level)?;
        self.update_config(|config| config.shed_level = u32::from(level))
    }

    /// Replaces the token bucket's rate and burst (existing buckets keep their tokens,
    /// capped at the new burst on their next connection).
    ///
    /// # Errors
    /// The map write failed.
    pub fn set_bucket(&self, bucket: TokenBucket) -> Result<(), EbpfError> {
        self.update_config(|config| {
            config.rate_per_sec = bucket.rate_per_sec;
            config.burst = bucket.burst;
        })
    }

    /// The program's counters, summed over CPUs.
    ///
    /// # Errors
    /// A map read failed.
    pub fn counters(&self) -> Result<SteerCounters, EbpfError> {
        let mut state = load::lock(&self.state);
        let shards = self.shards() as u32;
        let steered = load::read_counters(
            &mut state.ebpf,
            OBJECT,
            abi::STEER_COUNTERS,
            (0..shards).map(|shard| abi::STEER_CTR_STEERED + shard),
        )?;
        let rest = load::read_counters(
            &mut state.ebpf,
            OBJECT,
            abi::STEER_COUNTERS,
            [
                abi::STEER_CTR_DROPPED_BUCKET,
                abi::STEER_CTR_DROPPED_LEVEL,
                abi::STEER_CTR_FALLBACK,
            ],
        )?;
        Ok(SteerCounters {
            steered,
            dropped_bucket: rest[0],
            dropped_level: rest[1],
            fallback: rest[2],
        })
    }

    fn update_shard(
        &self,
        shard: usize,
        change: impl FnOnce(&mut ShardState),
    ) -> Result<(), EbpfError> {
        let mut state = load::lock(&self.state);
        let Some(&current) = state.shards.get(shard) else {
            return Err(EbpfError::InvalidArgument(format!(
                "shard {shard} (the group has {})",
                self.shards()
            )));
        };
        let mut next = current;
        change(&mut next);
        let mut array: Array<&mut MapData, ShardState> =
            load::map_mut(&mut state.ebpf, OBJECT, abi::STEER_SHARDS)?;
        array
            .set(shard as u32, next, 0)
            .map_err(|error| EbpfError::from_aya("write the shard state", OBJECT, &error))?;
        state.shards[shard] = next;
        Ok(())
    }

    fn update_config(&self, change: impl FnOnce(&mut Config)) -> Result<(), EbpfError> {
        let mut state = load::lock(&self.state);
        let mut next = state.config;
        change(&mut next);
        load::write_config(&mut state.ebpf, OBJECT, abi::STEER_CONFIG, next)?;
        state.config = next;
        Ok(())
    }
}

impl Drop for Steering {
    fn drop(&mut self) {
        // Detach through a listener that is still the socket we attached to: after the
        // engine closed some, their numbers may name other files by now. If none is
        // left, the group is gone and the program with it.
        let still_ours = self.listeners.iter().find(|(fd, identity)| {
            identity.is_some() && socket_identity(*fd).as_ref() == identity.as_ref()
        });
        if let Some(&(fd, _)) = still_ours {
            if let Some(Err(error)) = sys::with_borrowed_fd(fd, |fd| SkReuseport::detach(fd)) {
                tracing::warn!("detaching the steering program: {error}");
            }
        }
    }
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = load::lock(&self.state);
        f.debug_struct("Steering")
            .field("mode", &self.mode)
            .field("shards", &self.shards())
            .field("shed_level", &state.config.shed_level)
            .finish_non_exhaustive()
    }
}

/// Puts each listener into the program's socket array at its shard index.
fn fill_listeners(ebpf: &mut Ebpf, listeners: &[RawFd]) -> Result<(), EbpfError> {
    let mut sockets: ReusePortSockArray<&mut MapData> =
        load::map_mut(ebpf, OBJECT, abi::STEER_LISTENERS)?;
    for (shard, fd) in listeners.iter().enumerate() {
        sockets.set(shard as u32, fd, 0).map_err(|error| {
            EbpfError::from_aya(
                format!(
                    "put listener {shard} (fd {fd}) in the socket array (every listener must \
                     be a bound SO_REUSEPORT TCP socket of one group)"
                ),
                OBJECT,
                &error,
            )
        })?;
    }
    Ok(())
}

/// What `/proc/self/fd/<fd>` names (`socket:[inode]`), to recognise the socket later.
fn socket_identity(fd: RawFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// Loads the program through the verifier without attaching it.
pub(crate) fn probe() -> Result<(), EbpfError> {
    let mut ebpf = load::object(OBJECT, objects::STEER)?;
    let program: &mut SkReuseport = load::program_mut(&mut ebpf, OBJECT, abi::STEER_PROGRAM)?;
    program
        .load()
        .map_err(|error| EbpfError::from_program_load(abi::STEER_PROGRAM, error))
}
