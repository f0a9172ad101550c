//! `runagents dev`: runs the agent project in the current directory under the public runtime
//! (`runagents==1.4.2`), without the public wrapper's defects: the whole environment is set
//! before the runtime process starts (the wrapper's values were frozen at import), `--port`
//! is honoured, `runagents.yaml` is parsed as YAML, and the mock reports the real method.
//! With `--platform` the agent's tool and LLM calls go through a running platform instead,
//! under the deployed agent's credential, so they are governed as in production.

mod mock;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::Ctx;
use crate::client::segment;
use crate::error::{Error, Result};
use crate::project::{self, Project};
use crate::settings::{Settings, Source};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The port the agent listens on (POST /invoke)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The port of the mock tool server; every tool in runagents.yaml points at it
    #[arg(long, default_value_t = 9090)]
    pub mock_port: u16,
    /// Do not serve the mock (tools still point at --mock-port: serve your own there)
    #[arg(long)]
    pub no_mock: bool,
    /// Send the agent's tool and LLM calls through the platform (policies, approvals,
    /// credentials) under the deployed agent's identity; issues the agent a new credential (its
    /// previous one stops working)
    #[arg(long, conflicts_with = "no_mock")]
    pub platform: bool,
    /// The Python that runs the agent [default: .venv/bin/python if present, else python3]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// Started with `-c` rather than `-m runagents.runtime`: under `-m` the package's
/// `__init__` has already imported `runagents.runtime`, so the runtime would run as a second
/// copy of the module (`__main__`) beside the one `runagents.Agent` uses.
const RUNTIME: &str = "from runagents.runtime import main; main()";

/// How long a stopped runtime gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Where the agent's calls go.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Targets {
    /// `(TOOL_URL_X, url)`.
    pub tool_urls: Vec<(String, String)>,
    /// The full Chat Completions URL.
    pub llm_gateway_url: String,
    pub governance_url: String,
    /// A key for the LLM gateway, given to the agent as `LLM_API_KEY` (the generated
    /// `agent.py` sends it); `None` when the URL itself identifies the agent.
    pub llm_api_key: Option<String>,
    /// Said to the person: where tools and the model are served.
    pub tools_via: String,
    /// Text never to show: the agent's credential (it is in every platform URL) and keys.
    pub secrets: Vec<String>,
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::invalid(format!("no current directory: {e}")))?;
    let (file, project) = project::load(&cwd)?;
    let python = python(args.python.as_deref(), &cwd);
    check_runtime(&python, ctx).await?;
    let out = &ctx.out;

    let targets = if args.platform {
        platform_targets(ctx, &project).await?
    } else {
        let env = |name: &str| std::env::var(name).ok();
        local_targets(&ctx.settings, &env, &project, args.mock_port)?
    };
    if !args.platform && !args.no_mock {
        mock::start(args.mock_port, out.clone()).await?;
    }
    let env = agent_env(&project, &targets, args.port, &cwd);

    let mut command = tokio::process::Command::new(&python);
    command
        .args(["-c", RUNTIME])
        .current_dir(&cwd)
        .stdin(Stdio::null())
        // Piped, not inherited: the runtime logs its gateway URL, which may hold a credential.
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Tool URLs and keys from the caller's shell must not leak into the agent's view.
    for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
        if name.starts_with("TOOL_URL_") || name == "LLM_API_KEY" {
            command.env_remove(&name);
        }
    }
    if args.platform {
        command.env_remove("RUNAGENTS_API_KEY");
    }
    command.envs(env);
    let mut child = command
        .spawn()
        .map_err(|e| Error::invalid(format!("cannot start {}: {e}", python.display())))?;
    let mut forwarding = tokio::task::JoinSet::new();
    if let Some(stdout) = child.stdout.take() {
        let (out, secrets) = (out.clone(), targets.secrets.clone());
        forwarding.spawn(forward(stdout, secrets, move |line| {
            let _ = out.line(line);
        }));
    }
    if let Some(stderr) = child.stderr.take() {
        let (out, secrets) = (out.clone(), targets.secrets.clone());
        forwarding.spawn(forward(stderr, secrets, move |line| out.note(line)));
    }

    let model = match (project.provider.as_str(), project.model.as_str()) {
        (_, "") => "the runtime's default".to_owned(),
        ("", model) => model.to_owned(),
        (provider, model) => format!("{provider}/{model}"),
    };
    let file_name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    out.note(&format!(
        "runagents dev: agent {} from {file_name} (entry point {}, model {model})",
        project.name,
        if project.entry_point.is_empty() {
            "none: the runtime's own loop"
        } else {
            &project.entry_point
        },
    ));
    out.note(&format!(
        "  agent   http://127.0.0.1:{}  (POST /invoke {{\"message\": \"...\"}})",
        args.port
    ));
    out.note(&format!("  tools   {}", targets.tools_via));
    if !args.platform {
        out.note(&format!("  LLM     {}", targets.llm_gateway_url));
    }
    out.note("  Ctrl-C stops it");

    let result = tokio::select! {
        status = child.wait() => finish(status.map_err(|e| Error::Unexpected(format!("waiting for the runtime: {e}")))?),
        signal = stop_signal() => {
            let status = stop(&mut child, signal).await?;
            out.note("runagents dev: stopped");
            // Asked to stop: the status is still the runtime's, but it is no error to report.
            finish(status).map_err(|error| match error {
                Error::Exited { code, .. } => Error::Exited { code, message: String::new() },
                other => other,
            })
        }
    };
    // The last lines the runtime wrote, unless something it started still holds the pipes.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while forwarding.join_next().await.is_some() {}
    })
    .await;
    result
}

