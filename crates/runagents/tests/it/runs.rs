//! `/runs`: the Runs API and its state machine.

use serde_json::json;

use crate::server;

async fn agent(api: &runagents_testkit::server::ApiClient, name: &str) {
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": name, "source_files": {}, "system_prompt": "Help."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn create_list_get_patch_and_events() {
    let server = server().await;
    let api = server.client();
    agent(&api, "billing").await;
    agent(&api, "support").await;
    let (status, run) = api.post("/runs", json!({"agent_id": "billing", "user_id": "alice@example.com", "conversation_id": "conv-1", "initial_message": "refund order 7"})).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            run["status"].as_str(),
            run["agent_id"].as_str(),
            run["conversation_id"].as_str()
        ),
        (Some("RUNNING"), Some("billing"), Some("conv-1"))
    );
    assert_eq!(run["blocked_action_id"], "");
    let (_, other) = api
        .post("/runs", json!({"agent_id": "support", "user_id": "bob"}))
        .await;
    assert_eq!(
        other["conversation_id"], other["id"],
        "a run without a conversation starts its own"
    );

    let (_, events) = api.get(&format!("/runs/{id}/events")).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["RUN_CREATED", "USER_MESSAGE"]);
    assert_eq!(events[1]["data"]["message"], "refund order 7");

    let (status, event) = api
        .post(
            &format!("/runs/{id}/events"),
            json!({"type": "agent_message", "actor": "billing", "data": {"message": "on it"}}),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    assert_eq!(
        (event["seq"].as_i64(), event["type"].as_str()),
        (Some(3), Some("AGENT_MESSAGE"))
    );
    assert_eq!(
        api.post(&format!("/runs/{id}/events"), json!({"type": "HACKED"}))
            .await
            .0,
        400
    );
    assert_eq!(
        api.post(
            &format!("/runs/{id}/events"),
            json!({"type": "AGENT_MESSAGE", "data": [1]})
        )
        .await
        .0,
        400
    );
    let (_, tail) = api.get(&format!("/runs/{id}/events?limit=2")).await;
    assert_eq!(
        tail.as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3]
    );
    let (_, after) = api.get(&format!("/runs/{id}/events?after_seq=2")).await;
    assert_eq!(after.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&format!("/runs/{id}/events?after_seq=x")).await.0,
        400
    );

    // Filters, and the root alias.
    let (_, billing) = api.get("/runs?agent_id=billing").await;
    assert_eq!(billing.as_array().unwrap().len(), 1);
    let (_, all) = api.get("/runs").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let root = reqwest::Client::new()
        .get(format!("{}/runs?status=RUNNING", server.url))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(
        root.json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(api.get("/runs?status=DONE").await.0, 400);

    // The state machine.
    let (status, paused) = api
        .patch(&format!("/runs/{id}"), json!({"status": "PAUSED_APPROVAL"}))
        .await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (200, Some("PAUSED_APPROVAL"))
    );
    let (status, body) = api
        .patch(&format!("/runs/{id}"), json!({"status": "COMPLETED"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            409,
            Some("invalid transition from PAUSED_APPROVAL to COMPLETED")
        )
    );
    assert_eq!(
        api.patch(&format!("/runs/{id}"), json!({"status": "RUNNING"}))
            .await
            .0,
        200
    );
    assert_eq!(
        api.patch(&format!("/runs/{id}"), json!({"status": "COMPLETED"}))
            .await
            .0,
        200
    );
    let (status, body) = api
        .patch(&format!("/runs/{id}"), json!({"status": "RUNNING"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("invalid transition from COMPLETED to RUNNING"))
    );
    assert_eq!(
        api.patch(&format!("/runs/{id}"), json!({"status": "PAUSED_CONSENT"}))
            .await
            .0,
        400
    );
    assert_eq!(api.patch(&format!("/runs/{id}"), json!({})).await.0, 400);
    let (_, events) = api.get(&format!("/runs/{id}/events")).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "USER_MESSAGE",
            "AGENT_MESSAGE",
            "APPROVAL_REQUIRED",
            "RESUMED",
            "COMPLETED"
        ]
    );
    let (_, done) = api.get("/runs?status=COMPLETED").await;
    assert_eq!(done[0]["id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn bad_creates_and_unknown_runs() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api.get("/runs/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            404,
            Some("run 00000000-0000-0000-0000-000000000000 not found")
        )
    );
    assert_eq!(api.get("/runs/nope/events").await.0, 404);
    assert_eq!(
        api.post("/runs/nope/events", json!({"type": "AGENT_MESSAGE"}))
            .await
            .0,
        404
    );
    assert_eq!(
        api.patch("/runs/nope", json!({"status": "FAILED"})).await.0,
        404
    );
    assert_eq!(api.post("/runs", json!({"user_id": "a"})).await.0, 400);
    assert_eq!(
        api.post("/runs", json!({"agent_id": "ghost", "user_id": "a"}))
            .await
            .0,
        400
    );
    assert_eq!(
        api.post("/runs", json!({"agent_id": 5, "user_id": "a"}))
            .await
            .0,
        400
    );
    assert_eq!(api.get("/runs").await.1, json!([]));
}

#[tokio::test]
async fn runs_are_workspace_scoped() {
    let server = server().await;
    let api = server.client();
    agent(&api, "billing").await;
    let (_, run) = api
        .post("/runs", json!({"agent_id": "billing", "user_id": "alice"}))
        .await;
    let id = run["id"].as_str().unwrap();
    let (_, team) = api.post("/workspaces", json!({"name": "team"})).await;
    let other = api.with_key(team["token"].as_str().unwrap());
    assert_eq!(other.get(&format!("/runs/{id}")).await.0, 404);
    assert_eq!(other.get(&format!("/runs/{id}/events")).await.0, 404);
    assert_eq!(
        other
            .post(
                &format!("/runs/{id}/events"),
                json!({"type": "AGENT_MESSAGE"})
            )
            .await
            .0,
        404
    );
    assert_eq!(other.get("/runs").await.1, json!([]));
}
