//! The API client: JSON over HTTP/1.1 with reqwest, the public clients' auth headers, and every
//! failure turned into an `Error` with the server's own message.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::error::{Error, Result};

/// The public CLI's per-request timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a request carries. `Json(Value::Null)` sends the literal `null`, as the public CLI does
/// for `approvals approve` without flags; `Empty` sends no body and no content type.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
}

/// The header a key goes in: `ra_ws_…` workspace keys in `X-RunAgents-API-Key`, anything else
/// as a bearer token, nothing for an empty key (§1.2 of the contract).
pub fn auth_header(key: &str) -> Option<(&'static str, String)> {
    let key = key.trim();
    if key.is_empty() {
        None
    } else if key.starts_with("ra_ws_") {
        Some(("X-RunAgents-API-Key", key.to_owned()))
    } else {
        Some(("Authorization", format!("Bearer {key}")))
    }
}

/// One URL path segment, percent-encoded (a name typed by a person may hold anything).
pub fn segment(text: &str) -> String {
    encode(text)
}

/// `?a=1&b=x%20y` from the pairs whose value is not empty; `""` if none is.
pub fn query(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    /// `base` is a normalised endpoint (see `endpoint::normalize`), e.g. `http://h/api/v1`.
    pub fn new(base: &str, key: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("runagents-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Unexpected(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The request as it will be sent; `path` starts with `/` and is relative to the base.
    pub fn build(&self, method: Method, path: &str, body: &Body) -> Result<reqwest::Request> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some((name, value)) = auth_header(&self.key) {
            request = request.header(name, value);
        }
        if let Body::Json(value) = body {
            let bytes = serde_json::to_vec(value).map_err(|e| Error::invalid(e.to_string()))?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        request
            .build()
            .map_err(|e| Error::invalid(format!("invalid request URL {}{path}: {e}", self.base)))
    }

    pub async fn send(&self, method: Method, path: &str, body: Body) -> Result<Value> {
        let (status, text, url) = self.exchange(method.clone(), path, &body).await?;
        if status.is_client_error() || status.is_server_error() {
            return Err(api_error(status, &text, &method, url.path()));
        }
        Ok(parse_body(&text))
    }

    /// A POST whose error answers carry a document too (`/actions/apply` answers 400 with the
    /// apply report): `(status, body)` for any 2xx or 400, an error otherwise.
    pub async fn post_report(&self, path: &str, body: Value) -> Result<(u16, Value)> {
        let (status, text, url) = self.exchange(Method::POST, path, &Body::Json(body)).await?;
        let value = parse_body(&text);
        if status == reqwest::StatusCode::BAD_REQUEST && value.get("results").is_some() {
            return Ok((status.as_u16(), value));
        }
        if status.is_client_error() || status.is_server_error() {
            return Err(api_error(status, &text, &Method::POST, url.path()));
        }
        Ok((status.as_u16(), value))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<(reqwest::StatusCode, String, reqwest::Url)> {
        let request = self.build(method, path, body)?;
        let url = request.url().clone();
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| transport_error(&url, &e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        Ok((status, text, url))
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(Method::GET, path, Body::Empty).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send(Method::POST, path, Body::Json(body)).await
    }

    /// A POST without a body (`starter-kit`, `tools/{n}/test`, `reject`).
    pub async fn post_empty(&self, path: &str) -> Result<Value> {
        self.send(Method::POST, path, Body::Empty).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.send(Method::PUT, path, Body::Json(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value> {
        self.send(Method::PATCH, path, Body::Json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(Method::DELETE, path, Body::Empty).await
    }

    /// A GET where 404 means "there is none".
    pub async fn get_optional(&self, path: &str) -> Result<Option<Value>> {
        match self.get(path).await {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A success body: JSON, or the text itself, or `null` when empty.
fn parse_body(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The server's `{"error": …}` message, else the start of the body, else the status text.
pub(crate) fn api_error(
    status: reqwest::StatusCode,
    text: &str,
    method: &Method,
    path: &str,
) -> Error {
    let from_json = serde_json::from_str::<Value>(text).ok().and_then(|body| {
        ["error", "message", "detail"]
            .iter()
            .find_map(|key| body.get(key).and_then(Value::as_str).map(str::to_owned))
    });
    let mut message = from_json.unwrap_or_else(|| {
        let text = text.trim();
        match text.lines().next() {
            Some(line) if !line.is_empty() => line.chars().take(300).collect(),
            _ => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_ascii_lowercase(),
        }
    });
    if message == "no such endpoint" || message == "method not allowed for this endpoint" {
        message = format!("{message}: {method} {path}");
    }
    Error::Api {
        status: status.as_u16(),
        message,
    }
}

fn transport_error(url: &reqwest::Url, error: &reqwest::Error) -> Error {
    let target = format!(
        "{}://{}",
        url.scheme(),
        url.host_str()
            .map_or_else(String::new, |host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
    );
    if error.is_timeout() {
        return Error::TimedOut(format!(
            "{target} did not answer within {}s",
            TIMEOUT.as_secs()
        ));
    }
    // The innermost cause says what happened ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Error::Unreachable {
        url: target,
        detail: cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workspace_keys_go_in_their_header_and_others_as_bearer() {
        assert_eq!(
            auth_header(" ra_ws_abc "),
            Some(("X-RunAgents-API-Key", "ra_ws_abc".to_owned()))
        );
        assert_eq!(
            auth_header("eyJhbGciOi.jwt"),
            Some(("Authorization", "Bearer eyJhbGciOi.jwt".to_owned()))
        );
        assert_eq!(auth_header(""), None);
        assert_eq!(auth_header("   "), None);
    }

    #[test]
    fn builds_requests_with_one_auth_header_and_json_only_with_a_body() {
        let client = Client::new("http://h:1/api/v1/", "ra_ws_key").unwrap();
        let request = client
            .build(Method::POST, "/tools", &Body::Json(json!({"name": "t"})))
            .unwrap();
        assert_eq!(request.url().as_str(), "http://h:1/api/v1/tools");
        assert_eq!(request.headers()["x-runagents-api-key"], "ra_ws_key");
        assert!(request.headers().get("authorization").is_none());
        assert!(request.headers().get("x-workspace-namespace").is_none());
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(
            request.body().and_then(|b| b.as_bytes()),
            Some(&b"{\"name\":\"t\"}"[..])
        );

        let request = client
            .build(
                Method::POST,
                "/approvals/requests/x/approve",
                &Body::Json(Value::Null),
            )
            .unwrap();
        assert_eq!(
            request.body().and_then(|b| b.as_bytes()),
            Some(&b"null"[..])
        );

        let bearer = Client::new("http://h:1/api/v1", "jwt-token").unwrap();
        let request = bearer.build(Method::GET, "/tools", &Body::Empty).unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer jwt-token");
        assert!(request.headers().get("x-runagents-api-key").is_none());
        assert!(request.headers().get("content-type").is_none());
        assert!(request.body().is_none());

        let anonymous = Client::new("http://h:1/api/v1", "").unwrap();
        let request = anonymous
            .build(Method::GET, "/tools", &Body::Empty)
            .unwrap();
        assert!(request.headers().get("authorization").is_none());
        assert!(request.headers().get("x-runagents-api-key").is_none());
    }

    #[test]
    fn paths_and_queries_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("echo-tool"), "echo-tool");
        assert_eq!(
            query(&[
                ("agent_id", "bot".into()),
                ("status", String::new()),
                ("q", "a&b".into())
            ]),
            "?agent_id=bot&q=a%26b"
        );
        assert_eq!(query(&[("status", String::new())]), "");
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let method = Method::GET;
        let error = api_error(
            reqwest::StatusCode::NOT_FOUND,
            r#"{"error":"tool \"x\" not found"}"#,
            &method,
            "/api/v1/tools/x",
        );
        assert_eq!(error.to_string(), "tool \"x\" not found (HTTP 404)");
        assert_eq!(error.exit_code(), 3);
        let error = api_error(
            reqwest::StatusCode::NOT_FOUND,
            r#"{"error":"no such endpoint"}"#,
            &method,
            "/api/v1/runs",
        );
        assert_eq!(
            error.to_string(),
            "no such endpoint: GET /api/v1/runs (HTTP 404)"
        );
        assert!(error.hint().is_some());
        let error = api_error(
            reqwest::StatusCode::BAD_GATEWAY,
            "<html>bad gateway</html>\nmore",
            &method,
            "/",
        );
        assert_eq!(error.to_string(), "<html>bad gateway</html> (HTTP 502)");
        let error = api_error(reqwest::StatusCode::UNAUTHORIZED, "", &method, "/");
        assert_eq!(error.to_string(), "unauthorized (HTTP 401)");
        assert!(error.hint().unwrap().contains("config set api-key"));
    }

    #[test]
    fn success_bodies_parse_leniently() {
        assert_eq!(parse_body(""), Value::Null);
        assert_eq!(parse_body("[1]"), json!([1]));
        assert_eq!(parse_body("plain"), json!("plain"));
    }
}
