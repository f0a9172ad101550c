//! The one mapping from errors to HTTP: `{"error": "..."}` with the documented status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runagents_engine::Error;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

impl From<runagents_domain::Invalid> for ApiError {
    fn from(invalid: runagents_domain::Invalid) -> Self {
        ApiError(Error::from(invalid))
    }
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError(Error::Invalid(message.into()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Upstream(_) | Error::UpstreamStatus { .. } => StatusCode::BAD_GATEWAY,
            Error::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            Error::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self.0 {
            Error::Store(_) => {
                tracing::error!(error = %self.0, "request failed");
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if let Error::BudgetExceeded {
            retry_after_secs, ..
        } = &self.0
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

pub(crate) async fn no_route() -> Response {
    no_such_endpoint()
}

pub(crate) fn no_such_endpoint() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such endpoint"})),
    )
        .into_response()
}

pub(crate) async fn wrong_method() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method not allowed for this endpoint"})),
    )
        .into_response()
}
