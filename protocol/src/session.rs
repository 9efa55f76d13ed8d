//! The HTTP fallbacks of `/v1/ws` (long-polling and Server-Sent Events): session ids,
//! the routes under `/v1/sessions`, cursors, the upstream body (one JSON frame or an
//! array of them), and the downstream answers (a JSON batch, or `text/event-stream`
//! events whose `id:` is the cursor).
//!
//! Everything that reads client bytes here is pure and fuzzed (`fuzz_targets/session.rs`).

use serde_json::value::RawValue;
use std::fmt;

/// Where every session route starts.
pub const PREFIX: &str = "/v1/sessions";

/// A session's public name: the engine's id of the session (which says the node and
/// shard that hold it) and 128 random bits, so a session cannot be guessed from
/// another one's id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionId {
    /// The session's connection id (node, shard, slot, generation).
    pub conn: u64,
    /// The secret part.
    pub secret: u128,
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        write!(f, "SessionId({:x}, ..)", self.conn)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014x}{:032x}", self.conn, self.secret)
    }
}

/// Hex digits of a session id.
pub const ID_LEN: usize = 14 + 32;

impl SessionId {
    /// Parses the 46 lower- or upper-case hex digits [`fmt::Display`] writes.
    pub fn parse(text: &str) -> Option<SessionId> {
        if text.len() != ID_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let conn = u64::from_str_radix(&text[..14], 16).ok()?;
        let secret = u128::from_str_radix(&text[14..], 16).ok()?;
        Some(SessionId { conn, secret })
    }

    /// Whether `secret` is this session's, in time independent of where they differ.
    pub fn secret_matches(&self, secret: u128) -> bool {
        let diff = self.secret ^ secret;
        // Fold without an early exit.
        diff.to_le_bytes().iter().fold(0u8, |acc, b| acc | b) == 0
    }
}

/// What a request under [`PREFIX`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/sessions`: open a session (authenticated like `/v1/ws`).
    Open,
    /// `GET /v1/sessions/{id}?cursor=N`: long-poll for frames after N.
    Poll(SessionId),
    /// `GET /v1/sessions/{id}/events`: a Server-Sent Events stream.
    Stream(SessionId),
    /// `POST /v1/sessions/{id}`: upstream frames.
    Send(SessionId),
    /// `DELETE /v1/sessions/{id}`: end the session.
    Close(SessionId),
}

/// Why a request under [`PREFIX`] cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No such path.
    #[error("no route for this path")]
    NotFound,
    /// The session part is not a session id.
    #[error("not a session id (46 hex digits)")]
    BadId,
    /// The path exists, not with this method; the value is the `Allow` header.
    #[error("method not allowed")]
    Method(&'static str),
}

/// Whether `path` is one of the session routes.
pub fn is_session_path(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|r| r.starts_with('/'))
}

/// Routes a request whose path [`is_session_path`].
pub fn route(method: &str, path: &str) -> Result<Route, RouteError> {
    let rest = path.strip_prefix(PREFIX).ok_or(RouteError::NotFound)?;
    if rest.is_empty() || rest == "/" {
        return match method {
            "POST" => Ok(Route::Open),
            _ => Err(RouteError::Method("POST")),
        };
    }
    let rest = rest.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let (id, tail) = match rest.split_once('/') {
        Some((id, tail)) => (id, Some(tail)),
        None => (rest, None),
    };
    let id = SessionId::parse(id).ok_or(RouteError::BadId)?;
    match (tail, method) {
        (None, "GET") => Ok(Route::Poll(id)),
        (None, "POST") => Ok(Route::Send(id)),
        (None, "DELETE") => Ok(Route::Close(id)),
        (None, _) => Err(RouteError::Method("GET, POST, DELETE")),
        (Some("events"), "GET") => Ok(Route::Stream(id)),
        (Some("events"), _) => Err(RouteError::Method("GET")),
        (Some(_), _) => Err(RouteError::NotFound),
    }
}

/// The cursor a downstream request starts after: `?cursor=N`, else `Last-Event-ID`
/// (an `EventSource` reconnecting), else 0. `None` when one is given but is not a
/// number.
pub fn cursor(query: Option<&str>, last_event_id: Option<&str>) -> Option<u64> {
    let given = query
        .and_then(|q| crate::http::query_param(q, "cursor"))
        .or(last_event_id.map(str::trim));
    match given {
        None => Some(0),
        Some(text) if text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().ok()
        }
        Some(_) => None,
    }
}

/// Why an upstream body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or not an object or an array of objects.
    #[error("body must be a JSON frame or an array of frames: {0}")]
    Shape(String),
    /// More frames than the limit.
    #[error("more than {0} frames in one request")]
    TooMany(usize),
}

/// Splits an upstream body into its frames, each the raw JSON text of one object
/// (decoded afterwards by the chat decoder, exactly like a WebSocket text message).
pub fn split_frames(body: &[u8], max_frames: usize) -> Result<Vec<&str>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::Shape("not UTF-8".into()))?;
    let trimmed = text.trim_start();
    let frames: Vec<&str> = if trimmed.starts_with('[') {
        let list: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| BodyError::Shape(e.to_string()))?;
        list.into_iter().map(RawValue::get).collect()
    } else {
        let one: &RawValue =
            serde_json::from_str(text).map_err(|e| BodyError::Shape(e.to_string()))?;
        vec![one.get()]
    };
    if frames.len() > max_frames {
        return Err(BodyError::TooMany(max_frames));
    }
    if let Some(bad) = frames.iter().find(|f| !f.trim_start().starts_with('{')) {
        let shown: String = bad.chars().take(40).collect();
        return Err(BodyError::Shape(format!("not an object: {shown}")));
    }
    Ok(frames)
}

