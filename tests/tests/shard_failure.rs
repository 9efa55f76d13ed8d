//! The shard failure policy (docs/design.md, "A shard that fails takes the node down"):
//! a shard that panics stops the whole node at once with exit status 70, so its
//! listener never accepts into a backlog nobody reads; the supervisor restarts it.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use switchboard_tests::Server;

#[test]
fn a_panicking_shard_stops_the_node_with_status_70_and_its_port_refuses() {
    let mut server = Server::start(&["--shards", "2", "--inject-shard-panic", "1:1500"]);
    let addr = server.addr();
    assert_eq!(server.health()["status"], "ok");
    let started = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("the node exits after its shard panicked");
    assert_eq!(status.code(), Some(70), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = server.stderr_so_far();
    assert!(
        log.contains("shard 1 stopped because it panicked: injected fault"),
        "{log}"
    );
    // Nothing is left listening: connects are refused, not queued into a dead backlog
    // (the kernel tears an io_uring's listener down asynchronously, within about half a
    // second of the exit: machine.md).
    let refused = switchboard_tests::wait_for(Duration::from_secs(5), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .is_err()
            .then_some(())
    });
    assert!(
        refused.is_some(),
        "the port still accepts 5 s after the node stopped"
    );
}
