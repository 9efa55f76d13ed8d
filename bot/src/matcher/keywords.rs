//! Keywords and regular expressions of every intent, each searched in one pass over
//! the line whatever the number of intents.

use aho_corasick::AhoCorasick;
use regex::RegexSet;

/// One keyword: which intent it belongs to and what it is worth.
#[derive(Debug, Clone)]
struct Keyword {
    intent: usize,
    weight: f32,
    /// Latin keywords must start and end on a word boundary (`return` is not in
    /// `returned`); Han keywords match anywhere, Chinese has no spaces.
    bounded_start: bool,
    bounded_end: bool,
}

/// All keywords of a rule set in one Aho–Corasick automaton.
#[derive(Debug)]
pub(crate) struct KeywordIndex {
    automaton: Option<AhoCorasick>,
    keywords: Vec<Keyword>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !crate::text::is_han(c)
}

impl KeywordIndex {
    /// Builds the index from `(intent, normalized keyword, weight)`.
    pub(crate) fn build(entries: &[(usize, String, f32)]) -> Result<Self, String> {
        let keywords = entries
            .iter()
            .map(|(intent, text, weight)| Keyword {
                intent: *intent,
                weight: *weight,
                bounded_start: text.chars().next().is_some_and(is_word_char),
                bounded_end: text.chars().last().is_some_and(is_word_char),
            })
            .collect();
        let automaton = if entries.is_empty() {
            None
        } else {
            let texts = entries.iter().map(|(_, t, _)| t.as_str());
            Some(AhoCorasick::new(texts).map_err(|e| e.to_string())?)
        };
        Ok(Self {
            automaton,
            keywords,
        })
    }

    /// Raises `scores[intent]` to the weight of the best keyword of that intent found.
    pub(crate) fn score(&self, normalized: &str, scores: &mut [f32]) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        for m in automaton.find_overlapping_iter(normalized) {
            let keyword = &self.keywords[m.pattern().as_usize()];
            let before = normalized[..m.start()].chars().next_back();
            let after = normalized[m.end()..].chars().next();
            if keyword.bounded_start && before.is_some_and(is_word_char) {
                continue;
            }
            if keyword.bounded_end && after.is_some_and(is_word_char) {
                continue;
            }
            if let Some(slot) = scores.get_mut(keyword.intent) {
                *slot = slot.max(keyword.weight);
            }
        }
    }
}

/// All intent patterns of a rule set in one `RegexSet`.
#[derive(Debug)]
pub(crate) struct PatternIndex {
    set: RegexSet,
    /// Pattern → (intent, weight).
    owners: Vec<(usize, f32)>,
}

impl PatternIndex {
    /// Builds the set from `(intent, regex source, weight)`; each source has already
    /// been compiled alone (so its error could be reported at its own position).
    pub(crate) fn build(
        entries: &[(usize, String, f32)],
        size_limit: usize,
    ) -> Result<Self, String> {
        let set = regex::RegexSetBuilder::new(entries.iter().map(|(_, p, _)| p))
            .size_limit(size_limit)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            set,
            owners: entries.iter().map(|(i, _, w)| (*i, *w)).collect(),
        })
    }

    /// Raises `scores[intent]` to the weight of the best pattern of that intent that matches.
    pub(crate) fn score(&self, normalized: &str, scores: &mut [f32]) {
        if self.owners.is_empty() {
            return;
        }
        for index in self.set.matches(normalized).iter() {
            let (intent, weight) = self.owners[index];
            if let Some(slot) = scores.get_mut(intent) {
                *slot = slot.max(weight);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_keywords_need_word_boundaries_han_do_not() {
        let index = KeywordIndex::build(&[
            (0, "return".into(), 0.8),
            (1, "退款".into(), 0.9),
            (2, "coupon".into(), 0.7),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = [0.0; 3];
        index.score("i returned it, 申请退款了", &mut s);
        assert_eq!(s, [0.0, 0.9, 0.0]);
        let mut s = [0.0; 3];
        index.score("can i return? coupon用不了", &mut s);
        assert_eq!(s, [0.8, 0.0, 0.7]);
    }

    #[test]
    fn patterns_raise_their_intent() {
        let index = PatternIndex::build(&[(1, r"\bso\d{8}\b".into(), 0.95)], 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = [0.0; 2];
        index.score("order so12345678 please", &mut s);
        assert_eq!(s, [0.0, 0.95]);
    }
}
