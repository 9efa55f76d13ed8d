//! A small blocking client of the control API over a std `TcpStream`: one request per
//! connection (`Connection: close`), `Content-Length` answers, typed calls returning
//! the [`crate::model`] types.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::percent_encode;
use crate::model::*;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect, write or read.
    #[error("control API at {addr}: {source}")]
    Io {
        /// The address called.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The answer is not HTTP or not the JSON expected.
    #[error("bad answer from the control API: {0}")]
    BadAnswer(String),
    /// The server answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The server's message.
        message: String,
    },
}

/// A raw answer.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Largest answer the client reads.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A control-API client.
#[derive(Clone)]
pub struct Client {
    addr: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client of the server at `addr` (`host:port`), sending `token` as a bearer token.
    pub fn new(addr: impl Into<String>, token: Option<String>) -> Self {
        Client {
            addr: addr.into(),
            token,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sets the connect, read and write timeout (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect, read and write timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Sends one request and reads the whole answer, whatever its status.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<RawResponse, ClientError> {
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(|e| self.io(e))?
            .next()
            .ok_or_else(|| self.io(std::io::ErrorKind::AddrNotAvailable.into()))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| self.io(e))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.io(e))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        stream.write_all(&request).map_err(|e| self.io(e))?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER as u64)
            .read_to_end(&mut answer)
            .map_err(|e| self.io(e))?;
        parse_response(&answer)
    }

