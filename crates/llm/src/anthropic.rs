//! Anthropic's Messages API, translated both ways.
//!
//! Requests: system messages become `system`; assistant tool calls become `tool_use` blocks
//! and tool messages `tool_result` blocks in a user turn; consecutive turns of one role are
//! merged (the API wants them alternating); tools become `input_schema` definitions;
//! `max_tokens` is required there, so it defaults to `DEFAULT_MAX_TOKENS`.
//! Responses: text blocks become the content, `tool_use` blocks `tool_calls` (arguments as a
//! JSON string), stop reasons map to OpenAI finish reasons, usage to OpenAI usage.
//! Streams: `StreamTranslator` turns `message_start`, `content_block_*`, `message_delta` and
//! `message_stop` events into OpenAI chunks, ending with a usage chunk.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::Error;
use crate::sse;
use crate::wire::{
    ChatChunk, ChatRequest, ChatResponse, Choice, Content, Delta, Extra, FunctionCall,
    FunctionDelta, Message, ToolCall, ToolCallDelta, Usage, error_message,
};

/// Anthropic requires `max_tokens`; this is used when the client sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The `anthropic-version` header every request carries.
pub const API_VERSION: &str = "2023-06-01";

/// The Messages API request for an OpenAI request, addressed to `model`.
pub fn request(request: &ChatRequest, model: &str) -> Value {
    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                system.push(message.text());
                continue;
            }
            "assistant" => ("assistant", assistant_blocks(message)),
            "tool" | "function" => ("user", vec![tool_result(message)]),
            _ => ("user", content_blocks(message.content.as_ref())),
        };
        match turns.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => turns.push((role.to_owned(), blocks)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_output_tokens().unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if let Some(stop) = &request.stop {
        body.insert("stop_sequences".into(), json!(stop.sequences()));
    }
    if request.is_stream() {
        body.insert("stream".into(), json!(true));
    }
    if let Some(tools) = request.tools.as_ref().filter(|tools| !tools.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let mut definition = Map::new();
                definition.insert("name".into(), json!(tool.function.name));
                if let Some(description) = &tool.function.description {
                    definition.insert("description".into(), json!(description));
                }
                let schema = tool
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                definition.insert("input_schema".into(), schema);
                Value::Object(definition)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = request.tool_choice.as_ref().and_then(tool_choice) {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(user) = request.extra.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Value::Object(body)
}

fn tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            _ => None,
        },
        Value::Object(_) => choice["function"]["name"]
            .as_str()
            .map(|name| json!({"type": "tool", "name": name})),
        _ => None,
    }
}

fn content_blocks(content: Option<&Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(text)) => vec![json!({"type": "text", "text": text})],
        Some(Content::Parts(parts)) => parts.iter().map(part_block).collect(),
    }
}

/// An OpenAI content part as an Anthropic block; parts it does not know pass unchanged.
fn part_block(part: &Value) -> Value {
    match part["type"].as_str() {
        Some("text") => json!({"type": "text", "text": part["text"]}),
        Some("image_url") => {
            let url = part["image_url"]["url"].as_str().unwrap_or_default();
            let inline = url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"));
            match inline {
                Some((media_type, data)) => json!({"type": "image",
                    "source": {"type": "base64", "media_type": media_type, "data": data}}),
                None => json!({"type": "image", "source": {"type": "url", "url": url}}),
            }
        }
        _ => part.clone(),
    }
}

fn assistant_blocks(message: &Message) -> Vec<Value> {
    let mut blocks: Vec<Value> = content_blocks(message.content.as_ref())
        .into_iter()
        .filter(|block| block["type"] != "text" || block["text"] != "")
        .collect();
    for call in message.tool_calls.iter().flatten() {
        // Arguments are a JSON string; Anthropic wants the object.
        let input = serde_json::from_str::<Value>(&call.function.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        blocks.push(
            json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}),
        );
    }
    blocks
}

fn tool_result(message: &Message) -> Value {
    json!({
        "type": "tool_result",
        "tool_use_id": message.tool_call_id.as_deref().unwrap_or_default(),
        "content": message.text(),
    })
}

fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn
        _ => "stop",
    }
    .to_owned()
}

fn usage(usage: &Value) -> (u64, u64) {
    let count = |key: &str| usage[key].as_u64().unwrap_or(0);
    let prompt = count("input_tokens")
        + count("cache_creation_input_tokens")
        + count("cache_read_input_tokens");
    (prompt, count("output_tokens"))
}

