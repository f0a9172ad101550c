//! Agents: deploy (validate, create the tools asked for, record the agent), preview, read,
//! config updates, delete, and the workspace's model spend.
//!
//! Invariant: a deploy or config update checks every reference (tools, policies, identity
//! provider) before it writes anything, so a refused request leaves nothing behind. Nothing
//! runs agents yet: a recorded agent waits, `Pending`, for an agent host.

use runagents_domain::agent::plan::{ExecutionMode, Plan, Preview};
use runagents_domain::agent::spend::{self, ModelUsage, Period, SpendItem, SpendReport, Usage};
use runagents_domain::agent::{AgentSpec, AgentStatus, ConfigUpdate, DeployInput};
use runagents_domain::model_provider::NANOS_PER_USD;
use runagents_domain::{Timestamp, from_json};
use runagents_store::{Document, Kind, Write};
use serde_json::json;

use crate::gateway::agent_key;
use crate::{Engine, Error, Result, not_found};

/// An agent as stored.
#[derive(Clone, Debug)]
pub struct Agent {
    pub name: String,
    pub spec: AgentSpec,
    pub status: AgentStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Agent {
    fn from_document(document: Document) -> Result<Self> {
        let spec = from_json("stored agent", document.body["spec"].clone())?;
        let status = from_json("stored agent status", document.body["status"].clone())
            .unwrap_or_else(|_| AgentStatus::awaiting_host(String::new()));
        Ok(Agent {
            name: document.key,
            spec,
            status,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }

    fn document(&self) -> Document {
        Document {
            key: self.name.clone(),
            body: json!({"spec": self.spec, "status": self.status}),
            version: 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The usage of each of the agent's model mappings, given the period's recorded spend.
    pub fn model_usage(&self, usage: &Usage, period: &Period) -> Vec<ModelUsage> {
        spend::model_usage(&self.spec.llm_configs, usage, period)
    }
}

/// What a deploy did.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub agent: Agent,
    /// Tools from `tools_to_create` that did not exist before.
    pub tools_created: Vec<String>,
}

impl Engine {
    pub async fn list_agents(&self, workspace: &str) -> Result<Vec<Agent>> {
        let documents = self.store.list_documents(workspace, Kind::Agent).await?;
        documents.into_iter().map(Agent::from_document).collect()
    }

    pub async fn get_agent(&self, workspace: &str, name: &str) -> Result<Agent> {
        let document = self
            .store
            .get_document(workspace, Kind::Agent, name)
            .await?
            .ok_or_else(|| not_found("agent", name))?;
        Agent::from_document(document)
    }

    pub async fn delete_agent(&self, workspace: &str, name: &str) -> Result<()> {
        // Credentials first: a deleted agent must not keep reaching the agent plane.
        self.store.delete_agent_credentials(workspace, name).await?;
        self.stop_hosting(workspace, name).await;
        let deleted = self
            .store
            .delete_document(workspace, Kind::Agent, name)
            .await?;
        self.agent_specs.forget(&agent_key(workspace, name));
        self.forget_agent_log(workspace, name);
        if deleted {
            Ok(())
        } else {
            Err(not_found("agent", name))
        }
    }

    /// What a deploy of `input` would do, after the same checks; writes nothing.
    pub async fn preview_deploy(&self, workspace: &str, input: &DeployInput) -> Result<Preview> {
        self.check_deploy(workspace, input).await?;
        Ok(input.spec.plan.preview())
    }

    /// Creates or updates (by name) the agent; creates the `tools_to_create` that don't exist.
    pub async fn deploy(&self, workspace: &str, input: DeployInput) -> Result<Deployed> {
        self.check_deploy(workspace, &input).await?;
        let name = input.name.to_string();
        let mut tools_created = Vec::new();
        for tool in input.tools_to_create {
            let tool_name = tool.name.to_string();
            // An existing tool is kept as configured, never replaced by the deploy's sketch.
            if self.exists(workspace, Kind::Tool, &tool_name).await? {
                continue;
            }
            self.upsert_tool(workspace, tool).await?;
            tools_created.push(tool_name);
        }

        // Every hosted (Tier-2) deploy gets a build: an unchanged environment is reused at
        // once, and the sources are checked before the new process replaces the old.
        let hosted = input.spec.plan.execution_mode == ExecutionMode::PythonRuntime;
        let build_id = if hosted && self.hosts_agents() {
            format!("build-{}", uuid::Uuid::now_v7())
        } else {
            String::new()
        };
        let mut status = AgentStatus::deployed(&input.spec, build_id.clone());
        if !build_id.is_empty() {
            status.message = format!("building ({build_id})");
        }
        let now = Timestamp::now();
        let agent = Agent {
            name,
            status,
            spec: input.spec,
            created_at: now,
            updated_at: now,
        };
        let stored = self
            .store
            .put_document(
                workspace,
                Kind::Agent,
                &agent.document(),
                &[],
                Write::Upsert,
            )
            .await?;
        self.agent_specs.forget(&agent_key(workspace, &agent.name));
        let agent = Agent::from_document(stored)?;
        if !build_id.is_empty() {
            self.start_build(workspace, &agent).await?;
        }
        Ok(Deployed {
            agent,
            tools_created,
        })
    }

    /// Writes the agent's status (its spec as read).
    pub(crate) async fn replace_agent_status(
        &self,
        workspace: &str,
        agent: &Agent,
        status: AgentStatus,
    ) -> Result<()> {
        let mut agent = agent.clone();
        agent.status = status;
        agent.updated_at = Timestamp::now();
        match self
            .store
            .put_document(
                workspace,
                Kind::Agent,
                &agent.document(),
                &[],
                Write::Replace,
            )
            .await
        {
            Ok(_) | Err(runagents_store::Error::NotFound) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Applies a partial config update after checking what it refers to.
    pub async fn update_agent_config(
        &self,
        workspace: &str,
        name: &str,
        update: ConfigUpdate,
    ) -> Result<Agent> {
        let mut agent = self.get_agent(workspace, name).await?;
        update.apply(&mut agent.spec);
        if agent.spec.plan.execution_mode == ExecutionMode::NativeLoop {
            agent.status = AgentStatus::deployed(&agent.spec, agent.status.build_id.clone());
        }
        self.check_references(workspace, &agent.spec, &[]).await?;
        agent.updated_at = Timestamp::now();
        let written = self
            .store
            .put_document(
                workspace,
                Kind::Agent,
                &agent.document(),
                &[],
                Write::Replace,
            )
            .await;
        // After the write, so a gateway call cannot cache the old budgets in between.
        self.agent_specs.forget(&agent_key(workspace, name));
        match written {
            Ok(stored) => Agent::from_document(stored),
            Err(runagents_store::Error::NotFound) => Err(not_found("agent", name)),
            Err(error) => Err(error.into()),
        }
    }

    /// This month's usage of each of the agent's model mappings, from the gateway's records.
    /// Spend is kept by agent name, so neither a redeploy nor a delete and re-create resets it.
    pub async fn agent_model_usage(
        &self,
        workspace: &str,
        agent: &Agent,
    ) -> Result<Vec<ModelUsage>> {
        let period = current_period();
        let rows = self.store.list_spend(workspace, period.start).await?;
        let usage = Usage::of_period(
            &period,
            rows.iter()
                .filter(|row| row.agent == agent.name)
                .map(|row| (row.label.as_str(), nanos_to_usd(row.spent_nanos))),
        );
        Ok(agent.model_usage(&usage, &period))
    }

    /// The workspace's model spend and budget posture for the current month.
    pub async fn model_spend(&self, workspace: &str) -> Result<SpendReport> {
        let period = current_period();
        let rows = self.store.list_spend(workspace, period.start).await?;
        let items = self
            .list_agents(workspace)
            .await?
            .into_iter()
            .flat_map(|agent| {
                let usage = Usage::of_period(
                    &period,
                    rows.iter()
                        .filter(|row| row.agent == agent.name)
                        .map(|row| (row.label.as_str(), nanos_to_usd(row.spent_nanos))),
                );
                agent
                    .model_usage(&usage, &period)
                    .into_iter()
                    .map(move |usage| SpendItem {
                        usage,
                        agent_name: agent.name.clone(),
                        agent_namespace: workspace.to_owned(),
                    })
            })
            .collect();
        Ok(spend::spend_report(items, &period))
    }

    async fn check_deploy(&self, workspace: &str, input: &DeployInput) -> Result<()> {
        refuse_unhostable(&input.spec.plan)?;
        let creating: Vec<&str> = input
            .tools_to_create
            .iter()
            .map(|tool| tool.name.as_str())
            .collect();
        self.check_references(workspace, &input.spec, &creating)
            .await
    }

    /// Every tool, policy, model provider and identity provider the spec names must exist (tools may also be
    /// among those the request creates).
    async fn check_references(
        &self,
        workspace: &str,
        spec: &AgentSpec,
        creating: &[&str],
    ) -> Result<()> {
        for tool in spec.referenced_tools() {
            if !creating.contains(&tool) && !self.exists(workspace, Kind::Tool, tool).await? {
                return Err(Error::Invalid(format!(
                    "tool {tool:?} not found; register it first or add it to tools_to_create"
                )));
            }
        }
        for policy in &spec.policies {
            if !self.exists(workspace, Kind::Policy, policy).await? {
                return Err(Error::Invalid(format!("policy {policy:?} not found")));
            }
        }
        for config in &spec.llm_configs {
            let provider = &config.model_provider;
            if !provider.is_empty()
                && !self
                    .exists(workspace, Kind::ModelProvider, provider)
                    .await?
            {
                return Err(Error::Invalid(format!(
                    "model provider {provider:?} not found; register it under /model-providers first"
                )));
            }
        }
        let identity_provider = &spec.identity_provider;
        if !identity_provider.is_empty()
            && !self
                .exists(workspace, Kind::IdentityProvider, identity_provider)
                .await?
        {
            return Err(Error::Invalid(format!(
                "identity provider {identity_provider:?} not found"
            )));
        }
        Ok(())
    }

    async fn exists(&self, workspace: &str, kind: Kind, key: &str) -> Result<bool> {
        Ok(self
            .store
            .get_document(workspace, kind, key)
            .await?
            .is_some())
    }
}

/// This server hosts agents locally from their source; images need a container backend.
fn refuse_unhostable(plan: &Plan) -> Result<()> {
    match plan.execution_mode {
        ExecutionMode::ContainerImage => Err(Error::Invalid(
            "image deploys need the kubernetes hosting backend; this server hosts agents locally from source_files"
                .to_owned(),
        )),
        ExecutionMode::NativeLoop | ExecutionMode::PythonRuntime => Ok(()),
    }
}

/// Stale requests are PENDING ones raised in a run of an agent that has since been deleted
/// (or deleted and deployed again, so the run is not the present agent's). Nobody can act on
/// them usefully: the run never resumes. Requests raised by hand outside a run are never stale.
#[derive(Debug, Default)]
pub struct StaleCheck {
    /// When each agent of the workspace was created (empty when no request could be stale).
    born: std::collections::HashMap<String, Timestamp>,
}

impl StaleCheck {
    fn may_be_stale(request: &runagents_store::ListedRequest) -> bool {
        request.status == "PENDING" && !request.run_id.is_empty()
    }

    /// Whether `request`, raised by `agent` (its body's `agent_id`), is stale.
    pub fn is_stale(&self, request: &runagents_store::ListedRequest, agent: &str) -> bool {
        Self::may_be_stale(request)
            && !agent.is_empty()
            && self
                .born
                .get(agent)
                .is_none_or(|created| request.created_at < *created)
    }
}

pub fn current_period() -> Period {
    Period::month_of(Timestamp::now())
}

fn nanos_to_usd(nanos: i64) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

impl Engine {
    /// What tells the stale requests among `requests` (see `StaleCheck`); reads the agents
    /// only if one of them could be stale.
    pub async fn stale_check(
        &self,
        workspace: &str,
        requests: &[runagents_store::ListedRequest],
    ) -> Result<StaleCheck> {
        if !requests.iter().any(StaleCheck::may_be_stale) {
            return Ok(StaleCheck::default());
        }
        let born = self
            .list_agents(workspace)
            .await?
            .into_iter()
            .map(|agent| (agent.name, agent.created_at))
            .collect();
        Ok(StaleCheck { born })
    }
}
