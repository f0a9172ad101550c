//! Request bodies: read within the limit, parse as JSON, report problems as 400 `{"error"}`.
//! An empty body and the literal `null` both mean `{}` (clients send either for "no options").

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::Value;

use crate::{ApiError, BODY_LIMIT};

/// A JSON request body as a `serde_json::Value` (always an object or the client's error).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let too_large = || {
            ApiError::invalid(format!(
                "request body is larger than the {} MiB limit",
                BODY_LIMIT / 1024 / 1024
            ))
        };
        // Refuse a declared oversize body before reading any of it.
        let declared = request
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > BODY_LIMIT) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| too_large())?;
        parse(&bytes).map(JsonBody)
    }
}

fn parse(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Null) => Ok(Value::Object(Default::default())),
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid("request body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(format!("malformed JSON: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_null_mean_no_options() {
        assert_eq!(
            parse(&Bytes::from_static(b"")).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            parse(&Bytes::from_static(b" null ")).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert!(parse(&Bytes::from_static(b"[1]")).is_err());
        assert!(parse(&Bytes::from_static(b"{\"a\":")).is_err());
        assert!(parse(&Bytes::from_static(b"\"x\"")).is_err());
    }
}
