//! `/model-providers`: upsert, list, get, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use runagents_domain::model_provider::ModelProviderInput;
use runagents_engine::model_providers::ModelProvider;
use runagents_engine::tools::Upserted;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/model-providers", get(list).post(upsert))
        .route("/model-providers/{name}", get(read).delete(delete))
}

/// The contract's `{name, namespace, spec, status}` plus the flat keys the CLI table reads.
/// `status` is always an object and `endpoint` always a string: the SDK crashes on a string
/// status and calls string methods on the endpoint.
pub(crate) fn view(provider: &ModelProvider, workspace: &str) -> Value {
    json!({
        "name": provider.name,
        "namespace": workspace,
        "spec": provider.spec,
        "status": provider.status,
        "provider": provider.spec.provider,
        "models": provider.spec.models,
        "endpoint": provider.spec.endpoint.as_deref().unwrap_or_default(),
        "credentials_configured": provider.credentials,
        "created_at": provider.created_at,
        "updated_at": provider.updated_at,
    })
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let providers = state.engine.list_model_providers(&caller.workspace).await?;
    Ok(Json(
        providers
            .iter()
            .map(|provider| view(provider, &caller.workspace))
            .collect(),
    ))
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = state
        .engine
        .get_model_provider(&caller.workspace, &name)
        .await?;
    Ok(Json(view(&provider, &caller.workspace)))
}

async fn upsert(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = ModelProviderInput::parse(body)?;
    let (provider, upserted) = state
        .engine
        .upsert_model_provider(&caller.workspace, input)
        .await?;
    let status = if upserted == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&provider, &caller.workspace))))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .delete_model_provider(&caller.workspace, &name)
        .await?;
    Ok(Json(json!({"status": "deleted"})))
}
