//! `/tools`: upsert, list, get, delete, probe, test.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::Timestamp;
use runagents_domain::tool::{
    AccessMode, AuthType, Capability, Scheme, ToolInput, ToolSpec, ToolStatus, Topology,
};
use runagents_engine::tools::{Tool, Upserted};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::CallerExt;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tools", get(list).post(upsert))
        .route("/tools/probe", post(probe))
        .route("/tools/{name}", get(read).delete(delete))
        .route("/tools/{name}/test", post(test))
}

/// The contract's `{name, namespace, spec, status}` plus the flat keys the CLI tables read.
///
/// List and get serialize it straight from the tool rather than through a `serde_json::Value`:
/// listing tools is the hottest read, and building that tree took a fifth of the server's CPU
/// per request. Its top-level keys are in the alphabetical order a `Value` prints; inside
/// `spec`, `status` and `capabilities` they follow the domain types' field order (JSON key
/// order carries no meaning; the test below checks the values are the same either way).
#[derive(Serialize)]
struct ToolView<'a> {
    access_mode: AccessMode,
    auth: AuthType,
    auth_type: AuthType,
    base_url: &'a str,
    capabilities: &'a [Capability],
    created_at: Timestamp,
    credentials_configured: &'a [String],
    description: &'a str,
    name: &'a str,
    namespace: &'a str,
    port: Option<u16>,
    scheme: Option<Scheme>,
    spec: &'a ToolSpec,
    status: &'a ToolStatus,
    topology: Topology,
    updated_at: Timestamp,
}

impl<'a> ToolView<'a> {
    fn new(tool: &'a Tool, workspace: &'a str) -> Self {
        let spec = &tool.spec;
        let connection = &spec.connection;
        let access_mode = spec.access_mode.or_else(|| {
            let mode = spec.governance.get("accessControl")?.get("mode")?;
            AccessMode::deserialize(mode).ok()
        });
        ToolView {
            access_mode: access_mode.unwrap_or(AccessMode::Restricted),
            auth: connection.authentication.kind,
            auth_type: connection.authentication.kind,
            base_url: &connection.base_url,
            capabilities: &spec.capabilities,
            created_at: tool.created_at,
            credentials_configured: &tool.credentials,
            description: &spec.description,
            name: &tool.name,
            namespace: workspace,
            port: connection.port,
            scheme: connection.scheme,
            spec,
            status: &tool.status,
            topology: connection.topology,
            updated_at: tool.updated_at,
        }
    }
}

/// The view as a `Value` (keys sorted throughout), for the upsert answer and for documents
/// that embed tools.
pub(crate) fn view(tool: &Tool, workspace: &str) -> Value {
    // Cannot fail: every map key in a tool is a string.
    serde_json::to_value(ToolView::new(tool, workspace)).unwrap_or_default()
}

/// The hottest read. The rendered list is kept per workspace with the store generation it
/// was read at; one small query tells whether it is still current (the generation is read
/// before the list, so a write racing the read only ever makes the next request re-read).
async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Response, ApiError> {
    let ws = caller.workspace.as_str();
    let generation = state.engine.tools_generation(ws).await?;
    let cached = state
        .tool_lists
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .get(ws)
        .filter(|(at, _)| *at == generation)
        .map(|(_, body)| body.clone());
    let body = match cached {
        Some(body) => body,
        None => {
            let tools = state.engine.list_tools(ws).await?;
            let views: Vec<ToolView<'_>> =
                tools.iter().map(|tool| ToolView::new(tool, ws)).collect();
            let body = axum::body::Bytes::from(serde_json::to_vec(&views).map_err(|e| {
                ApiError(runagents_engine::Error::Store(
                    runagents_store::Error::Backend(e.to_string()),
                ))
            })?);
            state
                .tool_lists
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .insert(ws.to_owned(), (generation, body.clone()));
            body
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn read(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let tool = state.engine.get_tool(&caller.workspace, &name).await?;
    Ok(Json(ToolView::new(&tool, &caller.workspace)).into_response())
}

async fn upsert(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = ToolInput::parse(body)?;
    let (tool, upserted) = state.engine.upsert_tool(&caller.workspace, input).await?;
    let status = if upserted == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&tool, &caller.workspace))))
}

