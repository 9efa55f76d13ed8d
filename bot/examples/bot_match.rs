//! `bot_match --rules FILE [--expect] [--matcher ngram|jieba] [--now-ms MS] [INPUT]`:
//! the offline evaluator until the engine exposes it as `switchboard bot match`.
//! Reads utterances from INPUT (or standard input), prints one JSON line per utterance
//! and, with `--expect`, the confusion table and accuracy. `--now-ms` defaults to the
//! wall clock (it decides business hours and promotion variants).

use anyhow::{bail, Context as _, Result};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_bot::{eval, LoadOptions, MatcherKind, RuleSet};

struct Args {
    rules: PathBuf,
    expect: bool,
    matcher: Option<MatcherKind>,
    now_ms: u64,
    input: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let mut rules = None;
    let mut parsed = Args {
        rules: PathBuf::new(),
        expect: false,
        matcher: None,
        now_ms: wall_clock_ms(),
        input: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rules" => rules = args.next().map(PathBuf::from),
            "--expect" => parsed.expect = true,
            "--matcher" => {
                parsed.matcher = Some(match args.next().as_deref() {
                    Some("ngram") => MatcherKind::Ngram,
                    Some("jieba") => MatcherKind::Jieba,
                    other => bail!("--matcher takes ngram or jieba, not {other:?}"),
                })
            }
            "--now-ms" => {
                let value = args.next().context("--now-ms needs a value")?;
                parsed.now_ms = value.parse().context("--now-ms takes milliseconds")?;
            }
            _ if parsed.input.is_none() && !arg.starts_with("--") => {
                parsed.input = Some(PathBuf::from(arg));
            }
            _ => bail!("unknown argument {arg}; usage: bot_match --rules FILE [--expect] [--matcher ngram|jieba] [--now-ms MS] [INPUT]"),
        }
    }
    parsed.rules = rules.context("--rules FILE is required")?;
    Ok(parsed)
}

/// The library never reads the clock; this binary passes it in (`--now-ms` overrides).
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let options = LoadOptions {
        matcher: args.matcher,
        ..LoadOptions::default()
    };
    let rules = Arc::new(
        RuleSet::load(&args.rules, &options)
            .with_context(|| format!("loading {}", args.rules.display()))?,
    );
    let input = match &args.input {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            text
        }
    };
    let stdout = std::io::stdout();
    eval::run_match(&rules, &input, args.expect, args.now_ms, &mut stdout.lock())?;
    Ok(())
}
