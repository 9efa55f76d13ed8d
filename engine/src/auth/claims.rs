//! The claims of a Switchboard token and their checks, as a pure function of
//! (claims, now, leeway): no clock, no key, so every rule is tested directly.
//!
//! The signature is checked before any of this runs (see [`super::jwt`]).

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{AuthError, Identity, Role, MAX_GROUPS, MAX_LABEL_LEN};

/// The claims Switchboard reads; any other claim (`iat`, `iss`, `jti`, ...) is ignored.
///
/// Every field is optional at this level so that a missing claim gets its own message;
/// a claim of the wrong JSON type (e.g. `"exp": "never"`) fails deserialization and
/// the token is refused, never treated as absent. Duplicate claims are refused too.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub exp: Option<NumericDate>,
    #[serde(default)]
    pub nbf: Option<NumericDate>,
}

/// A JWT NumericDate (RFC 7519 section 2): seconds since the epoch, possibly
/// fractional, truncated here to whole seconds. Negative or non-finite numbers are
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumericDate(pub u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;
        impl Visitor<'_> for SecondsVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                u64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // Finite, non-negative and in range: the cast only drops the fraction.
                if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                    Ok(NumericDate(v as u64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(SecondsVisitor)
    }
}

impl Claims {
    /// Checks every rule and builds the identity. `now` is seconds since the epoch;
    /// `leeway` widens both `exp` and `nbf` to absorb clock skew between the back end
    /// and this node.
    pub fn into_identity(self, now: u64, leeway: u64) -> Result<Identity, AuthError> {
        let exp = self.exp.ok_or_else(|| invalid("missing exp claim"))?;
        if exp.0.saturating_add(leeway) <= now {
            return Err(invalid("token expired"));
        }
        if let Some(nbf) = self.nbf {
            if nbf.0 > now.saturating_add(leeway) {
                return Err(invalid("token not yet valid (nbf)"));
            }
        }
        let user = check_sub(self.sub)?;
        let role = match self.role.as_deref() {
            None => return Err(invalid("missing role claim")),
            Some(name) => {
                Role::from_name(name).ok_or_else(|| invalid("role must be visitor or agent"))?
            }
        };
        let tier = check_tier(self.tier)?;
        // Groups place agents; on a visitor they mean nothing and are dropped so that no
        // later code can mistake a visitor for a member of an agent group.
        let groups = match role {
            Role::Agent => check_groups(self.groups.unwrap_or_default())?,
            Role::Visitor => Box::default(),
        };
        Ok(Identity {
            user: user.into_boxed_str(),
            role,
            tier,
            groups,
        })
    }
}

fn check_sub(sub: Option<String>) -> Result<String, AuthError> {
    let sub = sub.ok_or_else(|| invalid("missing sub claim"))?;
    match super::user_id_problem(&sub) {
        Some(problem) => Err(invalid(&format!("sub claim: {problem}"))),
        None => Ok(sub),
    }
}

/// An empty tier is the default tier, as if absent.
fn check_tier(tier: Option<String>) -> Result<Option<Box<str>>, AuthError> {
    match tier {
        None => Ok(None),
        Some(tier) if tier.is_empty() => Ok(None),
        Some(tier) if !is_label(&tier) => Err(invalid(
            "tier claim must be 1 to 64 bytes without control characters",
        )),
        Some(tier) => Ok(Some(tier.into_boxed_str())),
    }
}

fn check_groups(groups: Vec<String>) -> Result<Box<[Box<str>]>, AuthError> {
    if groups.len() > MAX_GROUPS {
        return Err(invalid("more than 32 groups"));
    }
    groups
        .into_iter()
        .map(|group| {
            if is_label(&group) {
                Ok(group.into_boxed_str())
            } else {
                Err(invalid(
                    "group names must be 1 to 64 bytes without control characters",
                ))
            }
        })
        .collect()
}

fn is_label(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_LABEL_LEN && !text.chars().any(char::is_control)
}

fn invalid(reason: &str) -> AuthError {
    AuthError::Invalid(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::MAX_USER_LEN;

    const NOW: u64 = 1_800_000_000;
    const LEEWAY: u64 = 30;

    fn claims(json: &str) -> Claims {
        serde_json::from_str(json).expect("test claims parse")
    }

    fn check(json: &str) -> Result<Identity, AuthError> {
        claims(json).into_identity(NOW, LEEWAY)
    }

    fn refusal(json: &str) -> String {
        match check(json) {
            Err(AuthError::Invalid(reason)) => reason,
            other => panic!("{json} gave {other:?}"),
        }
    }

    #[test]
    fn a_full_agent() {
        let identity = check(
            r#"{"sub":"bob","role":"agent","tier":"vip","groups":["sales","vip"],"exp":1800000100,"iat":1,"iss":"x"}"#,
        )
        .unwrap();
        assert_eq!(&*identity.user, "bob");
        assert_eq!(identity.role, Role::Agent);
        assert_eq!(identity.tier.as_deref(), Some("vip"));
        assert_eq!(identity.groups.len(), 2);
    }

    #[test]
    fn a_minimal_visitor() {
        let identity = check(r#"{"sub":"alice","role":"visitor","exp":1800000100}"#).unwrap();
        assert_eq!(identity, Identity::visitor("alice"));
    }

    #[test]
    fn visitor_groups_are_dropped_and_empty_tier_is_default() {
        let identity =
            check(r#"{"sub":"a","role":"visitor","tier":"","groups":["x"],"exp":1800000100}"#)
                .unwrap();
        assert!(identity.groups.is_empty());
        assert_eq!(identity.tier, None);
    }

    #[test]
    fn expiry_has_a_leeway() {
        let at = |exp: u64| check(&format!(r#"{{"sub":"a","role":"visitor","exp":{exp}}}"#));
        assert!(at(NOW - LEEWAY + 1).is_ok());
        assert_eq!(
            at(NOW - LEEWAY),
            Err(AuthError::Invalid("token expired".into()))
        );
        assert!(at(0).is_err());
        assert_eq!(
            refusal(r#"{"sub":"a","role":"visitor"}"#),
            "missing exp claim"
        );
    }

    #[test]
    fn not_before_has_a_leeway() {
        let at = |nbf: u64| {
            check(&format!(
                r#"{{"sub":"a","role":"visitor","exp":1900000000,"nbf":{nbf}}}"#
            ))
        };
        assert!(at(NOW + LEEWAY).is_ok());
        assert!(at(NOW - 5).is_ok());
        assert_eq!(
            at(NOW + LEEWAY + 1),
            Err(AuthError::Invalid("token not yet valid (nbf)".into()))
        );
    }

    #[test]
    fn numeric_dates_accept_fractions_and_refuse_other_types() {
        let fractional = claims(r#"{"exp":1800000100.75}"#);
        assert_eq!(fractional.exp, Some(NumericDate(1_800_000_100)));
        for bad in [
            r#"{"exp":"1900000000"}"#,
            r#"{"exp":-1}"#,
            r#"{"exp":true}"#,
            r#"{"nbf":"99999999999"}"#,
            r#"{"exp":1,"exp":2}"#,
        ] {
            assert!(serde_json::from_str::<Claims>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sub_rules() {
        assert_eq!(
            refusal(r#"{"role":"visitor","exp":1900000000}"#),
            "missing sub claim"
        );
        assert_eq!(
            refusal(r#"{"sub":"","role":"visitor","exp":1900000000}"#),
            "sub claim: empty user id"
        );
        let longest = "u".repeat(MAX_USER_LEN);
        assert!(check(&format!(
            r#"{{"sub":"{longest}","role":"visitor","exp":1900000000}}"#
        ))
        .is_ok());
        assert_eq!(
            refusal(&format!(
                r#"{{"sub":"{longest}u","role":"visitor","exp":1900000000}}"#
            )),
            "sub claim: user id longer than 128 bytes"
        );
        for bad in [r"a\nb", "jane doe", "josé"] {
            let json = format!(r#"{{"sub":"{bad}","role":"visitor","exp":1900000000}}"#);
            assert!(refusal(&json).contains("visible ascii"), "{bad}");
        }
        for reserved in ["system", "bot:helper"] {
            let json = format!(r#"{{"sub":"{reserved}","role":"visitor","exp":1900000000}}"#);
            assert!(refusal(&json).contains("reserved"), "{reserved}");
        }
        assert!(
            refusal(r#"{"sub":"anon-3","role":"visitor","exp":1900000000}"#).contains("anonymous")
        );
        assert!(serde_json::from_str::<Claims>(r#"{"sub":42}"#).is_err());
    }

    #[test]
    fn role_rules() {
        assert_eq!(
            refusal(r#"{"sub":"a","exp":1900000000}"#),
            "missing role claim"
        );
        for role in ["\"admin\"", "\"Agent\"", "\"\""] {
            assert_eq!(
                refusal(&format!(r#"{{"sub":"a","role":{role},"exp":1900000000}}"#)),
                "role must be visitor or agent"
            );
        }
        assert!(serde_json::from_str::<Claims>(r#"{"role":1}"#).is_err());
    }

    #[test]
    fn group_and_tier_limits() {
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("\"g{i}\"")).collect();
        let json = format!(
            r#"{{"sub":"a","role":"agent","groups":[{}],"exp":1900000000}}"#,
            many.join(",")
        );
        assert_eq!(refusal(&json), "more than 32 groups");
        assert!(
            refusal(r#"{"sub":"a","role":"agent","groups":[""],"exp":1900000000}"#)
                .contains("group names")
        );
        let wide = "t".repeat(MAX_LABEL_LEN + 1);
        assert!(refusal(&format!(
            r#"{{"sub":"a","role":"visitor","tier":"{wide}","exp":1900000000}}"#
        ))
        .contains("tier"));
        assert!(serde_json::from_str::<Claims>(r#"{"groups":"sales"}"#).is_err());
    }
}
