//! Wake-ups from other replicas: work queued in a transaction there (a resume job, approval
//! deliveries, a run callback) wakes this replica's idle worker at once, not at its next poll.
//!
//! Invariant: never needed for correctness. Every worker also polls, so a wake-up lost to a
//! dropped connection only delays the work by one poll.

use runagents_store::Work;
use tokio_util::sync::CancellationToken;

use crate::Engine;

impl Engine {
    /// Runs until `stop` is cancelled, waking this replica's workers for the work other
    /// processes announce through the store; returns at once on a store only this process
    /// writes (SQLite), whose work the engine announces to its workers itself.
    pub async fn run_work_listener(self, stop: CancellationToken) {
        let Some(mut notices) = self.store.work_notices() else {
            return;
        };
        loop {
            let work = tokio::select! {
                () = stop.cancelled() => return,
                work = notices.recv() => work,
            };
            match work {
                Some(Work::Resume) => self.resume_signal.notify_waiters(),
                Some(Work::Dispatch) => self.wake_dispatch(),
                Some(Work::Callback) => self.wake_callbacks(),
                None => return,
            }
        }
    }
}
