//! Routing rules: which skill group and priority a conversation queues with, from the
//! visitor's attributes (claims, the language spoken, intents matched, fields the bot
//! collected). Rules are tried in order and the first whose conditions all hold wins;
//! otherwise the default applies. Evaluation is pure and allocation-free apart from
//! the decision's strings; the engine's router uses the decision to queue.
//!
//! A condition on an attribute the visitor does not have is false, except `!=` and
//! `not in`, which are true (a visitor with no tier is "not vip").

mod condition;

pub use condition::{parse_condition, Condition, ConditionError, Op, Operand};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::session::Claims;

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A number (`ltv`).
    Num(f64),
    /// A text (`tier`, `language`, a field).
    Text(String),
    /// A list (`groups`, `intents`).
    List(Vec<String>),
}

/// The visitor's attributes by name (`tier`, `ltv`, `language`, `groups`, `name`,
/// `channel`, `intents`, `fields.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteAttributes {
    /// Attribute name → value.
    pub values: BTreeMap<String, AttrValue>,
}

impl RouteAttributes {
    /// The attributes a visitor's claims give.
    pub fn from_claims(claims: &Claims) -> Self {
        let mut attrs = Self::default();
        let text = |v: &Option<String>| v.clone().map(AttrValue::Text);
        for (name, value) in [
            ("tier", text(&claims.tier)),
            ("ltv", claims.ltv.map(AttrValue::Num)),
            ("language", text(&claims.language)),
            ("name", text(&claims.name)),
            ("channel", text(&claims.channel)),
            ("groups", Some(AttrValue::List(claims.groups.clone()))),
        ] {
            if let Some(v) = value {
                attrs.values.insert(name.to_owned(), v);
            }
        }
        attrs
    }

    /// Sets one attribute.
    pub fn set(&mut self, name: &str, value: AttrValue) {
        self.values.insert(name.to_owned(), value);
    }
}

/// Attribute names a condition may use (besides `fields.<name>`).
pub const KNOWN_ATTRIBUTES: [&str; 7] = [
    "tier", "ltv", "language", "groups", "name", "channel", "intents",
];

/// Where to queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The skill group.
    pub group: String,
    /// The queue priority (higher first).
    pub priority: i32,
    /// The name of the rule that matched; `None` for the default.
    pub rule: Option<String>,
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    /// Its name (reported in the decision).
    pub name: String,
    /// Conditions that must all hold.
    pub conditions: Vec<Condition>,
    /// The group it routes to.
    pub group: String,
    /// The priority it gives.
    pub priority: i32,
}

/// The routing section of a rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingTable {
    /// Rules in order.
    pub rules: Vec<RouteRule>,
    /// Group used when no rule matches.
    pub default_group: String,
    /// Priority used when no rule matches.
    pub default_priority: i32,
}

impl Default for RoutingTable {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default_group: "default".to_owned(),
            default_priority: 0,
        }
    }
}

impl RoutingTable {
    /// The first rule whose conditions all hold, or the default.
    pub fn route(&self, attrs: &RouteAttributes) -> RouteDecision {
        self.rules
            .iter()
            .find(|rule| rule.conditions.iter().all(|c| holds(c, attrs)))
            .map_or_else(
                || RouteDecision {
                    group: self.default_group.clone(),
                    priority: self.default_priority,
                    rule: None,
                },
                |rule| RouteDecision {
                    group: rule.group.clone(),
                    priority: rule.priority,
                    rule: Some(rule.name.clone()),
                },
            )
    }
}

/// Whether one condition holds for these attributes.
pub fn holds(condition: &Condition, attrs: &RouteAttributes) -> bool {
    let Some(value) = attrs.values.get(&condition.attribute) else {
        return matches!(condition.op, Op::Ne | Op::NotIn);
    };
    match (&condition.operand, condition.op) {
        (Operand::List(list), Op::In) => elements(value).iter().any(|e| list_has(list, e)),
        (Operand::List(list), Op::NotIn) => !elements(value).iter().any(|e| list_has(list, e)),
        (operand, Op::Eq) => equals(value, operand),
        (operand, Op::Ne) => !equals(value, operand),
        (operand, Op::Contains) => contains(value, operand),
        (Operand::Num(n), op) => number(value).is_some_and(|v| compare(v, op, *n)),
        _ => false,
    }
}

fn elements(value: &AttrValue) -> Vec<String> {
    match value {
        AttrValue::List(items) => items.clone(),
        AttrValue::Text(s) => vec![s.clone()],
        AttrValue::Num(n) => vec![n.to_string()],
    }
}

