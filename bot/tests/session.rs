//! The session state machine on the sample rule set: every path a conversation can
//! take through the bot.

mod common;

use common::{ctx, replied_intent, sample_rules, texts, CLOSED_MS, DOUBLE_11_MS, OPEN_MS};
use switchboard_bot::{Action, BotSession, Claims, HandoffReason};

fn handoff_of(actions: &[Action]) -> Option<(HandoffReason, Vec<String>, String)> {
    actions.iter().find_map(|a| match a {
        Action::Handoff {
            reason,
            intents,
            route,
            ..
        } => Some((*reason, intents.clone(), route.group.clone())),
        _ => None,
    })
}

#[test]
fn welcome_uses_claims_and_the_preferred_language() {
    let claims = Claims {
        name: Some("Ada".into()),
        language: Some("en-GB".into()),
        ..Claims::default()
    };
    let (session, actions) = BotSession::start(sample_rules(), &ctx(OPEN_MS, "v1", &claims));
    assert!(texts(&actions)[0].starts_with("Hi Ada!"), "{actions:?}");
    assert_eq!(session.language(), "en");
    let zh = Claims {
        language: Some("zh-CN".into()),
        ..Claims::default()
    };
    let (session, actions) = BotSession::start(sample_rules(), &ctx(OPEN_MS, "v2", &zh));
    assert_eq!(session.language(), "zh");
    assert!(texts(&actions)[0].starts_with("您好"), "{actions:?}");
}

#[test]
fn the_reply_language_follows_the_visitor_script() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let zh = s.on_visitor_line("怎么开发票", &c);
    assert_eq!(replied_intent(&zh).as_deref(), Some("invoice"));
    assert!(texts(&zh)[0].contains("电子发票"));
    let en = s.on_visitor_line("how do I get an invoice", &c);
    assert!(texts(&en)[0].starts_with("Electronic invoices"));
}

#[test]
fn order_form_asks_retries_and_answers_with_the_field() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let ask = s.on_visitor_line("where is my order?", &c);
    assert!(
        matches!(&ask[..], [Action::Ask { field, .. }] if field == "order_no"),
        "{ask:?}"
    );
    let retry = s.on_visitor_line("I don't know, the blue one", &c);
    assert!(texts(&retry)[0].starts_with("I couldn't find"), "{retry:?}");
    let done = s.on_visitor_line("it's so12345678", &c);
    assert!(texts(&done)[0].contains("Order so12345678"), "{done:?}");
    assert_eq!(s.fields()["order_no"], "so12345678");
    assert!(!s.is_finished());
}

#[test]
fn an_order_number_in_the_first_line_fills_the_form() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let actions = s.on_visitor_line("订单号 SO20261111 到哪了", &c);
    assert!(texts(&actions)[0].contains("SO20261111"), "{actions:?}");
}

#[test]
fn a_form_ends_after_max_attempts_with_a_handoff() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    s.on_visitor_line("track my order", &c);
    s.on_visitor_line("no idea", &c);
    s.on_visitor_line("still no idea", &c);
    let last = s.on_visitor_line("nope", &c);
    let (reason, intents, _) = handoff_of(&last).unwrap_or_else(|| panic!("{last:?}"));
    assert_eq!(reason, HandoffReason::FormExhausted);
    assert_eq!(intents, vec!["order_status".to_owned()]);
    assert!(s.is_finished());
    assert!(
        s.on_visitor_line("hello?", &c).is_empty(),
        "a hand-off is final"
    );
}

#[test]
fn cancel_words_resume_and_a_human_request_escapes_the_form() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    s.on_visitor_line("查物流", &c);
    let cancelled = s.on_visitor_line("算了", &c);
    assert_eq!(
        texts(&cancelled),
        vec!["好的，已取消。还有别的问题吗？".to_owned()]
    );
    s.on_visitor_line("查物流", &c);
    let human = s.on_visitor_line("转人工", &c);
    let (reason, _, group) = handoff_of(&human).unwrap_or_else(|| panic!("{human:?}"));
    assert_eq!(
        (reason, group.as_str()),
        (HandoffReason::VisitorAsked, "general-zh")
    );
}

#[test]
fn asking_for_a_human_hands_off_with_intents_and_route() {
    let vip = Claims {
        tier: Some("gold".into()),
        ..Claims::default()
    };
    let c = ctx(OPEN_MS, "v1", &vip);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    s.on_visitor_line("退款什么时候到账", &c);
    let actions = s.on_visitor_line("我要人工客服", &c);
    assert!(
        texts(&actions)[0].starts_with("正在为您转接"),
        "{actions:?}"
    );
    let (reason, intents, group) = handoff_of(&actions).unwrap_or_else(|| panic!("{actions:?}"));
    assert_eq!(reason, HandoffReason::VisitorAsked);
    assert_eq!(
        intents,
        vec!["refund_status".to_owned(), "human".to_owned()]
    );
    assert_eq!(group, "vip-zh");
}

#[test]
fn misses_in_a_row_hand_off_but_an_answer_resets_them() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let first = s.on_visitor_line("tell me about quantum gravity", &c);
    assert!(texts(&first)[0].starts_with("Sorry"));
    s.on_visitor_line("hello", &c);
    s.on_visitor_line("what about black holes", &c);
    let second = s.on_visitor_line("and dark matter", &c);
    let (reason, _, group) = handoff_of(&second).unwrap_or_else(|| panic!("{second:?}"));
    assert_eq!(
        (reason, group.as_str()),
        (HandoffReason::LowConfidence, "general")
    );
}

