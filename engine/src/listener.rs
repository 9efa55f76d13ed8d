//! The shards' listeners: one SO_REUSEPORT socket per shard on the same address, made
//! with socket2 so their descriptors can later be handed to an eBPF steering program.

use std::net::SocketAddr;

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` listeners on `addr`. With port 0 the first one picks a free port and
/// the others join it. Returns the sockets and the address actually bound.
pub fn bind_group(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> anyhow::Result<(Vec<Socket>, SocketAddr)> {
    let mut bound = addr;
    let mut sockets = Vec::with_capacity(count);
    for index in 0..count {
        let socket = bind_one(bound, backlog)
            .with_context(|| format!("binding listener {index} on {bound}"))?;
        if index == 0 {
            bound = socket
                .local_addr()
                .context("reading the bound address")?
                .as_socket()
                .context("listener address is not an inet address")?;
        }
        sockets.push(socket);
    }
    Ok((sockets, bound))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Accepted sockets inherit it: chat frames are small and must not wait for Nagle.
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}
