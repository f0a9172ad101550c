//! Tier-2 hosting with the real public runtime from PyPI: builds, the supervised process, its
//! environment pointing at the agent plane, invoke through it, governed calls paused and
//! completed after approval, crash and platform restarts, bad sources, delete.

use std::time::Duration;

use runagents_testkit::server::ApiClient;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use crate::egress::fake_upstream;

/// A handler agent that calls its (only) tool through `Agent.call_tool` and reports what it got.
const HANDLER: &str = r#"import json
from runagents import Agent

agent = Agent()

def handler(request, ctx):
    tool = agent.available_tools()[0]
    result = agent.call_tool(tool, "/echo" if tool == "echo-tool" else "/v1/charges", {"message": request["message"]})
    return {"response": "tool said: " + json.dumps(result, sort_keys=True)}
"#;

async fn hosting_server() -> TestServer {
    TestServer::start_with_env(Backend::Sqlite, &[], &[("RUNAGENTS_HOSTING", "local")]).await
}

async fn wait_until(
    api: &ApiClient,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    // Building an environment the first time installs the runtime from PyPI.
    for _ in 0..1800 {
        let (_, body) = api.get(path).await;
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got {what}: {last}");
}

async fn wait_running(api: &ApiClient, agent: &str) -> Value {
    wait_until(api, &format!("/agents/{agent}"), "Running", |agent| {
        agent["status"]["phase"] == "Running"
    })
    .await
}

async fn deploy_greeter(api: &ApiClient) -> Value {
    let (status, seeded) = api.send("POST", "/starter-kit", None).await;
    assert_eq!(status, 201, "{seeded}");
    let (status, deployed) = api
        .post(
            "/deploy",
            json!({"agent_name": "greeter", "source_files": {"agent.py": HANDLER},
                   "required_tools": ["echo-tool"], "policies": ["echo-tool-allow"],
                   "llm_configs": [{"provider": "playground", "model": "playground"}]}),
        )
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["execution_mode"], "PYTHON_RUNTIME");
    assert_eq!(deployed["status"], "Pending");
    deployed
}

