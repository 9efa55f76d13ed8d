/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-source token bucket both programs use at shed level 3. Inline, so each
 * object has its own LRU map; the verdict logic is the same in both.
 */
#ifndef SWITCHBOARD_BUCKET_H
#define SWITCHBOARD_BUCKET_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "switchboard.h"

enum sb_verdict {
	SB_ADMIT = 0,
	SB_DROP_BUCKET = 1,
	SB_DROP_LEVEL = 2,
};

/*
 * Takes one token from the source's bucket. A new source starts with a full bucket.
 * Two CPUs updating one source at once may both read the old value; the bucket then
 * admits one connection too many, which is cheaper than a lock per SYN.
 */
static __always_inline int sb_bucket_take(void *buckets, const struct sb_addr *key,
					  __u32 rate, __u32 burst)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 cap = (__u64)burst * SB_MICRO;
	struct sb_bucket *b = bpf_map_lookup_elem(buckets, key);

	if (!b) {
		struct sb_bucket fresh = { .tokens = cap, .last_ns = now };
		int admit = fresh.tokens >= SB_MICRO;

		if (admit)
			fresh.tokens -= SB_MICRO;
		/* A full map evicts the least recently used source. */
		bpf_map_update_elem(buckets, key, &fresh, BPF_ANY);
		return admit ? SB_ADMIT : SB_DROP_BUCKET;
	}

	__u64 tokens = b->tokens;
	__u64 last = b->last_ns;
	if (now > last) {
		__u64 elapsed_us = (now - last) / 1000;
		if (elapsed_us > SB_MAX_ELAPSED_US) {
			tokens = cap;
			last = now;
		} else {
			tokens += elapsed_us * rate;
			/* Keep the sub-microsecond rest for the next refill. */
			last += elapsed_us * 1000;
		}
	}
	if (tokens > cap)
		tokens = cap;

	int verdict = SB_DROP_BUCKET;
	if (tokens >= SB_MICRO) {
		tokens -= SB_MICRO;
		verdict = SB_ADMIT;
	}
	b->tokens = tokens;
	b->last_ns = last;
	return verdict;
}

/* The shed decision for one new connection from `key` under `cfg`. */
static __always_inline int sb_shed_verdict(void *buckets, const struct sb_addr *key,
					   __u32 level, __u32 rate, __u32 burst)
{
	if (level < SB_SHED_KERNEL_LEVEL)
		return SB_ADMIT;
	if (rate == 0 && burst == 0)
		return SB_DROP_LEVEL;
	return sb_bucket_take(buckets, key, rate, burst);
}

#endif
