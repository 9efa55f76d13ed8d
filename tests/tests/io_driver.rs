//! `--io-driver`: where io_uring is refused (here by a seccomp filter like Docker's
//! default profile), `auto` says so in one line and serves on epoll; `io-uring`
//! refuses to start with a clear message; `/health` names the driver.

use switchboard_tests::{assert_echo, ws_connect, Server};

const REFUSE_IO_URING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/seccomp/refuse-io-uring");

#[test]
fn auto_serves_on_epoll_where_a_seccomp_filter_refuses_io_uring() {
    let server = Server::try_start_under(
        &[REFUSE_IO_URING],
        &["--shards", "2", "--io-driver", "auto"],
    )
    .expect("auto starts under the filter");
    assert_eq!(server.health()["io_driver"], "epoll", "{}", server.health());
    let (mut ws, _) = ws_connect(&server.ws_url("/echo"), &[]);
    assert_echo(&mut ws, tungstenite::Message::text("through epoll"));
    let log = server.stderr_so_far();
    let lines = log
        .lines()
        .filter(|l| l.contains("io_uring is refused"))
        .count();
    assert_eq!(lines, 1, "one clear line, not one per shard:\n{log}");
    assert!(log.contains("epoll"), "{log}");
}

#[test]
fn io_uring_only_refuses_to_start_where_it_is_refused() {
    let err = Server::try_start_under(&[REFUSE_IO_URING], &["--io-driver", "io-uring"])
        .expect_err("io-uring under the filter does not start");
    let text = format!("{err:#}");
    assert!(text.contains("I/O driver setup failed"), "{text}");
}

#[test]
fn health_names_the_driver_it_runs() {
    let epoll = Server::start(&["--shards", "1", "--io-driver", "epoll"]);
    assert_eq!(epoll.health()["io_driver"], "epoll");
    let auto = Server::start(&["--shards", "1", "--io-driver", "auto"]);
    assert_eq!(
        auto.health()["io_driver"],
        "io_uring",
        "io_uring is allowed here"
    );
}
