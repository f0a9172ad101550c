//! `runs …`, `approvals …` and `agents logs`: the exact requests, checked against a small fake
//! of the documented API that records them, and the commands against the real governed path.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Shell;

/// One request as the fake saw it: method, path with query, body, auth headers.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    body: String,
    content_type: String,
    api_key: String,
    authorization: String,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    polls: Arc<Mutex<u32>>,
}

impl Fake {
    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

fn run(id: &str, status: &str) -> Value {
    json!({"id": id, "agent_id": "bot", "user_id": "alice", "status": status,
        "created_at": "2026-05-01T10:00:00Z", "updated_at": "2026-05-01T10:01:00Z"})
}

async fn answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    fake.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: header("content-type"),
        api_key: header("x-runagents-api-key"),
        authorization: header("authorization"),
    });
    let path = uri.path().strip_prefix("/api/v1").unwrap_or_default();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let ok = |value: Value| (StatusCode::OK, Json(value));
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["runs"]) => ok(json!([
            {"id": "r1", "agent_id": "bot", "user_id": "alice", "status": "RUNNING", "created_at": "2026-05-01T09:00:00Z"},
            {"id": "r2", "agent_id": "bot", "user_id": "bob", "status": "RUNNING", "created_at": "2026-05-02T09:00:00Z"},
            {"id": "r3", "agent_id": "bot", "user_id": "alice", "status": "RUNNING", "created_at": "2026-05-01T08:00:00Z", "updated_at": "2026-05-03T08:00:00Z"},
        ])),
        ("GET", ["runs", "r-done"]) => {
            // RUNNING on the first poll, COMPLETED from the second on.
            let mut polls = fake.polls.lock().unwrap();
            *polls += 1;
            ok(run(
                "r-done",
                if *polls < 2 { "RUNNING" } else { "COMPLETED" },
            ))
        }
        ("GET", ["runs", "r-paused"]) => ok(run("r-paused", "PAUSED_APPROVAL")),
        ("GET", ["runs", "r-failed"]) => ok(run("r-failed", "FAILED")),
        ("GET", ["runs", _, "events"]) => ok(json!([
            {"event_id": "e3", "run_id": "r-done", "seq": 3, "type": "COMPLETED", "actor": "agent", "timestamp": "2026-05-01T10:01:00Z"},
            {"event_id": "e1", "run_id": "r-done", "seq": 1, "type": "USER_MESSAGE", "actor": "alice", "timestamp": "2026-05-01T10:00:00Z", "data": {"content": "charge $5"}},
            {"event_id": "e2", "run_id": "r-done", "seq": 2, "type": "TOOL_REQUEST", "actor": "agent", "timestamp": "2026-05-01T10:00:30Z",
             "data": {"tool_id": "stripe", "tool_method": "POST", "tool_url": "https://api.stripe.com/v1/charges", "status_code": 200}},
        ])),
        ("GET", ["approvals", "requests"]) => ok(json!([
            {"id": "req-1", "agent": "bot", "tool": "stripe", "subject": "alice", "status": "PENDING", "created_at": "2026-05-01T10:00:00Z"},
        ])),
        ("POST", ["approvals", "requests", id, decision]) => {
            let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let status = if *decision == "approve" {
                "APPROVED"
            } else {
                "REJECTED"
            };
            let scope = sent.get("scope").cloned().unwrap_or(json!("once"));
            ok(json!({"id": id, "status": status, "scope": scope}))
        }
        ("GET", ["agents", "bot", "logs"]) => ok(json!({"logs": "booting\nready\n"})),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("run {path} not found")})),
        ),
    }
}

