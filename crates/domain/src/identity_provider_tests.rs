use super::*;
use serde_json::json;

fn parse(body: Value) -> IdentityProviderInput {
    IdentityProviderInput::parse(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn google() -> Value {
    json!({
        "name": "google-oidc",
        "spec": {
            "host": "App.Example.com",
            "identityProvider": {
                "issuer": "https://accounts.google.com",
                "jwksUri": "https://www.googleapis.com/oauth2/v3/certs",
                "audiences": ["client-123.apps.googleusercontent.com"]
            },
            "userIDClaim": "email",
            "allowedDomains": ["Example.com", "example.com", " acme.co.uk "]
        }
    })
}

#[test]
fn camel_case_spec() {
    let input = parse(google());
    assert_eq!(input.name.as_str(), "google-oidc");
    let spec = &input.spec;
    assert_eq!(spec.host, "app.example.com");
    assert_eq!(spec.identity_provider.issuer, "https://accounts.google.com");
    assert_eq!(
        spec.identity_provider.jwks_uri,
        "https://www.googleapis.com/oauth2/v3/certs"
    );
    assert_eq!(
        spec.identity_provider.audiences,
        ["client-123.apps.googleusercontent.com"]
    );
    assert_eq!(spec.user_id_claim, "email");
    assert_eq!(spec.allowed_domains, ["example.com", "acme.co.uk"]);
    // Stored and returned in camelCase, arrays never null.
    let stored = serde_json::to_value(spec).unwrap();
    assert_eq!(
        stored,
        json!({
            "host": "app.example.com",
            "identityProvider": {
                "issuer": "https://accounts.google.com",
                "jwksUri": "https://www.googleapis.com/oauth2/v3/certs",
                "audiences": ["client-123.apps.googleusercontent.com"]
            },
            "userIDClaim": "email",
            "allowedDomains": ["example.com", "acme.co.uk"]
        })
    );
    let back: IdentityProviderSpec = serde_json::from_value(stored).unwrap();
    assert_eq!(&back, spec);
}

#[test]
fn snake_case_aliases_and_top_level_spec() {
    let snake = parse(json!({"name": "okta", "spec": {"host": "agents.acme.io",
        "identity_provider": {"issuer": "https://acme.okta.com/oauth2/default", "jwks_uri": "https://acme.okta.com/oauth2/default/v1/keys"},
        "user_id_claim": "sub", "allowed_domains": ["acme.io"]}}));
    assert_eq!(snake.spec.user_id_claim, "sub");
    assert_eq!(
        snake.spec.identity_provider.jwks_uri,
        "https://acme.okta.com/oauth2/default/v1/keys"
    );
    assert_eq!(snake.spec.allowed_domains, ["acme.io"]);
    assert!(snake.spec.identity_provider.audiences.is_empty());
    let serialized = serde_json::to_value(&snake.spec).unwrap().to_string();
    assert!(serialized.contains("\"jwksUri\"") && serialized.contains("\"userIDClaim\""));
    assert!(!serialized.contains("jwks_uri") && !serialized.contains("user_id_claim"));

    let flat = parse(json!({"name": "okta", "host": "agents.acme.io",
        "identityProvider": {"issuer": "https://acme.okta.com", "jwksUri": "https://acme.okta.com/keys"}, "userIDClaim": "sub"}));
    assert_eq!(flat.spec.host, "agents.acme.io");
}

#[test]
fn issuer_is_kept_verbatim_and_may_be_a_plain_string() {
    let auth0 = parse(json!({"name": "auth0", "spec": {"host": "h.example.com",
        "identityProvider": {"issuer": "https://acme.auth0.com/", "jwksUri": "https://acme.auth0.com/.well-known/jwks.json"},
        "userIDClaim": "email"}}));
    assert_eq!(
        auth0.spec.identity_provider.issuer,
        "https://acme.auth0.com/"
    );
    let plain = parse(
        json!({"name": "g", "spec": {"host": "h", "identityProvider": {"issuer": "accounts.google.com",
        "jwksUri": "http://127.0.0.1:9999/jwks"}, "userIDClaim": "email"}}),
    );
    assert_eq!(plain.spec.identity_provider.issuer, "accounts.google.com");
}

#[test]
fn user_id_claim_defaults_to_email() {
    let input = parse(json!({"name": "g", "spec": {"host": "h.example.com",
        "identityProvider": {"issuer": "https://accounts.google.com", "jwksUri": "https://www.googleapis.com/oauth2/v3/certs"}}}));
    assert_eq!(input.spec.user_id_claim, "email");
}

#[test]
fn rejects_bad_input_with_clear_messages() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = google();
        edit(&mut body);
        body
    };
    let cases = [
        (json!("x"), "request body must be a JSON object"),
        (with(&|b| b["name"] = json!(null)), "name is required"),
        (with(&|b| b["name"] = json!("Google_OIDC")), "invalid name"),
        (with(&|b| b["spec"] = json!([])), "spec must be an object"),
        (
            with(&|b| b["spec"]["host"] = json!(null)),
            "spec.host is required",
        ),
        (
            with(&|b| b["spec"]["host"] = json!("  ")),
            "spec.host is required",
        ),
        (
            with(&|b| b["spec"]["host"] = json!(443)),
            "spec.host must be a string",
        ),
        (
            with(&|b| b["spec"]["host"] = json!("https://app.example.com")),
            "not a URL",
        ),
        (
            with(&|b| b["spec"]["identityProvider"] = json!(null)),
            "spec.identityProvider is required",
        ),
        (
            with(&|b| b["spec"]["identityProvider"] = json!("google")),
            "spec.identityProvider must be an object",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["issuer"] = json!(null)),
            "spec.identityProvider.issuer is required",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["issuer"] = json!("")),
            "spec.identityProvider.issuer must not be empty",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["issuer"] = json!("https://a b")),
            "must not contain spaces",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["jwksUri"] = json!(null)),
            "spec.identityProvider.jwksUri is required",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["jwksUri"] = json!("")),
            "spec.identityProvider.jwksUri is required",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["jwksUri"] = json!("www.googleapis.com/certs")),
            "not a valid URL",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["jwksUri"] = json!("ftp://x/keys")),
            "http:// or https://",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["audiences"] = json!("aud")),
            "spec.identityProvider.audiences must be a list of strings",
        ),
        (
            with(&|b| b["spec"]["identityProvider"]["audiences"] = json!([""])),
            "audiences must not be empty",
        ),
        (
            with(&|b| b["spec"]["userIDClaim"] = json!("")),
            "spec.userIDClaim must not be empty",
        ),
        (
            with(&|b| b["spec"]["userIDClaim"] = json!(["email"])),
            "spec.userIDClaim must be a string",
        ),
        (
            with(&|b| b["spec"]["allowedDomains"] = json!("example.com")),
            "spec.allowedDomains must be a list of strings",
        ),
        (
            with(&|b| b["spec"]["allowedDomains"] = json!(["@example.com"])),
            "not a domain name",
        ),
        (
            with(&|b| b["spec"]["allowedDomains"] = json!(["localhost"])),
            "not a domain name",
        ),
        (
            with(&|b| b["spec"]["allowedDomains"] = json!(["-x.com"])),
            "not a domain name",
        ),
        (
            with(&|b| b["spec"]["allowedDomains"] = json!(["a..com"])),
            "not a domain name",
        ),
    ];
    for (body, expected) in cases {
        let message = match IdentityProviderInput::parse(body.clone()) {
            Ok(input) => panic!("{body} was accepted: {input:?}"),
            Err(error) => error.0,
        };
        assert!(message.contains(expected), "{body}: {message}");
    }
}
