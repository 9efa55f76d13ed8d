/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the BPF programs (steer.bpf.c, shed.bpf.c) and the Rust loader
 * (ebpf/src/abi.rs mirrors every struct with #[repr(C)]; a unit test checks the sizes).
 * Every field is a naturally aligned __u32/__u64, so there is no hidden padding.
 */
#ifndef SWITCHBOARD_H
#define SWITCHBOARD_H

#include <linux/types.h>

/* Most shards one listener group can have (the engine allows 256 per node). */
#define SB_MAX_SHARDS 256

/* Source addresses the token buckets remember (LRU: the least recent are forgotten). */
#define SB_BUCKET_ENTRIES 32768

/* sb_config.steer_mode */
#define SB_STEER_HASH 0
#define SB_STEER_LEAST_LOADED 1

/* The shed level at which new connections are rate limited in the kernel. */
#define SB_SHED_KERNEL_LEVEL 3

/* Token buckets count in millionths of a token, so a refill needs no division:
 * rate tokens per second is exactly rate micro-tokens per microsecond. */
#define SB_MICRO 1000000ULL

/* Longest idle time credited at once (1000 s), so elapsed_us * rate fits 64 bits. */
#define SB_MAX_ELAPSED_US 1000000000ULL

/* Key 0 of the single-entry config array of each program. */
struct sb_config {
	__u32 steer_mode;   /* SB_STEER_*; steer only */
	__u32 nr_shards;    /* listeners in the sockarray, 1..SB_MAX_SHARDS; steer only */
	__u32 shed_level;   /* 0..3; SB_SHED_KERNEL_LEVEL sheds */
	__u32 rate_per_sec; /* token bucket refill; rate 0 and burst 0: shed every new connection */
	__u32 burst;        /* token bucket capacity */
	__u32 port;         /* XDP: destination port (host order) to guard, 0 = every port */
};

/* One entry per shard in the steer program's shard array, written by the engine. */
struct sb_shard {
	__u32 load;     /* lower is better; least-loaded picks the minimum */
	__u32 draining; /* non-zero: gets no new connections */
};

/* Key of the token bucket LRU hash: the connection's source address. */
struct sb_addr {
	__u32 family;  /* 4 or 6 */
	__u32 addr[4]; /* IPv4 in addr[0] (network order), the rest zero */
};

/* Value of the token bucket LRU hash. */
struct sb_bucket {
	__u64 tokens;  /* micro-tokens */
	__u64 last_ns; /* bpf_ktime_get_ns() up to which tokens were credited */
};

/* Indexes of the steer program's per-CPU counter array (values __u64). */
#define SB_STEER_CTR_STEERED 0 /* + shard: connections steered to that shard */
#define SB_STEER_CTR_DROPPED_BUCKET (SB_MAX_SHARDS + 0)
#define SB_STEER_CTR_DROPPED_LEVEL (SB_MAX_SHARDS + 1)
#define SB_STEER_CTR_FALLBACK (SB_MAX_SHARDS + 2) /* left to the kernel's own hash */
#define SB_STEER_CTR_COUNT (SB_MAX_SHARDS + 3)

/* Indexes of the XDP program's per-CPU counter array (values __u64). */
#define SB_SHED_CTR_SYN_SEEN 0 /* SYNs to the guarded port */
#define SB_SHED_CTR_PASSED 1
#define SB_SHED_CTR_DROPPED_BUCKET 2
#define SB_SHED_CTR_DROPPED_LEVEL 3
#define SB_SHED_CTR_COUNT 4

#endif
