//! Invoking an agent: every invoke is a run. The run is created with the user's message, the
//! agent's turn runs (the native loop for Tier 1, the hosted runtime for Tier 2), and the run
//! ends COMPLETED with the answer or FAILED with the error, unless a governed call paused it on
//! the way: then it waits, PAUSED_APPROVAL (or PAUSED_CONSENT), and the resume worker finishes
//! the turn after the decision.
//!
//! Timeline: RUN_CREATED, USER_MESSAGE, INVOKE_REQUESTED, then INVOKE_COMPLETED +
//! AGENT_MESSAGE + COMPLETED, or INVOKE_FAILED + FAILED.

use std::time::Instant;

use runagents_domain::Timestamp;
use runagents_domain::agent::plan::ExecutionMode;
use runagents_domain::run::RunStatus;
use runagents_store::{RunRecord, RunUpdate};
use serde_json::{Value, json};

use crate::agent_loop::{Frames, LoopEnd, LoopState, emit};
use crate::agents::Agent;
use crate::runs::{NewRun, event};
use crate::{Engine, Error, Result};

/// What a caller asks of an agent.
#[derive(Clone, Debug, Default)]
pub struct InvokeRequest {
    pub message: String,
    /// Earlier turns, `(role, content)`.
    pub history: Vec<(String, String)>,
    /// Continue this conversation; a new one when empty.
    pub conversation_id: String,
    /// Who the agent acts for: the end user's identity.
    pub user_id: String,
    /// Where the invoke came in (recorded on the run).
    pub invoke_url: String,
    /// Where the final answer is POSTed when the run ends (an http(s) URL); empty for nowhere.
    pub callback_url: String,
}

/// An invoke whose run exists and whose turn has not run yet.
#[derive(Debug)]
pub struct Started {
    pub run: RunRecord,
    agent: Agent,
    request: InvokeRequest,
}

/// The answer of an invoke: the run, and the body the agent answered (the runtime's shape).
#[derive(Debug)]
pub struct Invoked {
    pub run: RunRecord,
    pub body: Value,
}

/// How one turn of an agent ended, whatever runs it.
pub(crate) enum TurnEnd {
    Answered {
        text: String,
        body: Value,
    },
    /// The body carries `approval_required` or `consent_required`.
    Paused {
        body: Value,
    },
}

impl Engine {
    /// Runs one turn of `agent_name` for `request`; frames stream to `frames` as it goes.
    pub async fn invoke(
        &self,
        workspace: &str,
        agent_name: &str,
        request: InvokeRequest,
        frames: Frames,
    ) -> Result<Invoked> {
        let started = self.start_invoke(workspace, agent_name, request).await?;
        self.run_invoke(started, frames).await
    }

    /// Checks the request and creates its run (RUN_CREATED, USER_MESSAGE, INVOKE_REQUESTED);
    /// a refused request creates nothing.
    pub async fn start_invoke(
        &self,
        workspace: &str,
        agent_name: &str,
        request: InvokeRequest,
    ) -> Result<Started> {
        if request.message.trim().is_empty() {
            return Err(Error::Invalid("message is required".into()));
        }
        if !request.callback_url.is_empty() {
            runagents_domain::url::http_url("callback_url", &request.callback_url)?;
        }
        let agent = self.get_agent(workspace, agent_name).await?;
        self.check_invocable(workspace, &agent)?;
        // A hosted turn is one the platform may invoke again after a pause: its calls are
        // recorded from the first turn on, so a later turn gets their answers back.
        let turn = i64::from(agent.spec.plan.execution_mode == ExecutionMode::PythonRuntime);
        let (run, _) = self
            .create_run(
                workspace,
                NewRun {
                    agent: agent.name.clone(),
                    user_id: request.user_id.clone(),
                    conversation_id: request.conversation_id.clone(),
                    invoke_url: request.invoke_url.clone(),
                    initial_message: request.message.clone(),
                    callback_url: request.callback_url.clone(),
                    turn,
                },
            )
            .await?;
        self.store
            .append_events(
                workspace,
                &run.id,
                &[event(
                    "INVOKE_REQUESTED",
                    "platform",
                    json!({"agent": agent.name, "tier": agent.spec.plan.tier, "conversation_id": run.conversation_id, "history": history_json(&request.history)}),
                )],
            )
            .await?;
        Ok(Started {
            run,
            agent,
            request,
        })
    }

    /// Runs the turn of a started invoke and records how it ended.
    pub async fn run_invoke(&self, started: Started, frames: Frames) -> Result<Invoked> {
        let Started {
            run,
            agent,
            request,
        } = started;
        let clock = Instant::now();
        self.log_agent(
            &run.workspace,
            &agent.name,
            format!("run {}: turn started for user {}", run.id, run.user_id),
        );
        let turn = match agent.spec.plan.execution_mode {
            ExecutionMode::NativeLoop => {
                let state = Self::first_state(&agent, &request.history, &request.message);
                self.native_turn(&agent, &run, state, &frames).await
            }
            ExecutionMode::PythonRuntime => self.hosted_turn(&agent, &run, &request, &frames).await,
            ExecutionMode::ContainerImage => Err(Error::Unsupported(
                "image agents need the kubernetes hosting backend".into(),
            )),
        };
        let (run, body) = self.finish_turn(&run, turn, clock, &frames).await?;
        Ok(Invoked { run, body })
    }

