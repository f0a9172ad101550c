//! Gateway usage, spend and budgets: recorded per agent and model, reported by `/model-spend`
//! and the agent config, enforced per agent and model, and never overshot by concurrent calls.

use runagents_testkit::TestServer;
use runagents_testkit::fake_llm::FakeLlm;
use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::gateway::{OPENAI_KEY, chat, chat_as, providers, user};
use crate::server;

/// GETs `path` until the value at `pointer` is `expected` (usage is written just after an
/// answer goes out), for at most 5 s; returns the last body.
async fn settled(api: &ApiClient, path: &str, pointer: &str, expected: Value) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{body}");
        if body.pointer(pointer) == Some(&expected) || std::time::Instant::now() > deadline {
            assert_eq!(body.pointer(pointer), Some(&expected), "{path}: {body}");
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Deploys agent `name` with the given model mappings.
async fn agent(api: &ApiClient, name: &str, llm_configs: Value) {
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": name, "source_files": {}, "llm_configs": llm_configs}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn usage_and_spend_are_recorded_per_agent_and_model() {
    let fake = FakeLlm::start(OPENAI_KEY).await;
    let server = server().await;
    let api = server.client();
    providers(&api, &fake).await;
    agent(
        &api,
        "support",
        json!([{"model_provider": "openai-prod", "provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 100},
               {"role": "chat", "provider": "openai", "model": "gpt-4o-mini"}]),
    )
    .await;

    // $1000/M in, $2000/M out: 10 + 10 tokens cost $0.03 a call.
    for _ in 0..2 {
        assert_eq!(
            chat_as(&server, "support", user("gpt-4o", "hi"))
                .await
                .status,
            200
        );
    }
    let mut streamed = user("gpt-4o", "hi");
    streamed["stream"] = json!(true);
    chat_as(&server, "support", streamed).await.chunks();
    // Unpriced: recorded, free. Unattributed: not an agent's spend.
    assert_eq!(
        chat_as(&server, "support", user("gpt-4o-mini", "hi"))
            .await
            .status,
        200
    );
    assert_eq!(chat(&server, user("gpt-4o", "hi")).await.status, 200);

    let config = settled(
        &api,
        "/agents/support/config",
        "/model_usage/0/estimated_spend_usd",
        json!(0.09),
    )
    .await;
    let usage = &config["model_usage"];
    assert_eq!(usage[0]["label"], "default: openai/gpt-4o");
    assert_eq!(usage[0]["remaining_budget_usd"], 99.91);
    assert_eq!(usage[0]["status"], "Active");
    assert_eq!(usage[1]["estimated_spend_usd"], 0.0);
    assert_eq!(usage[1]["status"], "Uncapped");

    let (_, spend) = api.get("/model-spend").await;
    assert_eq!(spend["summary"]["total_estimated_spend_usd"], 0.09);
    assert_eq!(spend["summary"]["remaining_budget_usd"], 99.91);
    assert_eq!(spend["top_models"][0]["agent_name"], "support");
    assert_eq!(spend["top_models"][0]["estimated_spend_usd"], 0.09);

    // Spend survives a redeploy.
    agent(
        &api,
        "support",
        json!([{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 100}]),
    )
    .await;
    let (_, config) = api.get("/agents/support/config").await;
    assert_eq!(config["model_usage"][0]["estimated_spend_usd"], 0.09);
}

#[tokio::test]
async fn a_budget_blocks_one_model_for_one_agent_only() {
    let fake = FakeLlm::start(OPENAI_KEY).await;
    let server = server().await;
    let api = server.client();
    // $1 per output token: a call with max_tokens 10 is estimated and charged $10.
    api.post("/model-providers", json!({"name": "openai-prod", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
        "models": ["gpt-4o", "gpt-4o-mini"], "pricing": {"gpt-4o": {"output_per_million": 1_000_000}}},
        "credentials": {"api_key": OPENAI_KEY}}))
        .await;
    agent(
        &api,
        "a",
        json!([{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 25},
               {"role": "chat", "provider": "openai", "model": "gpt-4o-mini", "monthly_budget_usd": 25}]),
    )
    .await;
    agent(
        &api,
        "b",
        json!([{"provider": "openai", "model": "gpt-4o"}]),
    )
    .await;
    let mut ask = user("gpt-4o", "hi");
    ask["max_tokens"] = json!(10);

    for _ in 0..2 {
        let reply = chat_as(&server, "a", ask.clone()).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // $20 spent, $10 more would pass $25.
    let blocked = chat_as(&server, "a", ask.clone()).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text);
    assert_eq!(
        blocked.json()["error"],
        "monthly budget of $25 for gpt-4o reached for agent a; raise it with PUT /agents/a/config"
    );
    let retry_after: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31 * 86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(
        fake.received().len(),
        2,
        "a blocked call never reaches the provider"
    );
    // The same agent's other model, and another agent's same model, keep working.
    let mut mini = ask.clone();
    mini["model"] = json!("gpt-4o-mini");
    assert_eq!(chat_as(&server, "a", mini).await.status, 200);
    assert_eq!(chat_as(&server, "b", ask.clone()).await.status, 200);
    let spend = settled(
        &api,
        "/model-spend",
        "/summary/total_estimated_spend_usd",
        json!(30.0),
    )
    .await;
    assert_eq!(spend["warnings"][0]["agent_name"], "a");
    assert_eq!(spend["warnings"][0]["status"], "Near budget");

    // Raising the budget unblocks it.
    api.put("/agents/a/config", json!({"llm_configs": [{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 30}]}))
        .await;
    assert_eq!(chat_as(&server, "a", ask.clone()).await.status, 200);
    settled(
        &api,
        "/agents/a/config",
        "/model_usage/0/status",
        json!("Budget reached"),
    )
    .await;
    assert_eq!(chat_as(&server, "a", ask).await.status, 429);
}

#[tokio::test]
async fn fifty_concurrent_requests_at_the_budget_edge() {
    budget_edge(server().await).await;
}

#[tokio::test]
async fn fifty_concurrent_requests_at_the_budget_edge_on_postgres() {
    budget_edge(crate::postgres_server().await).await;
}

async fn budget_edge(server: TestServer) {
    let fake = FakeLlm::start(OPENAI_KEY).await;
    let api = server.client();
    api.post(
        "/model-providers",
        json!({"name": "openai-prod", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
        "models": ["gpt-4o"], "pricing": {"gpt-4o": {"output_per_million": 1_000_000}}},
        "credentials": {"api_key": OPENAI_KEY}}),
    )
    .await;
    agent(
        &api,
        "hot",
        json!([{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 35}]),
    )
    .await;
    let mut ask = user("gpt-4o", "hi");
    ask["max_tokens"] = json!(10);
    let calls = (0..50).map(|i| {
        let mut body = ask.clone();
        body["stream"] = json!(i % 2 == 0);
        let server = &server;
        async move { chat_as(server, "hot", body).await.status }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let blocked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, blocked), (3, 47), "{statuses:?}");
    // Never more than the cap plus one call's estimate; here exactly the three calls.
    settled(
        &api,
        "/model-spend",
        "/summary/total_estimated_spend_usd",
        json!(30.0),
    )
    .await;
}
