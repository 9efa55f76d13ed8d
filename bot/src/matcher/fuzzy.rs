//! Fuzzy similarity of a line to each intent's example phrases: cosine similarity of
//! binary feature vectors weighted by inverse intent frequency.
//!
//! A feature's weight is `ln(1 + intents / intents_using_it)`: a feature that every
//! intent's examples share ("my", "的") weighs little, one that only `refund_status`
//! uses weighs a lot. Frequency is counted over intents rather than over examples so
//! that an intent with many phrasings of the same word is not penalised for it.
//! Features of the line that no example has count in the line's norm with the largest
//! weight, times [`UNKNOWN_FEATURE_FACTOR`]: unrelated words dilute the similarity,
//! but not as much as a known word would.

/// How much a feature that no example has weighs, relative to the rarest known one.
const UNKNOWN_FEATURE_FACTOR: f32 = 0.5;

/// The inverted index over every example of a rule set.
#[derive(Debug, Default)]
pub(crate) struct FuzzyIndex {
    /// Feature hash → feature id, sorted by hash for binary search.
    vocab: Vec<(u64, u32)>,
    /// Squared weight per feature id.
    weight2: Vec<f32>,
    /// Feature id → the examples that have it.
    postings: Vec<Vec<u32>>,
    /// Example → its intent.
    example_intent: Vec<u32>,
    /// Example → the norm of its weighted vector.
    example_norm: Vec<f32>,
    /// Squared weight of a feature no example has.
    unknown_weight2: f32,
}

impl FuzzyIndex {
    /// Builds the index from `(intent, sorted deduplicated features)` per example.
    pub(crate) fn build(examples: &[(usize, Vec<u64>)], intents: usize) -> Self {
        let mut all: Vec<u64> = examples
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        let vocab: Vec<(u64, u32)> = all.iter().zip(0u32..).map(|(&h, id)| (h, id)).collect();
        let id_of = |h: u64| vocab.binary_search_by_key(&h, |&(k, _)| k).ok();

        let mut postings = vec![Vec::new(); vocab.len()];
        let mut users: Vec<Vec<u32>> = vec![Vec::new(); vocab.len()];
        for (example, (intent, features)) in examples.iter().enumerate() {
            for id in features.iter().filter_map(|&h| id_of(h)) {
                postings[id].push(example as u32);
                users[id].push(*intent as u32);
            }
        }
        let intents = intents.max(1) as f32;
        let weight2: Vec<f32> = users
            .iter_mut()
            .map(|u| {
                u.dedup();
                let w = (1.0 + intents / u.len().max(1) as f32).ln();
                w * w
            })
            .collect();
        let example_norm = examples
            .iter()
            .map(|(_, f)| {
                f.iter()
                    .filter_map(|&h| id_of(h))
                    .map(|id| weight2[id])
                    .sum::<f32>()
                    .sqrt()
            })
            .collect();
        let max_w = (1.0 + intents).ln() * UNKNOWN_FEATURE_FACTOR;
        Self {
            vocab,
            weight2,
            postings,
            example_intent: examples.iter().map(|(i, _)| *i as u32).collect(),
            example_norm,
            unknown_weight2: max_w * max_w,
        }
    }

    /// The best similarity (0..=1) of the line's features to each intent's examples.
    pub(crate) fn best_per_intent(&self, features: &[u64], intents: usize) -> Vec<f32> {
        let mut best = vec![0f32; intents];
        if self.example_intent.is_empty() || features.is_empty() {
            return best;
        }
        let mut dots = vec![0f32; self.example_intent.len()];
        let mut norm2 = 0f32;
        for &h in features {
            match self.vocab.binary_search_by_key(&h, |&(k, _)| k) {
                Ok(pos) => {
                    let id = self.vocab[pos].1 as usize;
                    let w2 = self.weight2[id];
                    norm2 += w2;
                    for &e in &self.postings[id] {
                        dots[e as usize] += w2;
                    }
                }
                Err(_) => norm2 += self.unknown_weight2,
            }
        }
        let qnorm = norm2.sqrt();
        for (e, &dot) in dots.iter().enumerate() {
            let denom = qnorm * self.example_norm[e];
            if dot <= 0.0 || denom <= 0.0 {
                continue;
            }
            let intent = self.example_intent[e] as usize;
            if let Some(slot) = best.get_mut(intent) {
                *slot = slot.max((dot / denom).min(1.0));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_features_score_one_and_disjoint_zero() {
        let index = FuzzyIndex::build(&[(0, vec![1, 2, 3]), (1, vec![4, 5])], 2);
        let s = index.best_per_intent(&[1, 2, 3], 2);
        assert!((s[0] - 1.0).abs() < 1e-5, "{s:?}");
        assert_eq!(s[1], 0.0);
        assert_eq!(index.best_per_intent(&[9], 2), vec![0.0, 0.0]);
    }

    #[test]
    fn shared_features_weigh_less_than_distinctive_ones() {
        // Feature 1 is in both intents, feature 2 only in intent 0, 3 only in intent 1.
        let index = FuzzyIndex::build(&[(0, vec![1, 2]), (1, vec![1, 3])], 2);
        let s = index.best_per_intent(&[1, 2], 2);
        assert!(s[0] > 0.99 && s[1] < 0.5, "{s:?}");
    }

    #[test]
    fn unknown_features_dilute() {
        let index = FuzzyIndex::build(&[(0, vec![1, 2])], 1);
        let plain = index.best_per_intent(&[1, 2], 1)[0];
        let diluted = index.best_per_intent(&[1, 2, 100, 200], 1)[0];
        assert!(diluted < plain && diluted > 0.3, "{plain} {diluted}");
    }
}
