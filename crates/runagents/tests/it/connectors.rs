//! `/approval-connectors` and `/settings/approval-connectors`: CRUD, masking of header
//! credentials, defaults, activity, and tests against local fakes of Slack, Jira and webhooks.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use runagents_testkit::server::ApiClient;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use crate::{postgres_server, server};

const BASES: [&str; 2] = ["/approval-connectors", "/settings/approval-connectors"];

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Slack's `auth.test`: `ok` only for the bearer token `xoxb-good`.
async fn fake_slack() -> String {
    let router = axum::Router::new().route(
        "/auth.test",
        post(|headers: HeaderMap| async move {
            if bearer(&headers) == "Bearer xoxb-good" {
                Json(json!({"ok": true, "team": "Acme", "user": "approvals-bot"}))
            } else {
                Json(json!({"ok": false, "error": "invalid_auth"}))
            }
        }),
    );
    serve(router).await
}

/// Jira's `myself`: 200 only for `Authorization: Basic good`.
async fn fake_jira() -> String {
    let router = axum::Router::new().route(
        "/rest/api/2/myself",
        get(|headers: HeaderMap| async move {
            if bearer(&headers) == "Basic good" {
                (
                    StatusCode::OK,
                    Json(json!({"displayName": "Approvals Bot"})),
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"errorMessages": ["unauthorized"]})),
                )
            }
        }),
    );
    serve(router).await
}

/// What a fake webhook received: (path, headers, body) per request.
type Received = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

/// `/ok` answers 204, `/fail` 500; every request is recorded.
async fn fake_webhook() -> (String, Received) {
    let received: Received = Arc::default();
    let record = |path: &'static str, status: StatusCode, received: Received| {
        post(
            move |headers: HeaderMap, Json(body): Json<Value>| async move {
                received
                    .lock()
                    .unwrap()
                    .push((path.to_owned(), headers, body));
                status
            },
        )
    };
    let router = axum::Router::new()
        .route(
            "/ok",
            record("/ok", StatusCode::NO_CONTENT, received.clone()),
        )
        .route(
            "/fail",
            record("/fail", StatusCode::INTERNAL_SERVER_ERROR, received.clone()),
        );
    (serve(router).await, received)
}

/// A server whose Slack API is the fake.
async fn server_with_slack(backend: Backend) -> TestServer {
    let slack = fake_slack().await;
    TestServer::start_with_env(backend, &[], &[("RUNAGENTS_SLACK_API_URL", &slack)]).await
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} check in {report}"))
}

fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

fn assert_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    assert!(
        runagents_domain::Timestamp::parse_rfc3339(text).is_some(),
        "{text}"
    );
}

