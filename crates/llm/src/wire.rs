//! OpenAI Chat Completions on the wire: requests, responses and stream chunks.
//!
//! Every struct keeps the fields it does not name in `extra` (`#[serde(flatten)]`), so a
//! request passed through to an OpenAI-compatible provider, or a response passed back, loses
//! nothing the gateway does not understand.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Extra = Map<String, Value>;

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Empty when the client sent none (or `null`): the gateway answers "model is required".
    #[serde(default, deserialize_with = "null_as_empty")]
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// The completion-length cap the client asked for, either spelling.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Characters of prompt the provider will read: message text and tool definitions.
    pub fn prompt_chars(&self) -> usize {
        let messages: usize = self
            .messages
            .iter()
            .map(|message| {
                message.text().chars().count()
                    + message.tool_calls.iter().flatten().fold(0, |sum, call| {
                        sum + call.function.name.len() + call.function.arguments.len()
                    })
            })
            .sum();
        let tools = self.tools.as_ref().map_or(0, |tools| {
            serde_json::to_string(tools).map_or(0, |s| s.len())
        });
        messages + tools
    }

    /// The tools a client offered, unless `tool_choice` is `"none"`.
    pub fn offered_tools(&self) -> &[Tool] {
        match (&self.tools, &self.tool_choice) {
            (_, Some(Value::String(choice))) if choice == "none" => &[],
            (Some(tools), _) => tools,
            (None, _) => &[],
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `stop`: one string or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn sequences(&self) -> Vec<String> {
        match self {
            Stop::One(one) => vec![one.clone()],
            Stop::Many(many) => many.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    /// Always written, `null` included: an assistant message with tool calls has no content.
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    pub fn new(role: &str, text: impl Into<String>) -> Self {
        Message {
            role: role.to_owned(),
            content: Some(Content::Text(text.into())),
            ..Message::default()
        }
    }

    /// The text of the content: the string, or its text parts joined by newlines.
    pub fn text(&self) -> String {
        self.content.as_ref().map(Content::text).unwrap_or_default()
    }
}

/// Message content: a string, or a list of parts (`{"type": "text", "text": ...}`, images, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

impl Content {
    pub fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter(|part| part["type"] == "text")
                .filter_map(|part| part["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
    #[serde(flatten)]
    pub extra: Extra,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    /// A JSON document, as a string.
    #[serde(default)]
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema for the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: Message,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    #[serde(default)]
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl ChatChunk {
    /// A chunk of the same completion as `self` (id, created, model) with one choice.
    pub fn sibling(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: chunk_object(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                extra: Extra::new(),
            }],
            usage: None,
            extra: Extra::new(),
        }
    }

    /// Characters of generated text in this chunk (content and tool-call arguments).
    pub fn generated_chars(&self) -> usize {
        self.choices
            .iter()
            .map(|choice| {
                choice.delta.content.as_deref().map_or(0, str::len)
                    + choice
                        .delta
                        .tool_calls
                        .iter()
                        .flatten()
                        .fold(0, |sum, call| {
                            sum + call
                                .function
                                .as_ref()
                                .and_then(|f| f.arguments.as_deref())
                                .map_or(0, str::len)
                        })
            })
            .sum()
    }
}

impl ChatResponse {
    /// The same completion as a stream: a role chunk, the content in pieces of about a word,
    /// each tool call, the finish reason, and a usage chunk (no choices) when usage is known.
    pub fn into_chunks(self) -> Vec<ChatChunk> {
        let head = ChatChunk {
            id: self.id,
            object: chunk_object(),
            created: self.created,
            model: self.model,
            choices: Vec::new(),
            usage: None,
            extra: Extra::new(),
        };
        let mut chunks = Vec::new();
        for choice in self.choices {
            let message = choice.message;
            let role = Delta {
                role: Some(message.role.clone()),
                content: Some(String::new()),
                ..Delta::default()
            };
            chunks.push(head.sibling(role, None));
            let text = message.text();
            for piece in split_words(&text) {
                let delta = Delta {
                    content: Some(piece.to_owned()),
                    ..Delta::default()
                };
                chunks.push(head.sibling(delta, None));
            }
            for (index, call) in message.tool_calls.into_iter().flatten().enumerate() {
                let delta = Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                        id: Some(call.id),
                        kind: Some(call.kind),
                        function: Some(FunctionDelta {
                            name: Some(call.function.name),
                            arguments: Some(call.function.arguments),
                        }),
                    }]),
                    ..Delta::default()
                };
                chunks.push(head.sibling(delta, None));
            }
            chunks.push(head.sibling(Delta::default(), choice.finish_reason));
        }
        if let Some(usage) = self.usage {
            chunks.push(ChatChunk {
                usage: Some(usage),
                ..head
            });
        }
        chunks
    }
}

/// Splits text into pieces that each end after a run of whitespace, so joining them gives
/// the text back.
fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            pieces.push(&text[start..at]);
            start = at;
            in_space = false;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The error message in a provider's error body (`{"error": {"message"}}`, `{"error": "..."}`,
/// Anthropic's `{"type": "error", "error": {...}}`), else the body itself, shortened.
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|value| {
        let error = value.get("error")?;
        match error {
            Value::String(message) => Some(message.clone()),
            Value::Object(object) => object
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_owned());
    truncate(&message, 500)
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let raw = json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi", "x_msg": 1}],
            "seed": 7, "response_format": {"type": "json_object"}, "stop": ["a", "b"],
        });
        let request: ChatRequest = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(request.extra["seed"], 7);
        let mut back = serde_json::to_value(&request).unwrap();
        // `content` is always written; nothing else is added.
        assert_eq!(back["messages"][0]["x_msg"], 1);
        back["messages"][0].as_object_mut().unwrap().remove("x_msg");
        assert_eq!(
            back["messages"][0],
            json!({"role": "user", "content": "hi"})
        );
        assert_eq!(back["response_format"], raw["response_format"]);
        assert_eq!(back["stop"], json!(["a", "b"]));
    }

    #[test]
    fn content_parts_give_their_text() {
        let message: Message = serde_json::from_value(json!({"role": "user", "content": [
            {"type": "text", "text": "one"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "two"}]}))
        .unwrap();
        assert_eq!(message.text(), "one\ntwo");
    }

    #[test]
    fn split_words_keeps_every_character() {
        let text = "  hello  wide\nworld ";
        let pieces = split_words(text);
        assert_eq!(pieces, vec!["  ", "hello  ", "wide\n", "world "]);
        assert_eq!(pieces.concat(), text);
        assert!(split_words("").is_empty());
    }

    #[test]
    fn error_messages_from_any_provider_shape() {
        assert_eq!(
            error_message(r#"{"error": {"message": "bad key", "type": "x"}}"#),
            "bad key"
        );
        assert_eq!(
            error_message(
                r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(error_message(r#"{"error": "plain"}"#), "plain");
        assert_eq!(error_message(" upstream down \n"), "upstream down");
        assert_eq!(error_message(&"x".repeat(600)).chars().count(), 501);
    }
}
