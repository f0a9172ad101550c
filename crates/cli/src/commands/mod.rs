//! The command tree (the public Go CLI's, plus `--workspace`), one module per group. Each
//! command makes its API calls through `Ctx::api` and writes only through `Ctx::out`.

mod agents;
pub(crate) mod approvals;
pub(crate) mod catalog;
mod config;
mod connections;
pub(crate) mod connectors;
mod deploy;
mod dev;
pub(crate) mod identity_providers;
mod init;
mod models;
mod plans;
pub(crate) mod policies;
pub(crate) mod runs;
mod tools;
pub(crate) mod workspace;

use clap::Subcommand;
use serde_json::Value;

use crate::Ctx;
use crate::error::{Error, Result};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Deploy an agent from source files or an image
    Deploy(deploy::Args),
    /// Manage deployed agents
    #[command(subcommand)]
    Agents(agents::Cmd),
    /// Manage tools (the external APIs agents may call)
    #[command(subcommand)]
    Tools(tools::Cmd),
    /// Manage model providers and see model spend
    #[command(subcommand)]
    Models(models::Cmd),
    /// Manage governance policies
    #[command(subcommand)]
    Policies(policies::Cmd),
    /// List, approve and reject access requests
    #[command(subcommand)]
    Approvals(approvals::Cmd),
    /// Follow agent runs, their events and timelines
    #[command(subcommand)]
    Runs(runs::Cmd),
    /// Manage approval routing connectors (Slack, webhooks, …)
    #[command(subcommand)]
    ApprovalConnectors(connectors::Cmd),
    /// Manage the workspace's identity providers (end-user JWT validation)
    #[command(subcommand)]
    IdentityProviders(identity_providers::Cmd),
    /// Users' delegated OAuth connections to tools: list, revoke
    #[command(subcommand)]
    Connections(connections::Cmd),
    /// Browse and deploy catalog agents
    #[command(subcommand)]
    Catalog(catalog::Cmd),
    /// Validate or apply an action plan
    #[command(subcommand, visible_alias = "action")]
    Actions(plans::Cmd),
    /// Analyze source code: tools, models and secrets it uses
    Analyze(workspace::AnalyzeArgs),
    /// Seed demo resources: the echo tool and a playground model provider
    StarterKit,
    /// Export the workspace's context for assistants
    #[command(subcommand)]
    Context(workspace::ContextCmd),
    /// View or set the CLI's configuration (~/.runagents/config.json)
    #[command(subcommand)]
    Config(config::Cmd),
    /// Create an agent project: agent.py, runagents.yaml, requirements.txt, AGENTS.md
    Init(init::Args),
    /// Run the agent project in this directory locally, with a mock tool server
    Dev(dev::Args),
    /// Serve the platform's tools to a coding assistant over MCP (stdio)
    Mcp,
    /// Print the version
    Version,
}

pub(crate) async fn run(command: Command, ctx: &Ctx) -> Result<()> {
    match command {
        Command::Deploy(args) => deploy::run(args, ctx).await,
        Command::Agents(cmd) => agents::run(cmd, ctx).await,
        Command::Tools(cmd) => tools::run(cmd, ctx).await,
        Command::Models(cmd) => models::run(cmd, ctx).await,
        Command::Policies(cmd) => policies::run(cmd, ctx).await,
        Command::Approvals(cmd) => approvals::run(cmd, ctx).await,
        Command::Runs(cmd) => runs::run(cmd, ctx).await,
        Command::ApprovalConnectors(cmd) => connectors::run(cmd, ctx).await,
        Command::IdentityProviders(cmd) => identity_providers::run(cmd, ctx).await,
        Command::Connections(cmd) => connections::run(cmd, ctx).await,
        Command::Catalog(cmd) => catalog::run(cmd, ctx).await,
        Command::Actions(cmd) => plans::run(cmd, ctx).await,
        Command::Analyze(args) => workspace::analyze(args, ctx).await,
        Command::StarterKit => workspace::starter_kit(ctx).await,
        Command::Context(cmd) => workspace::context(cmd, ctx).await,
        Command::Config(cmd) => config::run(cmd, ctx),
        Command::Init(args) => init::run(args, ctx),
        Command::Dev(args) => dev::run(args, ctx).await,
        Command::Mcp => crate::mcp::serve(ctx).await,
        Command::Version => ctx
            .out
            .line(&format!("runagents {}", env!("CARGO_PKG_VERSION"))),
    }
}

/// The items of a list answer (`[]` if the server sent something else).
pub(crate) fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// `<name>` or the public CLI's `<namespace> <name>` (the namespace is ignored: the workspace
/// comes from the endpoint).
#[derive(clap::Args, Debug, Clone)]
pub struct NameArgs {
    /// NAME, or NAMESPACE NAME
    #[arg(num_args = 1..=2, required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl NameArgs {
    pub(crate) fn name(&self) -> &str {
        self.names.last().map_or("", String::as_str)
    }
}

/// Prints the delete answer: `{"status":"deleted"}` as JSON, or a confirmation.
pub(crate) fn deleted(ctx: &Ctx, what: &str, name: &str, answer: &Value) -> Result<()> {
    ctx.out
        .either(answer, |out| out.done(&format!("{what} {name:?} deleted")))
}

/// A required string field of a document read from a file.
pub(crate) fn required<'a>(document: &'a Value, path: &str, what: &str) -> Result<&'a str> {
    path.split('.')
        .try_fold(document, |current, key| current.get(key))
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| Error::invalid(format!("{what}: {path} is required")))
}
