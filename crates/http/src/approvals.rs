//! Access requests: `/approvals/requests` and `/governance/requests` (the same API), list,
//! create, get, approve with a scope, reject. Deciding needs the approver groups of the
//! request's approval rule (403 otherwise); deciding again alike answers the decided request,
//! deciding otherwise is 409.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::approval::parse_decision;
use runagents_store::RequestRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for base in ["/approvals/requests", "/governance/requests"] {
        router = router
            .route(base, get(list).post(create))
            .route(&format!("{base}/{{id}}"), get(read))
            .route(&format!("{base}/{{id}}/approve"), post(approve))
            .route(&format!("{base}/{{id}}/reject"), post(reject));
    }
    router
}

/// Every field of the Approvals API, plus `agent`/`tool` for the CLI table. Never null.
pub(crate) fn view(request: &RequestRecord) -> Value {
    let text = |key: &str| request.body[key].as_str().unwrap_or_default().to_owned();
    json!({
        "id": request.id,
        "subject": text("subject"),
        "agent_id": text("agent_id"),
        "agent": text("agent_id"),
        "tool_id": text("tool_id"),
        "tool": text("tool_id"),
        "capability": text("capability"),
        "tool_method": text("tool_method"),
        "tool_url": text("tool_url"),
        "status": request.status,
        "duration": text("duration"),
        "scope": text("scope"),
        "approver_id": text("approver_id"),
        "channel": text("channel"),
        "reason": text("reason"),
        "message": text("message"),
        "action_id": request.action_id,
        "run_id": request.run_id,
        "payload_hash": request.payload_hash,
        "routing": request.body.get("routing").cloned().unwrap_or_else(|| json!({})),
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "expires_at": request.expires_at.map(|at| at.rfc3339()).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    /// Also list stale requests (of deleted agents' runs), which are left out by default.
    include_stale: Option<bool>,
}

/// Each request with `stale`; stale ones only with `include_stale=true`.
async fn list(
    State(state): State<AppState>,
    caller: CallerExt,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let requests = state
        .engine
        .list_access_requests(&caller.workspace, query.status.as_deref())
        .await?;
    let stale = state
        .engine
        .stale_requests(&caller.workspace, &requests)
        .await?;
    let include_stale = query.include_stale.unwrap_or(false);
    Ok(Json(
        requests
            .iter()
            .filter(|request| include_stale || !stale.contains(&request.id))
            .map(|request| {
                let mut shown = view(request);
                shown["stale"] = json!(stale.contains(&request.id));
                shown
            })
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(
        &state
            .engine
            .get_access_request(&caller.workspace, &id)
            .await?,
    )))
}

/// 201 for a new request, 200 when the same pending request is returned.
async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (request, created) = state
        .engine
        .create_access_request(&caller.workspace, &body)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&request))))
}

async fn approve(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let decision = parse_decision(&body)?;
    Ok(Json(view(
        &state.engine.approve_request(&caller, &id, decision).await?,
    )))
}

async fn reject(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let reason = runagents_domain::fields::text(&body, "reason")?;
    Ok(Json(view(
        &state.engine.reject_request(&caller, &id, reason).await?,
    )))
}
