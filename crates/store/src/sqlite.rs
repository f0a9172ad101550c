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
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore {
            pool,
            sealer: Sealer::new(master),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }
}

crate::sql::impl_store!(SqliteStore, "sqlite");
