//! Tier 2 turns: the agent's code runs under the public Python runtime in a process the
//! platform supervises; a turn is an HTTP call to that process's `/invoke` (or
//! `/invoke/stream`, relayed frame by frame).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::agent_loop::{Frames, emit};
use crate::agents::Agent;
use crate::invoke::{InvokeRequest, TurnEnd, history_json};
use crate::{Engine, Error, Result};
use runagents_store::RunRecord;

/// A turn may take this long (the runtime's own LLM timeout is 120 s per call).
const TURN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a continuation waits for a hosted runtime that is not running yet.
const CONTINUE_WAIT: Duration = Duration::from_secs(180);

impl Engine {
    /// Runs a turn on the agent's hosted runtime.
    pub(crate) async fn hosted_turn(
        &self,
        agent: &Agent,
        run: &RunRecord,
        request: &InvokeRequest,
        frames: &Frames,
    ) -> Result<TurnEnd> {
        let url = self.hosted_url(&run.workspace, &agent.name)?;
        let history = history_json(&request.history);
        let body = json!({"message": request.message, "history": history, "run_id": run.id, "user_id": run.user_id});
        let secret = self.derive_hosted_credential(&run.workspace, agent);
        self.call_runtime(&url, "/invoke", run, &body, frames, &secret)
            .await
    }

    /// Continues a hosted turn after an approval: `/resume/{action_id}` when the runtime stored
    /// a checkpoint for it, else the same message again with the history the run began with.
    pub(crate) async fn continue_hosted(
        &self,
        agent: &Agent,
        run: &RunRecord,
        action_id: &str,
        // The history the run began with (its INVOKE_REQUESTED event's).
        history: &Value,
    ) -> Result<TurnEnd> {
        // After a restart the runtime may still be building or starting: give it time.
        let deadline = tokio::time::Instant::now() + CONTINUE_WAIT;
        let url = loop {
            match self.hosted_url(&run.workspace, &agent.name) {
                Ok(url) => break url,
                Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        let secret = self.derive_hosted_credential(&run.workspace, agent);
        let ids = json!({"run_id": run.id, "user_id": run.user_id});
        // A new turn number first: egress serves this turn the answers of the calls the earlier
        // turns made, so a handler that starts over makes none of them twice.
        if run.turn > 0 {
            self.store.next_run_turn(&run.workspace, &run.id).await?;
        }
        if self
            .get_checkpoint(&run.workspace, &run.id, action_id)
            .await?
            .is_some()
        {
            return self
                .call_runtime(
                    &url,
                    &format!("/resume/{action_id}"),
                    run,
                    &ids,
                    &None,
                    &secret,
                )
                .await;
        }
        let history = Some(history.clone())
            .filter(Value::is_array)
            .unwrap_or_else(|| json!([]));
        let body = json!({"message": run.initial_message, "history": history, "run_id": run.id, "user_id": run.user_id});
        self.call_runtime(&url, "/invoke", run, &body, &None, &secret)
            .await
    }

    /// POSTs `body` to the runtime at `base` + `path` (streaming when someone listens).
    pub(crate) async fn call_runtime(
        &self,
        base: &str,
        path: &str,
        run: &RunRecord,
        body: &Value,
        frames: &Frames,
        secret: &str,
    ) -> Result<TurnEnd> {
        // The runtime reports the URLs it called, and they carry the agent's credential.
        let scrub = |text: &str| text.replace(secret, "[redacted]");
        let streaming = frames.is_some();
        let path = if streaming {
            format!("{path}/stream")
        } else {
            path.to_owned()
        };
        let response = self
            .http
            .post(format!("{base}{path}"))
            .timeout(TURN_TIMEOUT)
            .header("x-run-id", &run.id)
            .header("x-end-user-id", &run.user_id)
            .header("x-request-id", &run.id)
            .json(body)
            .send()
            .await
            .map_err(|e| Error::Upstream(format!("failed to reach agent: {e}")))?;
        let status = response.status().as_u16();
        if !streaming || status != 200 {
            let text = response
                .text()
                .await
                .map_err(|e| Error::Upstream(format!("failed to read the agent's answer: {e}")))?;
            let text = scrub(&text);
            let answer: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| json!({"response": text}));
            if status != 200 {
                let error = answer["error"].as_str().unwrap_or(&text).to_owned();
                return Err(Error::Upstream(format!(
                    "agent answered HTTP {status}: {error}"
                )));
            }
            return Ok(turn_of(answer));
        }
        // Relay the runtime's frames, keeping what the run records.
        let mut content = String::new();
        let mut done = json!({});
        let mut interrupt: Option<Value> = None;
        let mut buffer = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Upstream(format!("agent stream broke: {e}")))?;
            buffer.extend_from_slice(&chunk);
            while let Some(end) = find_frame_end(&buffer) {
                let frame: Vec<u8> = buffer.drain(..end + 2).collect();
                let text = scrub(&String::from_utf8_lossy(&frame));
                let Some(data) = text.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    continue;
                }
                let Ok(frame) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                match frame["type"].as_str().unwrap_or_default() {
                    "content" => content.push_str(frame["delta"].as_str().unwrap_or_default()),
                    "approval_required" | "consent_required" => interrupt = Some(frame.clone()),
                    "error" => {
                        let message = frame["message"]
                            .as_str()
                            .unwrap_or("agent failed")
                            .to_owned();
                        return Err(Error::Upstream(message));
                    }
                    "done" => {
                        done = frame;
                        continue;
                    }
                    _ => {}
                }
                emit(frames, frame).await;
            }
        }
        let mut answer = json!({
            "response": content,
            "model": done["model"].clone(),
            "tool_calls_made": done.get("tool_calls_made").cloned().unwrap_or_else(|| json!([])),
        });
        if let Some(frame) = interrupt {
            let key = frame["type"]
                .as_str()
                .unwrap_or("approval_required")
                .to_owned();
            answer[key] = frame["detail"].clone();
        }
        Ok(turn_of(answer))
    }
}

/// The end of the first SSE frame in `buffer` (the index of its blank line).
fn find_frame_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|pair| pair == b"\n\n")
}

/// A runtime's answer as a turn's end: paused when it reports an interrupt.
fn turn_of(answer: Value) -> TurnEnd {
    let paused = ["approval_required", "consent_required"]
        .iter()
        .any(|key| answer.get(*key).is_some_and(Value::is_object));
    if paused {
        TurnEnd::Paused { body: answer }
    } else {
        TurnEnd::Answered {
            text: answer["response"].as_str().unwrap_or_default().to_owned(),
            body: answer,
        }
    }
}
