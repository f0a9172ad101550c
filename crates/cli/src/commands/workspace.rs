//! Workspace-wide commands: `starter-kit`, `context export`, `analyze`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::deploy::source_files;
use super::items;
use crate::Ctx;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum ContextCmd {
    /// Everything in the workspace as one JSON document (never a secret)
    Export {
        /// Fail on the first resource that cannot be read instead of listing it under `errors`
        #[arg(long)]
        strict: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// A source file or directory (repeatable)
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
    files: Vec<PathBuf>,
}

/// The resources an export holds and where each is listed.
const RESOURCES: [(&str, &str); 8] = [
    ("agents", "/agents"),
    ("tools", "/tools"),
    ("model_providers", "/model-providers"),
    ("policies", "/policies"),
    ("identity_providers", "/identity-providers"),
    ("approval_connectors", "/approval-connectors"),
    ("approvals", "/approvals/requests"),
    ("deploy_drafts", "/deploy-drafts"),
];

pub(crate) async fn starter_kit(ctx: &Ctx) -> Result<()> {
    let seeded = ctx.api()?.post_empty("/starter-kit").await?;
    ctx.out.either(&seeded, |out| {
        out.done(&format!(
            "starter kit ready: {}",
            pick(&seeded, &["message"])
        ))?;
        out.fields(&[
            (
                "Tools created",
                Cell::plain(pick(&seeded, &["tools_created", "tool_created"])),
            ),
            (
                "Model providers created",
                Cell::plain(pick(
                    &seeded,
                    &["model_providers_created", "model_provider_created"],
                )),
            ),
        ])
    })
}

pub(crate) async fn context(cmd: ContextCmd, ctx: &Ctx) -> Result<()> {
    let ContextCmd::Export { strict } = cmd;
    let export = export(ctx.api()?, strict).await?;
    // A document either way: indented JSON.
    ctx.out.json(&export)
}

/// The server's export, completed the public CLI's way: missing resource lists are fetched one
/// by one, failures go under `errors` (or stop the export with `--strict`), counts under `meta`.
pub(crate) async fn export(api: &Client, strict: bool) -> Result<Value> {
    let mut export = match api.get("/context/export").await {
        Ok(Value::Object(export)) => export,
        Ok(_) => Map::new(),
        Err(error) if strict => return Err(error),
        Err(error) => {
            let mut export = Map::new();
            export.insert(
                "errors".into(),
                json!({"context_export": error.to_string()}),
            );
            export
        }
    };
    let mut resources = match export.remove("resources") {
        Some(Value::Object(resources)) => resources,
        _ => Map::new(),
    };
    let mut errors = match export.remove("errors") {
        Some(Value::Object(errors)) => errors,
        _ => Map::new(),
    };
    if strict && let Some((key, message)) = errors.iter().next() {
        return Err(Error::Unexpected(format!(
            "the export could not read {key}: {}",
            crate::render::text(message)
        )));
    }
    for (key, path) in RESOURCES {
        if resources.get(key).is_some_and(Value::is_array) {
            continue;
        }
        match api.get(path).await {
            Ok(list @ Value::Array(_)) => {
                resources.insert(key.into(), list);
            }
            Ok(_) if strict => {
                return Err(Error::Unexpected(format!("{path} did not answer a list")));
            }
            Err(error) if strict => return Err(error),
            Ok(_) => {
                errors.insert(key.into(), json!(format!("{path} did not answer a list")));
                resources.insert(key.into(), json!([]));
            }
            Err(error) => {
                errors.insert(key.into(), json!(error.to_string()));
                resources.insert(key.into(), json!([]));
            }
        }
    }
    let mut meta = match export.remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    for (key, list) in &resources {
        meta.insert(format!("{key}_count"), json!(items(list).len()));
    }
    export.insert("resources".into(), Value::Object(resources));
    export.insert("errors".into(), Value::Object(errors));
    export.insert("meta".into(), Value::Object(meta));
    export
        .entry("endpoint")
        .or_insert_with(|| json!(api.base()));
    export
        .entry("generated_at")
        .or_insert_with(|| json!(runagents_domain::Timestamp::now().rfc3339()));
    Ok(Value::Object(export))
}

pub(crate) async fn analyze(args: AnalyzeArgs, ctx: &Ctx) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::invalid(format!("no current directory: {e}")))?;
    let files = source_files(&args.files, &cwd)?;
    let analysis = ctx
        .out
        .progress(
            "analyzing",
            ctx.api()?.post("/analyze", json!({"files": files})),
        )
        .await?;
    ctx.out.either(&analysis, |out| {
        out.fields(&[
            ("Framework", Cell::plain(pick(&analysis, &["framework"]))),
            ("Runtime", Cell::plain(pick(&analysis, &["runtime_family"]))),
            (
                "Entry point",
                Cell::plain(pick(&analysis, &["entry_point"])),
            ),
            (
                "Requirements",
                Cell::plain(pick(&analysis, &["detected_requirements"])),
            ),
            (
                "Destinations",
                Cell::plain(pick(&analysis, &["outbound_destinations"])),
            ),
        ])?;
        let tools = items(&analysis["tools"]);
        if !tools.is_empty() {
            let mut table = Table::new(&["TOOL", "BASE URL", "WHERE"]);
            for tool in tools {
                table.row(vec![
                    pick(tool, &["name"]).into(),
                    pick(tool, &["base_url"]).into(),
                    format!("{}:{}", pick(tool, &["file"]), pick(tool, &["line"])).into(),
                ]);
            }
            out.line("")?;
            out.table(&table, "")?;
        }
        let secrets = items(&analysis["secrets"]);
        if !secrets.is_empty() {
            let mut table = Table::new(&["SECRET", "SEVERITY", "WHERE", "WHY"]);
            for secret in secrets {
                table.row(vec![
                    pick(secret, &["type"]).into(),
                    Cell::status(pick(secret, &["severity"])),
                    format!("{}:{}", pick(secret, &["file"]), pick(secret, &["line"])).into(),
                    pick(secret, &["description"]).into(),
                ]);
            }
            out.line("")?;
            out.table(&table, "")?;
        }
        Ok(())
    })
}
