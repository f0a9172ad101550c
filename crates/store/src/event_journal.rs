//! A write-ahead journal for the events egress records on every call (SQLite only).
//!
//! A batch is appended to a file beside the database with one `write` and the caller goes on;
//! a flusher task commits what the journal holds in large transactions a moment later, and
//! records in the same transaction the journal sequence it has applied up to. The journal is as
//! durable as a SQLite commit in WAL mode with `synchronous = NORMAL` (the page cache: a killed
//! process loses nothing, an OS crash may lose the last moments), so answering once the line is
//! written gives up nothing, and takes the commit's thread hand-offs off the call's path.
//!
//! The journal is spread over a few files (lanes), one per thread that writes to it (threads
//! share lanes past `LANES`), so calls answered on different threads never wait for each
//! other's write. Sequences are given across lanes in the order writes start.
//!
//! Invariants:
//! - a journaled batch is in the database before any later read of events, or any later write
//!   of events, through this store (`settle`): the store settles before each such statement, so
//!   seqs stay in the order calls were answered and readers never miss an answered call;
//! - the flusher commits batches in sequence order, and only a gapless run of sequences after
//!   the last one committed (a sequence whose write failed counts as done), so "applied up to
//!   N" means every batch up to N is in the database;
//! - at open, lines past the applied sequence, in every lane, are committed in sequence order
//!   before the store serves anything, then the files are emptied; a torn last line (a crash
//!   mid-write) is ignored;
//! - one process owns the journal (an exclusive lock on the first lane's file). A second
//!   handle on the same database commits its events directly instead.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::sqlite::Committer;
use crate::{Error, EventBatch, Result};

/// How long the flusher gathers more batches before a commit, unless a reader is waiting.
/// Each commit costs a transaction and the WAL pages it touched whatever it holds: at 12 ms
/// the commits took about a third less CPU per egress call than at 4 ms (8–10 µs against
/// 12–14 at 3,000 calls/s; at 1 ms a third more than at 4). Readers never wait for it: they
/// hurry the flusher (docs/benchmarks.md).
pub const DEFAULT_LINGER: Duration = Duration::from_millis(12);
/// How long the flusher keeps looking for batches without being woken before it sleeps.
const STAY_AWAKE: Duration = Duration::from_millis(100);
/// Batches per commit: bounds a transaction's size (and how long it holds the write turn),
/// not the journal's.
const COMMIT_CHUNK: usize = 2_000;
/// Journaled, uncommitted batches beyond which callers wait for the commit (memory bound).
const MAX_BACKLOG: usize = 20_000;
/// The file is emptied, once everything in it is committed, past this size.
const TRUNCATE_AT: u64 = 4 << 20;
/// The flusher thread's nice value: the lowest priority. Commits are background work; the
/// threads answering calls (and the processes those calls reach) take a core first, and the
/// flusher has the idle time, which short of saturation is most of it (at saturation the
/// backlog bound holds callers back until it catches up). With two cores the egress p99 at
/// 3,000 calls/s was a little lower in alternating runs, and saturation did not move
/// (docs/benchmarks.md).
const FLUSHER_NICE: i32 = 19;
/// A reader waits this long for the flusher before failing rather than reading stale events.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// One line of the journal as written: `{seq} {json}\n`.
#[derive(Serialize)]
struct LineOut<'a> {
    w: &'a str,
    r: &'a str,
    e: Vec<EventOut<'a>>,
}

#[derive(Serialize)]
struct EventOut<'a> {
    i: &'a str,
    k: &'a str,
    a: &'a str,
    h: &'a str,
    d: &'a serde_json::Value,
    t: i64,
}

