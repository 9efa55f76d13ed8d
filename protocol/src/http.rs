//! The HTTP/1.1 side of the port: parsing the request that opens a connection
//! (a WebSocket upgrade, `GET /health`, or anything else) and writing the answers.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Most headers a request may carry; more is refused with 400.
pub const MAX_HEADERS: usize = 32;

/// `Sec-WebSocket-Protocol` headers looked at; more are ignored.
pub const MAX_PROTOCOL_HEADERS: usize = 4;

/// GUID appended to the client key (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a request head cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Not parseable as HTTP/1.x (bad token, bad version, too many headers, ...).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
}

/// The parts of a request head Switchboard looks at, borrowed from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path without the query string.
    pub path: &'a str,
    /// The query string without `?`, if any.
    pub query: Option<&'a str>,
    /// `Upgrade: websocket` together with `Connection: upgrade`.
    pub wants_websocket: bool,
    /// `Sec-WebSocket-Key`.
    pub websocket_key: Option<&'a str>,
    /// `Sec-WebSocket-Version`.
    pub websocket_version: Option<&'a str>,
    /// `Sec-WebSocket-Protocol` headers, as sent (each comma-separated; a repeated
    /// header adds to the list, RFC 7230 §3.2.2).
    pub protocols: [Option<&'a str>; MAX_PROTOCOL_HEADERS],
    /// HTTP minor version: 1 for HTTP/1.1 (an upgrade needs it), 0 for HTTP/1.0.
    pub minor_version: u8,
    /// `Authorization`, as sent.
    pub authorization: Option<&'a str>,
    /// `If-None-Match`, as sent (a conditional GET of a static file).
    pub if_none_match: Option<&'a str>,
    /// `Content-Length`, when given (a body follows the head).
    pub content_length: Option<usize>,
    /// A `Transfer-Encoding` header was sent (chunked bodies are refused: 411).
    pub transfer_encoding: bool,
    /// `Last-Event-ID` (a Server-Sent Events client resuming), as sent.
    pub last_event_id: Option<&'a str>,
    /// `Cookie`, as sent (RFC 6265 §5.4: a user agent sends one header; when there
    /// are several, the first counts).
    pub cookie: Option<&'a str>,
    /// Length of the head including the blank line.
    pub head_len: usize,
}

impl<'a> Request<'a> {
    /// Whether the client offered subprotocol `name`.
    pub fn offers_protocol(&self, name: &str) -> bool {
        self.offered_protocols().any(|p| p == name)
    }

    /// The client's subprotocols in the order it offered them (RFC 6455 §4.1: "in
    /// order of preference"), across repeated headers.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.protocols
            .iter()
            .flatten()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The bearer token, from `?token=` (percent-decoded, RFC 3986 §2.1, as a browser's
    /// `encodeURIComponent` writes it; `+` stays `+`; an escape that is not valid
    /// UTF-8 hex leaves the value as sent) or `Authorization: Bearer` (as sent).
    pub fn token(&self) -> Option<std::borrow::Cow<'a, str>> {
        // An empty `?token=` counts as none: the header may still carry one.
        if let Some(token) = self
            .query
            .and_then(|q| query_param(q, "token"))
            .filter(|t| !t.is_empty())
        {
            return Some(percent_decoded(token));
        }
        let auth = self.authorization?;
        let (scheme, token) = auth.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .then_some(std::borrow::Cow::Borrowed(token))
    }

    /// The value of cookie `name` (RFC 6265 §4.2.1: `name=value` pairs separated by
    /// `; `), if sent; the first of repeated names, surrounding double quotes kept.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        cookie_value(self.cookie?, name)
    }
}

/// Cookie `name` in a `Cookie` header's value.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

/// Parses a request head. `Ok(None)` means the head is not complete yet.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request<'_>>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::Malformed("too many headers"))
        }
        Err(_) => return Err(HttpError::Malformed("bad request line or header")),
    };
    let target = parsed.path.ok_or(HttpError::Malformed("no path"))?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut request = Request {
        method: parsed.method.ok_or(HttpError::Malformed("no method"))?,
        path,
        query,
        wants_websocket: false,
        websocket_key: None,
        websocket_version: None,
        protocols: [None; MAX_PROTOCOL_HEADERS],
        minor_version: parsed.version.unwrap_or(0),
        authorization: None,
        if_none_match: None,
        content_length: None,
        transfer_encoding: false,
        last_event_id: None,
        cookie: None,
        head_len,
    };
    let (mut upgrade, mut connection_upgrade) = (false, false);
    for header in parsed.headers.iter() {
        let Ok(value) = std::str::from_utf8(header.value) else {
            continue;
        };
        let value = value.trim();
        let name = header.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
        } else if name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            request.websocket_key = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            request.websocket_version = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            if let Some(free) = request.protocols.iter_mut().find(|p| p.is_none()) {
                *free = Some(value);
            }
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value);
        } else if name.eq_ignore_ascii_case("if-none-match") {
            request.if_none_match = Some(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(value)?;
            // Two different lengths are a request-smuggling vector (RFC 9112 §6.3).
            if request.content_length.is_some_and(|l| l != length) {
                return Err(HttpError::Malformed("conflicting Content-Length"));
            }
            request.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            request.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("last-event-id") {
            request.last_event_id = Some(value);
        } else if name.eq_ignore_ascii_case("cookie") && request.cookie.is_none() {
            request.cookie = Some(value);
        }
    }
    request.wants_websocket = upgrade && connection_upgrade;
    Ok(Some(request))
}

/// A `Content-Length` value: decimal digits only (no sign, no list).
fn parse_content_length(value: &str) -> Result<usize, HttpError> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::Malformed("bad Content-Length"));
    }
    value
        .parse()
        .map_err(|_| HttpError::Malformed("bad Content-Length"))
}

