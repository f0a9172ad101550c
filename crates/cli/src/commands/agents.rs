//! `runagents agents list|get|delete|config get|config update|logs`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::models::{usage_table, usd};
use super::{NameArgs, deleted, items};
use crate::Ctx;
use crate::client::{query, segment};
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, Table, pick, status_word};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List deployed agents
    List,
    /// Show one agent
    Get(NameArgs),
    /// Delete an agent's deployment
    Delete(NameArgs),
    /// Show or change an agent's models, budgets, tools, policies and prompt
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Print an agent's logs
    Logs {
        name: String,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Show the editable config, model budgets and this month's spend
    Get(NameArgs),
    /// Partially update the config from a JSON or YAML file (only the keys it holds change)
    Update {
        #[command(flatten)]
        target: NameArgs,
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let agents = api.get("/agents").await?;
            ctx.out.either(&agents, |out| {
                let mut table =
                    Table::new(&["NAME", "STATUS", "MODE", "MODEL", "TOOLS", "CREATED"]);
                for agent in items(&agents) {
                    table.row(vec![
                        pick(agent, &["name", "metadata.name"]).into(),
                        Cell::status(status_word(agent)),
                        pick(agent, &["spec.executionMode", "image"]).into(),
                        model(agent).into(),
                        pick(agent, &["required_tools", "spec.requiredTools"]).into(),
                        out.time(&pick(agent, &["created_at", "metadata.creationTimestamp"])),
                    ]);
                }
                out.table(
                    &table,
                    "No agents. Deploy one with `runagents deploy --name NAME --file agent.py`.",
                )
            })
        }
        Cmd::Get(target) => {
            let agent = api
                .get(&format!("/agents/{}", segment(target.name())))
                .await?;
            ctx.out.either(&agent, |out| show(out, &agent))
        }
        Cmd::Delete(target) => {
            let name = target.name();
            let answer = api.delete(&format!("/agents/{}", segment(name))).await?;
            deleted(ctx, "agent", name, &answer)
        }
        Cmd::Config(ConfigCmd::Get(target)) => {
            let config = api
                .get(&format!("/agents/{}/config", segment(target.name())))
                .await?;
            ctx.out.either(&config, |out| show_config(out, &config))
        }
        Cmd::Config(ConfigCmd::Update { target, file }) => {
            let changes = input::read_document(&file)?;
            if !changes.is_object() {
                return Err(Error::file(
                    &file,
                    "the config update must be a JSON or YAML object",
                ));
            }
            let name = target.name();
            let config = api
                .put(&format!("/agents/{}/config", segment(name)), changes)
                .await?;
            ctx.out.either(&config, |out| {
                out.done(&format!("agent {name:?} config updated"))?;
                show_config(out, &config)
            })
        }
        Cmd::Logs { name, tail } => {
            let tail = tail.map(|n| n.to_string()).unwrap_or_default();
            let logs = api
                .get(&format!(
                    "/agents/{}/logs{}",
                    segment(&name),
                    query(&[("tail", tail)])
                ))
                .await?;
            ctx.out.either(&logs, |out| print_logs(out, &logs))
        }
    }
}

/// `provider/model` of the agent's main model.
fn model(agent: &Value) -> String {
    let provider = pick(agent, &["llm_config.provider", "spec.llmConfig.provider"]);
    let model = pick(agent, &["llm_config.model", "spec.llmConfig.model"]);
    match (provider.is_empty(), model.is_empty()) {
        (_, true) => String::new(),
        (true, false) => model,
        (false, false) => format!("{provider}/{model}"),
    }
}

/// The first line of a prompt, shortened for one line of output.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let short: String = line.chars().take(72).collect();
    if short.len() < line.len() || text.lines().nth(1).is_some() {
        format!("{short}…")
    } else {
        short
    }
}

