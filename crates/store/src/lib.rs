//! The `Store` interface and its two implementations, SQLite (embedded default) and PostgreSQL.
//!
//! Invariants: only this crate knows SQL; every write a use case needs to be atomic is one
//! method here and one transaction inside; secrets enter and leave only as `Secret` and are
//! sealed with the master key before they touch the database.

mod approvals;
mod callbacks;
mod dispatch;
mod event_journal;
mod local_generations;
mod oauth;
mod postgres;
mod request_fields;
mod runs;
mod seal;
mod sql;
mod sql_approvals;
mod sql_callbacks;
mod sql_dispatch;
mod sql_oauth;
mod sql_runs;
mod sqlite;

use async_trait::async_trait;
use runagents_domain::{Secret, Timestamp};

pub use approvals::{
    AccessRequest, ActionRecord, ActionResult, ApprovalStore, Blocked, GrantRecord, ListedRequest,
    RequestDecision, RequestRecord, ResumeJob, RunChange,
};
pub use callbacks::{CallbackRecord, CallbackStore};
pub use dispatch::{DELIVER, DispatchRecord, DispatchStore, FOLLOWUP};
pub use oauth::{OAuthConnection, OAuthStore};
pub use postgres::PostgresStore;
pub use request_fields::RequestFields;
pub use runs::{
    EventBatch, EventRecord, NewEvent, RecordedCall, RunFilter, RunRecord, RunStore, RunUpdate,
};
pub use seal::{MasterKey, Sealer};
pub use sqlite::{SqliteOptions, SqliteStore};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("secret could not be unsealed (wrong master key?)")]
    Unseal,
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict(db.message().to_owned())
            }
            other => Error::Backend(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Backend(format!("migration failed: {error}"))
    }
}

/// The kinds of resource document the platform keeps, each keyed by name (connectors by id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Tool,
    Policy,
    ModelProvider,
    IdentityProvider,
    ApprovalConnector,
    Agent,
    /// A paused agent's saved state, keyed `{run_id}/{action_id}`.
    Checkpoint,
    /// A build of an agent's environment, keyed by build id.
    Build,
    /// A workspace setting that has secret fields (the console's single sign-on), keyed by the
    /// setting's name. Settings without secrets use `get_setting` / `put_setting`.
    Setting,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Policy => "policy",
            Kind::ModelProvider => "model_provider",
            Kind::IdentityProvider => "identity_provider",
            Kind::ApprovalConnector => "approval_connector",
            Kind::Agent => "agent",
            Kind::Checkpoint => "checkpoint",
            Kind::Build => "build",
            Kind::Setting => "setting",
        }
    }
}

/// The generation counter bumped by every change to a workspace's agent credentials, beside
/// the per-kind document counters.
pub const CREDENTIALS_GENERATION: &str = "agent_credential";

/// The counters egress validates its caches with, read in one statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generations {
    pub agents: i64,
    pub tools: i64,
    pub policies: i64,
    pub credentials: i64,
}

/// A stored resource: its key, its JSON body (no secrets in it), and bookkeeping.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub key: String,
    pub body: serde_json::Value,
    /// Starts at 1 and grows by one with every write.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How `put_document` treats an existing document with the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Create or replace.
    Upsert,
    /// Create; `Error::Conflict` if it exists.
    Create,
    /// Replace; `Error::NotFound` if it does not exist.
    Replace,
}

/// Secret fields to store beside a document. Fields not listed keep their stored value.
pub type SecretFields = [(String, Secret)];

#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub workspace: String,
    pub name: String,
    pub role: String,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub hash: String,
    pub last4: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The owner, recorded as the approver of their decisions.
    pub subject: String,
    /// The approver groups the owner holds.
    pub groups: Vec<String>,
}

/// A new secret for an existing key, written by rotation.
#[derive(Clone, Debug)]
pub struct Rotation {
    pub hash: String,
    pub last4: String,
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActivityRecord {
    pub id: String,
    pub at: Timestamp,
    pub body: serde_json::Value,
}

/// One LLM gateway call: who made it, what it used, what it is estimated to cost.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmUsageRecord {
    pub id: String,
    pub workspace: String,
    /// Empty when the call was not made for an agent.
    pub agent: String,
    /// Empty when the call was not part of a run.
    pub run_id: String,
    pub model: String,
    /// The model provider's name.
    pub provider: String,
    pub at: Timestamp,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Billionths of a US dollar.
    pub cost_nanos: i64,
}

/// The spend counter of one agent's model mapping (by label) in one month.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpendKey {
    pub workspace: String,
    pub agent: String,
    pub label: String,
    /// The first millisecond of the month.
    pub period_start: Timestamp,
}

/// A spend counter's amounts, in nano-dollars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendRow {
    pub agent: String,
    pub label: String,
    /// Estimates of calls still in flight.
    pub reserved_nanos: i64,
    /// Settled cost of finished calls.
    pub spent_nanos: i64,
}

/// Work a worker waits for. The transaction that queues it announces it to every process
/// listening (PostgreSQL NOTIFY, delivered on commit), so a replica's idle worker wakes at once
/// for work queued on another replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A resume job: an approval, or a consent that queued an approved call again.
    Resume,
    /// Approval-delivery outbox rows: a new access request, or a decision's follow-ups.
    Dispatch,
    /// A run callback: a run with a `callback_url` ended.
    Callback,
}

impl Work {
    pub const ALL: [Work; 3] = [Work::Resume, Work::Dispatch, Work::Callback];

