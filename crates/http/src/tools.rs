//! `/tools`: upsert, list, get, delete, probe, test.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::tool::{AccessMode, ToolInput};
use runagents_engine::tools::{Tool, Upserted};
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tools", get(list).post(upsert))
        .route("/tools/probe", post(probe))
        .route("/tools/{name}", get(read).delete(delete))
        .route("/tools/{name}/test", post(test))
}

/// The contract's `{name, namespace, spec, status}` plus the flat keys the CLI tables read.
pub(crate) fn view(tool: &Tool, workspace: &str) -> Value {
    let connection = &tool.spec.connection;
    let access_mode = tool.spec.access_mode.or_else(|| {
        let mode = tool
            .spec
            .governance
            .get("accessControl")?
            .get("mode")?
            .clone();
        serde_json::from_value::<AccessMode>(mode).ok()
    });
    json!({
        "name": tool.name,
        "namespace": workspace,
        "spec": tool.spec,
        "status": tool.status,
        "description": tool.spec.description,
        "base_url": connection.base_url,
        "topology": connection.topology,
        "auth_type": connection.authentication.kind,
        "auth": connection.authentication.kind,
        "access_mode": access_mode.unwrap_or(AccessMode::Restricted),
        "port": connection.port,
        "scheme": connection.scheme,
        "capabilities": tool.spec.capabilities,
        "credentials_configured": tool.credentials,
        "created_at": tool.created_at,
        "updated_at": tool.updated_at,
    })
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let tools = state.engine.list_tools(&caller.workspace).await?;
    Ok(Json(
        tools
            .iter()
            .map(|tool| view(tool, &caller.workspace))
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tool = state.engine.get_tool(&caller.workspace, &name).await?;
    Ok(Json(view(&tool, &caller.workspace)))
}

async fn upsert(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = ToolInput::parse(body)?;
    let (tool, upserted) = state.engine.upsert_tool(&caller.workspace, input).await?;
    let status = if upserted == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&tool, &caller.workspace))))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.delete_tool(&caller.workspace, &name).await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn probe(
    State(state): State<AppState>,
    _caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let url = match body.get("url") {
        Some(Value::String(url)) => runagents_domain::url::http_url("url", url)?,
        _ => return Err(ApiError::invalid("url is required")),
    };
    Ok(Json(json!(state.engine.probe(&url).await)))
}

async fn test(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state.engine.test_tool(&caller.workspace, &name).await?
    )))
}
