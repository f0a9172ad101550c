//! `/identity-providers`.

use runagents_store::{Document, Kind, MasterKey, SqliteStore, Store, Write};
use runagents_testkit::TestServer;
use serde_json::{Value, json};

use crate::server;

/// What the SDK's and CLI's `apply` send (`_normalize_identity_provider_apply_request`).
fn google() -> Value {
    json!({
        "name": "google-oidc",
        "spec": {
            "host": "agents.example.com",
            "identityProvider": {
                "issuer": "https://accounts.google.com",
                "jwksUri": "https://www.googleapis.com/oauth2/v3/certs",
                "audiences": ["client-123.apps.googleusercontent.com"]
            },
            "userIDClaim": "email",
            "allowedDomains": ["example.com"]
        }
    })
}

#[tokio::test]
async fn apply_is_an_upsert_and_get_list_delete_work() {
    let server = server().await;
    let api = server.client();
    assert_eq!(api.get("/identity-providers").await, (200, json!([])));
    let (status, body) = api.get("/identity-providers/google-oidc").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "identity provider \"google-oidc\" not found")
    );

    let (status, created) = api.post("/identity-providers", google()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "google-oidc");
    assert_eq!(created["namespace"], "default");
    assert_eq!(created["spec"], google()["spec"]);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    // apply again with the snake_case names the SDK also reads: an update, answered in camelCase.
    let (status, updated) = api
        .post(
            "/identity-providers",
            json!({"name": "google-oidc", "spec": {"host": "agents.example.com",
                "identity_provider": {"issuer": "https://accounts.google.com",
                    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs"},
                "user_id_claim": "sub", "allowed_domains": ["Example.COM", "acme.io"]}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["spec"],
        json!({"host": "agents.example.com",
            "identityProvider": {"issuer": "https://accounts.google.com",
                "jwksUri": "https://www.googleapis.com/oauth2/v3/certs", "audiences": []},
            "userIDClaim": "sub", "allowedDomains": ["example.com", "acme.io"]})
    );
    assert_eq!(updated["created_at"], created["created_at"]);

    let (status, got) = api.get("/identity-providers/google-oidc").await;
    assert_eq!(status, 200);
    assert_eq!(got["spec"], updated["spec"]);
    let (_, list) = api.get("/identity-providers").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["spec"]["userIDClaim"], "sub");

    let (status, body) = api.delete("/identity-providers/google-oidc").await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    assert_eq!(api.get("/identity-providers/google-oidc").await.0, 404);
    let (status, body) = api.delete("/identity-providers/google-oidc").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "identity provider \"google-oidc\" not found")
    );
    assert_eq!(api.get("/identity-providers").await.1, json!([]));
}

