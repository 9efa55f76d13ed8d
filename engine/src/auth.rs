//! Who is connecting: the pluggable authenticator of `/v1/ws`.

/// An authenticated user of `/v1/ws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub user: Box<str>,
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

/// Accepts every token as the user id, and no token as `anon-<conn>`: for development
/// until signed tokens are configured.
#[derive(Debug, Default)]
pub struct DevAuthenticator;

/// Longest user id the dev authenticator accepts.
const MAX_USER_LEN: usize = 128;

impl Authenticator for DevAuthenticator {
    fn authenticate(&self, token: Option<&str>, conn: u64) -> Result<Identity, AuthError> {
        match token {
            None | Some("") => Ok(Identity {
                user: format!("anon-{conn}").into(),
            }),
            Some(token) if token.len() > MAX_USER_LEN => {
                Err(AuthError::Invalid("token too long".into()))
            }
            Some(token) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
                Err(AuthError::Invalid("token must be printable ascii".into()))
            }
            Some(token) => Ok(Identity { user: token.into() }),
        }
    }
}
