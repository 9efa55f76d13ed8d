//! The outbound HTTP client: ureq (blocking, rustls) on the hub's worker threads,
//! configured from an account's timeouts, with bounded response bodies.

use std::time::Duration;

use crate::adapter::DeliveryError;
use crate::config::AccountLimits;

/// The client type adapters are given (re-exported so code outside can build one).
pub use ureq::Agent;

/// The largest response body read from a platform or webhook receiver.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// An agent with the account's timeouts.
pub fn agent_for(limits: &AccountLimits) -> ureq::Agent {
    agent(
        Duration::from_millis(limits.request_timeout_ms),
        Duration::from_millis(limits.connect_timeout_ms),
    )
}

/// An agent with these timeouts that returns 4xx/5xx as responses, not errors, so
/// callers can read the platform's error body.
pub fn agent(request_timeout: Duration, connect_timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(request_timeout))
        .timeout_connect(Some(connect_timeout))
        .http_status_as_error(false)
        .build();
    ureq::Agent::new_with_config(config)
}

/// A status and a body, read within [`MAX_RESPONSE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

/// POSTs `body` as JSON with extra `headers`; transport errors are transient.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, DeliveryError> {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.send(body))
}

/// GETs `url`; transport errors are transient.
pub fn get(agent: &ureq::Agent, url: &str) -> Result<Answer, DeliveryError> {
    read(agent.get(url).call())
}

fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, DeliveryError> {
    let mut response = result.map_err(|e| DeliveryError::Transient(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| DeliveryError::Transient(format!("reading the answer: {e}")))?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