#[tokio::test]
async fn bad_input_is_rejected_and_nothing_is_written() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api
        .send_raw("POST", "/identity-providers", "{\"name\": ")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );
    let with = |path: &[&str], value: Value| {
        let mut body = google();
        let mut at = &mut body;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        at[path[path.len() - 1]] = value;
        body
    };
    let cases = [
        (with(&["name"], json!("Google OIDC")), "invalid name"),
        (with(&["name"], json!(7)), "name must be a string"),
        (with(&["spec"], json!("google")), "spec must be an object"),
        (with(&["spec", "host"], json!("")), "spec.host is required"),
        (
            with(&["spec", "host"], json!("https://agents.example.com/")),
            "not a URL",
        ),
        (
            with(&["spec", "identityProvider"], json!(null)),
            "spec.identityProvider is required",
        ),
        (
            with(&["spec", "identityProvider", "issuer"], json!("  ")),
            "spec.identityProvider.issuer must not be empty",
        ),
        (
            with(&["spec", "identityProvider", "jwksUri"], json!(null)),
            "spec.identityProvider.jwksUri is required",
        ),
        (
            with(&["spec", "identityProvider", "jwksUri"], json!("not a url")),
            "spec.identityProvider.jwksUri \"not a url\" is not a valid URL",
        ),
        (
            with(&["spec", "identityProvider", "audiences"], json!("aud")),
            "spec.identityProvider.audiences must be a list of strings",
        ),
        (
            with(&["spec", "userIDClaim"], json!("")),
            "spec.userIDClaim must not be empty",
        ),
        (
            with(
                &["spec", "allowedDomains"],
                json!(["example.com", "not a domain"]),
            ),
            "spec.allowedDomains entry \"not a domain\" is not a domain name",
        ),
        (
            with(&["spec", "allowedDomains"], json!({"example.com": true})),
            "spec.allowedDomains must be a list of strings",
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = api.post("/identity-providers", body.clone()).await;
        assert_eq!(status, 400, "{body}: {response}");
        let message = response["error"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(api.get("/identity-providers").await.1, json!([]));

    // A rejected update leaves the stored provider untouched.
    assert_eq!(api.post("/identity-providers", google()).await.0, 201);
    let (status, _) = api
        .post(
            "/identity-providers",
            with(&["spec", "identityProvider", "jwksUri"], json!("ftp://x")),
        )
        .await;
    assert_eq!(status, 400);
    let (_, got) = api.get("/identity-providers/google-oidc").await;
    assert_eq!(got["spec"], google()["spec"]);
}

/// Writes an agent document the way the agent use cases store it, straight into the server's
/// SQLite database (this build has no agent endpoints to create one through).
async fn store_agent(server: &TestServer, name: &str, identity_provider: &str) {
    let master = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    let master = MasterKey::from_base64(master.trim()).unwrap();
    let store = SqliteStore::open(&server.data_dir.join("runagents.db"), &master)
        .await
        .unwrap();
    let now = runagents_domain::Timestamp::now();
    let document = Document {
        key: name.to_owned(),
        body: json!({"spec": {"identityProvider": identity_provider}}),
        version: 0,
        created_at: now,
        updated_at: now,
    };
    store
        .put_document("default", Kind::Agent, &document, &[], Write::Upsert)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_provider_in_use_by_an_agent_cannot_be_deleted() {
    let server = server().await;
    let api = server.client();
    assert_eq!(api.post("/identity-providers", google()).await.0, 201);
    let mut okta = google();
    okta["name"] = json!("okta");
    assert_eq!(api.post("/identity-providers", okta).await.0, 201);
    store_agent(&server, "support-bot", "google-oidc").await;
    store_agent(&server, "billing-bot", "google-oidc").await;
    store_agent(&server, "hr-bot", "okta").await;

    let (status, body) = api.delete("/identity-providers/google-oidc").await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(
            "identity provider \"google-oidc\" is used by agent(s) billing-bot, support-bot"
        ),
        "{message}"
    );
    assert_eq!(api.get("/identity-providers/google-oidc").await.0, 200);

    // Once no agent points at it, it goes.
    store_agent(&server, "support-bot", "okta").await;
    store_agent(&server, "billing-bot", "").await;
    let (status, body) = api.delete("/identity-providers/google-oidc").await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    assert_eq!(api.delete("/identity-providers/okta").await.0, 409);
}

#[tokio::test]
async fn workspaces_are_isolated_and_data_survives_a_restart() {
    let server = server().await;
    let admin = server.client();
    let (status, other) = admin.post("/workspaces", json!({"name": "other"})).await;
    assert_eq!(status, 201, "{other}");
    let other_key = other["token"].as_str().unwrap().to_owned();
    assert_eq!(admin.post("/identity-providers", google()).await.0, 201);

    let other = admin.with_key(&other_key);
    assert_eq!(other.get("/identity-providers").await, (200, json!([])));
    assert_eq!(other.get("/identity-providers/google-oidc").await.0, 404);
    assert_eq!(other.delete("/identity-providers/google-oidc").await.0, 404);
    // The same name in the other workspace is created, not updated.
    let (status, theirs) = other.post("/identity-providers", google()).await;
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(theirs["namespace"], "other");

    let server = server.restart().await;
    let admin = server.client();
    let (status, got) = admin.get("/identity-providers/google-oidc").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["spec"], google()["spec"]);
    let other = admin.with_key(&other_key);
    assert_eq!(
        other
            .get("/identity-providers")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(admin.post("/identity-providers", google()).await.0, 200);
}
