//! Run callbacks: the final answer of an invoke that named a `callback_url`, POSTed there when
//! its run ends (COMPLETED or FAILED), however long after and whichever replica ends it.
//!
//! Invariants: the outbox row is written by the store in the transaction that ends the run
//! (see `RunStore`), so a finished run's callback survives any crash or restart. Rows are
//! claimed with a lease in one statement (safe across replicas) and retried with backoff; it
//! is at-least-once, so every attempt carries `Idempotency-Key: <run_id>`. Every attempt is a
//! run event (CALLBACK_DELIVERED / CALLBACK_FAILED) written with its outcome. The body is
//! signed like approval webhooks, `X-RunAgents-Signature: t=<unix secs>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, with a per-workspace secret derived from the master key, which only a
//! workspace admin can read (`callback_secret`). The URL's query (it may hold a token) is
//! never written to an event.

use std::time::Duration;

use ring::hmac;
use runagents_domain::Timestamp;
use runagents_domain::dispatch::{WEBHOOK_SIGNATURE_HEADER, webhook_signature};
use runagents_store::CallbackRecord;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::runs::event;
use crate::{Caller, Engine, Error, Result};

/// How long a claimed row is ours: well over one attempt's timeout.
const LEASE_MS: i64 = 60_000;
/// One attempt may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts before a callback is given up; backoff doubles from one second.
const MAX_ATTEMPTS: i64 = 8;
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

fn backoff_ms(attempts: i64) -> i64 {
    (1000_i64 << attempts.clamp(1, 20).saturating_sub(1)).min(MAX_BACKOFF_MS)
}

/// The URL as events record it: without its query or fragment.
fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

impl Engine {
    /// The workspace's callback signing secret (hex), for verifying `X-RunAgents-Signature`.
    pub fn callback_secret(&self, caller: &Caller) -> Result<String> {
        if caller.role != crate::Role::Admin {
            return Err(Error::Forbidden("this needs an admin API key".into()));
        }
        Ok(self.workspace_callback_secret(&caller.workspace))
    }

    fn workspace_callback_secret(&self, workspace: &str) -> String {
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            self.settings.callback_key.expose().as_bytes(),
        );
        let tag = hmac::sign(
            &key,
            format!("runagents callbacks v1\n{workspace}").as_bytes(),
        );
        runagents_domain::hex::encode(tag.as_ref())
    }

    /// Wakes the callback worker (a run ended here).
    pub(crate) fn wake_callbacks(&self) {
        self.callback_signal.notify_waiters();
    }

    /// Runs until `stop` is cancelled, delivering ready callbacks.
    pub async fn run_callback_worker(self, worker: String, stop: CancellationToken) {
        loop {
            let notified = self.callback_signal.notified();
            loop {
                // Shutdown does not wait for a slow receiver: the abandoned attempt keeps its
                // lease until it runs out, then any worker sends it again (same key).
                let step = tokio::select! {
                    () = stop.cancelled() => return,
                    step = self.callback_next(&worker) => step,
                };
                match step {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::error!(%error, "callback worker step failed");
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

    /// Claims and attempts one callback; false when none was ready.
    pub async fn callback_next(&self, worker: &str) -> Result<bool> {
        let Some(row) = self
            .store
            .claim_callback(worker, Timestamp::now(), LEASE_MS)
            .await?
        else {
            return Ok(false);
        };
        let attempt = self.attempt_callback(&row).await;
        let now = Timestamp::now();
        match attempt {
            Ok(status_code) => {
                let delivered = event(
                    "CALLBACK_DELIVERED",
                    "platform",
                    json!({"url": shown(&row.url), "status_code": status_code, "attempt": row.attempts}),
                );
                self.store
                    .complete_callback(&row.run_id, &[delivered], now)
                    .await?;
            }
            Err((status_code, error)) => {
                let retry_at = (row.attempts < MAX_ATTEMPTS)
                    .then(|| now.plus_millis(backoff_ms(row.attempts)));
                tracing::warn!(run = %row.run_id, attempt = row.attempts, %error, "callback failed");
                let failed = event(
                    "CALLBACK_FAILED",
                    "platform",
                    json!({"url": shown(&row.url), "status_code": status_code, "error": error,
                           "attempt": row.attempts, "will_retry": retry_at.is_some()}),
                );
                self.store
                    .retry_callback(&row.run_id, &error, retry_at, &[failed], now)
                    .await?;
            }
        }
        Ok(true)
    }

    /// One POST of the run's answer; the receiver's status on success.
    async fn attempt_callback(&self, row: &CallbackRecord) -> Result<u16, (Option<u16>, String)> {
        let body = self
            .callback_body(&row.workspace, &row.run_id)
            .await
            .map_err(|error| (None, format!("could not read the run: {error}")))?;
        let body = body.to_string();
        let secret = self.workspace_callback_secret(&row.workspace);
        let signature = webhook_signature(&secret, Timestamp::now(), body.as_bytes());
        let sent = self
            .http
            .post(&row.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("content-type", "application/json")
            .header("idempotency-key", &row.run_id)
            .header(WEBHOOK_SIGNATURE_HEADER, signature)
            .header("x-runagents-attempt", row.attempts.to_string())
            .body(body)
            .send()
            .await
            .map_err(|error| (None, crate::tools::describe_request_error(&error)))?;
        let status = sent.status().as_u16();
        if sent.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the receiver answered HTTP {status}")))
        }
    }

    /// `{run_id, conversation_id, agent, status, response, error}` of a finished run.
    async fn callback_body(&self, workspace: &str, run_id: &str) -> Result<Value> {
        let run = self.get_run(workspace, run_id).await?;
        let error = if run.status == "FAILED" {
            self.store
                .list_events(workspace, run_id, 0, None)
                .await?
                .iter()
                .rev()
                .find(|event| event.kind == "FAILED")
                .map(|event| event.data["error"].clone())
                .filter(|error| !error.is_null())
                .unwrap_or_else(|| json!("the run failed"))
        } else {
            Value::Null
        };
        Ok(json!({
            "run_id": run.id,
            "conversation_id": run.conversation_id,
            "agent": run.agent,
            "status": run.status,
            "response": if run.status == "COMPLETED" { json!(run.final_answer) } else { Value::Null },
            "error": error,
        }))
    }
}
