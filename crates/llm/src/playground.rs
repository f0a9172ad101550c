//! The `playground` model: built in, offline and deterministic, so a first agent works with no
//! key and no network, and can exercise a tool. The same request always gets the same answer
//! (only `created` is the caller's). Rules, first match wins:
//!
//! 1. **After tool results** (the last message has role `tool`): it answers
//!    `The {function} tool returned: {content}`, one line per trailing tool message.
//! 2. **Tool call**, when tools are offered (and `tool_choice` is not `"none"`), for the last
//!    user message: `tool_choice` naming a function picks it; otherwise the first offered
//!    function whose full name appears in the message (case-insensitive), or whose name, tool
//!    part or capability part (`{tool}__{capability}`) is the message's first word, so
//!    `echo hello` calls `echo-tool__echo`; with `tool_choice: "required"` and no match, the
//!    first function. The arguments fill the function's schema with the message's text (the
//!    message minus that first word): every required string property, else the first string
//!    property; other required properties get an empty value of their type; a schema without
//!    properties gets `{"message": text}`. The finish reason is `tool_calls`.
//! 3. **Otherwise** it answers `You said: {last user message}` (or a greeting when there is
//!    none), cut to `max_tokens` words with finish reason `length`.
//!
//! Usage counts whitespace-separated words: the prompt's message texts and tool-call
//! arguments, and the answer's text or arguments.

use serde_json::{Map, Value, json};

use crate::wire::{
    ChatRequest, ChatResponse, Choice, Extra, FunctionCall, Message, Tool, ToolCall, Usage,
};

pub const GREETING: &str = "Hello from the playground model. Send a message and I will echo it; start it with a tool's name to call that tool.";

/// The playground's answer to `request`; `created` is the Unix time to report.
pub fn complete(request: &ChatRequest, created: i64) -> ChatResponse {
    let (message, finish_reason) = answer(request);
    let completion = match &message.tool_calls {
        Some(calls) => calls
            .iter()
            .map(|call| words(&call.function.arguments).max(1))
            .sum(),
        None => words(&message.text()),
    };
    ChatResponse {
        id: format!("chatcmpl-playground-{:016x}", fingerprint(request)),
        object: "chat.completion".to_owned(),
        created,
        model: request.model.clone(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason.to_owned()),
            extra: Extra::new(),
        }],
        usage: Some(Usage::new(prompt_words(request), completion)),
        extra: Extra::new(),
    }
}

fn answer(request: &ChatRequest) -> (Message, &'static str) {
    let trailing_results: Vec<&Message> = request
        .messages
        .iter()
        .rev()
        .take_while(|message| message.role == "tool")
        .collect();
    if !trailing_results.is_empty() {
        let lines: Vec<String> = trailing_results
            .iter()
            .rev()
            .map(|result| {
                let function = function_of(request, result.tool_call_id.as_deref());
                format!("The {function} tool returned: {}", result.text())
            })
            .collect();
        return (Message::new("assistant", lines.join("\n")), "stop");
    }

    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .map(Message::text)
        .unwrap_or_default();
    if let Some((tool, text)) = pick_tool(request, &last_user) {
        let arguments = arguments(tool.function.parameters.as_ref(), &text).to_string();
        let id = format!(
            "call_{:012x}",
            fnv(&[
                tool.function.name.as_bytes(),
                arguments.as_bytes(),
                &request.messages.len().to_le_bytes()
            ]) & 0xffff_ffff_ffff
        );
        let call = ToolCall {
            id,
            kind: "function".to_owned(),
            function: FunctionCall {
                name: tool.function.name.clone(),
                arguments,
            },
            extra: Extra::new(),
        };
        let message = Message {
            role: "assistant".to_owned(),
            content: None,
            tool_calls: Some(vec![call]),
            ..Message::default()
        };
        return (message, "tool_calls");
    }

    let text = last_user.trim();
    let reply = if text.is_empty() {
        GREETING.to_owned()
    } else {
        format!("You said: {text}")
    };
    match request.max_output_tokens() {
        Some(max) if words(&reply) > u64::from(max) => {
            let cut: Vec<&str> = reply
                .split_whitespace()
                .take(usize::try_from(max).unwrap_or(usize::MAX))
                .collect();
            (Message::new("assistant", cut.join(" ")), "length")
        }
        _ => (Message::new("assistant", reply), "stop"),
    }
}

