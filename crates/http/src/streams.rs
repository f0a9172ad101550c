//! Server-sent event streams of what happens in a run and in a conversation, so a client (a
//! chat surface, the console) sees each step and the final answer as they land.
//!
//! Streams read the store, so they work whichever replica appended the events; they look
//! again every `POLL` and send a keep-alive comment in between.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use runagents_engine::Engine;
use serde::Deserialize;

use crate::auth::CallerExt;
use crate::runs::{event_view, view};
use crate::{ApiError, AppState};

const POLL: Duration = Duration::from_millis(200);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs/{id}/stream", get(run_stream))
        .route("/conversations/{id}/stream", get(conversation_stream))
}

#[derive(Deserialize)]
struct StreamQuery {
    after_seq: Option<i64>,
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;
type EventStream = Sse<axum::response::sse::KeepAliveStream<Events>>;

fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> EventStream {
    let boxed: Events = Box::pin(events);
    Sse::new(boxed).keep_alive(KeepAlive::default())
}

/// `run_event` for each event (its `id` is the seq, so `Last-Event-ID` resumes), then `done`
/// with the run (status, final answer) once it has ended.
async fn run_stream(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<EventStream, ApiError> {
    let workspace = caller.workspace.clone();
    state.engine.get_run(&workspace, &id).await?;
    let resume_from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = resume_from.or(query.after_seq).unwrap_or(0);
    let engine = state.engine.clone();
    let stream = futures_util::stream::unfold(
        RunCursor {
            engine,
            workspace,
            run_id: id,
            after,
            pending: Vec::new(),
            finished: false,
        },
        next_run_event,
    );
    Ok(sse(stream))
}

struct RunCursor {
    engine: std::sync::Arc<Engine>,
    workspace: String,
    run_id: String,
    after: i64,
    pending: Vec<Event>,
    finished: bool,
}

async fn next_run_event(mut cursor: RunCursor) -> Option<(Result<Event, Infallible>, RunCursor)> {
    loop {
        if let Some(event) = cursor.pending.pop() {
            return Some((Ok(event), cursor));
        }
        if cursor.finished {
            return None;
        }
        let (Ok(events), Ok(run)) = (
            cursor
                .engine
                .list_run_events(&cursor.workspace, &cursor.run_id, cursor.after, None)
                .await,
            cursor
                .engine
                .get_run(&cursor.workspace, &cursor.run_id)
                .await,
        ) else {
            return None;
        };
        let mut batch: Vec<Event> = events
            .iter()
            .map(|event| {
                Event::default()
                    .event("run_event")
                    .id(event.seq.to_string())
                    .data(event_view(event).to_string())
            })
            .collect();
        if let Some(last) = events.last() {
            cursor.after = last.seq;
        }
        // The run's status was read after its events, so a terminal status means none are missing.
        if matches!(run.status.as_str(), "COMPLETED" | "FAILED") {
            batch.push(Event::default().event("done").data(view(&run).to_string()));
            cursor.finished = true;
        }
        batch.reverse();
        cursor.pending = batch;
        if cursor.pending.is_empty() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Every event of every run in the conversation as it lands (`run_event`, with `run_id`), and
/// `final_answer` when a run completes with one. Runs until the client leaves.
async fn conversation_stream(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<EventStream, ApiError> {
    let cursor = ConversationCursor {
        engine: state.engine,
        workspace: caller.workspace.clone(),
        conversation: id,
        seen: Vec::new(),
        pending: Vec::new(),
    };
    Ok(sse(futures_util::stream::unfold(
        cursor,
        next_conversation_event,
    )))
}

struct ConversationCursor {
    engine: std::sync::Arc<Engine>,
    workspace: String,
    conversation: String,
    /// (run id, last seq sent, final answer sent).
    seen: Vec<(String, i64, bool)>,
    pending: Vec<Event>,
}

async fn next_conversation_event(
    mut cursor: ConversationCursor,
) -> Option<(Result<Event, Infallible>, ConversationCursor)> {
    loop {
        if let Some(event) = cursor.pending.pop() {
            return Some((Ok(event), cursor));
        }
        let Ok(runs) = cursor
            .engine
            .conversation_runs(&cursor.workspace, &cursor.conversation)
            .await
        else {
            return None;
        };
        let mut batch = Vec::new();
        for run in runs {
            let index = match cursor.seen.iter().position(|(id, _, _)| *id == run.id) {
                Some(index) => index,
                None => {
                    cursor.seen.push((run.id.clone(), 0, false));
                    cursor.seen.len() - 1
                }
            };
            let (_, after, answered) = cursor.seen[index].clone();
            let Ok(events) = cursor
                .engine
                .list_run_events(&cursor.workspace, &run.id, after, None)
                .await
            else {
                return None;
            };
            for event in &events {
                batch.push(
                    Event::default()
                        .event("run_event")
                        .data(event_view(event).to_string()),
                );
            }
            if let Some(last) = events.last() {
                cursor.seen[index].1 = last.seq;
            }
            if !answered && run.status == "COMPLETED" {
                batch.push(Event::default().event("final_answer").data(
                    serde_json::json!({"run_id": run.id, "answer": run.final_answer}).to_string(),
                ));
                cursor.seen[index].2 = true;
            }
        }
        batch.reverse();
        cursor.pending = batch;
        if cursor.pending.is_empty() {
            tokio::time::sleep(POLL).await;
        }
    }
}
