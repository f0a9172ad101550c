//! The LLM gateway's OpenAI-compatible endpoints: `POST .../chat/completions` (JSON, or SSE
//! with `stream: true`) and `GET .../models`, under `/api/v1`, `/api/v1/v1` (the base URL the
//! docs give OpenAI SDK users) and the root `/v1`, all behind the API key.
//!
//! On the operator API the call is attributed to the key's workspace; `X-RunAgents-Agent`
//! attributes it to an agent of that workspace (its budgets apply, its spend grows) and
//! `X-Run-ID` to a run. A provider failure after a stream began is sent as an SSE `error`
//! event, then `[DONE]`.

use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use runagents_engine::gateway::{Attribution, Chat};
use runagents_llm::ChatRequest;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::{ApiError, AppState, BODY_LIMIT};

/// Header that attributes an operator-API gateway call to an agent.
pub const AGENT_HEADER: &str = "x-runagents-agent";
pub(crate) const RUN_HEADER: &str = "x-run-id";

/// Relative to where they are mounted: `/api/v1` gives `/api/v1/chat/completions` and
/// `/api/v1/v1/chat/completions`; the root gives `/v1/chat/completions`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/completions", post(chat))
        .route("/v1/chat/completions", post(chat))
        .route("/models", get(models))
        .route("/v1/models", get(models))
}

/// The root `/v1/...` forms only (the root has no `/chat/completions` of its own).
pub(crate) fn root_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
}

pub(crate) fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

async fn chat(
    State(state): State<AppState>,
    caller: CallerExt,
    request: Request,
) -> Result<Response, ApiError> {
    let who = Attribution {
        workspace: caller.workspace.clone(),
        agent: header_value(request.headers(), AGENT_HEADER),
        run_id: header_value(request.headers(), RUN_HEADER),
    };
    serve_chat(&state, who, request).await
}

/// Answers a Chat Completions request for `who`, as JSON or as SSE.
pub(crate) async fn serve_chat(
    state: &AppState,
    who: Attribution,
    request: Request,
) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| {
            ApiError::invalid(format!(
                "request body is larger than the {} MiB limit",
                BODY_LIMIT / 1024 / 1024
            ))
        })?;
    let chat_request: ChatRequest = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::invalid(format!("invalid chat completion request: {error}")))?;
    match state.engine.chat(&who, chat_request).await? {
        Chat::Complete(response) => Ok(Json(response).into_response()),
        Chat::Stream(stream) => {
            let events = stream
                .map(|item| {
                    let event = match item {
                        Ok(chunk) => match serde_json::to_string(&chunk) {
                            Ok(data) => format!("data: {data}\n\n"),
                            Err(error) => error_event(&format!("chunk not encodable: {error}")),
                        },
                        Err(message) => error_event(&message),
                    };
                    Ok::<_, Infallible>(event)
                })
                .chain(futures_util::stream::once(async {
                    Ok("data: [DONE]\n\n".to_owned())
                }));
            let mut response = Body::from_stream(events).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(response)
        }
    }
}

/// An SSE `error` event in the shape OpenAI clients raise on.
fn error_event(message: &str) -> String {
    let body = json!({"error": {"message": message, "type": "provider_error", "code": 502}});
    format!("event: error\ndata: {body}\n\n")
}

async fn models(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    models_of(&state, &caller.workspace).await
}

/// The OpenAI `/models` list of what the workspace's gateway can route.
pub(crate) async fn models_of(state: &AppState, workspace: &str) -> Result<Json<Value>, ApiError> {
    let models = state.engine.routable_models(workspace).await?;
    let data: Vec<Value> = models
        .iter()
        .map(|model| json!({"id": model.model, "object": "model", "created": 0, "owned_by": model.provider}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}
