//! Runs and their timelines: create, read, move through the state machine, append events.

use runagents_domain::run::{self, RunStatus};
use runagents_domain::{Invalid, Timestamp};
use runagents_store::{EventRecord, NewEvent, RunFilter, RunRecord, RunUpdate};
use serde_json::{Value, json};

use crate::{Engine, Error, Result, not_found};

/// The fields a client gives to create a run.
#[derive(Debug, Default)]
pub struct NewRun {
    pub agent: String,
    pub user_id: String,
    pub conversation_id: String,
    pub invoke_url: String,
    pub initial_message: String,
    /// Where the final answer is POSTed when the run ends (validated by the caller); empty for
    /// nowhere.
    pub callback_url: String,
    /// 1 when the platform is about to invoke a hosted runtime for the run's turn, else 0.
    pub turn: i64,
}

/// An event as a caller describes it; the engine stamps id and time.
pub fn event(kind: &str, actor: &str, data: Value) -> NewEvent {
    let at = Timestamp::now();
    NewEvent {
        id: event_id(at),
        kind: kind.to_owned(),
        actor: actor.to_owned(),
        payload_hash: String::new(),
        data,
        at,
    }
}

/// A UUID v7 for an event at `at`: its random part comes from the OS's CSPRNG a page at a time
/// per thread (egress makes two events per call; a `getrandom` each was a syscall on the
/// call's path).
fn event_id(at: Timestamp) -> String {
    const PAGE: usize = 4096;
    const TAKE: usize = 10;
    thread_local! {
        static RANDOM: std::cell::RefCell<(Vec<u8>, usize)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    let mut random = [0u8; TAKE];
    let taken = RANDOM.with(|cell| {
        let (page, used) = &mut *cell.borrow_mut();
        if *used + TAKE > page.len() {
            let mut fresh = vec![0u8; PAGE];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh).ok()?;
            *page = fresh;
            *used = 0;
        }
        random.copy_from_slice(&page[*used..*used + TAKE]);
        *used += TAKE;
        Some(())
    });
    match taken {
        Some(()) => {
            let millis = u64::try_from(at.millis()).unwrap_or_default();
            uuid::Builder::from_unix_timestamp_millis(millis, &random)
                .into_uuid()
                .to_string()
        }
        None => uuid::Uuid::now_v7().to_string(),
    }
}

const MAX_LIST: u32 = 1000;

impl Engine {
    pub async fn create_run(
        &self,
        workspace: &str,
        new: NewRun,
    ) -> Result<(RunRecord, Vec<EventRecord>)> {
        if new.agent.trim().is_empty() {
            return Err(Error::Invalid("agent_id is required".into()));
        }
        if new.user_id.trim().is_empty() {
            return Err(Error::Invalid("user_id is required".into()));
        }
        if self
            .store
            .get_document(workspace, runagents_store::Kind::Agent, &new.agent)
            .await?
            .is_none()
        {
            return Err(Error::Invalid(format!("agent {:?} not found", new.agent)));
        }
        let now = Timestamp::now();
        let id = uuid::Uuid::now_v7().to_string();
        let conversation_id = if new.conversation_id.is_empty() {
            id.clone()
        } else {
            new.conversation_id
        };
        let record = RunRecord {
            id,
            workspace: workspace.to_owned(),
            agent: new.agent,
            user_id: new.user_id,
            conversation_id,
            status: RunStatus::Running.as_str().to_owned(),
            blocked_action_id: String::new(),
            initial_message: new.initial_message,
            invoke_url: new.invoke_url,
            final_answer: String::new(),
            callback_url: new.callback_url,
            turn: new.turn,
            created_at: now,
            updated_at: now,
        };
        let mut events = vec![event(
            "RUN_CREATED",
            "platform",
            json!({"agent": record.agent, "user_id": record.user_id}),
        )];
        if !record.initial_message.is_empty() {
            events.push(event(
                "USER_MESSAGE",
                &record.user_id,
                json!({"message": record.initial_message}),
            ));
        }
        let stored = self.store.create_run(&record, &events).await?;
        Ok((record, stored))
    }

