//! Unauthenticated endpoints: health, and the built-in echo tool of the starter kit.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::json::JsonBody;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/healthz", get(healthz))
        .route("/api/v1/healthz", get(healthz))
        .route("/echo", post(echo))
}

pub(crate) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(
        json!({"status": "ok", "store": state.engine.store().backend(), "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// The echo tool: replies with the message it was sent, and who the platform said the user is.
async fn echo(headers: HeaderMap, JsonBody(body): JsonBody) -> Json<Value> {
    let message = body
        .get("message")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let user = headers
        .get("x-end-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Json(json!({"reply": message, "echo": body, "end_user_id": user}))
}
