//! [`XdpGuard`]: the XDP program that sheds SYNs on a network interface.

use std::{fmt, sync::Mutex};

use aya::{
    programs::{ProgramError, Xdp, XdpMode},
    Ebpf,
};

use crate::{abi, abi::Config, check_shed_level, load, objects, EbpfError, TokenBucket};

const OBJECT: &str = "shed.bpf.o";

/// The XDP shedding program attached (generic/SKB mode) to one interface. Dropping it
/// detaches the program.
pub struct XdpGuard {
    state: Mutex<State>,
    interface: String,
    port: u16,
}

struct State {
    ebpf: Ebpf,
    config: Config,
}

/// What the XDP program did since it was attached (sums over all CPUs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// SYNs (without ACK) to the guarded port.
    pub syn_seen: u64,
    /// Of those, passed on to the kernel.
    pub passed: u64,
    /// Dropped at shed level 3 because the source's bucket was empty.
    pub dropped_bucket: u64,
    /// Dropped at shed level 3 with a zero token bucket (shed all).
    pub dropped_level: u64,
}

impl XdpGuard {
    /// Loads the XDP program and attaches it in generic (SKB) mode to `interface`,
    /// guarding TCP `port` (0: every port). Starts at shed level 0 (everything passes).
    ///
    /// The interface is looked up in the calling thread's network namespace; the
    /// attachment stays valid wherever the guard is used or dropped afterwards.
    ///
    /// # Errors
    /// An invalid or unknown interface, or the kernel's refusal (privilege, kernel,
    /// verifier, another XDP program already attached).
    pub fn attach(interface: &str, port: u16, bucket: TokenBucket) -> Result<Self, EbpfError> {
        if interface.is_empty()
            || interface.len() > 15
            || interface.contains(['\0', '/'])
            || interface.contains(char::is_whitespace)
        {
            return Err(EbpfError::InvalidArgument(format!(
                "interface name {interface:?}"
            )));
        }
        let mut ebpf = load::object(OBJECT, objects::SHED)?;
        let config = Config {
            steer_mode: 0,
            nr_shards: 0,
            shed_level: 0,
            rate_per_sec: bucket.rate_per_sec,
            burst: bucket.burst,
            port: u32::from(port),
        };
        load::write_config(&mut ebpf, OBJECT, abi::SHED_CONFIG, config)?;
        let program: &mut Xdp = load::program_mut(&mut ebpf, OBJECT, abi::SHED_PROGRAM)?;
        program
            .load()
            .map_err(|error| EbpfError::from_program_load(abi::SHED_PROGRAM, error))?;
        // The link belongs to the program: unloading it (when `ebpf` drops) detaches.
        program
            .attach(interface, XdpMode::Skb)
            .map_err(|error| match error {
                ProgramError::UnknownInterface { name } => EbpfError::UnknownInterface(name),
                error => EbpfError::from_aya(
                    format!("attach the XDP program to {interface}"),
                    OBJECT,
                    &error,
                ),
            })?;
        Ok(Self {
            state: Mutex::new(State { ebpf, config }),
            interface: interface.to_owned(),
            port,
        })
    }

    /// The interface the program is attached to.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The guarded TCP port (0: every port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the shed level (0 to 3); at 3 SYNs pass only with a token from the bucket.
    ///
    /// # Errors
    /// A level over 3, or the map write failed.
    pub fn set_shed_level(&self, level: u8) -> Result<(), EbpfError> {
        check_shed_level(level)?;
        self.update_config(|config| config.shed_level = u32::from(level))
    }

    /// Replaces the token bucket's rate and burst.
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
    pub fn counters(&self) -> Result<XdpCounters, EbpfError> {
        let mut state = load::lock(&self.state);
        let values = load::read_counters(
            &mut state.ebpf,
            OBJECT,
            abi::SHED_COUNTERS,
            [
                abi::SHED_CTR_SYN_SEEN,
                abi::SHED_CTR_PASSED,
                abi::SHED_CTR_DROPPED_BUCKET,
                abi::SHED_CTR_DROPPED_LEVEL,
            ],
        )?;
        Ok(XdpCounters {
            syn_seen: values[0],
            passed: values[1],
            dropped_bucket: values[2],
            dropped_level: values[3],
        })
    }

    fn update_config(&self, change: impl FnOnce(&mut Config)) -> Result<(), EbpfError> {
        let mut state = load::lock(&self.state);
        let mut next = state.config;
        change(&mut next);
        load::write_config(&mut state.ebpf, OBJECT, abi::SHED_CONFIG, next)?;
        state.config = next;
        Ok(())
    }
}

impl fmt::Debug for XdpGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = load::lock(&self.state);
        f.debug_struct("XdpGuard")
            .field("interface", &self.interface)
            .field("port", &self.port)
            .field("shed_level", &state.config.shed_level)
            .finish_non_exhaustive()
    }
}

/// Loads the program through the verifier without attaching it.
pub(crate) fn probe() -> Result<(), EbpfError> {
    let mut ebpf = load::object(OBJECT, objects::SHED)?;
    let program: &mut Xdp = load::program_mut(&mut ebpf, OBJECT, abi::SHED_PROGRAM)?;
    program
        .load()
        .map_err(|error| EbpfError::from_program_load(abi::SHED_PROGRAM, error))
}
