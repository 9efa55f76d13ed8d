//! The control-API server: one acceptor thread and one thread per connection (at most
//! [`ServerOptions::max_connections`]), blocking std I/O, HTTP/1.1 keep-alive. It runs
//! beside the shards and only reaches them through the [`Engine`] trait.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::handlers;
use crate::http::{Conn, ReadError, Request, Response, Timeouts};
use crate::routes::{self, Match};
use crate::{ApiError, Engine};

/// Who may call the API.
#[derive(Clone, Default)]
pub struct ControlAuth {
    /// The bearer token every route but `/livez` and `/readyz` requires
    /// (`Authorization: Bearer <token>`). None: no authentication (loopback only, see
    /// [`check_bind`]).
    pub token: Option<String>,
}

impl std::fmt::Debug for ControlAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("ControlAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ControlAuth {
    /// True when `header` (the raw `Authorization` value) carries the token, or no
    /// token is set. The comparison takes the same time wherever the first difference is.
    pub fn allows(&self, header: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(header) = header else {
            return false;
        };
        let header = trim_ascii(header);
        if header.len() < 7 || !header[..7].eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        constant_time_eq(trim_ascii(&header[7..]), token.as_bytes())
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ' && *b != b'\t');
    let end = bytes.iter().rposition(|b| *b != b' ' && *b != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

/// Compares without an early exit; only the length leaks, which the token's length
/// does anyway when one guesses at it.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

/// Checks a control address and token before binding: a token must be 16..=256 visible
/// ASCII characters, and an address that is not loopback needs one.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(token) = token {
        if token.len() < 16 || token.len() > 256 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the control token must be 16..=256 visible ASCII characters".to_owned());
        }
    } else if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to serve the control API on {addr} without a token: \
             bind a loopback address or set --control-token"
        ));
    }
    Ok(())
}

/// Reads a token file: its content without surrounding whitespace.
pub fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the control token file {}: {e}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long a request may take to arrive (head and body), and an answer to be
    /// written.
    pub request_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 64,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A running server. Dropping it leaves the server running; call
/// [`ControlServer::shutdown`] to stop it.
#[derive(Debug)]
pub struct ControlServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    engine: Arc<dyn Engine>,
    auth: ControlAuth,
    options: ServerOptions,
    stop: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicU64,
    /// Open connections, so shutdown can close them.
    conns: Mutex<HashMap<u64, TcpStream>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("auth", &self.auth)
            .field("options", &self.options)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl ControlServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every open connection and waits for the acceptor.
    pub fn shutdown(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if let Ok(conns) = self.shared.conns.lock() {
            for stream in conns.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Serves the control API on `listener` with default [`ServerOptions`].
pub fn serve(
    listener: TcpListener,
    engine: Arc<dyn Engine>,
    auth: ControlAuth,
) -> io::Result<ControlServer> {
    serve_with(listener, engine, auth, ServerOptions::default())
}

/// Serves the control API on `listener` on its own threads.
pub fn serve_with(
    listener: TcpListener,
    engine: Arc<dyn Engine>,
    auth: ControlAuth,
    options: ServerOptions,
) -> io::Result<ControlServer> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(false)?;
    let shared = Arc::new(Shared {
        engine,
        auth,
        options,
        stop: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
    });
    let acceptor = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("control-accept".into())
            .spawn(move || accept_loop(listener, shared))?
    };
    Ok(ControlServer {
        addr,
        shared,
        acceptor: Some(acceptor),
    })
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                tracing::warn!("control API accept failed: {e}");
                // EMFILE and friends: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.options.max_connections {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(stream, &shared.options);
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let (Ok(clone), Ok(mut conns)) = (stream.try_clone(), shared.conns.lock()) {
            conns.insert(id, clone);
        }
        let worker = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("control-conn".into())
            .stack_size(1 << 20)
            .spawn(move || {
                serve_connection(stream, &worker);
                if let Ok(mut conns) = worker.conns.lock() {
                    conns.remove(&id);
                }
                worker.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::warn!("control API cannot start a connection thread: {e}");
            if let Ok(mut conns) = shared.conns.lock() {
                conns.remove(&id);
            }
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn refuse_busy(stream: TcpStream, options: &ServerOptions) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut conn = Conn::new(stream, timeouts(options));
    let error = ApiError::unavailable("too many control connections");
    let _ = conn.write_response(&Response::error(&error), false);
    conn.finish();
}

fn timeouts(options: &ServerOptions) -> Timeouts {
    Timeouts {
        idle: options.idle_timeout,
        request: options.request_timeout,
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.options.request_timeout));
    let mut conn = Conn::new(stream, timeouts(&shared.options));
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let (response, keep_alive) = match conn.read_request() {
            Ok(req) => {
                let response = answer(shared, &req);
                (response, req.keep_alive)
            }
            Err(ReadError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                (Response::error(&ApiError::RequestTimeout), false)
            }
            Err(ReadError::Closed) | Err(ReadError::Io(_)) => return,
            Err(ReadError::Malformed(message)) => {
                (Response::error(&ApiError::invalid(message)), false)
            }
            Err(ReadError::HeadTooLarge) => {
                let mut response = Response::error(&ApiError::invalid(format!(
                    "request head over {} bytes or {} headers",
                    crate::limits::MAX_HEAD,
                    crate::limits::MAX_HEADERS
                )));
                response.status = 431;
                (response, false)
            }
            Err(ReadError::BodyTooLarge) => (
                Response::error(&ApiError::PayloadTooLarge {
                    limit: crate::limits::MAX_BODY,
                }),
                false,
            ),
        };
        let keep_alive = keep_alive && !shared.stop.load(Ordering::SeqCst);
        if conn.write_response(&response, keep_alive).is_err() {
            return;
        }
        if !keep_alive {
            conn.finish();
            return;
        }
    }
}

