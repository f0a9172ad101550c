//! The console's single sign-on. Unauthenticated, for the sign-in page: `/console/sso` (is it on
//! for a workspace, and what the button says), `/console/oidc/start` (to the provider, with a
//! cookie that binds the sign-in to this browser) and `/console/oidc/callback` (back from it:
//! a session cookie, or a page saying why not). Authenticated: `/settings/console-sso` (read,
//! replace, remove; the client secret is never shown).
//!
//! Invariant: the binding cookie (`ra_oidc`) is SameSite=Lax and scoped to `/console/oidc`, the
//! only cookie a cross-site navigation from the provider brings back; the session cookie stays
//! SameSite=Strict.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use runagents_domain::sso::{self, TokenAuth};
use runagents_engine::console_sso::SsoSetting;
use serde_json::{Value, json};

use crate::auth::{CallerExt, cookie};
use crate::console::{cookie_attributes, private, started};
use crate::json::JsonBody;
use crate::{ApiError, AppState};

/// The cookie that ties a sign-in to the browser that started it.
const BINDING_COOKIE: &str = "ra_oidc";
const DEFAULT_WORKSPACE: &str = "default";

/// The unauthenticated sign-in routes.
pub(crate) fn console_routes() -> Router<AppState> {
    Router::new()
        .route("/console/sso", get(button))
        .route("/console/oidc/start", get(start))
        .route(sso::CALLBACK_PATH, get(callback))
}

/// `/settings/console-sso`, behind `require_caller`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/settings/console-sso",
        get(read).put(replace).delete(remove),
    )
}

fn view(setting: &SsoSetting) -> Value {
    let sso = &setting.sso;
    json!({
        "configured": true,
        "enabled": sso.enabled,
        "identity_provider": sso.identity_provider,
        "client_id": sso.client_id,
        "client_secret_set": setting.client_secret_set,
        "scopes": sso.scopes,
        "authorization_endpoint": sso.authorization_endpoint,
        "token_endpoint": sso.token_endpoint,
        "discovered": sso.discovered,
        "token_endpoint_auth_method": match sso.token_endpoint_auth {
            TokenAuth::ClientSecretPost => "client_secret_post",
            TokenAuth::ClientSecretBasic => "client_secret_basic",
        },
        "groups_claim": sso.groups_claim,
        "admin_groups": sso.admin_groups,
        "redirect_uri": sso.redirect_uri,
        "callback_url": setting.redirect_uri,
        "display_name": sso.display_name,
        "updated_at": setting.updated_at,
    })
}

async fn read(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        match state.engine.console_sso(&caller.workspace).await? {
            Some(setting) => view(&setting),
            None => json!({
                "configured": false,
                "enabled": false,
                "callback_url": state.engine.default_sso_redirect_uri(),
            }),
        },
    ))
}

async fn replace(
    State(state): State<AppState>,
    caller: CallerExt,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(
        &state.engine.put_console_sso(&caller, body).await?,
    )))
}

async fn remove(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    state.engine.delete_console_sso(&caller).await?;
    Ok(Json(json!({"status": "deleted"})))
}

/// A query string read leniently (a repeated or unknown parameter is no error): these are
/// browser navigations, answered with a page rather than a parse error.
type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map_or("", |value| value.trim())
}

/// The workspace a sign-in is for: `default` unless named.
fn workspace(params: &HashMap<String, String>) -> &str {
    match param(params, "workspace") {
        "" => DEFAULT_WORKSPACE,
        named => named,
    }
}

/// Whether the sign-in page shows "Sign in with …" for a workspace (`default` unless named).
async fn button(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let workspace = workspace(&params);
    let label = state.engine.sso_button(workspace).await?;
    let mut answer = json!({"workspace": workspace, "enabled": label.is_some()});
    if let Some(label) = label {
        // A workspace with a setting has a resource name (a DNS label): nothing to escape.
        answer["label"] = json!(label);
        answer["start_url"] = json!(format!("/console/oidc/start?workspace={workspace}"));
    }
    Ok(private(Json(answer).into_response()))
}

fn binding_cookie(value: &str, max_age: i64, headers: &HeaderMap) -> HeaderValue {
    cookie_attributes(
        BINDING_COOKIE,
        value,
        "HttpOnly; SameSite=Lax; Path=/console/oidc",
        max_age,
        headers,
    )
}

/// To the provider's authorization endpoint, with the browser binding as a cookie.
async fn start(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    match state.engine.start_sso(workspace(&params)).await {
        Ok(started) => {
            let Ok(location) = HeaderValue::from_str(&started.authorization_url) else {
                return failed(
                    StatusCode::BAD_GATEWAY,
                    "the identity provider's authorization URL is not usable",
                );
            };
            let mut response = StatusCode::SEE_OTHER.into_response();
            let answer = response.headers_mut();
            answer.insert(header::LOCATION, location);
            answer.insert(
                header::SET_COOKIE,
                binding_cookie(&started.browser_binding, sso::STATE_TTL_SECONDS, &headers),
            );
            private(response)
        }
        Err(error) => {
            let message = error.to_string();
            failed(ApiError(error).into_response().status(), &message)
        }
    }
}

/// Back from the provider: the session cookie and on to the console, or a page saying why
/// not. Either way the binding cookie is cleared: a sign-in is tried once.
async fn callback(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let error = param(&params, "error");
    let mut response = if !error.is_empty() {
        let detail = match param(&params, "error_description") {
            "" => error.to_owned(),
            description => format!("{error}: {description}"),
        };
        failed(
            StatusCode::UNAUTHORIZED,
            &format!("The identity provider did not sign you in ({detail})."),
        )
    } else {
        match state
            .engine
            .finish_sso(
                param(&params, "code"),
                param(&params, "state"),
                cookie(&headers, BINDING_COOKIE),
            )
            .await
        {
            Ok(session) => {
                let mut response = started(&session, &headers, StatusCode::SEE_OTHER);
                response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/#/"));
                response
            }
            Err(error) => {
                let message = error.to_string();
                failed(ApiError(error).into_response().status(), &message)
            }
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, binding_cookie("", 0, &headers));
    response
}

/// A page saying why the sign-in did not happen, with the way back.
fn failed(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Sign-in failed</title>\
         <link rel=\"stylesheet\" href=\"/console/style.css\"></head><body>\
         <main class=\"signin\" id=\"main\"><div class=\"signin-card\"><h1>Sign-in failed</h1>\
         <p class=\"form-error\" role=\"alert\">{}</p>\
         <p><a class=\"button primary\" href=\"/\">Back to sign in</a></p></div></main></body></html>",
        crate::integrations::escape(message)
    );
    private((status, Html(html)).into_response())
}
