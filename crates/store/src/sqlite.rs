//! SQLite, the embedded default: one file in the data directory, WAL journal.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::event_journal::{EventJournal, JournaledBatch};
use crate::{EventBatch, MasterKey, Result, Sealer};

type Backend = sqlx::Sqlite;

/// SQLite has one writer at a time: a claim never meets a row another claimer holds.
const SKIP_LOCKED: &str = "";

/// Store transactions take the write lock when they begin. A deferred one that reads and then
/// writes fails at once with SQLITE_BUSY (no busy wait) if another connection — the event
/// journal's flusher, a worker — committed in between; waiting at BEGIN cannot fail that way.
const BEGIN: &str = "BEGIN IMMEDIATE";

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
    /// The journal's flusher runs on a thread of its own (the default), so its commits never
    /// hold a worker of the runtime answering calls; `false` runs it as a task of the caller's
    /// runtime, which stops with it (tests simulate a crash that way).
    pub flusher_thread: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            event_linger: crate::event_journal::DEFAULT_LINGER,
            flusher_thread: true,
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
    pub async fn open_with(
        path: &Path,
        master: &MasterKey,
        opened: &SqliteOptions,
    ) -> Result<Self> {
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
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            // A ping only checks that the connection's worker thread is alive (there is no
            // server to lose), and costs two thread hand-offs before every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        spawn_checkpoints(pool.clone(), writer.clone());
        let committer = Committer::open(path, writer.clone())?;
        let journal =
            EventJournal::open(path, committer, opened.event_linger, opened.flusher_thread).await?;
        Ok(SqliteStore {
            pool,
            sealer: Sealer::new(master),
            writer,
            local: Default::default(),
            journal,
        })
    }

    /// A turn of the hot writers. Whoever holds it must not wait for the event journal (`begin`,
    /// `list_events`): the journal's flusher takes turns too.
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
    async fn append_in_one_trip(
        &self,
        batches: &[EventBatch],
        at: i64,
    ) -> Option<Result<Vec<bool>>> {
        let batches: Vec<&EventBatch> = batches.iter().collect();
        Some(one_trip(&self.pool, &batches, at).await)
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

/// Commits journaled batches for the event journal's flusher, taking turns with the other
/// hot writers. It owns a synchronous connection used by the flusher alone: a commit is a few
/// prepared statements run on the flusher's thread, with no hand-off to sqlx's worker thread and
/// back for each, and a page cache no other connection's writes invalidate.
pub(crate) struct Committer {
    connection: rusqlite::Connection,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Committer {
    fn open(path: &Path, writer: Arc<tokio::sync::Mutex<()>>) -> Result<Self> {
        let connection = rusqlite::Connection::open(path).map_err(backend)?;
        // As the pool's connections (see `open_with`): NORMAL in WAL, checkpoints left to the
        // background task, a busy wait for the writers that do not take turns.
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
                 PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
            ))
            .map_err(backend)?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        Ok(Committer { connection, writer })
    }

    /// The last journal sequence committed.
    pub(crate) fn applied(&self) -> Result<u64> {
        let applied: i64 = self
            .connection
            .query_row(
                "SELECT applied_through FROM event_journal WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        Ok(u64::try_from(applied).unwrap_or_default())
    }

    /// Commits the batches and their last sequence in one transaction, on the caller's thread
    /// once it has the writers' turn.
    pub(crate) async fn commit(&mut self, journaled: &[(u64, JournaledBatch<'_>)]) -> Result<()> {
        let writer = self.writer.clone();
        let _turn = writer.lock().await;
        self.commit_now(journaled)
    }

    /// Each run's `last_seq` bumped by its count of events (the events of a run that no longer
    /// exists are dropped), its events inserted with the seqs below the bumped counter in
    /// journal order, and the journal's applied sequence; all or nothing.
    fn commit_now(&mut self, journaled: &[(u64, JournaledBatch<'_>)]) -> Result<()> {
        let Some((through, _)) = journaled.last() else {
            return Ok(());
        };
        let through = i64::try_from(*through).unwrap_or(i64::MAX);
        let at = journaled
            .iter()
            .flat_map(|(_, batch)| batch.events.iter().map(|event| event.at))
            .max()
            .unwrap_or_default();
        // Runs in the order first seen, with their count of events, then their next seq. Found
        // by key, not by a scan: a backlog holds thousands of batches of as many runs.
        let mut runs: Vec<(&str, &str, i64, Option<i64>)> = Vec::new();
        let mut index_of: std::collections::HashMap<(&str, &str), usize> =
            std::collections::HashMap::new();
        let mut run_of_batch = Vec::with_capacity(journaled.len());
        for (_, batch) in journaled {
            let key = (&*batch.workspace, &*batch.run_id);
            let index = *index_of.entry(key).or_insert_with(|| {
                runs.push((key.0, key.1, 0, None));
                runs.len() - 1
            });
            runs[index].2 += batch.events.len() as i64;
            run_of_batch.push(index);
        }
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        {
            let mut bump = transaction
                .prepare_cached(
                    "UPDATE runs SET last_seq = last_seq + ?1, updated_at = ?2 \
                     WHERE workspace = ?3 AND id = ?4 RETURNING last_seq",
                )
                .map_err(backend)?;
            for (workspace, run_id, count, next) in &mut runs {
                let mut rows = bump
                    .query(rusqlite::params![*count, at, *workspace, *run_id])
                    .map_err(backend)?;
                if let Some(row) = rows.next().map_err(backend)? {
                    let last: i64 = row.get(0).map_err(backend)?;
                    *next = Some(last - *count + 1);
                }
            }
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(backend)?;
            for ((_, batch), index) in journaled.iter().zip(run_of_batch) {
                let Some(seq) = runs[index].3.as_mut() else {
                    continue;
                };
                for event in &batch.events {
                    insert
                        .execute(rusqlite::params![
                            batch.run_id,
                            *seq,
                            event.id,
                            event.kind,
                            event.actor,
                            event.payload_hash,
                            event.data.get(),
                            event.at,
                        ])
                        .map_err(backend)?;
                    *seq += 1;
                }
            }
            transaction
                .prepare_cached("UPDATE event_journal SET applied_through = ?1 WHERE id = 1")
                .map_err(backend)?
                .execute([through])
                .map_err(backend)?;
        }
        transaction.commit().map_err(backend)
    }
}

fn backend(error: rusqlite::Error) -> crate::Error {
    crate::Error::Backend(error.to_string())
}

/// The row counts `one_trip`'s statement comes in: a slice takes the smallest that holds its
/// events and runs, padded with NULL rows, so there are only a few statement texts and SQLite
/// prepares each once per connection. (Each bound parameter costs time, so padding a small
/// commit to the largest size would cost more than the commit.)
const TRIP_SIZES: [usize; 4] = [2, 8, 32, 64];
/// Events (and runs) per statement of `one_trip`.
const TRIP_EVENTS: usize = 64;

/// Each run's `last_seq` bumped by its count of events (`RETURNING` the runs that exist), then
/// one INSERT whose seqs count back from the bumped counters. Values are bound, never parsed
/// (JSON here cost more than the insert), as anonymous `?` parameters taken in order: SQLite
/// looks a named one up by a linear scan, which made binding a few hundred of them quadratic.
fn trip_statement(size: usize) -> String {
    let rows = |width: usize| {
        let row = format!("({})", vec!["?"; width].join(", "));
        vec![row; size].join(", ")
    };
    format!(
        "UPDATE runs SET last_seq = last_seq + v.column3, updated_at = ? FROM (VALUES {}) AS v \
         WHERE runs.workspace = v.column1 AND runs.id = v.column2 RETURNING runs.workspace, runs.id;\n\
         INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at) \
         SELECT runs.id, runs.last_seq - v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9 \
         FROM (VALUES {}) AS v JOIN runs ON runs.workspace = v.column1 AND runs.id = v.column2;",
        rows(3),
        rows(9)
    )
}

/// Per size of `TRIP_SIZES`: the statement alone, and wrapped in its own transaction.
static TRIPS: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
    TRIP_SIZES
        .iter()
        .map(|size| {
            let statement = trip_statement(*size);
            let alone = format!("BEGIN IMMEDIATE;\n{statement}\nCOMMIT;");
            (statement, alone)
        })
        .collect()
});

/// Consecutive batches committed by one statement, with their runs (each with its count of
/// events, in the order first seen) and their count of events.
struct Slice<'a> {
    batches: Vec<&'a EventBatch>,
    runs: Vec<(&'a str, &'a str, i64)>,
    events: usize,
}

impl<'a> Slice<'a> {
    fn new() -> Self {
        Slice {
            batches: Vec::new(),
            runs: Vec::new(),
            events: 0,
        }
    }

    fn run_index(&self, batch: &EventBatch) -> Option<usize> {
        self.runs
            .iter()
            .position(|(w, r, _)| *w == batch.workspace && *r == batch.run_id)
    }

    /// Room for `batch`: at most `TRIP_EVENTS` events and runs.
    fn fits(&self, batch: &EventBatch) -> bool {
        let runs = self.runs.len() + usize::from(self.run_index(batch).is_none());
        self.events + batch.events.len() <= TRIP_EVENTS && runs <= TRIP_EVENTS
    }

    fn push(&mut self, batch: &'a EventBatch) {
        let count = batch.events.len() as i64;
        match self.run_index(batch) {
            Some(index) => self.runs[index].2 += count,
            None => self.runs.push((&batch.workspace, &batch.run_id, count)),
        }
        self.events += batch.events.len();
        self.batches.push(batch);
    }

    /// The statements (alone, in a transaction) and the row count that hold this slice.
    fn trip(&self) -> (&'static str, &'static str, usize) {
        let needed = self.events.max(self.runs.len());
        let index = TRIP_SIZES
            .iter()
            .position(|size| *size >= needed)
            .unwrap_or(TRIP_SIZES.len() - 1);
        let (statement, alone) = &TRIPS[index];
        (statement, alone, TRIP_SIZES[index])
    }
}

/// Appends batches in as few round trips to SQLite's worker thread as their size allows: up
/// to `TRIP_EVENTS` events (and runs) is one call (BEGIN, the statement, COMMIT);
/// more is a transaction of one such call per slice. On any error nothing is written. A batch
/// of more than `TRIP_EVENTS` events is refused (`append_event_batches` then writes statement
/// by statement).
async fn one_trip(pool: &sqlx::SqlitePool, batches: &[&EventBatch], at: i64) -> Result<Vec<bool>> {
    if batches.iter().any(|batch| batch.events.len() > TRIP_EVENTS) {
        return Err(crate::Error::Backend("batch too large for one trip".into()));
    }
    let slices = trip_slices(batches);
    let mut found: Vec<(String, String)> = Vec::new();
    let mut connection = pool.acquire().await?;
    if let [only] = slices.as_slice() {
        let (_, alone, size) = only.trip();
        let args = trip_arguments(only, size, at)?;
        match sqlx::query_as_with(alone, args)
            .fetch_all(&mut *connection)
            .await
        {
            Ok(rows) => found = rows,
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
                return Err(error.into());
            }
        }
    } else {
        use sqlx::Connection as _;
        let mut tx = connection.begin_with(BEGIN).await?;
        for slice in &slices {
            let (statement, _, size) = slice.trip();
            let args = trip_arguments(slice, size, at)?;
            let rows: Vec<(String, String)> = sqlx::query_as_with(statement, args)
                .fetch_all(&mut *tx)
                .await?;
            found.extend(rows);
        }
        tx.commit().await?;
    }
    Ok(batches
        .iter()
        .map(|batch| {
            found
                .iter()
                .any(|(ws, id)| *ws == batch.workspace && *id == batch.run_id)
        })
        .collect())
}

/// Consecutive batches cut into slices of at most `TRIP_EVENTS` events and runs.
fn trip_slices<'a>(batches: &[&'a EventBatch]) -> Vec<Slice<'a>> {
    let mut slices: Vec<Slice<'a>> = Vec::new();
    for batch in batches {
        match slices.last_mut() {
            Some(slice) if slice.fits(batch) => slice.push(batch),
            _ => {
                let mut slice = Slice::new();
                slice.push(batch);
                slices.push(slice);
            }
        }
    }
    slices
}