/// The function name of the assistant tool call a tool message answers.
fn function_of(request: &ChatRequest, call_id: Option<&str>) -> String {
    request
        .messages
        .iter()
        .flat_map(|message| message.tool_calls.iter().flatten())
        .find(|call| Some(call.id.as_str()) == call_id)
        .map_or_else(|| "requested".to_owned(), |call| call.function.name.clone())
}

/// The tool the message asks for, and the text its arguments are made of.
fn pick_tool<'a>(request: &'a ChatRequest, message: &str) -> Option<(&'a Tool, String)> {
    let tools = request.offered_tools();
    if tools.is_empty() {
        return None;
    }
    let trimmed = message.trim();
    let (first_word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (trimmed, ""),
    };
    let first_word = first_word
        .trim_end_matches([':', ',', '.', '!', '?'])
        .to_lowercase();
    let text_after_first = if rest.is_empty() { trimmed } else { rest };

    if let Some(name) = request
        .tool_choice
        .as_ref()
        .and_then(|choice| choice["function"]["name"].as_str())
        && let Some(tool) = tools.iter().find(|tool| tool.function.name == name)
    {
        return Some((tool, trimmed.to_owned()));
    }
    let lowered = trimmed.to_lowercase();
    for tool in tools {
        let name = tool.function.name.to_lowercase();
        let (tool_part, capability) = name.split_once("__").unwrap_or((&name, &name));
        if !first_word.is_empty()
            && (first_word == name || first_word == tool_part || first_word == capability)
        {
            return Some((tool, text_after_first.to_owned()));
        }
        if !name.is_empty() && lowered.contains(&name) {
            return Some((tool, trimmed.to_owned()));
        }
    }
    let required = request
        .tool_choice
        .as_ref()
        .is_some_and(|choice| choice == "required");
    required.then(|| (&tools[0], trimmed.to_owned()))
}

/// Arguments for a function with this JSON schema, filled with `text`.
fn arguments(schema: Option<&Value>, text: &str) -> Value {
    let properties = schema
        .and_then(|schema| schema["properties"].as_object())
        .filter(|properties| !properties.is_empty());
    let Some(properties) = properties else {
        return json!({"message": text});
    };
    let required: Vec<&str> = schema
        .and_then(|schema| schema["required"].as_array())
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let is_string = |name: &str| properties.get(name).is_some_and(|p| p["type"] == "string");
    let mut arguments = Map::new();
    for name in &required {
        let value = match properties.get(*name).map(|p| &p["type"]) {
            Some(Value::String(kind)) if kind == "string" => json!(text),
            Some(Value::String(kind)) if kind == "integer" || kind == "number" => json!(0),
            Some(Value::String(kind)) if kind == "boolean" => json!(false),
            Some(Value::String(kind)) if kind == "array" => json!([]),
            Some(Value::String(kind)) if kind == "object" => json!({}),
            _ => json!(text),
        };
        arguments.insert((*name).to_owned(), value);
    }
    if !required.iter().any(|name| is_string(name))
        && let Some(first) = properties.keys().find(|name| is_string(name))
    {
        arguments.insert(first.clone(), json!(text));
    }
    Value::Object(arguments)
}

fn words(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

fn prompt_words(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|message| {
            words(&message.text())
                + message
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|call| words(&call.function.arguments))
                    .sum::<u64>()
        })
        .sum()
}

/// A stable hash of what the answer depends on, for the completion id.
fn fingerprint(request: &ChatRequest) -> u64 {
    let messages = serde_json::to_string(&request.messages).unwrap_or_default();
    let tools = serde_json::to_string(&request.tools).unwrap_or_default();
    fnv(&[
        request.model.as_bytes(),
        messages.as_bytes(),
        tools.as_bytes(),
    ])
}

