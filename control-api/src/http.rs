//! HTTP/1.1 on a blocking stream: reading one request (head parsed by `httparse`,
//! `Content-Length` bodies only), writing one response, and the percent-decoding of
//! paths and query strings.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::limits::{MAX_BODY, MAX_HEAD, MAX_HEADERS};

/// How long a request may take to arrive once its first byte came, and how long a
/// kept-alive connection may sit idle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub idle: Duration,
    pub request: Duration,
}

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// The raw query (after `?`), if any.
    pub query: Option<String>,
    pub authorization: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open after the answer.
    pub keep_alive: bool,
}

/// Why no request could be read. `Closed` is the quiet end of a connection; the other
/// cases are answered with an error (and the connection closed).
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed (or went idle) between requests.
    Closed,
    /// An I/O error or a timeout in the middle of a request.
    Io(io::Error),
    /// The head is not valid HTTP/1.x. 400.
    Malformed(String),
    /// The head is over [`MAX_HEAD`] or has too many headers. 431.
    HeadTooLarge,
    /// The body is over [`MAX_BODY`]. 413.
    BodyTooLarge,
}

/// Reads requests from one connection, keeping bytes that arrived early (pipelining).
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeouts: Timeouts,
}

impl Conn {
    pub fn new(stream: TcpStream, timeouts: Timeouts) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(1024),
            timeouts,
        }
    }

    /// Reads more bytes before `deadline` (None: the idle timeout, and EOF is quiet).
    fn fill(&mut self, deadline: Option<Instant>) -> Result<(), ReadError> {
        let timeout = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => self.timeouts.idle,
        };
        if timeout.is_zero() {
            return Err(ReadError::Io(io::ErrorKind::TimedOut.into()));
        }
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(ReadError::Io)?;
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) if deadline.is_none() => return Err(ReadError::Closed),
                Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if deadline.is_none()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::ConnectionReset
                        ) =>
                {
                    return Err(ReadError::Closed)
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Reads the next request. A `100 Continue` is written when the client sent
    /// `Expect: 100-continue` and the body is acceptable.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        let mut deadline: Option<Instant> = None;
        let (head_len, mut req, content_length) = loop {
            if !self.buf.is_empty() {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + self.timeouts.request);
                }
                if let Some(parsed) = parse_head(&self.buf)? {
                    break parsed;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(ReadError::HeadTooLarge);
                }
            }
            self.fill(deadline)?;
        };
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.timeouts.request);
        if content_length > MAX_BODY {
            return Err(ReadError::BodyTooLarge);
        }
        self.buf.drain(..head_len);
        if req.expect_continue && self.buf.len() < content_length {
            self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(ReadError::Io)?;
        }
        while self.buf.len() < content_length {
            self.fill(Some(deadline))?;
        }
        req.request.body = self.buf.drain(..content_length).collect();
        Ok(req.request)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes one response.
    pub fn write_response(&mut self, response: &Response, keep_alive: bool) -> io::Result<()> {
        let mut out = Vec::with_capacity(256 + response.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n",
                response.status,
                reason_phrase(response.status),
                response.content_type,
                response.body.len(),
                if keep_alive { "keep-alive" } else { "close" },
            )
            .as_bytes(),
        );
        for (name, value) in &response.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&response.body);
        self.write_raw(&out)
    }

    /// Half-closes the connection after the last answer so the client reads it all.
    pub fn finish(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        // Drain briefly so closing with unread input does not reset the answer away.
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(200)));
        let mut sink = [0u8; 1024];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    }
}

struct ParsedHead {
    request: Request,
    expect_continue: bool,
}

/// Parses a complete head from `buf`; `Ok(None)` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, ParsedHead, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
        Err(e) => return Err(ReadError::Malformed(format!("malformed request: {e}"))),
    };
    if head_len > MAX_HEAD {
        return Err(ReadError::HeadTooLarge);
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let target = parsed.path.unwrap_or_default();
    let version = parsed.version.unwrap_or(1);
    if !target.starts_with('/') {
        return Err(ReadError::Malformed(
            "request target must be an absolute path".into(),
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut content_length: Option<usize> = None;
    let mut authorization = None;
    let mut content_type = None;
    let mut connection_close = version == 0;
    let mut expect_continue = false;
    for header in parsed.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value)
                .map_err(|_| ReadError::Malformed("bad Content-Length".into()))?
                .trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 19 {
                return Err(ReadError::Malformed("bad Content-Length".into()));
            }
            let n: usize = text
                .parse()
                .map_err(|_| ReadError::Malformed("bad Content-Length".into()))?;
            if content_length.is_some_and(|old| old != n) {
                return Err(ReadError::Malformed("conflicting Content-Length".into()));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Malformed(
                "Transfer-Encoding is not supported; send Content-Length".into(),
            ));
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(header.value.to_vec());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(String::from_utf8_lossy(header.value).trim().to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value).to_ascii_lowercase();
            for token in value.split(',').map(str::trim) {
                match token {
                    "close" => connection_close = true,
                    "keep-alive" if version == 0 => connection_close = false,
                    _ => {}
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if header.value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(ReadError::Malformed("unsupported Expect".into()));
            }
        }
    }
    Ok(Some((
        head_len,
        ParsedHead {
            request: Request {
                method,
                path,
                query,
                authorization,
                content_type,
                body: Vec::new(),
                keep_alive: !connection_close,
            },
            expect_continue,
        },
        content_length.unwrap_or(0),
    )))
}

/// One response to write.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(mut body) => {
                body.push(b'\n');
                Response {
                    status,
                    content_type: "application/json",
                    headers: Vec::new(),
                    body,
                }
            }
            Err(e) => Response::error(&crate::ApiError::internal(format!(
                "cannot encode the answer: {e}"
            ))),
        }
    }

    /// The JSON error answer of `error`, with its extra headers.
    pub fn error(error: &crate::ApiError) -> Response {
        let mut body = serde_json::to_vec(&error.body()).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"cannot encode the error"}}"#.to_vec()
        });
        body.push(b'\n');
        let mut headers = Vec::new();
        match error {
            crate::ApiError::MethodNotAllowed { allow } => headers.push(("Allow", allow.clone())),
            crate::ApiError::Unauthorized => {
                headers.push(("WWW-Authenticate", "Bearer realm=\"switchboard\"".into()))
            }
            _ => {}
        }
        Response {
            status: error.status(),
            content_type: "application/json",
            headers,
            body,
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for queries).
/// `None` for a bad escape or a result that is not UTF-8.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but unreserved characters (RFC 3986) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        for s in ["agent-1", "a b/c%d", "ü", "x+y"] {
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%ff", false), None);
    }
}
