//! `/model-providers`.

use serde_json::{Value, json};

use crate::server;

const OPENAI_KEY: &str = "sk-proj-model-provider-secret-1234";

/// Every provider in a list or single response has the shape the SDK and CLI read without
/// crashing: an object status with string phase and message, string endpoint, list of models.
fn assert_sdk_shape(provider: &Value) {
    let status = &provider["status"];
    assert!(status.is_object(), "status must be an object: {provider}");
    assert!(status["phase"].is_string(), "{provider}");
    assert!(status["message"].is_string(), "{provider}");
    assert!(provider["endpoint"].is_string(), "{provider}");
    assert!(provider["spec"]["models"].is_array(), "{provider}");
    assert!(provider["models"].is_array(), "{provider}");
    assert!(provider["credentials_configured"].is_array(), "{provider}");
    assert!(provider["created_at"].is_string(), "{provider}");
    assert!(
        !provider.as_object().unwrap().values().any(Value::is_null),
        "no top-level null: {provider}"
    );
}

#[tokio::test]
async fn upsert_get_list_delete() {
    let server = server().await;
    let api = server.client();
    assert_eq!(api.get("/model-providers").await, (200, json!([])));

    // Created without a key: registered, but not usable yet.
    let (status, created) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "spec": {"provider": "openai", "models": ["gpt-4o-mini"],
                "auth": {"type": "APIKey"}, "rateLimit": {"requestsPerMinute": 60}}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_sdk_shape(&created);
    assert_eq!(created["name"], "openai");
    assert_eq!(created["namespace"], "default");
    assert_eq!(created["provider"], "openai");
    assert_eq!(created["models"], json!(["gpt-4o-mini"]));
    assert_eq!(created["endpoint"], "https://api.openai.com/v1");
    assert_eq!(created["spec"]["endpoint"], "https://api.openai.com/v1");
    assert_eq!(created["spec"]["rateLimit"]["requestsPerMinute"], 60);
    assert_eq!(
        created["spec"]["auth"]["apiKeyConfig"]["secretRef"]["name"],
        "openai-credentials"
    );
    assert_eq!(
        created["status"],
        json!({"phase": "Pending", "message": "API key not set: send credentials.api_key"})
    );
    assert_eq!(created["credentials_configured"], json!([]));

    // The same name again updates in place; the key makes it usable.
    let (status, updated) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "spec": {"provider": "openai", "models": ["gpt-4o-mini", "gpt-4o"]},
                "credentials": {"api_key": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_sdk_shape(&updated);
    assert_eq!(updated["status"]["phase"], "Available", "{updated}");
    assert_eq!(updated["credentials_configured"], json!(["api_key"]));
    assert_eq!(updated["models"], json!(["gpt-4o-mini", "gpt-4o"]));
    assert_eq!(updated["created_at"], created["created_at"]);

    // The flat shape updates too, and a stored key is kept when none is sent.
    let (status, flat) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "endpoint": "https://gateway.example.com/v1",
                "models": ["gpt-4.1"], "auth": {"type": "APIKey"}}),
        )
        .await;
    assert_eq!(status, 200, "{flat}");
    assert_eq!(flat["endpoint"], "https://gateway.example.com/v1");
    assert_eq!(flat["models"], json!(["gpt-4.1"]));
    assert_eq!(flat["status"]["phase"], "Available", "{flat}");
    assert_eq!(flat["credentials_configured"], json!(["api_key"]));

    let (status, got) = api.get("/model-providers/openai").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["spec"], flat["spec"]);
    assert_eq!(got["status"], flat["status"]);
    let (status, list) = api.get("/model-providers").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_sdk_shape(&list[0]);
    assert_eq!(list[0]["status"]["phase"], "Available");

    for body in [&created, &updated, &flat, &got, &list] {
        assert!(!body.to_string().contains(OPENAI_KEY), "{body}");
    }
    assert!(!server.output().contains(OPENAI_KEY));

    let (status, body) = api.delete("/model-providers/openai").await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    let (status, body) = api.get("/model-providers/openai").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "model provider \"openai\" not found")
    );
    let (status, body) = api.delete("/model-providers/openai").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "model provider \"openai\" not found")
    );
    // Deleting took the key with it: created again, it is pending again.
    let (status, again) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "models": ["gpt-4o"]}),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["status"]["phase"], "Pending");
    assert_eq!(again["credentials_configured"], json!([]));
}

