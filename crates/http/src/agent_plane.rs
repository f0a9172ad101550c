//! The agent plane: what deployed agents call. Every URL carries the agent's credential
//! (`/a/{credential}/...`), because the public runtime sends no auth header of its own.
//! Also the operator route that issues an agent's credential and its URLs.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use runagents_engine::Error;
use runagents_engine::egress::{AgentIdentity, Answer, Outbound, Outcome, Refusal, read_whole};
use runagents_engine::gateway::Attribution;
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::gateway::{RUN_HEADER, header_value, models_of, serve_chat};
use crate::json::JsonBody;
use crate::{ApiError, AppState, BODY_LIMIT};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/a/{credential}/tools/{tool}", any(tool_call_root))
        .route("/a/{credential}/tools/{tool}/{*path}", any(tool_call))
        // The LLM gateway, attributed to the agent (and to the run in `X-Run-ID`).
        .route("/a/{credential}/v1/chat/completions", post(chat))
        .route("/a/{credential}/chat/completions", post(chat))
        .route("/a/{credential}/v1/models", get(models))
        .route("/a/{credential}/models", get(models))
        .route("/a/{credential}/healthz", get(healthz))
        .route("/a/{credential}/v1/healthz", get(healthz))
        // The runtime's governance calls (`GOVERNANCE_URL` is `/a/{credential}`).
        .route(
            "/a/{credential}/runs/{run_id}/checkpoint",
            post(put_checkpoint),
        )
        .route(
            "/a/{credential}/runs/{run_id}/checkpoint/{action_id}",
            get(read_checkpoint),
        )
        .route(
            "/a/{credential}/runs/{run_id}/tool-result",
            post(tool_result),
        )
}

/// The agent a credential belongs to; 401 for anything else.
async fn identity(state: &AppState, credential: &str) -> Result<AgentIdentity, ApiError> {
    match state.engine.agent_identity(credential).await? {
        Some(identity) => Ok(identity),
        None => Err(ApiError(Error::Unauthenticated(
            "unknown agent credential".into(),
        ))),
    }
}

async fn healthz(
    State(state): State<AppState>,
    Path(credential): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let identity = identity(&state, &credential).await?;
    Ok(Json(json!({"status": "ok", "agent": identity.agent})))
}

async fn chat(
    State(state): State<AppState>,
    Path(credential): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let identity = identity(&state, &credential).await?;
    // Only the agent's own run may carry its spend.
    let run_id = match header_value(request.headers(), RUN_HEADER) {
        Some(run_id) => Some(state.engine.agent_run(&identity, &run_id).await?.id),
        None => None,
    };
    let who = Attribution {
        workspace: identity.workspace,
        agent: Some(identity.agent),
        run_id,
    };
    serve_chat(&state, who, request).await
}

async fn models(
    State(state): State<AppState>,
    Path(credential): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let identity = identity(&state, &credential).await?;
    models_of(&state, &identity.workspace).await
}

