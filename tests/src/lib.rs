//! Shared helpers of Switchboard's black-box tests.
//!
//! Every test starts the real `switchboard` binary with [`Server::start`] on a free
//! loopback port (`--listen 127.0.0.1:0`), talks to it over real sockets, and the
//! process is killed when the [`Server`] is dropped (also when the test panics).
//!
//! Clients:
//! - [`RawWs`]: a raw TCP WebSocket client that writes arbitrary bytes (bad frames,
//!   fragments, unmasked frames) and reads the server's frames with the workspace's own
//!   [`switchboard_protocol::ws::Reader`] in client role, so every server frame is
//!   checked against RFC 6455 too.
//! - [`ws_connect`]: a tungstenite client (a WebSocket implementation written by
//!   others), with read timeouts so no test can hang.
//! - [`ChatConn`]: a tungstenite client of the JSON chat protocol on `/v1/ws`.
//! - [`http_exchange`]: one raw HTTP request and its response.
//!
//! Cluster tests start their own `redis-server` on a free port with [`RedisServer`]
//! (killable, restartable on the same port, optionally with an AOF) and talk to it
//! with [`redis_conn`] or [`RedisServer::cli`].
//!
//! The binary is found through the `SWITCHBOARD_BIN` environment variable, else next
//! to the test executable: `<target>/debug/switchboard` (tests live in
//! `<target>/debug/deps/`). `cargo test` does not build another package's binary, so
//! `cargo build -p switchboard-engine` (or `cargo build --workspace --bins`) must run
//! first; `tests/run-all` does that.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use switchboard_protocol::ws::{self, DataKind, Event, Limits, Opcode, Reader, Role};

pub use redis;
pub use switchboard_protocol;
pub use tungstenite;

pub mod chat_client;
pub mod control_client;
pub mod jwt;
pub mod redis_cluster;
pub mod redis_server;
pub mod tls;
pub mod wire;

pub use redis_cluster::RedisCluster;
pub use redis_server::{redis_conn, RedisServer};

/// How long any single blocking step of a test may take before the test fails.
/// Generous on purpose: the machine is shared and noisy.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server gets to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The flags most black-box tests start from: two shards (so cross-shard paths run)
/// and a 1 s close timeout (so closing tests end quickly).
pub const TWO_SHARDS: &[&str] = &["--shards", "2", "--close-timeout-ms", "1000"];

/// Where the `switchboard` binary is: `SWITCHBOARD_BIN`, else `<target>/debug/switchboard`
/// derived from the running test executable.
pub fn binary_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHBOARD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/debug/deps/<test-binary>
    let mut dir = exe
        .parent()
        .expect("test executable has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("switchboard")
}

/// The I/O driver the suite runs the servers on (`SWITCHBOARD_IO_DRIVER`: `epoll`,
/// `io-uring`; unset: the server's default, `auto`).
pub fn io_driver_under_test() -> Option<String> {
    std::env::var("SWITCHBOARD_IO_DRIVER")
        .ok()
        .filter(|d| !d.is_empty())
}

/// A running `switchboard serve` process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    shards: u16,
    control: Option<SocketAddr>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    exit: Option<ExitStatus>,
    /// The data directory the harness chose (dropped after the process).
    _data_dir: Option<DataDir>,
}

impl Server {
    /// A two-shard node that keeps its data in `dir`, with a short close timeout so a
    /// test can stop and restart it quickly.
    pub fn on_data_dir(dir: &DataDir) -> Server {
        Server::start(&[
            "--shards",
            "2",
            "--data-dir",
            dir.arg(),
            "--close-timeout-ms",
            "500",
        ])
    }

    /// [`Server::start`] with the flags `base` (e.g. [`TWO_SHARDS`]) and then `extra`.
    pub fn start_with(base: &[&str], extra: &[&str]) -> Server {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        Server::start(&args)
    }

    /// Starts `switchboard serve --listen 127.0.0.1:0 <args>` and waits (up to
    /// [`START_TIMEOUT`]) for its `listening on ADDR shards=N` line. Panics with the
    /// server's stderr if it does not come.
    pub fn start(args: &[&str]) -> Server {
        match Server::try_start(args) {
            Ok(server) => server,
            Err(err) => panic!("switchboard did not start: {err:#}"),
        }
    }

