//! `/tools`.

use serde_json::json;

use crate::server;

#[tokio::test]
async fn upsert_accepts_sdk_flat_shape_and_spec_shape() {
    let server = server().await;
    let api = server.client();
    let flat = json!({"name": "stripe-api", "base_url": "https://api.stripe.com", "description": "Stripe", "auth_type": "APIKey", "port": 443, "scheme": "HTTPS"});
    let (status, tool) = api.post("/tools", flat.clone()).await;
    assert_eq!(status, 201, "{tool}");
    assert_eq!(tool["name"], "stripe-api");
    assert_eq!(
        tool["spec"]["connection"]["baseUrl"],
        "https://api.stripe.com"
    );
    assert_eq!(
        tool["spec"]["connection"]["authentication"]["type"],
        "APIKey"
    );
    assert_eq!(tool["status"]["phase"], "Pending");
    assert_eq!(tool["base_url"], "https://api.stripe.com");

    // The same name again updates in place.
    let (status, tool) = api.post("/tools", json!({"name": "stripe-api", "spec": {"description": "Stripe v2",
        "connection": {"baseUrl": "https://api.stripe.com", "authentication": {"type": "APIKey", "apiKeyConfig": {"in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}}},
        "capabilities": [{"name": "charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]}]},
        "credentials": {"api_key": "sk_live_secret_value"}})).await;
    assert_eq!(status, 200, "{tool}");
    assert_eq!(tool["spec"]["description"], "Stripe v2");
    assert_eq!(
        tool["spec"]["connection"]["authentication"]["apiKeyConfig"]["secretRef"]["name"],
        "stripe-api-credentials"
    );
    assert_eq!(tool["credentials_configured"], json!(["api_key"]));
    assert!(!tool.to_string().contains("sk_live_secret_value"));

    let (status, list) = api.get("/tools").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("sk_live_secret_value"));
    let (status, got) = api.get("/tools/stripe-api").await;
    assert_eq!(status, 200);
    assert_eq!(got["spec"]["capabilities"][0]["name"], "charge");
    assert!(!server.output().contains("sk_live_secret_value"));
}

#[tokio::test]
async fn errors_have_documented_statuses_and_messages() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api.get("/tools/nope").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "tool \"nope\" not found")
    );
    let (status, body) = api.delete("/tools/nope").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api.send_raw("POST", "/tools", "{\"name\": ").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": "Not A Label", "base_url": "https://x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("invalid name"),
        "{body}"
    );
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": "x", "base_url": "https://x", "auth_type": "Kerberos"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .post("/tools", json!({"name": "x", "base_url": 42}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = oversized_post(&server, "/api/v1/tools").await;
    assert_eq!(status, 400);
    assert!(body.contains("larger than the 8 MiB limit"), "{body}");
    let (status, body) = api.send("PATCH", "/tools", None).await;
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].is_string());
    // Nothing half-written by any of the above.
    let (_, list) = api.get("/tools").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn probe_and_test_report_reachability() {
    let server = server().await;
    let api = server.client();
    // The platform's own health endpoint is a reachable target; a closed port is not.
    let (status, probe) = api
        .post(
            "/tools/probe",
            json!({"url": format!("{}/healthz", server.url)}),
        )
        .await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(
        (probe["reachable"].as_bool(), probe["status_code"].as_u64()),
        (Some(true), Some(200))
    );
    assert!(probe["latency_ms"].is_u64());
    // 401 counts as reachable: the operator API without a key.
    let (_, probe) = api
        .post(
            "/tools/probe",
            json!({"url": format!("{}/api/v1/tools", server.url)}),
        )
        .await;
    assert_eq!(
        (probe["reachable"].as_bool(), probe["status_code"].as_u64()),
        (Some(true), Some(401))
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, probe) = api
        .post("/tools/probe", json!({"url": format!("http://{closed}/")}))
        .await;
    assert_eq!(probe["reachable"], false, "{probe}");
    let (status, _) = api.post("/tools/probe", json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post("/tools/probe", json!({"url": "file:///etc/passwd"}))
        .await;
    assert_eq!(status, 400);

    api.post("/tools", json!({"name": "self", "base_url": server.url}))
        .await;
    let (status, probe) = api.send("POST", "/tools/self/test", None).await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(probe["reachable"], true);
    let (_, tool) = api.get("/tools/self").await;
    assert_eq!(tool["status"]["phase"], "Available", "{tool}");
    assert!(tool["status"]["last_probe_time"].is_string());
    let (status, _) = api.send("POST", "/tools/missing/test", None).await;
    assert_eq!(status, 404);
}

/// Declares a 9 MiB body and sends only the headers: the server must answer without reading it.
async fn oversized_post(server: &runagents_testkit::TestServer, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nX-RunAgents-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        server.admin_key,
        9 * 1024 * 1024
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let read = stream.read(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response[..read]).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text)
}

#[tokio::test]
async fn cached_list_follows_every_write() {
    let server = server().await;
    let api = server.client();
    api.post(
        "/tools",
        json!({"name": "a", "base_url": "https://a.example", "description": "one"}),
    )
    .await;
    assert_eq!(api.get("/tools").await.1[0]["description"], "one");
    assert_eq!(
        api.get("/tools").await.1[0]["description"],
        "one",
        "served again"
    );
    api.post(
        "/tools",
        json!({"name": "a", "base_url": "https://a.example", "description": "two"}),
    )
    .await;
    assert_eq!(
        api.get("/tools").await.1[0]["description"],
        "two",
        "an update is seen at once"
    );
    api.post(
        "/tools",
        json!({"name": "b", "base_url": "https://b.example"}),
    )
    .await;
    assert_eq!(api.get("/tools").await.1.as_array().unwrap().len(), 2);
    api.delete("/tools/a").await;
    let (_, list) = api.get("/tools").await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["b"]
    );
    // Another workspace has its own list.
    let (_, team) = api.post("/workspaces", json!({"name": "team"})).await;
    assert_eq!(
        api.with_key(team["token"].as_str().unwrap())
            .get("/tools")
            .await
            .1,
        json!([])
    );
}
