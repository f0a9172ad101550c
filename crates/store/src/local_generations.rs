//! The embedded SQLite store's mirror of its generation counters. SQLite is one process's
//! database (several replicas need PostgreSQL), so every write that bumps a counter goes
//! through this process's store: each such commit bumps `epoch` before its method returns, and
//! counters read at the current epoch are answered from memory. A read that loaded the epoch
//! before a commit stores its result under the old epoch, so the next read queries again.
//!
//! Writes made to the database file by another process (not a supported way to change it) are
//! seen once this process writes anything that bumps a counter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Generations;

#[derive(Default)]
pub(crate) struct LocalGenerations {
    epoch: AtomicU64,
    seen: Mutex<HashMap<String, (u64, Generations)>>,
}

impl LocalGenerations {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// After a commit that bumped a counter.
    pub(crate) fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The workspace's counters if they were read at `epoch`.
    pub(crate) fn get(&self, workspace: &str, epoch: u64) -> Option<Generations> {
        let seen = self.seen.lock().ok()?;
        let (at, generations) = seen.get(workspace)?;
        (*at == epoch).then_some(*generations)
    }

    pub(crate) fn put(&self, workspace: &str, epoch: u64, generations: Generations) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(workspace.to_owned(), (epoch, generations));
        }
    }
}
