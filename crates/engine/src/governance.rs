//! The runtime's governance calls on the agent plane (`GOVERNANCE_URL`): checkpoints of paused
//! turns and reports of tool results. An agent reaches only its own runs.

use runagents_store::RunRecord;
use serde_json::{Value, json};

use crate::egress::AgentIdentity;
use crate::runs::event;
use crate::{Engine, Error, Result};

/// What a reported tool result keeps of the result text.
const MAX_REPORTED_RESULT: usize = 4000;

impl Engine {
    /// The run `run_id` if it is one of the agent's; not found otherwise (another agent's run
    /// is not even said to exist).
    pub async fn agent_run(&self, identity: &AgentIdentity, run_id: &str) -> Result<RunRecord> {
        match self.store.get_run(&identity.workspace, run_id).await? {
            Some(run) if run.agent == identity.agent => Ok(run),
            _ => Err(Error::NotFound(format!("run {run_id} not found"))),
        }
    }

    /// `POST /runs/{id}/checkpoint`: keeps the runtime's checkpoint for `action_id` as sent.
    pub async fn store_runtime_checkpoint(
        &self,
        identity: &AgentIdentity,
        run_id: &str,
        body: Value,
    ) -> Result<Value> {
        let run = self.agent_run(identity, run_id).await?;
        let action_id = runagents_domain::fields::text(&body, "action_id")?;
        if action_id.is_empty() {
            return Err(Error::Invalid("action_id is required".into()));
        }
        if !body.is_object() {
            return Err(Error::Invalid("a checkpoint is a JSON object".into()));
        }
        self.put_checkpoint(&run.workspace, &run.id, &action_id, body)
            .await?;
        Ok(
            json!({"id": crate::agent_loop::checkpoint_key(&run.id, &action_id), "run_id": run.id, "action_id": action_id}),
        )
    }

    /// `GET /runs/{id}/checkpoint/{action_id}`: the stored checkpoint, exactly as stored.
    pub async fn runtime_checkpoint(
        &self,
        identity: &AgentIdentity,
        run_id: &str,
        action_id: &str,
    ) -> Result<Value> {
        let run = self.agent_run(identity, run_id).await?;
        let mut checkpoint = self
            .get_checkpoint(&run.workspace, &run.id, action_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("checkpoint for action {action_id} not found"))
            })?;
        // The runtime iterates these; never hand it a null.
        if checkpoint.get("tool_routes").is_none_or(Value::is_null) {
            checkpoint["tool_routes"] = json!({});
        }
        Ok(checkpoint)
    }

    /// `POST /runs/{id}/tool-result`: records a tool call the runtime completed.
    pub async fn record_tool_result(
        &self,
        identity: &AgentIdentity,
        run_id: &str,
        body: &Value,
    ) -> Result<()> {
        let run = self.agent_run(identity, run_id).await?;
        let field = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
        let mut result = field("result").to_owned();
        if result.len() > MAX_REPORTED_RESULT {
            let mut end = MAX_REPORTED_RESULT;
            while !result.is_char_boundary(end) {
                end -= 1;
            }
            result.truncate(end);
        }
        let data = json!({
            "tool_call_id": field("tool_call_id"),
            "function": field("function_name"),
            "tool": field("tool_id"),
            "arguments": field("arguments"),
            "turn": body.get("turn").cloned().unwrap_or(Value::Null),
            "result": result,
        });
        self.store
            .append_events(
                &run.workspace,
                &run.id,
                &[event("TOOL_RESULT", &identity.agent, data)],
            )
            .await?;
        Ok(())
    }
}
