//! The HTTP surface: the operator API (`/api/v1/...` and `/api/v1/workspaces/{ws}/...`) and
//! the agent plane. Handlers are thin: extract, call one engine use case, render a view.
//!
//! Invariant: only this crate knows status codes and JSON error shapes (`error.rs`).

mod agent_plane;
mod agents;
mod approvals;
mod auth;
mod connections;
mod connectors;
mod console;
mod error;
mod flow;
mod gateway;
mod identity_providers;
mod integrations;
mod invoke;
mod json;
mod keys;
mod model_providers;
mod policies;
mod runs;
mod sso;
mod streams;
mod system;
mod tools;
mod workspace;

use axum::Router;
use axum::routing::get;
use runagents_engine::Engine;

pub use auth::rewrite_workspace_path;
pub use error::ApiError;
pub use gateway::AGENT_HEADER;

/// Largest request body accepted, in bytes. Deploys carry source files, hence 8 MiB.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: every handler clones the state, and the engine is many `Arc`s.
    pub engine: std::sync::Arc<Engine>,
    /// Rendered tool lists per workspace, with the store generation they were read at.
    tool_lists: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (i64, axum::body::Bytes)>>,
    >,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        AppState {
            engine: std::sync::Arc::new(engine),
            tool_lists: Default::default(),
        }
    }
}

/// Every `/api/v1` resource route but the invokes, relative to `/api/v1` (the workspace prefix is rewritten
/// away before routing, see `auth::rewrite_workspace_path`).
fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(tools::routes())
        .merge(policies::routes())
        .merge(keys::routes())
        .merge(sso::routes())
        .merge(model_providers::routes())
        .merge(identity_providers::routes())
        .merge(connectors::routes())
        .merge(agents::routes())
        .merge(flow::routes())
        .merge(connections::routes())
        .merge(invoke::callback_routes())
        .merge(workspace::routes())
        .merge(runs::routes())
        .merge(approvals::routes())
        .merge(streams::routes())
        .merge(agent_plane::operator_routes())
        .merge(gateway::routes())
}

/// The operator API. Wrap it in `rewrite_workspace_path` (see `runagents serve`).
pub fn operator_router(state: AppState) -> Router {
    let authenticated =
        || axum::middleware::from_fn_with_state(state.clone(), auth::require_caller);
    // Invokes have their own auth step: the agent's mode decides between an end-user token
    // and the operator's key.
    let invoke = invoke::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_invoker,
    ));
    // A person's own resources, with their identity provider's token.
    let mine = connections::end_user_routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_end_user,
    ));
    let api = api_routes()
        .route_layer(authenticated())
        .merge(invoke)
        .merge(mine);
    // The documented root paths (`/runs`, ...) serve the caller's default workspace too, and
    // the OpenAI-style root `/v1/...` (what `runagents dev` and the runtime's default use).
    let root_aliases = runs::routes()
        .merge(approvals::routes())
        .merge(streams::routes())
        .merge(gateway::root_routes())
        .route_layer(authenticated());
    Router::new()
        .merge(system::routes())
        .merge(console::routes())
        .merge(sso::console_routes())
        .merge(integrations::routes())
        .merge(root_aliases)
        .nest("/api/v1", api)
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(state)
}

/// The agent plane: what deployed agents talk to.
pub fn agent_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(system::healthz))
        .merge(agent_plane::routes())
        .route("/v1/healthz", get(system::healthz))
        .fallback(error::no_route)
        .with_state(state)
}
