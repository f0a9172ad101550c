//! Workspace-wide endpoints: `POST /starter-kit` and `GET /context/export`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_engine::starter_kit::{ECHO_TOOL, PLAYGROUND_PROVIDER};
use serde_json::{Map, Value, json};

use crate::auth::CallerExt;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/starter-kit", post(starter_kit))
        .route("/context/export", get(export))
}

/// Both the contract's names (`tool_created`, `model_provider_created`) and the CLI's lists.
async fn starter_kit(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let seeded = state.engine.seed_starter_kit(&caller.workspace).await?;
    let message = if seeded.tools_created.is_empty()
        && seeded.model_providers_created.is_empty()
        && seeded.policies_created.is_empty()
    {
        "starter kit already present".to_owned()
    } else {
        format!(
            "created {}",
            [
                seeded.tools_created.clone(),
                seeded.model_providers_created.clone(),
                seeded.policies_created.clone()
            ]
            .concat()
            .join(", ")
        )
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tool_created": ECHO_TOOL,
            "model_provider_created": PLAYGROUND_PROVIDER,
            "tools_created": seeded.tools_created,
            "model_providers_created": seeded.model_providers_created,
            "policies_created": seeded.policies_created,
            "message": message,
        })),
    ))
}

/// Everything in the workspace, as the list endpoints show it (so never a secret). A resource
/// that fails to load is reported in `errors` and the rest is still exported.
async fn export(State(state): State<AppState>, caller: CallerExt) -> Json<Value> {
    let engine = &state.engine;
    let ws = caller.workspace.as_str();
    let mut resources = Map::new();
    let mut errors = Map::new();
    let mut meta = Map::new();
    let mut add = |key: &str, listed: Result<Vec<Value>, runagents_engine::Error>| {
        let items = listed.unwrap_or_else(|error| {
            errors.insert(key.to_owned(), json!(error.to_string()));
            Vec::new()
        });
        meta.insert(format!("{key}_count"), json!(items.len()));
        resources.insert(key.to_owned(), Value::Array(items));
    };
    add(
        "tools",
        engine
            .list_tools(ws)
            .await
            .map(|all| all.iter().map(|t| crate::tools::view(t, ws)).collect()),
    );
    add(
        "model_providers",
        engine.list_model_providers(ws).await.map(|all| {
            all.iter()
                .map(|p| crate::model_providers::view(p, ws))
                .collect()
        }),
    );
    add(
        "policies",
        engine
            .list_policies(ws)
            .await
            .map(|all| all.iter().map(|p| crate::policies::view(p, ws)).collect()),
    );
    add(
        "identity_providers",
        engine.list_identity_providers(ws).await.map(|all| {
            all.iter()
                .map(|p| crate::identity_providers::view(p, ws))
                .collect()
        }),
    );
    add(
        "agents",
        engine
            .list_agents(ws)
            .await
            .map(|all| all.iter().map(|a| crate::agents::view(a, ws)).collect()),
    );
    add(
        "approval_connectors",
        engine.list_connectors(ws).await.map(|all| {
            let url = &engine.settings().operator_url;
            all.iter()
                .map(|c| crate::connectors::view(c, ws, url))
                .collect()
        }),
    );
    // Approvals and deploy drafts have no records on this server yet.
    add("approvals", Ok(Vec::new()));
    add("deploy_drafts", Ok(Vec::new()));
    Json(json!({
        "generated_at": runagents_domain::Timestamp::now(),
        "namespace": ws,
        "user_id": caller.key_id,
        "resources": resources,
        "errors": errors,
        "meta": meta,
    }))
}
