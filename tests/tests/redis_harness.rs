//! The `RedisServer` harness itself: a real redis-server on a free port, killed with
//! SIGKILL and restarted on the same port, with and without an append-only file.

use std::panic::{catch_unwind, AssertUnwindSafe};

use switchboard_tests::redis::Commands;
use switchboard_tests::{redis_conn, RedisServer};

fn alive(pid: u32) -> bool {
    // Signal 0 only checks that the process exists.
    switchboard_driver::os::send_signal(pid, 0).is_ok()
}

#[test]
fn set_get_kill_and_restart_without_persistence() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}/"));
    assert_eq!(redis.cli(&["PING"]), "PONG");
    assert_eq!(redis.cli(&["SET", "greeting", "hello"]), "OK");
    assert_eq!(redis.cli(&["GET", "greeting"]), "hello");
    assert_eq!(redis.cli(&["GET", "missing"]), "(nil)");
    assert_eq!(redis.cli(&["RPUSH", "list", "a", "b"]), "2");
    assert_eq!(redis.cli(&["LRANGE", "list", "0", "-1"]), "a\nb");

    let mut conn = redis_conn(&redis.url());
    let value: String = conn.get("greeting").unwrap();
    assert_eq!(value, "hello");
    let () = conn.set("n", 41).unwrap();
    let n: i64 = conn.incr("n", 1).unwrap();
    assert_eq!(n, 42);

    let first_pid = redis.pid();
    assert!(alive(first_pid));
    redis.kill();
    assert!(!alive(first_pid), "redis-server {first_pid} still runs");
    assert!(!redis.is_running());
    assert!(redis::cmd("PING").query::<String>(&mut conn).is_err());

    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), first_pid);
    assert!(redis.is_running());
    // `--save '' --appendonly no`: nothing survives a kill.
    assert_eq!(redis.cli(&["GET", "greeting"]), "(nil)");
    assert_eq!(redis.cli(&["DBSIZE"]), "0");
}

#[test]
fn aof_always_survives_sigkill() {
    let mut redis = RedisServer::start_with_aof("always");
    let port = redis.port();
    assert_eq!(
        redis.cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nyes"
    );
    assert_eq!(
        redis.cli(&["CONFIG", "GET", "appendfsync"]),
        "appendfsync\nalways"
    );
    assert_eq!(redis.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(redis.cli(&["HSET", "h", "f1", "1", "f2", "2"]), "2");
    assert_eq!(redis.cli(&["INCRBY", "counter", "7"]), "7");

    let first_pid = redis.pid();
    redis.kill();
    assert!(!alive(first_pid));
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), first_pid);

    assert_eq!(redis.cli(&["GET", "k"]), "v");
    assert_eq!(redis.cli(&["HGET", "h", "f2"]), "2");
    assert_eq!(redis.cli(&["GET", "counter"]), "7");
    let mut conn = redis_conn(&redis.url());
    let len: usize = conn.hlen("h").unwrap();
    assert_eq!(len, 2);

    // And once more, with writes made after the first restart.
    assert_eq!(redis.cli(&["INCR", "counter"]), "8");
    redis.restart();
    assert_eq!(redis.cli(&["GET", "counter"]), "8");
}

#[test]
fn servers_run_side_by_side_and_drop_cleans_up() {
    let a = RedisServer::start();
    let b = RedisServer::start_with_aof("everysec");
    assert_ne!(a.port(), b.port());
    a.cli(&["SET", "who", "a"]);
    b.cli(&["SET", "who", "b"]);
    assert_eq!(a.cli(&["GET", "who"]), "a");
    assert_eq!(b.cli(&["GET", "who"]), "b");

    let (pid, dir) = (b.pid(), b.dir().to_path_buf());
    assert!(dir.is_dir());
    drop(b);
    assert!(!alive(pid), "redis-server {pid} outlived its RedisServer");
    assert!(!dir.exists(), "{} was not removed", dir.display());
    assert_eq!(a.cli(&["GET", "who"]), "a");
}

#[test]
fn cli_panics_with_the_command_and_the_error() {
    let redis = RedisServer::start();
    let panic = catch_unwind(AssertUnwindSafe(|| redis.cli(&["NOSUCHCOMMAND", "x"])))
        .expect_err("an unknown command must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("NOSUCHCOMMAND") && message.contains("unknown command"),
        "{message}"
    );
}
