//! `/deploy`, `/deploy/preview`, `/agents`, `/agents/{name}/config` and `/model-spend`.

use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::server;

const HANDLER: &str = "from runagents import Agent\n\nagent = Agent()\n\ndef handler(request, context):\n    return {\"response\": \"hello\"}\n";
const GRAPH: &str = "from langgraph.graph import StateGraph, END\n\ngraph = StateGraph(dict)\n";
const SECRET_CODE: &str = "SOURCE_CONTENT_MARKER_7f3a";

async fn deploy(api: &ApiClient, body: Value) -> Value {
    let (status, result) = api.post("/deploy", body).await;
    assert_eq!(status, 201, "{result}");
    result
}

async fn policy(api: &ApiClient, name: &str) {
    let (status, body) = api
        .post(
            "/policies",
            json!({"name": name, "spec": {"policies": [{"permission": "allow", "resource": "*"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn tool(api: &ApiClient, name: &str, description: &str) {
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": name, "base_url": format!("https://{name}.example.com"), "description": description}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Asserts the workspace still has no agents and exactly `tools` tools.
async fn assert_nothing_created(api: &ApiClient, tools: usize, context: &str) {
    let (_, agents) = api.get("/agents").await;
    assert_eq!(agents, json!([]), "{context}");
    let (_, list) = api.get("/tools").await;
    assert_eq!(list.as_array().unwrap().len(), tools, "{context}: {list}");
}

#[tokio::test]
async fn deploy_both_tiers_then_list_get_and_config() {
    let server = server().await;
    let api = server.client();
    tool(&api, "echo-tool", "Echo").await;

    // Tier 1: no agent code, only a prompt (and a file that isn't code).
    let native = deploy(
        &api,
        json!({
            "agent_name": "helper",
            "source_files": {"README.md": format!("# helper {SECRET_CODE}")},
            "system_prompt": "You help.",
            "required_tools": ["echo-tool"],
            "llm_configs": [{"provider": "openai", "model": "gpt-4o-mini"}],
        }),
    )
    .await;
    assert_eq!(native["agent"], "helper");
    assert_eq!(native["agent_name"], "helper");
    assert_eq!(native["namespace"], "default");
    assert_eq!(native["status"], "Running");
    assert_eq!(native["message"], "runs in the platform's native tool loop");
    assert_eq!(native["execution_mode"], "NATIVE_LOOP");
    assert_eq!(native["build_required"], false);
    assert_eq!(native["build_profile"], "native_loop");
    assert_eq!(
        (native["build_id"].as_str(), native["image_uri"].as_str()),
        (Some(""), Some(""))
    );
    assert_eq!(native["tools_created"], json!([]));
    assert!(
        native["decision_reason"]
            .as_str()
            .unwrap()
            .contains("built-in tool loop")
    );

    // Tier 2: framework code needs its own environment.
    let graph = deploy(&api, json!({
        "agent_name": "graph-bot",
        "source_files": {"agent.py": format!("{GRAPH}# {SECRET_CODE}\n"), "lib/helpers.py": "X = 1\n"},
        "requirements": "runagents\nlanggraph>=0.2\n",
        "llm_configs": [{"provider": "openai", "model": "gpt-4o", "role": "default"}, {"provider": "openai", "model": "text-embedding-3-small", "role": "embedding"}],
        "env": [{"name": "FEATURE_FLAG", "value": "on"}],
        "tool_url_mappings": {"https://echo-tool.example.com": "echo-tool"},
    }))
    .await;
    assert_eq!(graph["execution_mode"], "PYTHON_RUNTIME");
    assert_eq!(graph["build_required"], true);
    assert_eq!(graph["build_profile"], "python_environment");
    // This server hosts no agents (`--hosting off`), so nothing is built here; the hosting
    // tests cover builds.
    assert_eq!(graph["build_id"], "", "{graph}");
    assert!(
        graph["decision_reason"]
            .as_str()
            .unwrap()
            .contains("agent.py"),
        "{graph}"
    );

    // Tier 2 without a build: a bare handler.
    let handler = deploy(
        &api,
        json!({"agent_name": "hello", "source_files": {"agent.py": HANDLER}}),
    )
    .await;
    assert_eq!(
        (
            handler["execution_mode"].as_str(),
            handler["build_required"].as_bool()
        ),
        (Some("PYTHON_RUNTIME"), Some(false))
    );
    assert_eq!(handler["build_id"], "");

    let (status, list) = api.get("/agents").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["graph-bot", "hello", "helper"]);
    assert!(
        !list.to_string().contains(SECRET_CODE),
        "list must not echo source contents"
    );

    let (status, agent) = api.get("/agents/graph-bot").await;
    assert_eq!(status, 200, "{agent}");
    assert!(!agent.to_string().contains(SECRET_CODE));
    assert_eq!(agent["namespace"], "default");
    assert_eq!(agent["labels"], json!({}));
    assert_eq!(
        agent["status"],
        json!({"phase": "Pending", "message": "this server does not host agents (--hosting off)", "buildId": ""})
    );
    let spec = &agent["spec"];
    assert_eq!(spec["sourceFiles"], json!(["agent.py", "lib/helpers.py"]));
    assert_eq!(spec["entryPoint"], "agent.py");
    assert_eq!(spec["framework"], "langgraph");
    assert_eq!(spec["tier"], 2);
    assert_eq!(spec["executionMode"], "PYTHON_RUNTIME");
    assert_eq!(
        spec["llmConfig"],
        json!({"provider": "openai", "model": "gpt-4o"})
    );
    assert_eq!(spec["llmConfigs"].as_array().unwrap().len(), 2);
    assert_eq!(
        spec["env"],
        json!([{"name": "FEATURE_FLAG", "value": "on"}])
    );
    assert_eq!(spec["requiredTools"], json!([]));
    assert_eq!(spec["policies"], json!([]));
    assert_eq!(spec["identityProvider"], "");
    assert_eq!(spec["image"], "");
    assert_eq!(agent["image"], "");
    assert_eq!(
        agent["llm_config"],
        json!({"provider": "openai", "model": "gpt-4o"})
    );
    assert!(agent["created_at"].as_str().unwrap().ends_with('Z'));

    let (_, helper) = api.get("/agents/helper").await;
    assert_eq!(
        helper["spec"]["requiredTools"],
        json!([{"name": "echo-tool"}])
    );
    assert_eq!(helper["required_tools"], json!(["echo-tool"]));
    assert_eq!(helper["system_prompt"], "You help.");
    assert_eq!(helper["spec"]["systemPrompt"], "You help.");
    assert_eq!(helper["spec"]["tier"], 1);
    assert_eq!(helper["spec"]["entryPoint"], "");

    let (status, config) = api.get("/agents/helper/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["agent_name"], "helper");
    assert_eq!(config["namespace"], "default");
    assert_eq!(config["image"], "");
    assert_eq!(config["runtime"], "NATIVE_LOOP");
    assert_eq!(config["system_prompt"], "You help.");
    assert_eq!(config["identity_provider"], "");
    assert_eq!(config["required_tools"], json!(["echo-tool"]));
    assert_eq!(config["policies"], json!([]));
    assert_eq!(
        config["llm_configs"],
        json!([{"role": "default", "model_provider": "", "provider": "openai", "model": "gpt-4o-mini", "monthly_budget_usd": null}])
    );
    let usage = &config["model_usage"][0];
    assert_eq!(usage["label"], "default: openai/gpt-4o-mini");
    assert_eq!(usage["status"], "Uncapped");
    assert_eq!(usage["estimated_spend_usd"], 0.0);
    assert!(
        usage["period_start"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z"),
        "{usage}"
    );
}

#[tokio::test]
async fn redeploy_updates_in_place() {
    let server = server().await;
    let api = server.client();
    let body =
        json!({"agent_name": "bot", "source_files": {"agent.py": HANDLER}, "system_prompt": "v1"});
    deploy(&api, body).await;
    let (_, first) = api.get("/agents/bot").await;
    deploy(&api, json!({"agent_name": "bot", "source_files": {"prompt.md": "no code"}, "system_prompt": "v2"})).await;
    let (_, list) = api.get("/agents").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, second) = api.get("/agents/bot").await;
    assert_eq!(second["system_prompt"], "v2");
    assert_eq!(
        second["spec"]["tier"], 1,
        "the plan follows the new sources"
    );
    assert_eq!(second["spec"]["sourceFiles"], json!(["prompt.md"]));
    assert_eq!(second["created_at"], first["created_at"]);
    assert_eq!(second["status"]["phase"], "Pending");
}

#[tokio::test]
async fn preview_predicts_without_creating_anything() {
    let server = server().await;
    let api = server.client();
    let (status, instant) = api
        .post("/deploy/preview", json!({"agent_name": "p", "source_files": {"agent.py": HANDLER},
            "tools_to_create": [{"name": "new-tool", "base_url": "https://new.example.com"}], "required_tools": ["new-tool"]}))
        .await;
    assert_eq!(status, 200, "{instant}");
    assert_eq!(instant["user_state"], "instant");
    assert_eq!(instant["confidence"], "high");
    for key in ["state_label", "eta_range", "short_reason"] {
        assert!(!instant[key].as_str().unwrap().is_empty(), "{key}");
    }
    let details = &instant["advanced_details"];
    assert_eq!(details["execution_mode"], "PYTHON_RUNTIME");
    assert_eq!(details["build_required"], false);
    assert_eq!(details["execution_kind"], "python_handler");
    assert_eq!(details["support_level"], "supported");
    assert!(details["decision_reason"].is_string() && details["build_profile"].is_string());

    let (status, build) = api
        .post(
            "/deploy/preview",
            json!({"agent_name": "p", "source_files": {"agent.py": GRAPH}}),
        )
        .await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["user_state"], "preparing_runtime");
    assert_eq!(build["advanced_details"]["build_required"], true);
    let (status, native) = api
        .post(
            "/deploy/preview",
            json!({"agent_name": "p", "source_files": {"notes.txt": "hi"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(native["advanced_details"]["execution_mode"], "NATIVE_LOOP");

    // The same checks as a deploy.
    let (status, body) = api
        .post(
            "/deploy/preview",
            json!({"agent_name": "p", "source_files": {"a.py": "x"}, "policies": ["missing"]}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "policy \"missing\" not found")
    );
    let (status, _) = api
        .post("/deploy/preview", json!({"agent_name": "p"}))
        .await;
    assert_eq!(status, 400);
    assert_nothing_created(&api, 0, "after previews").await;
}

#[tokio::test]
async fn every_validation_error_is_400_and_creates_nothing() {
    let server = server().await;
    let api = server.client();
    tool(&api, "existing-tool", "kept").await;
    policy(&api, "known-policy").await;
    let files = json!({"agent.py": HANDLER});
    // A valid tool to create in each case: it must not appear when the deploy is refused.
    let new_tool = json!([{"name": "new-tool", "base_url": "https://new.example.com"}]);
    let cases = [
        (json!({"source_files": files}), "agent_name is required"),
        (
            json!({"agent_name": "Bad Name", "source_files": files}),
            "agent_name: invalid name",
        ),
        (
            json!({"agent_name": "a"}),
            "provide exactly one deploy source",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "image": "x:1"}),
            "provide exactly one deploy source",
        ),
        (
            json!({"agent_name": "a", "artifact_id": "art-1"}),
            "artifact/draft sources are not supported by this server; send source_files or image",
        ),
        (
            json!({"agent_name": "a", "draft_id": "d-1"}),
            "artifact/draft sources are not supported by this server; send source_files or image",
        ),
        (
            json!({"agent_name": "a", "image": "ghcr.io/acme/agent:1", "tools_to_create": new_tool}),
            "image deploys need the kubernetes hosting backend",
        ),
        (
            json!({"agent_name": "a", "image": "x:1", "requirements": "requests"}),
            "requirements can only be used with source_files",
        ),
        (
            json!({"agent_name": "a", "source_files": {"../escape.py": "x"}}),
            "relative path inside the project",
        ),
        (
            json!({"agent_name": "a", "source_files": {"/etc/x.py": "x"}}),
            "relative path inside the project",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "entry_point": "main.py"}),
            "not one of the source_files",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "tools_to_create": new_tool, "required_tools": ["new-tool", "ghost-tool"]}),
            "tool \"ghost-tool\" not found",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "tool_url_mappings": {"https://x.example.com": "ghost-tool"}}),
            "tool \"ghost-tool\" not found",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "tools_to_create": new_tool, "policies": ["known-policy", "nope"]}),
            "policy \"nope\" not found",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "tools_to_create": new_tool, "identity_provider": "google-oidc"}),
            "identity provider \"google-oidc\" not found",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "tools_to_create": [{"name": "t"}]}),
            "tools_to_create[0]: base_url is required",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "llm_configs": [{"provider": "openai"}]}),
            "llm_configs[0].model is required",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "llm_configs": [{"model": "m", "role": "boss"}]}),
            "not a model role",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "llm_configs": [{"model": "m", "monthly_budget_usd": -1}]}),
            ">= 0",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "env": [{"name": "BAD-NAME", "value": "x"}]}),
            "not an environment variable name",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "env": [{"name": "LLM_GATEWAY_URL", "value": "http://evil"}]}),
            "set by the platform",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "env": [{"name": "TOOL_URL_STRIPE", "value": "x"}]}),
            "set by the platform",
        ),
        (
            json!({"agent_name": "a", "source_files": files, "required_tools": "existing-tool"}),
            "required_tools must be an array",
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = api.post("/deploy", body.clone()).await;
        assert_eq!(status, 400, "{body}: {response}");
        let message = response["error"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
        assert_nothing_created(&api, 1, &body.to_string()).await;
    }
    let (status, body) = api.send_raw("POST", "/deploy", "[1, 2]").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api.send_raw("POST", "/deploy", "{\"agent_name\": ").await;
    assert_eq!(status, 400, "{body}");
    let (_, kept) = api.get("/tools/existing-tool").await;
    assert_eq!(kept["description"], "kept");
}