/// 64-bit FNV-1a: tiny, stable across builds and platforms (std's hasher is not).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Value) -> ChatRequest {
        serde_json::from_value(value).unwrap()
    }

    fn echo_tool() -> Value {
        json!({"type": "function", "function": {"name": "echo-tool__echo", "description": "Echo",
            "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}})
    }

    #[test]
    fn answers_deterministically_and_counts_words() {
        let ask = request(
            json!({"model": "playground", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]}),
        );
        let first = complete(&ask, 1);
        let again = complete(&ask, 2);
        assert_eq!(first.id, again.id);
        assert_eq!(first.choices, again.choices);
        let choice = &first.choices[0];
        assert_eq!(choice.message.text(), "You said: hello there");
        assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
        assert_eq!(first.usage, Some(Usage::new(4, 4)));
        assert_eq!(first.model, "playground");
        let other = complete(
            &request(
                json!({"model": "playground", "messages": [{"role": "user", "content": "bye"}]}),
            ),
            1,
        );
        assert_ne!(other.id, first.id);
    }

    #[test]
    fn a_tool_named_first_is_called_then_its_result_summarised() {
        let mut conversation = json!({"model": "playground", "tools": [echo_tool()], "tool_choice": "auto",
            "messages": [{"role": "user", "content": "echo hello world"}]});
        let call = complete(&request(conversation.clone()), 0);
        let choice = &call.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(choice.message.content, None);
        let tool_call = &choice.message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(tool_call.function.name, "echo-tool__echo");
        assert_eq!(tool_call.function.arguments, r#"{"message":"hello world"}"#);
        assert!(tool_call.id.starts_with("call_"));

        let messages = conversation["messages"].as_array_mut().unwrap();
        messages.push(serde_json::to_value(&choice.message).unwrap());
        messages.push(json!({"role": "tool", "tool_call_id": tool_call.id, "content": "{\"reply\":\"hello world\"}"}));
        let summary = complete(&request(conversation), 0);
        assert_eq!(
            summary.choices[0].message.text(),
            r#"The echo-tool__echo tool returned: {"reply":"hello world"}"#
        );
        assert_eq!(summary.choices[0].finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn tool_selection_rules() {
        let weather = json!({"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]}}});
        let bare = json!({"type": "function", "function": {"name": "ping"}});
        let tools = json!([echo_tool(), weather, bare]);
        let call = |content: &str, choice: Value| {
            let response = complete(
                &request(json!({"model": "p", "tools": tools, "tool_choice": choice,
                    "messages": [{"role": "user", "content": content}]})),
                0,
            );
            response.choices[0]
                .message
                .tool_calls
                .as_ref()
                .map(|calls| {
                    (
                        calls[0].function.name.clone(),
                        calls[0].function.arguments.clone(),
                    )
                })
        };
        assert_eq!(
            call("What is get_weather for Paris?", json!("auto")),
            Some((
                "get_weather".into(),
                r#"{"city":"What is get_weather for Paris?","days":0}"#.into()
            ))
        );
        assert_eq!(
            call("ping now", json!("auto")),
            Some(("ping".into(), r#"{"message":"now"}"#.into()))
        );
        assert_eq!(
            call("echo-tool: hi", json!("auto")).unwrap().1,
            r#"{"message":"hi"}"#
        );
        assert_eq!(call("hello", json!("auto")), None);
        assert_eq!(call("echo hi", json!("none")), None);
        assert_eq!(
            call("hello", json!("required")).unwrap().0,
            "echo-tool__echo"
        );
        assert_eq!(
            call(
                "hello",
                json!({"type": "function", "function": {"name": "ping"}})
            )
            .unwrap(),
            ("ping".into(), r#"{"message":"hello"}"#.into())
        );
    }

    #[test]
    fn max_tokens_cuts_the_answer() {
        let response = complete(
            &request(
                json!({"model": "p", "max_tokens": 3, "messages": [{"role": "user", "content": "one two three four"}]}),
            ),
            0,
        );
        assert_eq!(response.choices[0].message.text(), "You said: one");
        assert_eq!(response.choices[0].finish_reason.as_deref(), Some("length"));
        let greeting = complete(&request(json!({"model": "p", "messages": []})), 0);
        assert_eq!(greeting.choices[0].message.text(), GREETING);
    }

    #[test]
    fn streams_as_word_chunks_that_add_up() {
        let response = complete(
            &request(json!({"model": "p", "messages": [{"role": "user", "content": "a b"}]})),
            0,
        );
        let chunks = response.clone().into_chunks();
        let text: String = chunks
            .iter()
            .flat_map(|chunk| chunk.choices.iter())
            .filter_map(|choice| choice.delta.content.clone())
            .collect();
        assert_eq!(text, response.choices[0].message.text());
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty());
        assert_eq!(last.usage, response.usage);
    }
}
