//! Hosting Tier-2 agents on this machine: builds of their Python environments (the Build API)
//! and their supervised runtime processes. The OS side (venvs, processes, logs) is
//! `runagents_hosting`; this module decides what runs, with which environment, and records it.
//!
//! A deploy of a Tier-2 agent records a build (PENDING) and starts it: BUILDING → SUCCEEDED |
//! FAILED, the log kept. A succeeded build whose id is still the agent's current build starts
//! the agent's runtime with its environment: every platform URL (`TOOL_URL_*`,
//! `LLM_GATEWAY_URL`, `OPENAI_BASE_URL`, `GOVERNANCE_URL`) points at the agent plane under the
//! agent's own hosted credential. At start the platform hosts every Tier-2 agent again (an
//! unchanged requirement set reuses its environment at once).
//!
//! Invariant: a hosted credential is derived from the master key, the workspace, the agent and
//! its creation time, so every restart (and every replica) gives the same one, and a deleted
//! and re-created agent a new one; only its hash is stored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ring::hmac;
use runagents_domain::agent::plan::ExecutionMode;
use runagents_domain::agent::{AgentPhase, AgentStatus, Role};
use runagents_domain::{Timestamp, api_key};
use runagents_hosting::{BuildRequest, Phase, ProcessSpec, Supervisor};
use runagents_store::{Document, Kind, Write};
use serde_json::{Value, json};

use crate::agents::Agent;
use crate::gateway::agent_key;
use crate::{Engine, Error, Result, not_found};

const HOSTED: &str = "hosted";

/// Where and how this server hosts agents.
#[derive(Clone, Debug)]
pub struct HostingSettings {
    /// False on a server that only serves the API (another replica hosts the agents).
    pub enabled: bool,
    /// Agents' code and logs go under `{data_dir}/agents/{workspace}/{agent}`.
    pub data_dir: PathBuf,
    /// Python environments go under `{env_dir}/envs` (shareable between servers).
    pub env_dir: PathBuf,
    /// The interpreter that creates environments.
    pub python: PathBuf,
    /// Extra `pip install` arguments (an index, a proxy); never logged.
    pub pip_args: Vec<String>,
}

/// The host: the environment builder and the process supervisor.
pub(crate) struct Host {
    pub(crate) settings: HostingSettings,
    builder: runagents_hosting::Hosting,
    pub(crate) supervisor: Supervisor,
}

impl Host {
    pub(crate) fn new(settings: HostingSettings) -> Self {
        let builder = runagents_hosting::Hosting::new(settings.env_dir.clone())
            .with_python(settings.python.clone())
            .with_pip_args(settings.pip_args.clone());
        Host {
            settings,
            builder,
            supervisor: Supervisor::new(),
        }
    }
}

/// A build as the Build API shows it.
#[derive(Clone, Debug)]
pub struct Build {
    pub id: String,
    pub agent: String,
    /// PENDING, BUILDING, SUCCEEDED or FAILED.
    pub status: String,
    pub error: String,
    pub log: String,
    pub reused_environment: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Build {
    fn from_document(document: Document) -> Build {
        let text = |key: &str| document.body[key].as_str().unwrap_or_default().to_owned();
        Build {
            id: document.key.clone(),
            agent: text("agent"),
            status: text("status"),
            error: text("error"),
            log: text("log"),
            reused_environment: document.body["reused_environment"]
                .as_bool()
                .unwrap_or(false),
            created_at: document.created_at,
            updated_at: document.updated_at,
        }
    }
}

impl Engine {
    fn host(&self) -> Result<&Host> {
        match &self.host {
            Some(host) if host.settings.enabled => Ok(host),
            _ => Err(Error::Unsupported(
                "this server does not host agents (started with --hosting off)".into(),
            )),
        }
    }

    /// True when this server builds and runs Tier-2 agents.
    pub fn hosts_agents(&self) -> bool {
        self.host().is_ok()
    }

    /// The base URL of the agent's running runtime process.
    pub(crate) fn hosted_url(&self, workspace: &str, agent: &str) -> Result<String> {
        let host = self.host()?;
        let status = host
            .supervisor
            .status(&agent_key(workspace, agent))
            .ok_or_else(|| {
                Error::Upstream(format!(
                    "failed to reach agent: {agent:?} is not running yet (see its build)"
                ))
            })?;
        match (status.phase, status.url) {
            (Phase::Running, Some(url)) => Ok(url),
            _ => Err(Error::Upstream(format!(
                "failed to reach agent: {agent:?} is {:?}: {}",
                status.phase, status.message
            ))),
        }
    }

