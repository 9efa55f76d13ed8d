//! Helpers shared by the kernel tests: the privilege check, SO_REUSEPORT listener
//! groups on loopback, connecting and counting, and network namespace pairs.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::{
    fs::File,
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    os::fd::AsRawFd as _,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Returns `true` when this process may load and attach BPF programs. Otherwise it
/// prints why the test is skipped and returns `false` — except in CI (`CI` set),
/// where the kernel tests must run, so it panics.
pub fn privileged(test: &str) -> bool {
    let reason = missing_privilege();
    match reason {
        None => true,
        Some(reason) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("{test}: cannot run in CI: {reason}")
        }
        Some(reason) => {
            skipped(test, &reason);
            false
        }
    }
}

/// Says a test is skipped and why, on the real stderr: the test harness captures
/// `eprintln!`, which would hide the reason of a test that passes.
pub fn skipped(test: &str, reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(io::stderr(), "SKIPPED {test}: {reason}");
}

fn missing_privilege() -> Option<String> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_BPF: u32 = 39;
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => status,
        Err(error) => return Some(format!("cannot read /proc/self/status: {error}")),
    };
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| effective & (1 << cap) != 0;
    if !(has(CAP_BPF) || has(CAP_SYS_ADMIN)) {
        return Some("not root and no CAP_BPF".to_owned());
    }
    if !has(CAP_NET_ADMIN) {
        return Some("no CAP_NET_ADMIN".to_owned());
    }
    None
}

/// `count` SO_REUSEPORT listeners on one free port of `ip`, non-blocking.
pub fn listener_group(ip: IpAddr, count: usize) -> (Vec<Socket>, SocketAddr) {
    let mut addr = SocketAddr::new(ip, 0);
    let mut sockets = Vec::with_capacity(count);
    for index in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .expect("socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket.set_reuse_port(true).expect("SO_REUSEPORT");
        socket.bind(&addr.into()).expect("bind");
        socket.listen(4096).expect("listen");
        socket.set_nonblocking(true).expect("non-blocking");
        if index == 0 {
            addr = socket
                .local_addr()
                .expect("local_addr")
                .as_socket()
                .expect("inet");
        }
        sockets.push(socket);
    }
    (sockets, addr)
}

/// One connection attempt from `source` (port chosen by the kernel) with a timeout.
pub fn connect_from(source: IpAddr, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    socket.connect_timeout(&to.into(), timeout)?;
    Ok(socket.into())
}

/// Outcome of a series of connection attempts.
#[derive(Debug, Default)]
pub struct Attempts {
    pub admitted: usize,
    pub refused: usize,
    pub timed_out: usize,
}

/// `count` connection attempts from `source`, each closed once established.
pub fn attempt(source: IpAddr, to: SocketAddr, count: usize, timeout: Duration) -> Attempts {
    let mut attempts = Attempts::default();
    for _ in 0..count {
        record(&mut attempts, connect_from(source, to, timeout));
    }
    attempts
}

pub fn record(attempts: &mut Attempts, result: io::Result<TcpStream>) {
    match result {
        Ok(_) => attempts.admitted += 1,
        Err(error) if error.kind() == io::ErrorKind::TimedOut => attempts.timed_out += 1,
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => attempts.refused += 1,
        Err(error) => panic!("connect: unexpected error {error}"),
    }
}

/// Accepts everything waiting on each listener until `expected` connections in total
/// were accepted (or 5 s passed) and returns how many each listener accepted.
pub fn accept_all(listeners: &[Socket], expected: usize) -> Vec<usize> {
    let mut accepted = vec![0; listeners.len()];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for (index, listener) in listeners.iter().enumerate() {
            loop {
                match listener.accept() {
                    Ok(_) => accepted[index] += 1,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => panic!("accept on listener {index}: {error}"),
                }
            }
        }
        if accepted.iter().sum::<usize>() >= expected || Instant::now() > deadline {
            return accepted;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

pub fn raw_fds(sockets: &[Socket]) -> Vec<std::os::fd::RawFd> {
    sockets.iter().map(|socket| socket.as_raw_fd()).collect()
}

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Two network namespaces joined by a veth pair: `a` has `ADDR_A` on `veth_a`, `b`
/// has `ADDR_B` on `veth_b`. Dropping it deletes both namespaces (and the veths).
#[derive(Debug)]
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub veth_a: String,
    pub veth_b: String,
}

pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

impl NetnsPair {
    pub fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // The guard exists before the first namespace, so a failure part way through
        // still deletes whatever was made.
        let pair = Self {
            a: format!("sbtest-{id}-a"),
            b: format!("sbtest-{id}-b"),
            veth_a: format!("sbva{id}"),
            veth_b: format!("sbvb{id}"),
        };
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link",
            "add",
            "name",
            &pair.veth_a,
            "netns",
            &pair.a,
            "type",
            "veth",
            "peer",
            "name",
            &pair.veth_b,
            "netns",
            &pair.b,
        ]);
        for (ns, veth, addr) in [
            (&pair.a, &pair.veth_a, ADDR_A),
            (&pair.b, &pair.veth_b, ADDR_B),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", veth]);
            ip(&["-n", ns, "link", "set", "dev", veth, "up"]);
            ip(&["-n", ns, "link", "set", "dev", "lo", "up"]);
        }
        pair
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `f` on a thread that entered network namespace `name`; sockets it creates
/// belong to that namespace wherever they are used afterwards.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    let file = File::open(format!("/run/netns/{name}")).expect("open the namespace");
    thread::scope(|scope| {
        scope
            .spawn(move || {
                switchboard_driver::os::enter_network_namespace(&file).expect("setns");
                f()
            })
            .join()
            .expect("namespace thread panicked")
    })
}
