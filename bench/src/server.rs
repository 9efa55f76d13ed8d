//! What both baseline servers share — runtime, listening socket, accept loop and the
//! `listening on` line — so that they differ only in the WebSocket library.

/// Backlog of every baseline listener: a benchmark opens thousands of connections at
/// once, and tokio's `TcpListener::bind` would use 1024.
pub const BACKLOG: u32 = 4096;

/// Binds `addr` with `SO_REUSEADDR`, `TCP_NODELAY` (accepted sockets inherit it) and
/// a [`BACKLOG`]-deep queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Errors that concern one connection or a passing shortage (ENFILE 23, EMFILE 24),
/// after which accepting should go on.
pub fn is_transient_accept_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || matches!(err.raw_os_error(), Some(23 | 24))
}

/// Accepts the next connection, waiting out transient errors (a short pause after
/// running out of descriptors, so the loop does not spin).
pub async fn accept(listener: &tokio::net::TcpListener) -> std::io::Result<tokio::net::TcpStream> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return Ok(stream),
            Err(err) if is_transient_accept_error(&err) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Prints `listening on ADDR` (the line the bench scripts wait for) and flushes it.
pub fn announce(listener: &tokio::net::TcpListener) -> std::io::Result<()> {
    use std::io::Write;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()
}

/// A current-thread runtime for `threads` ≤ 1 (the benchmarks pin the server to one
/// CPU), tokio's multi-thread runtime with `threads` workers otherwise.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// The flags every baseline server takes.
#[derive(Debug, clap::Parser)]
pub struct BaselineArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Runtime threads: 1 is a current-thread runtime, more is tokio's multi-thread one.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// A baseline binary's whole `main`: parses [`BaselineArgs`] (with `about` as the
/// help text), binds, announces, then runs `serve` on the listener until it fails.
pub fn run_baseline<F, Fut>(about: &'static str, serve: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    use anyhow::Context;
    use clap::{CommandFactory, FromArgMatches};
    let matches = BaselineArgs::command().about(about).get_matches();
    let args = BaselineArgs::from_arg_matches(&matches)?;
    let runtime = runtime(args.threads).context("building the tokio runtime")?;
    runtime.block_on(async {
        let listener = bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
        announce(&listener)?;
        serve(listener).await.context("accepting connections")
    })
}
