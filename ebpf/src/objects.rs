//! The compiled BPF objects, embedded in the binary (8-byte aligned, as the ELF
//! parser wants). build.rs put them in `OUT_DIR`: compiled by clang 19, or copied
//! from `prebuilt/` when it is missing.

/// `bpf/steer.bpf.c` compiled: the `sk_reuseport` program and its maps.
pub(crate) static STEER: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// `bpf/shed.bpf.c` compiled: the XDP program and its maps.
pub(crate) static SHED: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/shed.bpf.o"));

/// Where this build's objects came from: `clang:<command>` or `prebuilt`.
pub const OBJECT_SOURCE: &str = env!("SWITCHBOARD_EBPF_OBJECTS");