/// A journal line as the flusher reads it back, borrowing from the line: each event's data
/// stays the JSON text the caller rendered, inserted as it is (never parsed into values).
#[derive(Deserialize)]
pub(crate) struct JournaledBatch<'a> {
    #[serde(borrow, rename = "w")]
    pub workspace: Cow<'a, str>,
    #[serde(borrow, rename = "r")]
    pub run_id: Cow<'a, str>,
    #[serde(borrow, rename = "e")]
    pub events: Vec<JournaledEvent<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct JournaledEvent<'a> {
    #[serde(borrow, rename = "i")]
    pub id: Cow<'a, str>,
    #[serde(borrow, rename = "k")]
    pub kind: Cow<'a, str>,
    #[serde(borrow, rename = "a")]
    pub actor: Cow<'a, str>,
    #[serde(borrow, rename = "h")]
    pub payload_hash: Cow<'a, str>,
    #[serde(borrow, rename = "d")]
    pub data: &'a serde_json::value::RawValue,
    /// Milliseconds since the epoch.
    #[serde(rename = "t")]
    pub at: i64,
}

/// Lanes (files) of the journal: threads beyond this many share them.
const LANES: usize = 8;

/// One file of the journal, written by the threads given this lane.
struct Lane {
    /// Opened at the first write to it (the first lane's at open: it holds the lock).
    file: Option<File>,
    /// Bytes in the file (the offset of the next line).
    bytes: u64,
    /// The last sequence written to this file.
    last_seq: u64,
}

/// A journaled line waiting for its commit; `None` for a sequence whose write failed (nothing
/// to commit, but the flusher must not wait for it). The flusher gets the line, not the batch:
/// the batch's values are freed on the thread that made them, and the flusher reads back from
/// the line what it commits, as it does at open.
type Pending = (u64, Option<Line>);

/// A whole journal line, `{seq} {json}\n`.
type Line = Vec<u8>;

pub(crate) struct EventJournal {
    lanes: Vec<Mutex<Lane>>,
    /// The next sequence to give a batch.
    next_seq: AtomicU64,
    /// Journaled, not yet committed, in the order writes ended (not quite sequence order).
    pending: Mutex<Vec<Pending>>,
    /// Every sequence up to this one is committed to the database.
    committed: watch::Sender<u64>,
    /// A batch was journaled while the flusher slept.
    wake: Notify,
    /// The flusher sleeps until the next batch. Under load it stays awake, so a call's path
    /// does not pay for a wake-up of another thread.
    asleep: AtomicBool,
    /// A reader waits for this sequence: commit without lingering while it is not committed.
    hurry_for: AtomicU64,
    /// Wakes a lingering flusher when `hurry_for` rises (or the store closes).
    hurry: Notify,
    closed: AtomicBool,
    /// The first lane's file; the others add `-{n}`.
    path: PathBuf,
}

/// This thread's lane: threads take lanes in the order they first write.
fn lane_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static LANE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % LANES;
    }
    LANE.with(|lane| *lane)
}

fn lane_path(first: &Path, lane: usize) -> PathBuf {
    if lane == 0 {
        return first.to_owned();
    }
    let mut path = first.as_os_str().to_owned();
    path.push(format!("-{lane}"));
    PathBuf::from(path)
}

fn open_lane(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io_error(path, &e))
}

