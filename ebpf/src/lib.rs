//! eBPF socket steering and load shedding for Switchboard.
//!
//! Not built yet: this crate reserves the place in the workspace for the BPF programs
//! (`bpf/*.bpf.c`) and their aya loader (issue "eBPF socket steering and load
//! shedding"). The engine runs without it and says so at start.
#![forbid(unsafe_code)]

/// Whether this build carries eBPF programs at all.
pub const AVAILABLE: bool = false;
