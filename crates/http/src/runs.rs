//! `/runs`: create, list, get, status transitions, and event timelines.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use runagents_engine::runs::NewRun;
use runagents_store::{EventRecord, RunRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs", get(list).post(create))
        .route("/runs/{id}", get(read).patch(patch))
        .route("/runs/{id}/events", get(events).post(post_event))
}

/// The contract's fields plus the aliases the SDK and CLI read; strings are never null.
pub(crate) fn view(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "conversation_id": run.conversation_id,
        "agent_id": run.agent,
        "agent": run.agent,
        "agent_uid": "",
        "namespace": run.workspace,
        "user_id": run.user_id,
        "surface_turn_id": "",
        "status": run.status,
        "blocked_action_id": run.blocked_action_id,
        "initial_message": run.initial_message,
        "message": run.initial_message,
        "invoke_url": run.invoke_url,
        "final_answer": run.final_answer,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    })
}

pub(crate) fn event_view(event: &EventRecord) -> Value {
    json!({
        "event_id": event.id,
        "id": event.id,
        "run_id": event.run_id,
        "seq": event.seq,
        "sequence": event.seq,
        "type": event.kind,
        "actor": event.actor,
        "payload_hash": event.payload_hash,
        "data": event.data,
        "timestamp": event.at,
        "created_at": event.at,
    })
}

fn string(body: &Value, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a string"))),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = NewRun {
        agent: string(&body, "agent_id")?,
        user_id: string(&body, "user_id")?,
        conversation_id: string(&body, "conversation_id")?,
        invoke_url: string(&body, "invoke_url")?,
        initial_message: string(&body, "initial_message")?,
    };
    let (run, _) = state.engine.create_run(&caller.workspace, new).await?;
    Ok((StatusCode::CREATED, Json(view(&run))))
}

#[derive(Deserialize)]
struct ListQuery {
    agent_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: CallerExt,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let runs = state
        .engine
        .list_runs(
            &caller.workspace,
            query.agent_id,
            query.status.as_deref(),
            query.limit,
        )
        .await?;
    Ok(Json(runs.iter().map(view).collect()))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(
        &state.engine.get_run(&caller.workspace, &id).await?,
    )))
}

async fn patch(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("status is required"))?;
    Ok(Json(view(
        &state
            .engine
            .set_run_status(&caller.workspace, &id, status)
            .await?,
    )))
}

#[derive(Deserialize)]
struct EventsQuery {
    after_seq: Option<i64>,
    limit: Option<u32>,
}

async fn events(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let events = state
        .engine
        .list_run_events(
            &caller.workspace,
            &id,
            query.after_seq.unwrap_or(0),
            query.limit,
        )
        .await?;
    Ok(Json(events.iter().map(event_view).collect()))
}

async fn post_event(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let event = state
        .engine
        .post_run_event(&caller.workspace, &id, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(event_view(&event))))
}