#[test]
fn inactivity_and_time_in_bot_hand_off_on_tick() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let timeout = s.rules().settings().inactivity_timeout_ms;
    assert!(s.on_tick(OPEN_MS + timeout - 1).is_empty());
    let actions = s.on_tick(OPEN_MS + timeout);
    assert_eq!(
        handoff_of(&actions).map(|h| h.0),
        Some(HandoffReason::Timeout)
    );
    assert!(s.on_tick(OPEN_MS + 2 * timeout).is_empty());
}

#[test]
fn thanks_resolves_and_credits_the_variants_given() {
    let rules = sample_rules();
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(rules.clone(), &c);
    s.on_visitor_line("when will it ship?", &c);
    let actions = s.on_visitor_line("great, thanks!", &c);
    assert_eq!(actions.last(), Some(&Action::Resolved));
    assert!(s.is_finished());
    let m = rules.metrics();
    let shipping = m.variants.iter().find(|v| v.intent == "shipping_time");
    assert_eq!(shipping.map(|v| (v.matches, v.resolved)), Some((1, 1)));
    assert_eq!(m.sessions.resolved, 1);
}

#[test]
fn feedback_counts_once_per_reply_and_unhelpful_counts_as_a_miss() {
    let rules = sample_rules();
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(rules.clone(), &c);
    s.on_visitor_line("how do I return this", &c);
    assert!(s.on_feedback(true).is_empty());
    assert!(s.on_feedback(false).is_empty(), "already rated");
    s.on_visitor_line("is it in stock", &c);
    assert!(s.on_feedback(false).is_empty());
    s.on_visitor_line("do you have size M", &c);
    let actions = s.on_feedback(false);
    assert_eq!(
        handoff_of(&actions).map(|h| h.0),
        Some(HandoffReason::LowConfidence)
    );
    let m = rules.metrics();
    let helpful: u64 = m.variants.iter().map(|v| v.helpful).sum();
    let stock = m.variants.iter().find(|v| v.intent == "product_stock");
    assert_eq!(helpful, 1);
    assert_eq!(stock.map(|v| (v.unhelpful, v.handoffs)), Some((2, 1)));
}

#[test]
fn out_of_hours_a_handoff_becomes_a_left_message() {
    let claims = Claims::default();
    let c = ctx(CLOSED_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let actions = s.on_visitor_line("human please", &c);
    let t = texts(&actions);
    assert!(t[0].starts_with("Our agents are available"), "{actions:?}");
    assert!(matches!(actions.last(), Some(Action::Ask { field, .. }) if field == "contact_phone"));
    let retry = s.on_visitor_line("my number is 12", &c);
    assert!(texts(&retry)[0].starts_with("That doesn't look like"));
    s.on_visitor_line("+86 138 0013 8000", &c);
    let done = s.on_visitor_line("the zip on my jacket broke", &c);
    assert!(texts(&done)[0].contains("+8613800138000"), "{done:?}");
    let left = done.iter().find_map(|a| match a {
        Action::MessageLeft {
            fields, intents, ..
        } => Some((fields.clone(), intents.clone())),
        _ => None,
    });
    let (fields, intents) = left.unwrap_or_else(|| panic!("{done:?}"));
    assert_eq!(fields["message"], "the zip on my jacket broke");
    assert_eq!(intents, vec!["human".to_owned()]);
    assert!(s.is_finished());
}

#[test]
fn a_timeout_out_of_hours_hands_off_without_a_form() {
    let claims = Claims::default();
    let c = ctx(CLOSED_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    let actions = s.on_tick(CLOSED_MS + 3_600_000);
    assert_eq!(
        handoff_of(&actions).map(|h| h.0),
        Some(HandoffReason::Timeout)
    );
}

#[test]
fn the_promotion_variant_replaces_the_usual_one_during_its_window() {
    let claims = Claims::default();
    for (now, wanted) in [(DOUBLE_11_MS, "double11"), (OPEN_MS, "usual")] {
        let c = ctx(now, "v1", &claims);
        let (mut s, _) = BotSession::start(sample_rules(), &c);
        let actions = s.on_visitor_line("my coupon doesn't work", &c);
        let variant = actions.iter().find_map(|a| match a {
            Action::Reply { variant, .. } => variant.clone(),
            _ => None,
        });
        assert_eq!(variant.as_deref(), Some(wanted));
    }
}

#[test]
fn a_visitor_keeps_their_ab_variant_and_visitors_spread_over_both() {
    let claims = Claims::default();
    let variant_for = |visitor: &str| {
        let c = ctx(OPEN_MS, visitor, &claims);
        let (mut s, _) = BotSession::start(sample_rules(), &c);
        let first = s.on_visitor_line("what is your return policy", &c);
        let again = s.on_visitor_line("can I return shoes?", &c);
        let pick = |a: &[Action]| {
            a.iter().find_map(|a| match a {
                Action::Reply { variant, .. } => variant.clone(),
                _ => None,
            })
        };
        assert_eq!(pick(&first), pick(&again));
        pick(&first).unwrap_or_default()
    };
    assert_eq!(variant_for("visitor-42"), variant_for("visitor-42"));
    let picks: Vec<String> = (0..40).map(|i| variant_for(&format!("v{i}"))).collect();
    assert!(picks.iter().any(|p| p == "short") && picks.iter().any(|p| p == "steps"));
}

#[test]
fn empty_and_oversized_lines_are_safe() {
    let claims = Claims::default();
    let c = ctx(OPEN_MS, "v1", &claims);
    let (mut s, _) = BotSession::start(sample_rules(), &c);
    assert!(s.on_visitor_line("   ", &c).is_empty());
    let long = "退款".repeat(100_000);
    let actions = s.on_visitor_line(&long, &c);
    assert_eq!(replied_intent(&actions).as_deref(), Some("refund_status"));
}
