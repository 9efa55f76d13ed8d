//! A tiny blocking client of the control API (issue 5) for the black-box tests: one
//! HTTP/1.1 request per connection (`Connection: close`) over a std `TcpStream`
//! ([`crate::http_exchange`]), JSON bodies as `serde_json::Value`, so tests see exactly
//! what the server answers (status, headers, body) without the server's own types.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::chat_client::Client;
use crate::{http_exchange, ws_read, Deadline, HttpResponse, Server};

/// A control-API client of one node.
#[derive(Debug, Clone)]
pub struct Control {
    /// The control listener's address.
    pub addr: SocketAddr,
    /// The bearer token sent, if any.
    pub token: Option<String>,
}

impl Control {
    /// A client of `server`'s control API (no token).
    pub fn of(server: &Server) -> Control {
        Control {
            addr: server
                .control_addr()
                .expect("the server reported its control address"),
            token: None,
        }
    }

    /// The same client sending `token` as a bearer token.
    pub fn with_token(&self, token: &str) -> Control {
        Control {
            addr: self.addr,
            token: Some(token.to_owned()),
        }
    }

    /// One request; `body` is sent as `application/json` when given.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        self.request_with(method, path, body, &[])
    }

    /// One request with extra header lines (`Name: value`).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[&str],
    ) -> HttpResponse {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        match body {
            Some(body) => {
                if !headers
                    .iter()
                    .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
                {
                    request.push_str("Content-Type: application/json\r\n");
                }
                request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
            }
            None => request.push_str("\r\n"),
        }
        http_exchange(self.addr, request.as_bytes())
            .unwrap_or_else(|err| panic!("{method} {path}: no answer from the control API: {err}"))
    }

    /// A request that must answer 200 with a JSON body; returns the body.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let text = body.map(Value::to_string);
        let response = self.request(method, path, text.as_deref());
        assert_eq!(
            response.status,
            200,
            "{method} {path} {text:?}: expected 200, got {} {}",
            response.status,
            response.body_text()
        );
        json_body(method, path, &response)
    }

    /// Waits (bounded) until `user` has exactly `n` connections known to its presence
    /// home (which learns of new and closed connections asynchronously), by pushing a
    /// `probe` event (data `null`) until the answer counts `n`: the user's clients
    /// receive those probes and must skip them.
    pub fn wait_connections(&self, user: &str, n: u32) {
        let body = serde_json::json!({"name": "probe", "data": null});
        let mut last = Value::Null;
        let reached = crate::wait_for(crate::IO_TIMEOUT, || {
            last = self.ok("POST", &format!("/v1/users/{user}/events"), Some(&body));
            (last["connections"] == n).then_some(())
        });
        assert!(
            reached.is_some(),
            "{user} never had {n} connections; last push answered {last}"
        );
    }

    /// `GET path` → 200 JSON.
    pub fn get(&self, path: &str) -> Value {
        self.ok("GET", path, None)
    }

    /// A request that must fail with `status` and a JSON error body with `code`;
    /// returns the error object.
    pub fn fails(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        status: u16,
        code: &str,
    ) -> Value {
        let response = self.request(method, path, body);
        assert_error(method, path, &response, status, code)
    }
}

/// Parses a JSON answer (content type `application/json`), panicking with context.
pub fn json_body(method: &str, path: &str, response: &HttpResponse) -> Value {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path}: content type {content_type:?}, body {}",
        response.body_text()
    );
    serde_json::from_slice(&response.body).unwrap_or_else(|err| {
        panic!(
            "{method} {path}: body is not JSON ({err}): {:?}",
            response.body_text()
        )
    })
}

/// Asserts an error answer: `status`, a JSON body `{"error":{"code","message"}}` with
/// `code`. Returns the `error` object.
pub fn assert_error(
    method: &str,
    path: &str,
    response: &HttpResponse,
    status: u16,
    code: &str,
) -> Value {
    assert_eq!(
        response.status,
        status,
        "{method} {path}: expected {status} {code}, got {} {}",
        response.status,
        response.body_text()
    );
    let body = json_body(method, path, response);
    assert_eq!(
        body["error"]["code"], code,
        "{method} {path}: error code: {body}"
    );
    assert!(
        body["error"]["message"].is_string(),
        "{method} {path}: error without a message: {body}"
    );
    body["error"].clone()
}

/// Reads `client`'s socket until the server's close frame (chat frames before it are
/// skipped); returns its code and reason. Panics on timeout or a close without a code.
pub fn expect_close(client: &mut Client, timeout: Duration) -> (u16, String) {
    let deadline = Deadline::after(timeout);
    loop {
        if deadline.passed() {
            panic!("{}: no close frame within {timeout:?}", client.name);
        }
        match ws_read(&mut client.ws, deadline.left()) {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Ok(tungstenite::Message::Close(None)) => {
                panic!("{}: close frame without a code", client.name)
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("{}: no close frame within {timeout:?}", client.name)
            }
            Err(err) => panic!("{}: expected a close frame, got {err}", client.name),
        }
    }
}
