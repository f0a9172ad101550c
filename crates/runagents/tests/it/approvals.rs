//! The governed write path end to end: reads allowed, writes need approval; each approval
//! scope; dedupe; rejection; window expiry; and a crash between approval and replay.

use std::time::Duration;

use serde_json::{Value, json};

use crate::egress::{Setup, call, setup};

/// Waits up to 15 s: after a crash, a claimed job moves on when its lease (6 s) runs out.
async fn wait_for_status(s: &Setup, run_id: &str, status: &str) -> Value {
    for _ in 0..600 {
        let (_, run) = s.server.client().get(&format!("/runs/{run_id}")).await;
        if run["status"] == status {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} never reached {status}");
}

async fn event_types(s: &Setup, run_id: &str) -> Vec<String> {
    let (_, events) = s
        .server
        .client()
        .get(&format!("/runs/{run_id}/events"))
        .await;
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn new_run(s: &Setup, user: &str) -> String {
    let (_, run) = s
        .server
        .client()
        .post("/runs", json!({"agent_id": "billing", "user_id": user}))
        .await;
    run["id"].as_str().unwrap().to_owned()
}

fn charges(s: &Setup) -> String {
    format!("{}/v1/charges", s.tool_url)
}

#[tokio::test]
async fn once_blocks_dedupes_replays_exactly_once_and_serves_the_result() {
    let s = setup().await;
    let api = s.server.client();
    // Reads pass.
    assert_eq!(
        call(
            "GET",
            &format!("{}/v1/balance", s.tool_url),
            Some(&s.run_id),
            None
        )
        .await
        .0,
        200
    );
    // The write is blocked with everything the runtime needs.
    let (status, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 100})),
    )
    .await;
    assert_eq!(status, 403, "{blocked}");
    assert_eq!(
        (blocked["code"].as_str(), blocked["error"].as_str()),
        (Some("APPROVAL_REQUIRED"), Some("APPROVAL_REQUIRED"))
    );
    assert_eq!(
        (
            blocked["tool"].as_str(),
            blocked["capability"].as_str(),
            blocked["run_id"].as_str()
        ),
        (Some("stripe"), Some("charge"), Some(s.run_id.as_str()))
    );
    let action_id = blocked["action_id"].as_str().unwrap().to_owned();
    let request_id = blocked["request_id"].as_str().unwrap().to_owned();
    let run = wait_for_status(&s, &s.run_id, "PAUSED_APPROVAL").await;
    assert_eq!(run["blocked_action_id"], action_id.as_str());
    // The same call again: the same request.
    let (_, again) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 100})),
    )
    .await;
    assert_eq!(again["request_id"], request_id.as_str());
    let (_, pending) = api.get("/approvals/requests").await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let request = &pending[0];
    assert_eq!(
        (
            request["agent_id"].as_str(),
            request["tool_id"].as_str(),
            request["subject"].as_str()
        ),
        (Some("billing"), Some("stripe"), Some("alice@example.com"))
    );
    assert_eq!(
        (request["tool_method"].as_str(), request["status"].as_str()),
        (Some("POST"), Some("PENDING"))
    );
    assert_eq!(request["payload_hash"].as_str().unwrap().len(), 64);
    let (_, same) = api.get(&format!("/governance/requests/{request_id}")).await;
    assert_eq!(same["action_id"], action_id.as_str());
    assert!(
        s.upstream.seen().len() == 1,
        "only the read reached the upstream so far"
    );

    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "once", "reason": "looks right"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        (
            approved["status"].as_str(),
            approved["scope"].as_str(),
            approved["approver_id"].as_str()
        ),
        (Some("APPROVED"), Some("once"), Some("bootstrap-admin"))
    );
    wait_for_status(&s, &s.run_id, "RUNNING").await;
    let writes: Vec<_> = s
        .upstream
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST")
        .collect();
    assert_eq!(
        writes.len(),
        1,
        "the approved write reached the upstream once"
    );
    assert_eq!(writes[0].body, r#"{"amount":100}"#);
    assert_eq!(writes[0].headers["idempotency-key"], action_id.as_str());
    assert_eq!(
        writes[0].headers["authorization"],
        "Bearer sk_egress_secret"
    );
    assert_eq!(writes[0].headers["x-end-user-id"], "alice@example.com");
    let types = event_types(&s, &s.run_id).await;
    for expected in ["APPROVAL_REQUIRED", "APPROVED", "TOOL_CALLED", "RESUMED"] {
        assert!(
            types.contains(&expected.to_owned()),
            "{expected} in {types:?}"
        );
    }
    // The agent's retry gets the recorded answer, not a second write.
    let response = reqwest::Client::new()
        .post(charges(&s))
        .header("X-Run-ID", &s.run_id)
        .json(&json!({"amount": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-runagents-replayed"], "true");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": true}));
    assert_eq!(
        s.upstream
            .seen()
            .iter()
            .filter(|seen| seen.method == "POST")
            .count(),
        1
    );
    // Once is once: another write needs another approval.
    let (status, other) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 200})),
    )
    .await;
    assert_eq!(
        (status, other["code"].as_str()),
        (403, Some("APPROVAL_REQUIRED"))
    );
    assert_ne!(other["request_id"], request_id.as_str());
    // The same decision again (a double click) answers the decided request and records
    // nothing; a different one cannot replace it.
    let (status, again) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "once", "reason": "clicked twice"}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["approver_id"].as_str(),
            again["reason"].as_str(),
            again["channel"].as_str()
        ),
        (Some("bootstrap-admin"), Some("looks right"), Some("api"))
    );
    let approvals = event_types(&s, &s.run_id)
        .await
        .into_iter()
        .filter(|t| t == "APPROVED")
        .count();
    assert_eq!(approvals, 1, "one decision");
    let (status, body) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "run"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("is already approved by bootstrap-admin"),
        "{body}"
    );
    assert_eq!(
        api.post(
            &format!("/approvals/requests/{request_id}/reject"),
            json!({})
        )
        .await
        .0,
        409
    );
    assert_eq!(
        api.post("/approvals/requests/req-nope/approve", json!({}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn run_scope_covers_matching_writes_for_the_rest_of_the_run_only() {
    let s = setup().await;
    let api = s.server.client();
    let (_, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 1})),
    )
    .await;
    let request_id = blocked["request_id"].as_str().unwrap();
    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "run"}),
        )
        .await;
    assert_eq!((status, approved["scope"].as_str()), (200, Some("run")));
    wait_for_status(&s, &s.run_id, "RUNNING").await;
    let (status, _) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 2})),
    )
    .await;
    assert_eq!(status, 200, "a matching write in the same run passes");
    assert_eq!(
        s.upstream
            .seen()
            .iter()
            .filter(|seen| seen.method == "POST")
            .count(),
        2
    );
    let other_run = new_run(&s, "alice@example.com").await;
    let (status, body) = call(
        "POST",
        &charges(&s),
        Some(&other_run),
        Some(json!({"amount": 3})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("APPROVAL_REQUIRED")),
        "another run needs its own approval"
    );
}

