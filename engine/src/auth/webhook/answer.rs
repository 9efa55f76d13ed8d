//! The back end's answer to a connect webhook call, read as untrusted input: a 200
//! with an identity, a 401/403 refusal, or anything else — which is the back end's
//! fault and becomes `unavailable` (HTTP 503 to the client), never a refusal.

use serde::Deserialize;

use crate::auth::{user_id_problem, Identity, Role, MAX_GROUPS, MAX_LABEL_LEN};

/// Longest answer body read, in bytes.
pub const MAX_ANSWER_BYTES: u64 = 16 * 1024;
/// Longest refusal reason passed on to the client, in bytes.
pub const MAX_REASON_LEN: usize = 200;

/// What the back end said about a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Who the user is, and for how many seconds the back end allows caching it
    /// (`None`: the node's `--auth-webhook-cache-ms` alone decides).
    Known(Identity, Option<u64>),
    /// The back end refused the credential (HTTP 401 to the client).
    Refused(String),
    /// The back end could not be asked or answered nonsense (HTTP 503).
    Unavailable(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityAnswer {
    user: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    expires_in_s: Option<u64>,
}

#[derive(Deserialize)]
struct RefusalAnswer {
    #[serde(default)]
    reason: Option<String>,
}

/// Reads an answer: `status` and at most [`MAX_ANSWER_BYTES`] of body.
pub fn read_answer(status: u16, body: &[u8]) -> Verdict {
    match status {
        200 => match serde_json::from_slice::<IdentityAnswer>(body) {
            Ok(answer) => identity_of(answer),
            Err(err) => Verdict::Unavailable(format!("auth back end answered bad JSON: {err}")),
        },
        401 | 403 => {
            let reason = serde_json::from_slice::<RefusalAnswer>(body)
                .ok()
                .and_then(|r| r.reason)
                .map(|r| clip(&r))
                .unwrap_or_else(|| "refused by the auth back end".into());
            Verdict::Refused(reason)
        }
        other => Verdict::Unavailable(format!("auth back end answered HTTP {other}")),
    }
}

fn identity_of(answer: IdentityAnswer) -> Verdict {
    let bad = |why: &str| Verdict::Unavailable(format!("auth back end answered {why}"));
    if let Some(problem) = user_id_problem(&answer.user) {
        return bad(problem);
    }
    let role = match answer.role.as_deref() {
        None => Role::Visitor,
        Some(name) => match Role::from_name(name) {
            Some(role) => role,
            None => return bad("a role other than visitor or agent"),
        },
    };
    if answer.groups.len() > MAX_GROUPS {
        return bad("too many groups");
    }
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= MAX_LABEL_LEN && l.bytes().all(|b| b.is_ascii_graphic())
    };
    if !answer.groups.iter().all(|g| label_ok(g)) || !answer.tier.as_deref().is_none_or(label_ok) {
        return bad("a group or tier that is empty, too long or not visible ascii");
    }
    if role == Role::Visitor && !answer.groups.is_empty() {
        return bad("groups for a visitor");
    }
    let groups: Box<[Box<str>]> = answer
        .groups
        .into_iter()
        .map(String::into_boxed_str)
        .collect();
    let mut identity = match role {
        Role::Visitor => Identity::visitor(answer.user),
        Role::Agent => Identity::agent(answer.user, groups),
    };
    identity.tier = answer.tier.map(String::into_boxed_str);
    Verdict::Known(identity, answer.expires_in_s)
}

fn clip(reason: &str) -> String {
    let printable: String = reason.chars().filter(|c| !c.is_control()).collect();
    match printable.char_indices().nth(MAX_REASON_LEN) {
        Some((cut, _)) => printable[..cut].to_string(),
        None => printable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_agent_with_groups_and_a_tier() {
        let body = br#"{"user":"bob","role":"agent","groups":["sales","vip"],"tier":"gold","expires_in_s":60}"#;
        let Verdict::Known(identity, ttl) = read_answer(200, body) else {
            panic!("not known");
        };
        assert_eq!(&*identity.user, "bob");
        assert!(identity.is_agent());
        assert_eq!(identity.groups.len(), 2);
        assert_eq!(identity.tier.as_deref(), Some("gold"));
        assert_eq!(ttl, Some(60));
    }

    #[test]
    fn a_visitor_by_default() {
        let Verdict::Known(identity, None) = read_answer(200, br#"{"user":"alice"}"#) else {
            panic!("not known");
        };
        assert_eq!(identity, Identity::visitor("alice"));
    }

    #[test]
    fn refusals_and_faults_are_told_apart() {
        assert_eq!(
            read_answer(401, br#"{"reason":"session expired"}"#),
            Verdict::Refused("session expired".into())
        );
        assert!(matches!(read_answer(403, b"nope"), Verdict::Refused(_)));
        for (status, body) in [
            (500, &b"{}"[..]),
            (200, b"not json"),
            (200, br#"{"user":"system"}"#),
            (200, br#"{"user":"anon-7"}"#),
            (200, br#"{"user":"a","role":"admin"}"#),
            (200, br#"{"user":"a","groups":["sales"]}"#),
            (200, br#"{"user":"a","unknown":1}"#),
            (302, b""),
        ] {
            assert!(
                matches!(read_answer(status, body), Verdict::Unavailable(_)),
                "{status} {body:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_answer_is_read_without_panicking(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = read_answer(status, &body);
        }

        #[test]
        fn a_known_identity_always_passes_the_id_rules(
            user in "[ -~]{0,140}",
            role in proptest::option::of("(visitor|agent|other)"),
            groups in proptest::collection::vec("[ -~]{0,70}", 0..40),
        ) {
            let body = serde_json::json!({"user": user, "role": role, "groups": groups}).to_string();
            if let Verdict::Known(identity, _) = read_answer(200, body.as_bytes()) {
                prop_assert!(user_id_problem(&identity.user).is_none());
                prop_assert!(identity.groups.len() <= MAX_GROUPS);
                prop_assert!(identity.groups.iter().all(|g| g.len() <= MAX_LABEL_LEN));
            }
        }

        #[test]
        fn a_refusal_reason_is_short_and_printable(reason in "\\PC{0,400}") {
            let body = serde_json::json!({"reason": reason}).to_string();
            if let Verdict::Refused(r) = read_answer(401, body.as_bytes()) {
                prop_assert!(r.chars().count() <= MAX_REASON_LEN);
                prop_assert!(!r.chars().any(char::is_control));
            }
        }
    }
}