    /// After a restart: runs whose turn was resumed (an approval or a consent) but whose
    /// continuation did not get to record anything are continued now. A continuation records
    /// events as it goes, so a run whose last event is still RESUMED was cut off.
    pub async fn continue_interrupted_turns(&self) -> Result<usize> {
        let mut continued = 0;
        for workspace in self.store.list_workspaces().await? {
            let filter = runagents_store::RunFilter {
                statuses: vec![RunStatus::Running.as_str().to_owned()],
                limit: 1000,
                ..runagents_store::RunFilter::default()
            };
            for run in self.store.list_runs(&workspace, &filter).await? {
                let last = self
                    .store
                    .list_events(&workspace, &run.id, 0, Some(1))
                    .await?;
                let Some(resumed) = last.first().filter(|event| event.kind == "RESUMED") else {
                    continue;
                };
                let action_id = resumed.data["action_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let engine = self.clone();
                let (workspace, run_id) = (workspace.clone(), run.id.clone());
                self.background.spawn(async move {
                    if let Err(error) = engine.continue_turn(&workspace, &run_id, &action_id).await {
                        tracing::warn!(run = %run_id, %error, "could not continue an interrupted run");
                    }
                });
                continued += 1;
            }
        }
        Ok(continued)
    }

    /// Continues a run's turn after the approved call that paused it was made: a native turn
    /// from its checkpoint, a hosted one by `/resume/{action_id}` when the runtime stored a
    /// checkpoint, else by invoking it again (the approved call then gets its recorded answer).
    pub async fn continue_turn(
        &self,
        workspace: &str,
        run_id: &str,
        action_id: &str,
    ) -> Result<()> {
        let run = self.get_run(workspace, run_id).await?;
        if run.status != RunStatus::Running.as_str() {
            return Ok(());
        }
        // A run this platform did not start (an agent hosted elsewhere, calling the agent
        // plane) goes on by itself: its retry of the call gets the recorded answer.
        let Some(requested) = self
            .store
            .list_events(workspace, run_id, 0, None)
            .await?
            .into_iter()
            .find(|event| event.kind == "INVOKE_REQUESTED")
        else {
            return Ok(());
        };
        let started = Instant::now();
        self.log_agent(
            workspace,
            &run.agent,
            format!("run {run_id}: continuing after action {action_id}"),
        );
        let turn = match self.get_agent(workspace, &run.agent).await {
            Err(error) => Err(error),
            Ok(agent) => match agent.spec.plan.execution_mode {
                ExecutionMode::NativeLoop => {
                    match self.native_checkpoint(workspace, run_id, action_id).await? {
                        Some(state) => self.native_turn(&agent, &run, state, &None).await,
                        None => Err(Error::Invalid(format!(
                            "no checkpoint for action {action_id} of run {run_id}"
                        ))),
                    }
                }
                ExecutionMode::PythonRuntime => {
                    let history = &requested.data["history"];
                    self.continue_hosted(&agent, &run, action_id, history).await
                }
                ExecutionMode::ContainerImage => Err(Error::Unsupported(
                    "image agents need the kubernetes hosting backend".into(),
                )),
            },
        };
        self.finish_turn(&run, turn, started, &None).await?;
        Ok(())
    }

    /// Refuses to start a run the agent cannot take.
    fn check_invocable(&self, workspace: &str, agent: &Agent) -> Result<()> {
        match agent.spec.plan.execution_mode {
            ExecutionMode::NativeLoop => {
                if agent.spec.main_llm().is_none() {
                    return Err(Error::Invalid(format!(
                        "agent {:?} has no model: add an llm_configs entry",
                        agent.name
                    )));
                }
                Ok(())
            }
            ExecutionMode::PythonRuntime => self.hosted_url(workspace, &agent.name).map(|_| ()),
            ExecutionMode::ContainerImage => Err(Error::Unsupported(
                "image agents need the kubernetes hosting backend".into(),
            )),
        }
    }

    /// A native turn from `state`.
    pub(crate) async fn native_turn(
        &self,
        agent: &Agent,
        run: &RunRecord,
        state: LoopState,
        frames: &Frames,
    ) -> Result<TurnEnd> {
        Ok(match self.run_loop(agent, run, state, frames).await? {
            LoopEnd::Answered(state, text) => TurnEnd::Answered {
                body: json!({
                    "response": text,
                    "model": state.model,
                    "usage": state.usage,
                    "tool_calls_made": state.tool_calls_made,
                }),
                text,
            },
            LoopEnd::Paused { state, detail, .. } => TurnEnd::Paused {
                body: paused_body(&detail, &state.model, &state.tool_calls_made),
            },
        })
    }

    /// Records how the turn ended on the run and gives the invoke's answer.
    pub(crate) async fn finish_turn(
        &self,
        run: &RunRecord,
        turn: Result<TurnEnd>,
        started: Instant,
        frames: &Frames,
    ) -> Result<(RunRecord, Value)> {
        let workspace = run.workspace.as_str();
        let duration_ms = started.elapsed().as_millis() as u64;
        let ids = |mut body: Value, run: &RunRecord| {
            body["run_id"] = json!(run.id);
            body["conversation_id"] = json!(run.conversation_id);
            body["status"] = json!(run.status);
            body["duration_ms"] = json!(duration_ms);
            body
        };
        let outcome = match &turn {
            Ok(TurnEnd::Answered { body, .. }) => format!(
                "answered in {duration_ms} ms after {} tool call(s)",
                body["tool_calls_made"].as_array().map_or(0, Vec::len)
            ),
            Ok(TurnEnd::Paused { .. }) => "paused, waiting for a decision".to_owned(),
            Err(error) => format!("failed: {error}"),
        };
        self.log_agent(workspace, &run.agent, format!("run {}: {outcome}", run.id));
        match turn {
            Ok(TurnEnd::Answered { text, body }) => {
                let current = self.get_run(workspace, &run.id).await?;
                if current.status != RunStatus::Running.as_str() {
                    // Paused (or rejected) by a governed call the agent did not report: the
                    // run's answer comes when it resumes.
                    emit(frames, json!({"type": "done", "model": body["model"], "tool_calls_made": body["tool_calls_made"], "status": current.status})).await;
                    return Ok((current.clone(), ids(body, &current)));
                }
                let update = RunUpdate {
                    from: RunStatus::Running.as_str().to_owned(),
                    to: RunStatus::Completed.as_str().to_owned(),
                    blocked_action_id: None,
                    final_answer: Some(text.clone()),
                    at: Timestamp::now(),
                };
                let events = [
                    event(
                        "INVOKE_COMPLETED",
                        "platform",
                        json!({"model": body["model"], "usage": body["usage"], "tool_calls": body["tool_calls_made"].as_array().map_or(0, Vec::len), "duration_ms": duration_ms}),
                    ),
                    event("AGENT_MESSAGE", "agent", json!({"message": text})),
                    event("COMPLETED", "platform", json!({})),
                ];
                let finished = self
                    .store
                    .update_run(workspace, &run.id, &update, &events)
                    .await;
                let finished = match finished {
                    Ok((finished, _)) => {
                        self.wake_callbacks();
                        finished
                    }
                    // Moved meanwhile (a pause landed between the read and the write).
                    Err(runagents_store::Error::Conflict(_)) => {
                        self.get_run(workspace, &run.id).await?
                    }
                    Err(error) => return Err(error.into()),
                };
                emit(frames, json!({"type": "done", "model": body["model"], "tool_calls_made": body["tool_calls_made"]})).await;
                Ok((finished.clone(), ids(body, &finished)))
            }
            Ok(TurnEnd::Paused { body, .. }) => {
                let current = self.get_run(workspace, &run.id).await?;
                emit(frames, json!({"type": "done", "model": body["model"], "tool_calls_made": body["tool_calls_made"], "status": current.status})).await;
                Ok((current.clone(), ids(body, &current)))
            }
            Err(error) => {
                let message = error.to_string();
                let current = self.get_run(workspace, &run.id).await?;
                let update = RunUpdate {
                    from: current.status.clone(),
                    to: RunStatus::Failed.as_str().to_owned(),
                    blocked_action_id: None,
                    final_answer: None,
                    at: Timestamp::now(),
                };
                let events = [
                    event(
                        "INVOKE_FAILED",
                        "platform",
                        json!({"error": message, "duration_ms": duration_ms}),
                    ),
                    event("FAILED", "platform", json!({"error": message})),
                ];
                if RunStatus::parse(&current.status).is_ok_and(|status| !status.is_terminal()) {
                    self.store
                        .update_run(workspace, &run.id, &update, &events)
                        .await?;
                    self.wake_callbacks();
                }
                emit(frames, json!({"type": "error", "message": message})).await;
                Err(error)
            }
        }
    }
}

pub(crate) fn history_json(history: &[(String, String)]) -> Value {
    history
        .iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

/// The runtime's answer to a paused turn: HTTP 200 with `approval_required` (or
/// `consent_required`) and a message saying what to do.
fn paused_body(detail: &Value, model: &str, tool_calls_made: &[Value]) -> Value {
    let tool = detail["tool"].as_str().unwrap_or_default();
    if detail["code"] == "CONSENT_REQUIRED" {
        let message = detail["message"]
            .as_str()
            .unwrap_or("You need to connect a tool before I can continue.");
        let url = detail["authorization_url"].as_str().unwrap_or_default();
        return json!({
            "response": format!("{message} {url}").trim(),
            "code": "CONSENT_REQUIRED",
            "message": message,
            "tool": tool,
            "authorization_url": url,
            "resume_id": detail["resume_id"].clone(),
            "consent_required": detail,
            "model": model,
            "tool_calls_made": tool_calls_made,
        });
    }
    let message = detail["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Tool '{tool}' requires approval before it can be used."));
    json!({
        "response": message,
        "approval_required": detail,
        "model": model,
        "tool_calls_made": tool_calls_made,
    })
}
