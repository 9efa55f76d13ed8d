//! `matcher_compare --rules FILE UTTERANCES.jsonl`: n-gram against jieba on one
//! labelled set. For each matcher it prints the accuracy per language with the full
//! rules and with the fuzzy signal alone (keywords and patterns removed, so only the
//! example phrases decide: that is where the two ways of cutting Chinese differ), and
//! the mean classification time per utterance.

use anyhow::{Context as _, Result};
use std::time::Instant;
use switchboard_bot::eval::{parse_utterances, score, Utterance};
use switchboard_bot::{LoadOptions, MatcherKind, RuleSet};

const TIMING_ROUNDS: usize = 200;

fn fuzzy_only(yaml: &str) -> Result<String> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(yaml)?;
    let intents = doc
        .get_mut("intents")
        .and_then(|i| i.as_sequence_mut())
        .context("no intents")?;
    for intent in intents {
        if let Some(map) = intent.as_mapping_mut() {
            map.remove("keywords");
            map.remove("patterns");
        }
    }
    Ok(serde_yaml::to_string(&doc)?)
}

fn nanos_per_utterance(rules: &RuleSet, utterances: &[Utterance]) -> f64 {
    // One untimed round first: caches, and the allocator's first pages.
    for u in utterances {
        std::hint::black_box(rules.classify(&u.text));
    }
    let start = Instant::now();
    for _ in 0..TIMING_ROUNDS {
        for u in utterances {
            std::hint::black_box(rules.classify(&u.text));
        }
    }
    start.elapsed().as_nanos() as f64 / (TIMING_ROUNDS * utterances.len()).max(1) as f64
}

/// Resident set size of this process in KiB (Linux), to see what jieba's dictionary costs.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The first jieba load builds its dictionary; report its time and memory once.
fn first_jieba_load(yaml: &str) -> Result<()> {
    let options = LoadOptions {
        matcher: Some(MatcherKind::Jieba),
        ..LoadOptions::default()
    };
    let (rss, start) = (rss_kib(), Instant::now());
    RuleSet::from_yaml_with(yaml, &options)?;
    let (ms, grown) = (start.elapsed().as_millis(), rss_kib().saturating_sub(rss));
    println!(
        "first jieba load (builds the dictionary): {ms} ms, resident memory +{} MiB",
        grown / 1024
    );
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (flag, rules_path, set_path) = (args.next(), args.next(), args.next());
    let (Some("--rules"), Some(rules_path), Some(set_path)) =
        (flag.as_deref(), rules_path, set_path)
    else {
        anyhow::bail!("usage: matcher_compare --rules FILE UTTERANCES.jsonl");
    };
    let yaml = std::fs::read_to_string(&rules_path).with_context(|| rules_path.clone())?;
    let utterances =
        parse_utterances(&std::fs::read_to_string(&set_path).with_context(|| set_path.clone())?)?;
    let fuzzy = fuzzy_only(&yaml)?;
    println!("{set_path}: {} utterances", utterances.len());
    first_jieba_load(&yaml)?;
    println!(
        "{:<7} {:<11} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "matcher", "signals", "all", "en", "zh", "mixed", "ns/utterance"
    );
    for kind in [MatcherKind::Ngram, MatcherKind::Jieba] {
        let options = LoadOptions {
            matcher: Some(kind),
            ..LoadOptions::default()
        };
        for (label, doc) in [("full", &yaml), ("fuzzy-only", &fuzzy)] {
            let rules = RuleSet::from_yaml_with(doc, &options)?;
            let s = score(&rules, &utterances);
            let pct = |l: &str| {
                s.language_accuracy(l)
                    .map_or("-".to_owned(), |a| format!("{:.1}%", 100.0 * a))
            };
            println!(
                "{:<7} {:<11} {:>7.1}% {:>8} {:>8} {:>8} {:>12.0}",
                format!("{kind:?}").to_lowercase(),
                label,
                100.0 * s.accuracy(),
                pct("en"),
                pct("zh"),
                pct("mixed"),
                nanos_per_utterance(&rules, &utterances)
            );
        }
    }
    Ok(())
}
