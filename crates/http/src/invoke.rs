//! `POST /agents/{name}/invoke` and `/invoke/stream` (also under `/agents/{namespace}/{name}/`):
//! one turn of an agent, as a run. The JSON answer is the runtime's shape plus `run_id`,
//! `conversation_id` and `status`; the stream is SSE frames `tool_call`, `tool_result`,
//! `content`, `approval_required`, `consent_required`, `done` or `error`, then `[DONE]`.
//! Both carry the run's id in `X-Run-ID`.
//!
//! These routes pass `auth::require_invoker`: for an agent with an identity provider the user is
//! the verified end-user token's identity, and the request's `user_id` and `X-End-User-ID` are
//! ignored; the token itself goes no further.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use runagents_engine::Error;
use runagents_engine::invoke::InvokeRequest;
use serde_json::Value;

use crate::auth::{CallerExt, Invoker, InvokerExt};
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents/{name}/invoke", post(invoke))
        .route("/agents/{name}/invoke/stream", post(invoke_stream))
        .route("/agents/{namespace}/{name}/invoke", post(invoke))
        .route(
            "/agents/{namespace}/{name}/invoke/stream",
            post(invoke_stream),
        )
}

/// Behind the operator's key (`auth::require_caller`), unlike the invoke routes.
pub(crate) fn callback_routes() -> Router<AppState> {
    Router::new().route("/callbacks/signing-key", axum::routing::get(signing_key))
}

/// `GET /callbacks/signing-key` (admin): the workspace's secret for checking the
/// `X-RunAgents-Signature` of run callbacks.
async fn signing_key(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<axum::Json<Value>, ApiError> {
    let secret = state.engine.callback_secret(&caller)?;
    Ok(axum::Json(serde_json::json!({
        "header": "X-RunAgents-Signature",
        "algorithm": "HMAC-SHA256",
        "signed": "<t>.<body>",
        "format": "t=<unix seconds>,v1=<hex signature>",
        "secret": secret,
    })))
}

/// The request body: `message` (required), `history`, `conversation_id`, `user_id`, and
/// `callback_url` (an http(s) URL that gets the final answer by POST when the run ends).
fn request(
    invoker: &InvokerExt,
    headers: &HeaderMap,
    body: &Value,
    url: String,
) -> Result<InvokeRequest, ApiError> {
    let text = |key: &str| runagents_domain::fields::text(body, key);
    let message = match body.get("message") {
        Some(Value::String(message)) if !message.trim().is_empty() => message.clone(),
        _ => return Err(ApiError::invalid("message is required")),
    };
    let history = match body.get("history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .filter_map(|entry| {
                let role = entry.get("role")?.as_str()?;
                let content = entry.get("content")?.as_str()?;
                Some((role.to_owned(), content.to_owned()))
            })
            .collect(),
        Some(_) => {
            return Err(ApiError::invalid(
                "history must be a list of {role, content}",
            ));
        }
    };
    let user_id = match &invoker.0 {
        // The identity the token proved; nothing in the request can change it.
        Invoker::EndUser { user_id, .. } => user_id.clone(),
        // Who the agent acts for: the request's user, else the end user header, else the key.
        Invoker::Operator(caller) => {
            let header_user = headers
                .get("x-end-user-id")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            Some(text("user_id")?)
                .filter(|u| !u.is_empty())
                .or(header_user)
                .unwrap_or_else(|| caller.key_name.clone())
        }
    };
    Ok(InvokeRequest {
        message,
        history,
        conversation_id: text("conversation_id")?,
        user_id,
        invoke_url: url,
        callback_url: text("callback_url")?.trim().to_owned(),
    })
}

/// The agent a route names; a route that also names a workspace must name the invoker's.
fn named_agent(invoker: &InvokerExt, params: &HashMap<String, String>) -> Result<String, ApiError> {
    let name = params.get("name").cloned().unwrap_or_default();
    match params.get("namespace") {
        Some(namespace) if namespace != invoker.workspace() => Err(ApiError(Error::NotFound(
            format!("agent {name:?} not found"),
        ))),
        _ => Ok(name),
    }
}

async fn invoke(
    State(state): State<AppState>,
    invoker: InvokerExt,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let name = named_agent(&invoker, &params)?;
    answer(state, invoker, name, headers, body).await
}

async fn invoke_stream(
    State(state): State<AppState>,
    invoker: InvokerExt,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let name = named_agent(&invoker, &params)?;
    stream(state, invoker, name, headers, body).await
}

fn with_run_id(mut response: Response, run_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(run_id) {
        response.headers_mut().insert("x-run-id", value);
    }
    response
}

async fn answer(
    state: AppState,
    invoker: InvokerExt,
    name: String,
    headers: HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let url = format!("/agents/{name}/invoke");
    let request = request(&invoker, &headers, &body, url)?;
    let started = state
        .engine
        .start_invoke(invoker.workspace(), &name, request)
        .await?;
    let run_id = started.run.id.clone();
    match state.engine.run_invoke(started, None).await {
        Ok(invoked) => Ok(with_run_id(
            axum::Json(invoked.body).into_response(),
            &run_id,
        )),
        Err(error) => {
            let mut response = ApiError(error).into_response();
            response = with_run_id(response, &run_id);
            Ok(response)
        }
    }
}

async fn stream(
    state: AppState,
    invoker: InvokerExt,
    name: String,
    headers: HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let url = format!("/agents/{name}/invoke/stream");
    let request = request(&invoker, &headers, &body, url)?;
    let started = state
        .engine
        .start_invoke(invoker.workspace(), &name, request)
        .await?;
    let run_id = started.run.id.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let engine = state.engine.clone();
    // The turn runs to its end even if the client goes away: the run must not be left behind.
    engine.background().spawn({
        let engine = engine.clone();
        async move {
            let _ = engine.run_invoke(started, Some(sender)).await;
        }
    });
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let frame = receiver.recv().await?;
        Some((frame, receiver))
    })
    .map(|frame| Ok::<_, Infallible>(format!("data: {frame}\n\n")))
    .chain(futures_util::stream::once(async {
        Ok("data: [DONE]\n\n".to_owned())
    }));
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(with_run_id(response, &run_id))
}
