//! Tier 1: the platform's own tool-calling loop. No process per agent: the loop calls the LLM
//! gateway and egress as functions, so a native agent's calls are metered, governed and
//! recorded exactly like a hosted agent's.
//!
//! The loop: system prompt + history + user message → model → for each tool call, a request
//! through egress → tool results back to the model, until it answers or `MAX_TOOL_ITERATIONS`
//! model calls are spent. A call that needs approval (or consent) pauses the run in egress; the
//! loop then stores a checkpoint (the conversation so far and the calls still to make) under
//! `{run_id}/{action_id}` and stops. After the approval the resume worker continues from that
//! checkpoint: the blocked call goes through egress again and gets the approved call's
//! recorded answer.

use runagents_domain::agent::toolset::{self, Toolset};
use runagents_llm::wire::{Message, ToolCall, Usage};
use runagents_llm::{ChatRequest, ChatResponse};
use runagents_store::{Document, Kind, RunRecord, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::agents::Agent;
use crate::egress::{AgentIdentity, Outbound, Outcome};
use crate::gateway::{Attribution, Chat};
use crate::{Engine, Error, Result};

/// Model calls per turn when the agent's env does not set `MAX_TOOL_ITERATIONS`.
const DEFAULT_MAX_ITERATIONS: u32 = 10;
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant.";
/// What the model is given of a tool's answer, at most.
const MAX_TOOL_RESULT: usize = 16 * 1024;
/// What a `tool_result` frame shows of a result, as the public runtime does.
const MAX_FRAME_RESULT: usize = 1000;
const ITERATIONS_SPENT: &str =
    "I reached the maximum number of tool call iterations. Here's what I have so far.";

/// One streamed event of a turn, in the public runtime's SSE shape (`{"type": ...}`).
pub type Frame = Value;

/// Where a turn's frames go, if anyone listens.
pub type Frames = Option<mpsc::Sender<Frame>>;

pub(crate) async fn emit(frames: &Frames, frame: Frame) {
    if let Some(sender) = frames {
        // A listener that went away does not stop the turn: the run still completes.
        let _ = sender.send(frame).await;
    }
}

/// A loop's state between model calls: everything needed to continue after a pause.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoopState {
    pub messages: Vec<Message>,
    /// Calls of the last assistant message not made yet; the first one is next.
    pub pending_calls: Vec<ToolCall>,
    pub iterations: u32,
    pub model: String,
    pub usage: Usage,
    pub tool_calls_made: Vec<Value>,
}

/// How a turn of the loop ended.
#[derive(Debug)]
pub enum LoopEnd {
    Answered(LoopState, String),
    /// A tool call needs a decision first; the run is paused and a checkpoint stored.
    Paused {
        state: LoopState,
        action_id: String,
        /// The refusal's body as the agent got it (`code`, `action_id`, `tool`, ...).
        detail: Value,
    },
}

/// The stored checkpoint of a paused native turn.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    action_id: String,
    resume_mode: String,
    state: LoopState,
}

const NATIVE: &str = "native";

/// The key of a checkpoint document.
pub(crate) fn checkpoint_key(run_id: &str, action_id: &str) -> String {
    format!("{run_id}/{action_id}")
}

impl Engine {
    /// The functions `agent` offers its model, from its tools' capabilities.
    pub async fn agent_toolset(&self, workspace: &str, agent: &Agent) -> Result<Toolset> {
        let mut tools = Vec::new();
        for name in agent.spec.referenced_tools() {
            tools.push((name.to_owned(), self.get_tool(workspace, name).await?.spec));
        }
        Ok(toolset::toolset(
            tools.iter().map(|(name, spec)| (name.as_str(), spec)),
        ))
    }