fn show(out: &Output, agent: &Value) -> Result<()> {
    out.fields(&[
        ("Name", Cell::plain(pick(agent, &["name", "metadata.name"]))),
        ("Workspace", Cell::plain(pick(agent, &["namespace"]))),
        ("Status", Cell::status(status_word(agent))),
        (
            "Status message",
            Cell::plain(pick(agent, &["status.message"])),
        ),
        (
            "Execution",
            Cell::plain(pick(agent, &["spec.executionMode"])),
        ),
        ("Framework", Cell::plain(pick(agent, &["spec.framework"]))),
        (
            "Entry point",
            Cell::plain(pick(agent, &["spec.entryPoint"])),
        ),
        (
            "Source files",
            Cell::plain(pick(agent, &["spec.sourceFiles"])),
        ),
        ("Image", Cell::plain(pick(agent, &["image", "spec.image"]))),
        ("Model", Cell::plain(model(agent))),
        (
            "Tools",
            Cell::plain(pick(agent, &["required_tools", "spec.requiredTools"])),
        ),
        ("Policies", Cell::plain(pick(agent, &["spec.policies"]))),
        (
            "Identity provider",
            Cell::plain(pick(agent, &["spec.identityProvider"])),
        ),
        (
            "System prompt",
            Cell::plain(first_line(&pick(
                agent,
                &["system_prompt", "spec.systemPrompt"],
            ))),
        ),
        (
            "Created",
            out.time(&pick(agent, &["created_at", "metadata.creationTimestamp"])),
        ),
        ("Updated", out.time(&pick(agent, &["updated_at"]))),
    ])
}

fn show_config(out: &Output, config: &Value) -> Result<()> {
    out.fields(&[
        ("Agent", Cell::plain(pick(config, &["agent_name"]))),
        ("Workspace", Cell::plain(pick(config, &["namespace"]))),
        ("Runtime", Cell::plain(pick(config, &["runtime"]))),
        ("Image", Cell::plain(pick(config, &["image"]))),
        ("Tools", Cell::plain(pick(config, &["required_tools"]))),
        ("Policies", Cell::plain(pick(config, &["policies"]))),
        (
            "Identity provider",
            Cell::plain(pick(config, &["identity_provider"])),
        ),
        (
            "System prompt",
            Cell::plain(first_line(&pick(config, &["system_prompt"]))),
        ),
    ])?;
    let models = items(&config["llm_configs"]);
    if !models.is_empty() {
        let mut table = Table::new(&["ROLE", "PROVIDER", "MODEL", "BUDGET"]);
        for llm in models {
            table.row(vec![
                pick(llm, &["role"]).into(),
                pick(llm, &["model_provider", "provider"]).into(),
                pick(llm, &["model"]).into(),
                usd(llm.get("monthly_budget_usd"), "uncapped").into(),
            ]);
        }
        out.line("\nModels:")?;
        out.table(&table, "")?;
    }
    let usage = items(&config["model_usage"]);
    if !usage.is_empty() {
        out.line("\nUsage this month:")?;
        out.table(&usage_table(usage, false), "")?;
    }
    Ok(())
}

/// Logs may come as text, as `{"logs": "..."}`, or as a list of lines or entries.
fn print_logs(out: &Output, logs: &Value) -> Result<()> {
    let body = logs
        .get("logs")
        .or_else(|| logs.get("lines"))
        .unwrap_or(logs);
    match body {
        Value::String(text) => out.line(text.trim_end()),
        Value::Array(lines) => {
            for line in lines {
                let text = match line {
                    Value::String(text) => text.clone(),
                    entry => {
                        let time = pick(entry, &["timestamp", "time"]);
                        let message = pick(entry, &["message", "line", "msg"]);
                        if time.is_empty() {
                            message
                        } else {
                            format!("{time} {message}")
                        }
                    }
                };
                out.line(&text)?;
            }
            Ok(())
        }
        Value::Null => out.line("(no logs)"),
        other => out.json(other),
    }
}
