//! The governed write path end to end: reads allowed, writes need approval; each approval
//! scope; dedupe; rejection; window expiry; a crash between approval and replay; and who may
//! decide (the approver groups of the routing rule) from the API and the console.

use std::time::Duration;

use runagents_testkit::server::ApiClient;
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

    let (status, approved) = approve(
        &api,
        &request_id,
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
    let (status, again) = approve(
        &api,
        &request_id,
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
    let (status, body) = approve(&api, &request_id, json!({"scope": "run"})).await;
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
    let (status, approved) = approve(&api, request_id, json!({"scope": "run"})).await;
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
    // The rest of the run ends when the run does: the approval expires and covers nothing.
    let (status, _) = api
        .patch(
            &format!("/runs/{}", s.run_id),
            json!({"status": "COMPLETED"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, approval) = api.get(&format!("/approvals/requests/{request_id}")).await;
    assert_eq!(approval["status"], "EXPIRED", "{approval}");
    refused_as_ended(&s).await;
    assert_eq!(
        s.upstream
            .seen()
            .iter()
            .filter(|seen| seen.method == "POST")
            .count(),
        2
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
    let (status, approved) = approve(
        &api,
        &request_id,
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
        approve(
            &api,
            &request_id,
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
async fn a_run_ended_while_it_waits_makes_no_write_and_its_request_expires() {
    let s = setup().await;
    let api = s.server.client();
    let request_id = blocked(&s, &s.run_id, 3).await;
    let (_, raised) = api.get(&format!("/approvals/requests/{request_id}")).await;
    let action_id = raised["action_id"].as_str().unwrap();
    let (status, _) = api
        .patch(&format!("/runs/{}", s.run_id), json!({"status": "FAILED"}))
        .await;
    assert_eq!(status, 200);
    let (_, request) = api.get(&format!("/approvals/requests/{request_id}")).await;
    assert_eq!(request["status"], "EXPIRED", "{request}");
    let (_, action) = api
        .get(&format!("/runs/{}/actions/{action_id}", s.run_id))
        .await;
    assert_eq!(action["status"], "EXPIRED", "{action}");
    let (status, late) = approve(&api, &request_id, json!({"scope": "once"})).await;
    assert_eq!(status, 409, "{late}");
    let (_, pending) = api.get("/approvals/requests?status=PENDING").await;
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.upstream.seen().is_empty(),
        "the write of the ended run never reached the upstream"
    );
    assert_eq!(
        api.get(&format!("/runs/{}", s.run_id)).await.1["status"],
        "FAILED"
    );
    // The agent going on under the ended run raises nothing new.
    refused_as_ended(&s).await;
    let (_, all) = api.get("/approvals/requests?status=ALL").await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert!(s.upstream.seen().is_empty());
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
    approve(&server.client(), &request_id, json!({})).await;
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

/// Two replicas on one PostgreSQL: A serves the API only (`--workers off`) and B's workers
/// look for work on their own only once a minute. An approval decided on A is replayed by B
/// at once: the transaction that queues the job announces it and B's listener wakes its
/// worker. B listens again after losing its listening connection.
#[tokio::test]
async fn an_approval_on_a_replica_without_workers_is_replayed_by_another_at_once() {
    use runagents_testkit::{Backend, TestServer};
    let database = runagents_testkit::postgres::fresh_database().await.unwrap();
    let master = (
        "RUNAGENTS_MASTER_KEY",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    );
    let first = TestServer::start_with_env(
        Backend::Postgres(database.clone()),
        &[],
        &[master, ("RUNAGENTS_WORKERS", "off")],
    )
    .await;
    let second = TestServer::start_with_env(
        Backend::Postgres(database.clone()),
        &[],
        &[master, ("RUNAGENTS_WORKER_IDLE_POLL_MS", "60000")],
    )
    .await;
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
    let (_, credential) = a.send("POST", "/agents/billing/credentials", None).await;
    let tool_url = credential["tool_urls"]["TOOL_URL_STRIPE"]
        .as_str()
        .unwrap()
        .to_owned();
    let writes = || {
        upstream
            .seen()
            .into_iter()
            .filter(|seen| seen.method == "POST")
            .count()
    };
    for (round, amount) in [(1, 9), (2, 10)] {
        if round == 2 {
            // B's listening connection is lost: it listens again (and looks for work at once).
            let ended = runagents_testkit::postgres::terminate_listeners(&database)
                .await
                .unwrap();
            assert_eq!(ended, 1, "only B listens: A runs no workers");
        }
        let (_, run) = a
            .post("/runs", json!({"agent_id": "billing", "user_id": "alice"}))
            .await;
        let run_id = run["id"].as_str().unwrap().to_owned();
        let (status, blocked) = call(
            "POST",
            &format!("{tool_url}/v1/charges"),
            Some(&run_id),
            Some(json!({"amount": amount})),
        )
        .await;
        assert_eq!(status, 403, "{blocked}");
        let request_id = blocked["request_id"].as_str().unwrap();
        let approved_at = std::time::Instant::now();
        let (status, approved) = approve(&a, request_id, json!({})).await;
        assert_eq!(status, 200, "{approved}");
        let mut status = Value::Null;
        for _ in 0..400 {
            status = b.get(&format!("/runs/{run_id}")).await.1["status"].clone();
            if status == "RUNNING" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let waited = approved_at.elapsed();
        assert_eq!(
            status, "RUNNING",
            "round {round}: not replayed after {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "round {round}: replayed after {waited:?}, not at once (B polls once a minute)"
        );
        assert_eq!(writes(), round, "one execution per approval");
    }
    assert!(
        first.output().contains("background workers off"),
        "A replays nothing: {}",
        first.output()
    );
}

/// The release policy with an approval rule that only `finance` may decide.
pub(crate) async fn finance_rule(s: &Setup, matching: &str) {
    let (status, body) = s.server.client().put("/policies/stripe-guarded", json!({"spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{}/*", s.upstream_url)},
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{}/*", s.upstream_url)}],
        "approvals": [{"name": "charges", "operations": ["POST"],
            "approvers": {"groups": ["finance", "treasury"], "match": matching}}]}})).await;
    assert_eq!(status, 200, "{body}");
}

/// An API key of the workspace for `subject` holding `groups` (made by the admin).
pub(crate) async fn key_for(s: &Setup, name: &str, subject: &str, groups: &[&str]) -> String {
    let (status, issued) = s
        .server
        .client()
        .post(
            "/auth/api-keys",
            json!({"name": name, "subject": subject, "groups": groups}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["key"]["subject"], subject);
    assert_eq!(issued["key"]["groups"], json!(groups));
    issued["token"].as_str().unwrap().to_owned()
}

/// A write under the setup's run once it has ended: refused, nothing raised.
async fn refused_as_ended(s: &Setup) {
    let (status, refused) = call(
        "POST",
        &charges(s),
        Some(&s.run_id),
        Some(json!({"amount": 4})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("RUN_ENDED")),
        "{refused}"
    );
}

/// `POST /approvals/requests/{request_id}/approve` with `body`.
async fn approve(api: &ApiClient, request_id: &str, body: Value) -> (u16, Value) {
    api.post(&format!("/approvals/requests/{request_id}/approve"), body)
        .await
}

async fn blocked(s: &Setup, run_id: &str, amount: u64) -> String {
    let (status, body) = call(
        "POST",
        &charges(s),
        Some(run_id),
        Some(json!({"amount": amount})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("APPROVAL_REQUIRED")),
        "{body}"
    );
    body["request_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_rules_approver_groups_decide_from_the_api_and_the_console() {
    let s = setup().await;
    finance_rule(&s, "any").await;
    let admin = s.server.client();
    let bob_key = key_for(&s, "bob-laptop", "bob@example.com", &["sre"]).await;
    let ann_key = key_for(&s, "ann-laptop", "ann@example.com", &["finance"]).await;
    let bob = admin.with_key(&bob_key);
    let ann = admin.with_key(&ann_key);
    // Keys list their owners; the default owner is the key's name.
    let (_, keys) = admin.get("/auth/api-keys").await;
    let subjects: Vec<(&str, &Value)> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["subject"].as_str().unwrap(), &k["groups"]))
        .collect();
    assert!(
        subjects.contains(&("bootstrap-admin", &json!([]))),
        "{keys}"
    );
    assert!(
        subjects.contains(&("ann@example.com", &json!(["finance"]))),
        "{keys}"
    );
    // Groups are authority: a member gives only groups it holds.
    let (status, body) = bob
        .post(
            "/auth/api-keys",
            json!({"name": "bob-2", "groups": ["finance"]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("\"finance\""),
        "{body}"
    );
    let (status, body) = bob
        .post(
            "/auth/api-keys",
            json!({"name": "bob-2", "groups": ["sre"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = bob
        .post(
            "/approval-connectors",
            json!({"name": "sneaky", "endpoint": "https://x.example/h",
            "link_approver": {"subject": "bot", "groups": ["treasury"]}}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let request_id = blocked(&s, &s.run_id, 100).await;
    let (_, pending) = admin
        .get(&format!("/approvals/requests/{request_id}"))
        .await;
    assert_eq!(
        pending["routing"]["approvers"]["groups"],
        json!(["finance", "treasury"])
    );
    // Outside the groups: 403 naming them, from approve and reject, and nothing changes.
    for (who, client) in [("bob@example.com", &bob), ("bootstrap-admin", &admin)] {
        let (status, body) = approve(client, &request_id, json!({"scope": "once"})).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            body["error"],
            format!(
                "only approvers in any of the groups \"finance\", \"treasury\" may decide this request; {who} is in none of them (approval rule \"charges\" of policy \"stripe-guarded\")"
            ),
        );
        let (status, _) = client
            .post(
                &format!("/approvals/requests/{request_id}/reject"),
                json!({"reason": "no"}),
            )
            .await;
        assert_eq!(status, 403);
    }
    // The run's own approve endpoint is the same decision path.
    let (_, request) = admin
        .get(&format!("/approvals/requests/{request_id}"))
        .await;
    let (status, _) = bob
        .post(
            &format!(
                "/runs/{}/actions/{}/approve",
                s.run_id,
                request["action_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, still) = admin
        .get(&format!("/approvals/requests/{request_id}"))
        .await;
    assert_eq!(
        (still["status"].as_str(), still["approver_id"].as_str()),
        (Some("PENDING"), Some(""))
    );
    assert!(
        !event_types(&s, &s.run_id)
            .await
            .iter()
            .any(|t| t == "APPROVED" || t == "REJECTED")
    );
    assert_eq!(
        admin.get(&format!("/runs/{}", s.run_id)).await.1["status"],
        "PAUSED_APPROVAL"
    );

    // In the group: decided, recorded with who, how and why.
    let (status, approved) = approve(
        &ann,
        &request_id,
        json!({"scope": "once", "reason": "budgeted"}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        (
            approved["approver_id"].as_str(),
            approved["channel"].as_str(),
            approved["reason"].as_str()
        ),
        (Some("ann@example.com"), Some("api"), Some("budgeted"))
    );
    wait_for_status(&s, &s.run_id, "RUNNING").await;
    let (_, events) = admin.get(&format!("/runs/{}/events", s.run_id)).await;
    let event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "APPROVED")
        .unwrap()
        .clone();
    let data = &event["data"];
    assert_eq!(event["actor"], "ann@example.com", "{event}");
    assert_eq!(data["approver_id"], "ann@example.com", "{event}");
    assert_eq!(data["channel"], "api", "{event}");
    assert_eq!(data["reason"], "budgeted", "{event}");

    // The console acts as the signed-in key: refused for bob, recorded as `console` for ann.
    let run_id = new_run(&s, "carol@example.com").await;
    let second = blocked(&s, &run_id, 200).await;
    let mut browser = crate::console::Browser::new(&s.server);
    let (_, _, session) = browser.sign_in(&bob_key).await;
    assert_eq!(
        (session["subject"].as_str(), &session["groups"]),
        (Some("bob@example.com"), &json!(["sre"]))
    );
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/approvals/requests/{second}/reject");
    let (status, _, body) = browser
        .send("POST", &path, Some(json!({"reason": "no"})), Some(&csrf))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("bob@example.com is in none of them"),
        "{body}"
    );
    let mut browser = crate::console::Browser::new(&s.server);
    let (_, _, session) = browser.sign_in(&ann_key).await;
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let (status, _, rejected) = browser
        .send(
            "POST",
            &path,
            Some(json!({"reason": "not this month"})),
            Some(&csrf),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["approver_id"].as_str(),
            rejected["channel"].as_str()
        ),
        (Some("REJECTED"), Some("ann@example.com"), Some("console"))
    );
    // Rejecting again is the same decision: 200, still one REJECTED event.
    let (status, _, again) = browser
        .send("POST", &path, Some(json!({})), Some(&csrf))
        .await;
    assert_eq!(
        (status, again["reason"].as_str()),
        (200, Some("not this month"))
    );
    let rejections = event_types(&s, &run_id)
        .await
        .into_iter()
        .filter(|t| t == "REJECTED")
        .count();
    assert_eq!(rejections, 1);
}

#[tokio::test]
async fn match_all_needs_every_group() {
    let s = setup().await;
    finance_rule(&s, "all").await;
    let ann = s
        .server
        .client()
        .with_key(&key_for(&s, "ann", "ann@example.com", &["finance"]).await);
    let both = s
        .server
        .client()
        .with_key(&key_for(&s, "cfo", "cfo@example.com", &["treasury", "finance"]).await);
    let request_id = blocked(&s, &s.run_id, 100).await;
    let path = format!("/approvals/requests/{request_id}/approve");
    let (status, body) = ann.post(&path, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("ann@example.com is not in \"treasury\""),
        "{body}"
    );
    let (status, body) = both.post(&path, json!({})).await;
    assert_eq!(
        (status, body["approver_id"].as_str()),
        (200, Some("cfo@example.com"))
    );
}

#[tokio::test]
async fn pending_requests_of_deleted_agents_are_stale_and_left_out_of_the_queue() {
    let s = setup().await;
    let api = s.server.client();
    let (_, blocked) = call(
        "POST",
        &charges(&s),
        Some(&s.run_id),
        Some(json!({"amount": 1})),
    )
    .await;
    let stale_id = blocked["request_id"].as_str().unwrap().to_owned();
    // Decided history of the same agent, and a request raised by hand outside any run.
    let decided_run = new_run(&s, "bob").await;
    let (_, other) = call(
        "POST",
        &charges(&s),
        Some(&decided_run),
        Some(json!({"amount": 2})),
    )
    .await;
    let decided_id = other["request_id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{decided_id}/reject"),
            json!({"reason": "no"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, manual) = api
        .post(
            "/approvals/requests",
            json!({"subject": "carol", "tool_id": "stripe", "agent_id": "billing"}),
        )
        .await;
    assert_eq!(status, 201, "{manual}");
    let manual_id = manual["id"].as_str().unwrap().to_owned();

    let ids = |list: &Value| -> Vec<String> {
        let mut ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    let (_, pending) = api.get("/approvals/requests").await;
    assert_eq!(ids(&pending), sorted(vec![&stale_id, &manual_id]));
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["stale"] == false),
        "{pending}"
    );

    assert_eq!(api.send("DELETE", "/agents/billing", None).await.0, 200);
    let (_, pending) = api.get("/approvals/requests").await;
    assert_eq!(
        ids(&pending),
        sorted(vec![&manual_id]),
        "the deleted agent's request is hidden"
    );
    let (_, all) = api.get("/approvals/requests?status=ALL").await;
    assert_eq!(
        ids(&all),
        sorted(vec![&decided_id, &manual_id]),
        "decided history stays"
    );
    let (_, with_stale) = api.get("/approvals/requests?include_stale=true").await;
    assert_eq!(ids(&with_stale), sorted(vec![&stale_id, &manual_id]));
    let marked = with_stale
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == stale_id.as_str())
        .unwrap();
    assert_eq!(marked["stale"], true);
    // Still readable by id (the audit trail), and the same on the root alias.
    assert_eq!(
        api.get(&format!("/approvals/requests/{stale_id}")).await.0,
        200
    );
    let root: Value = reqwest::Client::new()
        .get(format!("{}/approvals/requests", s.server.url))
        .header("X-RunAgents-API-Key", &s.server.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&root), sorted(vec![&manual_id]));

    // An agent deployed again under the same name is a new agent: the old run's request
    // stays stale.
    let (status, _) = api
        .post("/deploy", json!({"agent_name": "billing", "source_files": {}, "required_tools": ["stripe"], "policies": ["stripe-guarded"]}))
        .await;
    assert_eq!(status, 201);
    let (_, pending) = api.get("/approvals/requests").await;
    assert_eq!(ids(&pending), sorted(vec![&manual_id]));
    assert_eq!(
        api.get("/approvals/requests?include_stale=maybe").await.0,
        400
    );
}
