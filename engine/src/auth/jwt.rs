//! Signed tokens: JWTs issued by the company's own back end.
//!
//! One key per node, and with it exactly one algorithm:
//! - `--jwt-secret S` or `--jwt-secret-file F`: HS256 with a shared secret of at least
//!   32 bytes (RFC 7518 section 3.2); a file's trailing newline is not part of it.
//! - `--jwt-public-key F`: a PEM public key, `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY`
//!   (PKCS#1). Ed25519 means EdDSA, RSA (2048 to 4096 bits) means RS256.
//!
//! A token whose header names any other algorithm, `none` included, is refused before
//! its signature is looked at, so an RSA public key can never be used as an HMAC
//! secret (algorithm confusion).
//!
//! Claims:
//!
//! | claim    | required | meaning |
//! |----------|----------|---------|
//! | `sub`    | yes      | user id, 1 to 128 bytes, no control characters, not starting with `anon-` |
//! | `role`   | yes      | `"visitor"` or `"agent"` |
//! | `exp`    | yes      | expiry, seconds since the epoch; refused once `now >= exp + leeway` |
//! | `nbf`    | no       | not before; refused while `now + leeway < nbf` |
//! | `tier`   | no       | routing tier such as `"vip"`, up to 64 bytes; `""` is the default tier |
//! | `groups` | no       | agent groups, up to 32 names of up to 64 bytes; ignored for visitors |
//!
//! Other claims (`iat`, `iss`, `aud`, `jti`, ...) are ignored. A claim of the wrong JSON
//! type is refused, never taken as absent.
//!
//! With `anonymous_visitors`, a connection without a token is a visitor `anon-<conn>`;
//! a connection with a bad token is still refused.
//!
//! Cost per token, verification and claims (release build, a shared 2-CPU AMD EPYC
//! at load average 4.8, so upper bounds): HS256 4 µs, EdDSA 80 µs, RS256-2048 500 µs.
//! RS256 is the pure-Rust `rsa` crate's modular exponentiation (490 µs of it): prefer
//! EdDSA or HS256 where reconnect storms matter. `verification_cost` in the tests
//! measures it again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;

use super::claims::Claims;
use super::{AuthError, Authenticator, Identity};

/// Leeway for `exp` and `nbf` when none is configured, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway accepted: more would keep expired tokens alive for too long.
pub const MAX_LEEWAY_SECS: u64 = 600;
/// Shortest HS256 secret, in bytes: the hash size (RFC 7518 section 3.2).
pub const MIN_SECRET_LEN: usize = 32;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Longest token looked at, in bytes; bounds the work a stranger can cause.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The command-line view of token verification, as the `serve` flags give it.
#[derive(Clone)]
pub struct JwtOptions {
    /// `--jwt-secret S`: the HS256 secret itself.
    pub secret: Option<String>,
    /// `--jwt-secret-file F`: a file holding the HS256 secret (one trailing newline,
    /// `\n` or `\r\n`, is stripped).
    pub secret_file: Option<PathBuf>,
    /// `--jwt-public-key F`: a PEM file with an Ed25519 or RSA public key.
    pub public_key_file: Option<PathBuf>,
    /// `--anonymous-visitors`: let a connection without a token in as a visitor.
    pub anonymous_visitors: bool,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for JwtOptions {
    fn default() -> Self {
        JwtOptions {
            secret: None,
            secret_file: None,
            public_key_file: None,
            anonymous_visitors: false,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for JwtOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtOptions")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("public_key_file", &self.public_key_file)
            .field("anonymous_visitors", &self.anonymous_visitors)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// Why token verification cannot be set up from the command line.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// More than one of `--jwt-secret`, `--jwt-secret-file` and `--jwt-public-key`.
    #[error("give only one of --jwt-secret, --jwt-secret-file and --jwt-public-key")]
    ConflictingKeys,
    /// A secret or key file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The secret or public key is unusable; `origin` names the flag (and file).
    #[error("invalid {origin}")]
    InvalidKey {
        /// Where the key came from, e.g. `--jwt-public-key /etc/sb/key.pem`.
        origin: String,
        /// What is wrong with it.
        #[source]
        source: KeyError,
    },
    /// The leeway is larger than [`MAX_LEEWAY_SECS`].
    #[error("jwt leeway of {0} s is more than the {MAX_LEEWAY_SECS} s allowed")]
    LeewayTooLarge(u64),
}

/// What is wrong with a secret or a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The HS256 secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("the secret is {0} bytes; hs256 needs at least {MIN_SECRET_LEN}")]
    SecretTooShort(usize),
    /// No `-----BEGIN ...-----` line.
    #[error("not a pem file")]
    NotPem,
    /// A private key where the public one belongs: it must not sit on this node.
    #[error("this is a private key; give the public key (openssl pkey -in KEY -pubout)")]
    PrivateKey,
    /// A certificate rather than a bare public key.
    #[error(
        "this is a certificate; extract its public key (openssl x509 -in CERT -pubkey -noout)"
    )]
    Certificate,
    /// A PEM block of a kind that holds no public key.
    #[error("unsupported pem block {0:?}; expected PUBLIC KEY or RSA PUBLIC KEY")]
    UnsupportedPem(String),
    /// A public key of another algorithm (e.g. ECDSA), or one that does not parse.
    #[error("not an ed25519 or rsa public key")]
    UnsupportedKeyType,
    /// The key parses as Ed25519 or RSA but is not a valid key.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    #[error("rsa key of {0} bits; at least {MIN_RSA_BITS} are needed")]
    RsaTooSmall(usize),
}

