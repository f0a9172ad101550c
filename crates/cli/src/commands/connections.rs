//! `runagents connections list|revoke`: users' delegated OAuth connections to tools.

use clap::Subcommand;

use super::items;
use crate::Ctx;
use crate::client::{query, segment};
use crate::error::Result;
use crate::render::{Table, pick, relative_time};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List the users' OAuth connections (never their tokens)
    List {
        /// Only this user's connections
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a user's connection to a tool (at the provider too, when it supports that);
    /// the agent asks the user to connect again next time
    Revoke {
        /// The tool
        tool: String,
        /// Whose connection
        #[arg(long)]
        user: String,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List { user } => {
            let path = format!(
                "/oauth/connections{}",
                query(&[("user_id", user.unwrap_or_default())])
            );
            let connections = api.get(&path).await?;
            let now = runagents_domain::Timestamp::now();
            ctx.out.either(&connections, |out| {
                let mut table = Table::new(&["TOOL", "USER", "SCOPE", "CONNECTED", "TOKEN EXPIRES"]);
                for connection in items(&connections) {
                    table.row(vec![
                        pick(connection, &["tool"]).into(),
                        pick(connection, &["user_id"]).into(),
                        pick(connection, &["scope"]).into(),
                        relative_time(&pick(connection, &["created_at"]), now).into(),
                        relative_time(&pick(connection, &["expires_at"]), now).into(),
                    ]);
                }
                out.table(
                    &table,
                    "No connections. Users connect when an agent first calls an OAuth2 tool for them.",
                )
            })
        }
        Cmd::Revoke { tool, user } => {
            let path = format!(
                "/oauth/connections/{}{}",
                segment(&tool),
                query(&[("user_id", user.clone())])
            );
            let answer = api.delete(&path).await?;
            ctx.out.either(&answer, |out| {
                out.done(&format!("connection of {user:?} to {tool:?} revoked"))
            })
        }
    }
}
