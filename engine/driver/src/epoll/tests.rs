//! epoll-only behaviour: nothing armed means nothing reported, even for a socket the
//! peer hung up on (which epoll would otherwise report forever).

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::*;

#[test]
fn a_hung_up_socket_with_nothing_armed_is_not_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (socket, _) = listener.accept().unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut epoll = Epoll::new(&DriverConfig::default()).unwrap();
    let fd = socket.as_raw_fd();
    epoll.recv_multi(fd, 2);
    drop(peer);
    let mut out = Vec::new();
    while !out.iter().any(|c| {
        matches!(
            c,
            Completion::RecvStopped {
                end: RecvEnd::Eof,
                ..
            }
        )
    }) {
        epoll.wait(&mut out, false).unwrap();
    }
    assert_eq!(epoll.fds[fd as usize].interest, 0, "still in the epoll set");
    out.clear();
    epoll.tick_every(Duration::from_millis(30), 5);
    epoll.wait(&mut out, false).unwrap();
    assert!(
        out.iter().all(|c| matches!(c, Completion::Tick { .. })),
        "reported without anything armed: {out:?}"
    );
}