/// A verification key and the one algorithm it is used with.
#[derive(Clone)]
pub struct JwtKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl JwtKey {
    /// An HS256 shared secret (raw bytes, at least [`MIN_SECRET_LEN`]).
    pub fn hs256(secret: &[u8]) -> Result<JwtKey, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        Ok(JwtKey {
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        })
    }

    /// A PEM public key: Ed25519 gives EdDSA, RSA gives RS256.
    pub fn from_public_key_pem(pem: &[u8]) -> Result<JwtKey, KeyError> {
        let label = pem_label(pem).ok_or(KeyError::NotPem)?;
        match label {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
            label if label.contains("PRIVATE KEY") => return Err(KeyError::PrivateKey),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                return Err(KeyError::Certificate)
            }
            other => return Err(KeyError::UnsupportedPem(other.to_owned())),
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return ed25519(key);
        }
        match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => rs256(key),
            Err(_) => Err(KeyError::UnsupportedKeyType),
        }
    }

    /// The JWT name of the algorithm: `HS256`, `EdDSA` or `RS256`.
    pub fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            Algorithm::HS256 => "HS256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
            _ => "unexpected",
        }
    }
}

/// Never prints key material.
impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm_name())
            .finish_non_exhaustive()
    }
}

fn ed25519(key: DecodingKey) -> Result<JwtKey, KeyError> {
    // Building a verifier decodes the curve point: a bad point fails here, at start-up,
    // rather than on every token.
    jsonwebtoken::crypto::verify("", b"", &key, Algorithm::EdDSA)
        .map_err(|err| KeyError::Malformed(err.to_string()))?;
    Ok(JwtKey {
        algorithm: Algorithm::EdDSA,
        key,
    })
}

fn rs256(key: DecodingKey) -> Result<JwtKey, KeyError> {
    // jsonwebtoken parses RSA keys only when verifying, and turns a parse error into
    // "bad signature": parse once here to report a broken or short key at start-up.
    let der = key
        .try_get_as_bytes()
        .map_err(|err| KeyError::Malformed(err.to_string()))?;
    let public = rsa::RsaPublicKey::from_pkcs1_der(der)
        .map_err(|err| KeyError::Malformed(err.to_string()))?;
    let bits = public.size() * 8;
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooSmall(bits));
    }
    Ok(JwtKey {
        algorithm: Algorithm::RS256,
        key,
    })
}

/// The label of the first `-----BEGIN <label>-----` line.
fn pem_label(pem: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(pem).ok()?;
    text.lines()
        .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .and_then(|rest| rest.strip_suffix("-----"))
}

