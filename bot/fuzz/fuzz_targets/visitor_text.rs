//! Visitor text against the sample rule set: classification and a session fed the
//! input cut into lines never panic; confidences stay in 0..=1; a finished session
//! stays silent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use switchboard_bot::{Action, BotSession, Claims, Context, RuleSet};

const SAMPLE: &str = include_str!("../../../deploy/bot/ecommerce.yaml");
/// 2026-12-03 10:00 at +08:00, inside the sample's business hours.
const OPEN_MS: u64 = 1_796_263_200_000;

fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| Arc::new(RuleSet::from_yaml(SAMPLE).expect("the sample rules load")))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let c = rules().classify(&text);
    assert!((0.0..=1.0).contains(&c.confidence));
    let claims = Claims::default();
    let ctx = Context {
        now_ms: OPEN_MS,
        visitor_id: "fuzz",
        language: None,
        claims: &claims,
    };
    let (mut session, _) = BotSession::start(rules(), &ctx);
    for line in text.split('\n') {
        let finished = session.is_finished();
        let actions = session.on_visitor_line(line, &ctx);
        assert!(!finished || actions.is_empty());
        for a in &actions {
            if let Action::Reply { confidence, .. } = a {
                assert!((0.0..=1.0).contains(confidence));
            }
        }
    }
});
