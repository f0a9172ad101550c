//! The approval delivery outbox and single-use decision links.
//!
//! Invariants: delivery rows are written in the transaction that raises their access request
//! and follow-up rows in the one that decides it, so no delivery is lost to a crash; a row is
//! claimed with a lease in one statement (safe across replicas). In `first_success` mode a row
//! waits while an earlier row of the same request is untried or in flight, and the first
//! success skips the rest. An approval window that expires gets follow-ups like a decision,
//! in the transaction that expires it. A decision link id can be used once.

use async_trait::async_trait;
use runagents_domain::Timestamp;

use crate::Result;

pub const DELIVER: &str = "deliver";
pub const FOLLOWUP: &str = "followup";

#[derive(Clone, Debug, PartialEq)]
pub struct DispatchRecord {
    pub id: String,
    pub workspace: String,
    pub request_id: String,
    pub connector_id: String,
    /// `deliver` (announce the request) or `followup` (tell the service it was decided).
    pub purpose: String,
    /// `first_success` or `all`.
    pub mode: String,
    /// Delivery order within the request.
    pub position: i64,
    /// `pending`, `delivered`, `failed` or `skipped`.
    pub state: String,
    /// Attempts so far, counting the one a claim starts.
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    /// What the connector's service calls the delivery (Slack channel and ts, ...), or null.
    pub external_ref: serde_json::Value,
    pub last_error: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait DispatchStore: Send + Sync {
    /// Claims the oldest ready row for `lease_ms`; `None` when there is nothing to do.
    async fn claim_dispatch(
        &self,
        worker: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<Option<DispatchRecord>>;
    /// Marks a row delivered with its external reference and, if the service has one, its own
    /// key for the delivery (a Jira issue key; `find_delivery` looks it up). A `first_success`
    /// delivery skips the request's other pending deliveries; a delivery that lands after the
    /// request was decided gets its follow-up.
    async fn complete_dispatch(
        &self,
        id: &str,
        external_ref: &serde_json::Value,
        external_key: &str,
        at: Timestamp,
    ) -> Result<()>;
    /// Gives a row back after a failed attempt: retried at `retry_at`, or `failed` for good.
    async fn retry_dispatch(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<()>;
    async fn get_dispatch(&self, id: &str) -> Result<Option<DispatchRecord>>;
    /// The request's rows in delivery order, follow-ups after deliveries.
    async fn list_dispatches(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> Result<Vec<DispatchRecord>>;
    /// The delivery a connector's service knows as `external_key` (the latest, should the
    /// service reuse keys); `None` for an empty key.
    async fn find_delivery(
        &self,
        workspace: &str,
        connector_id: &str,
        external_key: &str,
    ) -> Result<Option<DispatchRecord>>;
    /// Records the use of a decision link; false if it was used before.
    async fn use_decision_link(
        &self,
        workspace: &str,
        link_id: &str,
        request_id: &str,
        at: Timestamp,
    ) -> Result<bool>;
}
