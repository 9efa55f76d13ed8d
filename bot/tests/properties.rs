//! Property tests: the session machine never panics, its final states are final and
//! forms terminate; records round-trip; loading and matching survive any input;
//! routing conditions behave as documented.

mod common;

use proptest::prelude::*;
use std::sync::{Arc, OnceLock};
use switchboard_bot::routing::{
    holds, parse_condition, AttrValue, Condition, Op, Operand, RouteAttributes, RouteRule,
    RoutingTable,
};
use switchboard_bot::{Action, BotSession, Claims, RuleSet, StateRecord};

fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES.get_or_init(common::sample_rules).clone()
}

#[derive(Debug, Clone)]
enum Event {
    Line(String),
    Tick(u64),
    Feedback(bool),
}

fn phrase() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("where is my order".to_owned()),
        Just("查物流".to_owned()),
        Just("SO12345678".to_owned()),
        Just("算了".to_owned()),
        Just("转人工".to_owned()),
        Just("thanks".to_owned()),
        Just("+86 138 0013 8000".to_owned()),
        Just("my coupon is broken".to_owned()),
        "[a-z ]{0,20}",
        "\\PC{0,30}",
        any::<String>(),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => phrase().prop_map(Event::Line),
        1 => (0u64..400_000).prop_map(Event::Tick),
        1 => any::<bool>().prop_map(Event::Feedback),
    ]
}

fn is_final(a: &Action) -> bool {
    matches!(
        a,
        Action::Handoff { .. } | Action::Resolved | Action::MessageLeft { .. }
    )
}

