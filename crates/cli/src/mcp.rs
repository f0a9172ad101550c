//! `runagents mcp`: the platform as Model Context Protocol tools, on stdio, for coding
//! assistants. Every tool of the public MCP server (same names and parameters) plus
//! `list_approvals`; each calls the API client the CLI commands use.
//!
//! The protocol is implemented here rather than with the `rmcp` crate: a tools-only stdio
//! server needs five JSON-RPC methods (`initialize`, `notifications/initialized`, `ping`,
//! `tools/list`, `tools/call`), while `rmcp`'s `server` feature pulls schemars, chrono and a
//! second sha2/digest generation into the tree (about 17 crates, two of them proc macros), and
//! its derive path would generate the input schemas we want to write by hand anyway (the
//! public parameter names and defaults, and descriptions written for a model). The Python
//! `mcp` client tests it in `tests/compat/test_mcp.py`.
//!
//! Messages are one JSON object per line. Requests are answered concurrently (a
//! `wait_for_run` does not hold up a `ping`); each answer is written as one line.

mod tools;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::Ctx;
use crate::client::Client;
use crate::error::Result;
use crate::output::Output;

/// Protocol revisions this server speaks, newest first. Tools-only servers answer the same
/// way in all of them.
const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

const INSTRUCTIONS: &str = "RunAgents platform: deploy AI agents, register the tools (external APIs) they call, set the policies that govern those calls, follow agent runs, and decide access requests (approvals). Tools whose names start with list_, get_, export_ or wait_ only read; the others change the platform. A run in status PAUSED_APPROVAL is waiting for a human: list_approvals shows the pending request, approve_request or reject_request decides it. Every result is JSON text; a failed call is marked as an error and says what went wrong.";

/// How long in-flight calls may still finish once stdin has closed.
const DRAIN: Duration = Duration::from_secs(10);

pub(crate) struct Server {
    /// The API client, or why there is none (an unusable endpoint), said by every tool call.
    api: std::result::Result<Client, String>,
    out: Output,
}

pub(crate) async fn serve(ctx: &Ctx) -> Result<()> {
    let server = Arc::new(Server {
        api: ctx.api().cloned().map_err(|e| e.to_string()),
        out: ctx.out.clone(),
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                // End of input (or unreadable input): the client has gone.
                let Ok(Some(line)) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let server = server.clone();
                running.spawn(async move {
                    if let Some(answer) = server.receive(&line).await {
                        server.send(&answer);
                    }
                });
            }
            // Reap finished calls so the set does not grow.
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    let _ = tokio::time::timeout(DRAIN, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    running.abort_all();
    Ok(())
}

impl Server {
    fn send(&self, message: &Value) {
        // A closed stdout means the client has gone; nothing to tell anyone.
        let _ = self.out.line(&message.to_string());
    }

    /// The answer to one line of input, if it needs one.
    async fn receive(&self, line: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(error) => {
                return Some(failure(
                    &Value::Null,
                    -32700,
                    &format!("parse error: {error}"),
                ));
            }
        };
        match message {
            // A batch (protocol revision 2025-03-26): one array of answers.
            Value::Array(messages) => {
                let mut answers = Vec::new();
                for message in &messages {
                    if let Some(answer) = self.handle(message).await {
                        answers.push(answer);
                    }
                }
                (!answers.is_empty()).then_some(Value::Array(answers))
            }
            message => self.handle(&message).await,
        }
    }

    async fn handle(&self, message: &Value) -> Option<Value> {
        let Some(object) = message.as_object() else {
            return Some(failure(
                &Value::Null,
                -32600,
                "invalid request: not an object",
            ));
        };
        let id = object.get("id").cloned();
        let Some(method) = object.get("method").and_then(Value::as_str) else {
            // A response to a request of ours (we send none), or nonsense: nothing to say.
            return None;
        };
        // Notifications (`notifications/initialized`, `notifications/cancelled`) need no answer.
        let id = id?;
        let params = object.get("params").cloned().unwrap_or(Value::Null);
        Some(match method {
            "initialize" => success(&id, initialize(&params)),
            "ping" => success(&id, json!({})),
            "tools/list" => success(&id, json!({"tools": tools::list()})),
            "tools/call" => match self.call(&params).await {
                Ok(result) => success(&id, result),
                Err((code, message)) => failure(&id, code, &message),
            },
            other => failure(&id, -32601, &format!("method not found: {other}")),
        })
    }

    /// `tools/call`: an unknown tool is a protocol error; anything the tool itself runs into is
    /// a result with `isError`, so the model can read it and try again.
    async fn call(&self, params: &Value) -> std::result::Result<Value, (i64, String)> {
        let name = params["name"]
            .as_str()
            .ok_or((-32602, "tools/call needs params.name".to_owned()))?;
        let tool = tools::find(name).ok_or((-32602, format!("unknown tool: {name}")))?;
        let arguments = match &params["arguments"] {
            Value::Null => serde_json::Map::new(),
            Value::Object(arguments) => arguments.clone(),
            _ => return Err((-32602, "params.arguments must be an object".to_owned())),
        };
        let outcome = match &self.api {
            Ok(api) => tools::call(api, tool, &arguments).await,
            Err(message) => Err(
                json!({"error": message, "hint": "set the endpoint with `runagents config set endpoint URL` or RUNAGENTS_ENDPOINT, then restart the MCP server"}),
            ),
        };
        let (body, is_error) = match outcome {
            Ok(value) => (value, false),
            Err(value) => (value, true),
        };
        let text = serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string());
        Ok(json!({"content": [{"type": "text", "text": text}], "isError": is_error}))
    }
}

fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "runagents", "title": "RunAgents", "version": env!("CARGO_PKG_VERSION")},
        "instructions": INSTRUCTIONS,
    })
}

fn success(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn failure(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server {
            api: Err("no endpoint in this test".to_owned()),
            out: Output::new(crate::output::Format::Json),
        }
    }

    async fn ask(line: &str) -> Option<Value> {
        server().receive(line).await
    }

    #[tokio::test]
    async fn initialize_ping_and_unknown_methods() {
        let answer = ask(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await.unwrap();
        assert_eq!(answer["id"], 1);
        assert_eq!(answer["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(
            answer["result"]["capabilities"]["tools"]["listChanged"],
            false
        );
        assert_eq!(answer["result"]["serverInfo"]["name"], "runagents");
        let answer = ask(r#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#).await.unwrap();
        assert_eq!(answer["result"]["protocolVersion"], PROTOCOL_VERSIONS[0]);

        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
                .await
                .unwrap(),
            json!({"jsonrpc": "2.0", "id": 2, "result": {}})
        );
        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await,
            None
        );
        let answer = ask(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#)
            .await
            .unwrap();
        assert_eq!(answer["error"]["code"], -32601);
        let answer = ask("{not json").await.unwrap();
        assert_eq!(
            (answer["id"].clone(), answer["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
        let answer = ask(r#"[{"jsonrpc":"2.0","id":4,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#).await.unwrap();
        assert_eq!(answer, json!([{"jsonrpc": "2.0", "id": 4, "result": {}}]));
    }

    #[tokio::test]
    async fn tool_calls_report_problems_to_the_model() {
        let answer = ask(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#).await.unwrap();
        assert_eq!(answer["error"]["code"], -32602);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown tool: nope")
        );
        // No usable endpoint: a tool error the model can read, not a crash.
        let answer = ask(
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_agents"}}"#,
        )
        .await
        .unwrap();
        assert_eq!(answer["result"]["isError"], true);
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("no endpoint in this test"), "{text}");
    }
}