/// The parameters of one slice: its runs with their counts, its events with their distance
/// from their run's last seq, NULL rows for the rest.
fn trip_arguments<'q>(
    slice: &Slice<'q>,
    size: usize,
    at: i64,
) -> Result<sqlx::sqlite::SqliteArguments<'q>> {
    use sqlx::Arguments as _;
    let mut args = sqlx::sqlite::SqliteArguments::default();
    let add = |result: std::result::Result<(), sqlx::error::BoxDynError>| {
        result.map_err(|e| crate::Error::Backend(e.to_string()))
    };
    let runs = &slice.runs;
    add(args.add(at))?;
    for i in 0..size {
        let run = runs.get(i);
        add(args.add(run.map(|r| r.0)))?;
        add(args.add(run.map(|r| r.1)))?;
        add(args.add(run.map(|r| r.2)))?;
    }
    let mut left: Vec<i64> = runs.iter().map(|run| run.2).collect();
    let mut rows = 0;
    for batch in &slice.batches {
        let index = slice.run_index(batch).unwrap_or_default();
        for event in &batch.events {
            left[index] -= 1;
            add(args.add(batch.workspace.as_str()))?;
            add(args.add(batch.run_id.as_str()))?;
            add(args.add(left[index]))?;
            add(args.add(event.id.as_str()))?;
            add(args.add(event.kind.as_str()))?;
            add(args.add(event.actor.as_str()))?;
            add(args.add(event.payload_hash.as_str()))?;
            add(args.add(event.data.to_string()))?;
            add(args.add(event.at.millis()))?;
            rows += 1;
        }
    }
    for _ in rows..size {
        for _ in 0..9 {
            add(args.add(None::<&str>))?;
        }
    }
    Ok(args)
}

