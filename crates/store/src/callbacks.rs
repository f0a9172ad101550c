//! The callback outbox: a finished run's answer, to be POSTed to the `callback_url` given at
//! invoke time.
//!
//! Invariants: a row is written in the transaction that moves its run to COMPLETED or FAILED
//! (at most one per run), so a finished run's callback survives any crash; a row is claimed
//! with a lease in one statement (safe across replicas); every attempt's outcome and its run
//! event (CALLBACK_DELIVERED / CALLBACK_FAILED) are written together.

use async_trait::async_trait;
use runagents_domain::Timestamp;

use crate::{NewEvent, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct CallbackRecord {
    pub run_id: String,
    pub workspace: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far, counting the one a claim starts.
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// Claims the oldest ready callback for `lease_ms`; `None` when there is nothing to do.
    async fn claim_callback(
        &self,
        worker: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<Option<CallbackRecord>>;
    /// Marks a pending callback delivered and appends `events` to its run, atomically.
    async fn complete_callback(
        &self,
        run_id: &str,
        events: &[NewEvent],
        at: Timestamp,
    ) -> Result<()>;
    /// Gives a pending callback back after a failed attempt — retried at `retry_at`, or
    /// `failed` for good without one — and appends `events` to its run, atomically.
    async fn retry_callback(
        &self,
        run_id: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        events: &[NewEvent],
        at: Timestamp,
    ) -> Result<()>;
    async fn get_callback(&self, workspace: &str, run_id: &str) -> Result<Option<CallbackRecord>>;
}
