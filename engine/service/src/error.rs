//! The service's own refusals, for the control plane: the engine's control adapter
//! maps them to HTTP answers (404, 409) of the control API.

/// Why an administrative request about a conversation or an agent was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The conversation or agent is not known here.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists but its state does not allow the request.
    #[error("{0}")]
    Conflict(String),
}

impl ServiceError {
    /// A `what` not found (e.g. `conversation 7`).
    pub fn not_found(what: impl Into<String>) -> Self {
        ServiceError::NotFound(what.into())
    }

    /// A request its state does not allow.
    pub fn conflict(why: impl Into<String>) -> Self {
        ServiceError::Conflict(why.into())
    }
}