/// WAL frames (4 KiB pages) left after a passive checkpoint beyond which the checkpointer makes
/// the WAL start over: 16 MiB.
const RESTART_WAL_AT_FRAMES: i64 = 4096;
/// What a WAL file is cut back to when it starts over (`PRAGMA journal_size_limit`).
const WAL_SIZE_LIMIT: &str = "33554432";

/// Copies the WAL back into the database every second, in passive mode (never blocking readers
/// or writers). A passive checkpoint never lets the WAL start over while writes keep coming (a
/// new write always lands before it has copied everything), so under steady writes the WAL
/// grew without end — a gigabyte in minutes — and every read got slower searching it. Past
/// `RESTART_WAL_AT_FRAMES` it checkpoints in RESTART mode, holding the hot writers' turn: the
/// next write then starts the WAL over, and cuts the file back to `WAL_SIZE_LIMIT`. Stopping
/// mid-checkpoint is safe, so the task needs no shutdown.
fn spawn_checkpoints(pool: sqlx::SqlitePool, writer: Arc<tokio::sync::Mutex<()>>) {
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            every_second.tick().await;
            let passive: std::result::Result<(i64, i64, i64), _> =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&pool)
                    .await;
            let restart = match passive {
                Ok((_, frames, _)) => frames >= RESTART_WAL_AT_FRAMES,
                Err(error) => {
                    tracing::warn!(%error, "SQLite checkpoint failed");
                    false
                }
            };
            if restart {
                let _turn = writer.lock().await;
                let restarted: std::result::Result<(i64, i64, i64), _> =
                    sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
                        .fetch_one(&pool)
                        .await;
                match restarted {
                    Ok((0, _, _)) => {}
                    Ok(_) => {
                        tracing::info!("SQLite checkpoint: readers kept the WAL busy; retrying")
                    }
                    Err(error) => tracing::warn!(%error, "SQLite checkpoint failed"),
                }
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
