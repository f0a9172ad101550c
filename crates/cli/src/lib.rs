//! The operator CLI: `runagents <command>`, wire-compatible with the public Go CLI's command
//! tree. Settings (`settings`), the API client (`client`), one module per command group
//! (`commands`), and `output`, the only module that writes to stdout or stderr.

mod client;
mod commands;
mod endpoint;
mod error;
mod input;
mod mcp;
mod output;
mod project;
mod render;
mod settings;

use std::process::ExitCode;

pub use commands::Command;
pub use error::exit;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::{Format, Output};
use crate::settings::{ConfigFile, Overrides, Settings};

/// Text for the top-level `--help`: where settings come from and the exit codes.
pub const AFTER_HELP: &str = "\
Settings: flags, then RUNAGENTS_ENDPOINT / RUNAGENTS_API_KEY / RUNAGENTS_NAMESPACE (the
workspace), then ~/.runagents/config.json (`runagents config set`), then the default endpoint
http://localhost:8092. A key starting ra_ws_ is sent as X-RunAgents-API-Key, any other as a
bearer token.

Exit codes: 0 success; 1 error; 2 invalid command line; 3 not found (HTTP 404);
4 timed out (`runs wait`, `deploy --wait`, or no answer from the server). `dev` exits with
its agent runtime's status.";

/// Flags every command accepts.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Global {
    /// API endpoint [env: RUNAGENTS_ENDPOINT] [default: http://localhost:8092]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// API key: a workspace key (ra_ws_…) or a bearer token [env: RUNAGENTS_API_KEY]
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Workspace: use {endpoint}/api/v1/workspaces/NAME [env: RUNAGENTS_NAMESPACE]
    #[arg(long, global = true, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Output format: table (for people, the default) or json (stable, for scripts)
    #[arg(short = 'o', long = "output", global = true, value_name = "FORMAT")]
    pub output: Option<String>,
}

/// What a command needs: the resolved settings, an API client and the output.
pub struct Ctx {
    pub settings: Settings,
    /// `~/.runagents/config.json`; `None` without HOME.
    pub config_path: Option<std::path::PathBuf>,
    pub out: Output,
    api: Option<Client>,
}

impl Ctx {
    /// The API client; an error if the endpoint or workspace is unusable.
    pub fn api(&self) -> Result<&Client> {
        match (&self.api, self.settings.base_url()) {
            (Some(api), _) => Ok(api),
            (None, Err(error)) => Err(error),
            (None, Ok(base)) => Err(Error::invalid(format!("no API client for {base}"))),
        }
    }
}

/// Runs one CLI command and returns the process exit code. Errors are printed here, once.
pub fn run(global: Global, command: Command) -> ExitCode {
    let out = Output::new(Format::parse(global.output.as_deref()));
    match execute(global, command, &out) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            if !matches!(&error, Error::Exited { message, .. } if message.is_empty()) {
                out.error(&error);
            }
            ExitCode::from(&error)
        }
    }
}

fn execute(global: Global, command: Command, out: &Output) -> Result<()> {
    // Without HOME there is no config file; flags and env still work.
    let config_path = ConfigFile::default_path().ok();
    let file = match &config_path {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let overrides = Overrides {
        endpoint: global.endpoint,
        api_key: global.api_key,
        workspace: global.workspace,
    };
    let settings = Settings::resolve(&overrides, &|name| std::env::var(name).ok(), &file);
    let api = match settings.base_url() {
        Ok(base) => Some(Client::new(&base, &settings.api_key.0)?),
        Err(_) => None,
    };
    let ctx = Ctx {
        settings,
        config_path,
        out: out.clone(),
        api,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unexpected(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(commands::run(command, &ctx))
}
