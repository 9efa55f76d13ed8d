/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sk_reuseport: picks the shard listener for each new connection of the engine's
 * SO_REUSEPORT group.
 *
 *   hash          reuse_md->hash spread over the shards that are not draining;
 *   least-loaded  the non-draining shard with the lowest load score, ties by hash.
 *
 * At shed level 3 a per-source token bucket decides first; over the rate the SYN is
 * dropped (SK_DROP: the kernel answers it with a reset, so the client sees a refused
 * connection at once). With no shard to pick, or a pick the kernel refuses, the kernel's
 * own hash decides (counted as fallback): configuration mistakes never refuse clients.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "switchboard.h"
#include "bucket.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The shard listeners, index = shard. Filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, SB_MAX_SHARDS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} sb_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sb_config);
} sb_steer_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SB_MAX_SHARDS);
	__type(key, __u32);
	__type(value, struct sb_shard);
} sb_shards SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SB_BUCKET_ENTRIES);
	__type(key, struct sb_addr);
	__type(value, struct sb_bucket);
} sb_steer_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SB_STEER_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sb_steer_counters SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&sb_steer_counters, &index);

	if (value)
		*value += 1;
}

/* The connection's source address, read from the IP header in front of TCP. */
static __always_inline int source_of(struct sk_reuseport_md *md, struct sb_addr *key)
{
	if (md->eth_protocol == bpf_htons(ETH_P_IP)) {
		key->family = 4;
		return bpf_skb_load_bytes_relative(md, offsetof(struct iphdr, saddr),
						   &key->addr[0], 4, BPF_HDR_START_NET);
	}
	if (md->eth_protocol == bpf_htons(ETH_P_IPV6)) {
		key->family = 6;
		return bpf_skb_load_bytes_relative(md, offsetof(struct ipv6hdr, saddr),
						   &key->addr[0], 16, BPF_HDR_START_NET);
	}
	return -1;
}

/*
 * The pick is rendezvous (highest random weight) hashing: each eligible shard gets a
 * weight mixed from the connection's hash and the shard index, and the best weight
 * wins: in hash mode among all eligible shards, in least-loaded mode among those with
 * the lowest load. Every shard is equally likely, one pass is enough, and excluding a
 * shard moves only the connections that would have gone to it.
 *
 * The scan is a bpf_loop callback (kernel 5.17+), so the verifier checks its body, not
 * every shard. Nothing in it branches on a constant the loop changes (such as a
 * counter), or the verifier would walk every iteration separately.
 */
struct scan {
	__u32 least_loaded;
	__u32 hash;
	__u32 best_load;
	__u32 best_weight;
	__u32 shard; /* SB_MAX_SHARDS: none eligible */
};

/* murmur3's 32-bit finalizer: every input bit moves every output bit. */
static __always_inline __u32 weight_of(__u32 hash, __u32 index)
{
	__u32 h = hash ^ (index * 0x9e3779b9);

	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static long scan_shard(__u32 index, void *ctx)
{
	struct scan *scan = ctx;
	struct sb_shard *shard = bpf_map_lookup_elem(&sb_shards, &index);

	if (!shard || shard->draining)
		return 0;
	__u32 load = scan->least_loaded ? shard->load : 0;
	__u32 weight = weight_of(scan->hash, index);
	if (scan->shard >= SB_MAX_SHARDS || load < scan->best_load ||
	    (load == scan->best_load && weight > scan->best_weight)) {
		scan->best_load = load;
		scan->best_weight = weight;
		scan->shard = index;
	}
	return 0;
}

SEC("sk_reuseport")
int sb_steer(struct sk_reuseport_md *md)
{
	__u32 zero = 0;
	struct sb_config *cfg = bpf_map_lookup_elem(&sb_steer_config, &zero);

	if (!cfg)
		return SK_PASS;

	if (cfg->shed_level >= SB_SHED_KERNEL_LEVEL) {
		struct sb_addr key = {};
		if (source_of(md, &key) == 0) {
			int verdict = sb_shed_verdict(&sb_steer_buckets, &key, cfg->shed_level,
						      cfg->rate_per_sec, cfg->burst);
			if (verdict == SB_DROP_LEVEL) {
				count(SB_STEER_CTR_DROPPED_LEVEL);
				return SK_DROP;
			}
			if (verdict == SB_DROP_BUCKET) {
				count(SB_STEER_CTR_DROPPED_BUCKET);
				return SK_DROP;
			}
		}
	}

	__u32 nr_shards = cfg->nr_shards;
	if (nr_shards > SB_MAX_SHARDS)
		nr_shards = SB_MAX_SHARDS;
	struct scan scan = {
		.least_loaded = cfg->steer_mode == SB_STEER_LEAST_LOADED,
		.hash = md->hash,
		.shard = SB_MAX_SHARDS,
	};
	bpf_loop(nr_shards, scan_shard, &scan, 0);

	__u32 shard = scan.shard;
	if (shard >= SB_MAX_SHARDS ||
	    bpf_sk_select_reuseport(md, &sb_listeners, &shard, 0) != 0) {
		count(SB_STEER_CTR_FALLBACK);
		return SK_PASS;
	}
	count(SB_STEER_CTR_STEERED + shard);
	return SK_PASS;
}
