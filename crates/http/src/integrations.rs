//! Unauthenticated routes that connectors call back: Slack interactivity (verified by Slack's
//! request signature), Jira transition webhooks (verified by Jira's `X-Hub-Signature` with the
//! connector's secret) and signed decision links (`GET` shows a confirmation page, so a link
//! scanner opening it decides nothing; `POST` decides).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runagents_domain::dispatch::JIRA_SIGNATURE_HEADER;
use runagents_engine::Error;
use runagents_engine::dispatch::Pressed;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/integrations/slack/interactivity",
            post(slack_interactivity),
        )
        .route("/approvals/decide/{token}", get(confirm).post(decide))
        .route("/oauth/callback", get(oauth_callback))
        .route(
            "/integrations/jira/{workspace}/{connector}",
            post(jira_webhook),
        )
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    /// Set by the provider when the user declined or something failed there.
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Where an OAuth provider sends the user back after consent (verified by the signed state).
async fn oauth_callback(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<CallbackQuery>,
) -> Response {
    if !query.error.is_empty() {
        let detail = if query.error_description.is_empty() {
            query.error.clone()
        } else {
            format!("{}: {}", query.error, query.error_description)
        };
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Not connected",
                &format!("<p>The provider did not grant access ({}). Ask the agent again to get a new link.</p>", escape(&detail)),
            ),
        )
            .into_response();
    }
    match state.engine.oauth_callback(&query.code, &query.state).await {
        Ok(connected) => {
            let next = if connected.resumed {
                "The agent is continuing where it stopped."
            } else {
                "You can ask the agent again now."
            };
            page(
                "Connected",
                &format!(
                    "<p>{} is connected for {}. {next} You can close this window.</p>",
                    escape(&connected.tool),
                    escape(&connected.user_id)
                ),
            )
            .into_response()
        }
        Err(error) => {
            let message = error.to_string();
            let status = ApiError(error).into_response().status();
            (
                status,
                page("Not connected", &format!("<p>{}</p>", escape(&message))),
            )
                .into_response()
        }
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Slack wants a quick 200; the message is updated through the outbox afterwards. A press
/// Slack signed but that may not decide (not an approver, decided otherwise) is acknowledged
/// with 200 too, carrying the ephemeral message for the presser (also posted to the payload's
/// `response_url`): Slack shows a generic failure for any other status and drops the body.
/// Unverified presses get 403.
async fn slack_interactivity(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pressed = state
        .engine
        .slack_interaction(
            header_text(&headers, "x-slack-request-timestamp"),
            header_text(&headers, "x-slack-signature"),
            &body,
        )
        .await?;
    Ok(match pressed {
        Pressed::Decided(_) => StatusCode::OK.into_response(),
        Pressed::Refused(text) => Json(json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        }))
        .into_response(),
    })
}

/// A Jira admin webhook (`jira:issue_updated`): a transition of one of our issues decides its
/// request. 200 with what it came to (Jira retries other statuses, 409 included), 403 when
/// the signature or the approver is refused.
async fn jira_webhook(
    State(state): State<AppState>,
    Path((workspace, connector)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let answer = state
        .engine
        .jira_webhook(
            &workspace,
            &connector,
            header_text(&headers, JIRA_SIGNATURE_HEADER),
            &body,
        )
        .await?;
    Ok(Json(json!({
        "result": answer.result,
        "request_id": answer.request_id,
        "message": answer.message,
    })))
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    ))
}

async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.engine.read_decision_link(&token).await {
        Ok((link, request)) => {
            let field = |key: &str| escape(request.body[key].as_str().unwrap_or_default());
            let choice = link.choice().map(|c| c.label()).unwrap_or_default();
            let body = format!(
                "<p>{}</p><ul><li>Agent: {}</li><li>Tool: {}</li><li>Operation: {} {}</li><li>User: {}</li><li>Status: {}</li></ul>\
                 <form method=\"post\"><button type=\"submit\">{}</button></form>",
                field("message"),
                field("agent_id"),
                field("tool_id"),
                field("tool_method"),
                field("tool_url"),
                field("subject"),
                escape(&request.status),
                escape(choice),
            );
            page(&format!("{choice}?"), &body).into_response()
        }
        Err(error) => {
            let status = ApiError(error).into_response().status();
            (
                status,
                page(
                    "Decision link not usable",
                    "<p>This link is invalid, expired, or its request is gone.</p>",
                ),
            )
                .into_response()
        }
    }
}

/// Decides. A JSON body may name the `approver` and a `reason`; the confirmation page's form
/// sends neither and gets a page back.
async fn decide(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let from_form = header_text(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let fields: Value = if from_form || body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|_| ApiError::invalid("body must be JSON"))?
    };
    let text = |key: &str| fields[key].as_str().map(str::to_owned);
    let decided = state
        .engine
        .decide_by_link(&token, text("approver"), text("reason").unwrap_or_default())
        .await;
    match (decided, from_form) {
        (Ok(request), false) => Ok(Json(crate::approvals::view(&request)).into_response()),
        (Ok(request), true) => Ok(page(
            "Decision recorded",
            &format!(
                "<p>Request {} is now {}.</p>",
                escape(&request.id),
                escape(&request.status)
            ),
        )
        .into_response()),
        (Err(error), true) => {
            let message = match &error {
                Error::Store(_) => "internal error; see the server log".to_owned(),
                other => escape(&other.to_string()),
            };
            let status = ApiError(error).into_response().status();
            Ok((
                status,
                page("Decision not recorded", &format!("<p>{message}</p>")),
            )
                .into_response())
        }
        (Err(error), false) => Err(ApiError(error)),
    }
}
