//! The LLM gateway: `/v1/chat/completions` and `/v1/models` on every mount, against fake
//! OpenAI, Anthropic and Bedrock providers (real wire formats), the playground and errors.
//! Usage, spend and budgets are in `gateway_budgets.rs`.

use runagents_testkit::TestServer;
use runagents_testkit::fake_llm::FakeLlm;
use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::server;

pub(crate) const OPENAI_KEY: &str = "sk-fake-openai-0123456789abcdef";
const ANTHROPIC_KEY: &str = "sk-ant-fake-0123456789abcdef";

/// Registers `openai-prod` (gpt-4o, gpt-4o-mini) and `claude` (claude-sonnet) on the fake.
pub(crate) async fn providers(api: &ApiClient, fake: &FakeLlm) {
    let (status, body) = api
        .post(
            "/model-providers",
            json!({"name": "openai-prod", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
                "models": ["gpt-4o", "gpt-4o-mini"],
                "pricing": {"gpt-4o": {"input_per_million": 1000, "output_per_million": 2000}}},
                "credentials": {"api_key": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/model-providers",
            json!({"name": "claude", "spec": {"provider": "anthropic", "endpoint": fake.url, "models": ["claude-sonnet"]},
                "credentials": {"api_key": ANTHROPIC_KEY}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `(event name, data)` of each SSE event.
    pub(crate) fn events(&self) -> Vec<(Option<String>, String)> {
        let mut events = Vec::new();
        for block in self.text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            events.push((name, data));
        }
        events
    }

    /// The chunks of a stream, which must end with `[DONE]`.
    pub(crate) fn chunks(&self) -> Vec<Value> {
        let events = self.events();
        assert_eq!(
            events.last().map(|e| e.1.as_str()),
            Some("[DONE]"),
            "{}",
            self.text
        );
        events[..events.len() - 1]
            .iter()
            .map(|(_, data)| serde_json::from_str(data).unwrap())
            .collect()
    }
}

pub(crate) async fn call(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("X-RunAgents-API-Key", &server.admin_key)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

pub(crate) async fn chat(server: &TestServer, body: Value) -> Reply {
    call(server, "/v1/chat/completions", &[], body).await
}

pub(crate) async fn chat_as(server: &TestServer, agent: &str, body: Value) -> Reply {
    call(
        server,
        "/v1/chat/completions",
        &[("X-RunAgents-Agent", agent), ("X-Run-ID", "run-1")],
        body,
    )
    .await
}

pub(crate) fn user(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Content and tool calls assembled from stream chunks, as an OpenAI client does.
pub(crate) fn assemble(
    chunks: &[Value],
) -> (String, Vec<(String, String, String)>, Option<String>) {
    let mut content = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    for chunk in chunks {
        for choice in chunk["choices"].as_array().unwrap() {
            content.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = call["index"].as_u64().unwrap() as usize;
                if calls.len() <= index {
                    calls.push(Default::default());
                }
                if let Some(id) = call["id"].as_str() {
                    calls[index].0 = id.to_owned();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    calls[index].1 = name.to_owned();
                }
                calls[index]
                    .2
                    .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = Some(reason.to_owned());
            }
        }
    }
    (content, calls, finish)
}

#[tokio::test]
async fn openai_passthrough_on_every_mount_json_and_stream() {
    let fake = FakeLlm::start(OPENAI_KEY).await;
    let server = server().await;
    let api = server.client();
    providers(&api, &fake).await;

    for path in [
        "/v1/chat/completions",
        "/api/v1/chat/completions",
        "/api/v1/v1/chat/completions",
        "/api/v1/workspaces/default/chat/completions",
        "/api/v1/workspaces/default/v1/chat/completions",
    ] {
        let reply = call(&server, path, &[], user("gpt-4o", "hi")).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        let body = reply.json();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "fake answer to: hi"
        );
        assert_eq!(
            body["system_fingerprint"], "fp_fake",
            "unknown fields pass through"
        );
        assert_eq!(body["usage"]["total_tokens"], 20);
    }
    let sent = fake.received();
    assert_eq!(sent.len(), 5);
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {OPENAI_KEY}").as_str()
    );
    assert_eq!(sent[0].body["model"], "gpt-4o");

    // `provider/model` picks the provider; the provider is sent its own model name.
    let reply = chat(
        &server,
        json!({"model": "openai-prod/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "seed": 7}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let upstream = fake.received()[5].body.clone();
    assert_eq!(upstream["model"], "gpt-4o-mini");
    assert_eq!(upstream["seed"], 7, "unknown request fields pass through");

    // Streaming: chunks relayed, the usage chunk only when asked for.
    let mut request = user("gpt-4o", "stream me please");
    request["stream"] = json!(true);
    let reply = chat(&server, request.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.headers["content-type"], "text/event-stream",
        "{:?}",
        reply.headers
    );
    let chunks = reply.chunks();
    let (content, _, finish) = assemble(&chunks);
    assert_eq!(content, "fake answer to: stream me please");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "{chunks:?}"
    );
    let upstream = fake.received().last().unwrap().body.clone();
    assert_eq!(upstream["stream"], true);
    assert_eq!(upstream["stream_options"]["include_usage"], true);

    request["stream_options"] = json!({"include_usage": true});
    let chunks = chat(&server, request).await.chunks();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 10);

    // Tools: a tool call comes back, JSON and streamed.
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let body = json!({"model": "gpt-4o", "tools": tools, "messages": [{"role": "user", "content": "please call it"}]});
    let reply = chat(&server, body.clone()).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "lookup"
    );
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (_, calls, finish) = assemble(&chat(&server, streamed).await.chunks());
    assert_eq!(calls[0].1, "lookup");
    assert_eq!(calls[0].2, r#"{"q":"please call it"}"#);
    assert_eq!(finish.as_deref(), Some("tool_calls"));

    // `/v1/models` lists what the workspace can route.
    let (status, models) = api.get("/api/v1/v1/models").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude-sonnet", "gpt-4o", "gpt-4o-mini"]);
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][1]["owned_by"], "openai-prod");
    let (status, root) = api.get("/v1/models").await;
    assert_eq!((status, root), (200, models));
}

#[tokio::test]
async fn anthropic_translation_with_tool_use_round_trip() {
    let fake = FakeLlm::start(ANTHROPIC_KEY).await;
    let server = server().await;
    providers(&server.client(), &fake).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    let mut conversation = json!({"model": "claude-sonnet", "tools": tools, "tool_choice": "auto", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "call the weather tool"}]});

    let reply = chat(&server, conversation.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let message = &body["choices"][0]["message"];
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["content"], "Calling.");
    let call = &message["tool_calls"][0];
    assert_eq!(call["id"], "toolu_fake_1");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        call["function"]["arguments"],
        r#"{"q":"call the weather tool"}"#
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20})
    );
    let sent = fake.received()[0].clone();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert!(sent.headers.get("authorization").is_none());
    assert_eq!(sent.body["system"], "Be brief.");
    assert_eq!(sent.body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(sent.body["max_tokens"], 4096);

    // The tool's result goes back as a tool_result block; the answer uses it.
    let messages = conversation["messages"].as_array_mut().unwrap();
    messages.push(message.clone());
    messages.push(json!({"role": "tool", "tool_call_id": "toolu_fake_1", "content": "sunny"}));
    let reply = chat(&server, conversation.clone()).await.json();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "tool said: sunny"
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    let sent = fake.received()[1].body.clone();
    assert_eq!(sent["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_fake_1", "content": "sunny"})
    );

    // Streamed: Anthropic events become OpenAI chunks, tool call included.
    let mut streamed = json!({"model": "claude-sonnet", "tools": tools, "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "call the weather tool"}]});
    let chunks = chat(&server, streamed.clone()).await.chunks();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let (content, calls, finish) = assemble(&chunks);
    assert_eq!(content, "Calling.");
    assert_eq!(
        calls,
        vec![(
            "toolu_fake_1".to_owned(),
            "get_weather".to_owned(),
            r#"{"q":"call the weather tool"}"#.to_owned()
        )]
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 10);

    // An error event mid-stream becomes an SSE error event, then [DONE].
    streamed["messages"] = json!([{"role": "user", "content": "BREAK"}]);
    let reply = chat(&server, streamed).await;
    let events = reply.events();
    let (name, data) = &events[events.len() - 2];
    assert_eq!(name.as_deref(), Some("error"), "{}", reply.text);
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        error["error"]["message"],
        "provider request failed: Overloaded"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
}

#[tokio::test]
async fn errors_are_documented_and_never_leak_keys() {
    let fake = FakeLlm::start(OPENAI_KEY).await;
    let server = server().await;
    let api = server.client();
    providers(&api, &fake).await;

    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            400,
            "model is required",
        ),
        (
            json!({"model": null, "messages": []}),
            400,
            "model is required",
        ),
        (
            json!({"model": " ", "messages": []}),
            400,
            "model is required",
        ),
        (
            json!({"model": "gpt-4o", "messages": []}),
            400,
            "messages is required: a non-empty list of messages",
        ),
        (
            user("nope", "x"),
            404,
            "no provider found for model \"nope\"",
        ),
        (
            user("anthropic/gpt-4o", "x"),
            404,
            "no provider found for model \"anthropic/gpt-4o\"",
        ),
    ];
    for (body, status, error) in cases {
        let reply = chat(&server, body.clone()).await;
        assert_eq!(
            (reply.status, reply.json()["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }
    let (status, body) = api
        .send_raw("POST", "/v1/chat/completions", "{\"model\": ")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid chat completion request"),
        "{body}"
    );

    // The provider's status and message come back as a 502, without the key it echoed.
    let reply = chat(&server, user("gpt-4o", "FAIL 503")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(
        reply.json()["error"],
        "provider request failed (HTTP 503): fake failure for key ***"
    );
    // A wrong key: the provider's 401 quotes it; the client never sees it.
    api.post(
        "/model-providers",
        json!({"name": "openai-prod", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
        "models": ["gpt-4o"]}, "credentials": {"api_key": "sk-wrong-key-for-the-fake-provider"}}),
    )
    .await;
    let reply = chat(&server, user("gpt-4o", "hi")).await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.json()["error"],
        "provider request failed (HTTP 401): Incorrect API key provided: ***"
    );
    // Streamed failures after the first byte: an error event, then [DONE].
    api.post(
        "/model-providers",
        json!({"name": "openai-prod", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
        "models": ["gpt-4o"]}, "credentials": {"api_key": OPENAI_KEY}}),
    )
    .await;
    let mut broken = user("gpt-4o", "BREAK");
    broken["stream"] = json!(true);
    let reply = chat(&server, broken).await;
    assert_eq!(reply.status, 200);
    let events = reply.events();
    assert_eq!(events[events.len() - 2].0.as_deref(), Some("error"));
    assert!(
        events[events.len() - 2]
            .1
            .contains("provider request failed: stream broke (key ***)"),
        "{}",
        reply.text
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    // Before the first byte, a streamed request fails like a JSON one.
    let mut refused = user("gpt-4o", "FAIL 429");
    refused["stream"] = json!(true);
    let reply = chat(&server, refused).await;
    assert_eq!(reply.status, 502);
    assert!(reply.text.contains("(HTTP 429)"));

    // Unreachable provider, missing key, unsupported provider.
    api.post(
        "/model-providers",
        json!({"name": "down", "spec": {"provider": "openai", "endpoint": "http://127.0.0.1:9/v1",
        "models": ["down-model"]}, "credentials": {"api_key": OPENAI_KEY}}),
    )
    .await;
    let reply = chat(&server, user("down-model", "hi")).await;
    assert_eq!(reply.status, 502);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("provider request failed: "),
        "{}",
        reply.text
    );
    api.post(
        "/model-providers",
        json!({"name": "keyless", "spec": {"provider": "openai", "models": ["keyless-model"]}}),
    )
    .await;
    let reply = chat(&server, user("keyless-model", "hi")).await;
    assert_eq!(reply.status, 502);
    assert!(reply.text.contains("has no API key"), "{}", reply.text);
    api.post(
        "/model-providers",
        json!({"name": "aws", "spec": {"provider": "bedrock", "models": ["titan"],
        "auth": {"type": "AWSSignature", "awsConfig": {"region": "us-east-1"}}}}),
    )
    .await;
    let reply = chat(&server, user("titan", "hi")).await;
    assert_eq!(reply.status, 502);
    assert!(
        reply.text.contains("has no AWS credentials"),
        "{}",
        reply.text
    );
    api.post("/model-providers", json!({"name": "sso", "spec": {"provider": "openai", "models": ["sso-model"],
        "auth": {"type": "OAuth2", "oauth2Config": {"tokenUrl": "https://idp.example.com/token"}}}}))
        .await;
    let reply = chat(&server, user("sso-model", "hi")).await;
    assert_eq!(reply.status, 501, "{}", reply.text);
    assert!(reply.text.contains("auth type OAuth2"), "{}", reply.text);

    // Attribution to an agent that does not exist; no key at all.
    let reply = chat_as(&server, "ghost", user("gpt-4o", "hi")).await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (404, Some("agent \"ghost\" not found"))
    );
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&user("gpt-4o", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    for key in [
        OPENAI_KEY,
        ANTHROPIC_KEY,
        "sk-wrong-key-for-the-fake-provider",
    ] {
        assert!(!server.output().contains(key), "the log shows {key}");
        let (_, providers) = api.get("/model-providers").await;
        assert!(!providers.to_string().contains(key));
    }
}

