//! Matching cost per utterance: the labelled utterances of the sample rule set, per
//! language and per matcher. Criterion reports utterances per second (throughput);
//! the time per utterance is its inverse.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use switchboard_bot::{eval, LoadOptions, MatcherKind, RuleSet};

fn sample(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/bot/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rules(kind: MatcherKind) -> RuleSet {
    let options = LoadOptions {
        matcher: Some(kind),
        ..LoadOptions::default()
    };
    RuleSet::from_yaml_with(&sample("ecommerce.yaml"), &options).unwrap_or_else(|e| panic!("{e}"))
}

fn utterances(lang: &str) -> Vec<String> {
    let all = eval::parse_utterances(&sample("utterances/tuning.jsonl")).unwrap_or_default();
    all.into_iter()
        .filter(|u| u.lang.as_deref() == Some(lang))
        .map(|u| u.text)
        .collect()
}

fn matching(c: &mut Criterion) {
    for kind in [MatcherKind::Ngram, MatcherKind::Jieba] {
        let rules = rules(kind);
        for lang in ["en", "zh"] {
            let lines = utterances(lang);
            let mut group = c.benchmark_group(format!("classify/{kind:?}"));
            group.throughput(Throughput::Elements(lines.len() as u64));
            group.bench_function(lang, |b| {
                b.iter(|| {
                    for line in &lines {
                        black_box(rules.classify(black_box(line)));
                    }
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, matching);
criterion_main!(benches);
