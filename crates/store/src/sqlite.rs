//! SQLite, the embedded default: one file in the data directory, WAL journal.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{MasterKey, Result, Sealer};

type Backend = sqlx::Sqlite;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    sealer: Sealer,
    /// SQLite runs one writer at a time; the hot writes (LLM usage and budgets) take turns here,
    /// which is far cheaper than SQLite's busy handler, which sleeps in milliseconds.
    writer: tokio::sync::Mutex<()>,
    /// Generation counters answered from memory between this process's writes.
    local: crate::local_generations::LocalGenerations,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path, master: &MasterKey) -> Result<Self> {
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
        Ok(SqliteStore {
            pool,
            sealer: Sealer::new(master),
            writer: tokio::sync::Mutex::new(()),
            local: Default::default(),
        })
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// Long lists come back as one JSON value (`json_group_array`).
    fn rows_as_one_json(&self) -> bool {
        true
    }

    /// SQLite runs a multi-statement batch in one call to its worker thread.
    fn multi_statement_batches(&self) -> bool {
        true
    }

    /// This process is the database's only writer: it knows of all the work it queues.
    fn listen_for_work(&self) -> Option<tokio::sync::mpsc::Receiver<crate::Work>> {
        None
    }

    /// Nobody else to tell: the engine wakes its workers itself.
    #[expect(
        clippy::unused_async,
        reason = "the same call as PostgresStore::announce"
    )]
    async fn announce(
        _tx: &mut sqlx::Transaction<'_, Backend>,
        _work: crate::Work,
        _workspace: &str,
    ) -> Result<()> {
        Ok(())
    }

    /// This process is the database's only writer: its counters can be mirrored.
    fn local_generations(&self) -> Option<&crate::local_generations::LocalGenerations> {
        Some(&self.local)
    }
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
