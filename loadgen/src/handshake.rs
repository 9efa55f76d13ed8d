//! The client side of the WebSocket upgrade (RFC 6455 §4.1): the request, and the
//! checks on the server's answer.

use crate::job::Target;

/// Appends the upgrade request for `target` with `key` to `out`.
pub fn write_upgrade_request(out: &mut Vec<u8>, target: &Target, key: &str) {
    write_request(out, &target.host, &target.path, key, None);
}

/// Appends an upgrade request for `path` (path and query) on `host`, offering
/// `subprotocol` when given.
pub fn write_request(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    key: &str,
    subprotocol: Option<&str>,
) {
    use std::io::Write as _;
    let _ = write!(
        out,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(protocol) = subprotocol {
        let _ = write!(out, "Sec-WebSocket-Protocol: {protocol}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Where the response head ends (after its blank line), if it is complete.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Checks the server's answer to the upgrade: 101, `Upgrade: websocket`, and the
/// accept key derived from ours.
pub fn check_upgrade_response(head: &[u8], key: &str) -> Result<(), String> {
    check_upgrade(head, key).map(|_| ())
}

/// Like [`check_upgrade_response`], and returns the `Sec-WebSocket-Protocol` the
/// server chose, if it answered one.
pub fn check_upgrade(head: &[u8], key: &str) -> Result<Option<String>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete upgrade response".into()),
        Err(err) => return Err(format!("bad upgrade response: {err}")),
    }
    if response.code != Some(101) {
        return Err(format!(
            "upgrade refused: HTTP {}",
            response.code.unwrap_or(0)
        ));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("101 without Upgrade: websocket".into());
    }
    let expected = switchboard_protocol::http::accept_key(key);
    match header("sec-websocket-accept") {
        Some(accept) if accept == expected => {
            Ok(header("sec-websocket-protocol").map(str::to_owned))
        }
        Some(accept) => Err(format!(
            "wrong Sec-WebSocket-Accept {accept:?}, expected {expected:?}"
        )),
        None => Err("101 without Sec-WebSocket-Accept".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_answer_must_carry_the_right_accept_key() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_upgrade_response(good.as_bytes(), key), Ok(()));
        let wrong = good.replace("s3pP", "AAAA");
        assert!(check_upgrade_response(wrong.as_bytes(), key).is_err());
        let refused = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(check_upgrade_response(refused.as_bytes(), key).is_err());
    }
}