/// Verifies JWTs with one key and one algorithm; see the [module](self) for the rules.
#[derive(Clone)]
pub struct JwtAuthenticator {
    key: JwtKey,
    validation: Validation,
    anonymous_visitors: bool,
    leeway_secs: u64,
}

impl JwtAuthenticator {
    /// Verifies with `key`; `anonymous_visitors` lets a connection without a token in as
    /// a visitor `anon-<conn>`; `leeway_secs` is the clock skew tolerated on `exp` and
    /// `nbf`.
    pub fn new(key: JwtKey, anonymous_visitors: bool, leeway_secs: u64) -> JwtAuthenticator {
        let mut validation = Validation::new(key.algorithm);
        // The signature and the algorithm are jsonwebtoken's job; the claims are checked
        // in `claims`, strictly typed and against an explicit clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        JwtAuthenticator {
            key,
            validation,
            anonymous_visitors,
            leeway_secs,
        }
    }

    /// The JWT name of the one algorithm accepted.
    pub fn algorithm_name(&self) -> &'static str {
        self.key.algorithm_name()
    }

    /// [`Authenticator::authenticate`] at `now` (seconds since the epoch).
    pub fn authenticate_at(
        &self,
        token: Option<&str>,
        conn: u64,
        now: u64,
    ) -> Result<Identity, AuthError> {
        let token = match token {
            None | Some("") if self.anonymous_visitors => return Ok(Identity::anonymous(conn)),
            None | Some("") => return Err(AuthError::Missing),
            Some(token) => token,
        };
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Invalid("token too long".into()));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key.key, &self.validation)
            .map_err(|err| self.explain(token, err.kind()))?;
        data.claims.into_identity(now, self.leeway_secs)
    }

    /// A short reason for the 401 answer. Says what failed, never anything about the
    /// key.
    fn explain(&self, token: &str, kind: &ErrorKind) -> AuthError {
        let reason = match kind {
            ErrorKind::InvalidSignature => "bad signature".to_owned(),
            ErrorKind::InvalidAlgorithm => {
                format!("algorithm not allowed (expected {})", self.algorithm_name())
            }
            // The header is parsed first; if it parses, the claims were the problem.
            ErrorKind::Json(err) if jsonwebtoken::decode_header(token).is_ok() => {
                format!("malformed claims: {err}")
            }
            ErrorKind::Json(_) => format!(
                "malformed header or algorithm not allowed (expected {})",
                self.algorithm_name()
            ),
            _ => "malformed token".to_owned(),
        };
        AuthError::Invalid(reason)
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, token: Option<&str>, conn: u64) -> Result<Identity, AuthError> {
        self.authenticate_at(token, conn, unix_now())
    }
}

/// Never prints key material.
impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithm", &self.algorithm_name())
            .field("anonymous_visitors", &self.anonymous_visitors)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    // A clock before 1970 makes every token look unexpired-but-immature; 0 is as good
    // an answer as any and keeps this path free of panics.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Builds the authenticator the `serve` flags ask for: `Ok(None)` when no key is given
/// (the caller then falls back to [`super::DevAuthenticator`]), an error when more than
/// one key is given or a key is unreadable or unusable. Reads files: call it before the
/// shards start, never on a shard.
pub fn from_options(opts: &JwtOptions) -> Result<Option<Arc<dyn Authenticator>>, AuthConfigError> {
    Ok(JwtAuthenticator::from_options(opts)?.map(|auth| Arc::new(auth) as Arc<dyn Authenticator>))
}

