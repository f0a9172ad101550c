//! `/runs`: create, list, get, status transitions, and event timelines.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use runagents_engine::runs::NewRun;
use runagents_store::{EventRecord, RunRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use runagents_domain::fields::text;

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs", get(list).post(create))
        .route("/runs/{id}", get(read).patch(patch))
        .route("/runs/{id}/events", get(events).post(post_event))
        .route("/runs/{id}/actions", axum::routing::post(create_action))
        .route("/runs/{id}/actions/{action_id}", get(read_action))
        .route(
            "/runs/{id}/actions/{action_id}/approve",
            axum::routing::post(approve_action),
        )
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

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = NewRun {
        agent: text(&body, "agent_id")?,
        user_id: text(&body, "user_id")?,
        conversation_id: text(&body, "conversation_id")?,
        invoke_url: text(&body, "invoke_url")?,
        initial_message: text(&body, "initial_message")?,
        ..NewRun::default()
    };
    let (run, _) = state.engine.create_run(&caller.workspace, new).await?;
    Ok((StatusCode::CREATED, Json(view(&run))))
}

#[derive(Deserialize)]
struct ListQuery {
    agent_id: Option<String>,
    user_id: Option<String>,
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
            query.user_id,
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
    /// `ndjson` streams one event per line (audit export).
    format: Option<String>,
    /// `splunk_hec` wraps each line as a Splunk HTTP Event Collector event.
    schema: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
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
    let ndjson = match query.format.as_deref() {
        None | Some("json") => false,
        Some("ndjson") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format {other:?} is not supported; use json or ndjson"
            )));
        }
    };
    let splunk = match query.schema.as_deref() {
        None => false,
        Some("splunk_hec") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "schema {other:?} is not supported; use splunk_hec"
            )));
        }
    };
    if !ndjson && !splunk {
        return Ok(Json(events.iter().map(event_view).collect::<Value>()).into_response());
    }
    // Audit export: one record per line, each carrying the run's identity.
    let run = state.engine.get_run(&caller.workspace, &id).await?;
    let lines: String = events
        .iter()
        .map(|event| {
            format!(
                "{}\n",
                if splunk {
                    splunk_hec(&run, event)
                } else {
                    audit_line(&run, event)
                }
            )
        })
        .collect();
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        lines,
    )
        .into_response())
}

/// One audit record: the event with the run's identity (who, which agent, which workspace).
fn audit_line(run: &RunRecord, event: &EventRecord) -> Value {
    let mut line = event_view(event);
    line["agent_id"] = json!(run.agent);
    line["user_id"] = json!(run.user_id);
    line["namespace"] = json!(run.workspace);
    line["conversation_id"] = json!(run.conversation_id);
    line
}

/// The same record as a Splunk HEC event: `{time, host, source, sourcetype, event}`.
fn splunk_hec(run: &RunRecord, event: &EventRecord) -> Value {
    json!({
        "time": event.at.millis() as f64 / 1000.0,
        "host": "runagents",
        "source": format!("runagents:{}", run.workspace),
        "sourcetype": "runagents:run_event",
        "event": audit_line(run, event),
    })
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

/// The contract's BlockedAction.
fn action_view(action: &runagents_store::ActionRecord) -> Value {
    json!({
        "action_id": action.id,
        "id": action.id,
        "run_id": action.run_id,
        "tool_id": action.tool,
        "capability": action.capability,
        "payload_hash": action.payload_hash,
        "status": action.status,
        "created_at": action.created_at,
        "updated_at": action.updated_at,
    })
}

async fn create_action(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = state
        .engine
        .create_run_action(&caller.workspace, &id, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(action_view(&action))))
}

async fn read_action(
    State(state): State<AppState>,
    caller: CallerExt,
    Path((id, action_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(action_view(
        &state
            .engine
            .get_run_action(&caller.workspace, &id, &action_id)
            .await?,
    )))
}

async fn approve_action(
    State(state): State<AppState>,
    caller: CallerExt,
    Path((id, action_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let payload_hash = match body.get("payload_hash") {
        None | Some(Value::Null) => None,
        Some(Value::String(hash)) => Some(hash.as_str()),
        Some(_) => return Err(ApiError::invalid("payload_hash must be a string")),
    };
    Ok(Json(action_view(
        &state
            .engine
            .approve_run_action(&caller, &id, &action_id, payload_hash)
            .await?,
    )))
}
