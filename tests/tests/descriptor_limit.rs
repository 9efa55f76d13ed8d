//! At the descriptor limit the shard backs off instead of spinning (issue #20): with
//! the process held at its limit for 5 s it uses under 5 % of a core and logs a bounded
//! number of lines, and it accepts again once descriptors are free.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use switchboard_tests::{wait_for, Server};

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn at_the_descriptor_limit_the_shard_idles_and_recovers() {
    let server = Server::try_start_under(
        &["prlimit", "--nofile=96:96"],
        &["--shards", "1", "--log-level", "warn"],
    )
    .expect("the server starts under a low descriptor limit");
    let addr = server.addr();
    // More connections than the process may hold: the rest wait in the backlog.
    let mut clients: Vec<TcpStream> = (0..140)
        .map(|_| TcpStream::connect(addr).expect("connect (the kernel completes it)"))
        .collect();
    let at_limit = wait_for(Duration::from_secs(10), || {
        server
            .stderr_so_far()
            .contains("accept paused at a resource limit")
            .then_some(())
    });
    assert!(
        at_limit.is_some(),
        "never reached the limit: {}",
        server.stderr_so_far()
    );
    let (before, started) = (cpu_ticks(server.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let ticks = cpu_ticks(server.pid()) - before;
    let per_second = ticks as f64 / started.elapsed().as_secs_f64();
    // 100 ticks per second is one core.
    assert!(
        per_second < 5.0,
        "{per_second} ticks/s (over 5 % of a core) at the limit"
    );
    let log = server.stderr_so_far();
    let lines = log.matches("accept paused").count();
    assert!(lines <= 3, "{lines} log lines in 5 s at the limit:\n{log}");
    // Descriptors freed: the backlog drains and a new request is answered.
    clients.clear();
    let recovered = wait_for(Duration::from_secs(15), || {
        let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        switchboard_tests::http_exchange(addr, request.as_bytes())
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(
        recovered.is_some(),
        "no accept after descriptors were freed"
    );
}
