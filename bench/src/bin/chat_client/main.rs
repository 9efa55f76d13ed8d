//! `chat-client`: an independent chat load client on tokio + tokio-tungstenite. It
//! shares no code with the engine, its driver or the bundled loadgen (only the echo
//! client's connection opener), so what it measures cannot owe anything to a client
//! built from the server's own parts.
//!
//! `--agents` agents log in (dev tokens `agent:<prefix>aN`) and go online with a
//! capacity that takes every visitor; `--visitors` visitors (`<prefix>vN`) send `start`
//! and wait until they are assigned. Then every visitor sends lines to its agent at
//! `--rate / --visitors` lines per second for `--duration`. Each line's body carries its
//! send time and its number in the conversation, so the agent side times it (send to
//! delivery) and checks the conversation's order with no state shared with the sender.
//! The report gives the whole run's delivery latency and its p99 per `--slice`, so a
//! stall — for example when every conversation's history crosses a size boundary at
//! the same moment — shows as a slice whose p99 stands out; plus the server's CPU and
//! RSS when `--server-pid` is given. Exit status: 0 clean, 1 when a line was lost,
//! duplicated or reordered, 2 when the run could not be carried out.

#![forbid(unsafe_code)]

#[path = "../echo_client/connect.rs"]
#[allow(dead_code)]
mod connect;
mod run;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Independent chat load client (tokio + tokio-tungstenite).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Chat endpoint, e.g. ws://127.0.0.1:8080/v1/ws.
    #[arg(long)]
    url: String,
    /// Visitors (one conversation each).
    #[arg(long, default_value_t = 1000)]
    visitors: u32,
    /// Agents; the visitors are spread over them.
    #[arg(long, default_value_t = 20)]
    agents: u32,
    /// Lines per second over all conversations (visitor to agent).
    #[arg(long, default_value_t = 20_000)]
    rate: u32,
    /// How long lines are sent.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long to wait for the last deliveries after the sending stops.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Width of the slices the p99 is reported for.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    slice: Duration,
    /// Body bytes per line (at least 32).
    #[arg(long, default_value_t = 40)]
    size: usize,
    /// User ids start with this.
    #[arg(long, default_value = "cc-")]
    prefix: String,
    /// The server's process id: its CPU and RSS over the run.
    #[arg(long)]
    server_pid: Option<i32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = run::Config {
        url: args.url,
        visitors: args.visitors.max(1),
        agents: args.agents.max(1),
        rate: args.rate.max(1),
        duration: args.duration,
        drain: args.drain,
        slice: args.slice.max(Duration::from_millis(10)),
        size: args.size.max(32),
        prefix: args.prefix,
        server_pid: args.server_pid,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chat-client: building the tokio runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(&config)) {
        Ok(report) => {
            report.print(args.json);
            if report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("chat-client: {err:#}");
            ExitCode::from(2)
        }
    }
}
