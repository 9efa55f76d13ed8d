//! Loading: the sample file is valid, and every kind of mistake is refused with the
//! line and column it is at.

mod common;

use switchboard_bot::{LoadOptions, Location, RuleSet, RulesError};

const BASE: &str = "version: 1
languages: [en, zh]
fallback: { en: sorry, zh: 抱歉 }
intents:
  - name: greeting
    keywords: [hello]
    reply: { text: { en: hi } }
";

fn problems(yaml: &str) -> Vec<(String, Option<Location>, String)> {
    match RuleSet::from_yaml(yaml) {
        Err(RulesError::Invalid { problems }) => problems
            .into_iter()
            .map(|p| (p.path, p.location, p.message))
            .collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn at(line: usize, column: usize) -> Option<Location> {
    Some(Location { line, column })
}

#[test]
fn the_sample_rules_load() {
    let rules = common::sample_rules();
    let names: Vec<&str> = rules.intent_names().collect();
    for wanted in [
        "order_status",
        "shipping_time",
        "return_policy",
        "refund_status",
        "coupon_problem",
        "change_address",
        "invoice",
        "product_stock",
        "human",
        "greeting",
        "thanks",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing");
    }
    assert_eq!(rules.languages(), ["en", "zh"]);
}

#[test]
fn syntax_errors_carry_the_parser_position() {
    let err = RuleSet::from_yaml("version: 1\nlanguages: [en\n").map(|_| ());
    let Err(RulesError::Syntax { location, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(location.map(|l| l.line), Some(3));
    let unknown_key = BASE.replace("    keywords: [hello]", "    keywrods: [hello]");
    let err = RuleSet::from_yaml(&unknown_key).map(|_| ());
    let Err(e @ RulesError::Syntax { .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.locations(), vec![Location { line: 6, column: 5 }]);
    assert!(e.to_string().contains("keywrods"));
}

#[test]
fn a_bad_regex_is_reported_at_its_line() {
    let yaml = BASE.replace(
        "    keywords: [hello]",
        "    keywords: [hello]\n    patterns:\n      - 'ok'\n      - '(unclosed'",
    );
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "intents[0].patterns[1]");
    assert_eq!(p[0].1, at(9, 9));
    assert!(p[0].2.contains("does not compile"));
}

#[test]
fn unknown_variables_languages_and_weights_are_each_reported() {
    let yaml = "version: 1
languages: [en]
fallback: { en: 'sorry {fields.order_no}' }
intents:
  - name: stock
    keywords: [{ text: stock, weight: -1 }]
    reply: { text: { en: 'hi {claims.salary}', fr: salut } }
";
    let p = problems(yaml);
    let summary: Vec<(&str, Option<Location>)> = p
        .iter()
        .map(|(path, loc, _)| (path.as_str(), *loc))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("fallback.en", at(3, 17)),
            ("intents[0].keywords[0]", at(6, 16)),
            ("intents[0].reply.text.en", at(7, 26)),
            ("intents[0].reply.text.fr", at(7, 52)),
        ],
        "{p:?}"
    );
    assert!(p[0].2.contains("no form collects"));
    assert!(p[1].2.contains("weight -1"));
    assert!(p[2].2.contains("unknown claim `salary`"));
    assert!(p[3].2.contains("not in `languages`"));
}

#[test]
fn structural_rules_are_checked() {
    let yaml = "version: 2
languages: [en]
fallback: { zh: 抱歉 }
business_hours:
  utc_offset: '8'
  days: [mon, mon]
  open: '09:00'
  close: '25:00'
  closed_reply: { en: closed }
intents:
  - name: none
    reply: { text: { en: x }, variants: [{ name: a, text: { en: y } }] }
  - name: Bad Name
    keywords: [x]
    then: resolve
    handoff_reason: rule
  - name: dup
    keywords: [a]
    reply: { text: { en: a } }
  - name: dup
    keywords: [b]
    reply:
      variants:
        - { name: promo, text: { en: p }, active: { from: '2026-11-12T00:00:00Z', until: '2026-11-11T00:00:00Z' } }
routing:
  default: { group: general }
  rules:
    - { name: r, when: ['salary > 3', 'fields.city == x', 'tier in vip'], group: g }
";
    let paths: Vec<String> = problems(yaml)
        .into_iter()
        .map(|(p, loc, _)| {
            assert!(loc.is_some(), "{p} has no location");
            p
        })
        .collect();
    for wanted in [
        "version",
        "fallback",
        "business_hours.utc_offset",
        "business_hours.days[1]",
        "business_hours.close",
        "business_hours.when_closed",
        "intents[0].name",
        "intents[0]",
        "intents[0].reply",
        "intents[1].name",
        "intents[1].handoff_reason",
        "intents[3].name",
        "intents[3].reply.variants",
        "intents[3].reply.variants[0].active.until",
        "routing.rules[0].when[0]",
        "routing.rules[0].when[1]",
        "routing.rules[0].when[2]",
    ] {
        assert!(
            paths.iter().any(|p| p == wanted),
            "no problem at {wanted}: {paths:?}"
        );
    }
}

#[test]
fn limits_refuse_oversized_files_and_lists() {
    let small = LoadOptions {
        max_file_bytes: 10,
        ..LoadOptions::default()
    };
    assert!(matches!(
        RuleSet::from_yaml_with(BASE, &small),
        Err(RulesError::TooLarge { .. })
    ));
    let few = LoadOptions {
        max_per_intent: 0,
        ..LoadOptions::default()
    };
    let err = RuleSet::from_yaml_with(BASE, &few).map(|_| ());
    assert!(matches!(err, Err(RulesError::Invalid { .. })), "{err:?}");
    let missing = RuleSet::load(
        std::path::Path::new("/nonexistent/rules.yaml"),
        &LoadOptions::default(),
    );
    assert!(matches!(missing, Err(RulesError::Read { .. })));
}
