//! `/policies`: create, replace (JSON, or YAML as `application/yaml`), list with usage, get,
//! delete, preview an edit's decisions; `/policy-bindings` (read-only, derived from the agents'
//! `policies`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use runagents_domain::policy::PolicyInput;
use runagents_domain::policy_preview::PreviewRequest;
use runagents_engine::policies::Policy;
use runagents_store::Write;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::{DocumentBody, JsonBody};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/policies", get(list).post(create))
        .route("/policies/translate", axum::routing::post(translate))
        .route("/policies/preview", axum::routing::post(preview))
        .route("/policies/{name}", get(read).put(replace).delete(delete))
        .route("/policy-bindings", get(bindings))
}

pub(crate) fn view(policy: &Policy, workspace: &str) -> Value {
    let rules = policy.spec.policies.len();
    json!({
        "name": policy.name,
        "namespace": workspace,
        "spec": policy.spec,
        "status": {"ready": true, "message": format!("{rules} rule(s), {} approval route(s)", policy.spec.approvals.len())},
        "used_by": policy.used_by.iter().map(|agent| json!({"name": agent, "namespace": workspace})).collect::<Vec<_>>(),
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    })
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let policies = state.engine.list_policies(&caller.workspace).await?;
    Ok(Json(
        policies
            .iter()
            .map(|policy| view(policy, &caller.workspace))
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(
        &state.engine.get_policy(&caller.workspace, &name).await?,
        &caller.workspace,
    )))
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    DocumentBody(body): DocumentBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = PolicyInput::parse(body, None)?;
    let policy = state
        .engine
        .write_policy(&caller.workspace, input, Write::Create)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&policy, &caller.workspace))))
}

async fn replace(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
    DocumentBody(body): DocumentBody,
) -> Result<Json<Value>, ApiError> {
    let input = PolicyInput::parse(body, Some(&name))?;
    let policy = state
        .engine
        .write_policy(&caller.workspace, input, Write::Replace)
        .await?;
    Ok(Json(view(&policy, &caller.workspace)))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.delete_policy(&caller.workspace, &name).await?;
    Ok(Json(json!({"status": "deleted"})))
}

/// One binding per (agent, policy) pair, in the PolicyBinding resource's shape.
async fn bindings(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let ws = &caller.workspace;
    let bindings = state.engine.list_policy_bindings(ws).await?;
    Ok(Json(
        bindings
            .iter()
            .map(|(agent, policy)| {
                json!({
                    "name": format!("{agent}-{policy}"),
                    "namespace": ws,
                    "spec": {"policyRef": {"name": policy}, "subjects": [{"kind": "Agent", "name": agent, "namespace": ws}]},
                })
            })
            .collect(),
    ))
}

/// `{text}` → `{rules}`: a draft to review, never applied by itself.
async fn translate(_caller: CallerExt, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("text is required"))?;
    let rules = runagents_domain::translate::translate(text)?;
    Ok(Json(json!({ "rules": rules })))
}

/// `{spec, name?, agent?, calls: [{tool, method, path | url}]}` → what each call would get
/// from the edited policy (with the agent's other bound policies), nothing saved.
async fn preview(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request = PreviewRequest::parse(body)?;
    let agent = request.agent.clone();
    let preview = state
        .engine
        .preview_policy(&caller.workspace, request)
        .await?;
    Ok(Json(json!({
        "agent": agent,
        "policies": preview.policies,
        "calls": preview.calls,
    })))
}
