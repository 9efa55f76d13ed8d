//! Who is connecting: the pluggable authenticator of `/v1/ws`.
//!
//! The shard asks an [`Authenticator`] once per upgrade, with the token from
//! `?token=` or `Authorization: Bearer`, and gets an [`Identity`] (user id, [`Role`],
//! optional tier, agent groups) or an [`AuthError`] that becomes HTTP 401.
//!
//! Two authenticators:
//! - [`JwtAuthenticator`] ([`jwt`]): tokens signed by the company's own back end,
//!   HS256 with a shared secret or EdDSA (Ed25519) / RS256 with a public key. Built from
//!   the command line by [`from_options`]; the claims it reads are described in
//!   [`jwt`].
//! - [`DevAuthenticator`]: no signature at all, for local development; the token names
//!   the user directly (`alice`, `agent:bob`, `agent:bob:sales,vip`).
//!
//! Authentication runs on the shard thread, so it never blocks: keys are read and
//! parsed once at start-up, and verifying a token is pure computation. The third way
//! in, the connect webhook ([`webhook`], `--auth-webhook`), asks the company's back end
//! from worker threads; the shard parks the connection until the answer comes.

mod claims;
mod dev;
pub mod jwt;
pub mod webhook;

pub use dev::DevAuthenticator;
pub use jwt::{
    from_options, AuthConfigError, JwtAuthenticator, JwtKey, JwtOptions, KeyError,
    DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS,
};

/// Longest user id accepted, in bytes (both authenticators).
pub const MAX_USER_LEN: usize = 128;
/// Most groups an agent may be in.
pub const MAX_GROUPS: usize = 32;
/// Longest group name or tier, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// What a connected user is to the customer-service core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A customer: sees only its own conversations.
    Visitor,
    /// A customer-service agent: sees only the conversations assigned to it.
    Agent,
}

impl Role {
    /// The name used in tokens and logs: `visitor` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Visitor => "visitor",
            Role::Agent => "agent",
        }
    }

    /// Parses the name used in tokens; `None` for anything else (case matters).
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "visitor" => Some(Role::Visitor),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated user of `/v1/ws`.
///
/// Boxed slices rather than `String`/`Vec`: an identity lives as long as its connection
/// and never grows, so it carries no spare capacity (56 bytes plus the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id: non-empty, at most [`MAX_USER_LEN`] bytes.
    pub user: Box<str>,
    /// Visitor or agent.
    pub role: Role,
    /// Customer tier for routing (e.g. `vip`); `None` for the default tier.
    pub tier: Option<Box<str>>,
    /// The agent groups this user belongs to (e.g. `sales`, `vip`); always empty for a
    /// visitor.
    pub groups: Box<[Box<str>]>,
}

impl Identity {
    /// A visitor with the default tier.
    pub fn visitor(user: impl Into<Box<str>>) -> Identity {
        Identity {
            user: user.into(),
            role: Role::Visitor,
            tier: None,
            groups: Box::default(),
        }
    }

    /// An agent in `groups`.
    pub fn agent(user: impl Into<Box<str>>, groups: Box<[Box<str>]>) -> Identity {
        Identity {
            user: user.into(),
            role: Role::Agent,
            tier: None,
            groups,
        }
    }

    /// The id given to a visitor let in without a token: `anon-<conn>`.
    pub fn anonymous(conn: u64) -> Identity {
        Identity::visitor(format!("{ANONYMOUS_PREFIX}{conn}"))
    }

    /// Whether this identity is an agent.
    pub fn is_agent(&self) -> bool {
        self.role == Role::Agent
    }
}

/// Prefix of the ids issued to anonymous visitors. Signed tokens may not use it, so a
/// real user can never be mistaken for an anonymous one.
pub const ANONYMOUS_PREFIX: &str = "anon-";

/// Why `user` may not be a user id, if it may not: ids are 1–128 visible ASCII
/// characters, and `system`, `bot:<name>` (the senders of lines the company's back end
/// posts) and `anon-<n>` (issued by the node) are reserved — a user holding one could
/// pass for them. The same rule in every authenticator, so an id the control API can
/// name (`/v1/users/{user}`) is an id a user can have, and the other way round.
pub fn user_id_problem(user: &str) -> Option<&'static str> {
    if user.is_empty() {
        Some("empty user id")
    } else if user.len() > MAX_USER_LEN {
        Some("user id longer than 128 bytes")
    } else if !user.bytes().all(|b| b.is_ascii_graphic()) {
        Some("user id must be visible ascii (0x21-0x7e)")
    } else if user.starts_with(ANONYMOUS_PREFIX) {
        Some("user id uses the prefix reserved for anonymous visitors")
    } else if user == "system" || user.starts_with("bot:") {
        Some("user id is reserved for lines the back end posts (system, bot:<name>)")
    } else {
        None
    }
}

/// Why a connection is refused at upgrade (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is missing and anonymous users are not allowed.
    #[error("missing token")]
    Missing,
    /// The token does not verify.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Checks the token of a `/v1/ws` upgrade. Called on the shard: must not block.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// `token` comes from `?token=` or `Authorization: Bearer`; `conn` names the
    /// connection, for issuing anonymous ids.
    fn authenticate(&self, token: Option<&str>, conn: u64) -> Result<Identity, AuthError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_stays_small() {
        assert!(std::mem::size_of::<Identity>() <= 56);
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Visitor, Role::Agent] {
            assert_eq!(Role::from_name(role.as_str()), Some(role));
        }
        assert_eq!(Role::from_name("Agent"), None);
        assert_eq!(Role::from_name(""), None);
    }

    #[test]
    fn anonymous_ids_use_the_reserved_prefix() {
        let identity = Identity::anonymous(42);
        assert_eq!(&*identity.user, "anon-42");
        assert_eq!(identity.role, Role::Visitor);
        assert!(identity.groups.is_empty());
    }
}
