//! `runagents tools list|get|create|delete|test`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::{deleted, items};
use crate::Ctx;
use crate::client::segment;
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, Table, pick, status_word};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List tools
    List,
    /// Show one tool
    Get { name: String },
    /// Register a tool, or update it if the name exists, from a JSON or YAML file
    Create {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a tool
    Delete { name: String },
    /// Probe the tool's base URL and update its status (exit 1 if unreachable)
    Test { name: String },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let tools = api.get("/tools").await?;
            ctx.out.either(&tools, |out| {
                let mut table =
                    Table::new(&["NAME", "BASE URL", "AUTH", "ACCESS", "STATUS", "UPDATED"]);
                for tool in items(&tools) {
                    table.row(vec![
                        pick(tool, &["name"]).into(),
                        pick(tool, &["base_url", "spec.connection.baseUrl"]).into(),
                        pick(tool, &["auth", "spec.connection.authentication.type"]).into(),
                        pick(tool, &["access_mode", "spec.accessMode"]).into(),
                        Cell::status(status_word(tool)),
                        out.time(&pick(tool, &["updated_at", "created_at"])),
                    ]);
                }
                out.table(
                    &table,
                    "No tools. Register one with `runagents tools create -f tool.yaml`.",
                )
            })
        }
        Cmd::Get { name } => {
            let tool = api.get(&format!("/tools/{}", segment(&name))).await?;
            ctx.out.either(&tool, |out| show(out, &tool))
        }
        Cmd::Create { file } => {
            let document = input::read_document(&file)?;
            if !document.is_object() {
                return Err(Error::file(&file, "a tool must be a JSON or YAML object"));
            }
            let tool = api.post("/tools", document).await?;
            ctx.out.either(&tool, |out| {
                out.done(&format!(
                    "tool {:?} saved ({})",
                    pick(&tool, &["name"]),
                    status_word(&tool)
                ))
            })
        }
        Cmd::Delete { name } => {
            let answer = api.delete(&format!("/tools/{}", segment(&name))).await?;
            deleted(ctx, "tool", &name, &answer)
        }
        Cmd::Test { name } => {
            let probe = ctx
                .out
                .progress(
                    &format!("probing {name}"),
                    api.post_empty(&format!("/tools/{}/test", segment(&name))),
                )
                .await?;
            ctx.out.either(&probe, |out| {
                out.fields(&[
                    ("Tool", Cell::plain(name.clone())),
                    (
                        "Reachable",
                        Cell::status(if probe["reachable"] == true {
                            "yes"
                        } else {
                            "no"
                        }),
                    ),
                    ("HTTP status", Cell::plain(pick(&probe, &["status_code"]))),
                    ("Latency", Cell::plain(latency(&probe))),
                    ("Error", Cell::plain(pick(&probe, &["error"]))),
                ])
            })?;
            if probe["reachable"] == false {
                return Err(Error::invalid(format!("tool {name:?} is unreachable")));
            }
            Ok(())
        }
    }
}

fn latency(probe: &Value) -> String {
    match probe.get("latency_ms").and_then(Value::as_u64) {
        Some(ms) => format!("{ms} ms"),
        None => String::new(),
    }
}

fn show(out: &Output, tool: &Value) -> Result<()> {
    let status = status_word(tool);
    out.fields(&[
        ("Name", Cell::plain(pick(tool, &["name"]))),
        ("Workspace", Cell::plain(pick(tool, &["namespace"]))),
        (
            "Description",
            Cell::plain(pick(tool, &["description", "spec.description"])),
        ),
        (
            "Base URL",
            Cell::plain(pick(tool, &["base_url", "spec.connection.baseUrl"])),
        ),
        (
            "Topology",
            Cell::plain(pick(tool, &["topology", "spec.connection.topology"])),
        ),
        (
            "Auth",
            Cell::plain(pick(tool, &["auth", "spec.connection.authentication.type"])),
        ),
        (
            "Access",
            Cell::plain(pick(tool, &["access_mode", "spec.accessMode"])),
        ),
        (
            "Credentials",
            Cell::plain(pick(tool, &["credentials_configured"])),
        ),
        ("Status", Cell::status(status)),
        (
            "Status message",
            Cell::plain(pick(tool, &["status.message"])),
        ),
        (
            "Last probe",
            out.time(&pick(tool, &["status.last_probe_time"])),
        ),
        ("Updated", out.time(&pick(tool, &["updated_at"]))),
    ])?;
    let capabilities = items(
        tool.get("capabilities")
            .or_else(|| tool.pointer("/spec/capabilities"))
            .unwrap_or(&Value::Null),
    );
    if !capabilities.is_empty() {
        out.line("")?;
        let mut table = Table::new(&["CAPABILITY", "METHOD", "PATH", "RISK"]);
        for capability in capabilities {
            table.row(vec![
                pick(capability, &["name"]).into(),
                pick(capability, &["method"]).into(),
                pick(capability, &["path"]).into(),
                pick(capability, &["riskTags"]).into(),
            ]);
        }
        out.table(&table, "")?;
    }
    Ok(())
}
