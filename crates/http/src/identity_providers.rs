//! `/identity-providers`: upsert (apply always POSTs), list, get, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use runagents_domain::identity_provider::IdentityProviderInput;
use runagents_engine::identity_providers::IdentityProvider;
use runagents_engine::tools::Upserted;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/identity-providers", get(list).post(upsert))
        .route("/identity-providers/{name}", get(read).delete(delete))
}

pub(crate) fn view(provider: &IdentityProvider, workspace: &str) -> Value {
    json!({
        "name": provider.name,
        "namespace": workspace,
        "spec": provider.spec,
        "created_at": provider.created_at,
        "updated_at": provider.updated_at,
    })
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let providers = state
        .engine
        .list_identity_providers(&caller.workspace)
        .await?;
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
        .get_identity_provider(&caller.workspace, &name)
        .await?;
    Ok(Json(view(&provider, &caller.workspace)))
}

async fn upsert(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = IdentityProviderInput::parse(body)?;
    let (provider, upserted) = state
        .engine
        .upsert_identity_provider(&caller.workspace, input)
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
        .delete_identity_provider(&caller.workspace, &name)
        .await?;
    Ok(Json(json!({"status": "deleted"})))
}
