//! `/oauth/connections`: the users' delegated OAuth connections (never their tokens), and
//! revoking one; `/me/connections`: a person's own, with their identity provider's token.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use runagents_engine::oauth::Connection;
use serde_json::{Value, json};

use crate::auth::{CallerExt, EndUserCaller};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/connections", get(list))
        .route("/oauth/connections/{tool}", delete(revoke))
}

#[derive(serde::Deserialize)]
struct UserQuery {
    #[serde(default)]
    user_id: String,
}

fn view(connection: &Connection) -> Value {
    json!({
        "tool": connection.tool,
        "user_id": connection.user_id,
        "scope": connection.scope,
        "expires_at": (connection.expires_at.millis() > 1).then_some(connection.expires_at),
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    })
}

/// A person's own connections, behind `auth::require_end_user`.
pub(crate) fn end_user_routes() -> Router<AppState> {
    Router::new()
        .route("/me/connections", get(my_connections))
        .route("/me/connections/{tool}", delete(revoke_mine))
}

async fn my_connections(
    State(state): State<AppState>,
    axum::Extension(me): axum::Extension<EndUserCaller>,
) -> Result<Json<Value>, ApiError> {
    let connections = state
        .engine
        .list_connections(&me.workspace, Some(&me.user_id))
        .await?;
    Ok(Json(connections.iter().map(view).collect()))
}

async fn revoke_mine(
    State(state): State<AppState>,
    axum::Extension(me): axum::Extension<EndUserCaller>,
    Path(tool): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .revoke_connection(&me.workspace, &tool, &me.user_id)
        .await?;
    Ok(Json(
        json!({"status": "revoked", "tool": tool, "user_id": me.user_id}),
    ))
}

async fn list(
    State(state): State<AppState>,
    caller: CallerExt,
    Query(query): Query<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    let connections = state
        .engine
        .list_connections(&caller.workspace, Some(&query.user_id))
        .await?;
    Ok(Json(connections.iter().map(view).collect()))
}

async fn revoke(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(tool): Path<String>,
    Query(query): Query<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    if query.user_id.is_empty() {
        return Err(ApiError::invalid(
            "user_id is required: whose connection to revoke",
        ));
    }
    state
        .engine
        .revoke_connection(&caller.workspace, &tool, &query.user_id)
        .await?;
    Ok(Json(
        json!({"status": "revoked", "tool": tool, "user_id": query.user_id}),
    ))
}
