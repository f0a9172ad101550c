//! The mock tool server of `runagents dev`: the public mock's answers, with the real method
//! reported for PUT and PATCH (the public one always says POST).

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::output::Output;

/// Binds `127.0.0.1:{port}` and serves the mock until the process ends.
pub(crate) async fn start(port: u16, out: Output) -> Result<String> {
    let address = format!("127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|error| {
            Error::invalid(format!(
                "cannot serve the mock tools on {address}: {error}; choose another --mock-port, or --no-mock"
            ))
        })?;
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let out = out.clone();
        async move {
            out.note(&format!("[mock] {method} {uri}"));
            let (status, answer) = answer(&method, &uri, &body);
            (status, axum::Json(answer)).into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{address}"))
}

/// The mock's answer to one call. The path includes the query, as the public mock's does.
pub(crate) fn answer(method: &Method, uri: &Uri, body: &[u8]) -> (StatusCode, Value) {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    match *method {
        Method::GET | Method::HEAD => (
            StatusCode::OK,
            json!({"method": "GET", "path": path, "mock": true}),
        ),
        Method::POST | Method::PUT | Method::PATCH => {
            let text = String::from_utf8_lossy(body);
            let received = if text.is_empty() {
                json!({})
            } else {
                serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}))
            };
            (
                StatusCode::OK,
                json!({
                    "method": method.as_str(),
                    "path": path,
                    "received": received,
                    "mock": true,
                    "result": format!("Mock response for {path}"),
                }),
            )
        }
        Method::DELETE => (
            StatusCode::OK,
            json!({"method": "DELETE", "path": path, "mock": true, "deleted": true}),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": format!("the mock tool server does not answer {method}"), "mock": true}),
        ),
    }
}

/// For tests: the response a request would get, as a full HTTP response.
#[cfg(test)]
fn respond(method: &str, uri: &str, body: &str) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let uri: Uri = uri.parse().unwrap();
    let (status, value) = answer(&method, &uri, body.as_bytes());
    let response: axum::response::Response = (status, axum::Json(value.clone())).into_response();
    (response.status().as_u16(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_the_public_mock_with_the_real_method() {
        assert_eq!(
            respond("GET", "/v1/items?limit=2", ""),
            (
                200,
                json!({"method": "GET", "path": "/v1/items?limit=2", "mock": true})
            )
        );
        for method in ["POST", "PUT", "PATCH"] {
            assert_eq!(
                respond(method, "/v1/charges", r#"{"amount": 5}"#),
                (
                    200,
                    json!({"method": method, "path": "/v1/charges", "received": {"amount": 5},
                        "mock": true, "result": "Mock response for /v1/charges"})
                )
            );
        }
        assert_eq!(
            respond("POST", "/x", "not json").1["received"],
            json!({"raw": "not json"})
        );
        assert_eq!(respond("POST", "/x", "").1["received"], json!({}));
        assert_eq!(
            respond("DELETE", "/v1/items/3", ""),
            (
                200,
                json!({"method": "DELETE", "path": "/v1/items/3", "mock": true, "deleted": true})
            )
        );
        assert_eq!(respond("OPTIONS", "/", "").0, 405);
    }
}
