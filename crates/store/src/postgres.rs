//! PostgreSQL, for several platform replicas sharing one database.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use crate::{MasterKey, Result, Sealer};

type Backend = sqlx::Postgres;

pub struct PostgresStore {
    pool: sqlx::PgPool,
    sealer: Sealer,
}

impl PostgresStore {
    /// Connects and applies pending migrations (sqlx takes an advisory lock, so replicas
    /// starting together migrate once).
    pub async fn connect(url: &str, master: &MasterKey) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore {
            pool,
            sealer: Sealer::new(master),
        })
    }

    /// PostgreSQL has row locks: writers need no turns.
    #[expect(
        clippy::unused_async,
        reason = "the same call as SqliteStore::write_turn"
    )]
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Rows stream from the server in batches already.
    fn rows_as_one_json(&self) -> bool {
        false
    }

    /// Prepared statements are one statement each.
    #[expect(
        clippy::unused_async,
        reason = "the same call as SqliteStore::append_in_one_trip"
    )]
    async fn append_in_one_trip(
        &self,
        _: &[crate::EventBatch],
        _: i64,
    ) -> Option<Result<Vec<bool>>> {
        None
    }

    /// Events are committed by the caller's group commit: a local journal could not be
    /// replayed by another replica if this one never came back.
    fn event_journal(&self) -> Option<&crate::event_journal::EventJournal> {
        None
    }

    /// Other replicas write too: counters are always read from the database.
    fn local_generations(&self) -> Option<&crate::local_generations::LocalGenerations> {
        None
    }
}

crate::sql_runs::impl_run_store!(PostgresStore);
crate::sql_approvals::impl_approval_store!(PostgresStore);
crate::sql_dispatch::impl_dispatch_store!(PostgresStore);
crate::sql_oauth::impl_oauth_store!(PostgresStore);
crate::sql_callbacks::impl_callback_store!(PostgresStore);
crate::sql::impl_store!(PostgresStore, "postgres");
