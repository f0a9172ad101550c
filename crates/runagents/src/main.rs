//! The `runagents` binary. `runagents serve` runs the whole platform.

mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "runagents",
    version,
    about = "Run AI agents with every action under policy, approval and consent."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: the operator API and the agent plane.
    Serve(serve::Options),
    /// Print the version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(options) => serve::run(options),
        Command::Version => {
            use std::io::Write;
            writeln!(std::io::stdout(), "runagents {}", env!("CARGO_PKG_VERSION"))?;
            Ok(())
        }
    }
}
