//! Session paths the sample rules do not take: rule hand-offs, cancelled forms that
//! hand off, the time limit, closed hours without a message form, overnight hours,
//! prefilled phone numbers, per-field attempt limits.

mod common;

use common::{ctx, texts};
use std::sync::Arc;
use switchboard_bot::{Action, BotSession, Claims, HandoffReason, RuleSet};

const RULES: &str = r#"
version: 1
languages: [en]
settings: { max_bot_ms: 60000, max_misses: 3 }
fallback: { en: "pardon?" }
business_hours:
  utc_offset: "Z"
  days: [thu]
  open: "22:00"
  close: "02:00"
  closed_reply: { en: "closed now" }
  when_closed: handoff
intents:
  - name: complaint
    keywords: [complaint, lawyer]
    then: handoff
    reply: { text: { en: "A supervisor will take this." } }
  - name: callback
    keywords: [call me]
    form:
      max_attempts: 1
      cancel_words: [stop]
      fields:
        - { name: phone, kind: phone, prompt: { en: "your number?" } }
        - { name: email, kind: email, prompt: { en: "your email?" } }
    reply: { text: { en: "We'll call {fields.phone} and write to {fields.email}." } }
"#;

/// 2026-12-03 (Thursday) 23:00 UTC: open (overnight hours opened at 22:00).
const THU_23: u64 = 1_796_338_800_000;
/// Friday 01:00 UTC: still Thursday's opening.
const FRI_01: u64 = THU_23 + 2 * 3_600_000;
/// Friday 03:00 UTC: closed.
const FRI_03: u64 = THU_23 + 4 * 3_600_000;

fn rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml(RULES).unwrap_or_else(|e| panic!("{e}")))
}

fn reason(actions: &[Action]) -> Option<HandoffReason> {
    actions.iter().find_map(|a| match a {
        Action::Handoff { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_rule_hands_off_after_its_reply() {
    let claims = Claims::default();
    let c = ctx(THU_23, "v", &claims);
    let (mut s, welcome) = BotSession::start(rules(), &c);
    assert!(welcome.is_empty(), "no welcome configured");
    let actions = s.on_visitor_line("I have a complaint", &c);
    assert_eq!(
        texts(&actions),
        vec!["A supervisor will take this.".to_owned()]
    );
    assert_eq!(reason(&actions), Some(HandoffReason::Rule));
}

#[test]
fn closed_hours_with_when_closed_handoff_say_so_and_hand_off() {
    let claims = Claims::default();
    let c = ctx(FRI_03, "v", &claims);
    let (mut s, _) = BotSession::start(rules(), &c);
    let actions = s.on_visitor_line("talk to a lawyer", &c);
    assert_eq!(texts(&actions)[1], "closed now");
    assert_eq!(reason(&actions), Some(HandoffReason::Rule));
    let open_late = ctx(FRI_01, "v", &claims);
    let (mut s, _) = BotSession::start(rules(), &open_late);
    let actions = s.on_visitor_line("complaint", &open_late);
    assert!(
        !texts(&actions).contains(&"closed now".to_owned()),
        "{actions:?}"
    );
}

#[test]
fn a_prefilled_phone_skips_its_question_and_one_attempt_is_the_limit() {
    let claims = Claims::default();
    let c = ctx(THU_23, "v", &claims);
    let (mut s, _) = BotSession::start(rules(), &c);
    let ask = s.on_visitor_line("please call me on 020 7946 0958", &c);
    assert!(
        matches!(&ask[..], [Action::Ask { field, .. }] if field == "email"),
        "{ask:?}"
    );
    let done = s.on_visitor_line("ada@example.org", &c);
    assert_eq!(
        texts(&done),
        vec!["We'll call 02079460958 and write to ada@example.org.".to_owned()]
    );

    let (mut s, _) = BotSession::start(rules(), &c);
    s.on_visitor_line("call me", &c);
    let failed = s.on_visitor_line("no", &c);
    assert_eq!(reason(&failed), Some(HandoffReason::FormExhausted));
}

#[test]
fn cancelling_a_form_without_resume_hands_off() {
    let claims = Claims::default();
    let c = ctx(THU_23, "v", &claims);
    let (mut s, _) = BotSession::start(rules(), &c);
    s.on_visitor_line("call me", &c);
    let actions = s.on_visitor_line("STOP", &c);
    assert_eq!(reason(&actions), Some(HandoffReason::FormCancel));
}

#[test]
fn the_time_limit_hands_off_even_while_the_visitor_talks() {
    let claims = Claims::default();
    let c = ctx(THU_23, "v", &claims);
    let (mut s, _) = BotSession::start(rules(), &c);
    for now in [THU_23 + 10_000, THU_23 + 50_000] {
        s.on_visitor_line("hmm", &ctx(now, "v", &claims));
        assert!(s.on_tick(now).is_empty(), "active and under the limit");
    }
    assert!(s.on_tick(THU_23 + 59_999).is_empty());
    assert_eq!(
        reason(&s.on_tick(THU_23 + 60_000)),
        Some(HandoffReason::TimeLimit)
    );
}
