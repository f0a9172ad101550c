use super::*;
use serde_json::json;

#[test]
fn sdk_flat_shape() {
    let input = ToolInput::parse(json!({
        "name": "stripe-api", "base_url": "https://api.stripe.com", "description": "Stripe",
        "auth_type": "APIKey", "port": 443, "scheme": "HTTPS"
    }))
    .unwrap();
    assert_eq!(input.name.as_str(), "stripe-api");
    assert_eq!(input.spec.description, "Stripe");
    assert_eq!(input.spec.connection.base_url, "https://api.stripe.com");
    assert_eq!(input.spec.connection.port, Some(443));
    assert_eq!(input.spec.connection.authentication.kind, AuthType::ApiKey);
    assert_eq!(
        input.spec.connection.authentication.api_key_config,
        Some(ApiKeyConfig::default())
    );
}

#[test]
fn base_url_wins_over_sdk_default_port_and_scheme() {
    let input = ToolInput::parse(json!({
        "name": "local", "base_url": "http://127.0.0.1:9000", "description": "", "auth_type": "None", "port": 443, "scheme": "HTTPS"
    }))
    .unwrap();
    assert_eq!(input.spec.connection.scheme, Some(Scheme::Http));
    assert_eq!(input.spec.connection.port, Some(9000));
}

#[test]
fn host_only_base_url_gets_scheme_and_port() {
    let input = ToolInput::parse(
        json!({"name": "x", "base_url": "api.example.com", "port": 8443, "scheme": "HTTPS"}),
    )
    .unwrap();
    assert_eq!(
        input.spec.connection.base_url,
        "https://api.example.com:8443"
    );
}

#[test]
fn spec_shape_with_credentials() {
    let input = ToolInput::parse(json!({
        "name": "stripe-api",
        "spec": {
            "description": "Stripe payments",
            "connection": {
                "topology": "External", "baseUrl": "https://api.stripe.com",
                "authentication": {"type": "APIKey", "apiKeyConfig": {"in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}}
            },
            "capabilities": [{"name": "charge", "method": "post", "path": "/v1/charges", "riskTags": ["financial"]}],
            "riskTags": ["financial"],
            "governance": {"accessControl": {"mode": "Restricted"}}
        },
        "credentials": {"api_key": "sk_live_123"}
    }))
    .unwrap();
    assert_eq!(input.spec.capabilities[0].method, "POST");
    let config = input
        .spec
        .connection
        .authentication
        .api_key_config
        .clone()
        .unwrap();
    assert_eq!(
        config.secret_ref,
        Some(SecretRef {
            name: "stripe-api-credentials".into()
        })
    );
    let fields = input.credentials.fields();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].1.expose(), "sk_live_123");
    let stored = serde_json::to_string(&input.spec).unwrap();
    assert!(!stored.contains("sk_live_123"));
}

#[test]
fn cli_docs_top_level_spec_fields() {
    let input = ToolInput::parse(json!({
        "name": "calendar", "description": "Google Calendar",
        "connection": {"baseUrl": "https://www.googleapis.com", "authentication": {"type": "OAuth2",
            "oauth2Config": {"authUrl": "https://accounts.google.com/o/oauth2/auth", "tokenUrl": "https://oauth2.googleapis.com/token", "scopes": ["calendar"]}}},
        "capabilities": [{"name": "list-events", "method": "GET", "path": "/calendar/v3/*"}]
    }))
    .unwrap();
    assert_eq!(input.spec.description, "Google Calendar");
    assert_eq!(input.spec.connection.authentication.kind, AuthType::OAuth2);
}

#[test]
fn rejects_bad_input_with_clear_messages() {
    let cases = [
        (json!([]), "JSON object"),
        (json!({"base_url": "https://x"}), "name is required"),
        (
            json!({"name": "Bad_Name", "base_url": "https://x"}),
            "invalid name",
        ),
        (json!({"name": "x"}), "base_url is required"),
        (
            json!({"name": "x", "base_url": "ftp://x"}),
            "http:// or https://",
        ),
        (
            json!({"name": "x", "base_url": "https://x", "auth_type": "Magic"}),
            "unknown variant",
        ),
        (
            json!({"name": "x", "base_url": "https://x", "port": "eighty"}),
            "invalid",
        ),
        (
            json!({"name": "x", "spec": {"connection": {"baseUrl": "https://x"}, "capabilities": [{"name": "a", "method": "FETCH", "path": "/"}]}}),
            "not an HTTP method",
        ),
        (
            json!({"name": "x", "spec": {"connection": {"baseUrl": "https://x"}, "capabilities": [{"name": "a", "path": "v1"}]}}),
            "must start with '/'",
        ),
        (
            json!({"name": "x", "spec": {"connection": {"baseUrl": "https://x"}, "capabilities": [{"name": "a", "path": "/*/x"}]}}),
            "only at the end",
        ),
        (
            json!({"name": "x", "base_url": "https://x", "credentials": {"api_key": "k"}}),
            "needs authentication type APIKey",
        ),
        (
            json!({"name": "x", "base_url": "https://x", "credentials": {"password": "k"}}),
            "unknown credentials field",
        ),
        (
            json!({"name": "x", "spec": "nope"}),
            "spec must be an object",
        ),
    ];
    for (body, expected) in cases {
        let error = ToolInput::parse(body.clone()).unwrap_err();
        assert!(error.0.contains(expected), "{body}: {error}");
    }
}

#[test]
fn probe_counts_auth_challenges_as_reachable() {
    assert!(Probe::from_status(401, 3).reachable);
    assert!(Probe::from_status(403, 3).reachable);
    assert!(Probe::from_status(404, 3).reachable);
    assert!(!Probe::from_status(503, 3).reachable);
    assert!(!Probe::failed("connection refused".into(), 1).reachable);
    let status = ToolStatus::from_probe(&Probe::from_status(503, 7), Timestamp(0));
    assert_eq!(status.phase, ToolPhase::Unreachable);
    assert_eq!(status.probe_latency_ms, Some(7));
}
