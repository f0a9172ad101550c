//! The operator console: its files (compiled into the binary from `crates/http/console/`,
//! served at `/` and `/console/...` with a strict Content-Security-Policy) and its session
//! (`/console/session`: sign in with an API key, who am I, sign out;
//! `/console/session/refresh`: still here, so the idle timeout starts again).
//!
//! Invariants: the session cookie is HttpOnly and SameSite=Strict and never holds the API key;
//! the CSRF token is only ever in a response body, never in a cookie.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::session::{self, COOKIE};
use runagents_engine::sessions::Session;
use runagents_engine::{Caller, Error, Role};
use serde_json::{Value, json};

use crate::auth::session_cookie;
use crate::json::JsonBody;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/console/session",
            get(who_am_i).post(sign_in).delete(sign_out),
        )
        .route("/console/session/refresh", post(refresh))
        .route("/console/{*path}", get(asset))
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../console/", $path)))),*]
    };
}

/// Every console file, by its path under `/console/`.
static ASSETS: &[(&str, &[u8])] = assets![
    "index.html",
    "style.css",
    "icon.svg",
    "app.js",
    "lib/api.js",
    "lib/dom.js",
    "lib/format.js",
    "lib/list.js",
    "lib/yaml.js",
    "lib/sse.js",
    "lib/build.js",
    "pages/signin.js",
    "pages/dashboard.js",
    "pages/approvals.js",
    "pages/runs.js",
    "pages/agents.js",
    "pages/playground.js",
    "pages/logs.js",
    "pages/deploy.js",
    "pages/tools.js",
    "pages/policies.js",
    "pages/models.js",
    "pages/identity.js",
    "pages/connectors.js",
    "pages/settings.js",
];

/// Only our own files: no inline script or style, no frames, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Entity tags of the files, from their contents (so a new binary's files are never stale).
fn etags() -> &'static HashMap<&'static str, String> {
    static TAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(path, bytes)| {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut hasher);
                (*path, format!("\"{:016x}\"", hasher.finish()))
            })
            .collect()
    })
}

/// Headers every console page and file carries.
fn secure(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some((path, bytes)) = ASSETS.iter().find(|(known, _)| *known == path) else {
        return crate::error::no_such_endpoint();
    };
    let etag = etags().get(path).cloned().unwrap_or_default();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(path))], bytes.to_vec()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    secure(headers);
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// The session cookie.
fn cookie(value: &str, max_age: i64, headers: &HeaderMap) -> HeaderValue {
    cookie_attributes(
        COOKIE,
        value,
        "HttpOnly; SameSite=Strict; Path=/",
        max_age,
        headers,
    )
}

/// A cookie with `attributes`, `Secure` when the browser reached us over HTTPS (through a
/// proxy that says so).
pub(crate) fn cookie_attributes(
    name: &str,
    value: &str,
    attributes: &str,
    max_age: i64,
    headers: &HeaderMap,
) -> HeaderValue {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; {attributes}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("ra_session=; Max-Age=0; Path=/"))
}

/// The session as the console sees it; the token stays in the cookie.
fn view(session: &Session) -> Value {
    let mut view = caller_view(
        &session.caller,
        &session.csrf_token,
        json!(session.expires_at),
    );
    view["idle_expires_at"] = json!(session.idle_expires_at);
    // Who signed in with single sign-on: the person (no key); else null.
    view["person"] = session.person.as_ref().map_or(Value::Null, |person| {
        json!({"subject": person.subject, "name": person.name, "email": person.email, "groups": person.groups})
    });
    view
}

fn caller_view(caller: &Caller, csrf_token: &str, expires_at: Value) -> Value {
    json!({
        "workspace": caller.workspace,
        "key_name": caller.key_name,
        "key_id": caller.key_id,
        "subject": caller.subject,
        "groups": caller.groups,
        "role": match caller.role { Role::Admin => "admin", Role::Member => "member" },
        "csrf_token": csrf_token,
        "expires_at": expires_at,
        "idle_expires_at": Value::Null,
        "idle_timeout_minutes": session::IDLE_TIMEOUT_SECS / 60,
    })
}