#[tokio::test]
async fn crud_on_both_prefixes_masks_every_header_value() {
    let server = server().await;
    let api = server.client();
    for (index, base) in BASES.into_iter().enumerate() {
        let name = format!("secops-slack-{index}");
        let (status, created) = api
            .post(
                base,
                json!({"name": name, "type": "slack", "endpoint": "C0123456789",
                "headers": {"X-Slack-Bot-Token": "xoxb-top-secret"}, "timeout_seconds": 15}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("ac_") && id.len() == 35, "{id}");
        assert_eq!(created["name"], name.as_str());
        assert_eq!(created["type"], "slack");
        assert_eq!(created["endpoint"], "C0123456789");
        assert_eq!(created["headers"], json!({"X-Slack-Bot-Token": "********"}));
        assert_eq!(created["enabled"], true);
        assert_eq!(created["timeout_seconds"], 15);
        assert_eq!(created["slack_security_mode"], "compat");
        assert_time(&created["created_at"]);
        assert_time(&created["updated_at"]);

        // Either prefix reads what the other wrote.
        for read_base in BASES {
            let (status, got) = api.get(&format!("{read_base}/{id}")).await;
            assert_eq!((status, &got), (200, &created));
        }
        let (status, patched) = api
            .patch(
                &format!("{base}/{id}"),
                json!({"enabled": false, "timeout_seconds": 30}),
            )
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(
            (
                patched["enabled"].as_bool(),
                patched["timeout_seconds"].as_u64()
            ),
            (Some(false), Some(30))
        );
        assert_eq!(patched["created_at"], created["created_at"]);
        assert_eq!(patched["headers"], created["headers"]);
        assert!(patched["updated_at"].as_str() >= created["updated_at"].as_str());
    }

    let (status, webhook) = api
        .post(
            "/approval-connectors",
            json!({"name": "hook", "endpoint": "https://approvals.example.com/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{webhook}");
    assert_eq!(
        (
            webhook["type"].as_str(),
            webhook["enabled"].as_bool(),
            webhook["timeout_seconds"].as_u64()
        ),
        (Some("webhook"), Some(true), Some(10)),
        "documented defaults"
    );
    assert_eq!(webhook["slack_security_mode"], "", "never null");
    assert_eq!(webhook["headers"], json!({}));

    for base in BASES {
        let (status, list) = api.get(base).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["secops-slack-0", "secops-slack-1", "hook"],
            "oldest first"
        );
        assert!(!list.to_string().contains("xoxb-top-secret"));
    }

    let id = webhook["id"].as_str().unwrap();
    let (status, deleted) = api
        .delete(&format!("/settings/approval-connectors/{id}"))
        .await;
    assert_eq!((status, deleted), (200, json!({"status": "deleted"})));
    let (status, body) = api.get(&format!("/approval-connectors/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(error(&body), format!("approval connector {id:?} not found"));
    for (method, path) in [
        ("GET", "/approval-connectors/ac_missing"),
        ("PATCH", "/approval-connectors/ac_missing"),
        ("DELETE", "/settings/approval-connectors/ac_missing"),
        ("POST", "/approval-connectors/ac_missing/test"),
    ] {
        let (status, body) = api.send(method, path, Some(json!({}))).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(error(&body), "approval connector \"ac_missing\" not found");
    }
    assert!(!server.output().contains("xoxb-top-secret"));
}

#[tokio::test]
async fn literal_paths_win_over_ids() {
    let server = server().await;
    let api = server.client();
    // Even a connector named like a literal segment does not shadow it.
    for name in ["defaults", "activity", "test"] {
        let (status, _) = api
            .post(
                "/approval-connectors",
                json!({"name": name, "endpoint": "https://x.example"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    for base in BASES {
        let (status, defaults) = api.get(&format!("{base}/defaults")).await;
        assert_eq!(status, 200);
        assert_eq!(
            defaults["default_delivery_mode"], "first_success",
            "{defaults}"
        );
        let (status, activity) = api.get(&format!("{base}/activity")).await;
        assert_eq!(status, 200);
        assert!(activity.is_array(), "{activity}");
        let (status, body) = api.post(&format!("{base}/test"), json!({})).await;
        assert_eq!((status, error(&body)), (400, "endpoint is required"));
        // `test` is a literal: GET on it is the wrong method, not a lookup of id "test".
        let (status, _) = api.get(&format!("{base}/test")).await;
        assert_eq!(status, 405);
    }
}

#[tokio::test]
async fn names_are_unique_per_workspace() {
    let server = server().await;
    let api = server.client();
    let body = json!({"name": "secops", "endpoint": "https://x.example"});
    let (status, first) = api.post("/approval-connectors", body.clone()).await;
    assert_eq!(status, 201);
    let (status, conflict) = api.post("/settings/approval-connectors", body).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(
        error(&conflict),
        "an approval connector named \"secops\" already exists in this workspace"
    );
    let (_, second) = api
        .post(
            "/approval-connectors",
            json!({"name": "other", "endpoint": "https://y.example"}),
        )
        .await;
    let second_id = second["id"].as_str().unwrap();
    let (status, _) = api
        .patch(
            &format!("/approval-connectors/{second_id}"),
            json!({"name": "secops"}),
        )
        .await;
    assert_eq!(status, 409);
    // Keeping its own name is not a conflict.
    let first_id = first["id"].as_str().unwrap();
    let (status, _) = api
        .patch(
            &format!("/approval-connectors/{first_id}"),
            json!({"name": "secops"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = api.get("/approval-connectors").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn invalid_connectors_get_400_with_the_reason() {
    let server = server().await;
    let api = server.client();
    let slack_token = json!({"X-Slack-Bot-Token": "xoxb-1"});
    let cases = [
        (json!({"endpoint": "https://x.example"}), "name is required"),
        (json!({"name": "a"}), "endpoint is required"),
        (json!({"name": "a", "endpoint": ""}), "endpoint is required"),
        (
            json!({"name": 5, "endpoint": "https://x.example"}),
            "name must be a string",
        ),
        (
            json!({"name": "a", "type": "email", "endpoint": "https://x.example"}),
            "type \"email\" is not supported",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": 0}),
            "timeout_seconds must be between 1 and 120 (got 0)",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": 121}),
            "timeout_seconds must be between 1 and 120 (got 121)",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": "15"}),
            "timeout_seconds must be a whole number",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "enabled": "yes"}),
            "enabled must be true or false",
        ),
        (
            json!({"name": "a", "endpoint": "http://approvals.example.com/hook"}),
            "must be an https:// URL",
        ),
        (
            json!({"name": "a", "type": "teams", "endpoint": "http://outlook.example.com/x"}),
            "teams endpoint",
        ),
        (
            json!({"name": "a", "type": "jira", "endpoint": "acme.atlassian.net"}),
            "jira endpoint",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "#secops", "headers": slack_token}),
            "channel id such as C0123456789",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789"}),
            "X-Slack-Bot-Token",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789", "headers": slack_token, "slack_security_mode": "strict"}),
            "X-Slack-Signing-Secret",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789", "headers": slack_token, "slack_security_mode": "lax"}),
            "use compat or strict",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "slack_security_mode": "strict"}),
            "applies only to slack",
        ),
        (
            json!({"name": "a", "type": "pagerduty", "endpoint": "https://events.pagerduty.com/v2/enqueue"}),
            "routing key",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"Bad Name": "v"}}),
            "not a valid HTTP header name",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": 1}}),
            "headers.X-A must be a string",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": "********"}}),
            "no value is stored",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": ["X-A"]}),
            "headers must be an object",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.post("/approval-connectors", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error(&answer).contains(expected), "{body}: {answer}");
    }
    let (status, answer) = api
        .send_raw("POST", "/approval-connectors", "{\"name\": ")
        .await;
    assert_eq!(status, 400);
    assert!(error(&answer).starts_with("malformed JSON"), "{answer}");

    let (_, slack) = api
        .post("/approval-connectors", json!({"name": "s", "type": "slack", "endpoint": "C0123456789", "headers": slack_token}))
        .await;
    let path = format!("/approval-connectors/{}", slack["id"].as_str().unwrap());
    for (patch, expected) in [
        (json!({"timeout_seconds": 500}), "between 1 and 120"),
        (
            json!({"slack_security_mode": "strict"}),
            "X-Slack-Signing-Secret",
        ),
        (json!({"headers": {}}), "X-Slack-Bot-Token"),
        (json!({"endpoint": "https://x.example"}), "channel id"),
        (
            json!({"type": "webhook", "slack_security_mode": "compat", "endpoint": "https://x.example"}),
            "applies only to slack",
        ),
        (json!({"type": "sms"}), "not supported"),
        (json!({"enabled": 1}), "true or false"),
    ] {
        let (status, answer) = api.patch(&path, patch.clone()).await;
        assert_eq!(status, 400, "{patch}: {answer}");
        assert!(error(&answer).contains(expected), "{patch}: {answer}");
    }
    // Nothing half-written by any of the above.
    let (_, list) = api.get("/approval-connectors").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, unchanged) = api.get(&path).await;
    assert_eq!(unchanged, slack);
    // Leaving Slack for a webhook drops the Slack-only mode.
    let (status, webhook) = api
        .patch(
            &path,
            json!({"type": "webhook", "endpoint": "https://x.example", "headers": {}}),
        )
        .await;
    assert_eq!(status, 200, "{webhook}");
    assert_eq!(
        (
            webhook["slack_security_mode"].as_str(),
            webhook["headers"].clone()
        ),
        (Some(""), json!({}))
    );
}

/// Masked values survive a GET → PATCH round trip; headers left out of a PATCH are gone for good.
async fn header_story(server: TestServer) {
    let api = server.client();
    let (webhook_url, received) = fake_webhook().await;
    let (status, created) = api
        .post(
            "/approval-connectors",
            json!({"name": "relay", "endpoint": format!("{webhook_url}/ok"),
            "headers": {"X-Relay-Token": "relay-secret-1", "X-Extra": "extra-secret-2"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/approval-connectors/{id}");

    // The SDK's apply: read, then PATCH with what was read (masked values included).
    let (_, read) = api.get(&path).await;
    let (status, patched) = api
        .patch(
            &path,
            json!({"headers": read["headers"], "timeout_seconds": 20}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (status, report) = api.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "healthy", "{report}");
    {
        let received = received.lock().unwrap();
        let (route, headers, body) = received.last().unwrap();
        assert_eq!(route, "/ok");
        assert_eq!(body, &json!({"type": "runagents.test"}));
        assert_eq!(headers["x-relay-token"], "relay-secret-1");
        assert_eq!(headers["x-extra"], "extra-secret-2");
    }

    // Drop X-Extra, keep X-Relay-Token as stored.
    let (status, patched) = api
        .patch(&path, json!({"headers": {"X-Relay-Token": "********"}}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["headers"], json!({"X-Relay-Token": "********"}));
    api.post(&format!("{path}/test"), json!({})).await;
    {
        let received = received.lock().unwrap();
        let (_, headers, _) = received.last().unwrap();
        assert_eq!(headers["x-relay-token"], "relay-secret-1");
        assert!(
            headers.get("x-extra").is_none(),
            "a removed header is not sent"
        );
    }
    // A removed header's value cannot come back through the mask.
    let (status, body) = api
        .patch(
            &path,
            json!({"headers": {"X-Relay-Token": "********", "X-Extra": "********"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(error(&body).contains("\"X-Extra\" is masked"), "{body}");
    // A new value replaces the stored one.
    api.patch(
        &path,
        json!({"headers": {"X-Relay-Token": "relay-secret-3"}}),
    )
    .await;
    api.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(
        received.lock().unwrap().last().unwrap().1["x-relay-token"],
        "relay-secret-3"
    );

    let (_, activity) = api.get("/approval-connectors/activity").await;
    let output = format!("{}{activity}{}", server.output(), api.get(&path).await.1);
    for secret in ["relay-secret-1", "extra-secret-2", "relay-secret-3"] {
        assert!(!output.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn masked_headers_round_trip_and_removed_headers_stay_removed() {
    header_story(server().await).await;
}

#[tokio::test]
async fn masked_headers_round_trip_on_postgres() {
    header_story(postgres_server().await).await;
}

#[tokio::test]
async fn slack_test_uses_the_stored_token_behind_the_mask() {
    let server = server_with_slack(Backend::Sqlite).await;
    let api = server.client();
    let (status, created) = api
        .post(
            "/approval-connectors",
            json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789",
            "headers": {"X-Slack-Bot-Token": "xoxb-good"}, "timeout_seconds": 15}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // Exactly what the SDK's `test(id)` does: GET, then POST the masked connector to /test.
    let sdk_test = |api: ApiClient, id: String| async move {
        let (_, connector) = api.get(&format!("/approval-connectors/{id}")).await;
        api.post("/approval-connectors/test", json!({
            "type": connector["type"], "endpoint": connector["endpoint"], "headers": connector["headers"],
            "timeout_seconds": connector["timeout_seconds"], "slack_security_mode": connector["slack_security_mode"],
        }))
        .await
    };
    let (status, report) = sdk_test(api.clone(), id.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "healthy", "{report}");
    assert_eq!(
        (
            report["connector_type"].as_str(),
            report["endpoint"].as_str()
        ),
        (Some("slack"), Some("C0123456789"))
    );
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["config", "credentials", "connectivity"]);
    let connectivity = check(&report, "connectivity");
    assert_eq!(connectivity["status"], "passed");
    assert!(
        connectivity["message"].as_str().unwrap().contains("Acme"),
        "{connectivity}"
    );
    assert!(connectivity["duration_ms"].is_u64());

    // A GET → PATCH round trip keeps the token.
    let (_, read) = api.get(&format!("/approval-connectors/{id}")).await;
    let (status, _) = api
        .patch(
            &format!("/settings/approval-connectors/{id}"),
            json!({"headers": read["headers"], "name": "renamed"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, report) = sdk_test(api.clone(), id.clone()).await;
    assert_eq!(report["status"], "healthy", "{report}");

    // A wrong token: Slack says invalid_auth, by either test route.
    api.patch(
        &format!("/approval-connectors/{id}"),
        json!({"headers": {"X-Slack-Bot-Token": "xoxb-revoked"}}),
    )
    .await;
    for (status, report) in [
        sdk_test(api.clone(), id.clone()).await,
        api.post(&format!("/approval-connectors/{id}/test"), json!({}))
            .await,
    ] {
        assert_eq!(status, 200);
        assert_eq!(report["status"], "unhealthy", "{report}");
        assert_eq!(check(&report, "credentials")["status"], "passed");
        let connectivity = check(&report, "connectivity");
        assert_eq!(connectivity["status"], "failed");
        assert_eq!(
            connectivity["message"],
            "Slack rejected the bot token: invalid_auth"
        );
    }

    // Configuration and credential problems are reported, not refused.
    let cases = [
        (
            json!({"type": "slack", "endpoint": "C0123456789"}),
            "credentials",
        ),
        (
            json!({"type": "slack", "endpoint": "C0123456789", "slack_security_mode": "strict", "headers": {"X-Slack-Bot-Token": "xoxb-good"}}),
            "credentials",
        ),
        (
            json!({"type": "slack", "endpoint": "#general", "headers": {"X-Slack-Bot-Token": "xoxb-good"}}),
            "config",
        ),
        (
            json!({"type": "carrier-pigeon", "endpoint": "roof"}),
            "config",
        ),
        (
            json!({"endpoint": "http://approvals.example.com/hook"}),
            "config",
        ),
        (
            json!({"endpoint": "https://x.example", "timeout_seconds": 500}),
            "config",
        ),
        // Masked, but no stored connector has this endpoint.
        (
            json!({"type": "slack", "endpoint": "C999", "headers": {"X-Slack-Bot-Token": "********"}}),
            "credentials",
        ),
    ];
    for (body, failed) in cases {
        let (status, report) = api.post("/approval-connectors/test", body.clone()).await;
        assert_eq!(status, 200, "{body}: {report}");
        assert_eq!(report["status"], "unhealthy", "{body}: {report}");
        assert_eq!(
            check(&report, failed)["status"],
            "failed",
            "{body}: {report}"
        );
        assert_eq!(
            check(&report, "connectivity")["status"],
            "skipped",
            "{body}: {report}"
        );
    }
    let (status, body) = api
        .post("/approval-connectors/test", json!({"endpoint": 42}))
        .await;
    assert_eq!((status, error(&body)), (400, "endpoint must be a string"));

    // PagerDuty cannot be probed without raising an incident.
    let (_, report) = api
        .post(
            "/approval-connectors/test",
            json!({"type": "pagerduty", "endpoint": "https://events.pagerduty.com/v2/enqueue",
            "headers": {"X-Routing-Key": "R0UT1NG"}}),
        )
        .await;
    assert_eq!(report["status"], "healthy", "{report}");
    let connectivity = check(&report, "connectivity");
    assert_eq!(connectivity["status"], "skipped");
    assert_eq!(
        connectivity["message"],
        "PagerDuty accepts events only; delivery is verified on first dispatch"
    );

    assert!(!server.output().contains("xoxb-good"));
    assert!(!server.output().contains("xoxb-revoked"));
}

#[tokio::test]
async fn jira_webhook_and_teams_connectivity() {
    let server = server().await;
    let api = server.client();
    let jira = fake_jira().await;
    for (headers, status, message) in [
        (
            json!({"Authorization": "Basic good"}),
            "healthy",
            "Jira accepted the credentials (HTTP 200)",
        ),
        (
            json!({"Authorization": "Basic wrong"}),
            "unhealthy",
            "Jira rejected the credentials (HTTP 401)",
        ),
        (
            json!({}),
            "unhealthy",
            "Jira rejected the credentials (HTTP 401)",
        ),
    ] {
        let (_, report) = api
            .post(
                "/approval-connectors/test",
                json!({"type": "jira", "endpoint": format!("{jira}/"), "headers": headers}),
            )
            .await;
        assert_eq!(report["status"], status, "{report}");
        assert!(
            check(&report, "connectivity")["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{report}"
        );
        assert_eq!(
            report["endpoint"],
            jira.as_str(),
            "the base URL loses its trailing slash"
        );
    }
    let (_, report) = api
        .post(
            "/approval-connectors/test",
            json!({"type": "jira", "endpoint": format!("{jira}/wiki")}),
        )
        .await;
    assert!(
        check(&report, "connectivity")["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 404"),
        "{report}"
    );

    let (webhook, received) = fake_webhook().await;
    let (_, report) = api
        .post(
            "/approval-connectors/test",
            json!({"endpoint": format!("{webhook}/ok")}),
        )
        .await;
    assert_eq!(report["status"], "healthy", "{report}");
    assert_eq!(
        check(&report, "connectivity")["message"],
        "Connector endpoint accepted the test request (HTTP 204)"
    );
    let (_, report) = api
        .post(
            "/approval-connectors/test",
            json!({"type": "webhook", "endpoint": format!("{webhook}/fail")}),
        )
        .await;
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(
        check(&report, "connectivity")["message"],
        "Connector endpoint answered HTTP 500"
    );
    let (_, report) = api
        .post(
            "/approval-connectors/test",
            json!({"type": "teams", "endpoint": format!("{webhook}/ok")}),
        )
        .await;
    assert_eq!(report["status"], "healthy", "{report}");
    assert_eq!(
        received.lock().unwrap().last().unwrap().2["@type"],
        "MessageCard"
    );

    // An https endpoint nobody answers: configuration fine, connectivity failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, report) = api
        .post(
            "/approval-connectors/test",
            json!({"endpoint": format!("https://{closed}/hook"), "timeout_seconds": 2}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], "unhealthy", "{report}");
    assert_eq!(check(&report, "config")["status"], "passed");
    let connectivity = check(&report, "connectivity");
    assert_eq!(connectivity["status"], "failed");
    assert!(
        connectivity["message"]
            .as_str()
            .unwrap()
            .starts_with("Could not reach the endpoint"),
        "{connectivity}"
    );
}

#[tokio::test]
async fn defaults_read_update_and_apply_to_new_connectors() {
    let server = server().await;
    let api = server.client();
    let initial = json!({"default_delivery_mode": "first_success", "default_fallback_to_ui": true,
        "default_timeout_seconds": 10, "min_timeout_seconds": 1, "max_timeout_seconds": 120});
    let (status, defaults) = api.get("/approval-connectors/defaults").await;
    assert_eq!((status, defaults), (200, initial.clone()));
    let (status, defaults) = api.put("/approval-connectors/defaults", json!({})).await;
    assert_eq!((status, defaults), (200, initial.clone()));
    let (status, empty_body) = api
        .send("PUT", "/settings/approval-connectors/defaults", None)
        .await;
    assert_eq!((status, empty_body), (200, initial));

    let (status, defaults) = api
        .put(
            "/settings/approval-connectors/defaults",
            json!({"default_delivery_mode": "all", "default_timeout_seconds": 45}),
        )
        .await;
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(
        defaults,
        json!({"default_delivery_mode": "all", "default_fallback_to_ui": true,
        "default_timeout_seconds": 45, "min_timeout_seconds": 1, "max_timeout_seconds": 120})
    );
    let (_, defaults) = api
        .put(
            "/approval-connectors/defaults",
            json!({"default_fallback_to_ui": false}),
        )
        .await;
    assert_eq!(
        (
            defaults["default_delivery_mode"].as_str(),
            defaults["default_fallback_to_ui"].as_bool(),
            defaults["default_timeout_seconds"].as_u64()
        ),
        (Some("all"), Some(false), Some(45)),
        "a partial update keeps the other keys"
    );
    for (body, expected) in [
        (
            json!({"default_delivery_mode": "broadcast"}),
            "use first_success or all",
        ),
        (json!({"default_fallback_to_ui": "no"}), "true or false"),
        (json!({"default_timeout_seconds": 0}), "between 1 and 120"),
        (json!({"default_timeout_seconds": 121}), "between 1 and 120"),
    ] {
        let (status, answer) = api.put("/approval-connectors/defaults", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error(&answer).contains(expected), "{body}: {answer}");
    }
    let (_, after) = api.get("/approval-connectors/defaults").await;
    assert_eq!(after, defaults, "a refused update changes nothing");

    let (_, connector) = api
        .post(
            "/approval-connectors",
            json!({"name": "hook", "endpoint": "https://x.example"}),
        )
        .await;
    assert_eq!(
        connector["timeout_seconds"], 45,
        "new connectors take the workspace default"
    );
}

#[tokio::test]
async fn activity_is_newest_first_and_limited() {
    let server = server().await;
    let api = server.client();
    let (_, created) = api
        .post("/approval-connectors", json!({"name": "hook", "endpoint": "https://x.example", "headers": {"X-Token": "t0ken-value"}}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    api.patch(
        &format!("/approval-connectors/{id}"),
        json!({"name": "hook-2", "headers": {"X-Token": "t0ken-value-2"}}),
    )
    .await;
    api.post(
        "/approval-connectors/test",
        json!({"type": "pagerduty", "endpoint": "P1", "headers": {"X-Routing-Key": "k"}}),
    )
    .await;
    api.post(
        "/approval-connectors/test",
        json!({"type": "nope", "endpoint": "x"}),
    )
    .await;
    api.delete(&format!("/approval-connectors/{id}")).await;

    let (status, activity) = api.get("/approval-connectors/activity").await;
    assert_eq!(status, 200);
    let entries = activity.as_array().unwrap();
    let events: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "connector_deleted",
            "test_failed",
            "test_succeeded",
            "connector_updated",
            "connector_created"
        ]
    );
    for entry in entries {
        assert!(entry["id"].as_str().unwrap().starts_with("aca_"), "{entry}");
        assert_time(&entry["timestamp"]);
        for key in [
            "connector_id",
            "connector_name",
            "request_id",
            "action_id",
            "run_id",
            "decision",
            "approver_id",
            "message",
        ] {
            assert!(entry[key].is_string(), "{key} in {entry}");
        }
        assert!(
            entry.as_object().unwrap().values().all(|v| !v.is_null()),
            "{entry}"
        );
    }
    assert_eq!(entries[0]["connector_id"], id.as_str());
    assert_eq!(entries[0]["connector_name"], "hook-2");
    assert_eq!(entries[3]["message"], "Updated name, headers");
    assert_eq!(entries[4]["connector_name"], "hook");
    assert_eq!(
        entries[1]["message"].as_str().unwrap(),
        "Configuration check failed: type \"nope\" is not supported: use webhook, slack, teams, jira or pagerduty"
    );
    assert!(!activity.to_string().contains("t0ken-value"));

    let (_, two) = api
        .get("/settings/approval-connectors/activity?limit=2")
        .await;
    assert_eq!(two.as_array().unwrap().as_slice(), &entries[..2]);
    for bad in ["0", "501", "ten", "-1"] {
        let (status, body) = api
            .get(&format!("/approval-connectors/activity?limit={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(error(&body).contains("from 1 to 500"), "{body}");
    }
}

#[tokio::test]
async fn workspaces_do_not_see_each_other() {
    let server = server_with_slack(Backend::Sqlite).await;
    let admin = server.client();
    let (_, team) = admin.post("/workspaces", json!({"name": "revops"})).await;
    let revops = admin.with_key(team["token"].as_str().unwrap());

    let (_, connector) = admin
        .post(
            "/approval-connectors",
            json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789",
            "headers": {"X-Slack-Bot-Token": "xoxb-good"}}),
        )
        .await;
    let id = connector["id"].as_str().unwrap();
    admin
        .put(
            "/approval-connectors/defaults",
            json!({"default_timeout_seconds": 99}),
        )
        .await;

    let (_, list) = revops.get("/approval-connectors").await;
    assert_eq!(list, json!([]));
    for path in [
        format!("/approval-connectors/{id}"),
        format!("/api/v1/workspaces/revops/approval-connectors/{id}"),
    ] {
        assert_eq!(revops.get(&path).await.0, 404);
    }
    assert_eq!(
        revops.delete(&format!("/approval-connectors/{id}")).await.0,
        404
    );
    let (_, defaults) = revops.get("/approval-connectors/defaults").await;
    assert_eq!(defaults["default_timeout_seconds"], 10);
    let (_, activity) = revops.get("/approval-connectors/activity").await;
    assert_eq!(activity, json!([]));
    // The same name is free in another workspace.
    let (status, _) = revops
        .post(
            "/approval-connectors",
            json!({"name": "secops-slack", "endpoint": "https://x.example"}),
        )
        .await;
    assert_eq!(status, 201);
    // A masked token is never resolved from another workspace's connector.
    let (_, report) = revops
        .post("/approval-connectors/test", json!({"type": "slack", "endpoint": "C0123456789", "headers": {"X-Slack-Bot-Token": "********"}}))
        .await;
    assert_eq!(report["status"], "unhealthy", "{report}");
    assert_eq!(check(&report, "credentials")["status"], "failed");
    let (_, report) = admin
        .post("/approval-connectors/test", json!({"type": "slack", "endpoint": "C0123456789", "headers": {"X-Slack-Bot-Token": "********"}}))
        .await;
    assert_eq!(report["status"], "healthy", "{report}");
    // The explicit workspace path works for the owner.
    let (status, got) = admin
        .get(&format!(
            "/api/v1/workspaces/default/settings/approval-connectors/{id}"
        ))
        .await;
    assert_eq!((status, got["name"].as_str()), (200, Some("secops-slack")));
}
