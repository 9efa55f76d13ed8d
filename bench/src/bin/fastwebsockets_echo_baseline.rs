//! `fastwebsockets-echo-baseline`: the second baseline, a WebSocket echo server on
//! fastwebsockets (upgraded through hyper), with the same flags and start-up line as
//! `tokio-echo-baseline` (see `bench/README.md`).
//!
//! `fastwebsockets-echo-baseline --listen 127.0.0.1:0` prints `listening on ADDR`
//! once the socket is bound; `--threads N` (N > 1) runs tokio's multi-thread runtime.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    switchboard_bench::server::run_baseline(
        "A WebSocket echo server on tokio + fastwebsockets, the second benchmark baseline.",
        switchboard_bench::fast_echo::serve,
    )
}
