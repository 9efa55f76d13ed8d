//! Intent matching: which intent a visitor's line is about, and how sure we are.
//!
//! Three signals per intent, each in 0..=1: the best keyword found (Aho–Corasick over
//! the normalized line), the best regular expression that matches (one `RegexSet`),
//! and fuzzy similarity to the intent's example phrases (TF-IDF cosine over features,
//! see [`features`]). They are combined as a noisy OR, `1 − Π(1 − s)`, so two weak
//! signals that agree add up, and one strong signal is enough. Among the intents whose
//! confidence reaches the threshold, the highest priority wins, then the highest
//! confidence.

mod features;
mod fuzzy;
mod keywords;

use serde::{Deserialize, Serialize};

pub(crate) use features::FeatureExtractor;
pub(crate) use fuzzy::FuzzyIndex;
pub(crate) use keywords::{KeywordIndex, PatternIndex};

use crate::text::normalize;

/// How Chinese text is cut into features for fuzzy similarity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatcherKind {
    /// Character unigrams and bigrams of Han runs (no dictionary).
    #[default]
    Ngram,
    /// Words from jieba's dictionary segmentation of Han runs.
    Jieba,
}

/// The result of classifying one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The winning intent's index in [`crate::RuleSet::intent_names`], if one reached
    /// the threshold.
    pub intent: Option<usize>,
    /// The winner's confidence; with no winner, the best confidence seen (below the
    /// threshold), 0 for an empty line.
    pub confidence: f32,
}

/// What the matcher needs to know about one intent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntentWeights {
    pub priority: i32,
    pub fuzzy_weight: f32,
}

/// Every index of one rule set, built once at load.
#[derive(Debug)]
pub(crate) struct Matcher {
    keywords: KeywordIndex,
    patterns: PatternIndex,
    fuzzy: FuzzyIndex,
    extractor: FeatureExtractor,
    intents: Vec<IntentWeights>,
    threshold: f32,
}

impl Matcher {
    pub(crate) fn new(
        keywords: KeywordIndex,
        patterns: PatternIndex,
        fuzzy: FuzzyIndex,
        extractor: FeatureExtractor,
        intents: Vec<IntentWeights>,
        threshold: f32,
    ) -> Self {
        Self {
            keywords,
            patterns,
            fuzzy,
            extractor,
            intents,
            threshold,
        }
    }

    /// Classifies one line (already cut to the line limit).
    pub(crate) fn classify(&self, line: &str) -> Classification {
        let text = normalize(line);
        let n = self.intents.len();
        let mut kw = vec![0f32; n];
        let mut pt = vec![0f32; n];
        self.keywords.score(&text, &mut kw);
        self.patterns.score(&text, &mut pt);
        let features = self.extractor.features(&text);
        let fz = self.fuzzy.best_per_intent(&features, n);
        self.pick(&kw, &pt, &fz)
    }

    fn pick(&self, kw: &[f32], pt: &[f32], fz: &[f32]) -> Classification {
        let mut best_any = 0f32;
        let mut winner: Option<(usize, f32)> = None;
        for (i, weights) in self.intents.iter().enumerate() {
            let fuzzy = (fz[i] * weights.fuzzy_weight).min(1.0);
            let conf = 1.0 - (1.0 - kw[i]) * (1.0 - pt[i]) * (1.0 - fuzzy);
            best_any = best_any.max(conf);
            if conf < self.threshold {
                continue;
            }
            let better = match winner {
                None => true,
                Some((w, wc)) => {
                    let wp = self.intents[w].priority;
                    weights.priority > wp || (weights.priority == wp && conf > wc)
                }
            };
            if better {
                winner = Some((i, conf));
            }
        }
        match winner {
            Some((i, conf)) => Classification {
                intent: Some(i),
                confidence: conf,
            },
            None => Classification {
                intent: None,
                confidence: best_any,
            },
        }
    }
}