impl JwtAuthenticator {
    /// [`from_options`] with the concrete type.
    pub fn from_options(opts: &JwtOptions) -> Result<Option<JwtAuthenticator>, AuthConfigError> {
        let given = usize::from(opts.secret.is_some())
            + usize::from(opts.secret_file.is_some())
            + usize::from(opts.public_key_file.is_some());
        if given > 1 {
            return Err(AuthConfigError::ConflictingKeys);
        }
        if opts.leeway_secs > MAX_LEEWAY_SECS {
            return Err(AuthConfigError::LeewayTooLarge(opts.leeway_secs));
        }
        let key = if let Some(secret) = &opts.secret {
            JwtKey::hs256(secret.as_bytes()).map_err(|source| AuthConfigError::InvalidKey {
                origin: "--jwt-secret".into(),
                source,
            })?
        } else if let Some(path) = &opts.secret_file {
            let contents = read(path)?;
            JwtKey::hs256(strip_line_end(&contents)).map_err(|source| {
                AuthConfigError::InvalidKey {
                    origin: format!("--jwt-secret-file {}", path.display()),
                    source,
                }
            })?
        } else if let Some(path) = &opts.public_key_file {
            JwtKey::from_public_key_pem(&read(path)?).map_err(|source| {
                AuthConfigError::InvalidKey {
                    origin: format!("--jwt-public-key {}", path.display()),
                    source,
                }
            })?
        } else {
            return Ok(None);
        };
        Ok(Some(JwtAuthenticator::new(
            key,
            opts.anonymous_visitors,
            opts.leeway_secs,
        )))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AuthConfigError> {
    std::fs::read(path).map_err(|source| AuthConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Drops one trailing `\n` or `\r\n`: what `echo` and editors add to a secret file.
fn strip_line_end(contents: &[u8]) -> &[u8] {
    match contents.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => contents,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};

    use super::*;
    use crate::auth::Role;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    const ED_PRIVATE: &[u8] = include_bytes!("../../tests/keys/ed25519.pem");
    const ED_PUBLIC: &[u8] = include_bytes!("../../tests/keys/ed25519.pub.pem");
    const ED_OTHER_PRIVATE: &[u8] = include_bytes!("../../tests/keys/ed25519-other.pem");
    const ED_CERT: &[u8] = include_bytes!("../../tests/keys/ed25519.cert.pem");
    const RSA_PRIVATE: &[u8] = include_bytes!("../../tests/keys/rsa.pem");
    const RSA_PUBLIC: &[u8] = include_bytes!("../../tests/keys/rsa.pub.pem");
    const RSA_PKCS1_PUBLIC: &[u8] = include_bytes!("../../tests/keys/rsa-pkcs1.pub.pem");
    const RSA_1024_PUBLIC: &[u8] = include_bytes!("../../tests/keys/rsa-1024.pub.pem");
    const EC_PUBLIC: &[u8] = include_bytes!("../../tests/keys/ec-p256.pub.pem");

    fn claims(sub: &str, role: &str) -> Value {
        json!({ "sub": sub, "role": role, "exp": NOW + 600, "iat": NOW })
    }

    fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, key).expect("signing a test token")
    }

    fn hs(claims: &Value) -> String {
        sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET.as_bytes()),
            claims,
        )
    }

    fn ed(claims: &Value) -> String {
        let key = EncodingKey::from_ed_pem(ED_PRIVATE).unwrap();
        sign(Algorithm::EdDSA, &key, claims)
    }

    fn rs(claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
        sign(Algorithm::RS256, &key, claims)
    }

    fn hs_node() -> JwtAuthenticator {
        JwtAuthenticator::new(JwtKey::hs256(SECRET.as_bytes()).unwrap(), false, 30)
    }

    fn ed_node() -> JwtAuthenticator {
        JwtAuthenticator::new(JwtKey::from_public_key_pem(ED_PUBLIC).unwrap(), false, 30)
    }

    fn rs_node() -> JwtAuthenticator {
        JwtAuthenticator::new(JwtKey::from_public_key_pem(RSA_PUBLIC).unwrap(), false, 30)
    }

    fn refusal(node: &JwtAuthenticator, token: &str) -> String {
        match node.authenticate_at(Some(token), 1, NOW) {
            Err(AuthError::Invalid(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A token with any header and claims and a signature of `signature` bytes.
    fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn hs256_agent_with_tier_and_groups() {
        let token = hs(&json!({
            "sub": "bob", "role": "agent", "tier": "vip", "groups": ["sales", "vip"],
            "exp": NOW + 60, "nbf": NOW - 60,
        }));
        let identity = hs_node().authenticate_at(Some(&token), 1, NOW).unwrap();
        assert_eq!(&*identity.user, "bob");
        assert_eq!(identity.role, Role::Agent);
        assert_eq!(identity.tier.as_deref(), Some("vip"));
        let groups: Vec<&str> = identity.groups.iter().map(|g| &**g).collect();
        assert_eq!(groups, ["sales", "vip"]);
    }

    #[test]
    fn eddsa_visitor() {
        let token = ed(&claims("alice", "visitor"));
        let identity = ed_node().authenticate_at(Some(&token), 1, NOW).unwrap();
        assert_eq!(identity, Identity::visitor("alice"));
        assert_eq!(ed_node().algorithm_name(), "EdDSA");
    }

    #[test]
    fn rs256_visitor_with_spki_and_pkcs1_keys() {
        let token = rs(&claims("alice", "visitor"));
        assert_eq!(rs_node().algorithm_name(), "RS256");
        assert_eq!(
            rs_node().authenticate_at(Some(&token), 1, NOW).unwrap(),
            Identity::visitor("alice")
        );
        let pkcs1 = JwtAuthenticator::new(
            JwtKey::from_public_key_pem(RSA_PKCS1_PUBLIC).unwrap(),
            false,
            30,
        );
        assert!(pkcs1.authenticate_at(Some(&token), 1, NOW).is_ok());
    }

    #[test]
    fn the_real_clock_is_used() {
        let now = unix_now();
        let token = hs(&json!({ "sub": "a", "role": "visitor", "exp": now + 60 }));
        assert!(hs_node().authenticate(Some(&token), 1).is_ok());
        let stale = hs(&json!({ "sub": "a", "role": "visitor", "exp": now - 3600 }));
        assert!(hs_node().authenticate(Some(&stale), 1).is_err());
    }

    #[test]
    fn expired_tokens_are_refused_after_the_leeway() {
        let at = |exp: u64| hs(&json!({ "sub": "a", "role": "visitor", "exp": exp }));
        assert_eq!(refusal(&hs_node(), &at(NOW - 31)), "token expired");
        assert_eq!(refusal(&hs_node(), &at(NOW - 30)), "token expired");
        assert!(hs_node()
            .authenticate_at(Some(&at(NOW - 29)), 1, NOW)
            .is_ok());
        let strict = JwtAuthenticator::new(JwtKey::hs256(SECRET.as_bytes()).unwrap(), false, 0);
        assert_eq!(refusal(&strict, &at(NOW)), "token expired");
        assert!(strict.authenticate_at(Some(&at(NOW + 1)), 1, NOW).is_ok());
    }

    #[test]
    fn wrong_signatures_are_refused() {
        let other_secret = EncodingKey::from_secret(b"another secret of 32 bytes or more");
        let token = sign(Algorithm::HS256, &other_secret, &claims("a", "visitor"));
        assert_eq!(refusal(&hs_node(), &token), "bad signature");

        let other_ed = EncodingKey::from_ed_pem(ED_OTHER_PRIVATE).unwrap();
        let token = sign(Algorithm::EdDSA, &other_ed, &claims("a", "visitor"));
        assert_eq!(refusal(&ed_node(), &token), "bad signature");

        // A valid signature over other claims: swap in a payload that names an agent.
        let token = rs(&claims("a", "visitor"));
        let forged_payload = URL_SAFE_NO_PAD.encode(claims("a", "agent").to_string());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(refusal(&rs_node(), &forged), "bad signature");
        let truncated = &token[..token.len() - 4];
        assert!(rs_node().authenticate_at(Some(truncated), 1, NOW).is_err());
    }

    #[test]
    fn other_algorithms_are_refused() {
        let hs384 = sign(
            Algorithm::HS384,
            &EncodingKey::from_secret(SECRET.as_bytes()),
            &claims("a", "visitor"),
        );
        assert_eq!(
            refusal(&hs_node(), &hs384),
            "algorithm not allowed (expected HS256)"
        );
        assert!(refusal(&ed_node(), &hs(&claims("a", "visitor"))).contains("not allowed"));
        assert!(refusal(&hs_node(), &ed(&claims("a", "visitor"))).contains("not allowed"));
        assert!(refusal(&ed_node(), &rs(&claims("a", "visitor"))).contains("not allowed"));
    }

    #[test]
    fn a_public_key_is_never_an_hmac_secret() {
        // The classic confusion: HS256 "signed" with the RS256 node's public key bytes.
        for public in [RSA_PUBLIC, ED_PUBLIC] {
            let token = sign(
                Algorithm::HS256,
                &EncodingKey::from_secret(public),
                &claims("mallory", "agent"),
            );
            assert!(refusal(&rs_node(), &token).contains("not allowed"));
            assert!(refusal(&ed_node(), &token).contains("not allowed"));
        }
    }

    #[test]
    fn alg_none_is_refused() {
        for alg in ["none", "None", "NONE", ""] {
            let header = json!({ "alg": alg, "typ": "JWT" });
            for signature in [&b""[..], b"x"] {
                let token = raw_token(&header, &claims("mallory", "agent"), signature);
                for node in [hs_node(), ed_node(), rs_node()] {
                    assert!(
                        refusal(&node, &token).contains("algorithm not allowed"),
                        "{alg:?} on {node:?}"
                    );
                }
            }
        }
        let no_alg = raw_token(&json!({ "typ": "JWT" }), &claims("m", "agent"), b"");
        assert!(hs_node().authenticate_at(Some(&no_alg), 1, NOW).is_err());
    }

    #[test]
    fn claims_are_checked_after_the_signature() {
        let node = hs_node();
        let exp = NOW + 60;
        let no_role = hs(&json!({ "sub": "a", "exp": exp }));
        assert_eq!(refusal(&node, &no_role), "missing role claim");
        let bad_role = hs(&json!({ "sub": "a", "role": "admin", "exp": exp }));
        assert_eq!(refusal(&node, &bad_role), "role must be visitor or agent");
        let no_sub = hs(&json!({ "role": "visitor", "exp": exp }));
        assert_eq!(refusal(&node, &no_sub), "missing sub claim");
        let long_sub = hs(&json!({ "sub": "u".repeat(129), "role": "visitor", "exp": exp }));
        assert_eq!(
            refusal(&node, &long_sub),
            "sub claim: user id longer than 128 bytes"
        );
        let no_exp = hs(&json!({ "sub": "a", "role": "visitor" }));
        assert_eq!(refusal(&node, &no_exp), "missing exp claim");
        let string_exp = hs(&json!({ "sub": "a", "role": "visitor", "exp": "never" }));
        assert!(refusal(&node, &string_exp).starts_with("malformed claims"));
        let future_nbf =
            hs(&json!({ "sub": "a", "role": "visitor", "exp": exp, "nbf": NOW + 600 }));
        assert_eq!(refusal(&node, &future_nbf), "token not yet valid (nbf)");
        let string_nbf = hs(&json!({ "sub": "a", "role": "visitor", "exp": exp, "nbf": "x" }));
        assert!(refusal(&node, &string_nbf).starts_with("malformed claims"));
        let array = hs(&json!(["sub", "a"]));
        assert!(refusal(&node, &array).starts_with("malformed claims"));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let node = hs_node();
        for token in ["x", "a.b", "a.b.c", "..", "a.b.c.d", "\u{e9}.\u{e9}.\u{e9}"] {
            assert!(
                matches!(
                    node.authenticate_at(Some(token), 1, NOW),
                    Err(AuthError::Invalid(_))
                ),
                "{token:?}"
            );
        }
        let huge = hs(
            &json!({ "sub": "a", "role": "visitor", "exp": NOW + 60, "pad": "p".repeat(MAX_TOKEN_LEN) }),
        );
        assert_eq!(refusal(&node, &huge), "token too long");
    }

    #[test]
    fn anonymous_visitors_only_when_enabled() {
        let closed = hs_node();
        assert_eq!(
            closed.authenticate_at(None, 7, NOW),
            Err(AuthError::Missing)
        );
        assert_eq!(
            closed.authenticate_at(Some(""), 7, NOW),
            Err(AuthError::Missing)
        );

        let open = JwtAuthenticator::new(JwtKey::hs256(SECRET.as_bytes()).unwrap(), true, 30);
        assert_eq!(
            open.authenticate_at(None, 7, NOW).unwrap(),
            Identity::visitor("anon-7")
        );
        assert_eq!(
            open.authenticate_at(Some(""), 8, NOW).unwrap(),
            Identity::visitor("anon-8")
        );
        // A bad token is refused, not downgraded to an anonymous visitor.
        assert!(open.authenticate_at(Some("garbage"), 7, NOW).is_err());
        // Signed tokens cannot take an anonymous id.
        let squatter = hs(&claims("anon-7", "visitor"));
        assert!(refusal(&open, &squatter).contains("anonymous"));
        let agent = hs(&claims("bob", "agent"));
        assert!(open
            .authenticate_at(Some(&agent), 7, NOW)
            .unwrap()
            .is_agent());
    }

    #[test]
    fn public_key_files_are_recognised() {
        let key = |pem: &[u8]| JwtKey::from_public_key_pem(pem).map(|k| k.algorithm_name());
        assert_eq!(key(ED_PUBLIC), Ok("EdDSA"));
        assert_eq!(key(RSA_PUBLIC), Ok("RS256"));
        assert_eq!(key(RSA_PKCS1_PUBLIC), Ok("RS256"));
        assert_eq!(key(ED_PRIVATE).unwrap_err(), KeyError::PrivateKey);
        assert_eq!(key(RSA_PRIVATE).unwrap_err(), KeyError::PrivateKey);
        assert_eq!(key(ED_CERT).unwrap_err(), KeyError::Certificate);
        assert_eq!(key(EC_PUBLIC).unwrap_err(), KeyError::UnsupportedKeyType);
        assert_eq!(
            key(RSA_1024_PUBLIC).unwrap_err(),
            KeyError::RsaTooSmall(1024)
        );
        assert_eq!(key(b"").unwrap_err(), KeyError::NotPem);
        assert_eq!(key(SECRET.as_bytes()).unwrap_err(), KeyError::NotPem);
        let garbled = b"-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n";
        assert_eq!(key(garbled).unwrap_err(), KeyError::UnsupportedKeyType);
        let params =
            b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
        assert!(matches!(key(params), Err(KeyError::UnsupportedPem(_))));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            JwtKey::hs256(&SECRET.as_bytes()[1..]).unwrap_err(),
            KeyError::SecretTooShort(31)
        );
        assert_eq!(JwtKey::hs256(b"").unwrap_err(), KeyError::SecretTooShort(0));
    }

    /// A file under the system temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(contents: &[u8]) -> TempFile {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "switchboard-jwt-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn options() -> JwtOptions {
        JwtOptions::default()
    }

    #[test]
    fn options_without_a_key_mean_no_jwt() {
        assert!(from_options(&options()).unwrap().is_none());
        let anonymous = JwtOptions {
            anonymous_visitors: true,
            ..options()
        };
        assert!(from_options(&anonymous).unwrap().is_none());
        assert_eq!(options().leeway_secs, DEFAULT_LEEWAY_SECS);
    }

    #[test]
    fn options_with_each_kind_of_key() {
        let token = hs(&claims("alice", "visitor"));
        let secret = JwtOptions {
            secret: Some(SECRET.into()),
            ..options()
        };
        let auth = JwtAuthenticator::from_options(&secret).unwrap().unwrap();
        assert!(auth.authenticate_at(Some(&token), 1, NOW).is_ok());

        for contents in [
            format!("{SECRET}\n"),
            format!("{SECRET}\r\n"),
            SECRET.into(),
        ] {
            let file = TempFile::with(contents.as_bytes());
            let from_file = JwtOptions {
                secret_file: Some(file.0.clone()),
                ..options()
            };
            let auth = JwtAuthenticator::from_options(&from_file).unwrap().unwrap();
            assert!(
                auth.authenticate_at(Some(&token), 1, NOW).is_ok(),
                "{contents:?}"
            );
        }

        let file = TempFile::with(ED_PUBLIC);
        let public = JwtOptions {
            public_key_file: Some(file.0.clone()),
            anonymous_visitors: true,
            ..options()
        };
        let auth = from_options(&public).unwrap().unwrap();
        assert!(auth.authenticate(None, 3).is_ok());
        let debug = format!("{auth:?}");
        assert!(debug.contains("EdDSA") && debug.contains("anonymous_visitors: true"));
    }

    #[test]
    fn option_errors() {
        let key_file = TempFile::with(ED_PUBLIC);
        let both = JwtOptions {
            secret: Some(SECRET.into()),
            public_key_file: Some(key_file.0.clone()),
            ..options()
        };
        assert!(matches!(
            from_options(&both),
            Err(AuthConfigError::ConflictingKeys)
        ));
        let two_secrets = JwtOptions {
            secret: Some(SECRET.into()),
            secret_file: Some(key_file.0.clone()),
            ..options()
        };
        assert!(matches!(
            from_options(&two_secrets),
            Err(AuthConfigError::ConflictingKeys)
        ));

        let missing = JwtOptions {
            public_key_file: Some("/nonexistent/switchboard.pem".into()),
            ..options()
        };
        let err = from_options(&missing).unwrap_err();
        assert!(matches!(err, AuthConfigError::Read { .. }));
        assert_eq!(err.to_string(), "cannot read /nonexistent/switchboard.pem");

        let private = TempFile::with(RSA_PRIVATE);
        let wrong_half = JwtOptions {
            public_key_file: Some(private.0.clone()),
            ..options()
        };
        match from_options(&wrong_half).unwrap_err() {
            AuthConfigError::InvalidKey { origin, source } => {
                assert!(origin.starts_with("--jwt-public-key /"));
                assert_eq!(source, KeyError::PrivateKey);
            }
            other => panic!("{other:?}"),
        }

        let short = TempFile::with(b"tiny\n");
        let short_file = JwtOptions {
            secret_file: Some(short.0.clone()),
            ..options()
        };
        assert!(matches!(
            from_options(&short_file),
            Err(AuthConfigError::InvalidKey {
                source: KeyError::SecretTooShort(4),
                ..
            })
        ));

        let lax = JwtOptions {
            secret: Some(SECRET.into()),
            leeway_secs: MAX_LEEWAY_SECS + 1,
            ..options()
        };
        assert!(matches!(
            from_options(&lax),
            Err(AuthConfigError::LeewayTooLarge(_))
        ));
    }

    #[test]
    fn nothing_prints_the_secret() {
        let opts = JwtOptions {
            secret: Some(SECRET.into()),
            ..options()
        };
        assert!(!format!("{opts:?}").contains(SECRET));
        let auth = JwtAuthenticator::from_options(&opts).unwrap().unwrap();
        assert!(!format!("{auth:?}").contains(SECRET));
        assert!(!format!("{:?}", JwtKey::hs256(SECRET.as_bytes())).contains(SECRET));
    }

    /// What one upgrade pays for its token, per algorithm. Meaningful only in release:
    /// `cargo test --release -p switchboard-engine verification_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check: run it in release with --nocapture"]
    fn verification_cost() {
        let cases = [
            ("HS256", hs_node(), hs(&claims("alice", "visitor"))),
            ("EdDSA", ed_node(), ed(&claims("alice", "visitor"))),
            ("RS256", rs_node(), rs(&claims("alice", "visitor"))),
        ];
        for (name, node, token) in cases {
            let rounds = 2_000;
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                for conn in 0..rounds {
                    assert!(node.authenticate_at(Some(&token), conn, NOW).is_ok());
                }
                best = best.min(start.elapsed().as_secs_f64() / rounds as f64);
            }
            println!(
                "{name}: {:.1} us per token (best of 5 x {rounds})",
                best * 1e6
            );
        }
    }
}