/// Passes the runtime's output on line by line, with every secret replaced.
async fn forward(
    stream: impl tokio::io::AsyncRead + Unpin,
    secrets: Vec<String>,
    write: impl Fn(&str),
) {
    use tokio::io::AsyncBufReadExt;
    let mut reader = tokio::io::BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                write(&redact(text.trim_end_matches(['\n', '\r']), &secrets));
            }
        }
    }
}

pub(crate) fn redact(line: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|secret| secret.len() >= 8)
        .fold(line.to_owned(), |line, secret| {
            line.replace(secret.as_str(), "<redacted>")
        })
}

/// `--python`, else the project's `.venv`, else `python3` on PATH.
fn python(given: Option<&Path>, cwd: &Path) -> PathBuf {
    if let Some(path) = given {
        return path.to_path_buf();
    }
    let venv = cwd.join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Fails with an install hint unless `python` can import the runtime.
async fn check_runtime(python: &Path, ctx: &Ctx) -> Result<()> {
    let probe = "import importlib.metadata, runagents.runtime; print(importlib.metadata.version('runagents'))";
    let output = tokio::process::Command::new(python)
        .args(["-c", probe])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "cannot run {}: {e}; install Python 3 or pass --python PATH",
                python.display()
            ))
        })?;
    if !output.status.success() {
        return Err(Error::invalid(format!(
            "{} cannot import the runagents runtime; install it with `{} -m pip install runagents==1.4.2` (or: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt)",
            python.display(),
            python.display()
        )));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if version != "1.4.2" {
        ctx.out.note(&format!(
            "warning: {} has runagents {version}; this CLI is tested with runagents==1.4.2",
            python.display()
        ));
    }
    Ok(())
}

/// The platform's root URL (no `/api/v1`, no workspace): `http://h:8092/base`.
pub(crate) fn platform_root(base: &str) -> String {
    let root = match base.find("/api/v1/workspaces/") {
        Some(at) => &base[..at],
        None => base.strip_suffix("/api/v1").unwrap_or(base),
    };
    root.trim_end_matches('/').to_owned()
}

/// Tools on the mock; the LLM at the configured platform's gateway, or OpenAI directly when
/// `OPENAI_API_KEY` is set and no endpoint is configured.
pub(crate) fn local_targets(
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
    project: &Project,
    mock_port: u16,
) -> Result<Targets> {
    let root = platform_root(&settings.base_url()?);
    let key = settings.api_key.0.trim();
    let openai_key = env("OPENAI_API_KEY").filter(|k| !k.trim().is_empty());
    let (llm_gateway_url, llm_api_key) = match openai_key {
        Some(openai) if settings.endpoint.1 == Source::Default => (
            "https://api.openai.com/v1/chat/completions".to_owned(),
            Some(openai),
        ),
        _ => (
            format!("{root}/v1/chat/completions"),
            (!key.is_empty()).then(|| key.to_owned()),
        ),
    };
    let mock = format!("http://127.0.0.1:{mock_port}");
    let tool_urls = project
        .tools
        .iter()
        .map(|tool| (tool_env_name(tool), mock.clone()))
        .collect();
    let tools_via = if project.tools.is_empty() {
        format!("none in runagents.yaml (mock on {mock})")
    } else {
        format!("{} → mock {mock}", project.tools.join(", "))
    };
    Ok(Targets {
        tool_urls,
        llm_gateway_url,
        governance_url: root,
        secrets: llm_api_key.iter().cloned().collect(),
        llm_api_key,
        tools_via,
    })
}

/// Issues the deployed agent a credential and uses the platform's URLs for it. The
/// credential is in those URLs, so none of them is printed.
async fn platform_targets(ctx: &Ctx, project: &Project) -> Result<Targets> {
    let api = ctx.api()?;
    let name = &project.name;
    let answer = match api
        .post_empty(&format!("/agents/{}/credentials", segment(name)))
        .await
    {
        Ok(answer) => answer,
        Err(error) if error.is_not_found() => {
            return Err(Error::Api {
                status: 404,
                message: format!(
                    "agent {name:?} is not deployed at {}; deploy it first: runagents deploy --name {name} --file agent.py --requirements requirements.txt{}",
                    api.base(),
                    project
                        .tools
                        .iter()
                        .map(|t| format!(" --tool {t}"))
                        .collect::<String>()
                ),
            });
        }
        Err(error) => return Err(error),
    };
    let targets = credential_targets(&answer)?;
    for tool in &project.tools {
        if !targets
            .tool_urls
            .iter()
            .any(|(env, _)| *env == tool_env_name(tool))
        {
            ctx.out.note(&format!(
                "warning: tool {tool} is in runagents.yaml but not bound to the deployed agent {name}; redeploy with --tool {tool}"
            ));
        }
    }
    Ok(targets)
}

