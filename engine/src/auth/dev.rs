//! The development authenticator: the token names the user, nothing is signed.

use super::{AuthError, Authenticator, Identity, MAX_GROUPS, MAX_LABEL_LEN};

/// Accepts unsigned tokens that name the user, for local development until signed
/// tokens are configured (`--jwt-secret`, `--jwt-secret-file` or `--jwt-public-key`).
/// Anyone can claim to be anyone: never expose a node running it.
///
/// Token forms (printable ASCII, at most [`MAX_USER_LEN`] bytes of user id):
/// - no token (or an empty one): a visitor `anon-<conn>`;
/// - `<user>`: a visitor `<user>` (a colon in it is just part of the id);
/// - `agent:<user>`: an agent `<user>` in no group;
/// - `agent:<user>:<group1>,<group2>`: an agent in those groups (at most
///   [`MAX_GROUPS`], each at most [`MAX_LABEL_LEN`] bytes).
///
/// ```
/// use switchboard_engine::auth::{Authenticator, DevAuthenticator, Role};
///
/// let agent = DevAuthenticator.authenticate(Some("agent:bob:sales,vip"), 7).unwrap();
/// assert_eq!((&*agent.user, agent.role), ("bob", Role::Agent));
/// assert_eq!(agent.groups.len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct DevAuthenticator;

/// The prefix that makes a dev token an agent's.
const AGENT_PREFIX: &str = "agent:";

impl Authenticator for DevAuthenticator {
    fn authenticate(&self, token: Option<&str>, conn: u64) -> Result<Identity, AuthError> {
        let token = match token {
            None | Some("") => return Ok(Identity::anonymous(conn)),
            Some(token) => token,
        };
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("token must be printable ascii"));
        }
        match token.strip_prefix(AGENT_PREFIX) {
            None => Ok(Identity::visitor(checked_user(token)?)),
            Some(rest) => {
                let (user, groups) = match rest.split_once(':') {
                    None => (rest, Box::default()),
                    Some((user, groups)) => (user, parse_groups(groups)?),
                };
                Ok(Identity::agent(checked_user(user)?, groups))
            }
        }
    }
}

fn checked_user(user: &str) -> Result<&str, AuthError> {
    match super::user_id_problem(user) {
        Some(problem) => Err(invalid(problem)),
        None => Ok(user),
    }
}

fn parse_groups(list: &str) -> Result<Box<[Box<str>]>, AuthError> {
    if list.split(',').count() > MAX_GROUPS {
        return Err(invalid("too many groups"));
    }
    list.split(',')
        .map(|group| match group {
            "" => Err(invalid("empty group name")),
            group if group.len() > MAX_LABEL_LEN => Err(invalid("group name too long")),
            group => Ok(Box::from(group)),
        })
        .collect()
}

fn invalid(reason: &str) -> AuthError {
    AuthError::Invalid(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, MAX_USER_LEN};

    fn auth(token: Option<&str>) -> Result<Identity, AuthError> {
        DevAuthenticator.authenticate(token, 9)
    }

    #[test]
    fn no_token_is_an_anonymous_visitor() {
        assert_eq!(auth(None).unwrap(), Identity::visitor("anon-9"));
        assert_eq!(auth(Some("")).unwrap(), Identity::visitor("anon-9"));
    }

    #[test]
    fn a_bare_user_is_a_visitor() {
        assert_eq!(auth(Some("alice")).unwrap(), Identity::visitor("alice"));
        assert_eq!(auth(Some("a:b")).unwrap(), Identity::visitor("a:b"));
        assert_eq!(auth(Some("agent")).unwrap(), Identity::visitor("agent"));
    }

    #[test]
    fn agent_forms() {
        let bob = auth(Some("agent:bob")).unwrap();
        assert_eq!(bob, Identity::agent("bob", Box::default()));
        let grouped = auth(Some("agent:bob:sales,vip")).unwrap();
        assert_eq!(grouped.role, Role::Agent);
        assert_eq!(&*grouped.user, "bob");
        let groups: Vec<&str> = grouped.groups.iter().map(|g| &**g).collect();
        assert_eq!(groups, ["sales", "vip"]);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "agent:",
            "agent::sales",
            "agent:bob:",
            "agent:bob:sales,,vip",
            "with space",
            "caf\u{e9}",
            "system",
            "bot:helper",
            "anon-5",
        ] {
            assert!(
                matches!(auth(Some(token)), Err(AuthError::Invalid(_))),
                "{token:?}"
            );
        }
        let many = vec!["g"; MAX_GROUPS + 1].join(",");
        assert!(auth(Some(&format!("agent:bob:{many}"))).is_err());
        let wide = "g".repeat(MAX_LABEL_LEN + 1);
        assert!(auth(Some(&format!("agent:bob:{wide}"))).is_err());
        let long = "x".repeat(MAX_USER_LEN + 1);
        assert!(auth(Some(&long)).is_err());
        assert!(auth(Some(&format!("agent:{long}"))).is_err());
        assert!(auth(Some(&"x".repeat(MAX_USER_LEN))).is_ok());
    }
}