impl EventJournal {
    /// Takes the journal of the database at `db` (waiting briefly if a store of this process
    /// that was just dropped still holds it), commits what a previous process left in it, and
    /// starts the flusher (on a thread of its own, or as a task of the caller's runtime). `None`
    /// when another live process owns it.
    pub(crate) async fn open(
        db: &Path,
        mut committer: Committer,
        linger: Duration,
        own_thread: bool,
    ) -> Result<Option<Arc<EventJournal>>> {
        let mut path = db.as_os_str().to_owned();
        path.push("-events");
        let path = PathBuf::from(path);
        let file = open_lane(&path)?;
        let mut locked = false;
        for _ in 0..20 {
            if file.try_lock().is_ok() {
                locked = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if !locked {
            tracing::info!(path = %path.display(), "the event journal belongs to another process; committing events directly");
            return Ok(None);
        }
        let applied = committer.applied()?;
        // Every lane a previous process wrote, whatever its number of lanes was.
        let mut others = Vec::new();
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
        let prefix = format!(
            "{}-",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        for entry in
            std::fs::read_dir(dir.unwrap_or(Path::new("."))).map_err(|e| io_error(&path, &e))?
        {
            let entry = entry.map_err(|e| io_error(&path, &e))?;
            let name = entry.file_name();
            let is_lane = name
                .to_string_lossy()
                .strip_prefix(&prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if is_lane {
                others.push(entry.path());
            }
        }
        let mut left = Vec::new();
        let mut last_seq = applied;
        for lane in std::iter::once(&path).chain(&others) {
            let lines = File::open(lane).and_then(|lane| read_lines(&lane, applied));
            let (lines, last) = lines.map_err(|e| io_error(lane, &e))?;
            left.extend(lines);
            last_seq = last_seq.max(last);
        }
        left.sort_unstable_by_key(|(seq, _)| *seq);
        let recovered = left.len();
        for chunk in chunks(left) {
            commit_lines(&mut committer, &chunk).await?;
        }
        if recovered > 0 {
            tracing::info!(
                batches = recovered,
                "event journal: committed the batches a previous run had journaled"
            );
        }
        file.set_len(0).map_err(|e| io_error(&path, &e))?;
        for other in &others {
            std::fs::remove_file(other).map_err(|e| io_error(other, &e))?;
        }
        // The first lane keeps the file it holds the lock on; the others open at their first write.
        let mut first = Some(file);
        let lanes = (0..LANES)
            .map(|_| {
                Mutex::new(Lane {
                    file: first.take(),
                    bytes: 0,
                    last_seq,
                })
            })
            .collect();
        let journal = Arc::new(EventJournal {
            lanes,
            next_seq: AtomicU64::new(last_seq + 1),
            pending: Mutex::new(Vec::new()),
            committed: watch::Sender::new(last_seq),
            wake: Notify::new(),
            asleep: AtomicBool::new(false),
            hurry_for: AtomicU64::new(0),
            hurry: Notify::new(),
            closed: AtomicBool::new(false),
            path,
        });
        let flusher = flush(journal.clone(), committer, linger);
        if own_thread {
            // Off the request runtime: a commit runs SQLite on this thread, and must not hold a
            // worker that answers calls. Only timers (the linger) are needed here.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| Error::Backend(format!("event journal flusher: {e}")))?;
            std::thread::Builder::new()
                .name("event-journal".into())
                .spawn(move || {
                    yield_to_calls();
                    runtime.block_on(flusher)
                })
                .map_err(|e| Error::Backend(format!("event journal flusher: {e}")))?;
        } else {
            // Tests only: commits then block a worker of the caller's runtime while they run.
            tokio::spawn(flusher);
        }
        Ok(Some(journal))
    }

    /// Writes the batch to the journal; once this returns it survives a crash of the process.
    pub(crate) async fn append(&self, batch: EventBatch) -> Result<()> {
        let body = render(&batch)?;
        drop(batch);
        let index = lane_of_thread();
        let (seq, line) = {
            let mut lane = self.lanes[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let lane = &mut *lane;
            let file = match &mut lane.file {
                Some(file) => file,
                None => lane.file.insert(open_lane(&lane_path(&self.path, index))?),
            };
            // Given under the lane's lock, so each file's lines are in sequence order.
            let seq = self.next_seq.fetch_add(1, Ordering::AcqRel);
            let mut line = Vec::with_capacity(body.len() + 22);
            let _ = write!(line, "{seq} ");
            line.extend_from_slice(&body);
            line.push(b'\n');
            if let Err(error) = file.write_all(&line) {
                // Cut a partial line off, so the lines after it stay readable.
                let _ = file.set_len(lane.bytes);
                self.push_pending((seq, None));
                return Err(io_error(&lane_path(&self.path, index), &error));
            }
            lane.bytes += line.len() as u64;
            lane.last_seq = seq;
            (seq, line)
        };
        let backlog = self.push_pending((seq, Some(line)));
        if self.asleep.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
        if backlog >= MAX_BACKLOG {
            self.settle().await?;
        }
        Ok(())
    }

    /// Hands a written (or failed) sequence to the flusher; the batches now pending.
    fn push_pending(&self, pending: Pending) -> usize {
        let mut list = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(pending);
        list.len()
    }

    /// Waits until everything journaled before this call is committed.
    pub(crate) async fn settle(&self) -> Result<()> {
        // Every sequence given so far: writes that ended before this call, and any still
        // under way (they end in a moment).
        let target = self.next_seq.load(Ordering::Acquire).saturating_sub(1);
        if *self.committed.borrow() >= target {
            return Ok(());
        }
        let mut committed = self.committed.subscribe();
        self.hurry_for.fetch_max(target, Ordering::AcqRel);
        self.hurry.notify_one();
        match tokio::time::timeout(SETTLE_LIMIT, committed.wait_for(|seq| *seq >= target)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(Error::Backend("the event journal's flusher stopped".into())),
            Err(_) => Err(Error::Backend(
                "events are not committed yet: the database is not taking writes".into(),
            )),
        }
    }

    /// Asks the flusher to commit what is left and stop (the store is being dropped).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.hurry.notify_one();
        self.wake.notify_one();
    }

    /// Gathers what arrives for `linger` into the same commit, unless a reader waits or the
    /// store closes. (A wake-up left over from an earlier reader only looks again.)
    async fn linger(&self, linger: Duration) {
        let until = tokio::time::Instant::now() + linger;
        loop {
            let waited_for = self.hurry_for.load(Ordering::Acquire);
            if waited_for > *self.committed.borrow() || self.closed.load(Ordering::Acquire) {
                return;
            }
            if tokio::time::timeout_at(until, self.hurry.notified())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn pending_is_empty(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.is_empty()
    }

    /// The pending batches that follow the last committed sequence without a gap, in sequence
    /// order, and the last sequence among them (failed writes included). A sequence still being
    /// written holds back those after it.
    fn take_ready(&self) -> (Vec<(u64, Line)>, u64) {
        let committed = *self.committed.borrow();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        take_gapless(&mut pending, committed)
    }

    /// Puts batches whose commit failed back, to be tried again.
    fn restore_pending(&self, failed: Vec<(u64, Line)>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.extend(failed.into_iter().map(|(seq, line)| (seq, Some(line))));
    }

    /// Empties each large file once every line in it is committed.
    fn truncate_if_done(&self) {
        let committed = *self.committed.borrow();
        for (index, lane) in self.lanes.iter().enumerate() {
            let mut lane = lane.lock().unwrap_or_else(PoisonError::into_inner);
            if lane.bytes < TRUNCATE_AT || lane.last_seq > committed {
                continue;
            }
            if let Some(file) = &lane.file {
                match file.set_len(0) {
                    Ok(()) => lane.bytes = 0,
                    Err(error) => {
                        let path = lane_path(&self.path, index);
                        tracing::warn!(%error, path = %path.display(), "could not empty the event journal");
                    }
                }
            }
        }
    }
}

/// Lowers the calling thread to `FLUSHER_NICE` (on Linux a nice value is per thread). Best
/// effort: the flusher works the same at any priority.
fn yield_to_calls() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), FLUSHER_NICE) {
        tracing::warn!(%error, "event journal: could not lower the flusher's priority");
    }
}

/// The flusher: commits pending batches, always lingering first to gather more unless someone
/// waits (under load, what arrives during one commit is the next one). With nothing pending it
/// looks again every `linger` until `STAY_AWAKE` has passed idle, then sleeps until a batch
/// wakes it.
async fn flush(journal: Arc<EventJournal>, mut committer: Committer, linger: Duration) {
    let mut idle_since: Option<Instant> = None;
    loop {
        if journal.pending_is_empty() {
            if journal.closed.load(Ordering::Acquire) {
                return;
            }
            if idle_since.get_or_insert_with(Instant::now).elapsed() < STAY_AWAKE {
                journal.linger(linger).await;
                continue;
            }
            let woken = journal.wake.notified();
            // Announced before looking: a batch journaled after the look sees it and wakes us
            // (the permit outlives a wake-up that comes before the wait).
            journal.asleep.store(true, Ordering::SeqCst);
            if journal.pending_is_empty() && !journal.closed.load(Ordering::Acquire) {
                woken.await;
            }
            journal.asleep.store(false, Ordering::SeqCst);
            idle_since = None;
            continue;
        }
        idle_since = None;
        journal.linger(linger).await;
        let (ready, through) = journal.take_ready();
        if through == *journal.committed.borrow() {
            // Only sequences after one still being written: it ends in a moment.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let mut left = chunks(ready).into_iter();
        let mut failed = false;
        while let Some(chunk) = left.next() {
            let chunk_through = chunk.last().map_or(0, |(seq, _)| *seq);
            if let Err(error) = commit_lines(&mut committer, &chunk).await {
                tracing::error!(%error, "could not commit journaled events; retrying");
                journal.restore_pending(chunk.into_iter().chain(left.flatten()).collect());
                failed = true;
                break;
            }
            journal.committed.send_replace(chunk_through);
        }
        if failed {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        // Failed writes after the last batch committed are done too.
        journal.committed.send_replace(through);
        journal.truncate_if_done();
    }
}

/// Takes from `pending` the sequences that follow `committed` without a gap, in order: their
/// batches (failed writes have none) and the last of them (`committed` when none follows).
fn take_gapless(pending: &mut Vec<Pending>, committed: u64) -> (Vec<(u64, Line)>, u64) {
    pending.sort_unstable_by_key(|(seq, _)| *seq);
    let mut through = committed;
    let gapless = pending
        .iter()
        .take_while(|(seq, _)| {
            let next = *seq == through + 1;
            if next {
                through = *seq;
            }
            next
        })
        .count();
    let ready = pending
        .drain(..gapless)
        .filter_map(|(seq, line)| Some((seq, line?)))
        .collect();
    (ready, through)
}

fn chunks(pending: Vec<(u64, Line)>) -> Vec<Vec<(u64, Line)>> {
    let mut chunks = Vec::with_capacity(pending.len().div_ceil(COMMIT_CHUNK));
    let mut pending = pending.into_iter().peekable();
    while pending.peek().is_some() {
        chunks.push(pending.by_ref().take(COMMIT_CHUNK).collect());
    }
    chunks
}

/// The journal's whole lines past `applied`, and the last sequence in the file. Reading stops
/// at the first line that is not whole (a torn write at a crash).
fn read_lines(file: &File, applied: u64) -> std::io::Result<(Vec<(u64, Line)>, u64)> {
    let mut left = Vec::new();
    let mut last = 0;
    let mut reader = BufReader::new(file);
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let Some((seq, _)) = parse_line(&line) else {
            tracing::warn!("event journal: stopping at a line that is not whole");
            break;
        };
        last = seq;
        if seq > applied {
            left.push((seq, line));
        }
    }
    Ok((left, last))
}

/// A batch as the JSON of its journal line.
fn render(batch: &EventBatch) -> Result<Vec<u8>> {
    serde_json::to_vec(&LineOut {
        w: &batch.workspace,
        r: &batch.run_id,
        e: batch
            .events
            .iter()
            .map(|event| EventOut {
                i: &event.id,
                k: &event.kind,
                a: &event.actor,
                h: &event.payload_hash,
                d: &event.data,
                t: event.at.millis(),
            })
            .collect(),
    })
    .map_err(|e| Error::Backend(format!("event journal: {e}")))
}

/// A line's sequence and batch, borrowed from it; `None` if it is not a whole line.
fn parse_line(line: &[u8]) -> Option<(u64, JournaledBatch<'_>)> {
    let space = line.iter().position(|byte| *byte == b' ')?;
    let seq = std::str::from_utf8(&line[..space]).ok()?.parse().ok()?;
    let batch = serde_json::from_slice(&line[space + 1..]).ok()?;
    Some((seq, batch))
}

/// Commits journaled lines as one transaction, read back from the lines.
async fn commit_lines(committer: &mut Committer, lines: &[(u64, Line)]) -> Result<()> {
    let mut batches = Vec::with_capacity(lines.len());
    for (seq, line) in lines {
        let (_, batch) = parse_line(line).ok_or_else(|| {
            Error::Backend(format!("event journal: line {seq} does not read back"))
        })?;
        batches.push((*seq, batch));
    }
    committer.commit(&batches).await
}

fn io_error(path: &Path, error: &std::io::Error) -> Error {
    Error::Backend(format!("event journal {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use runagents_domain::Timestamp;

    use super::*;
    use crate::NewEvent;

    #[test]
    fn lines_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let batch = |run: &str| EventBatch {
            workspace: "default".into(),
            run_id: run.into(),
            events: vec![NewEvent {
                id: format!("{run}-1"),
                kind: "TOOL_REQUEST".into(),
                actor: "agent".into(),
                payload_hash: String::new(),
                data: serde_json::json!({"tool": "crm", "n": 1.5, "s": "a\nb \u{e9}"}),
                at: Timestamp(7),
            }],
        };
        let mut text = Vec::new();
        for (seq, run) in [(4u64, "r1"), (5, "r2"), (6, "r3")] {
            text.extend_from_slice(format!("{seq} ").as_bytes());
            text.extend_from_slice(&render(&batch(run)).unwrap());
            text.push(b'\n');
        }
        // A crash in the middle of the next line.
        text.extend_from_slice(b"7 {\"w\":\"default\",\"r\":");
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).unwrap();
        let (left, last) = read_lines(&file, 4).unwrap();
        assert_eq!(last, 6);
        let seqs: Vec<u64> = left.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, [5, 6]);
        let (seq, read) = parse_line(&left[0].1).unwrap();
        assert_eq!((seq, &*read.workspace, &*read.run_id), (5, "default", "r2"));
        let written = batch("r2").events;
        let read: Vec<NewEvent> = read
            .events
            .iter()
            .map(|event| NewEvent {
                id: event.id.to_string(),
                kind: event.kind.to_string(),
                actor: event.actor.to_string(),
                payload_hash: event.payload_hash.to_string(),
                data: serde_json::from_str(event.data.get()).unwrap(),
                at: Timestamp(event.at),
            })
            .collect();
        assert_eq!(read, written);
    }

    #[test]
    fn only_sequences_that_follow_the_last_commit_without_a_gap_are_taken() {
        let batch = |run: &str| Some(run.as_bytes().to_vec());
        // 13 is still being written on another lane; 11 failed to write.
        let mut pending: Vec<Pending> = vec![
            (12, batch("c")),
            (14, batch("e")),
            (10, batch("a")),
            (11, None),
        ];
        let (ready, through) = take_gapless(&mut pending, 9);
        let taken: Vec<(u64, &[u8])> = ready.iter().map(|(s, l)| (*s, l.as_slice())).collect();
        assert_eq!(taken, [(10, &b"a"[..]), (12, b"c")]);
        assert_eq!(through, 12);
        assert_eq!(pending.len(), 1);
        // Nothing follows 12 yet: nothing is taken, and the watermark stays.
        let (ready, through) = take_gapless(&mut pending, 12);
        assert!(ready.is_empty());
        assert_eq!(through, 12);
        // 13 arrives: it and 14 go, in order. A failed write at the end still moves the mark.
        pending.push((15, None));
        pending.push((13, batch("d")));
        let (ready, through) = take_gapless(&mut pending, 12);
        let taken: Vec<u64> = ready.iter().map(|(s, _)| *s).collect();
        assert_eq!(taken, [13, 14]);
        assert_eq!(through, 15);
        assert!(pending.is_empty());
    }
}
