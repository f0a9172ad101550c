//! A fake LLM provider speaking OpenAI Chat Completions (`POST /v1/chat/completions`),
//! Anthropic Messages (`POST /v1/messages`), JSON and SSE, and Bedrock Converse
//! (`POST /model/{id}/converse`), on 127.0.0.1:0.
//!
//! It checks the credential the gateway injects (`Authorization: Bearer KEY`, `x-api-key: KEY`
//! with `anthropic-version`, or a SigV4 signature by access key KEY and secret `AWS_SECRET`,
//! recomputed from the request as received), answering 401 with the given key echoed, as real
//! providers partly do. Its answers depend on the last message only:
//! - a tool result: `tool said: {content}`;
//! - tools offered and the user text contains "call": a call of the first tool with
//!   `{"q": text}`;
//! - `FAIL {status}`: that status, with an error message that contains the key;
//! - `BREAK` (streaming): one piece of content, then an error in the stream;
//! - otherwise `fake answer to: {text}`.
//!
//! Usage is always 10 prompt and 10 completion tokens. Every request is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The AWS secret access key the fake checks Bedrock signatures with.
pub const AWS_SECRET: &str = "fake-aws-secret-access-key";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    key: String,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct FakeLlm {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts the fake; `key` is the credential it expects.
    pub async fn start(key: &str) -> FakeLlm {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            key: key.to_owned(),
            received: received.clone(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/model/{model}/converse", post(bedrock))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake LLM");
        let address: SocketAddr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            url: format!("http://{address}"),
            received,
            task,
        }
    }

    /// The OpenAI-style base URL (`{url}/v1`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the fake will say to a request.
enum Answer {
    Text(String),
    Call { name: String, arguments: Value },
    Fail(u16),
    Break,
}

fn text_of(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str().or_else(|| part["content"].as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Decides from the last message; `tool_result` says whether it carries a tool's result and
/// `tools` names the offered tools.
fn decide(last_text: &str, tool_result: Option<String>, tools: &[String]) -> Answer {
    if let Some(result) = tool_result {
        return Answer::Text(format!("tool said: {result}"));
    }
    if let Some(status) = last_text
        .strip_prefix("FAIL ")
        .and_then(|s| s.trim().parse().ok())
    {
        return Answer::Fail(status);
    }
    if last_text.trim() == "BREAK" {
        return Answer::Break;
    }
    if last_text.contains("call")
        && let Some(name) = tools.first()
    {
        return Answer::Call {
            name: name.clone(),
            arguments: json!({"q": last_text}),
        };
    }
    Answer::Text(format!("fake answer to: {last_text}"))
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Value) {
    shared.received.lock().expect("received").push(Received {
        path: path.to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
}

fn sse(events: Vec<String>) -> Response {
    let body = events.concat();
    ([("content-type", "text/event-stream")], Body::from(body)).into_response()
}

async fn openai(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&shared, "/v1/chat/completions", &headers, &body);
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given != format!("Bearer {}", shared.key) {
        let error = json!({"error": {"message": format!("Incorrect API key provided: {given}"), "type": "invalid_request_error", "code": "invalid_api_key"}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let tool_result = (last["role"] == "tool").then(|| text_of(&last));
    let tools: Vec<String> = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|tool| tool["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let answer = decide(&text_of(&last), tool_result, &tools);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20});
    let (message, finish) = match answer {
        Answer::Fail(status) => {
            let error = json!({"error": {"message": format!("fake failure for key {}", shared.key), "type": "server_error"}});
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, Json(error)).into_response();
        }
        Answer::Break => (json!({"role": "assistant", "content": "partial"}), "stop"),
        Answer::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Answer::Call { name, arguments } => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_fake_1", "type": "function",
                "function": {"name": name, "arguments": arguments.to_string()}}]}),
            "tool_calls",
        ),
    };
    let broken = last["content"] == "BREAK";
    if body["stream"] != true {
        return Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "system_fingerprint": "fp_fake", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        format!("data: {chunk}\n\n")
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if let Some(text) = message["content"].as_str() {
        for (at, word) in text.split(' ').enumerate() {
            let piece = if at == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            events.push(chunk(json!({"content": piece}), Value::Null));
        }
    }
    if broken {
        events.push(format!(
            "data: {}\n\n",
            json!({"error": {"message": format!("stream broke (key {})", shared.key)}})
        ));
        return sse(events);
    }
    if let Some(calls) = message["tool_calls"].as_array() {
        for (index, call) in calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}),
                Value::Null,
            ));
            events.push(chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]}), Value::Null));
        }
    }
    events.push(chunk(json!({}), json!(finish)));
    if body["stream_options"]["include_usage"] == true {
        let chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [], "usage": usage});
        events.push(format!("data: {chunk}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());
    sse(events)
}

async fn anthropic(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&shared, "/v1/messages", &headers, &body);
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given != shared.key || headers.get("anthropic-version").is_none() {
        let error = json!({"type": "error", "error": {"type": "authentication_error", "message": format!("invalid x-api-key {given}")}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    if body["max_tokens"].as_u64().is_none() {
        let error = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let blocks = last["content"].as_array().cloned().unwrap_or_default();
    let tool_result = blocks
        .iter()
        .filter(|block| block["type"] == "tool_result")
        .map(|block| block["content"].as_str().unwrap_or_default().to_owned())
        .reduce(|a, b| format!("{a}; {b}"));
    let tools: Vec<String> = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let last_text = text_of(&last);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let (content, stop_reason) = match decide(&last_text, tool_result, &tools) {
        Answer::Fail(status) => {
            let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": format!("fake failure for key {}", shared.key)}});
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, Json(error)).into_response();
        }
        Answer::Text(text) => (vec![json!({"type": "text", "text": text})], "end_turn"),
        Answer::Break => (vec![json!({"type": "text", "text": "partial"})], "end_turn"),
        Answer::Call { name, arguments } => (
            vec![
                json!({"type": "text", "text": "Calling."}),
                json!({"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": arguments}),
            ],
            "tool_use",
        ),
    };
    if body["stream"] != true {
        return Json(
            json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 10}}),
        )
        .into_response();
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
        "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    )];
    for (index, block) in content.iter().enumerate() {
        if block["type"] == "text" {
            events.push(event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
            events.push(event("ping", json!({"type": "ping"})));
            events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}})));
            if last_text.trim() == "BREAK" {
                events.push(event("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
                return sse(events);
            }
        } else {
            events.push(event("content_block_start", json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})));
            let input = block["input"].to_string();
            let (first, second) = input.split_at(input.len() / 2);
            for part in [first, second] {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 10}})));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    sse(events)
}