#[tokio::test]
async fn image_deploys_are_refused_naming_the_backend() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "img", "image": "ghcr.io/acme/agent:1"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "image deploys need the kubernetes hosting backend; this server hosts agents locally from source_files"
    );
    assert_eq!(
        api.post(
            "/deploy/preview",
            json!({"agent_name": "img", "image": "x:1"})
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn tools_to_create_creates_missing_tools_only() {
    let server = server().await;
    let api = server.client();
    tool(&api, "crm", "configured by hand").await;
    let result = deploy(&api, json!({
        "agent_name": "bot",
        "source_files": {"agent.py": HANDLER},
        "tools_to_create": [
            {"name": "billing-api", "base_url": "https://billing.example.com", "description": "Billing", "auth_type": "None", "port": 443, "scheme": "HTTPS"},
            {"name": "crm", "base_url": "https://other.example.com", "description": "sketch"},
        ],
        "required_tools": ["billing-api", "crm"],
    }))
    .await;
    assert_eq!(result["tools_created"], json!(["billing-api"]));
    let (status, billing) = api.get("/tools/billing-api").await;
    assert_eq!(status, 200);
    assert_eq!(billing["base_url"], "https://billing.example.com");
    assert_eq!(billing["description"], "Billing");
    let (_, crm) = api.get("/tools/crm").await;
    assert_eq!(
        crm["description"], "configured by hand",
        "an existing tool is not replaced"
    );
    assert_eq!(crm["base_url"], "https://crm.example.com");
    // Redeploying creates nothing new.
    let again = deploy(
        &api,
        json!({"agent_name": "bot", "source_files": {"agent.py": HANDLER},
        "tools_to_create": [{"name": "billing-api", "base_url": "https://billing.example.com"}]}),
    )
    .await;
    assert_eq!(again["tools_created"], json!([]));
    assert_eq!(api.get("/tools").await.1.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn policies_bind_through_the_agent() {
    let server = server().await;
    let api = server.client();
    policy(&api, "stripe-read").await;
    policy(&api, "audit").await;
    deploy(&api, json!({"agent_name": "billing", "source_files": {"agent.py": HANDLER}, "policies": ["stripe-read", "audit"]})).await;
    deploy(&api, json!({"agent_name": "support", "source_files": {"agent.py": HANDLER}, "policies": ["audit"]})).await;

    let (_, stripe) = api.get("/policies/stripe-read").await;
    assert_eq!(
        stripe["used_by"],
        json!([{"name": "billing", "namespace": "default"}])
    );
    let (_, audit) = api.get("/policies/audit").await;
    assert_eq!(audit["used_by"].as_array().unwrap().len(), 2);
    let (status, body) = api.delete("/policies/stripe-read").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("billing"));

    let (status, bindings) = api.get("/policy-bindings").await;
    assert_eq!(status, 200);
    let pairs: Vec<(String, String)> = bindings
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["spec"]["subjects"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                b["spec"]["policyRef"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("billing".into(), "audit".into()),
            ("billing".into(), "stripe-read".into()),
            ("support".into(), "audit".into())
        ]
    );
    let (_, config) = api.get("/agents/billing/config").await;
    assert_eq!(config["policies"], json!(["stripe-read", "audit"]));
    assert_eq!(
        api.get("/agents/billing").await.1["spec"]["policies"],
        json!(["stripe-read", "audit"])
    );

    // Unbinding through the config frees the policy.
    let (status, config) = api
        .put("/agents/billing/config", json!({"policies": ["audit"]}))
        .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["policies"], json!(["audit"]));
    assert_eq!(
        api.get("/policies/stripe-read").await.1["used_by"],
        json!([])
    );
    assert_eq!(api.delete("/policies/stripe-read").await.0, 200);
    // Deleting an agent frees its policies too.
    assert_eq!(api.delete("/agents/billing").await.0, 200);
    assert_eq!(api.delete("/agents/support").await.0, 200);
    assert_eq!(api.get("/policy-bindings").await.1, json!([]));
    assert_eq!(api.delete("/policies/audit").await.0, 200);
}

#[tokio::test]
async fn config_put_is_a_validated_partial_update() {
    let server = server().await;
    let api = server.client();
    tool(&api, "crm", "CRM").await;
    tool(&api, "mail", "Mail").await;
    policy(&api, "p1").await;
    api.send("POST", "/starter-kit", None).await; // registers the playground-llm provider used below
    deploy(&api, json!({"agent_name": "bot", "source_files": {"agent.py": HANDLER}, "system_prompt": "old",
        "required_tools": ["crm"], "policies": ["p1"], "llm_configs": [{"provider": "openai", "model": "gpt-4o-mini"}]})).await;

    let (status, config) = api
        .put("/agents/bot/config", json!({"system_prompt": "new"}))
        .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["system_prompt"], "new");
    assert_eq!(config["required_tools"], json!(["crm"]));
    assert_eq!(config["policies"], json!(["p1"]));
    assert_eq!(config["llm_configs"][0]["model"], "gpt-4o-mini");

    let (status, config) = api
        .put("/agents/bot/config", json!({"required_tools": ["crm", "mail"], "llm_configs": [
            {"role": "default", "model_provider": "playground-llm", "provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 25},
            {"role": "chat", "provider": "anthropic", "model": "claude-3-5-sonnet"}]}))
        .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["system_prompt"], "new");
    assert_eq!(config["required_tools"], json!(["crm", "mail"]));
    assert_eq!(config["llm_configs"][0]["monthly_budget_usd"], 25.0);
    assert_eq!(config["llm_configs"][0]["model_provider"], "playground-llm");
    assert_eq!(config["model_usage"][0]["status"], "Active");
    assert_eq!(config["model_usage"][0]["remaining_budget_usd"], 25.0);
    assert_eq!(
        config["model_usage"][1]["label"],
        "chat: anthropic/claude-3-5-sonnet"
    );
    assert_eq!(config["model_usage"][1]["status"], "Uncapped");
    let (_, agent) = api.get("/agents/bot").await;
    assert_eq!(agent["system_prompt"], "new");
    assert_eq!(
        agent["llm_config"],
        json!({"provider": "openai", "model": "gpt-4o"})
    );

    let (_, before) = api.get("/agents/bot/config").await;
    for (body, expected) in [
        (json!({}), "nothing to update"),
        (json!({"unknown": 1}), "nothing to update"),
        (
            json!({"policies": ["missing"]}),
            "policy \"missing\" not found",
        ),
        (
            json!({"required_tools": ["ghost"]}),
            "tool \"ghost\" not found",
        ),
        (
            json!({"identity_provider": "google-oidc"}),
            "identity provider \"google-oidc\" not found",
        ),
        (
            json!({"llm_configs": [{"model": "m", "monthly_budget_usd": -5}]}),
            ">= 0",
        ),
        (
            json!({"llm_configs": [{"provider": "openai"}]}),
            "model is required",
        ),
        (json!({"system_prompt": 5}), "must be a string"),
    ] {
        let (status, response) = api.put("/agents/bot/config", body.clone()).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert!(
            response["error"].as_str().unwrap().contains(expected),
            "{body}: {response}"
        );
    }
    let (_, after) = api.get("/agents/bot/config").await;
    assert_eq!(before, after, "refused updates change nothing");

    // Clearing lists and the prompt is an update too.
    let (status, config) = api
        .put(
            "/agents/bot/config",
            json!({"policies": [], "system_prompt": "", "identity_provider": ""}),
        )
        .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        (config["policies"].clone(), config["system_prompt"].clone()),
        (json!([]), json!(""))
    );

    let (status, body) = api
        .put("/agents/ghost/config", json!({"system_prompt": "x"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "agent \"ghost\" not found")
    );
    assert_eq!(api.get("/agents/ghost/config").await.0, 404);
}

#[tokio::test]
async fn get_and_delete() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api.get("/agents/nope").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "agent \"nope\" not found")
    );
    let (status, body) = api.delete("/agents/nope").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "agent \"nope\" not found")
    );
    assert_eq!(api.get("/agents").await, (200, json!([])));
    deploy(
        &api,
        json!({"agent_name": "bot", "source_files": {"agent.py": HANDLER}}),
    )
    .await;
    let (status, body) = api.delete("/agents/bot").await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    assert_eq!(api.get("/agents/bot").await.0, 404);
    assert_eq!(api.delete("/agents/bot").await.0, 404);
    assert_eq!(api.get("/agents").await.1, json!([]));
}