async fn put_checkpoint(
    State(state): State<AppState>,
    Path((credential, run_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let identity = identity(&state, &credential).await?;
    let stored = state
        .engine
        .store_runtime_checkpoint(&identity, &run_id, body)
        .await?;
    Ok(Json(stored))
}

async fn read_checkpoint(
    State(state): State<AppState>,
    Path((credential, run_id, action_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let identity = identity(&state, &credential).await?;
    let checkpoint = state
        .engine
        .runtime_checkpoint(&identity, &run_id, &action_id)
        .await?;
    Ok(Json(checkpoint))
}

async fn tool_result(
    State(state): State<AppState>,
    Path((credential, run_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let identity = identity(&state, &credential).await?;
    state
        .engine
        .record_tool_result(&identity, &run_id, &body)
        .await?;
    Ok(Json(json!({"status": "recorded"})))
}

/// Operator API: `POST /agents/{name}/credentials`.
pub(crate) fn operator_routes() -> Router<AppState> {
    Router::new().route("/agents/{name}/credentials", post(issue_credential))
}

/// `TOOL_URL_{NAME}`: upper case, '-' → '_'.
pub(crate) fn tool_env_name(tool: &str) -> String {
    format!("TOOL_URL_{}", tool.to_ascii_uppercase().replace('-', "_"))
}

/// Issues a new credential (shown once; the previous one stops working) with the URLs an
/// agent run elsewhere needs.
async fn issue_credential(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let credential = state
        .engine
        .issue_agent_credential(&caller.workspace, &name)
        .await?;
    let agent = state.engine.get_agent(&caller.workspace, &name).await?;
    let base = format!("{}/a/{credential}", state.engine.settings().agent_plane_url);
    let tool_urls: serde_json::Map<String, Value> = agent
        .spec
        .referenced_tools()
        .iter()
        .map(|tool| (tool_env_name(tool), json!(format!("{base}/tools/{tool}"))))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "agent": name,
            "credential": credential,
            "agent_plane_url": base,
            "governance_url": base,
            "llm_gateway_url": format!("{base}/v1"),
            "tool_urls": tool_urls,
        })),
    ))
}

async fn tool_call_root(
    State(state): State<AppState>,
    Path((credential, tool)): Path<(String, String)>,
    request: Request,
) -> Response {
    egress(state, credential, tool, String::from("/"), request).await
}

async fn tool_call(
    State(state): State<AppState>,
    Path((credential, tool, path)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    egress(state, credential, tool, format!("/{path}"), request).await
}

/// `{"code", "error", "message", ...}`: the runtime reads `code`, other clients `error`.
fn refusal(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut body = json!({"code": refusal.code, "error": refusal.code, "message": refusal.message});
    if let Some(object) = body.as_object_mut() {
        object.extend(refusal.extra);
    }
    (status, Json(body)).into_response()
}

/// The recorded answer of an approved call the platform already made.
fn replayed(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    let mut response =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response = response.header(name, value);
        }
    }
    response
        .header("x-runagents-replayed", "true")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

async fn egress(
    state: AppState,
    credential: String,
    tool: String,
    path: String,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            return ApiError::invalid("request body is larger than the 8 MiB limit")
                .into_response();
        }
    };
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let run_id = parts
        .headers
        .get("x-run-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let call = Outbound {
        tool,
        method: parts.method.as_str().to_owned(),
        path_and_query,
        headers,
        body,
        run_id,
    };
    let Some(outcome) = state.engine.egress_for(&credential, call).await else {
        return ApiError(Error::Unauthenticated("unknown agent credential".into())).into_response();
    };
    match outcome {
        Outcome::Refused(refused) => refusal(refused),
        Outcome::Forwarded(upstream) => stream_back(upstream).await,
        Outcome::Replayed {
            status,
            headers,
            body,
        } => replayed(status, headers, body),
    }
}

/// Upstream answers up to this size (by `content-length`) are relayed whole.
const WHOLE_BODY_LIMIT: u64 = 64 * 1024;

/// Relays the upstream's status, end-to-end headers and body (streamed as it arrives, unless
/// it is small).
async fn stream_back(upstream: Answer) -> Response {
    let (mut head, body) = upstream.into_parts();
    for hop_by_hop in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "trailer",
    ] {
        head.headers.remove(hop_by_hop);
    }
    let mut response = Response::builder().status(head.status);
    if let Some(headers) = response.headers_mut() {
        *headers = head.headers;
    }
    // A small answer of known length is read whole and sent with its head in one write,
    // instead of a hand-off per chunk between the upstream's connection and the agent's.
    let small = axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_some_and(|length| length <= WHOLE_BODY_LIMIT);
    let body = if small {
        match read_whole(body).await {
            Ok(bytes) => Body::from(bytes),
            Err(error) => {
                return refusal(Refusal {
                    status: 502,
                    code: "UPSTREAM_FAILED",
                    message: format!("the upstream's answer broke off: {error}"),
                    extra: serde_json::Map::new(),
                });
            }
        }
    } else {
        Body::new(body)
    };
    response
        .body(body)
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