    /// The first state of a turn: system prompt, history, the user's message.
    pub(crate) fn first_state(
        agent: &Agent,
        history: &[(String, String)],
        message: &str,
    ) -> LoopState {
        let prompt = if agent.spec.system_prompt.trim().is_empty() {
            DEFAULT_SYSTEM_PROMPT
        } else {
            agent.spec.system_prompt.as_str()
        };
        let mut messages = vec![Message::new("system", prompt)];
        messages.extend(
            history
                .iter()
                .filter(|(role, content)| !role.is_empty() && !content.is_empty())
                .map(|(role, content)| Message::new(role, content.clone())),
        );
        messages.push(Message::new("user", message));
        LoopState {
            messages,
            model: agent
                .spec
                .main_llm()
                .map(|config| config.model.clone())
                .unwrap_or_default(),
            ..LoopState::default()
        }
    }

    /// Runs the loop from `state` until the model answers or a call pauses the run.
    pub(crate) async fn run_loop(
        &self,
        agent: &Agent,
        run: &RunRecord,
        mut state: LoopState,
        frames: &Frames,
    ) -> Result<LoopEnd> {
        let workspace = run.workspace.as_str();
        if state.model.is_empty() {
            return Err(Error::Invalid(format!(
                "agent {:?} has no model: add an llm_configs entry",
                agent.name
            )));
        }
        let toolset = self.agent_toolset(workspace, agent).await?;
        let identity = AgentIdentity {
            workspace: workspace.to_owned(),
            agent: agent.name.clone(),
        };
        let max_iterations = max_iterations(agent);
        loop {
            while let Some(call) = state.pending_calls.first().cloned() {
                let function = call.function.name.clone();
                emit(
                    frames,
                    json!({"type": "tool_call", "tool": function, "arguments": call.function.arguments}),
                )
                .await;
                match self
                    .call_function(&identity, run, &toolset, &call, state.iterations)
                    .await
                {
                    Called::Result { text, made } => {
                        self.log_agent(
                            workspace,
                            &agent.name,
                            format!(
                                "run {}: {function} -> {} {} {}",
                                run.id,
                                made["method"].as_str().unwrap_or("-"),
                                // The path only: a query may carry the call's arguments.
                                made["url"]
                                    .as_str()
                                    .unwrap_or("-")
                                    .split('?')
                                    .next()
                                    .unwrap_or("-"),
                                made["status_code"]
                                    .as_u64()
                                    .map_or_else(|| "not sent".to_owned(), |s| format!("HTTP {s}"))
                            ),
                        );
                        emit(
                            frames,
                            json!({"type": "tool_result", "tool": function, "result": cut(&text, MAX_FRAME_RESULT)}),
                        )
                        .await;
                        state.tool_calls_made.push(made);
                        state.messages.push(Message {
                            role: "tool".to_owned(),
                            content: Some(runagents_llm::wire::Content::Text(text)),
                            tool_call_id: Some(call.id.clone()),
                            ..Message::default()
                        });
                        state.pending_calls.remove(0);
                    }
                    Called::Paused { action_id, detail } => {
                        self.log_agent(
                            workspace,
                            &agent.name,
                            format!(
                                "run {}: {function} paused: {} (action {action_id})",
                                run.id,
                                detail["code"].as_str().unwrap_or_default()
                            ),
                        );
                        self.save_checkpoint(workspace, &run.id, &action_id, &state)
                            .await?;
                        let kind = if detail["code"] == "CONSENT_REQUIRED" {
                            "consent_required"
                        } else {
                            "approval_required"
                        };
                        emit(
                            frames,
                            json!({"type": kind, "tool": detail["tool"].clone(), "detail": detail}),
                        )
                        .await;
                        return Ok(LoopEnd::Paused {
                            state,
                            action_id,
                            detail,
                        });
                    }
                }
            }
            if state.iterations >= max_iterations {
                emit(
                    frames,
                    json!({"type": "content", "delta": ITERATIONS_SPENT}),
                )
                .await;
                return Ok(LoopEnd::Answered(state, ITERATIONS_SPENT.to_owned()));
            }
            state.iterations += 1;
            let response = self.complete(agent, run, &state, &toolset).await?;
            if let Some(usage) = &response.usage {
                state.usage.prompt_tokens += usage.prompt_tokens;
                state.usage.completion_tokens += usage.completion_tokens;
                state.usage.total_tokens += usage.total_tokens;
            }
            let Some(choice) = response.choices.into_iter().next() else {
                return Err(Error::Upstream("the model returned no choices".into()));
            };
            let message = choice.message;
            let calls = message.tool_calls.clone().unwrap_or_default();
            let text = message.text();
            state.messages.push(message);
            if calls.is_empty() {
                emit(frames, json!({"type": "content", "delta": text})).await;
                return Ok(LoopEnd::Answered(state, text));
            }
            state.pending_calls = calls;
        }
    }

