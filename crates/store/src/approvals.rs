//! Blocked actions, access requests, grants and the resume queue.
//!
//! Invariants: blocking a call (action + request + run pause + event) and deciding a request
//! (status + grant + resume job + action + run + events + outbox follow-ups) are each one
//! transaction; at most one
//! PENDING request exists per (run, payload hash); a resume job is claimed with a lease in one
//! statement, so two workers never hold it at once and a crashed worker's lease runs out. A
//! replay that waits for the user's consent is put back (action APPROVED, job done, run
//! PAUSED_CONSENT) and queued again (run PAUSED_APPROVAL, job pending) in one transaction each.

use async_trait::async_trait;
use runagents_domain::Timestamp;
use serde_json::value::RawValue;

use crate::{NewEvent, RequestFields, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct ActionRecord {
    pub id: String,
    pub workspace: String,
    pub run_id: String,
    pub agent: String,
    pub user_id: String,
    pub tool: String,
    pub capability: String,
    pub method: String,
    pub url: String,
    /// Non-secret request headers, as a JSON object.
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    pub payload_hash: String,
    pub status: String,
    /// `{status, headers, body}` of the executed call, or null.
    pub response: serde_json::Value,
    pub delivered: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An access request. `B` is its body — the rest of the request (agent, tool, subject,
/// capability, scope, routing, ...): parsed (`RequestRecord`) or, as `list_requests` returns
/// it, the stored JSON text (`ListedRequest`), whose `fields` read what a list shows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessRequest<B> {
    pub id: String,
    pub workspace: String,
    pub action_id: String,
    pub run_id: String,
    pub payload_hash: String,
    pub status: String,
    pub body: B,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A request with its body parsed.
pub type RequestRecord = AccessRequest<serde_json::Value>;

/// A request with its body as the stored JSON text, not parsed into a tree.
pub type ListedRequest = AccessRequest<Box<RawValue>>;

impl<B> AccessRequest<B> {
    /// The same request with its body converted by `convert`.
    pub fn try_map_body<C, E>(
        self,
        convert: impl FnOnce(B) -> Result<C, E>,
    ) -> Result<AccessRequest<C>, E> {
        Ok(AccessRequest {
            body: convert(self.body)?,
            id: self.id,
            workspace: self.workspace,
            action_id: self.action_id,
            run_id: self.run_id,
            payload_hash: self.payload_hash,
            status: self.status,
            expires_at: self.expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ListedRequest {
    /// The body's text fields and routing (see `RequestFields`).
    pub fn fields(&self) -> RequestFields<'_> {
        RequestFields::read(&self.body)
    }
}

impl From<&RequestRecord> for ListedRequest {
    fn from(request: &RequestRecord) -> Self {
        let Ok(listed) = request.clone().try_map_body(|body| {
            // Cannot fail: a `Value`'s keys are strings.
            Ok::<_, std::convert::Infallible>(
                serde_json::value::to_raw_value(&body).unwrap_or_default(),
            )
        });
        listed
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GrantRecord {
    pub id: String,
    pub workspace: String,
    pub request_id: String,
    pub scope: String,
    pub agent: String,
    pub tool: String,
    pub user_id: String,
    pub run_id: String,
    pub method: String,
    pub capability: String,
    pub action_id: String,
    pub payload_hash: String,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResumeJob {
    pub id: String,
    pub workspace: String,
    pub action_id: String,
    pub run_id: String,
    pub attempts: i64,
    pub created_at: Timestamp,
}

/// A run status change made together with another write: applied when the run's status is
/// one of `from`, otherwise only the events are appended.
#[derive(Clone, Debug)]
pub struct RunChange {
    pub run_id: String,
    pub from: Vec<String>,
    pub to: String,
    pub blocked_action_id: Option<String>,
    pub events: Vec<NewEvent>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Blocked {
    Created(RequestRecord),
    /// The same payload is already waiting for a decision in this run.
    Existing(RequestRecord),
    /// The run has ended (its status is given): nothing is raised for it.
    RunEnded(String),
}

/// The decision written onto a PENDING request.
#[derive(Clone, Debug)]
pub struct RequestDecision {
    pub status: String,
    /// Merged into the request's body (scope, duration, approver_id, reason, ...).
    pub fields: serde_json::Value,
    pub expires_at: Option<Timestamp>,
    pub action_status: String,
    pub grant: Option<GrantRecord>,
    pub job: Option<ResumeJob>,
    pub run: Option<RunChange>,
    pub at: Timestamp,
}

/// The outcome of replaying an action, written with the run's resumption.
#[derive(Clone, Debug)]
pub struct ActionResult {
    pub status: String,
    pub response: serde_json::Value,
    pub run: Option<RunChange>,
    pub at: Timestamp,
}

#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Records a blocked call: action, request, run change and the request's delivery outbox
    /// rows at once — or finds the PENDING request already raised for the same payload in the
    /// same run and writes nothing.
    async fn block_action(
        &self,
        action: &ActionRecord,
        request: &RequestRecord,
        run: Option<&RunChange>,
        dispatches: &[crate::DispatchRecord],
    ) -> Result<Blocked>;
    async fn get_action(&self, workspace: &str, id: &str) -> Result<Option<ActionRecord>>;
    async fn get_request(&self, workspace: &str, id: &str) -> Result<Option<RequestRecord>>;
    /// The PENDING request raised for this payload in this run: at most one, as requests are
    /// deduplicated on them (an index lookup, not a scan of the queue).
    async fn pending_request_for(
        &self,
        workspace: &str,
        run_id: &str,
        payload_hash: &str,
    ) -> Result<Option<RequestRecord>>;
    /// Requests in creation order (then by id), at most 10,000; `statuses` empty means all.
    async fn list_requests(
        &self,
        workspace: &str,
        statuses: &[String],
    ) -> Result<Vec<ListedRequest>>;
    /// Decides a PENDING request; `Conflict` if it is no longer PENDING, `NotFound` if absent.
    /// Its pending deliveries are skipped and its delivered ones get follow-ups, atomically.
    async fn decide_request(
        &self,
        workspace: &str,
        id: &str,
        decision: &RequestDecision,
    ) -> Result<RequestRecord>;
    /// Live grants (not expired at `now`) for an agent's use of a tool.
    async fn live_grants(
        &self,
        workspace: &str,
        agent: &str,
        tool: &str,
        now: Timestamp,
    ) -> Result<Vec<GrantRecord>>;
    /// APPROVED requests whose window ended become EXPIRED, each with a follow-up for every
    /// connector that delivered it, in one transaction; returns how many expired.
    async fn expire_requests(&self, now: Timestamp) -> Result<u64>;

    /// Claims the oldest ready job for `lease_ms`; `None` when there is nothing to do.
    async fn claim_resume_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<Option<ResumeJob>>;
    /// Moves an action from one status to another (compare-and-set); false if it was not `from`.
    async fn set_action_status(
        &self,
        workspace: &str,
        id: &str,
        from: &str,
        to: &str,
        at: Timestamp,
    ) -> Result<bool>;
    /// Stores the replay's outcome, resumes the run and finishes the job, atomically.
    async fn finish_action(
        &self,
        workspace: &str,
        action_id: &str,
        result: &ActionResult,
    ) -> Result<()>;
    /// The replay of an approved action needs something first (the user's consent): the action
    /// goes back to APPROVED (from DISPATCHING), its job is finished with `reason`, and the run
    /// change is applied, atomically. False, writing nothing, if the action was neither.
    async fn defer_action(
        &self,
        workspace: &str,
        action_id: &str,
        reason: &str,
        run: Option<&RunChange>,
        at: Timestamp,
    ) -> Result<bool>;
    /// The user consented: the run paused for consent on this APPROVED action goes back to
    /// PAUSED_APPROVAL with `events`, and the action's job is queued again (attempts from
    /// zero), atomically. False, writing nothing, if the run is not paused for consent on the
    /// action or the action is no longer APPROVED (a second callback of the same consent).
    async fn requeue_action(
        &self,
        workspace: &str,
        job: &ResumeJob,
        events: &[NewEvent],
        at: Timestamp,
    ) -> Result<bool>;
    /// Extends the lease of a job this worker still holds; false if it no longer holds it.
    async fn renew_resume_job(
        &self,
        id: &str,
        worker: &str,
        locked_until: Timestamp,
    ) -> Result<bool>;
    /// Gives a job back with its error, to be retried after `retry_at`.
    async fn release_resume_job(&self, id: &str, error: &str, retry_at: Timestamp) -> Result<()>;
    /// The executed action of this run with this payload whose answer the agent has not had
    /// yet, marked delivered in the same statement.
    async fn take_undelivered_result(
        &self,
        workspace: &str,
        run_id: &str,
        payload_hash: &str,
    ) -> Result<Option<ActionRecord>>;
}
