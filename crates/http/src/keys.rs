//! `/auth/api-keys` (list, create, revoke, rotate), `/settings/auth`, and `/workspaces`. A key
//! shows its owner's `subject` and approver `groups`, set when it is created.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use runagents_domain::api_key::{self, HEADER, PREFIX};
use runagents_domain::session;
use runagents_engine::api_keys::IssuedKey;
use runagents_store::ApiKeyRecord;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/api-keys", get(list).post(create))
        .route("/auth/api-keys/{id}", delete(revoke))
        .route("/auth/api-keys/{id}/rotate", post(rotate))
        .route("/settings/auth", get(auth_settings))
        .route("/workspaces", get(list_workspaces).post(create_workspace))
}

/// Never the token or its hash.
fn view(key: &ApiKeyRecord) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": PREFIX,
        "last4": key.last4,
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "expiresAt": key.expires_at,
        "subject": if key.subject.is_empty() { &key.name } else { &key.subject },
        "groups": key.groups,
    })
}

fn issued(issued: &IssuedKey) -> Value {
    json!({"key": view(&issued.key), "token": issued.token, "header": HEADER})
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let keys = state.engine.list_api_keys(&caller).await?;
    Ok(Json(keys.iter().map(view).collect()))
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = api_key::parse_new_key(&body)?;
    let key = state.engine.create_api_key(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(issued(&key))))
}

async fn revoke(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.revoke_api_key(&caller, &id).await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn rotate(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let days = api_key::expires_in_days(&body)?;
    let key = state.engine.rotate_api_key(&caller, &id, days).await?;
    Ok(Json(issued(&key)))
}

async fn auth_settings(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let count = state.engine.list_api_keys(&caller).await?.len();
    Ok(Json(json!({
        "programmaticHeader": HEADER,
        "apiKeyPrefix": PREFIX,
        "apiKeyCount": count,
        // What console sessions do (`runagents_domain::session`): they end after this long
        // without activity, and after `sessionLifetimeMinutes` in any case.
        "sessionIdleTimeoutMinutes": session::IDLE_TIMEOUT_SECS / 60,
        "sessionLifetimeMinutes": session::LIFETIME_SECS / 60,
        "minSessionIdleTimeoutMinutes": 5,
        "maxSessionIdleTimeoutMinutes": 1440,
        "oauthCallbackUrl": format!("{}/oauth/callback", state.engine.settings().operator_url),
    })))
}

async fn list_workspaces(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let names = state.engine.list_workspaces(&caller).await?;
    Ok(Json(
        names.iter().map(|name| json!({"name": name})).collect(),
    ))
}

async fn create_workspace(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("name is required"))?;
    let key = state.engine.create_workspace(&caller, name).await?;
    let mut view = issued(&key);
    view["name"] = json!(key.key.workspace);
    Ok((StatusCode::CREATED, Json(view)))
}