    /// The agent's status with what its process is doing now, for Tier-2 agents.
    pub fn agent_status(&self, workspace: &str, agent: &Agent) -> AgentStatus {
        let mut status = agent.status.clone();
        if agent.spec.plan.execution_mode != ExecutionMode::PythonRuntime {
            return status;
        }
        let Some(host) = self.host.as_ref().filter(|h| h.settings.enabled) else {
            if status.phase == AgentPhase::Pending {
                status.message = "this server does not host agents (--hosting off)".into();
            }
            return status;
        };
        if let Some(process) = host.supervisor.status(&agent_key(workspace, &agent.name)) {
            status.phase = match process.phase {
                Phase::Pending => AgentPhase::Pending,
                Phase::Running => AgentPhase::Running,
                Phase::Failed => AgentPhase::Failed,
            };
            status.message = process.message;
        }
        status
    }

    /// Records a build of the agent's current sources and runs it in the background; on
    /// success the agent's runtime (re)starts.
    pub(crate) async fn start_build(&self, workspace: &str, agent: &Agent) -> Result<Build> {
        self.host()?;
        let id = if agent.status.build_id.is_empty() {
            format!("build-{}", uuid::Uuid::now_v7())
        } else {
            agent.status.build_id.clone()
        };
        let build = self
            .write_build(workspace, &id, &agent.name, "PENDING", "", "", false)
            .await?;
        let engine = self.clone();
        let (workspace, name) = (workspace.to_owned(), agent.name.clone());
        self.background.spawn(async move {
            if let Err(error) = engine.run_build(&workspace, &name, &id).await {
                tracing::warn!(agent = %name, build = %id, %error, "build failed to run");
            }
        });
        Ok(build)
    }

    async fn run_build(&self, workspace: &str, name: &str, id: &str) -> Result<()> {
        let host = self.host()?;
        let agent = self.get_agent(workspace, name).await?;
        self.write_build(workspace, id, name, "BUILDING", "", "", false)
            .await?;
        let request = BuildRequest {
            requirements: agent.spec.requirements.clone(),
            source_files: agent.spec.source_files.clone(),
            entry_point: agent.spec.entry_point.clone(),
        };
        match host.builder.build(&request).await {
            Err(failure) => {
                // The agent first: whoever sees the build FAILED sees the agent Failed too.
                self.set_agent_status(
                    workspace,
                    name,
                    id,
                    AgentStatus {
                        phase: AgentPhase::Failed,
                        message: format!("build {id} failed: {}", failure.message),
                        build_id: id.to_owned(),
                    },
                )
                .await?;
                self.write_build(
                    workspace,
                    id,
                    name,
                    "FAILED",
                    &failure.message,
                    &failure.log,
                    false,
                )
                .await?;
                self.log_agent(
                    workspace,
                    name,
                    format!("build {id} failed: {}", failure.message),
                );
                Ok(())
            }
            Ok(built) => {
                self.write_build(
                    workspace,
                    id,
                    name,
                    "SUCCEEDED",
                    "",
                    &built.log,
                    built.reused,
                )
                .await?;
                self.log_agent(
                    workspace,
                    name,
                    format!(
                        "build {id} succeeded{}",
                        if built.reused {
                            " (environment reused)"
                        } else {
                            ""
                        }
                    ),
                );
                // A newer deploy owns the agent now: its own build starts it.
                let current = self.get_agent(workspace, name).await?;
                if current.status.build_id != id {
                    return Ok(());
                }
                self.set_agent_status(
                    workspace,
                    name,
                    id,
                    AgentStatus {
                        phase: AgentPhase::Pending,
                        message: "starting".into(),
                        build_id: id.to_owned(),
                    },
                )
                .await?;
                self.start_process(workspace, &current, built.python, &built.entry_point)
                    .await
            }
        }
    }

