//! Workspace addressing and authentication.
//!
//! `/api/v1/workspaces/{ws}/rest` is rewritten to `/api/v1/rest` before routing, remembering
//! `{ws}`, so one route table serves both forms. Every `/api/v1` route then passes
//! `require_caller`, which resolves the API key to a `Caller` for the handlers.
//!
//! Without an API-key header, the console's session cookie is accepted instead; a mutation
//! authenticated that way must carry the session's CSRF token (`X-CSRF-Token`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::Response;
use runagents_domain::session;
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
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The console's session token, from the `ra_session` cookie.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == session::COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

/// GET and HEAD change nothing, so they need no CSRF token.
fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

pub(crate) async fn require_caller(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let requested = request
        .extensions()
        .get::<RequestedWorkspace>()
        .map(|ws| ws.0.clone());
    let headers = request.headers();
    let caller = match (presented_key(headers), session_cookie(headers)) {
        (None, Some(token)) => {
            let caller = state
                .engine
                .session_caller(token, requested.as_deref())
                .await?;
            let csrf = headers
                .get(session::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if is_mutation(request.method()) && !state.engine.csrf_matches(token, csrf) {
                return Err(ApiError(Error::Forbidden(
                    "missing or invalid CSRF token".into(),
                )));
            }
            caller
        }
        (key, _) => state.engine.authenticate(key, requested.as_deref()).await?,
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller, as resolved by `require_caller`.
pub(crate) type CallerExt = axum::Extension<Caller>;

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
