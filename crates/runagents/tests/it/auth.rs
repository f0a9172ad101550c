//! API keys, workspaces, and what a key may reach.

use runagents_testkit::{Backend, TestServer};
use serde_json::json;

use crate::server;

#[tokio::test]
async fn missing_invalid_and_revoked_keys_get_401() {
    let server = server().await;
    assert!(server.admin_key.starts_with("ra_ws_"));
    let anonymous = server.client().with_key("");
    let (status, body) = anonymous.get("/tools").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (401, "Missing or invalid API key")
    );
    let (status, _) = server
        .client()
        .with_key("ra_ws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .get("/tools")
        .await;
    assert_eq!(status, 401);
    // Both headers work.
    let http = reqwest::Client::new();
    let bearer = http
        .get(server.api("/tools"))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // Health needs no key.
    let (status, health) = anonymous.get("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn key_lifecycle_create_list_rotate_revoke() {
    let server = server().await;
    let api = server.client();
    let (status, created) = api
        .post("/auth/api-keys", json!({"name": "ci", "expiresInDays": 30}))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ra_ws_"));
    assert_eq!(created["header"], "X-RunAgents-API-Key");
    assert_eq!(
        created["key"]["last4"].as_str().unwrap(),
        &token[token.len() - 4..]
    );
    assert!(created["key"]["expiresAt"].is_string());
    let id = created["key"]["id"].as_str().unwrap().to_owned();

    let ci = api.with_key(&token);
    assert_eq!(ci.get("/tools").await.0, 200);
    let (_, keys) = api.get("/auth/api-keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        !keys.to_string().contains(&token),
        "a listed key never carries its token"
    );

    let (status, rotated) = api
        .post(&format!("/auth/api-keys/{id}/rotate"), json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    assert_eq!(
        rotated["key"]["expiresAt"], created["key"]["expiresAt"],
        "rotation keeps the expiry window"
    );
    assert_eq!(
        ci.get("/tools").await.0,
        401,
        "the old token stops working at once"
    );
    let rotated_client = api.with_key(&new_token);
    assert_eq!(rotated_client.get("/tools").await.0, 200);

    let (status, body) = api.delete(&format!("/auth/api-keys/{id}")).await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    assert_eq!(rotated_client.get("/tools").await.0, 401);
    assert_eq!(api.delete(&format!("/auth/api-keys/{id}")).await.0, 404);
    assert_eq!(
        api.post("/auth/api-keys/key_nope/rotate", json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        api.post("/auth/api-keys", json!({"name": "x", "expiresInDays": 0}))
            .await
            .0,
        400
    );
    assert_eq!(api.post("/auth/api-keys", json!({})).await.0, 400);
}

#[tokio::test]
async fn a_key_of_workspace_a_gets_404_for_workspace_b() {
    let server = server().await;
    let admin = server.client();
    let (status, team) = admin.post("/workspaces", json!({"name": "revops"})).await;
    assert_eq!(status, 201, "{team}");
    let team_key = team["token"].as_str().unwrap().to_owned();
    let revops = admin.with_key(&team_key);

    // The team key works under its own workspace path and its default path, and sees only its data.
    let (status, _) = revops
        .post(
            "/api/v1/workspaces/revops/tools",
            json!({"name": "crm", "base_url": "https://crm.example.com"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(revops.get("/tools").await.1.as_array().unwrap().len(), 1);
    assert_eq!(admin.get("/tools").await.1, json!([]));
    assert_eq!(admin.get("/api/v1/workspaces/default/tools").await.0, 200);

    for path in [
        "/api/v1/workspaces/revops/tools",
        "/api/v1/workspaces/revops/tools/crm",
        "/api/v1/workspaces/revops/auth/api-keys",
    ] {
        let (status, body) = admin.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = revops.get("/api/v1/workspaces/default/tools").await;
    assert_eq!(status, 404);
    let (status, _) = revops.delete("/api/v1/workspaces/default/tools/crm").await;
    assert_eq!(status, 404);
    // Only admins create workspaces; names are validated; names are unique.
    let (status, _) = revops
        .with_key(&team_key)
        .post("/workspaces", json!({"name": "x"}))
        .await;
    assert_eq!(status, 201, "the first key of a workspace is its admin");
    let (status, _) = admin.post("/workspaces", json!({"name": "revops"})).await;
    assert_eq!(status, 409);
    let (status, _) = admin.post("/workspaces", json!({"name": "Bad Name"})).await;
    assert_eq!(status, 400);
    let (status, created) = revops
        .post("/auth/api-keys", json!({"name": "member"}))
        .await;
    assert_eq!(status, 201);
    let member = admin.with_key(created["token"].as_str().unwrap());
    assert_eq!(
        member.post("/workspaces", json!({"name": "y"})).await.0,
        403
    );
    assert_eq!(
        member
            .post(
                "/auth/api-keys",
                json!({"name": "escalate", "role": "admin"})
            )
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn dev_mode_needs_no_key_and_refuses_public_addresses() {
    let server = TestServer::start_with(Backend::Sqlite, &["--dev"]).await;
    assert!(server.admin_key.is_empty());
    let anonymous = server.client().with_key("");
    assert_eq!(
        anonymous
            .post(
                "/tools",
                json!({"name": "t", "base_url": "https://x.example"})
            )
            .await
            .0,
        201
    );
    assert_eq!(
        anonymous.get("/api/v1/workspaces/other/tools").await.1,
        json!([])
    );

    let output = std::process::Command::new(TestServer::binary())
        .args([
            "serve",
            "--dev",
            "--listen",
            "0.0.0.0:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(server.data_dir.join("other"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
