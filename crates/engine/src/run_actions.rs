//! The run-level actions API: a client records a blocked action for its own run, reads it,
//! and approves it with a payload-hash check. Approval goes through the same request path as
//! every other approval.

use runagents_domain::Timestamp;
use runagents_domain::approval::{ApprovalDecision, Scope};
use runagents_store::{ActionRecord, RequestRecord, RunChange};
use serde_json::{Value, json};

use crate::approvals::new_id;
use crate::runs::event;
use crate::{Caller, Engine, Error, Result};

impl Engine {
    /// `POST /runs/{id}/actions`: a client records a blocked action itself. The run must be
    /// RUNNING; it pauses, and the action's access request joins the approvals queue.
    pub async fn create_run_action(
        &self,
        ws: &str,
        run_id: &str,
        body: &Value,
    ) -> Result<ActionRecord> {
        let run = self.get_run(ws, run_id).await?;
        if run.status != "RUNNING" {
            return Err(Error::Conflict(format!(
                "run is {}, must be RUNNING to create actions",
                run.status
            )));
        }
        let text = |key: &str| runagents_domain::fields::text(body, key);
        let tool = text("tool_id")?;
        if tool.is_empty() {
            return Err(Error::Invalid("tool_id is required".into()));
        }
        let now = Timestamp::now();
        let action = ActionRecord {
            id: new_id("act"),
            workspace: ws.to_owned(),
            run_id: run.id.clone(),
            agent: run.agent.clone(),
            user_id: run.user_id.clone(),
            tool: tool.clone(),
            capability: text("capability")?,
            method: String::new(),
            url: String::new(),
            headers: json!({}),
            body: Vec::new(),
            payload_hash: text("payload_hash")?,
            status: "BLOCKED".into(),
            response: Value::Null,
            delivered: false,
            created_at: now,
            updated_at: now,
        };
        let request = RequestRecord {
            id: new_id("req"),
            workspace: ws.to_owned(),
            action_id: action.id.clone(),
            run_id: run.id.clone(),
            // Keyed by the action when the client gave no hash, so distinct actions never merge.
            payload_hash: if action.payload_hash.is_empty() {
                action.id.clone()
            } else {
                action.payload_hash.clone()
            },
            status: "PENDING".into(),
            body: json!({"subject": run.user_id, "agent_id": run.agent, "tool_id": tool, "capability": action.capability, "duration": "4h", "routing": {},
                         "message": format!("Approval required for {tool} ({})", if action.capability.is_empty() { "action" } else { &action.capability })}),
            expires_at: None,
            created_at: now,
            updated_at: now,
        };
        let mut required = event(
            "APPROVAL_REQUIRED",
            "api",
            json!({"tool": tool, "tool_id": tool, "capability": action.capability, "action_id": action.id, "request_id": request.id}),
        );
        required.payload_hash = action.payload_hash.clone();
        let pause = RunChange {
            run_id: run.id.clone(),
            from: vec!["RUNNING".into()],
            to: "PAUSED_APPROVAL".into(),
            blocked_action_id: Some(action.id.clone()),
            events: vec![required],
        };
        match self
            .store
            .block_action(&action, &request, Some(&pause), &[])
            .await?
        {
            runagents_store::Blocked::Created(_) => Ok(action),
            runagents_store::Blocked::Existing(existing) => {
                self.get_run_action(ws, run_id, &existing.action_id).await
            }
            runagents_store::Blocked::RunEnded(status) => Err(Error::Conflict(format!(
                "run is {status}, must be RUNNING to create actions"
            ))),
        }
    }

    pub async fn get_run_action(
        &self,
        ws: &str,
        run_id: &str,
        action_id: &str,
    ) -> Result<ActionRecord> {
        match self.store.get_action(ws, action_id).await? {
            Some(action) if action.run_id == run_id => Ok(action),
            _ => Err(Error::NotFound(format!("action {action_id} not found"))),
        }
    }

    /// `POST /runs/{id}/actions/{aid}/approve`: approves that one action (scope once); a given
    /// payload hash must equal the recorded one.
    pub async fn approve_run_action(
        &self,
        caller: &Caller,
        run_id: &str,
        action_id: &str,
        payload_hash: Option<&str>,
    ) -> Result<ActionRecord> {
        let ws = caller.workspace.as_str();
        let action = self.get_run_action(ws, run_id, action_id).await?;
        if action.status != "BLOCKED" {
            return Err(Error::Conflict(format!(
                "action is {}, must be BLOCKED to approve",
                action.status
            )));
        }
        if let Some(given) = payload_hash
            && !action.payload_hash.is_empty()
            && given != action.payload_hash
        {
            return Err(Error::Conflict("payload_hash mismatch".into()));
        }
        let request = self
            .store
            .pending_request_for(ws, &action.run_id, &action.payload_hash)
            .await?
            .filter(|request| request.action_id == action.id)
            .ok_or_else(|| Error::Conflict("the action's request is no longer pending".into()))?;
        let decision = ApprovalDecision {
            scope: Scope::Once,
            duration: None,
            reason: String::new(),
        };
        self.approve_request(caller, &request.id, decision).await?;
        self.get_run_action(ws, run_id, action_id).await
    }
}
