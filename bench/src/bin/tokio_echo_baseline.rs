//! `tokio-echo-baseline`: the tokio + tokio-tungstenite WebSocket echo server that the
//! engine is measured against (see `bench/README.md`).
//!
//! `tokio-echo-baseline --listen 127.0.0.1:0` prints `listening on ADDR` once the
//! socket is bound. It runs a current-thread runtime (the benchmark pins it to one
//! CPU); `--threads N` (N > 1) runs a multi-thread runtime instead.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    switchboard_bench::server::run_baseline(
        "A WebSocket echo server on tokio + tokio-tungstenite, the benchmark baseline.",
        switchboard_bench::echo_baseline::serve,
    )
}
