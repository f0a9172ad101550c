//! The resume worker: approved actions wait in the store's resume queue until a worker
//! replays them through egress, records the answer and resumes the run.
//!
//! Invariants: a job is claimed with a lease in one statement, so two live workers (on one
//! replica or several) never hold the same job, and a crashed worker's lease runs out. The
//! action moves BLOCKED → APPROVED → DISPATCHING → EXECUTED; a job that finds its action
//! DISPATCHING (a worker died mid-call) sends it again with the same `Idempotency-Key`, so an
//! upstream that honours the key applies the write once. A body that no longer matches its
//! payload hash is never sent.
//!
//! A delegated-OAuth call whose user's token is gone by the time it is replayed (revoked, or a
//! refresh the provider refused, also after an upstream 401) does not fail: the action stays
//! APPROVED, the run pauses for consent as egress would pause it, and the consent callback
//! queues the same replay again; the approval stands.

use std::time::Duration;

use base64::Engine as _;
use runagents_domain::approval::payload_hash;
use runagents_domain::tool::ToolSpec;
use runagents_domain::{Timestamp, from_json};
use runagents_store::{ActionRecord, ActionResult, Kind, ResumeJob, RunChange};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::egress::{Prepared, Sent};
use crate::oauth::{Token, needs_user_token};
use crate::runs::event;
use crate::{Engine, Result};

/// How long a claimed job is ours before another worker may take it over. Short, so a
/// crashed worker's job moves on quickly; a live worker renews it while the call is out.
const LEASE_MS: i64 = 6_000;
/// Replays that fail to reach the upstream are retried this many times, then the run fails.
const MAX_ATTEMPTS: i64 = 5;
/// Recorded answers larger than this are cut (the agent gets the first part).
const MAX_RECORDED_BODY: usize = 1024 * 1024;

impl Engine {
    /// Runs until `stop` is cancelled: expire approval windows, then drain ready jobs.
    pub async fn run_resume_worker(self, worker: String, stop: CancellationToken) {
        loop {
            let notified = self.resume_signal.notified();
            if let Err(error) = self.expire_windows().await {
                tracing::warn!(%error, "could not expire approval windows");
            }
            loop {
                // Shutdown does not wait for a slow upstream: an abandoned replay keeps its lease
                // until it runs out, then any worker sends it again under the same idempotency key.
                let step = tokio::select! {
                    () = stop.cancelled() => return,
                    step = self.resume_next(&worker) => step,
                };
                match step {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::error!(%error, "resume worker step failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(self.settings.worker_idle_poll) => {}
            }
        }
    }

    /// Claims and processes one job; false when none was ready.
    pub async fn resume_next(&self, worker: &str) -> Result<bool> {
        let Some(job) = self
            .store
            .claim_resume_job(worker, Timestamp::now(), LEASE_MS)
            .await?
        else {
            return Ok(false);
        };
        let renew = async {
            loop {
                tokio::time::sleep(Duration::from_millis((LEASE_MS / 3) as u64)).await;
                match self
                    .store
                    .renew_resume_job(&job.id, worker, Timestamp::now().plus_millis(LEASE_MS))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job = %job.id, "lost the lease on a resume job"),
                    Err(error) => {
                        tracing::warn!(job = %job.id, %error, "could not renew a resume lease")
                    }
                }
            }
        };
        let replayed = tokio::select! {
            replayed = self.replay(&job) => replayed,
            () = renew => Ok(()),
        };
        if let Err(error) = replayed {
            tracing::warn!(action = %job.action_id, attempt = job.attempts, %error, "replay failed; will retry");
            let backoff = 250 * (1_i64 << job.attempts.clamp(0, 6));
            self.store
                .release_resume_job(
                    &job.id,
                    &error.to_string(),
                    Timestamp::now().plus_millis(backoff),
                )
                .await?;
        }
        Ok(true)
    }

