//! `tokio-echo-baseline`: the tokio + tokio-tungstenite WebSocket echo server that the
//! engine is measured against (see `bench/README.md`).
//!
//! `tokio-echo-baseline --listen 127.0.0.1:0` prints `listening on ADDR` once the
//! socket is bound. It runs a current-thread runtime (the benchmark pins it to one
//! CPU); `--threads N` (N > 1) runs a multi-thread runtime instead.

use anyhow::Context;
use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A WebSocket echo server on tokio + tokio-tungstenite, the benchmark baseline.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Runtime threads: 1 is a current-thread runtime, more is tokio's multi-thread one.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("building the tokio runtime")?;
    runtime.block_on(async {
        let listener = bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("listening on {addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        switchboard_bench::echo_baseline::serve(listener)
            .await
            .context("accepting connections")
    })
}

/// Binds with a backlog large enough for a benchmark that opens thousands of
/// connections at once (tokio's `TcpListener::bind` uses 1024).
fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