fn list_has(list: &[String], item: &str) -> bool {
    list.iter().any(|l| l.eq_ignore_ascii_case(item))
}

fn number(value: &AttrValue) -> Option<f64> {
    match value {
        AttrValue::Num(n) => Some(*n),
        AttrValue::Text(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
        AttrValue::List(_) => None,
    }
}

fn equals(value: &AttrValue, operand: &Operand) -> bool {
    match operand {
        Operand::Num(n) => number(value) == Some(*n),
        Operand::Text(t) => match value {
            AttrValue::Text(s) => s.eq_ignore_ascii_case(t),
            AttrValue::Num(_) | AttrValue::List(_) => false,
        },
        Operand::List(_) => false,
    }
}

fn contains(value: &AttrValue, operand: &Operand) -> bool {
    let needle = match operand {
        Operand::Text(t) => t.clone(),
        Operand::Num(n) => n.to_string(),
        Operand::List(_) => return false,
    };
    match value {
        AttrValue::List(items) => list_has(items, &needle),
        AttrValue::Text(s) => s.to_lowercase().contains(&needle.to_lowercase()),
        AttrValue::Num(_) => false,
    }
}

fn compare(value: f64, op: Op, bound: f64) -> bool {
    match op {
        Op::Ge => value >= bound,
        Op::Gt => value > bound,
        Op::Le => value <= bound,
        Op::Lt => value < bound,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoutingTable {
        let rule = |name: &str, conds: &[&str], group: &str, priority| RouteRule {
            name: name.into(),
            conditions: conds
                .iter()
                .map(|c| parse_condition(c).unwrap_or_else(|e| panic!("{e}")))
                .collect(),
            group: group.into(),
            priority,
        };
        RoutingTable {
            rules: vec![
                rule(
                    "vip_zh",
                    &["tier in [vip, gold]", "language == zh"],
                    "vip-zh",
                    20,
                ),
                rule("big_spender", &["ltv >= 5000"], "vip", 10),
                rule("refunds", &["intents contains refund_status"], "billing", 5),
                rule(
                    "no_tier",
                    &["tier not in [vip, gold]", "channel == app"],
                    "app",
                    1,
                ),
            ],
            default_group: "general".into(),
            default_priority: 0,
        }
    }

    fn attrs(claims: Claims, extra: &[(&str, AttrValue)]) -> RouteAttributes {
        let mut a = RouteAttributes::from_claims(&claims);
        for (k, v) in extra {
            a.set(k, v.clone());
        }
        a
    }

    #[test]
    fn first_matching_rule_wins() {
        let t = table();
        let gold_zh = attrs(
            Claims {
                tier: Some("GOLD".into()),
                ltv: Some(9000.0),
                ..Claims::default()
            },
            &[("language", AttrValue::Text("zh".into()))],
        );
        assert_eq!(t.route(&gold_zh).rule.as_deref(), Some("vip_zh"));
        let rich = attrs(
            Claims {
                ltv: Some(5000.0),
                ..Claims::default()
            },
            &[],
        );
        assert_eq!(
            t.route(&rich),
            RouteDecision {
                group: "vip".into(),
                priority: 10,
                rule: Some("big_spender".into())
            }
        );
        let refund = attrs(
            Claims::default(),
            &[(
                "intents",
                AttrValue::List(vec!["greeting".into(), "refund_status".into()]),
            )],
        );
        assert_eq!(t.route(&refund).group, "billing");
    }

    #[test]
    fn missing_attributes_satisfy_only_negations() {
        let t = table();
        let app = attrs(
            Claims {
                channel: Some("app".into()),
                ..Claims::default()
            },
            &[],
        );
        assert_eq!(t.route(&app).rule.as_deref(), Some("no_tier"));
        let nobody = RouteAttributes::default();
        assert_eq!(
            t.route(&nobody),
            RouteDecision {
                group: "general".into(),
                priority: 0,
                rule: None
            }
        );
    }

    #[test]
    fn numbers_in_text_fields_compare_as_numbers() {
        let c = parse_condition("fields.quantity > 3").unwrap_or_else(|e| panic!("{e}"));
        let mut a = RouteAttributes::default();
        a.set("fields.quantity", AttrValue::Text("12".into()));
        assert!(holds(&c, &a));
        a.set("fields.quantity", AttrValue::Text("a dozen".into()));
        assert!(!holds(&c, &a));
    }
}