/// `view` with the session's cookie set (until the session's lifetime ends).
pub(crate) fn started(session: &Session, headers: &HeaderMap, status: StatusCode) -> Response {
    let max_age =
        (session.expires_at.millis() - runagents_domain::Timestamp::now().millis()) / 1000;
    let mut response = (status, Json(view(session))).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&session.token, max_age, headers));
    private(response)
}

/// The error of a dead session, its cookie cleared.
fn ended(error: Error, headers: &HeaderMap) -> Response {
    let mut response = ApiError(error).into_response();
    if session_cookie(headers).is_some() {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie("", 0, headers));
    }
    private(response)
}

pub(crate) fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(headers);
    response
}

/// `{"api_key"}` → the session cookie and `view`. Only a JSON body is accepted, so a form on
/// another site cannot sign a browser in.
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind.trim().starts_with("application/json"));
    if !json {
        return Err(ApiError::invalid(
            "send the key as JSON: {\"api_key\": \"ra_ws_...\"}",
        ));
    }
    let key = body
        .get("api_key")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("api_key is required"))?;
    let session = state.engine.sign_in(key).await?;
    Ok(started(&session, &headers, StatusCode::OK))
}

/// Re-issues the live session as active now: a new cookie whose idle expiry starts again
/// (never past the session's lifetime), the same CSRF token, which it needs. The console
/// calls it while the person uses the page, so background polling alone never keeps a
/// session alive.
async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = session_cookie(&headers) else {
        return ended(Error::Unauthenticated("not signed in".into()), &headers);
    };
    let csrf = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !state.engine.csrf_matches(token, csrf) {
        return private(
            ApiError(Error::Forbidden("missing or invalid CSRF token".into())).into_response(),
        );
    }
    match state.engine.refresh_session(token).await {
        Ok(session) => started(&session, &headers, StatusCode::OK),
        Err(error) => ended(error, &headers),
    }
}

/// The current session; 401 (and the cookie cleared) when there is none or it has ended. In
/// `--dev` no session is needed and the dev caller is returned.
async fn who_am_i(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = match session_cookie(&headers) {
        Some(token) => state.engine.session(token, None).await.map(|s| view(&s)),
        None if state.engine.settings().dev => state
            .engine
            .authenticate(None, None)
            .await
            .map(|caller| caller_view(&caller, "", Value::Null)),
        None => Err(Error::Unauthenticated("not signed in".into())),
    };
    match result {
        Ok(view) => private(Json(view).into_response()),
        Err(error) => ended(error, &headers),
    }
}

/// Clears the cookie. A live session must show its CSRF token to be ended this way.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        let csrf = headers
            .get(session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !state.engine.csrf_matches(token, csrf)
            && state.engine.session(token, None).await.is_ok()
        {
            return Err(ApiError(Error::Forbidden(
                "missing or invalid CSRF token".into(),
            )));
        }
    }
    let mut response = Json(json!({"status": "signed out"})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, &headers));
    Ok(private(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
    }

    fn files(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                let relative = path.strip_prefix(console_dir()).unwrap();
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }

    #[test]
    fn every_console_file_is_compiled_in() {
        let mut found = Vec::new();
        files(&console_dir(), &mut found);
        found.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|(path, _)| path.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    /// Every relative `import ... from "./x.js"` names a file that is served.
    #[test]
    fn every_module_import_resolves() {
        for (path, bytes) in ASSETS.iter().filter(|(path, _)| path.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap();
            let base = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for import in text.split("from \"").skip(1) {
                let target = import.split('"').next().unwrap();
                let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    ASSETS.iter().any(|(known, _)| *known == resolved),
                    "{path} imports {target} ({resolved}), which is not served"
                );
            }
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_https() {
        let plain = cookie("tok", 60, &HeaderMap::new());
        assert_eq!(
            plain.to_str().unwrap(),
            "ra_session=tok; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(
            cookie("tok", 60, &headers)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