    /// Its PostgreSQL notification channel.
    pub(crate) fn channel(self) -> &'static str {
        match self {
            Work::Resume => "runagents_resume",
            Work::Dispatch => "runagents_dispatch",
            Work::Callback => "runagents_callback",
        }
    }

    pub(crate) fn of_channel(channel: &str) -> Option<Work> {
        Work::ALL.into_iter().find(|work| work.channel() == channel)
    }
}

#[async_trait]
pub trait Store:
    RunStore + ApprovalStore + DispatchStore + OAuthStore + CallbackStore + Send + Sync
{
    /// Which backend this is, for logs and health output.
    fn backend(&self) -> &'static str;

    /// Work other processes queue, as their transactions commit: a task listens (reconnecting
    /// whenever its connection is lost, and then announcing every kind of work, since
    /// announcements made meanwhile are lost) until the receiver is dropped. `None` on a store
    /// only this process writes (SQLite): the engine wakes its own workers. Never needed for
    /// correctness: workers also look for work on their own every so often.
    fn work_notices(&self) -> Option<tokio::sync::mpsc::Receiver<Work>>;

    // Resource documents and their secrets.
    async fn list_documents(&self, workspace: &str, kind: Kind) -> Result<Vec<Document>>;
    async fn get_document(
        &self,
        workspace: &str,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Document>>;
    /// Writes the document and its secret fields in one transaction. `created_at` and `version`
    /// of the given document are ignored; the stored ones come back.
    async fn put_document(
        &self,
        workspace: &str,
        kind: Kind,
        document: &Document,
        secrets: &SecretFields,
        write: Write,
    ) -> Result<Document>;
    /// Deletes the document and all its secrets in one transaction; false if there was none.
    async fn delete_document(&self, workspace: &str, kind: Kind, key: &str) -> Result<bool>;
    /// A number that changes with every write to any document of `kind` in the workspace (0
    /// before the first), for validating cached lists.
    async fn generation(&self, workspace: &str, kind: Kind) -> Result<i64>;
    /// The workspace's agent, tool and policy generations and its credential generation, in
    /// one statement (0 for a counter never bumped). The embedded SQLite store, the only
    /// writer of its file, answers from memory between its own writes.
    async fn egress_generations(&self, workspace: &str) -> Result<Generations>;
    async fn secrets(
        &self,
        workspace: &str,
        kind: Kind,
        key: &str,
    ) -> Result<Vec<(String, Secret)>>;
    /// Names of the stored secret fields, without their values.
    async fn secret_fields(&self, workspace: &str, kind: Kind, key: &str) -> Result<Vec<String>>;

    // Workspaces and API keys.
    /// Creates the workspace if it does not exist; true if it was created.
    async fn ensure_workspace(&self, name: &str, at: Timestamp) -> Result<bool>;
    async fn list_workspaces(&self) -> Result<Vec<String>>;
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// Creates the workspace and its first key atomically; `Conflict` if the workspace exists.
    async fn create_workspace_with_key(&self, name: &str, key: &ApiKeyRecord) -> Result<()>;
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>>;
    /// Keys of the workspace that are not revoked, oldest first.
    async fn list_api_keys(&self, workspace: &str) -> Result<Vec<ApiKeyRecord>>;
    /// Marks a live key revoked; false if there is no such live key in the workspace.
    async fn revoke_api_key(&self, workspace: &str, id: &str, at: Timestamp) -> Result<bool>;
    async fn rotate_api_key(
        &self,
        workspace: &str,
        id: &str,
        rotation: &Rotation,
    ) -> Result<Option<ApiKeyRecord>>;
    async fn touch_api_key(&self, id: &str, at: Timestamp) -> Result<()>;

    // Workspace settings (small JSON values) and the connector activity log.
    async fn get_setting(&self, workspace: &str, key: &str) -> Result<Option<serde_json::Value>>;
    async fn put_setting(
        &self,
        workspace: &str,
        key: &str,
        value: &serde_json::Value,
        at: Timestamp,
    ) -> Result<()>;
    async fn append_activity(&self, workspace: &str, record: &ActivityRecord) -> Result<()>;
    /// The newest `limit` records, newest first.
    async fn list_activity(&self, workspace: &str, limit: u32) -> Result<Vec<ActivityRecord>>;

    // LLM usage and budgets.
    /// Reserves `estimate_nanos` on the counter (creating it at zero) if the counter stays
    /// within `cap_nanos` (`spent + reserved + estimate <= cap`) and has room left
    /// (`spent + reserved < cap`); false, reserving nothing, otherwise. The check and the
    /// reservation are one conditional `UPDATE`, so concurrent callers cannot overshoot; the
    /// counter is inserted (`ON CONFLICT DO NOTHING`) only when that update finds no room.
    async fn reserve_spend(
        &self,
        key: &SpendKey,
        estimate_nanos: i64,
        cap_nanos: i64,
    ) -> Result<bool>;
    /// Records a finished call and, with a counter, settles it there in the same transaction:
    /// `reserved -= reserved_nanos` (never below zero), `spent += record.cost_nanos`.
    async fn record_llm_usage(
        &self,
        record: &LlmUsageRecord,
        settle: Option<(&SpendKey, i64)>,
    ) -> Result<()>;
    /// Gives back a reservation that was not used (the call failed before any spend).
    async fn release_spend(&self, key: &SpendKey, reserved_nanos: i64) -> Result<()>;
    /// The workspace's counters for the month starting at `period_start`, by agent and label.
    async fn list_spend(&self, workspace: &str, period_start: Timestamp) -> Result<Vec<SpendRow>>;
    /// The workspace's usage records at or after `since`, newest first, at most `limit`.
    async fn list_llm_usage(
        &self,
        workspace: &str,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<LlmUsageRecord>>;
}
