//! A real `redis-server` for the cluster tests: one process per [`RedisServer`], on a
//! free loopback port, with its own temporary directory (for the AOF and its log),
//! killed and the directory removed when dropped.
//!
//! The binary is `REDIS_SERVER`, else `redis-server` on `PATH` (`tests/run-all`
//! installs it and exports `REDIS_SERVER`). Commands go through the `redis` crate's
//! sync API ([`RedisServer::cli`], [`redis_conn`]), not through `redis-cli`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a started (or restarted) server gets to answer `PING`.
pub const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times [`RedisServer::start`] tries another port when the one it picked was
/// taken before redis-server could bind it.
const PORT_ATTEMPTS: usize = 10;

/// A `redis-server` child process on `127.0.0.1:port`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    pid: u32,
    port: u16,
    dir: PathBuf,
    /// `Some(fsync policy)` when the AOF is on.
    aof: Option<String>,
}

/// Where the `redis-server` binary is: `REDIS_SERVER`, else `redis-server` on `PATH`.
/// Panics when there is none.
pub fn redis_server_path() -> PathBuf {
    const MISSING: &str = "redis-server not found: run tests/run-all, which installs it";
    if let Some(path) = std::env::var_os("REDIS_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{MISSING} (REDIS_SERVER={} is not a file)",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{MISSING}"))
}

impl RedisServer {
    /// A server without persistence (`--save '' --appendonly no`): a restart starts
    /// empty.
    pub fn start() -> RedisServer {
        RedisServer::start_on_free_port(None)
    }

    /// A server with the append-only file on (`--appendonly yes --appendfsync <fsync>`,
    /// `always`, `everysec` or `no`) in its own directory: a restart reloads it.
    pub fn start_with_aof(fsync: &str) -> RedisServer {
        RedisServer::start_on_free_port(Some(fsync.to_owned()))
    }

    fn start_on_free_port(aof: Option<String>) -> RedisServer {
        let dir = make_temp_dir();
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                pid: 0,
                port,
                dir: dir.clone(),
                aof: aof.clone(),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Most likely the port was taken between our probe and its bind: the
                // directory is shared, so keep it when `server` is dropped.
                Err(err) => {
                    server.kill();
                    server.dir = PathBuf::new();
                    last_error = err;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server did not start in {PORT_ATTEMPTS} attempts; last: {last_error}");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on (the same across [`restart`](RedisServer::restart)s).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the current (or last) process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its directory (the AOF in `appendonlydir/`, the log in `redis.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process runs (not killed, not exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process with SIGKILL (no shutdown save, no AOF rewrite) and reaps it.
    /// Nothing happens when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (the AOF, when on, is
    /// reloaded) and waits until it answers `PING`. Kills it first if it still runs.
    /// Panics when it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; if something holds it briefly (a closing
        // socket), try again for a little while.
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(err) if Instant::now() >= deadline => {
                    panic!("redis-server did not restart on port {}: {err}", self.port)
                }
                Err(_) => {
                    self.kill();
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Runs one command (`args[0]` is its name) on a new connection and renders the
    /// reply as text: `(nil)` for nil, integers and doubles in decimal, strings as they
    /// are (lossy UTF-8), `OK` for OK, `true`/`false` for booleans, and the elements of
    /// arrays, sets and maps (key then value) one per line. Panics with the command and
    /// the error when it fails (connection or server error).
    pub fn cli(&self, args: &[&str]) -> String {
        assert!(!args.is_empty(), "RedisServer::cli needs a command");
        let mut conn = redis_conn(&self.url());
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        match cmd.query::<redis::Value>(&mut conn) {
            Ok(value) => render(&value),
            Err(err) => panic!("redis command {args:?} on {} failed: {err}", self.url()),
        }
    }

    /// Spawns the process on `self.port` and waits for `PING`; the error says why not
    /// (with the end of its log).
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let bin = redis_server_path();
        let log_path = self.dir.join("redis.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let mut command = Command::new(&bin);
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--daemonize", "no"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--logfile", ""]);
        match &self.aof {
            Some(fsync) => command.args(["--appendonly", "yes", "--appendfsync", fsync]),
            None => command.args(["--appendonly", "no"]),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        // Do not let a tests process that dies without unwinding leave a server behind.
        switchboard_driver::os::kill_child_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        let url = self.url();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "redis-server exited ({status}) on port {}; its log:\n{}",
                        self.port,
                        log_tail(&log_path)
                    ));
                }
            }
            let last = match ping(&url) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server on port {} did not answer PING within {REDIS_READY_TIMEOUT:?} ({last}); its log:\n{}",
                    self.port,
                    log_tail(&log_path)
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A sync connection to `url` with connect, read and write timeouts of
/// [`crate::IO_TIMEOUT`]. Panics with the URL and the error when it cannot connect.
pub fn redis_conn(url: &str) -> redis::Connection {
    let connect = || -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_with_timeout(crate::IO_TIMEOUT)?;
        conn.set_read_timeout(Some(crate::IO_TIMEOUT))?;
        conn.set_write_timeout(Some(crate::IO_TIMEOUT))?;
        Ok(conn)
    };
    connect().unwrap_or_else(|err| panic!("cannot connect to redis at {url}: {err}"))
}

fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    // While the AOF loads, PING answers a LOADING error: not ready yet.
    let answer: String = redis::cmd("PING")
        .query(&mut conn)
        .map_err(|e| e.to_string())?;
    if answer == "PONG" {
        Ok(())
    } else {
        Err(format!("PING answered {answer:?}"))
    }
}

/// The reply as text (see [`RedisServer::cli`]).
fn render(value: &redis::Value) -> String {
    use redis::Value;
    let lines =
        |items: &mut dyn Iterator<Item = &Value>| items.map(render).collect::<Vec<_>>().join("\n");
    match value {
        Value::Nil => "(nil)".to_owned(),
        Value::Int(n) => n.to_string(),
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".to_owned(),
        Value::Double(d) => d.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) | Value::Set(items) => lines(&mut items.iter()),
        Value::Push { data, .. } => lines(&mut data.iter()),
        Value::Map(pairs) => lines(&mut pairs.iter().flat_map(|(k, v)| [k, v])),
        Value::Attribute { data, .. } => render(data),
        other => format!("{other:?}"),
    }
}

/// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
fn free_port() -> u16 {
    for _ in 0..PORT_ATTEMPTS {
        if let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") {
            if let Ok(addr) = listener.local_addr() {
                return addr.port();
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("cannot bind 127.0.0.1:0 to find a free port");
}

/// A new empty directory under the system's temp dir.
pub(crate) fn make_temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-redis-{}-{}-{nanos:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => panic!("cannot create {}: {err}", dir.display()),
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
