//! `switchboard`: the command-line entry point of the engine.

use std::io::IsTerminal as _;

use clap::Parser as _;
use switchboard_engine::config::{Cli, Command};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ctl(args) => match switchboard_control_api::run_ctl(*args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("switchboard ctl: {err:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_max_level(args.log_level)
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            match switchboard_engine::node::serve(*args) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!("{err:#}");
                    eprintln!("switchboard: {err:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
