//! Features of a normalized line for fuzzy similarity.
//!
//! Words of Latin script give the word itself plus its character trigrams (with
//! boundary marks), so a typo such as `refnd` still shares most features with
//! `refund`; a number is one feature `<num>` whatever its digits. Han runs are cut two
//! ways, selected by [`MatcherKind`]: character unigrams and bigrams, or jieba's words.
//! Features are 64-bit FNV-1a hashes tagged by kind, sorted and deduplicated.

use jieba_rs::Jieba;
use std::sync::OnceLock;

use super::MatcherKind;
use crate::text::{runs, Run};
use crate::variant::stable_hash;

const TAG_WORD: u8 = 1;
const TAG_TRIGRAM: u8 = 2;
const TAG_NUMBER: u8 = 3;
const TAG_HAN_UNIGRAM: u8 = 4;
const TAG_HAN_BIGRAM: u8 = 5;
const TAG_HAN_WORD: u8 = 6;

/// Words shorter than this (in characters) get no trigrams: they are their own feature.
const MIN_TRIGRAM_WORD: usize = 3;

/// jieba's dictionary is large (~0.5 s and tens of MiB to build); one per process,
/// built on first use and shared read-only by every rule set.
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Cuts normalized text into feature hashes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeatureExtractor {
    kind: MatcherKind,
}

impl FeatureExtractor {
    /// An extractor of the given kind (building jieba's dictionary now if needed, so
    /// the first visitor line does not pay for it).
    pub(crate) fn new(kind: MatcherKind) -> Self {
        if kind == MatcherKind::Jieba {
            let _ = jieba();
        }
        Self { kind }
    }

    /// The sorted, deduplicated features of a normalized text.
    pub(crate) fn features(&self, normalized: &str) -> Vec<u64> {
        let mut out = Vec::with_capacity(normalized.len());
        for run in runs(normalized) {
            match run {
                Run::Word(word) => word_features(word, &mut out),
                Run::Han(han) => match self.kind {
                    MatcherKind::Ngram => han_ngrams(han, &mut out),
                    MatcherKind::Jieba => han_words(han, &mut out),
                },
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn tagged(tag: u8, text: &str) -> u64 {
    stable_hash(&[&[tag], text.as_bytes()])
}

fn word_features(word: &str, out: &mut Vec<u64>) {
    if word.chars().all(|c| c.is_ascii_digit()) {
        out.push(tagged(TAG_NUMBER, ""));
        return;
    }
    out.push(tagged(TAG_WORD, word));
    let chars: Vec<char> = std::iter::once('^')
        .chain(word.chars())
        .chain(std::iter::once('$'))
        .collect();
    if chars.len() < MIN_TRIGRAM_WORD + 2 {
        return;
    }
    let mut buf = String::new();
    for window in chars.windows(3) {
        buf.clear();
        buf.extend(window);
        out.push(tagged(TAG_TRIGRAM, &buf));
    }
}

fn han_ngrams(han: &str, out: &mut Vec<u64>) {
    let mut prev: Option<(usize, char)> = None;
    for (i, c) in han.char_indices() {
        let end = i + c.len_utf8();
        out.push(tagged(TAG_HAN_UNIGRAM, &han[i..end]));
        if let Some((start, _)) = prev {
            out.push(tagged(TAG_HAN_BIGRAM, &han[start..end]));
        }
        prev = Some((i, c));
    }
}

fn han_words(han: &str, out: &mut Vec<u64>) {
    for token in jieba().cut(han, true) {
        out.push(tagged(TAG_HAN_WORD, token.word));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_share_trigrams() {
        let x = FeatureExtractor::new(MatcherKind::Ngram);
        let a = x.features("refund");
        let b = x.features("refnd");
        let shared = a.iter().filter(|f| b.contains(f)).count();
        assert!(shared >= 2, "shared {shared}");
        assert!(!b.contains(&tagged(TAG_WORD, "refund")));
    }

    #[test]
    fn numbers_are_one_feature() {
        let x = FeatureExtractor::new(MatcherKind::Ngram);
        assert_eq!(x.features("123"), x.features("98765"));
    }

    #[test]
    fn han_ngrams_and_words_differ() {
        let ngram = FeatureExtractor::new(MatcherKind::Ngram).features("退款");
        assert_eq!(ngram.len(), 3, "two unigrams and a bigram");
        let words = FeatureExtractor::new(MatcherKind::Jieba).features("退款");
        assert_eq!(words, vec![tagged(TAG_HAN_WORD, "退款")]);
    }
}
