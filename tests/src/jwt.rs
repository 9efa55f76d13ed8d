//! Minting signed tokens for `/v1/ws`, as the company's back end would.
//!
//! The server verifies them with `--jwt-secret S` (engine/src/auth/jwt.rs has the
//! rules: `sub`, `role`, `exp` required; HS256 secrets of at least 32 bytes).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

/// An HS256 token for `sub` as `role` (`"visitor"` or `"agent"`; anything else makes a
/// token the server refuses), expiring `exp_in_secs` from now (negative: already
/// expired). `tier` and `groups` are left out of the claims when `None` / empty.
pub fn hs256(
    secret: &str,
    sub: &str,
    role: &str,
    tier: Option<&str>,
    groups: &[&str],
    exp_in_secs: i64,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let now = i64::try_from(now).expect("timestamp fits i64");
    let mut claims = json!({ "sub": sub, "role": role, "iat": now, "exp": now + exp_in_secs });
    if let Some(tier) = tier {
        claims["tier"] = json!(tier);
    }
    if !groups.is_empty() {
        claims["groups"] = json!(groups);
    }
    let key = EncodingKey::from_secret(secret.as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).expect("signing a test token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_three_parts_and_the_claims() {
        let token = hs256("s", "bob", "agent", Some("vip"), &["sales"], 60);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(&token)
            .expect("claims decode");
        assert_eq!(payload["sub"], "bob");
        assert_eq!(payload["groups"][0], "sales");
        assert_eq!(payload["tier"], "vip");
    }
}
