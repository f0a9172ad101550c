//! Start, restart and shutdown of the server; files in the data directory.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::{postgres_server, server};

#[tokio::test]
async fn first_start_writes_private_key_files() {
    let server = server().await;
    for file in ["bootstrap-admin.key", "master.key"] {
        let mode = std::fs::metadata(server.data_dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // stdout and stderr are read separately, so the key may land just after "listening on".
    let mut printed = server.output();
    for _ in 0..100 {
        if printed.contains(&server.admin_key) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        printed = server.output();
    }
    assert!(
        printed.contains(&server.admin_key),
        "the bootstrap key is shown once on first start"
    );
    assert!(printed.contains("listening on"));
}

async fn data_survives_restart(
    server: runagents_testkit::TestServer,
) -> runagents_testkit::TestServer {
    let api = server.client();
    api.post(
        "/tools",
        json!({"name": "stripe-api", "base_url": "https://api.stripe.com", "auth_type": "APIKey",
        "credentials": {"api_key": "sk_test_restart_secret"}}),
    )
    .await;
    api.post(
        "/policies",
        json!({"name": "p", "spec": {"policies": [{"permission": "allow"}]}}),
    )
    .await;
    let key = server.admin_key.clone();
    let server = server.restart().await;
    assert_eq!(
        server.admin_key, key,
        "the bootstrap key file is not replaced"
    );
    assert!(
        !server.output().contains(&key),
        "the bootstrap key is printed only on first start"
    );
    let api = server.client();
    let (status, tool) = api.get("/tools/stripe-api").await;
    assert_eq!(status, 200, "{tool}");
    assert_eq!(tool["credentials_configured"], json!(["api_key"]));
    assert_eq!(api.get("/policies/p").await.0, 200);
    server
}

#[tokio::test]
async fn data_survives_restart_on_sqlite() {
    let server = server().await;
    let server = data_survives_restart(server).await;
    let data_dir = server.data_dir.clone();
    // Secrets are sealed: the database files never hold the plain value.
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(22).any(|w| w == b"sk_test_restart_secret"));
    }
}

#[tokio::test]
async fn data_survives_restart_on_postgres() {
    data_survives_restart(postgres_server().await).await;
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let server = server().await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn json_logs_on_request() {
    let server = runagents_testkit::TestServer::start_with(
        runagents_testkit::Backend::Sqlite,
        &["--log-format", "json"],
    )
    .await;
    let output = server.output();
    let logs: Vec<serde_json::Value> = output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        logs.iter().any(|log| log["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator API listening on"))),
        "{output}"
    );
    assert!(
        logs.iter()
            .all(|log| log["level"].is_string() && log["timestamp"].is_string())
    );
}