/// Appends a long-poll answer body: `{"cursor":N,"frames":[...]}`, with the session id
/// first when the session was just opened.
pub fn write_batch<'f>(
    out: &mut Vec<u8>,
    session: Option<&SessionId>,
    cursor: u64,
    frames: impl Iterator<Item = &'f [u8]>,
) {
    use std::io::Write as _;
    out.push(b'{');
    if let Some(id) = session {
        let _ = write!(out, "\"session\":\"{id}\",");
    }
    let _ = write!(out, "\"cursor\":{cursor},\"frames\":[");
    for (i, frame) in frames.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(frame);
    }
    out.extend_from_slice(b"]}");
}

/// The head of a `text/event-stream` answer (its body ends when the connection does).
pub fn write_stream_head(out: &mut Vec<u8>, retry_ms: u64) {
    use std::io::Write as _;
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
    );
    let _ = write!(out, "retry: {retry_ms}\n\n");
}

/// Appends one event: `id: <cursor>` and the frame as `data:` (a frame holds no raw
/// newline — JSON escapes them — but one would be cut into `data:` lines all the same).
pub fn write_event(out: &mut Vec<u8>, cursor: u64, frame: &[u8]) {
    use std::io::Write as _;
    let _ = writeln!(out, "id: {cursor}");
    for line in frame.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends the last event of a stream whose session ended: `event: end`, the reason.
pub fn write_end_event(out: &mut Vec<u8>, body: &str) {
    out.extend_from_slice(b"event: end\ndata: ");
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// A comment line that keeps an idle stream (and the proxies on its way) alive.
pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn routes() {
        let id = SessionId {
            conn: 0x1F_FFFF_FFFF_FFFF,
            secret: u128::MAX - 5,
        };
        let text = id.to_string();
        assert_eq!(text.len(), ID_LEN);
        assert_eq!(route("POST", "/v1/sessions"), Ok(Route::Open));
        assert_eq!(
            route("GET", "/v1/sessions"),
            Err(RouteError::Method("POST"))
        );
        let base = format!("/v1/sessions/{text}");
        assert_eq!(route("GET", &base), Ok(Route::Poll(id)));
        assert_eq!(route("POST", &base), Ok(Route::Send(id)));
        assert_eq!(route("DELETE", &base), Ok(Route::Close(id)));
        assert_eq!(
            route("GET", &format!("{base}/events")),
            Ok(Route::Stream(id))
        );
        assert_eq!(
            route("GET", &format!("{base}/x")),
            Err(RouteError::NotFound)
        );
        assert_eq!(route("GET", "/v1/sessions/zz"), Err(RouteError::BadId));
        assert!(is_session_path("/v1/sessions/abc"));
        assert!(!is_session_path("/v1/sessionsx"));
    }

    #[test]
    fn cursors() {
        assert_eq!(cursor(None, None), Some(0));
        assert_eq!(cursor(Some("cursor=17"), Some("3")), Some(17));
        assert_eq!(cursor(None, Some(" 3 ")), Some(3));
        assert_eq!(cursor(Some("cursor=-1"), None), None);
        assert_eq!(cursor(Some("cursor=99999999999999999999"), None), None);
    }

    #[test]
    fn bodies() {
        assert_eq!(split_frames(b" {\"a\":1} ", 4).unwrap(), vec!["{\"a\":1}"]);
        assert_eq!(
            split_frames(b"[{\"a\":1}, {\"b\":[2]}]", 4).unwrap(),
            vec!["{\"a\":1}", "{\"b\":[2]}"]
        );
        assert!(split_frames(b"[1]", 4).is_err());
        assert!(split_frames(b"{", 4).is_err());
        assert!(split_frames(b"\xff", 4).is_err());
        assert_eq!(
            split_frames(b"[{},{}]", 1),
            Err(BodyError::TooMany(1)),
            "the frame limit holds"
        );
    }

    #[test]
    fn answers() {
        let mut out = Vec::new();
        write_batch(&mut out, None, 3, [&b"{\"x\":1}"[..], b"{}"].into_iter());
        assert_eq!(out, b"{\"cursor\":3,\"frames\":[{\"x\":1},{}]}");
        out.clear();
        write_event(&mut out, 9, b"{\"a\":\"b\"}");
        assert_eq!(out, b"id: 9\ndata: {\"a\":\"b\"}\n\n");
    }

    proptest! {
        #[test]
        fn ids_round_trip(conn in any::<u64>().prop_map(|c| c & ((1 << 56) - 1)), secret in any::<u128>()) {
            let id = SessionId { conn, secret };
            prop_assert_eq!(SessionId::parse(&id.to_string()), Some(id));
            prop_assert!(id.secret_matches(secret));
            prop_assert!(!id.secret_matches(secret ^ 1));
        }

        #[test]
        fn any_path_routes_or_errs(method in "[A-Z]{0,7}", path in "/v1/sessions[/a-f0-9]{0,60}") {
            let _ = route(&method, &path);
        }

        #[test]
        fn any_body_splits_or_errs(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = split_frames(&body, 8);
        }

        #[test]
        fn arrays_of_objects_split_back(values in proptest::collection::vec(0u32..1000, 0..8)) {
            let frames: Vec<String> = values.iter().map(|v| format!("{{\"v\":{v}}}")).collect();
            let body = format!("[{}]", frames.join(","));
            let split = split_frames(body.as_bytes(), 8).unwrap();
            prop_assert_eq!(split, frames.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
