//! `/oauth/connections`: the users' delegated OAuth connections (never their tokens), and
//! revoking one.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use runagents_engine::oauth::Connection;
use serde_json::{Value, json};

use crate::auth::CallerExt;
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