fn runtime_pid(server: &TestServer, agent: &str) -> u32 {
    let path = server
        .data_dir
        .join("agents/default")
        .join(agent)
        .join("logs/pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn invoke(api: &ApiClient, agent: &str, body: Value) -> Value {
    let (status, answer) = api.post(&format!("/agents/{agent}/invoke"), body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn a_handler_agent_builds_runs_and_answers_through_the_runtime() {
    let server = hosting_server().await;
    let api = server.client();
    let deployed = deploy_greeter(&api).await;
    let build_id = deployed["build_id"].as_str().unwrap().to_owned();
    assert!(build_id.starts_with("build-"), "{deployed}");
    let build = wait_until(
        &api,
        &format!("/builds/{build_id}"),
        "a finished build",
        |b| b["status"] == "SUCCEEDED" || b["status"] == "FAILED",
    )
    .await;
    assert_eq!(build["status"], "SUCCEEDED", "{build}");
    assert!(
        build["log"].as_str().unwrap().contains("runagents==1.4.2")
            || build["reused_environment"] == true,
        "{build}"
    );
    wait_running(&api, "greeter").await;

    let answer = invoke(
        &api,
        "greeter",
        json!({"message": "hi there", "user_id": "dana@example.com"}),
    )
    .await;
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    let text = answer["response"].as_str().unwrap();
    assert!(text.starts_with("tool said: "), "{answer}");
    assert!(
        text.contains("hi there") && text.contains("dana@example.com"),
        "{answer}"
    );
    assert_eq!(answer["handler"], "user");
    assert!(
        !answer.to_string().contains("rag_"),
        "the agent's credential leaked: {answer}"
    );

    let run_id = answer["run_id"].as_str().unwrap();
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[..3],
        ["RUN_CREATED", "USER_MESSAGE", "INVOKE_REQUESTED"],
        "{types:?}"
    );
    assert_eq!(
        &types[types.len() - 3..],
        ["INVOKE_COMPLETED", "AGENT_MESSAGE", "COMPLETED"],
        "{types:?}"
    );
    for expected in ["TOOL_REQUEST", "TOOL_RESPONSE", "TOOL_RESULT"] {
        assert!(types.contains(&expected), "{expected} missing: {types:?}");
    }

    // Streamed: the runtime's frames are relayed, then the platform's `[DONE]`.
    let streamed = reqwest::Client::new()
        .post(server.api("/agents/greeter/invoke/stream"))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .json(&json!({"message": "streamed hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    let stream_run = streamed.headers()["x-run-id"].to_str().unwrap().to_owned();
    let text = streamed.text().await.unwrap();
    assert!(
        !text.contains("rag_"),
        "the agent's credential leaked into the stream"
    );
    let frames: Vec<Value> = text
        .split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["tool_call", "tool_result", "content", "done"],
        "{text}"
    );
    assert!(frames[2]["delta"].as_str().unwrap().contains("streamed hi"));
    let (_, run) = api.get(&format!("/runs/{stream_run}")).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(
        run["final_answer"]
            .as_str()
            .unwrap()
            .contains("streamed hi")
    );

    // The runtime's output is kept and served, with its credential masked.
    let (_, logs) = api.get("/agents/greeter/logs?tail=500").await;
    let text = logs.to_string();
    assert!(
        text.contains("\"stream\":\"stdout\"") || text.contains("\"stream\":\"stderr\""),
        "{logs}"
    );
    assert!(
        !text.contains("/a/rag_"),
        "the agent's credential leaked into its logs"
    );

    // Crash: the supervisor restarts the runtime and the agent answers again.
    let pid = runtime_pid(&server, "greeter");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until(&api, "/agents/greeter", "a restarted runtime", |agent| {
        agent["status"]["phase"] == "Running" && runtime_pid(&server, "greeter") != pid
    })
    .await;
    let again = invoke(&api, "greeter", json!({"message": "after crash"})).await;
    assert!(
        again["response"].as_str().unwrap().contains("after crash"),
        "{again}"
    );

    // Platform restart: the agent is hosted again from its (reused) environment.
    let server = server.restart().await;
    let api = server.client();
    assert!(!alive(pid));
    // The platform's echo tool lives at the operator address, which a test server changes.
    let (_, mut echo) = api.get("/tools/echo-tool").await;
    echo["spec"]["connection"]["baseUrl"] = json!(server.url);
    api.post("/tools", json!({"name": "echo-tool", "spec": echo["spec"]}))
        .await;
    api.put("/policies/echo-tool-allow", json!({"name": "echo-tool-allow", "spec": {"policies": [
        {"permission": "allow", "operations": ["POST"], "resource": format!("{}/echo", server.url)}]}}))
        .await;
    wait_running(&api, "greeter").await;
    let restarted = invoke(&api, "greeter", json!({"message": "after restart"})).await;
    assert!(
        restarted["response"]
            .as_str()
            .unwrap()
            .contains("after restart"),
        "{restarted}"
    );

    // Delete stops the process.
    let pid = runtime_pid(&server, "greeter");
    assert_eq!(api.delete("/agents/greeter").await.0, 200);
    for _ in 0..100 {
        if !alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive(pid), "the deleted agent's runtime still runs");
}

#[tokio::test]
async fn a_governed_call_of_a_hosted_agent_pauses_and_completes_after_approval() {
    let server = hosting_server().await;
    let api = server.client();
    deploy_greeter(&api).await;
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
            json!({"agent_name": "payer", "source_files": {"agent.py": HANDLER},
                   "required_tools": ["stripe"], "policies": ["charges-need-approval"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_running(&api, "payer").await;

    let paused = invoke(&api, "payer", json!({"message": "charge 5"})).await;
    assert_eq!(paused["status"], "PAUSED_APPROVAL", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    assert!(upstream.seen().is_empty());

    let (_, requests) = api.get("/approvals/requests").await;
    let id = requests[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(requests[0]["run_id"], run_id.as_str());
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200);
    let run = wait_until(&api, &format!("/runs/{run_id}"), "COMPLETED", |run| {
        run["status"] == "COMPLETED" || run["status"] == "FAILED"
    })
    .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    // The handler ran again and got the approved call's recorded answer; the upstream saw
    // the charge once.
    assert_eq!(run["final_answer"], r#"tool said: {"ok": true}"#, "{run}");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn bad_sources_fail_the_build_with_the_error() {
    let server = hosting_server().await;
    let api = server.client();
    let (status, deployed) = api
        .post(
            "/deploy",
            json!({"agent_name": "broken", "source_files": {"agent.py": "def handler(request):\n    return {'response': 'x'\n"}}),
        )
        .await;
    assert_eq!(status, 201, "{deployed}");
    let build_id = deployed["build_id"].as_str().unwrap();
    let build = wait_until(
        &api,
        &format!("/builds/{build_id}"),
        "a finished build",
        |b| b["status"] == "SUCCEEDED" || b["status"] == "FAILED",
    )
    .await;
    assert_eq!(build["status"], "FAILED", "{build}");
    let error = build["error"].as_str().unwrap();
    assert!(
        error.starts_with("syntax error in agent.py line "),
        "{build}"
    );
    let (_, agent) = api.get("/agents/broken").await;
    assert_eq!(agent["status"]["phase"], "Failed", "{agent}");
    assert!(
        agent["status"]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{agent}"
    );
    let (status, body) = api
        .post("/agents/broken/invoke", json!({"message": "hi"}))
        .await;
    assert_eq!(status, 502, "{body}");

    // A fixed redeploy builds again and runs.
    let (status, _) = api
        .post(
            "/deploy",
            json!({"agent_name": "broken", "source_files": {"agent.py": "def handler(request):\n    return {'response': 'fixed'}\n"}}),
        )
        .await;
    assert_eq!(status, 201);
    wait_running(&api, "broken").await;
    assert_eq!(
        invoke(&api, "broken", json!({"message": "hi"})).await["response"],
        "fixed"
    );

    // Rebuilding on request; a native agent has nothing to build.
    let (status, build) = api.post("/builds", json!({"agent_name": "broken"})).await;
    assert_eq!(status, 202, "{build}");
    assert_eq!(
        api.get(&format!("/builds/{}", build["id"].as_str().unwrap()))
            .await
            .0,
        200
    );
    assert_eq!(api.post("/builds", json!({})).await.0, 400);
    assert_eq!(
        api.post("/builds", json!({"agent_name": "nobody"})).await.0,
        404
    );
    assert_eq!(api.get("/builds/build-nope").await.0, 404);
}

#[tokio::test]
async fn a_server_with_hosting_off_keeps_python_agents_pending() {
    let server = crate::server().await;
    let api = server.client();
    let (status, deployed) = api
        .post(
            "/deploy",
            json!({"agent_name": "py", "source_files": {"agent.py": HANDLER}}),
        )
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["build_id"], "");
    let (_, agent) = api.get("/agents/py").await;
    assert_eq!(agent["status"]["phase"], "Pending");
    assert!(
        agent["status"]["message"]
            .as_str()
            .unwrap()
            .contains("--hosting off"),
        "{agent}"
    );
    let (status, body) = api
        .post("/agents/py/invoke", json!({"message": "hi"}))
        .await;
    assert_eq!(status, 501, "{body}");
}

#[tokio::test]
async fn the_init_template_runs_hosted_and_its_model_calls_are_the_agents() {
    let server = hosting_server().await;
    let api = server.client();
    api.send("POST", "/starter-kit", None).await;
    let dir = tempfile::tempdir().unwrap();
    let init = std::process::Command::new(TestServer::binary())
        .args(["init", "llm-bot"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let source = std::fs::read_to_string(dir.path().join("llm-bot/agent.py")).unwrap();
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "llm-bot", "source_files": {"agent.py": source},
                   "llm_configs": [{"provider": "playground", "model": "playground"}],
                   "system_prompt": "Be brief."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_running(&api, "llm-bot").await;
    let answer = invoke(&api, "llm-bot", json!({"message": "hello there"})).await;
    assert_eq!(answer["response"], "You said: hello there", "{answer}");
    // The model call went through the agent plane's gateway, metered to this agent.
    let (_, config) = api.get("/agents/llm-bot/config").await;
    let usage = &config["model_usage"][0];
    assert_eq!(usage["model"], "playground", "{config}");
    assert!(usage["estimated_spend_usd"].is_number(), "{config}");
}

/// A handler that makes an allowed write, then a write that needs approval.
const TWO_WRITES: &str = r#"import json
from runagents import Agent

agent = Agent()

def handler(request, ctx):
    entry = agent.call_tool("ledger", "/v1/entries", {"entry": request["message"]})
    charge = agent.call_tool("stripe", "/v1/charges", {"message": request["message"]})
    return {"response": "ledger " + json.dumps(entry, sort_keys=True) + " charge " + json.dumps(charge, sort_keys=True)}
"#;

#[tokio::test]
async fn a_turn_invoked_again_after_approval_makes_no_call_twice() {
    let server = hosting_server().await;
    let api = server.client();
    let (upstream_url, upstream) = fake_upstream().await;
    for (tool, permission) in [("ledger", "allow"), ("stripe", "approval_required")] {
        let (status, body) = api
            .post(
                "/tools",
                json!({"name": tool, "spec": {"connection": {"baseUrl": format!("{upstream_url}/{tool}")}}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = api
            .post("/policies", json!({"name": format!("{tool}-writes"), "spec": {"policies": [
                {"permission": permission, "operations": ["POST"], "resource": format!("{upstream_url}/{tool}/*")}]}}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "bookkeeper", "source_files": {"agent.py": TWO_WRITES},
                   "required_tools": ["ledger", "stripe"], "policies": ["ledger-writes", "stripe-writes"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_running(&api, "bookkeeper").await;

    let paused = invoke(&api, "bookkeeper", json!({"message": "invoice 7"})).await;
    assert_eq!(paused["status"], "PAUSED_APPROVAL", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let paths = |seen: Vec<crate::egress::Seen>| -> Vec<String> {
        seen.into_iter()
            .map(|s| format!("{} {}", s.method, s.uri))
            .collect()
    };
    assert_eq!(paths(upstream.seen()), ["POST /ledger/v1/entries"]);

    let (_, requests) = api.get("/approvals/requests").await;
    let id = requests[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{id}/approve"),
            json!({"scope": "once"}),
        )
        .await;
    assert_eq!(status, 200);
    let run = wait_until(&api, &format!("/runs/{run_id}"), "an end", |run| {
        run["status"] == "COMPLETED" || run["status"] == "FAILED"
    })
    .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["final_answer"], r#"ledger {"ok": true} charge {"ok": true}"#,
        "{run}"
    );
    // The handler ran twice; each write reached the upstream once.
    assert_eq!(
        paths(upstream.seen()),
        ["POST /ledger/v1/entries", "POST /stripe/v1/charges"]
    );
    let (_, events) = api.get(&format!("/runs/{run_id}/events")).await;
    let replayed = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TOOL_RESPONSE" && e["data"]["replayed"] == true)
        .count();
    assert_eq!(
        replayed, 1,
        "the second turn got the ledger write's kept answer: {events}"
    );

    // A new run of the same agent starts afresh: its writes are made.
    let again = invoke(&api, "bookkeeper", json!({"message": "invoice 8"})).await;
    assert_eq!(again["status"], "PAUSED_APPROVAL", "{again}");
    assert_eq!(upstream.seen().len(), 3);
}
