//! `/starter-kit` and `/context/export`.

use serde_json::json;

use crate::server;

#[tokio::test]
async fn starter_kit_is_idempotent_and_its_echo_tool_answers() {
    let server = server().await;
    let api = server.client();
    let (status, first) = api.send("POST", "/starter-kit", None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["tool_created"], "echo-tool");
    assert_eq!(first["model_provider_created"], "playground-llm");
    assert_eq!(first["tools_created"], json!(["echo-tool"]));
    let (_, second) = api.send("POST", "/starter-kit", None).await;
    assert_eq!(second["tools_created"], json!([]));
    assert_eq!(second["model_providers_created"], json!([]));
    assert_eq!(api.get("/tools").await.1.as_array().unwrap().len(), 1);

    let (_, provider) = api.get("/model-providers/playground-llm").await;
    assert_eq!(provider["status"]["phase"], "Available", "{provider}");
    // The echo tool is served by the platform at its registered address.
    let (_, tool) = api.get("/tools/echo-tool").await;
    let url = format!(
        "{}{}",
        tool["spec"]["connection"]["baseUrl"].as_str().unwrap(),
        tool["spec"]["capabilities"][0]["path"].as_str().unwrap()
    );
    let reply: serde_json::Value = reqwest::Client::new()
        .post(url)
        .header("X-End-User-ID", "alice@example.com")
        .json(&json!({"message": "ping"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (reply["reply"].as_str(), reply["end_user_id"].as_str()),
        (Some("ping"), Some("alice@example.com"))
    );

    // An operator's change to a seeded resource survives re-seeding.
    api.post(
        "/tools",
        json!({"name": "echo-tool", "base_url": "https://echo.example.com"}),
    )
    .await;
    api.send("POST", "/starter-kit", None).await;
    assert_eq!(
        api.get("/tools/echo-tool").await.1["base_url"],
        "https://echo.example.com"
    );
}

#[tokio::test]
async fn context_export_lists_everything_and_no_secret() {
    let server = server().await;
    let api = server.client();
    api.send("POST", "/starter-kit", None).await;
    api.post("/tools", json!({"name": "stripe-api", "base_url": "https://api.stripe.com", "auth_type": "APIKey", "credentials": {"api_key": "sk_export_secret"}})).await;
    api.post(
        "/policies",
        json!({"name": "p", "spec": {"policies": [{"permission": "allow"}]}}),
    )
    .await;
    let (status, _) = api
        .post(
            "/approval-connectors",
            json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789",
            "headers": {"X-Slack-Bot-Token": "xoxb-export-secret"}}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, exported) = api.get("/context/export").await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["namespace"], "default");
    assert!(exported["generated_at"].is_string());
    let resources = &exported["resources"];
    for key in [
        "agents",
        "tools",
        "model_providers",
        "policies",
        "identity_providers",
        "approval_connectors",
        "approvals",
        "deploy_drafts",
    ] {
        assert!(resources[key].is_array(), "{key}");
        assert_eq!(
            exported["meta"][format!("{key}_count")],
            resources[key].as_array().unwrap().len(),
            "{key}"
        );
    }
    assert_eq!(resources["tools"].as_array().unwrap().len(), 2);
    let policies: Vec<&str> = resources["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|policy| policy["name"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["echo-tool-allow", "p"]);
    assert_eq!(exported["errors"], json!({}));
    assert_eq!(resources["approval_connectors"][0]["name"], "secops-slack");
    assert!(!exported.to_string().contains("sk_export_secret"));
    assert!(!exported.to_string().contains("xoxb-export-secret"));
}