async fn delete(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.delete_tool(&caller.workspace, &name).await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn probe(
    State(state): State<AppState>,
    _caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let url = match body.get("url") {
        Some(Value::String(url)) => runagents_domain::url::http_url("url", url)?,
        _ => return Err(ApiError::invalid("url is required")),
    };
    Ok(Json(json!(state.engine.probe(&url).await)))
}

async fn test(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state.engine.test_tool(&caller.workspace, &name).await?
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runagents_domain::tool::{ToolPhase, ToolStatus};

    /// The view as it was first written, through a `serde_json::Value`: the struct must say
    /// the same thing.
    fn value_view(tool: &Tool, workspace: &str) -> Value {
        let connection = &tool.spec.connection;
        let access_mode = tool.spec.access_mode.or_else(|| {
            let mode = tool
                .spec
                .governance
                .get("accessControl")?
                .get("mode")?
                .clone();
            serde_json::from_value::<AccessMode>(mode).ok()
        });
        json!({
            "name": tool.name,
            "namespace": workspace,
            "spec": tool.spec,
            "status": tool.status,
            "description": tool.spec.description,
            "base_url": connection.base_url,
            "topology": connection.topology,
            "auth_type": connection.authentication.kind,
            "auth": connection.authentication.kind,
            "access_mode": access_mode.unwrap_or(AccessMode::Restricted),
            "port": connection.port,
            "scheme": connection.scheme,
            "capabilities": tool.spec.capabilities,
            "credentials_configured": tool.credentials,
            "created_at": tool.created_at,
            "updated_at": tool.updated_at,
        })
    }

    fn tool(body: Value) -> Tool {
        let input = ToolInput::parse(body).unwrap();
        Tool {
            name: input.name.to_string(),
            spec: input.spec,
            status: ToolStatus {
                phase: ToolPhase::Available,
                message: "reachable (HTTP 200)".into(),
                last_probe_time: Some("2026-03-12T12:00:00.000Z".into()),
                probe_latency_ms: Some(12),
            },
            credentials: vec!["client_id".into(), "client_secret".into()],
            created_at: Timestamp(1_773_316_800_007),
            updated_at: Timestamp(1_773_316_900_123),
        }
    }

    #[test]
    fn view_matches_the_value_built_view() {
        let oauth2 = tool(json!({"name": "crm", "spec": {
            "description": "CRM \"quoted\"",
            "connection": {"topology": "Internal", "baseUrl": "http://crm.internal:8080",
                "authentication": {"type": "OAuth2", "oauth2Config": {
                    "authUrl": "https://id.example.com/authorize", "tokenUrl": "https://id.example.com/token",
                    "scopes": ["read"], "authParams": {"audience": "crm"}, "grantType": "client_credentials"}},
                "tls": {"insecureSkipVerify": false}},
            "governance": {"accessControl": {"mode": "Critical"}, "owner": "revops"},
            "capabilities": [{"name": "read", "method": "get", "path": "/v1/*", "riskTags": ["pii"]},
                {"name": "write", "path": "/v1/records", "description": "writes"}],
            "riskTags": ["pii"]},
            "credentials": {"client_id": "id", "client_secret": "secret"}}));
        let flat = tool(
            json!({"name": "stripe-api", "base_url": "https://api.stripe.com",
            "auth_type": "APIKey", "access_mode": "Open", "credentials": {"api_key": "sk"}}),
        );
        let bare = tool(json!({"name": "bare", "base_url": "https://example.com"}));
        for tool in [oauth2, flat, bare] {
            let direct = serde_json::to_value(ToolView::new(&tool, "revops")).unwrap();
            assert_eq!(direct, value_view(&tool, "revops"));
            assert_eq!(view(&tool, "revops"), direct);
        }
    }
}
