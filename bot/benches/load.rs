//! Rule-set load time: parse, validate and index the sample rule set (jieba's
//! dictionary is built once per process, before the measurement, as in the engine).

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use switchboard_bot::{LoadOptions, MatcherKind, RuleSet};

fn load(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/bot/ecommerce.yaml");
    let yaml = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for kind in [MatcherKind::Ngram, MatcherKind::Jieba] {
        let options = LoadOptions {
            matcher: Some(kind),
            ..LoadOptions::default()
        };
        // Warm: builds jieba's dictionary outside the measurement.
        let _ = RuleSet::from_yaml_with(&yaml, &options);
        c.bench_function(&format!("load/{kind:?}"), |b| {
            b.iter(|| black_box(RuleSet::from_yaml_with(black_box(&yaml), &options)))
        });
    }
}

criterion_group!(benches, load);
criterion_main!(benches);
