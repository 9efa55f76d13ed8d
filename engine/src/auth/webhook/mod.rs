//! The connect webhook (`--auth-webhook URL`): the engine asks the company's back end
//! who is connecting, for shops whose users hold session cookies or opaque tokens
//! rather than JWTs (Centrifugo calls this a connect proxy).
//!
//! The credential a client presents — its token (`?token=` / `Authorization: Bearer`)
//! and the cookies named by `--auth-webhook-cookie` — is POSTed as JSON
//! (`{"token": .., "cookies": {name: value}}`) by a small pool of worker threads, never
//! by a shard; the answer ([`answer`]) goes back to the asking shard over the mesh's
//! inbound queue. Each shard keeps its own bounded cache of answers ([`cache`]), so a
//! reconnecting or second tab's connection costs no call and no shard shares a lock.
//! The shard side (parking the connection until the answer comes) is in
//! `shard/auth_wait.rs`.

pub mod answer;
pub mod cache;
pub mod client;

pub use answer::Verdict;
pub use client::{WebhookClient, WebhookStats};

use std::time::Duration;

use switchboard_protocol::http::Request;

/// Longest credential (token plus named cookies) sent to the back end, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 8 * 1024;

/// How the webhook is called and its answers kept (from the `--auth-webhook*` flags).
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Where to POST the credential (`http://` or `https://`).
    pub url: String,
    /// Deadline of one call, connect included; past it the client gets 503.
    pub timeout: Duration,
    /// Longest time an identity is reused without asking again (the answer's
    /// `expires_in_s` may shorten it).
    pub cache_ttl: Duration,
    /// How long a refusal is remembered (a retry within it gets 401 without a call).
    pub refusal_ttl: Duration,
    /// Answers each shard keeps at most.
    pub cache_entries: usize,
    /// Calls in flight at once (worker threads).
    pub workers: usize,
    /// Calls waiting for a worker at most; past it the client gets 503 at once.
    pub queue: usize,
    /// Connections one shard may have waiting for answers; past it, 503.
    pub max_waiting: usize,
    /// Cookies forwarded to the back end, by name.
    pub cookies: Vec<String>,
}

/// What a client presented, as the cache's key and the call's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Token and cookies in a canonical form.
    pub key: Box<str>,
    /// The JSON body of the call.
    pub body: Vec<u8>,
}

/// Why no credential could be taken from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCredential {
    /// Neither a token nor one of the named cookies was sent.
    Missing,
    /// Longer than [`MAX_CREDENTIAL_BYTES`].
    TooLong,
}

/// The credential `request` presents: its token and the `cookies` named.
pub fn credential(request: &Request<'_>, cookies: &[String]) -> Result<Credential, NoCredential> {
    let token = request.token();
    let token = token.as_deref();
    let found: Vec<(&str, &str)> = cookies
        .iter()
        .filter_map(|name| request.cookie(name).map(|value| (name.as_str(), value)))
        .collect();
    if token.is_none() && found.is_empty() {
        return Err(NoCredential::Missing);
    }
    let size = token.map_or(0, str::len)
        + found
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>();
    if size > MAX_CREDENTIAL_BYTES {
        return Err(NoCredential::TooLong);
    }
    // `\n` cannot occur in a header value, so the key is unambiguous.
    let mut key = String::with_capacity(size + 8);
    key.push_str(token.unwrap_or(""));
    for (name, value) in &found {
        key.push('\n');
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    let cookie_map: serde_json::Map<String, serde_json::Value> = found
        .iter()
        .map(|(n, v)| ((*n).to_string(), serde_json::Value::from(*v)))
        .collect();
    let body = serde_json::json!({ "token": token, "cookies": cookie_map }).to_string();
    Ok(Credential {
        key: key.into_boxed_str(),
        body: body.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::http::parse_request;

    fn cred(head: &str, cookies: &[&str]) -> Result<Credential, NoCredential> {
        let request = parse_request(head.as_bytes()).unwrap().unwrap();
        let names: Vec<String> = cookies.iter().map(|c| c.to_string()).collect();
        credential(&request, &names)
    }

    #[test]
    fn token_and_named_cookies_only() {
        let c = cred(
            "GET /v1/ws?token=t1 HTTP/1.1\r\nCookie: a=1; sid=xyz; other=2\r\n\r\n",
            &["sid", "absent"],
        )
        .unwrap();
        assert_eq!(&*c.key, "t1\nsid=xyz");
        let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"token": "t1", "cookies": {"sid": "xyz"}})
        );
    }

    #[test]
    fn a_cookie_alone_is_a_credential_and_nothing_is_missing() {
        let c = cred("GET /v1/ws HTTP/1.1\r\nCookie: sid=abc\r\n\r\n", &["sid"]).unwrap();
        assert_eq!(&*c.key, "\nsid=abc");
        assert_eq!(
            cred("GET /v1/ws HTTP/1.1\r\nCookie: x=1\r\n\r\n", &["sid"]),
            Err(NoCredential::Missing)
        );
    }

    #[test]
    fn a_huge_credential_is_refused() {
        let head = format!(
            "GET /v1/ws?token={} HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_CREDENTIAL_BYTES + 1)
        );
        assert_eq!(cred(&head, &[]), Err(NoCredential::TooLong));
    }
}
