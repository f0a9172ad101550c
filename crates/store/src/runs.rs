//! Runs, their event timelines, and agent-plane credentials.
//!
//! Invariants: an event's `seq` comes from bumping `runs.last_seq` in the same transaction that
//! inserts the event, so seqs are gapless and ordered per run under any concurrency. The
//! transaction that moves a run to COMPLETED or FAILED also queues its callback (when it has a
//! `callback_url`) and deletes its recorded calls.

use async_trait::async_trait;
use runagents_domain::Timestamp;

use crate::Result;

#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub workspace: String,
    pub agent: String,
    pub user_id: String,
    pub conversation_id: String,
    pub status: String,
    pub blocked_action_id: String,
    pub initial_message: String,
    pub invoke_url: String,
    pub final_answer: String,
    /// Where the final answer is POSTed when the run ends; empty for nowhere.
    pub callback_url: String,
    /// How many times the platform has invoked a hosted runtime for this run's turn; 0 when
    /// the platform does not drive the turn (nothing is replayed for such a run).
    pub turn: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An event to append; the store assigns `seq`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub actor: String,
    pub payload_hash: String,
    pub data: serde_json::Value,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub run_id: String,
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub actor: String,
    pub payload_hash: String,
    pub data: serde_json::Value,
    pub at: Timestamp,
}

/// Events to append to one run, as part of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct EventBatch {
    pub workspace: String,
    pub run_id: String,
    pub events: Vec<NewEvent>,
}

impl EventBatch {
    /// The time a commit of these batches stamps on their runs: their latest event's.
    pub(crate) fn latest_at<'a>(batches: impl IntoIterator<Item = &'a EventBatch>) -> i64 {
        batches
            .into_iter()
            .flat_map(|batch| batch.events.iter().map(|event| event.at.millis()))
            .max()
            .unwrap_or_default()
    }
}

/// The answer of a call a run made, kept so a turn invoked again gets it instead of making
/// the call twice.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedCall {
    pub status: u16,
    /// A few response headers, as a JSON object of strings.
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    /// The answer was longer than the body kept.
    pub truncated: bool,
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub agent: Option<String>,
    pub conversation: Option<String>,
    /// The end user the runs act for (`user_id`), exactly.
    pub user: Option<String>,
    pub statuses: Vec<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// A status change: applied only if the run's status is still `from` (compare-and-set).
#[derive(Clone, Debug)]
pub struct RunUpdate {
    pub from: String,
    pub to: String,
    /// Replaces `blocked_action_id` when set.
    pub blocked_action_id: Option<String>,
    /// Replaces `final_answer` when set.
    pub final_answer: Option<String>,
    pub at: Timestamp,
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts a run and its first events in one transaction.
    async fn create_run(&self, run: &RunRecord, events: &[NewEvent]) -> Result<Vec<EventRecord>>;
    async fn get_run(&self, workspace: &str, id: &str) -> Result<Option<RunRecord>>;
    async fn list_runs(&self, workspace: &str, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// Changes status (if still `update.from`) and appends events, atomically. `Conflict` if
    /// the status moved meanwhile, `NotFound` if there is no such run.
    async fn update_run(
        &self,
        workspace: &str,
        id: &str,
        update: &RunUpdate,
        events: &[NewEvent],
    ) -> Result<(RunRecord, Vec<EventRecord>)>;
    /// Appends events to a run; `NotFound` if there is no such run.
    async fn append_events(
        &self,
        workspace: &str,
        run_id: &str,
        events: &[NewEvent],
    ) -> Result<Vec<EventRecord>>;
    /// Appends each batch's events to its run, all in one transaction (a group commit for
    /// many callers). A batch whose run does not exist is skipped: `false` at its index.
    async fn append_event_batches(&self, batches: &[EventBatch]) -> Result<Vec<bool>>;
    /// Whether `journal_events` answers before its commit (SQLite's event journal).
    fn journals_events(&self) -> bool;
    /// Appends one batch so that it survives a crash of this process once this returns, and
    /// is seen, in order, by every later read or write of events through this store. With a
    /// journal that is before the commit; without one it is `append_event_batches`. A batch
    /// whose run does not exist is dropped.
    async fn journal_events(&self, batch: EventBatch) -> Result<()>;
    /// Commits whatever is journaled (at shutdown, for a tidy database).
    async fn flush_events(&self) -> Result<()>;
    /// Events with `seq > after_seq`, ascending; with `tail`, only the last `tail` of them.
    async fn list_events(
        &self,
        workspace: &str,
        run_id: &str,
        after_seq: i64,
        tail: Option<u32>,
    ) -> Result<Vec<EventRecord>>;

    /// Replaces the agent's credential for `purpose` (`issued` or `hosted`); the old one of
    /// that purpose stops working in the same transaction, the other purpose's keeps working.
    /// Bumps the workspace's credential generation in the same transaction.
    async fn set_agent_credential(
        &self,
        workspace: &str,
        agent: &str,
        purpose: &str,
        hash: &str,
        at: Timestamp,
    ) -> Result<()>;
    /// Bumps the run's `turn` (the platform is about to invoke its hosted runtime again) and
    /// returns it; `NotFound` if there is no such run.
    async fn next_run_turn(&self, workspace: &str, run_id: &str) -> Result<i64>;
    /// Records the answer of a call the run made in `turn`, as the next occurrence of its
    /// payload in the run. Nothing is recorded (false) once the run is COMPLETED or FAILED.
    async fn record_run_call(
        &self,
        workspace: &str,
        run_id: &str,
        payload_hash: &str,
        turn: i64,
        call: &RecordedCall,
        at: Timestamp,
    ) -> Result<bool>;
    /// The earliest recorded call of the run with this payload not yet made or served in
    /// `turn`, marked served in `turn` in the same statement.
    async fn take_recorded_call(
        &self,
        workspace: &str,
        run_id: &str,
        payload_hash: &str,
        turn: i64,
    ) -> Result<Option<RecordedCall>>;

    /// The (workspace, agent) a credential hash belongs to.
    async fn agent_by_credential(&self, hash: &str) -> Result<Option<(String, String)>>;
    /// Deletes the agent's credentials and bumps the workspace's credential generation, in one
    /// transaction.
    async fn delete_agent_credentials(&self, workspace: &str, agent: &str) -> Result<()>;
}