#[tokio::test]
async fn window_scope_covers_the_user_agent_and_tool_until_it_expires() {
    let s = setup().await;
    let api = s.server.client();
    let (_, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 1})),
    )
    .await;
    let request_id = blocked["request_id"].as_str().unwrap().to_owned();
    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "window", "duration": "2s"}),
        )
        .await;
    assert_eq!(
        (
            status,
            approved["scope"].as_str(),
            approved["duration"].as_str()
        ),
        (200, Some("agent_user_ttl"), Some("2s")),
        "{approved}"
    );
    assert!(approved["expires_at"].as_str().unwrap().ends_with('Z'));
    wait_for_status(&s, &s.run_id, "RUNNING").await;
    let alice = new_run(&s, "alice@example.com").await;
    assert_eq!(
        call(
            "POST",
            &charges(&s),
            Some(&alice),
            Some(json!({"amount": 2}))
        )
        .await
        .0,
        200,
        "same user, new run: covered"
    );
    let bob = new_run(&s, "bob@example.com").await;
    assert_eq!(
        call("POST", &charges(&s), Some(&bob), Some(json!({"amount": 3})))
            .await
            .0,
        403,
        "another user is not"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = new_run(&s, "alice@example.com").await;
    assert_eq!(
        call(
            "POST",
            &charges(&s),
            Some(&later),
            Some(json!({"amount": 4}))
        )
        .await
        .0,
        403,
        "the window has closed"
    );
    let (_, expired) = api.get("/approvals/requests?status=EXPIRED").await;
    assert_eq!(expired[0]["id"], request_id.as_str());
    assert_eq!(
        api.post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "once", "duration": "1h"})
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn rejection_fails_the_run_and_the_write_never_happens() {
    let s = setup().await;
    let api = s.server.client();
    let (_, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 1})),
    )
    .await;
    let request_id = blocked["request_id"].as_str().unwrap();
    let (status, rejected) = api
        .post(
            &format!("/approvals/requests/{request_id}/reject"),
            json!({"reason": "not this month"}),
        )
        .await;
    assert_eq!(
        (
            status,
            rejected["status"].as_str(),
            rejected["reason"].as_str()
        ),
        (200, Some("REJECTED"), Some("not this month"))
    );
    let run = wait_for_status(&s, &s.run_id, "FAILED").await;
    assert_eq!(run["status"], "FAILED");
    let types = event_types(&s, &s.run_id).await;
    assert!(
        types.ends_with(&["REJECTED".to_owned(), "FAILED".to_owned()]),
        "{types:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.upstream.seen().is_empty(),
        "the rejected write never reached the upstream"
    );
    let (_, all) = api.get("/approvals/requests?status=ALL").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(api.get("/approvals/requests?status=MAYBE").await.0, 400);
}