/// The value of `name` in a query string (no percent-decoding: tokens are URL-safe).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `value` with its `%XX` escapes decoded; borrowed when there are none, and as sent
/// when an escape is malformed or the result is not UTF-8.
pub fn percent_decoded(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains('%') {
        return std::borrow::Cow::Borrowed(value);
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let Some(&[high, low]) = bytes.get(i + 1..i + 3) else {
            return std::borrow::Cow::Borrowed(value);
        };
        let (Some(high), Some(low)) = (hex(high), hex(low)) else {
            return std::borrow::Cow::Borrowed(value);
        };
        out.push(high << 4 | low);
        i += 3;
    }
    match String::from_utf8(out) {
        Ok(decoded) => std::borrow::Cow::Owned(decoded),
        Err(_) => std::borrow::Cow::Borrowed(value),
    }
}

/// A client key is 16 random bytes in base64: 24 characters.
pub fn is_valid_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|raw| raw.len() == 16)
}

/// Length of a `Sec-WebSocket-Accept` value (base64 of a SHA-1 digest).
pub const ACCEPT_LEN: usize = 28;

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    String::from_utf8_lossy(&accept_key_bytes(key)).into_owned()
}

/// `Sec-WebSocket-Accept` for a client key, without allocating.
pub fn accept_key_bytes(key: &str) -> [u8; ACCEPT_LEN] {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    let mut out = [0u8; ACCEPT_LEN];
    // 20 digest bytes always encode to exactly 28 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(sha.finalize(), &mut out);
    out
}

/// Appends the `101 Switching Protocols` answer with the accept value to `out`.
pub fn write_switching_protocols(
    out: &mut Vec<u8>,
    accept: &[u8; ACCEPT_LEN],
    protocol: Option<&str>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept);
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends a complete response that closes the connection, with a JSON body.
pub fn write_json_response(out: &mut Vec<u8>, status: u16, reason: &str, json_body: &str) {
    write_response(out, status, reason, "application/json", json_body, &[]);
}

/// Appends a complete response that closes the connection.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &str,
    extra_headers: &[(&str, &str)],
) {
    write_response_bytes(
        out,
        status,
        reason,
        content_type,
        body.as_bytes(),
        extra_headers,
    );
}

/// [`write_response`] with a body of any bytes (a file, an image).
pub fn write_response_bytes(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    extra_headers: &[(&str, &str)],
) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// A JSON error body `{"error":{"code":..,"message":..}}` for an HTTP answer.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded_and_malformed_ones_left_alone() {
        assert_eq!(percent_decoded("agent%3Abob"), "agent:bob");
        assert_eq!(percent_decoded("a+b"), "a+b");
        assert_eq!(percent_decoded("%E4%BD%A0"), "你");
        for raw in ["100%", "%zz", "%4", "%FF%FE"] {
            assert_eq!(percent_decoded(raw), raw, "{raw}");
        }
        assert!(matches!(
            percent_decoded("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn rfc_sample_key_gives_the_rfc_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key("short"));
    }

    #[test]
    fn an_upgrade_request_is_understood() {
        let head = b"GET /v1/ws?token=abc&x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, switchboard.v1.json\r\n\r\n";
        let req = parse_request(head).unwrap().unwrap();
        assert_eq!(req.path, "/v1/ws");
        assert!(req.wants_websocket);
        assert_eq!(req.token().as_deref(), Some("abc"));
        assert!(req.offers_protocol("switchboard.v1.json"));
        assert!(!req.offers_protocol("switchboard.v1.bin"));
        assert_eq!(req.head_len, head.len());
    }

    #[test]
    fn repeated_headers_add_up_and_empty_tokens_are_none() {
        let head = b"GET /v1/ws?token= HTTP/1.1\r\nConnection: Upgrade\r\nConnection: keep-alive\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: switchboard.v1.bin\r\nSec-WebSocket-Protocol: other\r\n\r\n";
        let req = parse_request(head).unwrap().unwrap();
        assert!(req.wants_websocket);
        assert!(req.offers_protocol("switchboard.v1.bin"));
        assert!(req.offers_protocol("other"));
        assert_eq!(req.token(), None);
        assert_eq!(req.minor_version, 1);
    }

    #[test]
    fn bearer_header_and_partial_heads() {
        let head = b"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer t0k\r\n\r\n";
        assert_eq!(
            parse_request(head).unwrap().unwrap().token().as_deref(),
            Some("t0k")
        );
        let empty_query = b"GET /v1/ws?token= HTTP/1.1\r\nAuthorization: Bearer carol\r\n\r\n";
        assert_eq!(
            parse_request(empty_query)
                .unwrap()
                .unwrap()
                .token()
                .as_deref(),
            Some("carol"),
            "an empty ?token= does not hide the header"
        );
        assert_eq!(parse_request(&head[..20]).unwrap(), None);
        assert!(parse_request(b"\x00\x01garbage\r\n\r\n").is_err());
    }

    #[test]
    fn bodies_are_announced_by_one_content_length() {
        let head =
            b"POST /v1/sessions/x HTTP/1.1\r\nContent-Length: 12\r\nLast-Event-ID: 7\r\n\r\n";
        let req = parse_request(head).unwrap().unwrap();
        assert_eq!(req.content_length, Some(12));
        assert_eq!(req.last_event_id, Some("7"));
        assert!(!req.transfer_encoding);
        for bad in ["-1", "1,2", "", "0x10", "99999999999999999999"] {
            let head = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert!(parse_request(head.as_bytes()).is_err(), "{bad}");
        }
        let twice = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(parse_request(twice).is_err());
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_request(chunked).unwrap().unwrap().transfer_encoding);
    }
}
