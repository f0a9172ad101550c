//! `runagents deploy`: the public CLI's flags, turned into one `POST /deploy`. Source files are
//! keyed by their path relative to the current directory (slash-separated), or by their base
//! name when they live outside it; directories are read recursively.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::runs::parse_duration;
use crate::Ctx;
use crate::client::segment;
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, pick, status_word};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// The agent's name (deploying the same name again updates it)
    #[arg(long)]
    pub name: String,
    /// A source file or directory to upload (repeatable)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Deploy a container image instead of source files
    #[arg(long)]
    pub image: Option<String>,
    /// Deploy from a deploy draft
    #[arg(long)]
    pub draft_id: Option<String>,
    /// Deploy from an uploaded artifact
    #[arg(long)]
    pub artifact_id: Option<String>,
    /// A tool the agent may call (repeatable)
    #[arg(long = "tool", value_name = "NAME")]
    pub tools: Vec<String>,
    /// The agent's model, as provider/model (e.g. openai/gpt-4o-mini)
    #[arg(long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
    /// A policy to bind to the agent (repeatable)
    #[arg(long = "policy", value_name = "NAME")]
    pub policies: Vec<String>,
    /// The identity provider that authenticates the agent's end users
    #[arg(long, value_name = "NAME")]
    pub identity_provider: Option<String>,
    /// A requirements.txt to install (with --file)
    #[arg(long, visible_alias = "requirements-file", value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// The file that starts the agent (with --file), e.g. agent.py
    #[arg(long, value_name = "FILE")]
    pub entry_point: Option<String>,
    /// The agent's framework (with --file), e.g. langgraph
    #[arg(long)]
    pub framework: Option<String>,
    /// The agent's system prompt; with no source at all, an agent of prompt and tools only
    #[arg(long, value_name = "TEXT")]
    pub system_prompt: Option<String>,
    /// Wait until the agent is running (exit 4 after --timeout)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 10m
    #[arg(long, default_value = "10m", requires = "wait")]
    pub timeout: String,
    /// Print the request instead of sending it
    #[arg(long)]
    pub dry_run: bool,
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::invalid(format!("no current directory: {e}")))?;
    let payload = build_payload(&args, &cwd)?;
    if args.dry_run {
        return ctx.out.json(&payload);
    }
    let api = ctx.api()?;
    let name = args.name.trim();
    let files = payload["source_files"].as_object().map_or(0, Map::len);
    let label = if files > 0 {
        format!(
            "deploying {name} ({files} file{})",
            if files == 1 { "" } else { "s" }
        )
    } else {
        format!("deploying {name}")
    };
    let deployed = ctx
        .out
        .progress(&label, api.post("/deploy", payload))
        .await?;
    ctx.out
        .either(&deployed, |out| show(out, name, &deployed))?;
    if args.wait {
        let timeout = parse_duration(&args.timeout, "--timeout")?;
        wait_running(ctx, name, timeout).await?;
    }
    Ok(())
}

fn show(out: &Output, name: &str, deployed: &Value) -> Result<()> {
    out.done(&format!(
        "agent {name:?} deployed to workspace {}",
        pick(deployed, &["namespace"])
    ))?;
    let mode = pick(deployed, &["execution_mode"]);
    let build = if deployed["build_required"] == true {
        format!("{mode} (build required)")
    } else {
        mode
    };
    let status = pick(deployed, &["status"]);
    let message = pick(deployed, &["message"]);
    out.fields(&[
        ("Execution", Cell::plain(build)),
        ("Build", Cell::plain(pick(deployed, &["build_id"]))),
        ("Image", Cell::plain(pick(deployed, &["image_uri"]))),
        ("Status", Cell::status(status)),
        ("Status message", Cell::plain(message)),
        (
            "Tools created",
            Cell::plain(pick(deployed, &["tools_created"])),
        ),
        ("Why", Cell::plain(pick(deployed, &["decision_reason"]))),
    ])
}

/// Polls the agent until it runs (or fails), with a spinner.
async fn wait_running(ctx: &Ctx, name: &str, timeout: std::time::Duration) -> Result<()> {
    let api = ctx.api()?;
    let started = Instant::now();
    let mut spinner = ctx.out.spinner();
    let path = format!("/agents/{}", segment(name));
    let interval = std::time::Duration::from_secs(2);
    let result = loop {
        let agent = match spinner
            .run(&format!("waiting for {name}"), api.get(&path))
            .await
        {
            Ok(agent) => agent,
            Err(error) => break Err(error),
        };
        let phase = status_word(&agent);
        match phase.to_ascii_lowercase().as_str() {
            "running" | "available" | "ready" => break Ok(()),
            "failed" => {
                break Err(Error::invalid(format!(
                    "agent {name:?} failed: {}",
                    pick(&agent, &["status.message"])
                )));
            }
            _ => {}
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break Err(Error::TimedOut(format!(
                "timed out waiting for agent {name:?} to run (still {phase}: {})",
                pick(&agent, &["status.message"])
            )));
        }
        spinner
            .sleep(&format!("agent {name} is {phase}"), interval.min(left))
            .await;
    };
    spinner.clear();
    if result.is_ok() {
        ctx.out.note(&format!("agent {name:?} is running"));
    }
    result
}

