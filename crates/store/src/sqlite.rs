//! SQLite, the embedded default: one file in the data directory, WAL journal.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::event_journal::EventJournal;
use crate::{EventBatch, MasterKey, Result, Sealer};

type Backend = sqlx::Sqlite;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    sealer: Sealer,
    /// SQLite runs one writer at a time; the hot writes (LLM usage and budgets, journaled
    /// events) take turns here, which is far cheaper than SQLite's busy handler, which sleeps
    /// in milliseconds.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Generation counters answered from memory between this process's writes.
    local: crate::local_generations::LocalGenerations,
    /// Egress events, answered once journaled (`None`: another process owns the journal).
    journal: Option<Arc<EventJournal>>,
}

/// How a SQLite store is opened beyond its path.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long the event journal gathers batches before a commit when no reader waits.
    pub event_linger: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            event_linger: crate::event_journal::DEFAULT_LINGER,
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(journal) = &self.journal {
            journal.close();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path, master: &MasterKey) -> Result<Self> {
        Self::open_with(path, master, &SqliteOptions::default()).await
    }

    /// `open`, then the event journal: what a previous process journaled is committed before
    /// this returns.
    pub async fn open_with(path: &Path, master: &MasterKey, opened: &SqliteOptions) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(crate::Error::from)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
            // the last transactions, which is the trade SQLite documents for WAL.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Checkpoints run in the background (below), not inside whichever commit crosses
            // the threshold: that commit, and every write queued behind it, would wait for the
            // checkpoint's fsync.
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            // A ping only checks that the connection's worker thread is alive (there is no
            // server to lose), and costs two thread hand-offs before every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        spawn_checkpoints(pool.clone());
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        let committer = Committer {
            pool: pool.clone(),
            writer: writer.clone(),
        };
        let journal = EventJournal::open(path, committer, opened.event_linger).await?;
        Ok(SqliteStore {
            pool,
            sealer: Sealer::new(master),
            writer,
            local: Default::default(),
            journal,
        })
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    fn event_journal(&self) -> Option<&EventJournal> {
        self.journal.as_deref()
    }

    /// Long lists come back as one JSON value (`json_group_array`).
    fn rows_as_one_json(&self) -> bool {
        true
    }

    /// SQLite runs a multi-statement batch in one call to its worker thread.
    async fn append_in_one_trip(&self, batches: &[EventBatch], at: i64) -> Option<Result<Vec<bool>>> {
        Some(one_trip(&self.pool, batches, at, None).await)
    }

    /// This process is the database's only writer: its counters can be mirrored.
    fn local_generations(&self) -> Option<&crate::local_generations::LocalGenerations> {
        Some(&self.local)
    }
}

/// Commits journaled batches for the event journal's flusher, taking turns with the other
/// hot writers.
pub(crate) struct Committer {
    pool: sqlx::SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Committer {
    /// The last journal sequence committed.
    pub(crate) async fn applied(&self) -> Result<u64> {
        let (applied,): (i64,) = sqlx::query_as("SELECT applied_through FROM event_journal WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(applied).unwrap_or_default())
    }

    /// Commits the batches and their last sequence in one transaction.
    pub(crate) async fn commit(&self, journaled: &[(u64, EventBatch)]) -> Result<()> {
        let Some((through, _)) = journaled.last() else {
            return Ok(());
        };
        let batches: Vec<&EventBatch> = journaled.iter().map(|(_, batch)| batch).collect();
        let at = batches
            .iter()
            .flat_map(|batch| batch.events.iter().map(|event| event.at.millis()))
            .max()
            .unwrap_or_default();
        let _turn = self.writer.lock().await;
        one_trip(&self.pool, batches, at, Some(*through)).await.map(|_| ())
    }
}

/// Appends batches as one multi-statement call of fixed text over one JSON parameter, so SQLite
/// prepares it once per connection and the batch is one round trip to its worker thread: BEGIN,
/// each run's `last_seq` bumped by its count of events, one INSERT whose seqs count back from
/// the bumped counters, the journal's applied sequence when given, the runs that exist, COMMIT.
/// On any error it rolls back on the same connection, so nothing is half-written.
async fn one_trip<'a>(
    pool: &sqlx::SqlitePool,
    batches: impl IntoIterator<Item = &'a EventBatch> + Clone,
    at: i64,
    journaled_through: Option<u64>,
) -> Result<Vec<bool>> {
    const ONE_TRIP: &str = "BEGIN IMMEDIATE;
        UPDATE runs SET last_seq = last_seq + b.n, updated_at = $2
        FROM (SELECT value ->> 'w' AS w, value ->> 'r' AS r, count(*) AS n FROM json_each($1) GROUP BY 1, 2) AS b
        WHERE runs.workspace = b.w AND runs.id = b.r;
        INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at)
        SELECT runs.id, runs.last_seq - e.back, e.i, e.k, e.a, e.h, e.d, e.t
        FROM (SELECT value ->> 'w' AS w, value ->> 'r' AS r, value ->> 'i' AS i, value ->> 'k' AS k,
                     value ->> 'a' AS a, value ->> 'h' AS h, value ->> 'd' AS d, value ->> 't' AS t,
                     row_number() OVER (PARTITION BY value ->> 'w', value ->> 'r' ORDER BY key DESC) - 1 AS back
              FROM json_each($1)) AS e
        JOIN runs ON runs.workspace = e.w AND runs.id = e.r;
        UPDATE event_journal SET applied_through = $3 WHERE id = 1 AND $3 IS NOT NULL;
        SELECT DISTINCT runs.workspace, runs.id FROM json_each($1) AS e
        JOIN runs ON runs.workspace = e.value ->> 'w' AND runs.id = e.value ->> 'r';
        COMMIT;";
    let mut rows = String::from("[");
    for batch in batches.clone() {
        for event in &batch.events {
            if rows.len() > 1 {
                rows.push(',');
            }
            let row = serde_json::json!({
                "w": batch.workspace, "r": batch.run_id, "i": event.id, "k": event.kind,
                "a": event.actor, "h": event.payload_hash, "d": event.data.to_string(), "t": event.at.millis(),
            });
            rows.push_str(&row.to_string());
        }
    }
    rows.push(']');
    let through = journaled_through.map(|seq| i64::try_from(seq).unwrap_or(i64::MAX));
    let mut connection = pool.acquire().await?;
    let found: std::result::Result<Vec<(String, String)>, sqlx::Error> = sqlx::query_as(ONE_TRIP)
        .bind(rows)
        .bind(at)
        .bind(through)
        .fetch_all(&mut *connection)
        .await;
    let found = match found {
        Ok(found) => found,
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err(error.into());
        }
    };
    Ok(batches
        .into_iter()
        .map(|batch| found.iter().any(|(ws, id)| *ws == batch.workspace && *id == batch.run_id))
        .collect())
}

/// Copies the WAL back into the database every second, in passive mode (never blocking readers
/// or writers). Stopping mid-checkpoint is safe, so the task needs no shutdown.
fn spawn_checkpoints(pool: sqlx::SqlitePool) {
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            every_second.tick().await;
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(%error, "SQLite checkpoint failed");
            }
        }
    });
}

crate::sql_runs::impl_run_store!(SqliteStore);
crate::sql_approvals::impl_approval_store!(SqliteStore);
crate::sql_dispatch::impl_dispatch_store!(SqliteStore);
crate::sql_oauth::impl_oauth_store!(SqliteStore);
crate::sql_callbacks::impl_callback_store!(SqliteStore);
crate::sql::impl_store!(SqliteStore, "sqlite");