    /// Like [`Server::start`] but returns the failure instead of panicking.
    pub fn try_start(args: &[&str]) -> anyhow::Result<Server> {
        Self::try_start_under(&[], args)
    }

    /// [`Server::try_start`] with the binary run by `wrapper` (a program and its
    /// arguments, which then execs the binary and its arguments given after them), e.g.
    /// a seccomp filter.
    pub fn try_start_under(wrapper: &[&str], args: &[&str]) -> anyhow::Result<Server> {
        let bin = binary_path();
        anyhow::ensure!(
            bin.exists(),
            "no switchboard binary at {} (set SWITCHBOARD_BIN or run `cargo build -p switchboard-engine` first)",
            bin.display()
        );
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(&bin);
                command
            }
            None => Command::new(&bin),
        };
        // Servers run side by side: the control API gets a free port too, unless the
        // test chooses one (or `off`).
        let wants_control = !args.contains(&"--control-listen");
        command.arg("serve").args(["--listen", "127.0.0.1:0"]);
        if wants_control {
            command.args(["--control-listen", "127.0.0.1:0"]);
        }
        // Functional tests run debug builds on a shared machine, where a busy event loop
        // is the test's own load, not pressure to shed: only the degradation tests
        // (which pass their own budget) see the automatic levels.
        if !args.iter().any(|a| a.starts_with("--budget-")) {
            command.args(["--budget-loop-lag-ms", "600000"]);
        }
        // `SWITCHBOARD_TESTS_TLS=1`: the suite over TLS (see `wire`).
        if wire::tls_mode() && !args.contains(&"--tls-cert") {
            command.args(wire::suite_tls_flags());
        }
        // Servers run side by side and must never share `./switchboard-data`: a test
        // that does not choose (`--data-dir` or `--durability`) runs memory-only.
        // `SWITCHBOARD_TEST_DURABILITY=sync|async` runs those on a fresh data directory
        // of their own instead (removed with the server): the whole suite behind the
        // store's write barrier.
        let mut data_dir = None;
        if !args
            .iter()
            .any(|a| a.starts_with("--data-dir") || a.starts_with("--durability"))
        {
            match std::env::var("SWITCHBOARD_TEST_DURABILITY").ok().as_deref() {
                Some(mode @ ("sync" | "async")) => {
                    let dir = DataDir::new("server");
                    command.args(["--durability", mode, "--data-dir", dir.arg()]);
                    data_dir = Some(dir);
                }
                _ => {
                    command.args(["--durability", "off"]);
                }
            }
        }
        // The whole suite runs once per I/O driver (tests/run-all sets it for the
        // epoll pass); a test that names its driver keeps it.
        if let Some(driver) = io_driver_under_test().filter(|_| !args.contains(&"--io-driver")) {
            command.args(["--io-driver", &driver]);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Do not let a tests process that dies without unwinding leave a server behind.
        switchboard_driver::os::kill_child_with_parent(&mut command);
        let mut child = command.spawn()?;
        let stdout_pipe = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut pipe = BufReader::new(stderr_pipe);
                let mut line = String::new();
                while pipe.read_line(&mut line).unwrap_or(0) > 0 {
                    stderr.lock().unwrap().push_str(&line);
                    line.clear();
                }
            });
        }
        let (tx, rx) = mpsc::channel::<String>();
        {
            let stdout = Arc::clone(&stdout);
            thread::spawn(move || {
                let mut pipe = BufReader::new(stdout_pipe);
                let mut line = String::new();
                while pipe.read_line(&mut line).unwrap_or(0) > 0 {
                    stdout.lock().unwrap().push_str(&line);
                    let _ = tx.send(line.clone());
                    line.clear();
                }
            });
        }
        let mut server = Server {
            child: Some(child),
            addr: "127.0.0.1:0".parse().unwrap(),
            shards: 0,
            control: None,
            stdout,
            stderr,
            exit: None,
            _data_dir: data_dir,
        };
        let mut listening = false;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((addr, shards)) = parse_listening_line(&line) {
                        server.addr = addr;
                        server.shards = shards;
                        listening = true;
                        if !wants_control {
                            return Ok(server);
                        }
                    }
                    if let Some(control) = line.trim().strip_prefix("control on ") {
                        server.control = control.parse().ok();
                        if listening {
                            return Ok(server);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    anyhow::bail!(
                        "no `listening on ADDR shards=N` line within {START_TIMEOUT:?}; stdout:\n{}\nstderr:\n{}",
                        server.stdout_so_far(),
                        server.stderr_so_far()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.wait_exit(Duration::from_secs(5));
                    // Give the stderr thread a moment to collect the last lines.
                    thread::sleep(Duration::from_millis(100));
                    anyhow::bail!(
                        "switchboard closed stdout before listening (exit {status:?}); stdout:\n{}\nstderr:\n{}",
                        server.stdout_so_far(),
                        server.stderr_so_far()
                    );
                }
            }
        }
    }

    /// The bound public address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control API's address (the harness gives every server a free port).
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control
    }

    /// The shard count the server reported.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `ws://ADDR<path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Sends a signal to the server process (if it still runs).
    pub fn signal(&mut self, signal: i32) {
        if self.exit.is_some() {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = switchboard_driver::os::send_signal(child.id(), signal);
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits up to `timeout` for the process to exit; `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit {
            return Some(status);
        }
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => return None,
                Err(_) => return None,
            }
        }
    }

    /// `GET /health` parsed as JSON (panics on any other answer).
    pub fn health(&self) -> serde_json::Value {
        let response = public_http_exchange(
            self.addr,
            format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).as_bytes(),
        )
        .expect("GET /health");
        assert_eq!(response.status, 200, "GET /health: {response:?}");
        serde_json::from_slice(&response.body).unwrap_or_else(|err| {
            panic!(
                "GET /health body is not JSON ({err}): {:?}",
                response.body_text()
            )
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.exit.is_none() {
            if let Ok(None) = child.try_wait() {
                let _ = switchboard_driver::os::send_signal(child.id(), libc::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parse_listening_line(line: &str) -> Option<(SocketAddr, u16)> {
    let rest = line.trim().strip_prefix("listening on ")?;
    let (addr, shards) = rest.split_once(' ')?;
    let shards = shards.trim().strip_prefix("shards=")?.parse().ok()?;
    Some((addr.parse().ok()?, shards))
}

/// A point in time after which a bounded loop gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// Time left, at least one millisecond (a zero socket timeout means "forever").
    pub fn left(&self) -> Duration {
        self.0
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Polls `check` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Deadline::after(timeout);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if deadline.passed() {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Connects a TCP socket with read and write timeouts of [`IO_TIMEOUT`].
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to switchboard");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Connects a TCP socket whose receive buffer is set to `rcvbuf` bytes before the
/// connection is made (so the advertised window stays small).
pub fn tcp_connect_small_rcvbuf(addr: SocketAddr, rcvbuf: usize) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(rcvbuf).unwrap();
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .expect("connect to switchboard");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// An HTTP response read off a raw socket.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The status line's reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or everything until EOF when there is none
    /// (empty for a 101).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.body_text()))
    }
}

/// Reads an HTTP response head from `stream`; bytes read past the head stay in `buf`.
pub fn read_response_head(
    stream: &mut impl wire::TimedRead,
    buf: &mut Vec<u8>,
) -> io::Result<HttpResponse> {
    let deadline = Deadline::after(IO_TIMEOUT);
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
        if deadline.passed() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no response head"));
        }
        stream.set_timeout(Some(deadline.left()))?;
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "EOF before a response head; got {:?}",
                    String::from_utf8_lossy(buf)
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(io::Error::other(format!("bad status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
    })
}

/// Sends `request` (raw bytes) on a new connection and reads the whole response: the
/// head, then `Content-Length` bytes or everything until EOF.
pub fn http_exchange(addr: SocketAddr, request: &[u8]) -> io::Result<HttpResponse> {
    exchange_on(tcp_connect(addr), request)
}

/// [`http_exchange`] with the node's public listener: over TLS when the suite runs
/// over TLS (the control API is always plain).
pub fn public_http_exchange(addr: SocketAddr, request: &[u8]) -> io::Result<HttpResponse> {
    exchange_on(wire::TestStream::over(tcp_connect(addr)), request)
}

fn exchange_on(
    mut stream: impl wire::TimedRead + Write,
    request: &[u8],
) -> io::Result<HttpResponse> {
    stream.write_all(request)?;
    let mut buf = Vec::new();
    let mut response = read_response_head(&mut stream, &mut buf)?;
    read_body(&mut stream, buf, &mut response)?;
    Ok(response)
}

fn read_body(
    stream: &mut impl wire::TimedRead,
    mut buf: Vec<u8>,
    response: &mut HttpResponse,
) -> io::Result<()> {
    let deadline = Deadline::after(IO_TIMEOUT);
    let length: Option<usize> = response
        .header("content-length")
        .and_then(|v| v.parse().ok());
    loop {
        if let Some(length) = length {
            if buf.len() >= length {
                buf.truncate(length);
                break;
            }
        }
        if deadline.passed() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "body not complete"));
        }
        stream.set_timeout(Some(deadline.left()))?;
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // The server may reset after answering; keep what we have.
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset && length.is_none() => break,
            Err(err) => return Err(err),
        }
    }
    response.body = buf;
    Ok(())
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn new_ws_key() -> String {
    let mut raw = [0u8; 16];
    for chunk in raw.chunks_mut(4) {
        chunk.copy_from_slice(&next_mask());
    }
    base64_encode(&raw)
}

/// The `Sec-WebSocket-Accept` a server must answer for `key`.
pub fn expected_accept(key: &str) -> String {
    tungstenite::handshake::derive_accept_key(key.as_bytes())
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A masking key that changes on every call (never all zero, so an unmasking bug
/// shows).
pub fn next_mask() -> [u8; 4] {
    static STATE: AtomicU32 = AtomicU32::new(0x9E37_79B9);
    let mut x = STATE.fetch_add(0x6D2B_79F5, Ordering::Relaxed);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2C1B_3C6D);
    x ^= x >> 12;
    x |= 0x0101_0101;
    x.to_be_bytes()
}

/// A complete masked client frame. `first_byte` is the whole first header byte (FIN,
/// RSV1–3 and any opcode, even reserved ones); `mask` `None` sends it unmasked.
pub fn raw_frame(first_byte: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    // encode_header writes FIN and opcode; overwrite the first byte afterwards.
    ws::encode_header(&mut out, true, Opcode::Binary, payload.len(), mask);
    out[0] = first_byte;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        ws::apply_mask(&mut out[start..], key);
    }
    out
}

/// A masked client frame with the given FIN bit and opcode.
pub fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let first = if fin { 0x80 } else { 0 } | opcode.bits();
    raw_frame(first, payload, Some(next_mask()))
}

/// A masked client close frame with `code` and `reason`.
pub fn client_close(code: u16, reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    ws::encode_close(&mut out, code, reason, Some(next_mask()));
    out
}

/// Something the server sent on a WebSocket, as seen by [`RawWs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A whole data message.
    Message(DataKind, Vec<u8>),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close frame: code and reason, or `None` for an empty close payload.
    Close(Option<(u16, String)>),
    /// The server closed TCP cleanly (read returned 0).
    Eof,
    /// The connection was reset or failed.
    Error(io::ErrorKind, String),
    /// Nothing arrived in time.
    Timeout,
    /// The server sent something that is not a valid server frame.
    BadFrame(String),
}

/// A WebSocket client on a raw TCP socket: writes whatever bytes a test wants, and
/// reads server frames with the protocol crate's reader in client role.
#[derive(Debug)]
pub struct RawWs {
    /// The socket (TLS when the suite runs over TLS).
    pub stream: wire::TestStream,
    reader: Reader,
    pending: Vec<u8>,
    events: VecDeque<WsEvent>,
    closed: bool,
}

/// Limits used to read server frames: large enough for any test.
const CLIENT_LIMITS: Limits = Limits {
    max_frame: 64 << 20,
    max_message: 64 << 20,
    role: Role::Client,
};

impl RawWs {
    /// Wraps a socket that already finished the handshake; `leftover` are bytes read
    /// past the handshake response.
    pub fn from_stream(stream: wire::TestStream, leftover: Vec<u8>) -> RawWs {
        let mut ws = RawWs {
            stream,
            reader: Reader::default(),
            pending: Vec::new(),
            events: VecDeque::new(),
            closed: false,
        };
        if !leftover.is_empty() {
            ws.feed(leftover);
        }
        ws
    }

    /// Opens a WebSocket on `path` with a handshake written by hand; `extra_headers`
    /// are appended as given (each `Name: value`). Panics unless the answer is 101
    /// with the right `Sec-WebSocket-Accept`.
    pub fn connect(addr: SocketAddr, path: &str, extra_headers: &[&str]) -> (RawWs, HttpResponse) {
        Self::connect_stream(tcp_connect(addr), addr, path, extra_headers)
    }

    /// Like [`RawWs::connect`] on an already connected socket.
    pub fn connect_stream(
        tcp: TcpStream,
        addr: SocketAddr,
        path: &str,
        extra_headers: &[&str],
    ) -> (RawWs, HttpResponse) {
        let mut stream = wire::TestStream::over(tcp);
        let key = new_ws_key();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for header in extra_headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("write handshake");
        let mut buf = Vec::new();
        let response = read_response_head(&mut stream, &mut buf).expect("handshake response");
        assert_eq!(
            response.status, 101,
            "handshake on {path} answered {response:?}"
        );
        assert_eq!(
            response.header("sec-websocket-accept"),
            Some(expected_accept(&key).as_str()),
            "wrong Sec-WebSocket-Accept: {response:?}"
        );
        (RawWs::from_stream(stream, buf), response)
    }

    /// Writes raw bytes. Errors are returned, not panicked on: a test may write after
    /// the server closed.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one whole masked frame.
    pub fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        self.send_raw(&client_frame(true, opcode, payload))
            .expect("send frame");
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.send(Opcode::Text, text.as_bytes());
    }

    /// Sends a masked close frame with `code` and `reason` (ignores write errors).
    pub fn send_close(&mut self, code: u16, reason: &str) {
        let _ = self.send_raw(&client_close(code, reason));
    }

    fn feed(&mut self, mut bytes: Vec<u8>) {
        if self.closed {
            self.pending.extend_from_slice(&bytes);
            return;
        }
        let events = &mut self.events;
        let mut stopped_on_close = false;
        let result = self.reader.feed(&mut bytes, &CLIENT_LIMITS, &mut |event| {
            events.push_back(match event {
                Event::Message { kind, payload } => WsEvent::Message(kind, payload.to_vec()),
                Event::Ping(p) => WsEvent::Ping(p.to_vec()),
                Event::Pong(p) => WsEvent::Pong(p.to_vec()),
                Event::Close(c) => {
                    stopped_on_close = true;
                    WsEvent::Close(c.map(|(code, reason)| (code, reason.to_owned())))
                }
            });
            true
        });
        match result {
            Ok(_) if stopped_on_close => self.closed = true,
            Ok(_) => {}
            Err(err) => {
                self.closed = true;
                self.events.push_back(WsEvent::BadFrame(err.to_string()));
            }
        }
    }

    /// Whether a close frame (or a bad frame) was read.
    pub fn close_seen(&self) -> bool {
        self.closed
    }

    /// Bytes the server sent after its close frame (must stay empty).
    pub fn bytes_after_close(&self) -> usize {
        if self.closed {
            self.pending.len()
        } else {
            0
        }
    }

    /// The next thing the server does, waiting at most `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> WsEvent {
        let deadline = Deadline::after(timeout);
        loop {
            if let Some(event) = self.events.pop_front() {
                return event;
            }
            if deadline.passed() {
                return WsEvent::Timeout;
            }
            if let Err(err) = self.stream.set_read_timeout(Some(deadline.left())) {
                return WsEvent::Error(err.kind(), err.to_string());
            }
            let mut chunk = vec![0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return WsEvent::Eof,
                Ok(n) => {
                    chunk.truncate(n);
                    self.feed(chunk);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return WsEvent::Timeout
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return WsEvent::Error(err.kind(), err.to_string()),
            }
        }
    }

    /// The next data message; pings are answered with pongs, pongs skipped. Panics on
    /// anything else (close, EOF, timeout).
    pub fn expect_message(&mut self, timeout: Duration) -> (DataKind, Vec<u8>) {
        let deadline = Deadline::after(timeout);
        loop {
            match self.next_event(deadline.left()) {
                WsEvent::Message(kind, data) => return (kind, data),
                WsEvent::Ping(payload) => {
                    let _ = self.send_raw(&client_frame(true, Opcode::Pong, &payload));
                }
                WsEvent::Pong(_) => {}
                other => panic!("expected a data message, got {other:?}"),
            }
        }
    }

    /// The next text message, as a string.
    pub fn expect_text(&mut self, timeout: Duration) -> String {
        match self.expect_message(timeout) {
            (DataKind::Text, data) => String::from_utf8(data).expect("text is UTF-8"),
            (kind, data) => panic!("expected text, got {kind:?} of {} bytes", data.len()),
        }
    }

    /// The next text message parsed as JSON.
    pub fn expect_json(&mut self, timeout: Duration) -> serde_json::Value {
        let text = self.expect_text(timeout);
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text:?}"))
    }

    /// Reads until the server's close frame, skipping (and counting) data messages,
    /// pings and pongs; returns the close payload. Panics on EOF, errors or timeout.
    pub fn expect_close(&mut self, timeout: Duration) -> Option<(u16, String)> {
        let deadline = Deadline::after(timeout);
        loop {
            match self.next_event(deadline.left()) {
                WsEvent::Close(close) => return close,
                WsEvent::Message(..) | WsEvent::Ping(_) | WsEvent::Pong(_) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame and asserts its code; returns the reason.
    pub fn expect_close_code(&mut self, code: u16, timeout: Duration) -> String {
        match self.expect_close(timeout) {
            Some((got, reason)) => {
                assert_eq!(got, code, "close code (reason {reason:?})");
                reason
            }
            None => panic!("expected close code {code}, got a close frame without a code"),
        }
    }

    /// After the close frame: the server must close TCP cleanly (read returns 0)
    /// within `timeout`, sending nothing more. Panics otherwise.
    pub fn expect_eof(&mut self, timeout: Duration) {
        let deadline = Deadline::after(timeout);
        loop {
            let mut chunk = [0u8; 4096];
            self.stream.set_read_timeout(Some(deadline.left())).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("server did not close TCP within {timeout:?} after its close frame")
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => panic!("expected a clean TCP close (read = 0), got {err}"),
            }
            if deadline.passed() {
                panic!("server did not close TCP within {timeout:?}");
            }
        }
        assert_eq!(
            self.bytes_after_close(),
            0,
            "server sent bytes after its close frame"
        );
    }

    /// The full client side of a server-initiated close: read the close frame, check
    /// its code, answer it, then expect a clean TCP close. Returns the reason.
    pub fn expect_server_close(&mut self, code: u16) -> String {
        let reason = self.expect_close_code(code, IO_TIMEOUT);
        let _ = self.send_raw(&client_close(code, ""));
        self.expect_eof(IO_TIMEOUT);
        reason
    }

    /// Closes the write side of the socket.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// A tungstenite client socket.
pub type WsClient = tungstenite::WebSocket<wire::TestStream>;

/// Opens a tungstenite client on `url` offering `protocols` (none if empty); the
/// socket has read and write timeouts of [`IO_TIMEOUT`].
pub fn ws_connect(
    url: &str,
    protocols: &[&str],
) -> (WsClient, tungstenite::handshake::client::Response) {
    ws_connect_with(url, protocols, &[])
}

/// Like [`ws_connect`] with extra request headers.
pub fn ws_connect_with(
    url: &str,
    protocols: &[&str],
    headers: &[(&str, &str)],
) -> (WsClient, tungstenite::handshake::client::Response) {
    use tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols.join(", ").parse().unwrap(),
        );
    }
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let host = request
        .uri()
        .authority()
        .expect("authority")
        .as_str()
        .to_owned();
    let addr: SocketAddr = host.parse().expect("ws url with an IP:port");
    let stream = wire::TestStream::over(tcp_connect(addr));
    match tungstenite::client::client(request, stream) {
        Ok(pair) => pair,
        Err(err) => panic!("WebSocket handshake with {url} failed: {err}"),
    }
}

