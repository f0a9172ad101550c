//! Workspace addressing and authentication.
//!
//! `/api/v1/workspaces/{ws}/rest` is rewritten to `/api/v1/rest` before routing, remembering
//! `{ws}`, so one route table serves both forms. Every `/api/v1` route then passes
//! `require_caller`, which resolves the API key to a `Caller` for the handlers.
//!
//! Without an API-key header, the console's session cookie is accepted instead; a mutation
//! authenticated that way must carry the session's CSRF token (`X-CSRF-Token`).
//!
//! The invoke routes pass `require_invoker` instead, which looks up the agent's mode first: an
//! agent with an identity provider takes only an end-user JWT from it (`Authorization: Bearer`),
//! and the identity in the token is who the run is for; any other agent takes the operator's
//! key or session as above.

use std::collections::HashMap;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::Response;
use runagents_domain::{api_key, session};
use runagents_engine::end_users::InvokeMode;
use runagents_engine::{Caller, Error};

use crate::{ApiError, AppState};

/// The workspace named in the request path, if it used the `/workspaces/{ws}` form.
#[derive(Clone, Debug)]
pub struct RequestedWorkspace(pub String);

const WORKSPACE_PREFIX: &str = "/api/v1/workspaces/";

/// Rewrites `/api/v1/workspaces/{ws}/rest` to `/api/v1/rest` and records `{ws}`.
pub fn rewrite_workspace_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix(WORKSPACE_PREFIX) else {
        return request;
    };
    let (workspace, tail) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if workspace.is_empty() {
        return request;
    }
    let workspace = workspace.to_owned();
    let mut rewritten = format!("/api/v1{tail}");
    if let Some(query) = request.uri().query() {
        rewritten.push('?');
        rewritten.push_str(query);
    }
    if let Ok(uri) = rewritten.parse::<Uri>() {
        *request.uri_mut() = uri;
        request
            .extensions_mut()
            .insert(RequestedWorkspace(workspace));
    }
    request
}

/// The API key of a request: `X-RunAgents-API-Key`, or `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers
        .get("x-runagents-api-key")
        .and_then(|v| v.to_str().ok())
    {
        return Some(key);
    }
    bearer(headers)
}

/// The `Authorization: Bearer` credential, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The end-user token of an invoke: a bearer credential that is not an API key.
fn end_user_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers)
        .map(str::trim)
        .filter(|token| !token.is_empty() && !api_key::looks_like_token(token))
}

/// True when the request carries an operator credential: an API key or a console session.
fn has_operator_credential(headers: &HeaderMap) -> bool {
    headers.contains_key("x-runagents-api-key")
        || bearer(headers).is_some_and(|token| api_key::looks_like_token(token.trim()))
        || session_cookie(headers).is_some()
}

/// The console's session token, from the `ra_session` cookie.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, session::COOKIE)
}

/// The value of the request's cookie `name`, unless it is absent or empty.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, wanted: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && !value.is_empty())
        .map(|(_, value)| value)
}

/// GET and HEAD change nothing, so they need no CSRF token.
fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

fn requested_workspace(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<RequestedWorkspace>()
        .map(|ws| ws.0.clone())
}

