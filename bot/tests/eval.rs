//! The evaluator's input and output formats, as `switchboard bot match` will print them.

mod common;

use switchboard_bot::eval::{parse_utterances, run_match, EvalError, LineResult};

fn run(
    input: &str,
    expect: bool,
) -> (
    String,
    Result<Option<switchboard_bot::eval::Scores>, EvalError>,
) {
    let mut out = Vec::new();
    let result = run_match(
        &common::sample_rules(),
        input,
        expect,
        common::OPEN_MS,
        &mut out,
    );
    (String::from_utf8(out).unwrap_or_default(), result)
}

#[test]
fn plain_lines_print_one_json_object_each() {
    let (out, result) = run("where is my refund\n\n我要开发票\nblah blah\n", false);
    assert!(matches!(result, Ok(None)));
    let lines: Vec<LineResult> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let intents: Vec<&str> = lines.iter().map(|l| l.intent.as_str()).collect();
    assert_eq!(intents, ["refund_status", "invoice", "none"]);
    assert!(lines[0].confidence >= 0.6 && lines[0].confidence <= 1.0);
    assert!(lines[1]
        .reply
        .as_deref()
        .is_some_and(|r| r.contains("电子发票")));
    assert!(lines[2]
        .reply
        .as_deref()
        .is_some_and(|r| r.starts_with("Sorry")));
    let raw: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap_or("")).unwrap_or_default();
    let keys: Vec<&str> = raw
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["confidence", "intent", "reply", "text"]);
}

#[test]
fn expected_intents_give_a_confusion_table_and_accuracy() {
    let input = r#"{"text": "where is my refund", "intent": "refund_status"}
{"text": "转人工", "intent": "human", "lang": "zh"}
{"text": "blah blah", "intent": "invoice"}
"#;
    let (out, result) = run(input, true);
    let scores = result.unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
    assert_eq!((scores.correct, scores.total), (2, 3));
    assert_eq!(
        scores.confusion.get(&("invoice".into(), "none".into())),
        Some(&1)
    );
    assert_eq!(scores.by_language.get("zh"), Some(&(1, 1)));
    assert!(out.contains("accuracy: 2/3 = 66.7%"), "{out}");
    assert!(out.contains("expected \\ found"));
}

#[test]
fn malformed_input_is_refused_with_its_line() {
    let err = parse_utterances("fine\n{\"text\": 3}\n").err();
    assert!(
        matches!(err, Some(EvalError::Json { line: 2, .. })),
        "{err:?}"
    );
    let (_, result) = run(
        "{\"text\": \"hi\", \"intent\": \"greeting\"}\nplain line\n",
        true,
    );
    assert!(matches!(
        result,
        Err(EvalError::MissingExpectation { utterance: 2 })
    ));
}
