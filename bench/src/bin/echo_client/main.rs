//! `echo-client`: an independent closed-loop WebSocket echo client on tokio +
//! tokio-tungstenite. It shares no code with the engine, its io_uring driver or the
//! bundled loadgen, so a figure measured with it cannot owe anything to a client built
//! by the same hands as the server.
//!
//! N connections each keep `--inflight` binary messages of `--size` bytes in flight;
//! every reply is checked (content, connection, sequence: loss, duplicates, order).
//! After `--warmup` the replies of a `--duration` window are counted, and the client's
//! own CPU and (with `--server-pid`) the server's are read from /proc over that same
//! window. Exit status: 0 clean, 1 when anything was lost, duplicated, reordered,
//! corrupt or a connection failed, 2 when the run could not be carried out.

#![forbid(unsafe_code)]

mod connect;
mod cpu;
mod report;
mod traffic;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Independent closed-loop WebSocket echo client (tokio + tokio-tungstenite).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Echo endpoint, e.g. ws://127.0.0.1:8080/echo.
    #[arg(long)]
    url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 100)]
    connections: u32,
    /// Messages each connection keeps in flight.
    #[arg(long, default_value_t = 1)]
    inflight: u32,
    /// Payload bytes per binary message (at least 20).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Checked traffic before the measured window.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// The measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long to wait for the last replies after the window.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Connection attempts (TCP connect + upgrade) in progress at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// How long opening every connection may take.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
    /// tungstenite's read buffer per connection (its default, 128 KiB, stays resident).
    #[arg(long, default_value_t = 4096)]
    read_buffer_bytes: usize,
    /// Largest reply accepted.
    #[arg(long, default_value_t = 1 << 20)]
    max_message_bytes: usize,
    /// The server's process id: its CPU (utime+stime) over the measured window.
    #[arg(long)]
    server_pid: Option<i32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn config(&self) -> traffic::Config {
        traffic::Config {
            connections: self.connections,
            inflight: self.inflight.max(1),
            size: self.size,
            warmup: self.warmup,
            duration: self.duration,
            drain: self.drain,
            connect: connect::Config {
                url: self.url.clone(),
                concurrency: self.connect_concurrency.max(1),
                timeout: self.connect_timeout,
                read_buffer_bytes: self.read_buffer_bytes,
                max_message_bytes: self.max_message_bytes,
            },
            server_pid: self.server_pid,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = args.config();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("echo-client: building the tokio runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(traffic::run(&config)) {
        Ok(report) => {
            report.print(args.json);
            if report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("echo-client: {err:#}");
            ExitCode::from(2)
        }
    }
}