#[tokio::test]
async fn phase_follows_provider_and_credentials() {
    let server = server().await;
    let api = server.client();

    let (status, playground) = api
        .post(
            "/model-providers",
            json!({"name": "playground", "provider": "playground", "models": ["playground-echo"]}),
        )
        .await;
    assert_eq!(status, 201, "{playground}");
    assert_sdk_shape(&playground);
    assert_eq!(playground["status"]["phase"], "Available");
    assert_eq!(playground["endpoint"], "", "{playground}");
    assert!(playground["spec"].get("endpoint").is_none(), "{playground}");
    assert_eq!(playground["spec"]["auth"], json!({"type": "None"}));

    let (_, ollama) = api
        .post(
            "/model-providers",
            json!({"name": "local", "spec": {"provider": "ollama", "models": ["llama3.1:8b"]}}),
        )
        .await;
    assert_eq!(ollama["status"]["phase"], "Available", "{ollama}");
    assert_eq!(ollama["endpoint"], "http://127.0.0.1:11434");

    let (status, claude) = api
        .post(
            "/model-providers",
            json!({"name": "claude", "spec": {"provider": "anthropic", "models": ["claude-3-5-haiku-latest"]},
                "credentials": {"api_key": "sk-ant-secret-value"}}),
        )
        .await;
    assert_eq!(status, 201, "{claude}");
    assert_eq!(claude["status"]["phase"], "Available", "{claude}");
    assert_eq!(
        claude["spec"]["auth"]["apiKeyConfig"]["name"], "x-api-key",
        "{claude}"
    );

    // Bedrock needs both AWS keys; the message says which one is missing.
    let bedrock = json!({"name": "bedrock", "spec": {"provider": "bedrock",
        "models": ["anthropic.claude-3-haiku-20240307-v1:0"],
        "auth": {"type": "AWSSignature", "awsConfig": {"region": "us-east-1"}}}});
    let (status, pending) = api.post("/model-providers", bedrock.clone()).await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["status"]["phase"], "Pending");
    assert_eq!(
        pending["endpoint"],
        "https://bedrock-runtime.us-east-1.amazonaws.com"
    );
    let mut half = bedrock.clone();
    half["credentials"] = json!({"aws_access_key_id": "AKIAEXAMPLEKEYID"});
    let (status, half) = api.post("/model-providers", half).await;
    assert_eq!(status, 200, "{half}");
    assert_eq!(
        half["status"],
        json!({"phase": "Pending", "message": "AWS credentials not set: send credentials.aws_secret_access_key"})
    );
    let mut full = bedrock.clone();
    full["credentials"] = json!({"aws_secret_access_key": "aws-secret-access-key-value"});
    let (status, full) = api.post("/model-providers", full).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["status"]["phase"], "Available", "{full}");
    assert_eq!(
        full["credentials_configured"],
        json!(["aws_access_key_id", "aws_secret_access_key"])
    );

    let (_, list) = api.get("/model-providers").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    for provider in list {
        assert_sdk_shape(provider);
        assert_eq!(provider["status"]["phase"], "Available", "{provider}");
    }
    let printed = format!("{list:?}{}", server.output());
    for secret in [
        "sk-ant-secret-value",
        "AKIAEXAMPLEKEYID",
        "aws-secret-access-key-value",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn bad_input_is_rejected_and_nothing_is_written() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api
        .send_raw("POST", "/model-providers", "{\"name\": \"x\",")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    let (status, body) = api.send_raw("POST", "/model-providers", "[1]").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "request body must be a JSON object")
    );
    let (status, body) = api.send_raw("POST", "/model-providers", "").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "name is required")
    );
    let cases = [
        (
            json!({"name": "Open AI", "provider": "openai", "models": ["m"]}),
            "invalid name",
        ),
        (
            json!({"name": "x", "provider": "cohere", "models": ["m"]}),
            "unknown provider \"cohere\": use one of openai, anthropic, bedrock, ollama, playground",
        ),
        (
            json!({"name": "x", "provider": 42, "models": ["m"]}),
            "provider must be a string",
        ),
        (
            json!({"name": "x", "spec": {"models": ["m"]}}),
            "provider is required",
        ),
        (
            json!({"name": "x", "spec": {"provider": "openai", "models": []}}),
            "models is required: a non-empty list of model names",
        ),
        (
            json!({"name": "x", "spec": {"provider": "openai", "models": "gpt-4o"}}),
            "models must be a list of strings",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "endpoint": "file:///etc/passwd"}),
            "must be an http:// or https:// URL",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "Basic"}}),
            "unknown auth.type \"Basic\"",
        ),
        (
            json!({"name": "x", "provider": "bedrock", "models": ["m"]}),
            "provider bedrock needs auth.awsConfig.region",
        ),
        (
            json!({"name": "x", "provider": "playground", "models": ["m"], "credentials": {"api_key": "k"}}),
            "takes no credentials",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "rateLimit": {"requestsPerMinute": 0}}),
            "rateLimit.requestsPerMinute must be a positive integer",
        ),
        (json!({"name": "x", "spec": []}), "spec must be an object"),
    ];
    for (body, expected) in cases {
        let (status, response) = api.post("/model-providers", body.clone()).await;
        assert_eq!(status, 400, "{body}: {response}");
        let message = response["error"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(api.get("/model-providers").await, (200, json!([])));

    // A rejected update leaves the provider as it was, and its credentials unstored.
    api.post(
        "/model-providers",
        json!({"name": "openai", "provider": "openai", "models": ["gpt-4o"]}),
    )
    .await;
    let (status, _) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "models": [],
                "credentials": {"api_key": "sk-should-not-be-stored"}}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, got) = api.get("/model-providers/openai").await;
    assert_eq!(got["models"], json!(["gpt-4o"]));
    assert_eq!(got["credentials_configured"], json!([]));
    assert_eq!(got["status"]["phase"], "Pending");
    assert!(!server.output().contains("sk-should-not-be-stored"));
}

