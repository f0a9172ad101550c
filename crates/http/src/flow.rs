//! `/agents/{name}/flow`: each of the agent's tools with its policy decision per capability.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/agents/{name}/flow", get(flow))
}

async fn flow(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tools = state.engine.agent_flow(&caller.workspace, &name).await?;
    Ok(Json(json!({"agent": name, "tools": tools})))
}