/// The URLs of a `POST /agents/{name}/credentials` answer.
pub(crate) fn credential_targets(answer: &Value) -> Result<Targets> {
    let text = |key: &str| {
        answer[key]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(|v| v.trim_end_matches('/').to_owned())
            .ok_or_else(|| Error::Unexpected(format!("the credential answer has no {key}")))
    };
    let gateway = text("llm_gateway_url")?;
    let llm_gateway_url = if gateway.ends_with("/chat/completions") {
        gateway
    } else {
        format!("{gateway}/chat/completions")
    };
    let mut tool_urls: Vec<(String, String)> = answer["tool_urls"]
        .as_object()
        .map(|urls| {
            urls.iter()
                .filter_map(|(env, url)| Some((env.clone(), url.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    tool_urls.sort();
    let names: Vec<String> = tool_urls
        .iter()
        .map(|(env, _)| {
            env.trim_start_matches("TOOL_URL_")
                .to_ascii_lowercase()
                .replace('_', "-")
        })
        .collect();
    let tools_via = if names.is_empty() {
        "none bound to the deployed agent".to_owned()
    } else {
        format!(
            "{} → the platform's agent plane (governed)",
            names.join(", ")
        )
    };
    Ok(Targets {
        tool_urls,
        llm_gateway_url,
        governance_url: text("governance_url")?,
        llm_api_key: None,
        tools_via,
        secrets: answer["credential"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect(),
    })
}

/// `TOOL_URL_{NAME}`: upper case, '-' → '_' (what the runtime reads back).
pub(crate) fn tool_env_name(tool: &str) -> String {
    format!("TOOL_URL_{}", tool.to_ascii_uppercase().replace('-', "_"))
}

/// Everything the runtime reads, set before it starts.
pub(crate) fn agent_env(
    project: &Project,
    targets: &Targets,
    port: u16,
    cwd: &Path,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PORT".into(), port.to_string()),
        ("AGENT_NAME".into(), project.name.clone()),
        ("SYSTEM_PROMPT".into(), project.system_prompt.clone()),
        ("RUNAGENTS_USER_CODE_DIR".into(), cwd.display().to_string()),
        ("USER_ENTRY_POINT".into(), project.entry_point.clone()),
        ("TOOL_NAMES".into(), project.tools.join(",")),
        ("TOOL_DEFINITIONS_JSON".into(), "[]".into()),
        ("TOOL_ROUTES_JSON".into(), "{}".into()),
        ("LLM_GATEWAY_URL".into(), targets.llm_gateway_url.clone()),
        ("GOVERNANCE_URL".into(), targets.governance_url.clone()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
    ];
    if !project.model.is_empty() {
        env.push(("LLM_MODEL".into(), project.model.clone()));
    }
    if !project.provider.is_empty() {
        env.push(("LLM_PROVIDER".into(), project.provider.clone()));
    }
    if let Some(key) = &targets.llm_api_key {
        env.push(("LLM_API_KEY".into(), key.clone()));
    }
    env.extend(targets.tool_urls.iter().cloned());
    env
}

#[derive(Clone, Copy, Debug)]
enum StopSignal {
    Interrupt,
    Terminate,
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() -> StopSignal {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => StopSignal::Interrupt,
        () = terminate => StopSignal::Terminate,
    }
}

/// Stops the runtime: after Ctrl-C (which a terminal also sent the runtime) it first gets a
/// moment to exit by itself; then SIGTERM; then SIGKILL.
async fn stop(child: &mut tokio::process::Child, signal: StopSignal) -> Result<ExitStatus> {
    if matches!(signal, StopSignal::Interrupt)
        && let Ok(status) = waited(child).await
    {
        return status.map_err(|e| Error::Unexpected(e.to_string()));
    }
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if let Ok(status) = waited(child).await {
        return status.map_err(|e| Error::Unexpected(e.to_string()));
    }
    let _ = child.kill().await;
    child
        .wait()
        .await
        .map_err(|e| Error::Unexpected(e.to_string()))
}

async fn waited(
    child: &mut tokio::process::Child,
) -> Result<std::io::Result<ExitStatus>, tokio::time::error::Elapsed> {
    tokio::time::timeout(GRACE, child.wait()).await
}

/// The runtime's status as ours: 0 is success; a code is passed on; a signal is 128 + it.
/// An empty message means there is nothing to say (the person stopped it).
fn finish(status: ExitStatus) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return Ok(());
    }
    let (code, how) = match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("exited with status {code}")),
        (None, Some(signal)) => (128 + signal, format!("was stopped by signal {signal}")),
        (None, None) => (1, "ended".to_owned()),
    };
    Err(Error::Exited {
        code: u8::try_from(code).unwrap_or(1),
        message: format!("the agent runtime {how}"),
    })
}

#[cfg(test)]
#[path = "dev_tests.rs"]
mod tests;
