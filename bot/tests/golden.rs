//! The persisted session record is pinned by golden files: a change to what is
//! written must be a deliberate change of these files (regenerate with
//! `BOT_BLESS=1 cargo test -p switchboard-bot --test golden`) and, if old records can
//! no longer be read, of the record version.

mod common;

use common::{ctx, sample_rules, texts, CLOSED_MS, OPEN_MS};
use std::path::PathBuf;
use switchboard_bot::{BotSession, Claims, RestoreError, RuleSet, SessionRecord, StateRecord};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `record`'s JSON with the golden file, and reads the file back.
fn check_golden(name: &str, record: &SessionRecord) -> SessionRecord {
    let json = serde_json::to_string_pretty(record).unwrap_or_else(|e| panic!("{e}")) + "\n";
    let path = golden_path(name);
    if std::env::var_os("BOT_BLESS").is_some() {
        std::fs::write(&path, &json).unwrap_or_else(|e| panic!("{e}"));
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(json, golden, "record JSON differs from {name}");
    serde_json::from_str(&golden).unwrap_or_else(|e| panic!("{e}"))
}

fn session_in_form(claims: &Claims) -> BotSession {
    let c = ctx(OPEN_MS, "visitor-1", claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    s.on_visitor_line("how do I return this?", &c);
    s.on_visitor_line("where is my order", &c);
    s.on_visitor_line("dunno", &c);
    s
}

#[test]
fn a_session_in_a_form_matches_its_golden_record_and_resumes() {
    let claims = Claims::default();
    let record = session_in_form(&claims).record();
    assert!(matches!(
        &record.state,
        StateRecord::Form { attempts: 1, .. }
    ));
    let golden = check_golden("session_form_v1.json", &record);
    assert_eq!(golden, record);

    let c = ctx(OPEN_MS + 1000, "visitor-1", &claims);
    let mut restored =
        BotSession::restore(sample_rules(), &golden, &c).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored.record(), golden);
    let done = restored.on_visitor_line("SO12345678", &c);
    assert!(texts(&done)[0].contains("SO12345678"), "{done:?}");
}

#[test]
fn final_states_match_their_golden_records() {
    let claims = Claims {
        tier: Some("vip".into()),
        ..Claims::default()
    };
    let c = ctx(OPEN_MS, "visitor-2", &claims);
    let (mut handed, _) = BotSession::start(sample_rules(), &c);
    handed.on_visitor_line("转人工", &c);
    let record = handed.record();
    check_golden("session_handed_off_v1.json", &record);
    let mut restored =
        BotSession::restore(sample_rules(), &record, &c).unwrap_or_else(|e| panic!("{e}"));
    assert!(restored.is_finished());
    assert!(restored.on_visitor_line("hello", &c).is_empty());

    let night = ctx(CLOSED_MS, "visitor-3", &claims);
    let (mut leaving, _) = BotSession::start(sample_rules(), &night);
    leaving.on_visitor_line("agent please", &night);
    check_golden("session_leave_message_v1.json", &leaving.record());
}

#[test]
fn records_of_another_version_or_a_vanished_form_are_refused() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "visitor-1", &claims);
    let mut record = session_in_form(&claims).record();
    record.v = 2;
    assert_eq!(
        BotSession::restore(sample_rules(), &record, &c).err(),
        Some(RestoreError::Version(2))
    );
    record.v = 1;
    let without_form = RuleSet::from_yaml(
        "version: 1\nlanguages: [en]\nfallback: { en: x }\nintents:\n  - name: order_status\n    keywords: [order]\n    reply: { text: { en: y } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = BotSession::restore(std::sync::Arc::new(without_form), &record, &c).err();
    assert_eq!(err, Some(RestoreError::UnknownForm("order_status".into())));
    let unknown_key = r#"{"v":1,"extra":true}"#;
    assert!(serde_json::from_str::<SessionRecord>(unknown_key).is_err());
}
