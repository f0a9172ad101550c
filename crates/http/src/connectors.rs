//! `/approval-connectors`, also served as `/settings/approval-connectors` (the documented path):
//! CRUD, `test`, `defaults` and `activity`. The literal segments win over `{id}` because the
//! router prefers static segments to captures.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::connector::{
    ConnectorType, Defaults, Fields, MASK, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, activity_limit,
};
use runagents_engine::connectors::{ActivityEntry, Connector};
use serde_json::{Map, Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    ["/approval-connectors", "/settings/approval-connectors"]
        .into_iter()
        .fold(Router::new(), |router, base| {
            router
                .route(base, get(list).post(create))
                .route(&format!("{base}/test"), post(test))
                .route(
                    &format!("{base}/defaults"),
                    get(defaults).put(update_defaults),
                )
                .route(&format!("{base}/activity"), get(activity))
                .route(
                    &format!("{base}/{{id}}"),
                    get(read).patch(update).delete(delete),
                )
                .route(&format!("{base}/{{id}}/test"), post(test_stored))
        })
}

/// Every header value shows as `MASK`; `slack_security_mode` is `""` for other types. The
/// approver settings show for the types that use them; a Jira connector also shows the URL its
/// transition webhook posts to.
pub(crate) fn view(connector: &Connector, workspace: &str, operator_url: &str) -> Value {
    let spec = &connector.spec;
    let headers: Map<String, Value> = spec
        .header_names
        .iter()
        .map(|name| (name.clone(), json!(MASK)))
        .collect();
    let mut view = json!({
        "id": connector.id,
        "name": spec.name,
        "type": spec.kind,
        "endpoint": spec.endpoint,
        "headers": headers,
        "enabled": spec.enabled,
        "timeout_seconds": spec.timeout_seconds,
        "slack_security_mode": spec.slack_security_mode.map_or("", |mode| mode.as_str()),
        "created_at": connector.created_at,
        "updated_at": connector.updated_at,
    });
    let fields = view.as_object_mut();
    if let Some(fields) = fields {
        if spec.kind.names_its_users() {
            fields.insert("approver_map".into(), json!(spec.approver_map));
        }
        if spec.kind.carries_links() {
            fields.insert("link_approver".into(), json!(spec.link_approver));
        }
        if spec.kind == ConnectorType::Jira {
            let (approve, reject) = spec.transitions();
            fields.insert("approve_transitions".into(), json!(approve));
            fields.insert("reject_transitions".into(), json!(reject));
            // Where the Jira admin webhook (with the connector's X-Jira-Webhook-Secret) posts.
            fields.insert(
                "webhook_url".into(),
                json!(format!(
                    "{operator_url}/integrations/jira/{}/{}",
                    workspace, connector.id
                )),
            );
        }
    }
    view
}

fn defaults_view(defaults: &Defaults) -> Value {
    json!({
        "default_delivery_mode": defaults.default_delivery_mode,
        "default_fallback_to_ui": defaults.default_fallback_to_ui,
        "default_timeout_seconds": defaults.default_timeout_seconds,
        "min_timeout_seconds": MIN_TIMEOUT_SECONDS,
        "max_timeout_seconds": MAX_TIMEOUT_SECONDS,
    })
}

/// The stored entry plus its `id` and `timestamp`.
fn activity_view(entry: &ActivityEntry) -> Value {
    let mut view = json!(entry.activity);
    if let Value::Object(fields) = &mut view {
        fields.insert("id".into(), json!(entry.id));
        fields.insert("timestamp".into(), json!(entry.at));
    }
    view
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let connectors = state.engine.list_connectors(&caller.workspace).await?;
    let url = &state.engine.settings().operator_url;
    Ok(Json(
        connectors
            .iter()
            .map(|c| view(c, &caller.workspace, url))
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let connector = state.engine.get_connector(&caller.workspace, &id).await?;
    Ok(Json(view(
        &connector,
        &caller.workspace,
        &state.engine.settings().operator_url,
    )))
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields = Fields::parse(body)?;
    let connector = state.engine.create_connector(&caller, fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(
            &connector,
            &caller.workspace,
            &state.engine.settings().operator_url,
        )),
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = Fields::parse(body)?;
    let connector = state.engine.update_connector(&caller, &id, patch).await?;
    Ok(Json(view(
        &connector,
        &caller.workspace,
        &state.engine.settings().operator_url,
    )))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .delete_connector(&caller.workspace, &id)
        .await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn test(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let fields = Fields::parse(body)?;
    let report = state
        .engine
        .test_connector_config(&caller.workspace, fields)
        .await?;
    Ok(Json(json!(report)))
}

async fn test_stored(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let report = state
        .engine
        .test_stored_connector(&caller.workspace, &id)
        .await?;
    Ok(Json(json!(report)))
}

async fn defaults(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let defaults = state.engine.connector_defaults(&caller.workspace).await?;
    Ok(Json(defaults_view(&defaults)))
}

async fn update_defaults(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let defaults = state
        .engine
        .update_connector_defaults(&caller.workspace, body)
        .await?;
    Ok(Json(defaults_view(&defaults)))
}

async fn activity(
    State(state): State<AppState>,
    caller: CallerExt,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::invalid(error.body_text()))?;
    let limit = activity_limit(query.get("limit").map(String::as_str))?;
    let entries = state
        .engine
        .connector_activity(&caller.workspace, limit)
        .await?;
    Ok(Json(entries.iter().map(activity_view).collect()))
}
