//! Access requests: `/approvals/requests` and `/governance/requests` (the same API), list,
//! create, get, approve with a scope, reject. Deciding needs the approver groups of the
//! request's approval rule (403 otherwise); deciding again alike answers the decided request,
//! deciding otherwise is 409.

use std::borrow::Cow;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::Timestamp;
use runagents_domain::approval::parse_decision;
use runagents_store::{ListedRequest, RequestFields, RequestRecord};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

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
///
/// Serialized straight from the listed request rather than built as a `serde_json::Value`:
/// the queue lists up to 10,000 of them, and building, cloning and dropping those trees was
/// most of its time. The keys are in the alphabetical order a `Value` prints, and `routing` is
/// spliced as stored (which is how a `Value` prints it: bodies are written from `Value`s); the
/// tests below check the bytes are the same as the `Value`-built view's.
#[derive(Serialize)]
struct RequestView<'a> {
    action_id: &'a str,
    agent: Cow<'a, str>,
    agent_id: Cow<'a, str>,
    approver_id: Cow<'a, str>,
    capability: Cow<'a, str>,
    channel: Cow<'a, str>,
    created_at: Timestamp,
    duration: Cow<'a, str>,
    expires_at: String,
    id: &'a str,
    message: Cow<'a, str>,
    payload_hash: &'a str,
    reason: Cow<'a, str>,
    routing: Routing<'a>,
    run_id: &'a str,
    scope: Cow<'a, str>,
    /// Only in the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: Option<bool>,
    status: &'a str,
    subject: Cow<'a, str>,
    tool: Cow<'a, str>,
    tool_id: Cow<'a, str>,
    tool_method: Cow<'a, str>,
    tool_url: Cow<'a, str>,
    updated_at: Timestamp,
}

/// The body's `routing` as stored, `{}` when it has none.
struct Routing<'a>(Option<&'a RawValue>);

impl Serialize for Routing<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(routing) => routing.serialize(serializer),
            None => serializer.serialize_map(Some(0))?.end(),
        }
    }
}

impl<'a> RequestView<'a> {
    fn new(request: &'a ListedRequest, fields: RequestFields<'a>, stale: Option<bool>) -> Self {
        RequestView {
            action_id: &request.action_id,
            agent: fields.agent_id.clone(),
            agent_id: fields.agent_id,
            approver_id: fields.approver_id,
            capability: fields.capability,
            channel: fields.channel,
            created_at: request.created_at,
            duration: fields.duration,
            expires_at: request
                .expires_at
                .map(|at| at.rfc3339())
                .unwrap_or_default(),
            id: &request.id,
            message: fields.message,
            payload_hash: &request.payload_hash,
            reason: fields.reason,
            routing: Routing(fields.routing),
            run_id: &request.run_id,
            scope: fields.scope,
            stale,
            status: &request.status,
            subject: fields.subject,
            tool: fields.tool_id.clone(),
            tool_id: fields.tool_id,
            tool_method: fields.tool_method,
            tool_url: fields.tool_url,
            updated_at: request.updated_at,
        }
    }
}

/// The view of one request as a `Value`, for the answers about one request.
pub(crate) fn view(request: &RequestRecord) -> Value {
    // Cannot fail: every map key in a request is a string.
    let listed = ListedRequest::from(request);
    serde_json::to_value(RequestView::new(&listed, listed.fields(), None)).unwrap_or_default()
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    /// Also list stale requests (of deleted agents' runs), which are left out by default.
    include_stale: Option<bool>,
}

/// Each request with `stale`; stale ones only with `include_stale=true`. Each body is read
/// once, for both.
async fn list(
    State(state): State<AppState>,
    caller: CallerExt,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let requests = state
        .engine
        .list_access_requests(&caller.workspace, query.status.as_deref())
        .await?;
    let stale = state
        .engine
        .stale_check(&caller.workspace, &requests)
        .await?;
    let include_stale = query.include_stale.unwrap_or(false);
    let mut views = Vec::with_capacity(requests.len());
    views.extend(requests.iter().filter_map(|request| {
        let fields = request.fields();
        let is_stale = stale.is_stale(request, &fields.agent_id);
        (include_stale || !is_stale).then(|| RequestView::new(request, fields, Some(is_stale)))
    }));
    // Sized up front: a long queue is megabytes, and growing the buffer would copy it over
    // and over. A view is at most its body's length plus some 600 bytes of keys, ids and times.
    let size = requests.iter().map(|r| r.body.get().len() + 640).sum();
    let mut body = Vec::with_capacity(size);
    serde_json::to_writer(&mut body, &views).map_err(|e| {
        ApiError(runagents_engine::Error::Store(
            runagents_store::Error::Backend(e.to_string()),
        ))
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The view as it was first written, through a `serde_json::Value`: the struct must print
    /// the same bytes.
    fn value_view(request: &RequestRecord) -> Value {
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

    fn request(body: Value, expires_at: Option<Timestamp>) -> RequestRecord {
        RequestRecord {
            id: "req-1".into(),
            workspace: "default".into(),
            action_id: "act-1".into(),
            run_id: "run-1".into(),
            payload_hash: "sha256:ab".into(),
            status: "APPROVED".into(),
            body,
            expires_at,
            created_at: Timestamp(1_773_316_800_007),
            updated_at: Timestamp(1_773_316_900_123),
        }
    }

    #[test]
    fn view_prints_what_the_value_built_view_printed() {
        let decided = request(
            json!({"subject": "alice", "agent_id": "billing", "tool_id": "stripe",
                "capability": "charge", "tool_method": "POST", "tool_url": "https://api.stripe.com/v1/charges",
                "duration": "4h", "message": "Approval required for stripe (charge): \"POST\" \u{e9}\u{1f600}\n",
                "policy": "p", "rule": 2, "scope": "run", "approver_id": "bob", "channel": "slack",
                "reason": "ok <b>", "routing": {"rule": "finance", "approvers": {"groups": ["fin", "ops"]},
                    "defaultDuration": "", "delivery": {"fallbackToUI": true, "connectors": ["slack"]}}}),
            Some(Timestamp(1_773_330_000_000)),
        );
        let manual = request(
            json!({"subject": "bob", "agent_id": "a", "tool_id": "t", "routing": {}}),
            None,
        );
        let no_routing = request(json!({"agent_id": 7, "routing": null}), None);
        let bare = request(json!({}), None);
        let null_body = request(Value::Null, None);
        let not_object = request(json!(["a"]), None);
        for request in [decided, manual, no_routing, bare, null_body, not_object] {
            let old = value_view(&request);
            assert_eq!(view(&request), old);
            let listed = ListedRequest::from(&request);
            assert_eq!(
                serde_json::to_string(&RequestView::new(&listed, listed.fields(), None)).unwrap(),
                old.to_string()
            );
            for stale in [false, true] {
                let mut shown = old.clone();
                shown["stale"] = json!(stale);
                assert_eq!(
                    serde_json::to_string(&RequestView::new(&listed, listed.fields(), Some(stale)))
                        .unwrap(),
                    shown.to_string()
                );
            }
        }
    }
}
