//! `runagents models list|get|create|delete|spend`: model providers and monthly model spend.

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
    /// List model providers
    List,
    /// Show one model provider
    Get { name: String },
    /// Register a model provider, or update it if the name exists, from a JSON or YAML file
    Create {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a model provider
    Delete { name: String },
    /// This month's estimated spend against the agents' model budgets
    Spend,
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let providers = api.get("/model-providers").await?;
            ctx.out.either(&providers, |out| {
                let mut table = Table::new(&["NAME", "PROVIDER", "MODELS", "ENDPOINT", "STATUS"]);
                for provider in items(&providers) {
                    table.row(vec![
                        pick(provider, &["name"]).into(),
                        pick(provider, &["provider", "spec.provider"]).into(),
                        pick(provider, &["models", "spec.models"]).into(),
                        pick(provider, &["endpoint", "spec.endpoint"]).into(),
                        Cell::status(status_word(provider)),
                    ]);
                }
                out.table(&table, "No model providers. Register one with `runagents models create -f provider.yaml`.")
            })
        }
        Cmd::Get { name } => {
            let provider = api
                .get(&format!("/model-providers/{}", segment(&name)))
                .await?;
            ctx.out.either(&provider, |out| {
                out.fields(&[
                    ("Name", Cell::plain(pick(&provider, &["name"]))),
                    ("Workspace", Cell::plain(pick(&provider, &["namespace"]))),
                    (
                        "Provider",
                        Cell::plain(pick(&provider, &["provider", "spec.provider"])),
                    ),
                    (
                        "Endpoint",
                        Cell::plain(pick(&provider, &["endpoint", "spec.endpoint"])),
                    ),
                    (
                        "Models",
                        Cell::plain(pick(&provider, &["models", "spec.models"])),
                    ),
                    ("Auth", Cell::plain(pick(&provider, &["spec.auth.type"]))),
                    (
                        "Credentials",
                        Cell::plain(pick(&provider, &["credentials_configured"])),
                    ),
                    ("Status", Cell::status(status_word(&provider))),
                    (
                        "Status message",
                        Cell::plain(pick(&provider, &["status.message"])),
                    ),
                    ("Updated", out.time(&pick(&provider, &["updated_at"]))),
                ])
            })
        }
        Cmd::Create { file } => {
            let document = input::read_document(&file)?;
            if !document.is_object() {
                return Err(Error::file(
                    &file,
                    "a model provider must be a JSON or YAML object",
                ));
            }
            let provider = api.post("/model-providers", document).await?;
            ctx.out.either(&provider, |out| {
                out.done(&format!(
                    "model provider {:?} saved ({})",
                    pick(&provider, &["name"]),
                    status_word(&provider)
                ))
            })
        }
        Cmd::Delete { name } => {
            let answer = api
                .delete(&format!("/model-providers/{}", segment(&name)))
                .await?;
            deleted(ctx, "model provider", &name, &answer)
        }
        Cmd::Spend => {
            let spend = api.get("/model-spend").await?;
            ctx.out.either(&spend, |out| show_spend(out, &spend))
        }
    }
}

/// `12.5` → `$12.50`; no value → `uncapped` when it is a budget.
pub(crate) fn usd(value: Option<&Value>, missing: &str) -> String {
    match value.and_then(Value::as_f64) {
        Some(amount) => format!("${amount:.2}"),
        None => missing.to_owned(),
    }
}

fn show_spend(out: &Output, spend: &Value) -> Result<()> {
    let summary = &spend["summary"];
    out.fields(&[
        (
            "Period",
            Cell::plain(format!(
                "{} – {}",
                pick(summary, &["period_start"]).get(..10).unwrap_or(""),
                pick(summary, &["period_end"]).get(..10).unwrap_or("")
            )),
        ),
        (
            "Estimated spend",
            Cell::plain(usd(summary.get("total_estimated_spend_usd"), "$0.00")),
        ),
        (
            "Total budget",
            Cell::plain(usd(summary.get("total_budget_usd"), "$0.00")),
        ),
        (
            "Remaining",
            Cell::plain(usd(summary.get("remaining_budget_usd"), "$0.00")),
        ),
        (
            "Uncapped spend",
            Cell::plain(usd(summary.get("uncapped_spend_usd"), "$0.00")),
        ),
        (
            "Budgeted models",
            Cell::plain(pick(summary, &["budgeted_model_count"])),
        ),
        (
            "Near budget",
            Cell::plain(pick(summary, &["near_budget_count"])),
        ),
        ("Blocked", Cell::plain(pick(summary, &["blocked_count"]))),
    ])?;
    for (title, key) in [("Warnings", "warnings"), ("Top models", "top_models")] {
        let rows = items(&spend[key]);
        if rows.is_empty() {
            continue;
        }
        out.line(&format!("\n{title}:"))?;
        out.table(&usage_table(rows, true), "")?;
    }
    Ok(())
}

/// Model usage rows (`AgentModelUsage`, or `ModelSpendItem` with the agent).
pub(crate) fn usage_table(rows: &[Value], with_agent: bool) -> Table {
    let mut headers = vec!["MODEL", "SPEND", "BUDGET", "REMAINING", "STATUS"];
    if with_agent {
        headers.insert(0, "AGENT");
    }
    let mut table = Table::new(&headers);
    for row in rows {
        let mut cells: Vec<Cell> = vec![
            pick(row, &["label", "model"]).into(),
            usd(row.get("estimated_spend_usd"), "$0.00").into(),
            usd(row.get("monthly_budget_usd"), "uncapped").into(),
            usd(row.get("remaining_budget_usd"), "-").into(),
            Cell::status(pick(row, &["status"])),
        ];
        if with_agent {
            cells.insert(0, pick(row, &["agent_name", "agent"]).into());
        }
        table.row(cells);
    }
    table
}