    /// Starts (or replaces) the agent's runtime process.
    async fn start_process(
        &self,
        workspace: &str,
        agent: &Agent,
        python: PathBuf,
        entry_point: &str,
    ) -> Result<()> {
        let host = self.host()?;
        let dir = host
            .settings
            .data_dir
            .join("agents")
            .join(workspace)
            .join(&agent.name);
        let code_dir = dir.join("code");
        host.builder
            .write_code(&code_dir, &agent.spec.source_files)
            .map_err(|e| Error::Invalid(format!("cannot write the agent's code: {e}")))?;
        let credential = self.hosted_credential(workspace, agent).await?;
        let env = self
            .runtime_env(workspace, agent, &credential, entry_point)
            .await?;
        host.supervisor
            .start(ProcessSpec {
                key: agent_key(workspace, &agent.name),
                python,
                code_dir,
                env,
                log_dir: dir.join("logs"),
                redact: vec![credential],
            })
            .await;
        Ok(())
    }

    /// The agent's hosted credential, derived (see the module docs) and registered.
    async fn hosted_credential(&self, workspace: &str, agent: &Agent) -> Result<String> {
        let credential = self.derive_hosted_credential(workspace, agent);
        self.store
            .set_agent_credential(
                workspace,
                &agent.name,
                HOSTED,
                &api_key::hash(&credential),
                Timestamp::now(),
            )
            .await?;
        Ok(credential)
    }