#[tokio::test]
async fn workspaces_do_not_see_each_other() {
    let server = server().await;
    let admin = server.client();
    let (status, other) = admin.post("/workspaces", json!({"name": "other"})).await;
    assert_eq!(status, 201, "{other}");
    let other = admin.with_key(other["token"].as_str().unwrap());

    let (status, _) = admin
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "models": ["gpt-4o"],
                "credentials": {"api_key": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(other.get("/model-providers").await, (200, json!([])));
    assert_eq!(other.get("/model-providers/openai").await.0, 404);
    assert_eq!(other.delete("/model-providers/openai").await.0, 404);
    assert_eq!(
        other
            .get("/api/v1/workspaces/default/model-providers/openai")
            .await
            .0,
        404
    );

    // The same name in the other workspace is a different provider, without the first one's key.
    let (status, theirs) = other
        .post(
            "/api/v1/workspaces/other/model-providers",
            json!({"name": "openai", "provider": "openai", "models": ["gpt-4o-mini"]}),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(theirs["namespace"], "other");
    assert_eq!(theirs["status"]["phase"], "Pending");
    assert_eq!(theirs["credentials_configured"], json!([]));
    let (_, ours) = admin.get("/model-providers/openai").await;
    assert_eq!(ours["models"], json!(["gpt-4o"]));
    assert_eq!(ours["status"]["phase"], "Available");
}

#[tokio::test]
async fn providers_and_their_keys_survive_a_restart() {
    let server = server().await;
    let api = server.client();
    let (status, _) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "models": ["gpt-4o"],
                "credentials": {"api_key": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201);
    let server = server.restart().await;
    let api = server.client();
    let (status, got) = api.get("/model-providers/openai").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"]["phase"], "Available", "{got}");
    assert_eq!(got["credentials_configured"], json!(["api_key"]));
    assert_eq!(got["models"], json!(["gpt-4o"]));
    // An update after the restart is an update, not a create.
    let (status, _) = api
        .post(
            "/model-providers",
            json!({"name": "openai", "provider": "openai", "models": ["gpt-4o"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!server.output().contains(OPENAI_KEY));
}