    pub async fn get_run(&self, workspace: &str, id: &str) -> Result<RunRecord> {
        self.store
            .get_run(workspace, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {id} not found")))
    }

    /// Runs newest first, filtered by agent, end user and status (none = every status).
    pub async fn list_runs(
        &self,
        workspace: &str,
        agent: Option<String>,
        user: Option<String>,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<RunRecord>> {
        let statuses = match status {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| RunStatus::parse(s).map(|status| status.as_str().to_owned()))
                .collect::<Result<Vec<_>, Invalid>>()?,
        };
        let limit = limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
        Ok(self
            .store
            .list_runs(
                workspace,
                &RunFilter {
                    agent: agent.filter(|a| !a.is_empty()),
                    conversation: None,
                    user: user.filter(|u| !u.is_empty()),
                    statuses,
                    limit,
                },
            )
            .await?)
    }

    /// A client-requested transition (`PATCH /runs/{id}`), with its event.
    pub async fn set_run_status(
        &self,
        workspace: &str,
        id: &str,
        requested: &str,
    ) -> Result<RunRecord> {
        let next = RunStatus::parse(requested)?;
        if !next.settable_by_client() {
            return Err(Error::Invalid(format!(
                "status {} is set by the platform, not through the API",
                next.as_str()
            )));
        }
        let run = self.get_run(workspace, id).await?;
        let current = RunStatus::parse(&run.status)?;
        run::transition(current, next).map_err(|invalid| Error::Conflict(invalid.0))?;
        let kind = match next {
            RunStatus::Running => "RESUMED",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            _ => "APPROVAL_REQUIRED",
        };
        let update = RunUpdate {
            from: run.status.clone(),
            to: next.as_str().to_owned(),
            blocked_action_id: None,
            final_answer: None,
            at: Timestamp::now(),
        };
        let events = [event(
            kind,
            "api",
            json!({"from": run.status, "to": next.as_str()}),
        )];
        match self.store.update_run(workspace, id, &update, &events).await {
            Ok((updated, _)) => {
                self.wake_callbacks();
                Ok(updated)
            }
            Err(runagents_store::Error::Conflict(_)) => {
                // Someone else moved it first: report the transition from where it is now.
                let now = self.get_run(workspace, id).await?;
                Err(Error::Conflict(format!(
                    "invalid transition from {} to {}",
                    now.status,
                    next.as_str()
                )))
            }
            Err(runagents_store::Error::NotFound) => Err(not_found("run", id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Appends a client's event (`POST /runs/{id}/events`).
    pub async fn post_run_event(
        &self,
        workspace: &str,
        run_id: &str,
        body: &Value,
    ) -> Result<EventRecord> {
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Invalid("type is required".into()))?;
        let kind = run::event_type(kind)?;
        let text = |key: &str| runagents_domain::fields::text(body, key);
        let data = match body.get("data") {
            None | Some(Value::Null) => json!({}),
            Some(object @ Value::Object(_)) => object.clone(),
            Some(_) => return Err(Error::Invalid("data must be an object".into())),
        };
        let actor = text("actor")?;
        let mut new = event(&kind, if actor.is_empty() { "api" } else { &actor }, data);
        new.payload_hash = text("payload_hash")?;
        match self.store.append_events(workspace, run_id, &[new]).await {
            Ok(mut stored) => stored
                .pop()
                .ok_or_else(|| Error::Invalid("no event".into())),
            Err(runagents_store::Error::NotFound) => {
                Err(Error::NotFound(format!("run {run_id} not found")))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Events after `after_seq`; with `limit`, the last `limit` of them (the tail).
    pub async fn list_run_events(
        &self,
        workspace: &str,
        run_id: &str,
        after_seq: i64,
        limit: Option<u32>,
    ) -> Result<Vec<EventRecord>> {
        self.get_run(workspace, run_id).await?;
        Ok(self
            .store
            .list_events(
                workspace,
                run_id,
                after_seq.max(0),
                limit.map(|l| l.clamp(1, 10_000)),
            )
            .await?)
    }
}

impl Engine {
    /// The runs of one conversation, oldest first.
    pub async fn conversation_runs(
        &self,
        workspace: &str,
        conversation: &str,
    ) -> Result<Vec<RunRecord>> {
        let filter = RunFilter {
            conversation: Some(conversation.to_owned()),
            limit: MAX_LIST,
            ..RunFilter::default()
        };
        let mut runs = self.store.list_runs(workspace, &filter).await?;
        runs.reverse();
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_distinct_v7_uuids_stamped_with_the_event_time() {
        let at = Timestamp::now();
        // Several pages' worth, so the page is refilled along the way.
        let ids: Vec<String> = (0..2_000).map(|_| event_id(at)).collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
            let (seconds, nanos) = uuid.get_timestamp().unwrap().to_unix();
            assert_eq!(
                i64::try_from(seconds * 1000 + u64::from(nanos / 1_000_000)).unwrap(),
                at.millis()
            );
        }
    }
}
