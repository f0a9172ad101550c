//! Request bodies: read within the limit, parse as JSON, report problems as 400 `{"error"}`.
//! An empty body and the literal `null` both mean `{}` (clients send either for "no options").
//! `DocumentBody` also reads YAML, for resources people write by hand (policies).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::Value;

use crate::{ApiError, BODY_LIMIT};

/// A JSON request body as a `serde_json::Value` (always an object or the client's error).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        read(request)
            .await
            .and_then(|bytes| parse(&bytes))
            .map(JsonBody)
    }
}

/// A resource document: JSON, or YAML when sent as `application/yaml` (also `text/yaml`,
/// `application/x-yaml`), converted to the same JSON value.
pub struct DocumentBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for DocumentBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let yaml = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|kind| {
                matches!(
                    kind.trim().to_ascii_lowercase().as_str(),
                    "application/yaml" | "application/x-yaml" | "text/yaml"
                )
            });
        let bytes = read(request).await?;
        if !yaml {
            return parse(&bytes).map(DocumentBody);
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::invalid("a YAML body must be UTF-8 text"))?;
        match runagents_domain::document::parse(text).map_err(ApiError::invalid)? {
            value @ Value::Object(_) => Ok(DocumentBody(value)),
            _ => Err(ApiError::invalid(
                "the document must be a mapping (an object)",
            )),
        }
    }
}

/// The body's bytes, within `BODY_LIMIT`.
async fn read(request: Request) -> Result<Bytes, ApiError> {
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
    axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| too_large())
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