async fn bedrock(
    State(shared): State<Shared>,
    axum::extract::Path(model): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    record(&shared, uri.path(), &headers, &body);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (given, amz_date) = (header("authorization"), header("x-amz-date"));
    let region = given.split('/').nth(2).unwrap_or_default().to_owned();
    let expected = runagents_llm::sigv4::authorization(
        &runagents_llm::sigv4::Request {
            method: "POST",
            host: &header("host"),
            path: uri.path(),
            query: uri.query().unwrap_or_default(),
            content_type: Some(&header("content-type")),
            body: &raw,
        },
        &runagents_llm::sigv4::Credentials {
            access_key_id: &shared.key,
            secret_access_key: AWS_SECRET,
            region: &region,
            service: "bedrock",
        },
        &amz_date,
    );
    if amz_date.is_empty() || given != expected {
        let error = json!({"message": format!("The security token included in the request is invalid: {given}")});
        return (StatusCode::FORBIDDEN, Json(error)).into_response();
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let blocks = last["content"].as_array().cloned().unwrap_or_default();
    let tool_result = blocks
        .iter()
        .filter_map(|block| block["toolResult"]["content"][0]["text"].as_str())
        .map(str::to_owned)
        .reduce(|a, b| format!("{a}; {b}"));
    let last_text = blocks
        .iter()
        .filter_map(|block| block["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let tools: Vec<String> = body["toolConfig"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let (content, stop_reason) = match decide(&last_text, tool_result, &tools) {
        Answer::Fail(status) => {
            let error = json!({"message": format!("fake failure for key {}", shared.key)});
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, Json(error)).into_response();
        }
        Answer::Text(text) => (
            vec![json!({"text": format!("{text} ({model})")})],
            "end_turn",
        ),
        Answer::Break => (vec![json!({"text": "partial"})], "end_turn"),
        Answer::Call { name, arguments } => (
            vec![
                json!({"toolUse": {"toolUseId": "tooluse_fake_1", "name": name, "input": arguments}}),
            ],
            "tool_use",
        ),
    };
    (
        [("x-amzn-requestid", "fake-request-1")],
        Json(json!({"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason, "usage": {"inputTokens": 10, "outputTokens": 10, "totalTokens": 20},
            "metrics": {"latencyMs": 1}})),
    )
        .into_response()
}
