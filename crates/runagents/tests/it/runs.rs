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
    let (status, alices) = api.get("/runs?user_id=alice%40example.com").await;
    assert_eq!(status, 200);
    let alices = alices.as_array().unwrap();
    assert_eq!(
        (alices.len(), alices[0]["id"].as_str()),
        (1, Some(id.as_str()))
    );
    let (_, bobs) = api.get("/runs?user_id=bob&agent_id=billing").await;
    assert_eq!(bobs.as_array().unwrap().len(), 0, "filters combine");
    let (_, anyone) = api.get("/runs?user_id=").await;
    assert_eq!(
        anyone.as_array().unwrap().len(),
        2,
        "an empty user is no filter"
    );
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

#[tokio::test]
async fn run_actions_api_pauses_checks_hashes_and_approves() {
    let server = server().await;
    let api = server.client();
    agent(&api, "billing").await;
    let (_, run) = api
        .post("/runs", json!({"agent_id": "billing", "user_id": "alice"}))
        .await;
    let id = run["id"].as_str().unwrap();
    let (status, action) = api
        .post(
            &format!("/runs/{id}/actions"),
            json!({"tool_id": "stripe", "capability": "charge", "payload_hash": "h-1"}),
        )
        .await;
    assert_eq!(status, 201, "{action}");
    assert_eq!(
        (action["status"].as_str(), action["tool_id"].as_str()),
        (Some("BLOCKED"), Some("stripe"))
    );
    let action_id = action["action_id"].as_str().unwrap();
    let (_, paused) = api.get(&format!("/runs/{id}")).await;
    assert_eq!(
        (
            paused["status"].as_str(),
            paused["blocked_action_id"].as_str()
        ),
        (Some("PAUSED_APPROVAL"), Some(action_id))
    );
    let (status, body) = api
        .post(&format!("/runs/{id}/actions"), json!({"tool_id": "stripe"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            409,
            Some("run is PAUSED_APPROVAL, must be RUNNING to create actions")
        )
    );
    assert_eq!(
        api.get("/approvals/requests")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1,
        "the action joins the approvals queue"
    );

    let (status, body) = api
        .post(
            &format!("/runs/{id}/actions/{action_id}/approve"),
            json!({"payload_hash": "tampered"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("payload_hash mismatch"))
    );
    let (status, approved) = api
        .post(
            &format!("/runs/{id}/actions/{action_id}/approve"),
            json!({"payload_hash": "h-1"}),
        )
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("APPROVED")),
        "{approved}"
    );
    let (status, body) = api
        .post(
            &format!("/runs/{id}/actions/{action_id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("action is APPROVED, must be BLOCKED to approve"))
    );
    assert_eq!(
        api.get(&format!("/runs/{id}/actions/{action_id}")).await.1["status"],
        "APPROVED"
    );
    assert_eq!(
        api.get(&format!("/runs/{id}/actions/act-nope")).await.0,
        404
    );
    assert_eq!(
        api.post(&format!("/runs/{id}/actions"), json!({})).await.0,
        409
    );
    // The client resumes the run itself.
    assert_eq!(
        api.patch(&format!("/runs/{id}"), json!({"status": "RUNNING"}))
            .await
            .0,
        200
    );
    assert_eq!(
        api.post(&format!("/runs/{id}/actions"), json!({})).await.0,
        400
    );
}

#[tokio::test]
async fn audit_export_as_ndjson_and_splunk_hec() {
    let server = server().await;
    let api = server.client();
    agent(&api, "billing").await;
    let (_, run) = api
        .post(
            "/runs",
            json!({"agent_id": "billing", "user_id": "alice", "initial_message": "hi"}),
        )
        .await;
    let id = run["id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let get = |query: &str| {
        http.get(server.api(&format!("/runs/{id}/events?{query}")))
            .header("X-RunAgents-API-Key", &server.admin_key)
            .send()
    };
    let ndjson = get("format=ndjson").await.unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = ndjson
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (
            lines[0]["type"].as_str(),
            lines[0]["agent_id"].as_str(),
            lines[0]["user_id"].as_str()
        ),
        (Some("RUN_CREATED"), Some("billing"), Some("alice"))
    );
    let hec = get("format=ndjson&schema=splunk_hec")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(hec.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            first["sourcetype"].as_str(),
            first["event"]["type"].as_str()
        ),
        (Some("runagents:run_event"), Some("RUN_CREATED"))
    );
    assert!(first["time"].as_f64().unwrap() > 1.7e9);
    assert_eq!(get("format=xml").await.unwrap().status(), 400);
    assert_eq!(get("schema=elk").await.unwrap().status(), 400);
}

/// Reads SSE frames from a response until `stop` says so; returns (event, data) pairs.
async fn read_sse(
    mut response: reqwest::Response,
    stop: impl Fn(&[(String, serde_json::Value)]) -> bool,
) -> Vec<(String, serde_json::Value)> {
    let mut frames = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !stop(&frames) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("stream stalled"))
            .unwrap();
        let Some(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut event, mut data) = (String::new(), String::new());
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    event = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if !event.is_empty() {
                frames.push((event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    frames
}

#[tokio::test]
async fn run_and_conversation_streams_deliver_events_and_the_end() {
    let server = server().await;
    let api = server.client();
    agent(&api, "billing").await;
    let (_, run) = api.post("/runs", json!({"agent_id": "billing", "user_id": "alice", "conversation_id": "chat-9", "initial_message": "hi"})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let run_stream = http
        .get(server.api(&format!("/runs/{id}/stream")))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(run_stream.headers()["content-type"], "text/event-stream");
    let conversation_stream = http
        .get(format!("{}/conversations/chat-9/stream", server.url))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .send()
        .await
        .unwrap();
    api.post(
        &format!("/runs/{id}/events"),
        json!({"type": "AGENT_MESSAGE", "data": {"message": "hello"}}),
    )
    .await;
    api.patch(&format!("/runs/{id}"), json!({"status": "COMPLETED"}))
        .await;

    let frames = read_sse(run_stream, |_| false).await;
    let kinds: Vec<&str> = frames
        .iter()
        .map(|(event, data)| {
            if event == "run_event" {
                data["type"].as_str().unwrap()
            } else {
                event.as_str()
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "USER_MESSAGE",
            "AGENT_MESSAGE",
            "COMPLETED",
            "done"
        ],
        "the stream ends after done"
    );
    assert_eq!(frames.last().unwrap().1["status"], "COMPLETED");

    let frames = read_sse(conversation_stream, |frames| {
        frames.iter().any(|(event, _)| event == "final_answer")
    })
    .await;
    assert!(
        frames
            .iter()
            .any(|(event, data)| event == "run_event" && data["type"] == "AGENT_MESSAGE"),
        "{frames:?}"
    );
    assert_eq!(frames.last().unwrap().1["run_id"], id.as_str());
    // Resuming with Last-Event-ID skips what was seen.
    let resumed = http
        .get(server.api(&format!("/runs/{id}/stream")))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .header("Last-Event-ID", "3")
        .send()
        .await
        .unwrap();
    let frames = read_sse(resumed, |_| false).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(
        http.get(server.api("/runs/nope/stream"))
            .header("X-RunAgents-API-Key", &server.admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