/// Reads the next data message from a tungstenite client (pings are answered by
/// tungstenite itself), waiting at most `timeout`.
pub fn ws_read(ws: &mut WsClient, timeout: Duration) -> tungstenite::Result<tungstenite::Message> {
    let deadline = Deadline::after(timeout);
    loop {
        ws.get_mut()
            .set_read_timeout(Some(deadline.left()))
            .unwrap();
        match ws.read() {
            Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)) => continue,
            Ok(tungstenite::Message::Frame(_)) => continue,
            other => return other,
        }
    }
}

/// Sends `message` on an `/echo` tungstenite client and asserts the same message comes
/// back.
pub fn assert_echo(ws: &mut WsClient, message: tungstenite::Message) {
    ws.send(message.clone()).expect("send to /echo");
    let got = ws_read(ws, IO_TIMEOUT).expect("echo reply");
    assert!(
        got == message,
        "echo mismatch: sent {} bytes, got {:?}",
        message.len(),
        summarize(&got)
    );
}

fn summarize(message: &tungstenite::Message) -> String {
    match message {
        tungstenite::Message::Text(t) if t.len() <= 200 => format!("text {:?}", t.as_str()),
        other => format!(
            "{} message of {} bytes",
            if other.is_text() { "text" } else { "other" },
            other.len()
        ),
    }
}

