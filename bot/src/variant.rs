//! A/B variant choice: the same visitor gets the same variant of an intent's reply,
//! on every conversation and every node, as long as the variants' weights stay.
//!
//! The hash is FNV-1a 64, written out here rather than taken from a hasher crate: its
//! output decides which visitor sees which variant, so it must never change with a
//! dependency upgrade or a platform (std's `DefaultHasher` is explicitly unstable).
//! The algorithm is fixed by its specification; the tests pin its published vectors.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of the concatenation of `parts`; stable across versions and platforms.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

/// The index chosen among `weights` (all positive) for this visitor and intent.
pub(crate) fn choose(weights: &[f64], visitor_id: &str, intent: &str) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        return None;
    }
    let hash = stable_hash(&[visitor_id.as_bytes(), &[0x1f], intent.as_bytes()]);
    // The top 53 bits as a uniform fraction in [0, 1): exact in an f64.
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
    let mut point = unit * total;
    for (i, w) in weights.iter().enumerate() {
        if point < *w {
            return Some(i);
        }
        point -= w;
    }
    Some(weights.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_published_vectors() {
        assert_eq!(stable_hash(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(&[b"foobar"]), 0x8594_4171_f739_67e8);
        assert_eq!(stable_hash(&[b"foo", b"bar"]), stable_hash(&[b"foobar"]));
    }

    #[test]
    fn choice_is_sticky_and_follows_weights() {
        let weights = [3.0, 1.0];
        let first = choose(&weights, "visitor-7", "coupon_problem");
        assert_eq!(first, choose(&weights, "visitor-7", "coupon_problem"));
        let picks: Vec<usize> = (0..4000)
            .filter_map(|i| choose(&weights, &format!("v{i}"), "coupon_problem"))
            .collect();
        let a = picks.iter().filter(|&&p| p == 0).count();
        assert!((2800..3200).contains(&a), "variant a got {a} of 4000");
        assert_eq!(choose(&[], "v", "i"), None);
    }
}
