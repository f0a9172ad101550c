//! Group commit for the events egress records on every call (TOOL_REQUEST + TOOL_RESPONSE):
//! callers queue their events and wait; one writer task at a time takes everything queued and
//! writes it in one store transaction, then answers each caller. Under load many calls share
//! one commit; alone, a call waits for its own.
//!
//! A store with an event journal (SQLite) takes the batch itself: it is durable once
//! journaled and committed by the store's own flusher, so the caller does not wait here.
//!
//! Invariant: a caller's events are committed (or journaled) before it is answered `Ok`, as
//! with a direct append, so nothing is lost by batching. The writer is a spawned task, so a caller that goes
//! away (a client hanging up) neither stops it nor loses anyone else's events. A batch that
//! fails as a whole is retried run by run, so one bad run cannot lose the others' events.

use std::sync::{Arc, Mutex, PoisonError};

use runagents_store::{EventBatch, NewEvent, Store};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

type Waiter = oneshot::Sender<Result<bool, String>>;

#[derive(Default)]
struct Queue {
    pending: Vec<(EventBatch, Waiter)>,
    /// A writer task is draining the queue.
    writing: bool,
}

#[derive(Default)]
pub(crate) struct EventWriter {
    queue: Mutex<Queue>,
}

impl EventWriter {
    /// Appends `events` to the run once they are committed; `Ok(false)` if the run does not
    /// exist.
    pub(crate) async fn append(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        tasks: &TaskTracker,
        workspace: &str,
        run_id: &str,
        events: Vec<NewEvent>,
    ) -> Result<bool, String> {
        let batch = EventBatch {
            workspace: workspace.to_owned(),
            run_id: run_id.to_owned(),
            events,
        };
        if store.journals_events() {
            // Durable once journaled; the store commits it in order before any later read.
            return store
                .journal_events(batch)
                .await
                .map(|()| true)
                .map_err(|error| error.to_string());
        }
        let (sender, receiver) = oneshot::channel();
        let start_writer = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.pending.push((batch, sender));
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            let writer = self.clone();
            let store = store.clone();
            tasks.spawn(async move { writer.drain(&*store).await });
        }
        receiver
            .await
            .map_err(|_| "the event writer stopped".to_owned())?
    }

    /// Writes batches until the queue is empty.
    async fn drain(&self, store: &dyn Store) {
        loop {
            // Let the calls that are ready run first, so they join this commit.
            tokio::task::yield_now().await;
            let taken = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.pending.is_empty() {
                    queue.writing = false;
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            let (batches, waiters): (Vec<EventBatch>, Vec<Waiter>) = taken.into_iter().unzip();
            match store.append_event_batches(&batches).await {
                Ok(appended) => {
                    for (waiter, appended) in waiters.into_iter().zip(appended) {
                        let _ = waiter.send(Ok(appended));
                    }
                }
                Err(error) if batches.len() == 1 => {
                    for waiter in waiters {
                        let _ = waiter.send(Err(error.to_string()));
                    }
                }
                // One at a time, so each caller gets its own outcome.
                Err(_) => {
                    for (batch, waiter) in batches.into_iter().zip(waiters) {
                        let outcome = store
                            .append_event_batches(std::slice::from_ref(&batch))
                            .await
                            .map(|appended| appended.first().copied().unwrap_or(false))
                            .map_err(|error| error.to_string());
                        let _ = waiter.send(outcome);
                    }
                }
            }
        }
    }
}
