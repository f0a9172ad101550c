//! The `runagents` binary. `runagents serve` runs the whole platform; every other command is
//! the operator CLI (`runagents_cli`), talking to a platform over HTTP.

mod agent_threads;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Per-thread heaps: no allocator lock shared by the runtime's threads (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "runagents",
    version,
    about = "Run AI agents with every action under policy, approval and consent.",
    after_help = runagents_cli::AFTER_HELP,
    arg_required_else_help = true
)]
struct Cli {
    #[command(flatten)]
    global: runagents_cli::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: the operator API and the agent plane.
    Serve(serve::Options),
    #[command(flatten)]
    Operator(runagents_cli::Command),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(options) => {
            serve::run(options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(command) => Ok(runagents_cli::run(cli.global, command)),
    }
}