/// Routes, authenticates and handles one request; a panic becomes 500 `internal`.
fn answer(shared: &Shared, req: &Request) -> Response {
    let (route, params) = match routes::find(&req.method, &req.path) {
        Match::Found(route, params) => (route, params),
        Match::WrongMethod(allowed) => {
            return Response::error(&ApiError::MethodNotAllowed {
                allow: allowed.join(", "),
            })
        }
        Match::NotFound => {
            let mut path: String = req.path.chars().take(200).collect();
            path.retain(|c| !c.is_control());
            return Response::error(&ApiError::NoRoute { path });
        }
    };
    if route.auth && !shared.auth.allows(req.authorization.as_deref()) {
        return Response::error(&ApiError::Unauthorized);
    }
    let engine = &*shared.engine;
    match catch_unwind(AssertUnwindSafe(|| {
        handlers::handle(engine, route.op, &params, req)
    })) {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(
                "control API handler panicked on {} {}",
                req.method,
                route.path
            );
            Response::error(&ApiError::internal("the request failed inside the server"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        let auth = ControlAuth {
            token: Some("secret-token-0123".into()),
        };
        assert!(auth.allows(Some(b"Bearer secret-token-0123")));
        assert!(auth.allows(Some(b"bearer  secret-token-0123 ")));
        assert!(!auth.allows(Some(b"Bearer secret-token-012")));
        assert!(!auth.allows(Some(b"Bearer secret-token-01234")));
        assert!(!auth.allows(Some(b"Basic secret-token-0123")));
        assert!(!auth.allows(Some(b"Bearer")));
        assert!(!auth.allows(None));
        assert!(ControlAuth::default().allows(None));
    }

    #[test]
    fn bind_rules() {
        let lo: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let lo6: SocketAddr = "[::1]:9090".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert!(check_bind(lo, None).is_ok());
        assert!(check_bind(lo6, None).is_ok());
        assert!(check_bind(any, None).is_err());
        assert!(check_bind(any, Some("0123456789abcdef")).is_ok());
        assert!(check_bind(any, Some("short")).is_err());
        assert!(check_bind(lo, Some("")).is_err());
        assert!(check_bind(lo, Some("0123456789 abcdef")).is_err());
    }
}