/// The operator calling: an API key, else the console's session (with its CSRF token on
/// mutations).
async fn operator_caller(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    requested: Option<&str>,
) -> Result<Caller, ApiError> {
    let caller = match (presented_key(headers), session_cookie(headers)) {
        (None, Some(token)) => {
            let caller = state.engine.session_caller(token, requested).await?;
            let csrf = headers
                .get(session::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if is_mutation(method) && !state.engine.csrf_matches(token, csrf) {
                return Err(ApiError(Error::Forbidden(
                    "missing or invalid CSRF token".into(),
                )));
            }
            caller
        }
        (key, _) => state.engine.authenticate(key, requested).await?,
    };
    Ok(caller)
}

pub(crate) async fn require_caller(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let requested = requested_workspace(&request);
    let caller = operator_caller(
        &state,
        request.method(),
        request.headers(),
        requested.as_deref(),
    )
    .await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller, as resolved by `require_caller`.
pub(crate) type CallerExt = axum::Extension<Caller>;

/// The workspace of an invoke that names none and carries no operator credential.
const DEFAULT_WORKSPACE: &str = "default";

/// Who an invoke acts for, as resolved by `require_invoker`.
#[derive(Clone, Debug)]
pub(crate) enum Invoker {
    /// An open-mode agent, called by an operator; the user comes from the request.
    Operator(Caller),
    /// An authenticated-mode agent, called for the end user its identity provider vouched for.
    EndUser { workspace: String, user_id: String },
}

impl Invoker {
    pub(crate) fn workspace(&self) -> &str {
        match self {
            Invoker::Operator(caller) => &caller.workspace,
            Invoker::EndUser { workspace, .. } => workspace,
        }
    }
}

/// The invoker, as resolved by `require_invoker`.
pub(crate) type InvokerExt = axum::Extension<Invoker>;

/// The auth step of the invoke routes. The agent is looked up in the workspace the URL names
/// (`/workspaces/{ws}/`, else the `{namespace}` segment), else the operator credential's, else
/// `default`; its mode decides what is accepted. An authenticated-mode agent takes only an
/// end-user token from its identity provider (an API key alone gets 401, and the request's
/// `user_id` and `X-End-User-ID` play no part); an open-mode one takes the operator's key or
/// session. Either way the invoke then runs in the workspace the mode was read in.
pub(crate) async fn require_invoker(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let agent = params.get("name").cloned().unwrap_or_default();
    let requested = requested_workspace(&request);
    let mut caller = None;
    let workspace = match requested
        .clone()
        .or_else(|| params.get("namespace").cloned())
    {
        Some(workspace) => workspace,
        // The operator credential's workspace. One that does not check out (a console cookie
        // without its CSRF token beside an end-user token, say) names none: an open-mode agent
        // checks it again below and answers its error; an authenticated one ignores it.
        None if has_operator_credential(request.headers()) => {
            match operator_caller(&state, request.method(), request.headers(), None).await {
                Ok(operator) => {
                    let workspace = operator.workspace.clone();
                    caller = Some(operator);
                    workspace
                }
                Err(_) => DEFAULT_WORKSPACE.to_owned(),
            }
        }
        None => DEFAULT_WORKSPACE.to_owned(),
    };
    let invoker = match state.engine.invoke_mode(&workspace, &agent).await? {
        InvokeMode::Authenticated(provider) => {
            let token = end_user_token(request.headers());
            let user = state
                .engine
                .verify_end_user(&workspace, &provider, token)
                .await?;
            Invoker::EndUser {
                workspace,
                user_id: user.user_id,
            }
        }
        InvokeMode::Open => {
            let caller = match caller {
                Some(caller) => caller,
                None => {
                    operator_caller(
                        &state,
                        request.method(),
                        request.headers(),
                        requested.as_deref(),
                    )
                    .await?
                }
            };
            // The mode was read in `workspace`; the invoke must not run anywhere else.
            if caller.workspace != workspace {
                return Err(ApiError(Error::NotFound(format!(
                    "agent {agent:?} not found"
                ))));
            }
            Invoker::Operator(caller)
        }
    };
    request.extensions_mut().insert(invoker);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn rewrite(uri: &str) -> (String, Option<String>) {
        let request =
            rewrite_workspace_path(Request::builder().uri(uri).body(Body::empty()).unwrap());
        (
            request.uri().to_string(),
            request
                .extensions()
                .get::<RequestedWorkspace>()
                .map(|ws| ws.0.clone()),
        )
    }

    #[test]
    fn rewrites_workspace_paths() {
        assert_eq!(
            rewrite("/api/v1/workspaces/revops/tools"),
            ("/api/v1/tools".into(), Some("revops".into()))
        );
        assert_eq!(
            rewrite("/api/v1/workspaces/revops/tools/x?y=1"),
            ("/api/v1/tools/x?y=1".into(), Some("revops".into()))
        );
        assert_eq!(
            rewrite("/api/v1/workspaces/revops"),
            ("/api/v1".into(), Some("revops".into()))
        );
        assert_eq!(
            rewrite("/api/v1/workspaces"),
            ("/api/v1/workspaces".into(), None)
        );
        assert_eq!(rewrite("/api/v1/tools"), ("/api/v1/tools".into(), None));
    }

    #[test]
    fn reads_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer ra_ws_x".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("ra_ws_x"));
        headers.insert("x-runagents-api-key", "ra_ws_y".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("ra_ws_y"));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn tells_end_user_tokens_from_api_keys() {
        let key = format!("ra_ws_{}", "a".repeat(43));
        assert!(api_key::looks_like_token(&key));
        let mut headers = HeaderMap::new();
        assert_eq!(end_user_token(&headers), None);
        assert!(!has_operator_credential(&headers));
        headers.insert("authorization", "Bearer eyJh.eyJz.sig".parse().unwrap());
        assert_eq!(end_user_token(&headers), Some("eyJh.eyJz.sig"));
        assert!(!has_operator_credential(&headers));
        headers.insert("authorization", "bearer  eyJh.eyJz.sig ".parse().unwrap());
        assert_eq!(end_user_token(&headers), Some("eyJh.eyJz.sig"));
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
        assert_eq!(end_user_token(&headers), None);
        assert!(has_operator_credential(&headers));
        headers.insert("authorization", "Basic dTpw".parse().unwrap());
        assert_eq!(end_user_token(&headers), None);
        headers.insert("x-runagents-api-key", "anything".parse().unwrap());
        assert!(has_operator_credential(&headers));
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_cookie(&headers), None);
        headers.insert("cookie", "a=1; ra_session=tok.sig; b=2".parse().unwrap());
        assert_eq!(session_cookie(&headers), Some("tok.sig"));
        headers.insert("cookie", "ra_session=; x_ra_session=y".parse().unwrap());
        assert_eq!(session_cookie(&headers), None);
        headers.insert("cookie", "other=1".parse().unwrap());
        headers.append("cookie", "ra_session=t2".parse().unwrap());
        assert_eq!(session_cookie(&headers), Some("t2"));
    }
}

/// A person signed in with their identity provider's token, for their own requests.
#[derive(Clone, Debug)]
pub(crate) struct EndUserCaller {
    pub(crate) workspace: String,
    pub(crate) user_id: String,
}

/// The `/me/...` routes: an end-user bearer token from one of the workspace's identity
/// providers (workspace from the URL, else `default`).
pub(crate) async fn require_end_user(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let workspace = requested_workspace(&request).unwrap_or_else(|| DEFAULT_WORKSPACE.to_owned());
    let token = end_user_token(request.headers());
    let user = state
        .engine
        .verify_end_user_of_workspace(&workspace, token)
        .await?;
    request.extensions_mut().insert(EndUserCaller {
        workspace,
        user_id: user.user_id,
    });
    Ok(next.run(request).await)
}
