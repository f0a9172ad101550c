//! Invoking Tier-1 agents (the native loop): hello world offline, streaming, a governed call
//! that pauses the run and completes it after approval, and the agent plane's gateway and
//! governance calls.

use std::time::Duration;

use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::egress::fake_upstream;
use crate::server;

/// Starter kit + a Tier-1 agent on the playground model with the echo tool.
async fn hello_world(api: &ApiClient) {
    let (status, seeded) = api.send("POST", "/starter-kit", None).await;
    assert_eq!(status, 201, "{seeded}");
    assert_eq!(seeded["policies_created"], json!(["echo-tool-allow"]));
    let (status, deployed) = api
        .post(
            "/deploy",
            json!({"agent_name": "hello", "source_files": {}, "required_tools": ["echo-tool"],
                   "llm_configs": [{"provider": "playground", "model": "playground", "role": "default"}],
                   "policies": ["echo-tool-allow"], "system_prompt": "Be brief."}),
        )
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["execution_mode"], "NATIVE_LOOP");
}

async fn event_types(api: &ApiClient, run_id: &str) -> Vec<String> {
    let (status, events) = api.get(&format!("/runs/{run_id}/events")).await;
    assert_eq!(status, 200, "{events}");
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn invoke_as(
    server: &runagents_testkit::TestServer,
    path: &str,
    user: &str,
    body: Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.api(path))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .header("X-End-User-ID", user)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn hello_world_calls_the_echo_tool_and_completes_its_run() {
    let server = server().await;
    let api = server.client();
    hello_world(&api).await;

    let response = invoke_as(
        &server,
        "/agents/hello/invoke",
        "alice@example.com",
        json!({"message": "echo hello world"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let run_header = response.headers()["x-run-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let answer = body["response"].as_str().unwrap();
    assert!(
        answer.starts_with("The echo-tool__echo tool returned:"),
        "{body}"
    );
    assert!(answer.contains("hello world"), "{body}");
    assert_eq!(body["status"], "COMPLETED");
    assert_eq!(body["run_id"], run_header.as_str());
    assert_eq!(body["tool_calls_made"][0]["function"], "echo-tool__echo");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let (_, run) = api.get(&format!("/runs/{run_header}")).await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["user_id"], "alice@example.com");
    assert_eq!(run["initial_message"], "echo hello world");
    assert_eq!(
        event_types(&api, &run_header).await,
        [
            "RUN_CREATED",
            "USER_MESSAGE",
            "INVOKE_REQUESTED",
            "TOOL_REQUEST",
            "TOOL_RESPONSE",
            "INVOKE_COMPLETED",
            "AGENT_MESSAGE",
            "COMPLETED"
        ]
    );
    // The echo tool saw the end user the run is for.
    let (_, events) = api.get(&format!("/runs/{run_header}/events")).await;
    let message = &events.as_array().unwrap()[6]["data"]["message"];
    assert!(
        message.as_str().unwrap().contains("alice@example.com"),
        "{message}"
    );

    // The same conversation goes on with history; the namespaced form answers too.
    let conversation = body["conversation_id"].as_str().unwrap();
    let (status, second) = api
        .post(
            "/agents/default/hello/invoke",
            json!({"message": "thanks", "conversation_id": conversation,
                   "history": [{"role": "user", "content": "echo hello world"}, {"role": "assistant", "content": answer}]}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["response"], "You said: thanks");
    assert_eq!(second["conversation_id"], conversation);

    // The agent's log tells what its turns did, without the arguments.
    let (status, logs) = api.get("/agents/hello/logs?tail=50").await;
    assert_eq!(status, 200, "{logs}");
    let lines: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert!(
        lines[0].ends_with("turn started for user alice@example.com"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("echo-tool__echo -> POST /echo HTTP 200"),
        "{lines:?}"
    );
    assert!(lines[2].contains("answered in"), "{lines:?}");
    assert!(!logs.to_string().contains("hello world"), "{logs}");
    assert_eq!(api.get("/agents/nobody/logs").await.0, 404);

    // The model's usage is metered to the agent.
    let (_, config) = api.get("/agents/hello/config").await;
    assert!(
        config["model_usage"][0]["estimated_spend_usd"].is_number(),
        "{config}"
    );
}

#[tokio::test]
async fn streamed_invoke_sends_the_runtime_frames_then_done() {
    let server = server().await;
    let api = server.client();
    hello_world(&api).await;
    let response = invoke_as(
        &server,
        "/agents/hello/invoke/stream",
        "bob",
        json!({"message": "echo streamed"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let run_id = response.headers()["x-run-id"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| frame.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(frames.last(), Some(&"[DONE]"));
    let kinds: Vec<String> = frames[..frames.len() - 1]
        .iter()
        .map(|frame| {
            serde_json::from_str::<Value>(frame).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["tool_call", "tool_result", "content", "done"]);
    let content: Value = serde_json::from_str(frames[2]).unwrap();
    assert!(content["delta"].as_str().unwrap().contains("streamed"));
    let (_, run) = api.get(&format!("/runs/{run_id}")).await;
    assert_eq!(run["status"], "COMPLETED");
}

#[tokio::test]
async fn bad_invokes_are_refused_and_create_no_run() {
    let server = server().await;
    let api = server.client();
    hello_world(&api).await;
    let (status, body) = api
        .post("/agents/nobody/invoke", json!({"message": "hi"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("agent \"nobody\" not found"))
    );
    let (status, body) = api
        .post("/agents/hello/invoke", json!({"text": "hi"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("message is required"))
    );
    let (status, _) = api
        .post("/agents/other-ns/hello/invoke", json!({"message": "hi"}))
        .await;
    assert_eq!(status, 404);
    // An agent without a model cannot take a turn.
    api.post("/deploy", json!({"agent_name": "mute", "source_files": {}}))
        .await;
    let (status, body) = api
        .post("/agents/mute/invoke", json!({"message": "hi"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, runs) = api.get("/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 0, "{runs}");
}

#[tokio::test]
async fn a_governed_write_pauses_the_run_and_approval_completes_it() {
    let server = server().await;
    let api = server.client();
    api.send("POST", "/starter-kit", None).await;
    let (upstream_url, upstream) = fake_upstream().await;
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

    let response = invoke_as(
        &server,
        "/agents/payer/invoke",
        "carol",
        json!({"message": "stripe__charge 25 dollars"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "PAUSED_APPROVAL", "{body}");
    let detail = &body["approval_required"];
    assert_eq!(detail["code"], "APPROVAL_REQUIRED");
    assert_eq!(detail["tool"], "stripe");
    let run_id = body["run_id"].as_str().unwrap().to_owned();
    assert!(
        upstream.seen().is_empty(),
        "nothing reaches the upstream before approval"
    );

    let (_, requests) = api.get("/approvals/requests").await;
    let request = &requests.as_array().unwrap()[0];
    assert_eq!(request["run_id"], run_id.as_str());
    let id = request["id"].as_str().unwrap();
    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");

    let run = wait_for_status(&api, &run_id, "COMPLETED").await;
    assert_eq!(
        run["final_answer"],
        r#"The stripe__charge tool returned: {"ok":true}"#
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "the approved charge is made exactly once");
    assert_eq!(seen[0].body, r#"{"message":"25 dollars"}"#);
    let types = event_types(&api, &run_id).await;
    for expected in [
        "APPROVAL_REQUIRED",
        "APPROVED",
        "TOOL_CALLED",
        "RESUMED",
        "INVOKE_COMPLETED",
        "AGENT_MESSAGE",
        "COMPLETED",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} missing from {types:?}"
        );
    }
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let answer = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "AGENT_MESSAGE")
        .unwrap()["data"]["message"]
        .clone();
    assert_eq!(answer, r#"The stripe__charge tool returned: {"ok":true}"#);
}

async fn wait_for_status(api: &ApiClient, run_id: &str, want: &str) -> Value {
    for _ in 0..100 {
        let (_, run) = api.get(&format!("/runs/{run_id}")).await;
        if run["status"] == want {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, run) = api.get(&format!("/runs/{run_id}")).await;
    panic!("run never became {want}: {run}");
}

#[tokio::test]
async fn the_agent_plane_serves_the_gateway_and_governance_to_its_own_agent_only() {
    let server = server().await;
    let api = server.client();
    hello_world(&api).await;
    api.post(
        "/deploy",
        json!({"agent_name": "other", "source_files": {}}),
    )
    .await;
    let (_, credential) = api.send("POST", "/agents/hello/credentials", None).await;
    let base = credential["agent_plane_url"].as_str().unwrap().to_owned();
    let (_, other) = api.send("POST", "/agents/other/credentials", None).await;
    let other_base = other["agent_plane_url"].as_str().unwrap().to_owned();
    let (_, run) = api
        .post("/runs", json!({"agent_id": "hello", "user_id": "u"}))
        .await;
    let run_id = run["id"].as_str().unwrap();
    let http = reqwest::Client::new();

    // The gateway, attributed to the agent.
    let chat = http
        .post(format!("{base}/v1/chat/completions"))
        .header("X-Run-ID", run_id)
        .json(&json!({"model": "playground", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    let chat: Value = chat.json().await.unwrap();
    assert_eq!(chat["choices"][0]["message"]["content"], "You said: hi");
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let models: Value = http
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "playground");
    // Another agent cannot charge its calls to this agent's run; no credential is no access.
    let foreign = http
        .post(format!("{other_base}/v1/chat/completions"))
        .header("X-Run-ID", run_id)
        .json(&json!({"model": "playground", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let forged = http
        .get(format!(
            "{}/a/rag_{}/healthz",
            server.agent_url,
            "A".repeat(43)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // Checkpoints come back exactly as stored; tool results become events.
    let checkpoint = json!({"action_id": "act-1", "messages": [{"role": "user", "content": "x"}],
        "pending_calls": [], "tool_defs": [], "model": "playground", "resume_mode": "user_handler"});
    let stored = http
        .post(format!("{base}/runs/{run_id}/checkpoint"))
        .json(&checkpoint)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let back: Value = http
        .get(format!("{base}/runs/{run_id}/checkpoint/act-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back["messages"], checkpoint["messages"]);
    assert_eq!(back["tool_routes"], json!({}));
    let missing = http
        .get(format!("{base}/runs/{run_id}/checkpoint/act-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let stolen = http
        .get(format!("{other_base}/runs/{run_id}/checkpoint/act-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 404);
    let reported = http
        .post(format!("{base}/runs/{run_id}/tool-result"))
        .json(&json!({"tool_call_id": "c1", "function_name": "echo-tool__echo", "arguments": "{}", "result": "{\"ok\":1}", "tool_id": "echo-tool", "turn": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), 200);
    let types = event_types(&api, run_id).await;
    assert!(types.contains(&"TOOL_RESULT".to_owned()), "{types:?}");
}