/// The `welcome` frame of `/v1/ws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// Connection id.
    pub conn: u64,
    /// Shard holding the connection.
    pub shard: u16,
    /// Authenticated user id.
    pub user: String,
}

impl Welcome {
    /// Parses a `welcome` JSON object (panics if it is not one).
    pub fn from_json(value: &serde_json::Value) -> Welcome {
        assert_eq!(
            value["type"], "welcome",
            "first frame is not welcome: {value}"
        );
        Welcome {
            conn: value["conn"]
                .as_u64()
                .unwrap_or_else(|| panic!("welcome without conn: {value}")),
            shard: value["shard"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_else(|| panic!("welcome without shard: {value}")),
            user: value["user"]
                .as_str()
                .unwrap_or_else(|| panic!("welcome without user: {value}"))
                .to_owned(),
        }
    }
}

/// A tungstenite client of the JSON chat protocol on `/v1/ws`.
#[derive(Debug)]
pub struct ChatConn {
    /// The socket.
    pub ws: WsClient,
    /// What the server said first.
    pub welcome: Welcome,
}

impl ChatConn {
    /// Connects to `/v1/ws` (with `?token=` when given) without offering a subprotocol
    /// and reads the welcome.
    pub fn connect(server: &Server, token: Option<&str>) -> ChatConn {
        let path = match token {
            Some(token) => format!("/v1/ws?token={token}"),
            None => "/v1/ws".to_owned(),
        };
        let (mut ws, _) = ws_connect(&server.ws_url(&path), &[]);
        let welcome = Welcome::from_json(&read_json(&mut ws, IO_TIMEOUT));
        ChatConn { ws, welcome }
    }