    async fn replay(&self, job: &ResumeJob) -> Result<()> {
        let ws = job.workspace.as_str();
        let read_action = async || {
            self.store
                .get_action(ws, &job.action_id)
                .await?
                .ok_or_else(|| crate::not_found("action", &job.action_id))
        };
        let mut action = read_action().await?;
        let now = Timestamp::now();
        if action.status == "APPROVED"
            && !self
                .store
                .set_action_status(ws, &action.id, "APPROVED", "DISPATCHING", now)
                .await?
        {
            // Moved on meanwhile (its run ended, say): what it is now decides.
            action = read_action().await?;
        }
        match action.status.as_str() {
            // A worker died mid-call: send again under the same idempotency key.
            "APPROVED" | "DISPATCHING" => {}
            _ => {
                // Already executed, failed or expired: just finish the job.
                let result = ActionResult {
                    status: action.status.clone(),
                    response: action.response.clone(),
                    run: None,
                    at: now,
                };
                return Ok(self.store.finish_action(ws, &action.id, &result).await?);
            }
        }
        let resume_run = |events: Vec<runagents_store::NewEvent>, to: &str| {
            (!action.run_id.is_empty()).then(|| RunChange {
                run_id: action.run_id.clone(),
                from: vec!["PAUSED_APPROVAL".into()],
                to: to.to_owned(),
                blocked_action_id: Some(String::new()),
                events,
            })
        };
        if payload_hash(&action.method, &action.url, &action.body) != action.payload_hash {
            let failed = event(
                "FAILED",
                "platform",
                json!({"error": "payload hash mismatch: the approved request was altered", "action_id": action.id}),
            );
            let result = ActionResult {
                status: "FAILED".into(),
                response: json!({"error": "payload_hash mismatch"}),
                run: resume_run(vec![failed], "FAILED"),
                at: now,
            };
            return Ok(self.store.finish_action(ws, &action.id, &result).await?);
        }
        let tool_doc = self
            .store
            .get_document(ws, Kind::Tool, &action.tool)
            .await?
            .ok_or_else(|| crate::not_found("tool", &action.tool))?;
        let tool: ToolSpec = from_json("stored tool", tool_doc.body["spec"].clone())?;
        let headers: Vec<(String, String)> = action
            .headers
            .as_object()
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let prepared = Prepared {
            workspace: ws,
            tool_name: &action.tool,
            tool: &tool,
            method: &action.method,
            url: action.url.clone(),
            headers: &headers,
            body: &action.body,
            user: (!action.user_id.is_empty()).then_some(action.user_id.as_str()),
            idempotency_key: Some(&action.id),
            secrets: None,
        };
        let sent = self.send_upstream(&prepared).await?;
        if self.lacks_consent(job, &action, &tool, &sent).await?
            && self.replay_needs_consent(&action, &tool).await?
        {
            return Ok(());
        }
        let (status, response, data) = match sent {
            Sent::Answered(response, latency_ms) => {
                let status_code = response.status().as_u16();
                let headers: Map<String, Value> = response
                    .headers()
                    .iter()
                    .filter(|(name, _)| {
                        matches!(
                            name.as_str(),
                            "content-type" | "idempotency-key" | "location" | "request-id"
                        )
                    })
                    .filter_map(|(name, value)| {
                        Some((name.as_str().to_owned(), json!(value.to_str().ok()?)))
                    })
                    .collect();
                let mut body = crate::egress::read_whole(response.into_body())
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                body.truncate(MAX_RECORDED_BODY);
                let recorded = json!({"status": status_code, "headers": headers, "body_base64": base64::engine::general_purpose::STANDARD.encode(&body)});
                (
                    "EXECUTED",
                    recorded,
                    json!({"tool": action.tool, "tool_method": action.method, "tool_url": action.url.split('?').next().unwrap_or_default(),
                    "capability": action.capability, "status_code": status_code, "latency_ms": latency_ms, "action_id": action.id}),
                )
            }
            Sent::Failed(error, _) if job.attempts < MAX_ATTEMPTS => {
                return Err(crate::Error::Upstream(format!(
                    "tool {:?} upstream request failed: {error}",
                    action.tool
                )));
            }
            Sent::Failed(error, _) => (
                "FAILED",
                json!({"error": error}),
                json!({"tool": action.tool, "error": error, "action_id": action.id}),
            ),
            Sent::Refused(refusal) => (
                "FAILED",
                json!({"error": refusal.message}),
                json!({"tool": action.tool, "error": refusal.code, "action_id": action.id}),
            ),
        };
        let run = if status == "EXECUTED" {
            resume_run(
                vec![
                    event("TOOL_CALLED", "platform", data),
                    event("RESUMED", "platform", json!({"action_id": action.id})),
                ],
                "RUNNING",
            )
        } else {
            resume_run(
                vec![
                    event("TOOL_CALLED", "platform", data),
                    event(
                        "FAILED",
                        "platform",
                        json!({"error": "the approved call could not be made", "action_id": action.id}),
                    ),
                ],
                "FAILED",
            )
        };
        let result = ActionResult {
            status: status.into(),
            response,
            run,
            at: Timestamp::now(),
        };
        self.store.finish_action(ws, &action.id, &result).await?;
        if status != "EXECUTED" {
            self.wake_callbacks();
        }
        if status == "EXECUTED" && !action.run_id.is_empty() {
            // The agent's turn goes on from where it paused, off the worker's path.
            let engine = self.clone();
            let (workspace, run_id, action_id) = (
                job.workspace.clone(),
                action.run_id.clone(),
                action.id.clone(),
            );
            self.background.spawn(async move {
                if let Err(error) = engine.continue_turn(&workspace, &run_id, &action_id).await {
                    tracing::warn!(run = %run_id, %error, "could not continue the run after its approval");
                }
            });
        }
        Ok(())
    }

    /// Whether the replay was not made for want of the user's token: egress found none (the
    /// connection was revoked), or the upstream refused the token and it could not be
    /// refreshed. A refused token that did refresh is sent again (as an error: the job is
    /// retried) while attempts remain.
    async fn lacks_consent(
        &self,
        job: &ResumeJob,
        action: &ActionRecord,
        tool: &ToolSpec,
        sent: &Sent,
    ) -> Result<bool> {
        match sent {
            Sent::Refused(refusal) => Ok(refusal.code == "CONSENT_REQUIRED"),
            Sent::Answered(response, _)
                if response.status() == http::StatusCode::UNAUTHORIZED
                    && needs_user_token(tool) =>
            {
                match self
                    .oauth_token(&job.workspace, &action.tool, tool, &action.user_id)
                    .await?
                {
                    Token::Missing => Ok(true),
                    Token::Bearer(_) if job.attempts < MAX_ATTEMPTS => {
                        Err(crate::Error::Upstream(format!(
                            "tool {:?} refused the user's token; it was refreshed and the call will be sent again",
                            action.tool
                        )))
                    }
                    Token::Bearer(_) => Ok(false),
                }
            }
            Sent::Answered(..) | Sent::Failed(..) => Ok(false),
        }
    }
}