fn apply(session: &mut BotSession, event: &Event, now: &mut u64, claims: &Claims) -> Vec<Action> {
    match event {
        Event::Line(text) => {
            *now += 1000;
            session.on_visitor_line(text, &common::ctx(*now, "visitor-p", claims))
        }
        Event::Tick(dt) => {
            *now += dt;
            session.on_tick(*now)
        }
        Event::Feedback(helpful) => session.on_feedback(*helpful),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sessions_never_panic_and_final_states_are_final(
        start in prop_oneof![Just(common::OPEN_MS), Just(common::CLOSED_MS)],
        events in prop::collection::vec(event(), 0..40),
    ) {
        let claims = Claims::default();
        let (mut session, _) = BotSession::start(rules(), &common::ctx(start, "visitor-p", &claims));
        let mut now = start;
        let mut finals = 0;
        for event in &events {
            let was_finished = session.is_finished();
            let actions = apply(&mut session, event, &mut now, &claims);
            if was_finished {
                prop_assert!(actions.is_empty(), "{:?} after the end gave {:?}", event, actions);
            }
            let here = actions.iter().filter(|a| is_final(a)).count();
            prop_assert!(here <= 1);
            if here == 1 {
                prop_assert!(actions.last().is_some_and(is_final), "the final action is last");
                prop_assert!(session.is_finished());
            }
            finals += here;
            for a in &actions {
                if let Action::Reply { confidence, .. } = a {
                    prop_assert!((0.0..=1.0).contains(confidence));
                }
            }
        }
        prop_assert!(finals <= 1);
    }

    #[test]
    fn forms_terminate_within_their_attempts(lines in prop::collection::vec("[a-z ]{1,12}", 1..12)) {
        let claims = Claims::default();
        let c = common::ctx(common::OPEN_MS, "visitor-f", &claims);
        let (mut session, _) = BotSession::start(rules(), &c);
        session.on_visitor_line("track my order", &c);
        let max = rules().settings().max_attempts as usize;
        // Blank lines are ignored, so they are no answer to refuse.
        let mut answers = 0;
        for line in &lines {
            session.on_visitor_line(line, &c);
            answers += usize::from(!line.trim().is_empty());
            let in_form = matches!(session.record().state, StateRecord::Form { .. });
            if answers >= max {
                prop_assert!(!in_form, "still in the form after {} refused answers", answers);
            }
            if let StateRecord::Form { attempts, .. } = session.record().state {
                prop_assert!((attempts as usize) < max);
            }
        }
    }

    #[test]
    fn records_round_trip_through_json(events in prop::collection::vec(event(), 0..25)) {
        let claims = Claims::default();
        let (mut session, _) = BotSession::start(rules(), &common::ctx(common::OPEN_MS, "visitor-r", &claims));
        let mut now = common::OPEN_MS;
        for event in &events {
            apply(&mut session, event, &mut now, &claims);
        }
        let record = session.record();
        let json = serde_json::to_string(&record).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&record, &back);
        let restored = BotSession::restore(rules(), &back, &common::ctx(now, "visitor-r", &claims))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(restored.record(), record);
    }

    #[test]
    fn classification_survives_any_text(text in any::<String>()) {
        let c = rules().classify(&text);
        prop_assert!((0.0..=1.0).contains(&c.confidence));
        prop_assert!(c.intent.is_none_or(|i| rules().intent_name(i).is_some()));
    }

    #[test]
    fn loading_survives_any_text_and_mutations_of_the_sample(
        text in any::<String>(),
        cut in any::<prop::sample::Index>(),
        insert in "\\PC{0,8}",
    ) {
        let _ = RuleSet::from_yaml(&text);
        let yaml = common::sample_yaml();
        let mut at = cut.index(yaml.len());
        while !yaml.is_char_boundary(at) {
            at -= 1;
        }
        let mutated = format!("{}{insert}{}", &yaml[..at], &yaml[at..]);
        if let Err(e) = RuleSet::from_yaml(&mutated) {
            let lines = mutated.matches(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']).count() + 2;
            for l in e.locations() {
                prop_assert!(l.line >= 1 && l.line <= lines, "{e}");
            }
        }
    }

    #[test]
    fn negations_are_complements_when_the_attribute_is_there(
        value in "[a-z]{1,5}",
        other in "[a-z]{1,5}",
        list in prop::collection::vec("[a-z]{1,5}", 0..4),
        n in -1e6f64..1e6,
        bound in -1e6f64..1e6,
    ) {
        let mut attrs = RouteAttributes::default();
        attrs.set("tier", AttrValue::Text(value));
        attrs.set("ltv", AttrValue::Num(n));
        let cond = |attribute: &str, op, operand| Condition { attribute: attribute.into(), op, operand };
        let text = Operand::Text(other);
        let listed = Operand::List(list);
        prop_assert_ne!(holds(&cond("tier", Op::Eq, text.clone()), &attrs), holds(&cond("tier", Op::Ne, text), &attrs));
        prop_assert_ne!(holds(&cond("tier", Op::In, listed.clone()), &attrs), holds(&cond("tier", Op::NotIn, listed), &attrs));
        let num = Operand::Num(bound);
        prop_assert_ne!(holds(&cond("ltv", Op::Ge, num.clone()), &attrs), holds(&cond("ltv", Op::Lt, num.clone()), &attrs));
        prop_assert_ne!(holds(&cond("ltv", Op::Le, num.clone()), &attrs), holds(&cond("ltv", Op::Gt, num), &attrs));
    }

    #[test]
    fn the_first_rule_whose_conditions_hold_wins(
        thresholds in prop::collection::vec(0u32..10_000, 0..6),
        ltv in 0u32..10_000,
    ) {
        let rules: Vec<RouteRule> = thresholds.iter().enumerate().map(|(i, t)| RouteRule {
            name: format!("r{i}"),
            conditions: vec![parse_condition(&format!("ltv >= {t}")).unwrap_or_else(|e| panic!("{e}"))],
            group: format!("g{i}"),
            priority: i as i32,
        }).collect();
        let table = RoutingTable { rules, default_group: "general".into(), default_priority: -1 };
        let mut attrs = RouteAttributes::default();
        attrs.set("ltv", AttrValue::Num(f64::from(ltv)));
        let decision = table.route(&attrs);
        match thresholds.iter().position(|&t| ltv >= t) {
            Some(i) => {
                prop_assert_eq!(decision.rule, Some(format!("r{i}")));
                prop_assert_eq!(decision.group, format!("g{i}"));
            }
            None => {
                prop_assert_eq!(decision.rule, None);
                prop_assert_eq!(decision.priority, -1);
            }
        }
    }

    #[test]
    fn written_conditions_parse_back(
        attribute in "[a-z_][a-z0-9_]{0,8}(\\.[a-z_][a-z0-9_]{0,8})?",
        op in prop::sample::select(vec!["==", "!=", "contains"]),
        word in "[a-z][a-z0-9_-]{0,8}",
        items in prop::collection::vec("[a-z][a-z0-9]{0,5}", 0..4),
        n in 0u32..100_000,
    ) {
        let c = parse_condition(&format!("{attribute} {op} {word}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&c.attribute, &attribute);
        prop_assert_eq!(c.operand, Operand::Text(word));
        let c = parse_condition(&format!("{attribute} not in [{}]", items.join(", "))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((c.op, c.operand), (Op::NotIn, Operand::List(items)));
        let c = parse_condition(&format!("{attribute}>={n}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(c.operand, Operand::Num(f64::from(n)));
    }

    #[test]
    fn any_condition_text_parses_or_errs(text in any::<String>()) {
        let _ = parse_condition(&text);
    }
}