#[tokio::test]
async fn bedrock_converse_signed_with_sigv4() {
    const ACCESS_KEY: &str = "AKIAFAKEBEDROCK0001";
    let fake = FakeLlm::start(ACCESS_KEY).await;
    let server = server().await;
    let api = server.client();
    let register = |secret: &str| {
        json!({"name": "aws", "spec": {"provider": "bedrock", "endpoint": fake.url, "models": ["anthropic.claude-v2:1"],
            "auth": {"type": "AWSSignature", "awsConfig": {"region": "eu-west-1"}}},
            "credentials": {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": secret}})
    };
    let (status, body) = api
        .post(
            "/model-providers",
            register(runagents_testkit::fake_llm::AWS_SECRET),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let reply = chat(
        &server,
        json!({"model": "anthropic.claude-v2:1", "max_tokens": 50,
        "messages": [{"role": "system", "content": "Brief."}, {"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "fake answer to: hi (anthropic.claude-v2:1)"
    );
    assert_eq!(body["id"], "chatcmpl-bedrock-fake-request-1");
    assert_eq!(body["usage"]["total_tokens"], 20);
    let sent = fake.received()[0].clone();
    assert_eq!(sent.path, "/model/anthropic.claude-v2%3A1/converse");
    assert_eq!(sent.body["system"], json!([{"text": "Brief."}]));
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 50);
    assert!(
        sent.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")),
    );

    // A tool call and its result, then streamed.
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let mut conversation = json!({"model": "anthropic.claude-v2:1", "tools": tools,
        "messages": [{"role": "user", "content": "call lookup"}]});
    let reply = chat(&server, conversation.clone()).await.json();
    let message = reply["choices"][0]["message"].clone();
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["tool_calls"][0]["id"], "tooluse_fake_1");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"q":"call lookup"}"#
    );
    let messages = conversation["messages"].as_array_mut().unwrap();
    messages.push(message);
    messages.push(json!({"role": "tool", "tool_call_id": "tooluse_fake_1", "content": "found"}));
    conversation["stream"] = json!(true);
    let (content, _, finish) = assemble(&chat(&server, conversation).await.chunks());
    assert_eq!(content, "tool said: found (anthropic.claude-v2:1)");
    assert_eq!(finish.as_deref(), Some("stop"));

    // A wrong secret: the provider's 403, with nothing secret in it.
    api.post("/model-providers", register("wrong-secret-access-key"))
        .await;
    let reply = chat(&server, user("anthropic.claude-v2:1", "hi")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert!(reply.text.contains("(HTTP 403)"), "{}", reply.text);
    assert!(!reply.text.contains(ACCESS_KEY), "{}", reply.text);
    assert!(!server.output().contains("wrong-secret-access-key"));
}

#[tokio::test]
async fn the_playground_drives_a_tool_with_no_key_and_no_network() {
    let server = server().await;
    let api = server.client();
    assert_eq!(api.post("/starter-kit", json!({})).await.0, 201);
    let tools = json!([{"type": "function", "function": {"name": "echo-tool__echo", "description": "Echo",
        "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}}]);
    let mut conversation = json!({"model": "playground", "tools": tools, "tool_choice": "auto",
        "messages": [{"role": "user", "content": "echo hello"}]});
    let reply = chat(&server, conversation.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], r#"{"message":"hello"}"#);

    // Run the tool as an agent would, through the platform's echo endpoint.
    let (status, echoed) = api
        .post(&format!("{}/echo", server.url), json!({"message": "hello"}))
        .await;
    assert_eq!(status, 200);
    let messages = conversation["messages"].as_array_mut().unwrap();
    messages.push(body["choices"][0]["message"].clone());
    messages
        .push(json!({"role": "tool", "tool_call_id": call["id"], "content": echoed.to_string()}));
    let mut streamed = conversation.clone();
    streamed["stream"] = json!(true);
    let (content, _, finish) = assemble(&chat(&server, streamed).await.chunks());
    assert!(
        content.starts_with("The echo-tool__echo tool returned: {"),
        "{content}"
    );
    assert!(content.contains("\"reply\":\"hello\""), "{content}");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(
        chat(&server, conversation).await.json()["choices"][0]["message"]["content"],
        content
    );
}