#[tokio::test]
async fn model_spend_sums_budgets_set_through_config() {
    let server = server().await;
    let api = server.client();
    let (status, empty) = api.get("/model-spend").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["summary"]["total_budget_usd"], 0.0);
    assert_eq!(empty["summary"]["budgeted_model_count"], 0);
    assert!(
        empty["summary"]["period_start"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z")
    );
    assert!(
        empty["summary"]["period_end"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z")
    );
    assert_eq!(
        (empty["warnings"].clone(), empty["top_models"].clone()),
        (json!([]), json!([]))
    );

    let llm = json!([{"provider": "openai", "model": "gpt-4o-mini"}]);
    deploy(
        &api,
        json!({"agent_name": "a", "source_files": {"agent.py": HANDLER}, "llm_configs": llm}),
    )
    .await;
    deploy(
        &api,
        json!({"agent_name": "b", "source_files": {"agent.py": HANDLER}, "llm_configs": llm}),
    )
    .await;
    deploy(
        &api,
        json!({"agent_name": "c", "source_files": {"agent.py": HANDLER}}),
    )
    .await;
    api.put("/agents/a/config", json!({"llm_configs": [{"provider": "openai", "model": "gpt-4o-mini", "monthly_budget_usd": 25}]})).await;
    // A zero budget blocks the model at once.
    api.put(
        "/agents/b/config",
        json!({"llm_configs": [
        {"provider": "openai", "model": "gpt-4o-mini", "monthly_budget_usd": 0},
        {"role": "embedding", "provider": "openai", "model": "text-embedding-3-small"}]}),
    )
    .await;

    let (status, spend) = api.get("/model-spend").await;
    assert_eq!(status, 200, "{spend}");
    let summary = &spend["summary"];
    assert_eq!(summary["total_estimated_spend_usd"], 0.0);
    assert_eq!(summary["total_budget_usd"], 25.0);
    assert_eq!(summary["remaining_budget_usd"], 25.0);
    assert_eq!(summary["budgeted_model_count"], 2);
    assert_eq!(summary["near_budget_count"], 0);
    assert_eq!(summary["blocked_count"], 1);
    assert_eq!(summary["uncapped_spend_usd"], 0.0);
    let warnings = spend["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0]["agent_name"], "b");
    assert_eq!(warnings[0]["agent_namespace"], "default");
    assert_eq!(warnings[0]["status"], "Budget reached");
    assert_eq!(warnings[0]["remaining_budget_usd"], 0.0);
    let top = spend["top_models"].as_array().unwrap();
    assert_eq!(top.len(), 3, "one row per model mapping: {spend}");
    for row in top {
        for key in [
            "label",
            "role",
            "model_provider",
            "provider",
            "model",
            "status",
            "period_start",
            "period_end",
            "agent_name",
            "agent_namespace",
        ] {
            assert!(row[key].is_string(), "{key}: {row}");
        }
        assert!(row["estimated_spend_usd"].is_number());
    }
    assert_eq!(summary["period_start"], top[0]["period_start"]);
    let (_, a) = api.get("/agents/a/config").await;
    assert_eq!(a["model_usage"][0]["status"], "Active");
    assert_eq!(a["model_usage"][0]["monthly_budget_usd"], 25.0);
}

#[tokio::test]
async fn agents_belong_to_their_workspace() {
    let server = server().await;
    let admin = server.client();
    let (status, team) = admin.post("/workspaces", json!({"name": "revops"})).await;
    assert_eq!(status, 201, "{team}");
    let revops = admin.with_key(team["token"].as_str().unwrap());
    let (status, result) = revops
        .post(
            "/api/v1/workspaces/revops/deploy",
            json!({"agent_name": "crm-bot", "source_files": {"agent.py": HANDLER},
            "llm_configs": [{"provider": "openai", "model": "m", "monthly_budget_usd": 3}]}),
        )
        .await;
    assert_eq!(status, 201, "{result}");
    assert_eq!(result["namespace"], "revops");
    assert_eq!(revops.get("/agents/crm-bot").await.1["namespace"], "revops");
    assert_eq!(admin.get("/agents").await.1, json!([]));
    assert_eq!(admin.get("/agents/crm-bot").await.0, 404);
    assert_eq!(
        admin.get("/model-spend").await.1["summary"]["total_budget_usd"],
        0.0
    );
    assert_eq!(
        revops.get("/model-spend").await.1["summary"]["total_budget_usd"],
        3.0
    );
    assert_eq!(
        revops.get("/model-spend").await.1["top_models"][0]["agent_namespace"],
        "revops"
    );
}

#[tokio::test]
async fn agents_survive_restart() {
    let server = server().await;
    let api = server.client();
    policy(&api, "p").await;
    deploy(&api, json!({"agent_name": "bot", "source_files": {"agent.py": GRAPH}, "system_prompt": "kept",
        "policies": ["p"], "llm_configs": [{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 10}]})).await;
    let (_, agent) = api.get("/agents/bot").await;
    let (_, config) = api.get("/agents/bot/config").await;
    let server = server.restart().await;
    let api = server.client();
    assert_eq!(api.get("/agents/bot").await.1, agent);
    assert_eq!(api.get("/agents/bot/config").await.1, config);
    assert_eq!(api.get("/policies/p").await.1["used_by"][0]["name"], "bot");
    assert_eq!(
        api.get("/model-spend").await.1["summary"]["total_budget_usd"],
        10.0
    );
}

#[tokio::test]
async fn references_to_providers_must_exist_and_pin_them() {
    let server = crate::server().await;
    let api = server.client();
    let llm = json!([{"role": "default", "model_provider": "openai-prod", "provider": "openai", "model": "gpt-4o"}]);
    let (status, body) = api.post("/deploy", json!({"agent_name": "a", "source_files": {}, "llm_configs": llm, "identity_provider": "google-oidc"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("model provider \"openai-prod\" not found"),
        "{body}"
    );
    assert_eq!(api.get("/agents").await.1, json!([]));

    api.post(
        "/model-providers",
        json!({"name": "openai-prod", "provider": "openai", "models": ["gpt-4o"]}),
    )
    .await;
    let idp = json!({"name": "google-oidc", "spec": {"host": "agents.example.com",
        "identityProvider": {"issuer": "https://accounts.google.com", "jwksUri": "https://www.googleapis.com/oauth2/v3/certs"}, "userIDClaim": "email"}});
    assert_eq!(api.post("/identity-providers", idp).await.0, 201);
    let (status, body) = api.post("/deploy", json!({"agent_name": "a", "source_files": {}, "llm_configs": llm, "identity_provider": "google-oidc"})).await;
    assert_eq!(status, 201, "{body}");
    let (_, agent) = api.get("/agents/a").await;
    assert_eq!(
        agent["labels"]["platform.ai/identity-provider"], "google-oidc",
        "{agent}"
    );
    // An identity provider in use cannot be deleted out from under its agent.
    let (status, body) = api.delete("/identity-providers/google-oidc").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains('a'));
    assert_eq!(api.delete("/agents/a").await.0, 200);
    assert_eq!(api.delete("/identity-providers/google-oidc").await.0, 200);
}