    /// Sends a request and decodes a 200 answer as `T`, or the error body.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let raw = self.call_raw(method, path, body)?;
        serde_json::from_slice(&raw.body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// Like [`Client::raw`] with a JSON body, but a non-2xx answer is an error.
    pub fn call_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<RawResponse, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        let raw = self.raw(method, path, body.as_deref())?;
        if (200..300).contains(&raw.status) {
            return Ok(raw);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&raw.body) {
            Ok(e) => ClientError::Api {
                status: raw.status,
                code: e.error.code,
                message: e.error.message,
            },
            Err(_) => ClientError::Api {
                status: raw.status,
                code: "unknown".into(),
                message: String::from_utf8_lossy(&raw.body).trim().to_owned(),
            },
        })
    }

    /// `GET /metrics`.
    pub fn metrics(&self) -> Result<String, ClientError> {
        let raw = self.call_raw("GET", "/metrics", None::<&()>)?;
        String::from_utf8(raw.body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// `GET /v1/stats`.
    pub fn stats(&self) -> Result<NodeStats, ClientError> {
        self.call("GET", "/v1/stats", None::<&()>)
    }

    /// `GET /v1/conversations`.
    pub fn conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<ConversationList, ClientError> {
        self.call("GET", &conversations_path(filter), None::<&()>)
    }

    /// `GET /v1/conversations` as a history listing (from the store, newest first).
    pub fn conversation_history(
        &self,
        query: &HistoryQuery,
    ) -> Result<ConversationList, ClientError> {
        self.call("GET", &history_path(query), None::<&()>)
    }

    /// `GET /v1/events?after&limit&wait_ms` (the read timeout covers the wait).
    pub fn events(&self, query: &EventQuery) -> Result<EventPage, ClientError> {
        let path = format!(
            "/v1/events?after={}&limit={}&wait_ms={}",
            query.after, query.limit, query.wait_ms
        );
        let wait = Duration::from_millis(query.wait_ms) + Duration::from_secs(5);
        let client = self.clone().with_timeout(self.timeout.max(wait));
        client.call("GET", &path, None::<&()>)
    }

    /// `GET /v1/conversations/{id}?recent=N`.
    pub fn conversation(&self, id: u64, recent: usize) -> Result<ConversationDetail, ClientError> {
        self.call(
            "GET",
            &format!("/v1/conversations/{id}?recent={recent}"),
            None::<&()>,
        )
    }

    /// `POST /v1/conversations/{id}/assign`.
    pub fn assign(&self, id: u64, agent: &str) -> Result<ConversationSummary, ClientError> {
        let body = AssignRequest {
            agent: agent.into(),
        };
        self.call(
            "POST",
            &format!("/v1/conversations/{id}/assign"),
            Some(&body),
        )
    }

    /// `POST /v1/conversations/{id}/transfer`.
    pub fn transfer(
        &self,
        id: u64,
        to: &str,
        force: bool,
    ) -> Result<ConversationSummary, ClientError> {
        let body = TransferRequest {
            to: to.into(),
            force,
        };
        self.call(
            "POST",
            &format!("/v1/conversations/{id}/transfer"),
            Some(&body),
        )
    }

    /// `POST /v1/conversations/{id}/end`.
    pub fn end(&self, id: u64) -> Result<ConversationSummary, ClientError> {
        self.call("POST", &format!("/v1/conversations/{id}/end"), None::<&()>)
    }

    /// `POST /v1/conversations/{id}/messages`.
    pub fn post_message(&self, id: u64, msg: &PostMessage) -> Result<PostedMessage, ClientError> {
        self.call(
            "POST",
            &format!("/v1/conversations/{id}/messages"),
            Some(msg),
        )
    }

    /// `POST /v1/users/{user}/events`.
    pub fn push_event(&self, user: &str, event: &PushEvent) -> Result<PushResult, ClientError> {
        self.call(
            "POST",
            &format!("/v1/users/{}/events", percent_encode(user)),
            Some(event),
        )
    }

    /// `GET /v1/agents`.
    pub fn agents(&self) -> Result<AgentList, ClientError> {
        self.call("GET", "/v1/agents", None::<&()>)
    }

    /// `GET /v1/agents/{user}`.
    pub fn agent(&self, user: &str) -> Result<AgentView, ClientError> {
        self.call(
            "GET",
            &format!("/v1/agents/{}", percent_encode(user)),
            None::<&()>,
        )
    }

    /// `PATCH /v1/agents/{user}`.
    pub fn update_agent(&self, user: &str, patch: &AgentPatch) -> Result<AgentView, ClientError> {
        self.call(
            "PATCH",
            &format!("/v1/agents/{}", percent_encode(user)),
            Some(patch),
        )
    }

    /// `DELETE /v1/connections/{conn}`.
    pub fn kick_connection(
        &self,
        conn: u64,
        reason: Option<&str>,
    ) -> Result<KickResult, ClientError> {
        let body = KickRequest {
            reason: reason.map(str::to_owned),
        };
        self.call("DELETE", &format!("/v1/connections/{conn}"), Some(&body))
    }

    /// `DELETE /v1/users/{user}/connections`.
    pub fn kick_user(&self, user: &str, reason: Option<&str>) -> Result<KickResult, ClientError> {
        let body = KickRequest {
            reason: reason.map(str::to_owned),
        };
        self.call(
            "DELETE",
            &format!("/v1/users/{}/connections", percent_encode(user)),
            Some(&body),
        )
    }

    /// `POST /v1/drain`.
    pub fn drain(&self) -> Result<DrainStatus, ClientError> {
        self.call("POST", "/v1/drain", None::<&()>)
    }

    /// `GET /v1/drain`.
    pub fn drain_status(&self) -> Result<DrainStatus, ClientError> {
        self.call("GET", "/v1/drain", None::<&()>)
    }

    /// `GET /v1/degradation`.
    pub fn degradation(&self) -> Result<DegradationView, ClientError> {
        self.call("GET", "/v1/degradation", None::<&()>)
    }

    /// `PUT /v1/degradation`: `Some(level)` pins, `None` returns to automatic.
    pub fn set_degradation(&self, level: Option<u8>) -> Result<DegradationView, ClientError> {
        self.call(
            "PUT",
            "/v1/degradation",
            Some(&DegradationRequest { level }),
        )
    }

    /// `GET /v1/nodes`.
    pub fn nodes(&self) -> Result<NodesView, ClientError> {
        self.call("GET", "/v1/nodes", None::<&()>)
    }
}

/// The path and query of a conversation list.
pub fn conversations_path(filter: &ConversationFilter) -> String {
    let mut query = vec![format!("limit={}", filter.limit)];
    if let Some(state) = filter.state {
        query.push(format!("state={}", state.as_str()));
    }
    if let Some(agent) = &filter.agent {
        query.push(format!("agent={}", percent_encode(agent)));
    }
    if let Some(age) = filter.min_age_ms {
        query.push(format!("min_age_ms={age}"));
    }
    format!("/v1/conversations?{}", query.join("&"))
}

/// The path of a history listing. `since_ms` always goes in, so that the server
/// lists from the store even when no other history parameter is given.
pub fn history_path(query: &HistoryQuery) -> String {
    let mut parts = vec![
        format!("limit={}", query.limit),
        format!("since_ms={}", query.since_ms.unwrap_or(0)),
    ];
    let users = [("visitor", &query.visitor), ("agent", &query.agent)];
    for (key, value) in users {
        if let Some(value) = value {
            parts.push(format!("{key}={}", percent_encode(value)));
        }
    }
    if let Some(state) = query.state {
        parts.push(format!("state={}", state.as_str()));
    }
    if let Some(until) = query.until_ms {
        parts.push(format!("until_ms={until}"));
    }
    if let Some(age) = query.min_age_ms {
        parts.push(format!("min_age_ms={age}"));
    }
    if let Some(cursor) = &query.cursor {
        parts.push(format!("cursor={}", cursor.encode()));
    }
    format!("/v1/conversations?{}", parts.join("&"))
}

fn parse_response(answer: &[u8]) -> Result<RawResponse, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(answer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::BadAnswer(
                "the answer ended in its head".into(),
            ))
        }
        Err(e) => return Err(ClientError::BadAnswer(e.to_string())),
    };
    let status = parsed.code.unwrap_or(0);
    let mut content_type = None;
    let mut length = None;
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-type") {
            content_type = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        }
    }
    let rest = &answer[head_len..];
    let body = match length {
        Some(n) if n <= rest.len() => rest[..n].to_vec(),
        Some(_) => return Err(ClientError::BadAnswer("the answer's body is cut".into())),
        None => rest.to_vec(),
    };
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}