async fn fake_api() -> (String, Fake) {
    let fake = Fake::default();
    let router = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_get_events_timeline_wait_export() {
    let (url, fake) = fake_api().await;
    let shell = Shell::at(&url, "ra_ws_fakekey");

    let runs = shell
        .run(&[
            "runs", "list", "--agent", "bot", "--status", "running", "--user", "alice", "--limit",
            "1", "-o", "json",
        ])
        .json();
    let seen = fake.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("GET", "/api/v1/runs?agent_id=bot&status=RUNNING")
    );
    assert_eq!(seen.api_key, "ra_ws_fakekey");
    assert_eq!(
        (
            seen.authorization.as_str(),
            seen.content_type.as_str(),
            seen.body.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["id"], "r3", "alice's most recently updated run");
    let table = shell.run(&["runs", "list"]).ok().stdout;
    assert_eq!(fake.last().uri, "/api/v1/runs");
    let ids: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["r3", "r2", "r1"], "{table}");
    assert!(
        table.starts_with("ID  AGENT  STATUS   USER   UPDATED\n"),
        "{table}"
    );

    let events = shell
        .run(&[
            "runs",
            "events",
            "r-done",
            "--type",
            "tool_request",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(fake.last().uri, "/api/v1/runs/r-done/events");
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["seq"], 2);
    let last_two = shell
        .run(&["runs", "events", "r-done", "--limit", "2", "-o", "json"])
        .json();
    assert_eq!(
        (last_two[0]["seq"].as_i64(), last_two[1]["seq"].as_i64()),
        (Some(2), Some(3))
    );

    let timeline = shell
        .run(&["runs", "timeline", "r-done", "-o", "json"])
        .json();
    assert_eq!(timeline["run"]["id"], "r-done");
    let summaries: Vec<&str> = timeline["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "charge $5",
            "stripe POST https://api.stripe.com/v1/charges · HTTP 200",
            ""
        ]
    );
    let table = shell.run(&["runs", "timeline", "r-done"]).ok().stdout;
    assert!(
        table.contains(
            "TOOL_REQUEST  agent  stripe POST https://api.stripe.com/v1/charges · HTTP 200"
        ),
        "{table}"
    );
    let export = shell.run(&["runs", "export", "r-done"]).json();
    assert_eq!(export["events"].as_array().unwrap().len(), 3);
    assert_eq!(export["timeline"].as_array().unwrap().len(), 3);

    // Waiting: polls until COMPLETED; PAUSED_* is not an end, so that one times out (exit 4).
    *fake.polls.lock().unwrap() = 0;
    let done = shell
        .run(&[
            "runs",
            "wait",
            "r-done",
            "--interval",
            "100ms",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(*fake.polls.lock().unwrap(), 2);
    shell
        .run(&["runs", "wait", "r-paused", "--timeout", "1s", "--interval", "200ms"])
        .failed(4, "error: timed out waiting for run \"r-paused\" to finish (still PAUSED_APPROVAL after 1s)\n");
    let failed = shell.run(&["runs", "wait", "r-failed"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stdout.contains("Status:          FAILED"),
        "{failed:?}"
    );
    shell
        .run(&["runs", "wait", "r1", "--interval", "0s"])
        .failed(1, "--interval: invalid duration \"0s\"");
    shell.run(&["runs", "get", "ghost"]).failed(3, "(HTTP 404)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_list_approve_reject_and_agent_logs() {
    let (url, fake) = fake_api().await;
    let shell = Shell::at(&url, "eyJ.jwt.token");

    let table = shell.run(&["approvals", "list"]).ok().stdout;
    assert!(table.starts_with("ID     AGENT  TOOL    SUBJECT  STATUS   CREATED\nreq-1  bot    stripe  alice    PENDING"), "{table}");
    let seen = fake.last();
    assert_eq!(seen.uri, "/api/v1/approvals/requests");
    assert_eq!(
        (seen.authorization.as_str(), seen.api_key.as_str()),
        ("Bearer eyJ.jwt.token", "")
    );
    shell
        .run(&["approvals", "list", "--status", "pending", "-o", "json"])
        .json();
    assert_eq!(fake.last().uri, "/api/v1/approvals/requests?status=PENDING");

    // No flags: the literal `null`, as the public CLI sends.
    let approved = shell.run(&["approvals", "approve", "req-1"]).ok().stdout;
    assert_eq!(approved, "✓ request req-1 approved (scope once)\n");
    let seen = fake.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/api/v1/approvals/requests/req-1/approve")
    );
    assert_eq!(
        (seen.body.as_str(), seen.content_type.as_str()),
        ("null", "application/json")
    );
    shell
        .run(&[
            "approvals",
            "approve",
            "req-2",
            "--duration",
            "4h",
            "--reason",
            "on call",
        ])
        .ok();
    let sent: Value = serde_json::from_str(&fake.last().body).unwrap();
    assert_eq!(
        sent,
        json!({"scope": "agent_user_ttl", "duration": "4h", "reason": "on call"})
    );
    shell
        .run(&[
            "approvals",
            "approve",
            "req-3",
            "--scope",
            "run",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(fake.last().body, r#"{"scope":"run"}"#);

    let rejected = shell.run(&["approvals", "reject", "req-4"]).ok().stdout;
    assert_eq!(rejected, "✓ request req-4 rejected\n");
    let seen = fake.last();
    assert_eq!(
        (
            seen.uri.as_str(),
            seen.body.as_str(),
            seen.content_type.as_str()
        ),
        ("/api/v1/approvals/requests/req-4/reject", "", "")
    );
    shell
        .run(&["approvals", "reject", "req-5", "--reason", "too much"])
        .ok();
    assert_eq!(fake.last().body, r#"{"reason":"too much"}"#);

    let logs = shell
        .run(&["agents", "logs", "bot", "--tail", "2"])
        .ok()
        .stdout;
    assert_eq!(logs, "booting\nready\n");
    assert_eq!(fake.last().uri, "/api/v1/agents/bot/logs?tail=2");
}

/// The same commands against the real governed path: a blocked write shows up in
/// `approvals list`, `approvals approve --scope run` releases it, and `runs` shows the story.
#[tokio::test]
async fn approvals_and_runs_against_the_real_server() {
    let s = crate::egress::setup().await;
    let (status, blocked) = crate::egress::call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        Some(&s.run_id),
        Some(json!({"amount": 5})),
    )
    .await;
    assert_eq!(status, 403, "{blocked}");
    let shell = Shell::new(&s.server);
    let listed = shell.run(&["approvals", "list", "-o", "json"]).json();
    let request_id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(request_id, blocked["request_id"].as_str().unwrap());
    let table = shell.run(&["approvals", "list"]).ok();
    assert!(
        table.stdout.contains(&request_id) && table.stdout.contains("stripe"),
        "{table:?}"
    );
    let approved = shell
        .run(&[
            "approvals",
            "approve",
            &request_id,
            "--scope",
            "run",
            "--reason",
            "ok",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(
        (approved["status"].as_str(), approved["scope"].as_str()),
        (Some("APPROVED"), Some("run"))
    );
    for _ in 0..200 {
        if shell.run(&["runs", "get", &s.run_id, "-o", "json"]).json()["status"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let events = shell
        .run(&["runs", "events", &s.run_id, "-o", "json"])
        .json();
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"APPROVED") && types.contains(&"RESUMED"),
        "{types:?}"
    );
    let runs = shell
        .run(&["runs", "list", "--agent", "billing", "-o", "json"])
        .json();
    assert_eq!(runs[0]["id"].as_str(), Some(s.run_id.as_str()));
    // Approving it again for the run is the same decision; once is a different one.
    shell
        .run(&["approvals", "approve", &request_id, "--scope", "run"])
        .ok();
    shell.run(&["approvals", "approve", &request_id]).failed(
        1,
        "is already approved by bootstrap-admin; a different decision cannot replace it (HTTP 409)",
    );
}