/// The OpenAI response for a Messages API response; `created` is the Unix time to report.
pub fn response(body: &Value, created: i64) -> Result<ChatResponse, Error> {
    if body["type"] == "error" {
        return Err(Error::Malformed(error_message(&body.to_string())));
    }
    let blocks = body["content"]
        .as_array()
        .ok_or_else(|| Error::Malformed("Anthropic response has no content list".into()))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_owned(),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: block["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: block["input"].to_string(),
                },
                extra: Extra::new(),
            }),
            // Thinking and other blocks have no OpenAI counterpart.
            _ => {}
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(Content::Text(text))
    };
    let (prompt, completion) = usage(&body["usage"]);
    Ok(ChatResponse {
        id: body["id"].as_str().unwrap_or_default().to_owned(),
        object: "chat.completion".to_owned(),
        created,
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: "assistant".to_owned(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                ..Message::default()
            },
            finish_reason: Some(finish_reason(
                body["stop_reason"].as_str().unwrap_or("end_turn"),
            )),
            extra: Extra::new(),
        }],
        usage: Some(Usage::new(prompt, completion)),
        extra: Extra::new(),
    })
}

/// Turns a Messages API event stream into OpenAI chunks, one event at a time.
#[derive(Debug)]
pub struct StreamTranslator {
    head: ChatChunk,
    /// Content block index → OpenAI tool call index, for tool_use blocks.
    tool_index: HashMap<u64, u32>,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl StreamTranslator {
    pub fn new(created: i64) -> Self {
        StreamTranslator {
            head: ChatChunk {
                created,
                object: "chat.completion.chunk".to_owned(),
                ..ChatChunk::default()
            },
            tool_index: HashMap::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
        }
    }

    /// The chunks one event becomes; an `error` event is an error.
    pub fn event(&mut self, event: &sse::Event) -> Result<Vec<ChatChunk>, Error> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| Error::Malformed(format!("Anthropic stream event is not JSON: {e}")))?;
        let kind = event
            .event
            .as_deref()
            .or_else(|| data["type"].as_str())
            .unwrap_or_default();
        let mut chunks = Vec::new();
        match kind {
            "message_start" => {
                let message = &data["message"];
                self.head.id = message["id"].as_str().unwrap_or_default().to_owned();
                self.head.model = message["model"].as_str().unwrap_or_default().to_owned();
                let (prompt, completion) = usage(&message["usage"]);
                self.prompt_tokens = prompt;
                self.completion_tokens = completion;
                let delta = Delta {
                    role: Some("assistant".to_owned()),
                    content: Some(String::new()),
                    ..Delta::default()
                };
                chunks.push(self.head.sibling(delta, None));
            }
            "content_block_start" => {
                let block = &data["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let index = u32::try_from(self.tool_index.len()).unwrap_or(u32::MAX);
                        self.tool_index
                            .insert(data["index"].as_u64().unwrap_or(0), index);
                        chunks.push(self.tool_delta(
                            index,
                            Some(block["id"].as_str().unwrap_or_default().to_owned()),
                            Some(block["name"].as_str().unwrap_or_default().to_owned()),
                            String::new(),
                        ));
                    }
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.text_delta(text));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        chunks.push(self.text_delta(delta["text"].as_str().unwrap_or_default()));
                    }
                    Some("input_json_delta") => {
                        let block = data["index"].as_u64().unwrap_or(0);
                        if let Some(&index) = self.tool_index.get(&block) {
                            let partial = delta["partial_json"].as_str().unwrap_or_default();
                            chunks.push(self.tool_delta(index, None, None, partial.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(output) = data["usage"]["output_tokens"].as_u64() {
                    self.completion_tokens = output;
                }
                if let Some(input) = data["usage"]["input_tokens"].as_u64() {
                    self.prompt_tokens = self.prompt_tokens.max(input);
                }
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    chunks.push(
                        self.head
                            .sibling(Delta::default(), Some(finish_reason(reason))),
                    );
                }
            }
            "message_stop" => {
                chunks.push(ChatChunk {
                    usage: Some(Usage::new(self.prompt_tokens, self.completion_tokens)),
                    ..self.head.clone()
                });
            }
            "error" => {
                return Err(Error::Stream(error_message(&event.data)));
            }
            // ping, content_block_stop, and anything newer.
            _ => {}
        }
        Ok(chunks)
    }

    fn text_delta(&self, text: &str) -> ChatChunk {
        let delta = Delta {
            content: Some(text.to_owned()),
            ..Delta::default()
        };
        self.head.sibling(delta, None)
    }

    fn tool_delta(
        &self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> ChatChunk {
        let starts = id.is_some();
        let delta = Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                id,
                kind: starts.then(|| "function".to_owned()),
                function: Some(FunctionDelta {
                    name,
                    arguments: Some(arguments),
                }),
            }]),
            ..Delta::default()
        };
        self.head.sibling(delta, None)
    }
}
