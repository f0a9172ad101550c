//! Amazon Bedrock's Converse API (`POST /model/{modelId}/converse`), translated both ways.
//!
//! Requests: system messages become `system` blocks; user and assistant text becomes `text`
//! blocks, assistant tool calls `toolUse` blocks, tool messages `toolResult` blocks in a user
//! turn; consecutive turns of one role are merged; `max_tokens`, `temperature`, `top_p` and
//! `stop` go to `inferenceConfig`; tools to `toolConfig` (`inputSchema.json`). Image parts are
//! not translated. Responses: `output.message.content` text and `toolUse` blocks become the
//! content and `tool_calls`, `stopReason` the finish reason, `usage` OpenAI usage.

use serde_json::{Map, Value, json};

use crate::Error;
use crate::wire::{
    ChatRequest, ChatResponse, Choice, Content, Extra, FunctionCall, Message, ToolCall, Usage,
};

/// The Converse request for an OpenAI request.
pub fn request(request: &ChatRequest) -> Value {
    let mut system = Vec::new();
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                system.push(json!({"text": message.text()}));
                continue;
            }
            "assistant" => {
                let mut blocks: Vec<Value> = Vec::new();
                let text = message.text();
                if !text.is_empty() {
                    blocks.push(json!({"text": text}));
                }
                for call in message.tool_calls.iter().flatten() {
                    let input = serde_json::from_str::<Value>(&call.function.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    blocks.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": input}}));
                }
                ("assistant", blocks)
            }
            "tool" | "function" => (
                "user",
                vec![json!({"toolResult": {
                    "toolUseId": message.tool_call_id.as_deref().unwrap_or_default(),
                    "content": [{"text": message.text()}],
                }})],
            ),
            _ => ("user", vec![json!({"text": message.text()})]),
        };
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let mut body = Map::new();
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(max) = request.max_output_tokens() {
        inference.insert("maxTokens".into(), json!(max));
    }
    if let Some(temperature) = request.temperature {
        inference.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        inference.insert("topP".into(), json!(top_p));
    }
    if let Some(stop) = &request.stop {
        inference.insert("stopSequences".into(), json!(stop.sequences()));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    let tools = request.offered_tools();
    if !tools.is_empty() {
        let specs: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let schema = tool
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                let mut spec = Map::new();
                spec.insert("name".into(), json!(tool.function.name));
                if let Some(description) = &tool.function.description {
                    spec.insert("description".into(), json!(description));
                }
                spec.insert("inputSchema".into(), json!({"json": schema}));
                json!({"toolSpec": spec})
            })
            .collect();
        let mut config = Map::new();
        config.insert("tools".into(), Value::Array(specs));
        let choice = match &request.tool_choice {
            Some(Value::String(mode)) if mode == "required" => Some(json!({"any": {}})),
            Some(Value::String(mode)) if mode == "auto" => Some(json!({"auto": {}})),
            Some(choice @ Value::Object(_)) => choice["function"]["name"]
                .as_str()
                .map(|name| json!({"tool": {"name": name}})),
            _ => None,
        };
        if let Some(choice) = choice {
            config.insert("toolChoice".into(), choice);
        }
        body.insert("toolConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        // end_turn, stop_sequence
        _ => "stop",
    }
    .to_owned()
}

/// The OpenAI response for a Converse response; Bedrock sends no id, so `id` is the caller's.
pub fn response(body: &Value, model: &str, id: &str, created: i64) -> Result<ChatResponse, Error> {
    let blocks = body["output"]["message"]["content"]
        .as_array()
        .ok_or_else(|| Error::Malformed("Bedrock response has no output.message.content".into()))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        if let Some(piece) = block["text"].as_str() {
            text.push_str(piece);
        } else if let Some(tool_use) = block.get("toolUse") {
            tool_calls.push(ToolCall {
                id: tool_use["toolUseId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: tool_use["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: tool_use["input"].to_string(),
                },
                extra: Extra::new(),
            });
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(Content::Text(text))
    };
    let count = |key: &str| body["usage"][key].as_u64().unwrap_or(0);
    Ok(ChatResponse {
        id: id.to_owned(),
        object: "chat.completion".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: "assistant".to_owned(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                ..Message::default()
            },
            finish_reason: Some(finish_reason(
                body["stopReason"].as_str().unwrap_or("end_turn"),
            )),
            extra: Extra::new(),
        }],
        usage: Some(Usage::new(count("inputTokens"), count("outputTokens"))),
        extra: Extra::new(),
    })
}