#[tokio::test]
async fn requests_can_be_raised_by_hand_with_dedupe() {
    let s = setup().await;
    let api = s.server.client();
    let body = json!({"subject": "alice@example.com", "tool_id": "stripe", "agent_id": "billing", "run_id": s.run_id, "duration": "4h",
        "capability": "charge", "payload_hash": "abc123", "tool_method": "POST", "tool_url": "https://api.stripe.com/v1/charges"});
    let (status, first) = api.post("/governance/requests", body.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (first["status"].as_str(), first["duration"].as_str()),
        (Some("PENDING"), Some("4h"))
    );
    let (status, second) = api.post("/governance/requests", body).await;
    assert_eq!((status, second["id"].clone()), (200, first["id"].clone()));
    assert_eq!(
        api.post("/governance/requests", json!({"subject": "a"}))
            .await
            .0,
        400
    );
    assert_eq!(
        api.post(
            "/governance/requests",
            json!({"subject": "a", "tool_id": "t", "duration": "soon"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.post(
            "/governance/requests",
            json!({"subject": "a", "tool_id": "t", "run_id": "nope"})
        )
        .await
        .0,
        404
    );
    let (status, approved) = api
        .post(
            &format!(
                "/governance/requests/{}/approve",
                first["id"].as_str().unwrap()
            ),
            json!({"duration": "1h"}),
        )
        .await;
    assert_eq!(
        (status, approved["scope"].as_str()),
        (200, Some("agent_user_ttl"))
    );
}

#[tokio::test]
async fn a_crash_between_approval_and_replay_loses_nothing() {
    let s = setup().await;
    let (_, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 7})),
    )
    .await;
    let request_id = blocked["request_id"].as_str().unwrap().to_owned();
    // Killed while paused: the request and the pause survive.
    let Setup {
        server,
        upstream,
        upstream_url,
        tool_url,
        credential,
        run_id,
    } = s;
    let server = server.crash_and_restart().await;
    let (_, pending) = server.client().get("/approvals/requests").await;
    assert_eq!(pending[0]["id"], request_id.as_str());
    // Approve and kill at once: the resume job is durable, so the write still happens after restart.
    server
        .client()
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({}),
        )
        .await;
    let server = server.crash_and_restart().await;
    let s = Setup {
        server,
        upstream,
        upstream_url,
        tool_url,
        credential,
        run_id,
    };
    wait_for_status(&s, &s.run_id, "RUNNING").await;
    let writes: Vec<_> = s
        .upstream
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST")
        .collect();
    assert!(!writes.is_empty() && writes.len() <= 2, "{writes:?}");
    let keys: std::collections::HashSet<_> = writes
        .iter()
        .map(|w| w.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every delivery carries the same idempotency key, so the write applies once"
    );
}

/// Two platform replicas on one PostgreSQL: both approve the same request at once and both
/// run resume workers; the write reaches the upstream exactly once.
#[tokio::test]
async fn two_replicas_race_to_approve_and_resume_one_action() {
    use runagents_testkit::{Backend, TestServer};
    let database = runagents_testkit::postgres::fresh_database().await.unwrap();
    let master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let env = [("RUNAGENTS_MASTER_KEY", master)];
    let first = TestServer::start_with_env(Backend::Postgres(database.clone()), &[], &env).await;
    let second = TestServer::start_with_env(Backend::Postgres(database), &[], &env).await;
    assert!(second.admin_key.is_empty(), "only one replica bootstraps");
    let a = first.client();
    let b = second.client().with_key(&first.admin_key);

    let (upstream_url, upstream) = crate::egress::fake_upstream().await;
    a.post(
        "/tools",
        json!({"name": "stripe", "spec": {"connection": {"baseUrl": upstream_url}}}),
    )
    .await;
    a.post("/policies", json!({"name": "p", "spec": {"policies": [{"permission": "approval_required", "operations": ["POST"]}]}})).await;
    a.post("/deploy", json!({"agent_name": "billing", "source_files": {}, "required_tools": ["stripe"], "policies": ["p"]})).await;
    let (_, credential) = b.send("POST", "/agents/billing/credentials", None).await;
    let (_, run) = a
        .post("/runs", json!({"agent_id": "billing", "user_id": "alice"}))
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    // The agent reaches replica B's agent plane; the request is visible on both.
    let tool_url = credential["tool_urls"]["TOOL_URL_STRIPE"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, blocked) = call(
        "POST",
        &format!("{tool_url}/v1/charges"),
        Some(&run_id),
        Some(json!({"amount": 9})),
    )
    .await;
    assert_eq!(status, 403, "{blocked}");
    let request_id = blocked["request_id"].as_str().unwrap().to_owned();
    let path = format!("/approvals/requests/{request_id}/approve");
    let (one, two) = tokio::join!(a.post(&path, json!({})), b.post(&path, json!({})));
    // The same decision twice is one decision: both answer the approved request.
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    assert_eq!(one.1["status"], "APPROVED");
    assert_eq!(two.1["status"], "APPROVED");
    for _ in 0..200 {
        if a.get(&format!("/runs/{run_id}")).await.1["status"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let writes = upstream
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST")
        .count();
    assert_eq!(writes, 1, "one execution across both replicas");
    let (_, events) = b.get(&format!("/runs/{run_id}/events")).await;
    let count = |kind: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .count()
    };
    assert_eq!((count("RESUMED"), count("APPROVED")), (1, 1));
}
