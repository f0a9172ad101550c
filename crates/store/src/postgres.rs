//! PostgreSQL, for several platform replicas sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use crate::{MasterKey, Result, Sealer, Work};

type Backend = sqlx::Postgres;

/// Claims skip rows another claimer holds, so workers (on any replica) woken together each
/// take a different row instead of queueing on one and coming back empty.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// Row locks, not a database lock, order PostgreSQL's writers: a plain transaction.
const BEGIN: &str = "BEGIN";

/// After a listener error, wait this long (doubling up to `LISTEN_BACKOFF_MAX`) before
/// listening again.
const LISTEN_BACKOFF: Duration = Duration::from_millis(250);
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: sqlx::PgPool,
    sealer: Sealer,
}

impl PostgresStore {
    /// Connects and applies pending migrations (sqlx takes an advisory lock, so replicas
    /// starting together migrate once).
    pub async fn connect(url: &str, master: &MasterKey) -> Result<Self> {
        let pool = PgPoolOptions::new()
            // Ten for queries, and one a work listener holds (see `work_notices`).
            .max_connections(11)
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

    /// Listens for the work every replica announces (see `announce`), forwarding it to the
    /// receiver until that is dropped.
    fn listen_for_work(&self) -> Option<mpsc::Receiver<Work>> {
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(listen(self.pool.clone(), sender));
        Some(receiver)
    }

    /// Tells every replica's listener about queued work when `tx` commits (NOTIFY is
    /// transactional: a rolled-back transaction announces nothing). Identical announcements
    /// of one transaction are delivered once.
    async fn announce(
        tx: &mut sqlx::Transaction<'_, Backend>,
        work: Work,
        workspace: &str,
    ) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(work.channel())
            .bind(workspace)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Other replicas write too: counters are always read from the database.
    fn local_generations(&self) -> Option<&crate::local_generations::LocalGenerations> {
        None
    }
}

/// Forwards announced work until `sender`'s receiver is dropped. A lost connection is
/// re-established (by `PgListener` itself, or here after an error, with backoff), and then
/// every kind of work is forwarded: what was announced while nobody listened is lost.
async fn listen(pool: sqlx::PgPool, sender: mpsc::Sender<Work>) {
    let channels = Work::ALL.map(Work::channel);
    let mut backoff = LISTEN_BACKOFF;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all(channels).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = sender.closed() => return,
            listening = listening => match listening {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "could not listen for work announced by other replicas; the workers poll meanwhile");
                    tokio::select! {
                        () = sender.closed() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
                    continue;
                }
            },
        };
        backoff = LISTEN_BACKOFF;
        forward_all(&sender);
        loop {
            let received = tokio::select! {
                () = sender.closed() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Some(work) = Work::of_channel(notification.channel()) {
                        // A full queue already holds a wake-up for the same worker.
                        let _ = sender.try_send(work);
                    }
                }
                // The connection was lost and is listening again.
                Ok(None) => {
                    tracing::info!("listening for work again after a lost connection");
                    forward_all(&sender);
                }
                Err(error) => {
                    tracing::warn!(%error, "listening for work failed; listening again");
                    tokio::select! {
                        () = sender.closed() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    break;
                }
            }
        }
    }
}

fn forward_all(sender: &mpsc::Sender<Work>) {
    for work in Work::ALL {
        let _ = sender.try_send(work);
    }
}

crate::sql_runs::impl_run_store!(PostgresStore);
crate::sql_approvals::impl_approval_store!(PostgresStore);
crate::sql_dispatch::impl_dispatch_store!(PostgresStore);
crate::sql_oauth::impl_oauth_store!(PostgresStore);
crate::sql_callbacks::impl_callback_store!(PostgresStore);
crate::sql::impl_store!(PostgresStore, "postgres");
