//! `runagents actions validate|apply -f plan.json`: ordered change sets, checked then applied
//! by the server. Exit 1 when a plan is invalid or an action failed.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::items;
use crate::Ctx;
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, Style, Table, paint, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check a plan without changing anything
    Validate {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Apply a plan's actions in order
    Apply {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    let (file, path) = match &cmd {
        Cmd::Validate { file } => (file, "/actions/validate"),
        Cmd::Apply { file } => (file, "/actions/apply"),
    };
    let plan = input::read_document(file)?;
    if !plan.is_object() {
        return Err(Error::file(
            file,
            "a plan must be a JSON or YAML object with `actions`",
        ));
    }
    let (_, report) = api.post_report(path, plan).await?;
    ctx.out.either(&report, |out| print_report(out, &report))?;
    let ok = match cmd {
        Cmd::Validate { .. } => report["valid"] == true,
        Cmd::Apply { .. } => report["applied"] == true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(match cmd {
            Cmd::Validate { .. } => "the plan is invalid",
            Cmd::Apply { .. } => "the plan was not fully applied",
        }))
    }
}

fn print_report(out: &Output, report: &Value) -> Result<()> {
    let verdict = if report.get("applied").is_some() {
        if report["applied"] == true {
            "APPLIED"
        } else {
            "FAILED"
        }
    } else if report["valid"] == true {
        "VALID"
    } else {
        "INVALID"
    };
    let style = if matches!(verdict, "APPLIED" | "VALID") {
        Style::Good
    } else {
        Style::Bad
    };
    out.line(&format!(
        "{} plan {} in {}",
        paint(verdict, style, out.color),
        pick(report, &["plan_id"]),
        pick(report, &["namespace"])
    ))?;
    let mut table = Table::new(&["ID", "TYPE", "STATUS", "RESOURCE", "ERRORS"]);
    for result in items(&report["results"]) {
        let status = match result.get("status") {
            Some(status) => crate::render::text(status),
            None if result["valid"] == true => "valid".to_owned(),
            None => "invalid".to_owned(),
        };
        table.row(vec![
            pick(result, &["id", "idempotency_key"]).into(),
            pick(result, &["type"]).into(),
            Cell::status(status),
            pick(result, &["resource_ref"]).into(),
            pick(result, &["errors", "error"]).into(),
        ]);
    }
    out.table(&table, "No actions.")
}