/// The `POST /deploy` body for these flags, reading every file they name.
pub(crate) fn build_payload(args: &Args, cwd: &Path) -> Result<Value> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(Error::invalid("--name is required"));
    }
    let given = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let sources = [
        !args.files.is_empty(),
        given(&args.image).is_some(),
        given(&args.draft_id).is_some(),
        given(&args.artifact_id).is_some(),
    ];
    if sources.iter().filter(|given| **given).count() > 1 {
        return Err(Error::invalid(
            "give one source: --file (repeatable), --image, --draft-id or --artifact-id",
        ));
    }
    let with_files_only = [
        ("--requirements", args.requirements.is_some()),
        ("--entry-point", given(&args.entry_point).is_some()),
        ("--framework", given(&args.framework).is_some()),
    ];
    if args.files.is_empty()
        && let Some((flag, _)) = with_files_only.iter().find(|(_, set)| *set)
    {
        return Err(Error::invalid(format!("{flag} needs --file")));
    }

    let mut body = Map::new();
    body.insert("agent_name".into(), json!(name));
    if let Some(image) = given(&args.image) {
        body.insert("image".into(), json!(image));
    } else if let Some(draft) = given(&args.draft_id) {
        body.insert("draft_id".into(), json!(draft));
    } else if let Some(artifact) = given(&args.artifact_id) {
        body.insert("artifact_id".into(), json!(artifact));
    } else if !args.files.is_empty() {
        body.insert(
            "source_files".into(),
            json!(source_files(&args.files, cwd)?),
        );
    } else if given(&args.system_prompt).is_some() {
        // No code: the platform runs the prompt and tools in its own loop.
        body.insert("source_files".into(), json!({}));
    } else {
        return Err(Error::invalid(
            "nothing to deploy: give --file (repeatable), --image, --draft-id or --artifact-id, or --system-prompt for an agent without code",
        ));
    }
    if let Some(path) = &args.requirements {
        body.insert("requirements".into(), json!(input::read_text(path)?));
    }
    for (key, value) in [
        ("entry_point", given(&args.entry_point)),
        ("framework", given(&args.framework)),
        ("identity_provider", given(&args.identity_provider)),
        (
            "system_prompt",
            args.system_prompt.clone().filter(|p| !p.trim().is_empty()),
        ),
    ] {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    let names = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    };
    if !args.tools.is_empty() {
        body.insert("required_tools".into(), json!(names(&args.tools)));
    }
    if !args.policies.is_empty() {
        body.insert("policies".into(), json!(names(&args.policies)));
    }
    if let Some(model) = given(&args.model) {
        let (provider, model_name) = model
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "--model {model:?}: use provider/model, e.g. openai/gpt-4o-mini"
                ))
            })?;
        body.insert(
            "llm_configs".into(),
            json!([{"provider": provider, "model": model_name}]),
        );
    }
    Ok(Value::Object(body))
}

/// Directory entries never uploaded.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "__pycache__" | "node_modules" | "venv")
}

/// `{key: text}` for every file under `paths`; keys are cwd-relative with `/`, or base names
/// for files outside the current directory. Two files with one key are an error.
pub(crate) fn source_files(paths: &[PathBuf], cwd: &Path) -> Result<BTreeMap<String, String>> {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let mut files = BTreeMap::new();
    let mut pending: Vec<PathBuf> = paths.iter().map(|p| cwd.join(p)).collect();
    pending.reverse();
    while let Some(path) = pending.pop() {
        let metadata = std::fs::metadata(&path).map_err(|e| Error::file(&path, e))?;
        if metadata.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| Error::file(&path, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|child| {
                    !child
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(skipped)
                })
                .collect();
            children.sort();
            children.reverse();
            pending.extend(children);
            continue;
        }
        let absolute = path.canonicalize().map_err(|e| Error::file(&path, e))?;
        let key = match absolute.strip_prefix(&cwd) {
            Ok(relative) => relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => absolute
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let bytes = std::fs::read(&absolute).map_err(|e| Error::file(&path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::file(&path, "not UTF-8 text; only source files can be uploaded"))?;
        if files.insert(key.clone(), text).is_some() {
            return Err(Error::invalid(format!(
                "two files would be uploaded as {key:?}; rename one or run from a directory that holds both"
            )));
        }
    }
    Ok(files)
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