    /// The hosted credential of the agent: the same on every restart and every replica.
    pub(crate) fn derive_hosted_credential(&self, workspace: &str, agent: &Agent) -> String {
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            self.settings.link_key.expose().as_bytes(),
        );
        let tag = hmac::sign(
            &key,
            format!(
                "runagents hosted credential v1\n{workspace}\n{}\n{}",
                agent.name,
                agent.created_at.millis()
            )
            .as_bytes(),
        );
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&tag.as_ref()[..32]);
        api_key::encode_token(crate::egress::CREDENTIAL_PREFIX, &bytes)
    }

    /// The documented runtime environment, every platform URL under the agent's credential.
    async fn runtime_env(
        &self,
        workspace: &str,
        agent: &Agent,
        credential: &str,
        entry_point: &str,
    ) -> Result<Vec<(String, String)>> {
        let spec = &agent.spec;
        let base = format!("{}/a/{credential}", self.settings.agent_plane_url);
        let mut env: BTreeMap<String, String> = spec
            .env
            .iter()
            .map(|var| (var.name.clone(), var.value.clone()))
            .collect();
        let main = spec.main_llm();
        let mut set = |key: &str, value: String| {
            env.insert(key.to_owned(), value);
        };
        set("AGENT_NAME", agent.name.clone());
        set("AGENT_NAMESPACE", workspace.to_owned());
        let prompt = if spec.system_prompt.trim().is_empty() {
            crate::agent_loop::DEFAULT_SYSTEM_PROMPT.to_owned()
        } else {
            spec.system_prompt.clone()
        };
        set("SYSTEM_PROMPT", prompt);
        set("LLM_GATEWAY_URL", format!("{base}/v1/chat/completions"));
        set("OPENAI_BASE_URL", format!("{base}/v1"));
        set("OPENAI_API_BASE", format!("{base}/v1"));
        set("OPENAI_API_KEY", "platform-managed".to_owned());
        set("GOVERNANCE_URL", base.clone());
        set("USER_ENTRY_POINT", entry_point.to_owned());
        if let Some(main) = main {
            set("LLM_MODEL", main.model.clone());
            set("LLM_PROVIDER", main.provider.clone());
            set("LLM_PROVIDER_NAME", main.model_provider.clone());
        }
        for config in spec.llm_configs.iter().filter(|c| c.role != Role::Default) {
            let role = config.role.as_str().to_ascii_uppercase();
            set(&format!("LLM_MODEL_{role}"), config.model.clone());
            set(&format!("LLM_PROVIDER_{role}"), config.provider.clone());
        }
        let tools = spec.referenced_tools();
        for tool in &tools {
            set(
                &format!("TOOL_URL_{}", tool.to_ascii_uppercase().replace('-', "_")),
                format!("{base}/tools/{tool}"),
            );
        }
        set("TOOL_NAMES", tools.join(","));
        let toolset = self.agent_toolset(workspace, agent).await?;
        set(
            "TOOL_DEFINITIONS_JSON",
            Value::Array(toolset.definitions).to_string(),
        );
        let routes: serde_json::Map<String, Value> = toolset
            .routes
            .iter()
            .map(|(function, route)| {
                (
                    function.clone(),
                    json!({"tool": route.tool, "method": route.method, "path": route.path.trim_end_matches('*')}),
                )
            })
            .collect();
        set("TOOL_ROUTES_JSON", Value::Object(routes).to_string());
        if !spec.tool_url_mappings.is_empty() {
            let rewrites: serde_json::Map<String, Value> = spec
                .tool_url_mappings
                .iter()
                .map(|(url, tool)| (url.clone(), json!(format!("{base}/tools/{tool}"))))
                .collect();
            set(
                "TOOL_URL_REWRITES_JSON",
                Value::Object(rewrites).to_string(),
            );
        }
        Ok(env.into_iter().collect())
    }

    /// The last `tail` lines of a hosted agent's process output.
    pub(crate) fn process_log(&self, key: &str, tail: usize) -> Vec<crate::agent_logs::LogLine> {
        let Some(host) = &self.host else {
            return Vec::new();
        };
        host.supervisor
            .logs(key, tail)
            .into_iter()
            .map(|line| crate::agent_logs::LogLine {
                at: Timestamp(line.at_millis),
                stream: line.stream.to_owned(),
                message: line.line,
            })
            .collect()
    }

    /// Stops the agent's process, if this server hosts it.
    pub(crate) async fn stop_hosting(&self, workspace: &str, agent: &str) {
        if let Some(host) = &self.host {
            host.supervisor.stop(&agent_key(workspace, agent)).await;
        }
    }

    /// Hosts every Tier-2 agent of every workspace again (after a platform start).
    pub async fn resume_hosting(&self) -> Result<()> {
        if self.host().is_err() {
            return Ok(());
        }
        for workspace in self.store.list_workspaces().await? {
            for agent in self.list_agents(&workspace).await? {
                if agent.spec.plan.execution_mode == ExecutionMode::PythonRuntime {
                    self.start_build(&workspace, &agent).await?;
                }
            }
        }
        Ok(())
    }

    /// Stops every hosted process (platform shutdown).
    pub async fn shutdown_hosting(&self) {
        if let Some(host) = &self.host {
            host.supervisor.shutdown().await;
        }
    }

    /// `GET /builds/{id}`.
    pub async fn get_build(&self, workspace: &str, id: &str) -> Result<Build> {
        self.store
            .get_document(workspace, Kind::Build, id)
            .await?
            .map(Build::from_document)
            .ok_or_else(|| not_found("build", id))
    }

    /// `POST /builds`: builds the agent's current sources again, and restarts it on success.
    pub async fn rebuild_agent(&self, workspace: &str, name: &str) -> Result<Build> {
        let mut agent = self.get_agent(workspace, name).await?;
        if agent.spec.plan.execution_mode != ExecutionMode::PythonRuntime {
            return Err(Error::Invalid(format!(
                "agent {name:?} runs in the platform's native loop: it has nothing to build"
            )));
        }
        agent.status.build_id = format!("build-{}", uuid::Uuid::now_v7());
        let pending = AgentStatus {
            phase: AgentPhase::Pending,
            message: format!("building ({})", agent.status.build_id),
            build_id: agent.status.build_id.clone(),
        };
        self.replace_agent_status(workspace, &agent, pending)
            .await?;
        self.start_build(workspace, &agent).await
    }

    #[expect(clippy::too_many_arguments, reason = "one build record's fields")]
    async fn write_build(
        &self,
        workspace: &str,
        id: &str,
        agent: &str,
        status: &str,
        error: &str,
        log: &str,
        reused: bool,
    ) -> Result<Build> {
        let now = Timestamp::now();
        let created_at = match self.store.get_document(workspace, Kind::Build, id).await? {
            Some(existing) => existing.created_at,
            None => now,
        };
        let document = Document {
            key: id.to_owned(),
            body: json!({"agent": agent, "status": status, "error": error, "log": log, "reused_environment": reused}),
            version: 0,
            created_at,
            updated_at: now,
        };
        let stored = self
            .store
            .put_document(workspace, Kind::Build, &document, &[], Write::Upsert)
            .await?;
        Ok(Build::from_document(stored))
    }

    /// Sets the stored status of the agent if its current build is still `build_id`.
    async fn set_agent_status(
        &self,
        workspace: &str,
        name: &str,
        build_id: &str,
        status: AgentStatus,
    ) -> Result<()> {
        let agent = self.get_agent(workspace, name).await?;
        if agent.status.build_id != build_id {
            return Ok(());
        }
        self.replace_agent_status(workspace, &agent, status).await
    }
}

/// Shared by the engine: a hosted agent's key for logs and the supervisor.
pub(crate) type SharedHost = Option<Arc<Host>>;