    /// Sends a JSON value as a text message.
    pub fn send_json(&mut self, value: &serde_json::Value) {
        self.ws
            .send(tungstenite::Message::text(value.to_string()))
            .expect("send chat frame");
    }

    /// Sends `{"type":"direct","to":to,"body":body}`.
    pub fn send_direct(&mut self, to: u64, body: &str) {
        self.send_json(&serde_json::json!({"type": "direct", "to": to, "body": body}));
    }

    /// The next chat frame.
    pub fn recv(&mut self) -> serde_json::Value {
        read_json(&mut self.ws, IO_TIMEOUT)
    }
}

/// Reads the next text message from a tungstenite client and parses it as JSON.
pub fn read_json(ws: &mut WsClient, timeout: Duration) -> serde_json::Value {
    match ws_read(ws, timeout) {
        Ok(tungstenite::Message::Text(text)) => serde_json::from_str(text.as_str())
            .unwrap_or_else(|err| panic!("chat frame is not JSON ({err}): {:?}", text.as_str())),
        Ok(other) => panic!("expected a JSON text frame, got {}", summarize(&other)),
        Err(err) => panic!("expected a JSON text frame, got error {err}"),
    }
}

/// Deterministic pseudo-random bytes (for payloads whose corruption must show).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed) % 31) as u8
                ^ seed
        })
        .collect()
}

/// Opens TCP to `addr` and sends a WebSocket upgrade to `/v1/ws`; whether the server
/// answered 101 (EOF, a reset or a timeout all mean it did not).
pub fn upgrade_accepted(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(IO_TIMEOUT)).is_err() {
        return false;
    }
    let request = format!(
        "GET /v1/ws?token=newcomer HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    match stream.read(&mut head) {
        Ok(n) if n >= 12 => head.starts_with(b"HTTP/1.1 101"),
        _ => false,
    }
}

/// A fresh data directory for a server's store, removed when dropped (the durable
/// tests restart servers on the same one).
#[derive(Debug)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// A new, empty directory under the system's temporary directory.
    pub fn new(name: &str) -> DataDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sb-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the data directory");
        DataDir(dir)
    }

    /// Wraps a directory the test made (it is removed when dropped).
    pub fn at(dir: PathBuf) -> DataDir {
        DataDir(dir)
    }

    /// Its path as a flag value.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
