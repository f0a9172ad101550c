//! `/deploy`, `/deploy/preview`, `/agents`, `/agents/{name}/config` and `/model-spend`.
//!
//! Views never carry `null` where the SDK reads an object, array or string, and never echo
//! source file contents (only their names).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::agent::spend::ModelUsage;
use runagents_domain::agent::{ConfigUpdate, DeployInput};
use runagents_engine::agents::{Agent, Deployed};
use runagents_engine::hosting::Build;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/deploy", post(deploy))
        .route("/deploy/preview", post(preview))
        .route("/agents", get(list))
        .route("/agents/{name}", get(read).delete(delete))
        .route("/agents/{name}/config", get(read_config).put(update_config))
        .route("/agents/{name}/logs", get(logs))
        .route("/builds", post(build))
        .route("/builds/{id}", get(read_build))
        .route("/model-spend", get(model_spend))
}

/// `{provider, model}` of the main model mapping, or `{}`.
fn main_llm(agent: &Agent) -> Value {
    agent.spec.main_llm().map_or_else(
        || json!({}),
        |llm| json!({"provider": llm.provider, "model": llm.model}),
    )
}

/// The contract's `{name, namespace, labels, spec, status}` plus the flat keys the CLI reads.
pub(crate) fn view(agent: &Agent, workspace: &str) -> Value {
    let spec = &agent.spec;
    let mut labels = serde_json::Map::new();
    if !spec.identity_provider.is_empty() {
        labels.insert(
            "platform.ai/identity-provider".to_owned(),
            json!(spec.identity_provider),
        );
    }
    let llm_config = main_llm(agent);
    json!({
        "name": agent.name,
        "namespace": workspace,
        "labels": labels,
        "spec": {
            "image": spec.image,
            "systemPrompt": spec.system_prompt,
            "requiredTools": spec.required_tools.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
            "toolUrlMappings": spec.tool_url_mappings,
            "llmConfig": llm_config,
            "llmConfigs": spec.llm_configs,
            "env": spec.env,
            "policies": spec.policies,
            "identityProvider": spec.identity_provider,
            "sourceFiles": spec.source_files.keys().collect::<Vec<_>>(),
            "entryPoint": spec.entry_point,
            "framework": spec.framework,
            "tier": spec.plan.tier,
            "executionMode": spec.plan.execution_mode,
        },
        "status": {"phase": agent.status.phase, "message": agent.status.message, "buildId": agent.status.build_id},
        "image": spec.image,
        "required_tools": spec.required_tools,
        "llm_config": llm_config,
        "system_prompt": spec.system_prompt,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    })
}

/// The contract's `AgentConfig`, with this month's usage of each model mapping.
fn config_view(agent: &Agent, workspace: &str, model_usage: &[ModelUsage]) -> Value {
    let spec = &agent.spec;
    let llm_configs: Vec<Value> = spec
        .llm_configs
        .iter()
        .map(|llm| {
            json!({
                "role": llm.role,
                "model_provider": llm.model_provider,
                "provider": llm.provider,
                "model": llm.model,
                "monthly_budget_usd": llm.monthly_budget_usd,
            })
        })
        .collect();
    json!({
        "agent_name": agent.name,
        "namespace": workspace,
        "image": spec.image,
        "runtime": spec.plan.execution_mode,
        "system_prompt": spec.system_prompt,
        "identity_provider": spec.identity_provider,
        "llm_configs": llm_configs,
        "model_usage": model_usage,
        "required_tools": spec.required_tools,
        "policies": spec.policies,
    })
}

fn deployed_view(deployed: &Deployed, workspace: &str) -> Value {
    let agent = &deployed.agent;
    let plan = &agent.spec.plan;
    json!({
        "agent": agent.name,
        "agent_name": agent.name,
        "namespace": workspace,
        "tools_created": deployed.tools_created,
        "status": agent.status.phase,
        "message": agent.status.message,
        "build_id": agent.status.build_id,
        "image_uri": "",
        "execution_mode": plan.execution_mode,
        "build_required": plan.build_required,
        "build_profile": plan.build_profile,
        "decision_reason": plan.decision_reason,
    })
}

async fn deploy(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = DeployInput::parse(body)?;
    let deployed = state.engine.deploy(&caller.workspace, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(deployed_view(&deployed, &caller.workspace)),
    ))
}

async fn preview(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let input = DeployInput::parse(body)?;
    let preview = state
        .engine
        .preview_deploy(&caller.workspace, &input)
        .await?;
    Ok(Json(json!(preview)))
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let mut agents = state.engine.list_agents(&caller.workspace).await?;
    for agent in &mut agents {
        agent.status = state.engine.agent_status(&caller.workspace, agent);
    }
    Ok(Json(
        agents
            .iter()
            .map(|agent| view(agent, &caller.workspace))
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut agent = state.engine.get_agent(&caller.workspace, &name).await?;
    agent.status = state.engine.agent_status(&caller.workspace, &agent);
    Ok(Json(view(&agent, &caller.workspace)))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.delete_agent(&caller.workspace, &name).await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn read_config(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let agent = state.engine.get_agent(&caller.workspace, &name).await?;
    let usage = state
        .engine
        .agent_model_usage(&caller.workspace, &agent)
        .await?;
    Ok(Json(config_view(&agent, &caller.workspace, &usage)))
}

async fn update_config(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let update = ConfigUpdate::parse(body)?;
    let agent = state
        .engine
        .update_agent_config(&caller.workspace, &name, update)
        .await?;
    let usage = state
        .engine
        .agent_model_usage(&caller.workspace, &agent)
        .await?;
    Ok(Json(config_view(&agent, &caller.workspace, &usage)))
}

async fn model_spend(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state.engine.model_spend(&caller.workspace).await?
    )))
}

#[derive(serde::Deserialize)]
struct LogsQuery {
    tail: Option<usize>,
}

/// `GET /agents/{name}/logs?tail=N`: the last N (default 200) lines, oldest first.
async fn logs(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
    axum::extract::Query(query): axum::extract::Query<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
    let tail = query.tail.unwrap_or(200).clamp(1, 10_000);
    let lines = state
        .engine
        .agent_log(&caller.workspace, &name, tail)
        .await?;
    let logs: Vec<Value> = lines
        .iter()
        .map(|line| json!({"timestamp": line.at, "stream": line.stream, "message": line.message}))
        .collect();
    Ok(Json(json!({"agent": name, "logs": logs})))
}

fn build_view(build: &Build) -> Value {
    json!({
        "id": build.id,
        "build_id": build.id,
        "agent_name": build.agent,
        "status": build.status,
        "error": build.error,
        "log": build.log,
        "reused_environment": build.reused_environment,
        "created_at": build.created_at,
        "updated_at": build.updated_at,
    })
}

/// `POST /builds {"agent_name"}`: builds the agent's sources again; on success its runtime
/// restarts. Answers at once (202) with the PENDING build.
async fn build(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = runagents_domain::fields::text(&body, "agent_name")?;
    if name.is_empty() {
        return Err(ApiError::invalid(
            "agent_name is required: the agent whose sources to build",
        ));
    }
    let build = state.engine.rebuild_agent(&caller.workspace, &name).await?;
    Ok((StatusCode::ACCEPTED, Json(build_view(&build))))
}

async fn read_build(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let build = state.engine.get_build(&caller.workspace, &id).await?;
    Ok(Json(build_view(&build)))
}