    async fn complete(
        &self,
        agent: &Agent,
        run: &RunRecord,
        state: &LoopState,
        toolset: &Toolset,
    ) -> Result<ChatResponse> {
        let tools = if toolset.definitions.is_empty() {
            None
        } else {
            Some(
                toolset
                    .definitions
                    .iter()
                    .map(|definition| serde_json::from_value(definition.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::Invalid(format!("tool definition: {e}")))?,
            )
        };
        let request = ChatRequest {
            model: state.model.clone(),
            messages: state.messages.clone(),
            tool_choice: tools.as_ref().map(|_| json!("auto")),
            tools,
            ..ChatRequest::default()
        };
        let who = Attribution {
            workspace: run.workspace.clone(),
            agent: Some(agent.name.clone()),
            run_id: Some(run.id.clone()),
        };
        match self.chat(&who, request).await? {
            Chat::Complete(response) => Ok(response),
            Chat::Stream(_) => Err(Error::Upstream(
                "the gateway streamed an answer that was not asked to stream".into(),
            )),
        }
    }

    /// One function call, through egress.
    async fn call_function(
        &self,
        identity: &AgentIdentity,
        run: &RunRecord,
        toolset: &Toolset,
        call: &ToolCall,
        turn: u32,
    ) -> Called {
        let function = call.function.name.as_str();
        let Some(route) = toolset.routes.get(function) else {
            return Called::error(
                function,
                json!({"error": "unknown function", "detail": format!("{function} is not one of this agent's functions")}),
            );
        };
        let request = match route.request(&call.function.arguments) {
            Ok(request) => request,
            Err(invalid) => {
                return Called::error(
                    function,
                    json!({"error": "invalid arguments", "detail": invalid.0}),
                );
            }
        };
        let made = json!({"function": function, "tool": route.tool, "method": request.method, "url": request.path_and_query});
        let outbound = Outbound {
            tool: route.tool.clone(),
            method: request.method.clone(),
            path_and_query: request.path_and_query.clone(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("x-tool-call-id".to_owned(), call.id.clone()),
                ("x-tool-function".to_owned(), function.to_owned()),
                ("x-tool-turn".to_owned(), turn.to_string()),
            ],
            body: request.body,
            run_id: Some(run.id.clone()),
        };
        match self.egress(identity, outbound).await {
            Outcome::Forwarded(response) => {
                let status = response.status().as_u16();
                let body = crate::egress::read_whole(response.into_body())
                    .await
                    .map(|b| b.to_vec());
                match body {
                    Ok(body) => answered(made, status, &body),
                    Err(error) => Called::Result {
                        text: json!({"error": "tool response was cut off", "detail": error.to_string()}).to_string(),
                        made,
                    },
                }
            }
            Outcome::Replayed { status, body, .. } => answered(made, status, &body),
            Outcome::Refused(refusal) => {
                let mut detail = json!({"code": refusal.code, "error": refusal.code, "message": refusal.message});
                if let Some(object) = detail.as_object_mut() {
                    object.extend(refusal.extra);
                }
                let action_id = detail["action_id"].as_str().unwrap_or_default().to_owned();
                let interrupt = matches!(refusal.code, "APPROVAL_REQUIRED" | "CONSENT_REQUIRED");
                if interrupt && !action_id.is_empty() {
                    if detail.get("tool").is_none() {
                        detail["tool"] = json!(route.tool);
                    }
                    Called::Paused { action_id, detail }
                } else {
                    Called::Result {
                        text: detail.to_string(),
                        made,
                    }
                }
            }
        }
    }

    async fn save_checkpoint(
        &self,
        workspace: &str,
        run_id: &str,
        action_id: &str,
        state: &LoopState,
    ) -> Result<()> {
        let checkpoint = Checkpoint {
            action_id: action_id.to_owned(),
            resume_mode: NATIVE.to_owned(),
            state: state.clone(),
        };
        let body = serde_json::to_value(&checkpoint)
            .map_err(|e| Error::Invalid(format!("checkpoint: {e}")))?;
        self.put_checkpoint(workspace, run_id, action_id, body)
            .await
    }

    /// Stores a checkpoint (native, or posted by a hosted runtime) for `run_id` and `action_id`.
    pub async fn put_checkpoint(
        &self,
        workspace: &str,
        run_id: &str,
        action_id: &str,
        body: Value,
    ) -> Result<()> {
        let now = runagents_domain::Timestamp::now();
        let document = Document {
            key: checkpoint_key(run_id, action_id),
            body,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        self.store
            .put_document(workspace, Kind::Checkpoint, &document, &[], Write::Upsert)
            .await?;
        Ok(())
    }

    /// The checkpoint stored for `run_id` and `action_id`, as it was stored.
    pub async fn get_checkpoint(
        &self,
        workspace: &str,
        run_id: &str,
        action_id: &str,
    ) -> Result<Option<Value>> {
        Ok(self
            .store
            .get_document(
                workspace,
                Kind::Checkpoint,
                &checkpoint_key(run_id, action_id),
            )
            .await?
            .map(|document| document.body))
    }

    /// The native loop state stored at a pause, if the pause was a native loop's.
    pub(crate) async fn native_checkpoint(
        &self,
        workspace: &str,
        run_id: &str,
        action_id: &str,
    ) -> Result<Option<LoopState>> {
        let Some(body) = self.get_checkpoint(workspace, run_id, action_id).await? else {
            return Ok(None);
        };
        if body["resume_mode"] != NATIVE {
            return Ok(None);
        }
        let checkpoint: Checkpoint = serde_json::from_value(body)
            .map_err(|e| Error::Invalid(format!("stored checkpoint: {e}")))?;
        Ok(Some(checkpoint.state))
    }
}

/// What one function call gave the loop.
enum Called {
    Result { text: String, made: Value },
    Paused { action_id: String, detail: Value },
}

impl Called {
    fn error(function: &str, error: Value) -> Self {
        Called::Result {
            text: error.to_string(),
            made: json!({"function": function}),
        }
    }
}

/// A tool's answer as the model sees it: the body, or `{"error":"HTTP n","detail":body}`.
fn answered(mut made: Value, status: u16, body: &[u8]) -> Called {
    let text = String::from_utf8_lossy(body);
    let text = cut(&text, MAX_TOOL_RESULT);
    made["status_code"] = json!(status);
    let text = if (200..300).contains(&status) {
        text
    } else {
        json!({"error": format!("HTTP {status}"), "detail": text}).to_string()
    };
    Called::Result { text, made }
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// `MAX_TOOL_ITERATIONS` from the agent's env, as the public runtime reads it.
fn max_iterations(agent: &Agent) -> u32 {
    agent
        .spec
        .env
        .iter()
        .find(|var| var.name == "MAX_TOOL_ITERATIONS")
        .and_then(|var| var.value.trim().parse().ok())
        .filter(|n: &u32| *n > 0)
        .unwrap_or(DEFAULT_MAX_ITERATIONS)
        .min(100)
}
