//! `callback_url` at invoke time: the run's final answer POSTed there when it ends — after a
//! pause, an approval and a platform restart in between — signed, with an idempotency key,
//! retried with backoff from the store's outbox, every attempt a run event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use runagents_domain::Timestamp;
use runagents_domain::dispatch::verify_webhook_signature;
use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::egress::fake_upstream;
use crate::server;

/// What the fake receiver got: headers and parsed body of each POST.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(axum::http::HeaderMap, Value, String)>>>);

impl Received {
    fn all(&self) -> Vec<(axum::http::HeaderMap, Value, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A receiver that answers 500 to its first `failures` POSTs, then 200.
async fn receiver(failures: usize) -> (String, Received) {
    let received = Received::default();
    let recorder = received.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let raw =
                String::from_utf8(axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec())
                    .unwrap();
            let body: Value = serde_json::from_str(&raw).unwrap();
            let mut all = recorder.0.lock().unwrap();
            all.push((parts.headers, body, raw));
            if all.len() <= failures {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/run-done", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A Tier-1 agent on the playground model whose charge needs approval.
async fn payer(api: &ApiClient) {
    api.send("POST", "/starter-kit", None).await;
    let (upstream_url, _) = fake_upstream().await;
    api.post(
        "/tools",
        json!({"name": "stripe", "spec": {"connection": {"baseUrl": upstream_url},
        "capabilities": [{"name": "charge", "method": "POST", "path": "/v1/charges"}]}}),
    )
    .await;
    api.post("/policies", json!({"name": "charges-need-approval", "spec": {"policies": [
        {"permission": "approval_required", "operations": ["POST"], "resource": format!("{upstream_url}/*")}]}}))
        .await;
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "payer", "source_files": {}, "required_tools": ["stripe"],
                   "llm_configs": [{"provider": "playground", "model": "playground"}],
                   "policies": ["charges-need-approval"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw {what}");
}

async fn event_types(api: &ApiClient, run_id: &str) -> Vec<String> {
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn pending_request(api: &ApiClient, run_id: &str) -> String {
    let (_, requests) = api.get("/approvals/requests").await;
    let request = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run_id)
        .unwrap();
    request["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_answer_is_called_back_after_approval_across_a_restart_signed_and_retried() {
    let server = server().await;
    let api = server.client();
    payer(&api).await;
    // The receiver fails once: the callback is retried after a backoff.
    let (url, received) = receiver(1).await;
    let callback_url = format!("{url}?token=receiver-secret");
    let (status, paused) = api
        .post(
            "/agents/payer/invoke",
            json!({"message": "stripe__charge 25 dollars", "callback_url": callback_url}),
        )
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "PAUSED_APPROVAL", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let conversation_id = paused["conversation_id"].as_str().unwrap().to_owned();

    // The platform goes down while the run waits; nothing is called back for a paused run.
    let server = server.crash_and_restart().await;
    let api = server.client();
    assert!(received.all().is_empty());
    let id = pending_request(&api, &run_id).await;
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200);

    wait_for("a delivered callback", || received.all().len() >= 2).await;
    let all = received.all();
    let (headers, body, raw) = &all[1];
    assert_eq!(
        body,
        &json!({"run_id": run_id, "conversation_id": conversation_id, "agent": "payer",
                "status": "COMPLETED", "response": r#"The stripe__charge tool returned: {"ok":true}"#,
                "error": null})
    );
    assert_eq!(all[0].1, *body, "a retry sends the same answer");
    for (headers, _, _) in &all {
        assert_eq!(headers["idempotency-key"], run_id.as_str());
        assert_eq!(headers["content-type"], "application/json");
    }
    // The signature checks out with the workspace's secret, which only an admin may read.
    let (status, key) = api.get("/callbacks/signing-key").await;
    assert_eq!(status, 200, "{key}");
    let secret = key["secret"].as_str().unwrap();
    let signature = headers["x-runagents-signature"].to_str().unwrap();
    verify_webhook_signature(secret, signature, raw.as_bytes(), Timestamp::now()).unwrap();
    assert!(
        verify_webhook_signature("wrong", signature, raw.as_bytes(), Timestamp::now()).is_err()
    );
    let (status, member) = api.post("/auth/api-keys", json!({"name": "viewer"})).await;
    assert_eq!(status, 201, "{member}");
    let member_api = api.with_key(member["token"].as_str().unwrap());
    let (status, _) = member_api.get("/callbacks/signing-key").await;
    assert_eq!(status, 403);

    // Both attempts are on the timeline, without the URL's query.
    let mut types = Vec::new();
    for _ in 0..100 {
        types = event_types(&api, &run_id).await;
        if types.iter().any(|t| t == "CALLBACK_DELIVERED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = types.iter().position(|t| t == "CALLBACK_FAILED").unwrap();
    let delivered = types
        .iter()
        .position(|t| t == "CALLBACK_DELIVERED")
        .unwrap();
    let completed = types.iter().position(|t| t == "COMPLETED").unwrap();
    assert!(completed < failed && failed < delivered, "{types:?}");
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let text = events.to_string();
    assert!(!text.contains("receiver-secret"), "{text}");
    assert!(text.contains("/hooks/run-done"), "{text}");
    // Exactly once more is nothing: no further deliveries.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(received.all().len(), 2);
}

#[tokio::test]
async fn a_rejected_run_calls_back_its_error_and_bad_callback_urls_are_refused() {
    let server = server().await;
    let api = server.client();
    payer(&api).await;
    for bad in ["ftp://example.com/x", "not a url", "http://"] {
        let (status, body) = api
            .post(
                "/agents/payer/invoke",
                json!({"message": "hi", "callback_url": bad}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("callback_url"),
            "{body}"
        );
    }
    let (_, runs) = api.get("/runs").await;
    assert!(
        runs.as_array().unwrap().is_empty(),
        "a refused invoke creates no run: {runs}"
    );

    let (url, received) = receiver(0).await;
    let (_, paused) = api
        .post(
            "/agents/payer/invoke",
            json!({"message": "stripe__charge 5 dollars", "callback_url": url}),
        )
        .await;
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let id = pending_request(&api, &run_id).await;
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{id}/reject"),
            json!({"reason": "not today"}),
        )
        .await;
    assert_eq!(status, 200);
    wait_for("the callback", || !received.all().is_empty()).await;
    let (_, body, _) = &received.all()[0];
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["error"], "approval rejected");
    assert_eq!(body["response"], Value::Null);

    // An invoke without a callback_url calls nothing back.
    let (_, answered) = api
        .post("/agents/payer/invoke", json!({"message": "hello"}))
        .await;
    assert_eq!(answered["status"], "COMPLETED", "{answered}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(received.all().len(), 1);
}
