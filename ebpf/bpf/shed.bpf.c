/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XDP: sheds new TCP connections before the kernel allocates anything for them.
 *
 * A SYN without ACK to the guarded port (config.port, 0 = any) is dropped at shed
 * level 3 when its source's token bucket is empty (or always, with rate 0 and burst
 * 0). A dropped SYN looks like a lost packet to the client, which retransmits after
 * its back-off (1 s, 3 s, ...): a reconnect storm is spread out, not refused.
 * Everything else passes untouched. Generic (SKB) mode is enough.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "switchboard.h"
#include "bucket.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sb_config);
} sb_shed_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SB_BUCKET_ENTRIES);
	__type(key, struct sb_addr);
	__type(value, struct sb_bucket);
} sb_shed_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SB_SHED_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sb_shed_counters SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&sb_shed_counters, &index);

	if (value)
		*value += 1;
}

/* The TCP header of an IPv4 or IPv6 packet (no extension headers), or NULL. */
static __always_inline struct tcphdr *tcp_of(void *data, void *data_end, struct sb_addr *key)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return NULL;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
			return NULL;
		__u32 header_len = ip->ihl * 4;
		if (header_len < sizeof(*ip))
			return NULL;
		key->family = 4;
		key->addr[0] = ip->saddr;
		return (void *)ip + header_len;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP)
			return NULL;
		key->family = 6;
		__builtin_memcpy(key->addr, &ip6->saddr, sizeof(key->addr));
		return (void *)(ip6 + 1);
	}
	return NULL;
}

SEC("xdp")
int sb_shed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sb_addr key = {};
	struct tcphdr *tcp = tcp_of(data, data_end, &key);

	if (!tcp || (void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (!tcp->syn || tcp->ack)
		return XDP_PASS;

	__u32 zero = 0;
	struct sb_config *cfg = bpf_map_lookup_elem(&sb_shed_config, &zero);
	if (!cfg)
		return XDP_PASS;
	if (cfg->port != 0 && bpf_ntohs(tcp->dest) != cfg->port)
		return XDP_PASS;

	count(SB_SHED_CTR_SYN_SEEN);
	int verdict = sb_shed_verdict(&sb_shed_buckets, &key, cfg->shed_level,
				      cfg->rate_per_sec, cfg->burst);
	if (verdict == SB_DROP_LEVEL) {
		count(SB_SHED_CTR_DROPPED_LEVEL);
		return XDP_DROP;
	}
	if (verdict == SB_DROP_BUCKET) {
		count(SB_SHED_CTR_DROPPED_BUCKET);
		return XDP_DROP;
	}
	count(SB_SHED_CTR_PASSED);
	return XDP_PASS;
}
