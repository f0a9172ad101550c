//! Events taken through `journal_events`: read and ordered exactly like committed ones on both
//! backends; on SQLite, journaled ahead of their commit and recovered after a crash.

use std::time::Duration;

use runagents_store::{EventBatch, MasterKey, RunStore as _, SqliteOptions, SqliteStore, Store};
use runagents_testkit::ProcStat;

use crate::runs::{event, run};

pub(crate) fn call(run_id: &str, n: usize) -> EventBatch {
    let mut request = event("TOOL_REQUEST");
    let mut response = event("TOOL_RESPONSE");
    request.id = format!("{run_id}-req-{n}");
    response.id = format!("{run_id}-resp-{n}");
    response.data = serde_json::json!({"n": n, "status_code": 200});
    EventBatch {
        workspace: "default".into(),
        run_id: run_id.into(),
        events: vec![request, response],
    }
}

fn kinds(events: &[runagents_store::EventRecord]) -> Vec<(i64, String)> {
    events.iter().map(|e| (e.seq, e.kind.clone())).collect()
}

pub async fn journaled_events_read_and_order_like_commits(store: &dyn Store) {
    store
        .create_run(
            &run("r1", "default", "a", "RUNNING", 1),
            &[event("RUN_CREATED")],
        )
        .await
        .unwrap();
    let mut expected = vec!["RUN_CREATED".to_owned()];
    for n in 0..12 {
        store.journal_events(call("r1", n)).await.unwrap();
        expected.extend(["TOOL_REQUEST".to_owned(), "TOOL_RESPONSE".to_owned()]);
        if n % 4 == 3 {
            // A write of events in a transaction comes after the calls answered before it.
            store
                .append_events("default", "r1", &[event("AGENT_MESSAGE")])
                .await
                .unwrap();
            expected.push("AGENT_MESSAGE".to_owned());
        }
    }
    // A run that does not exist: dropped, not an error.
    store.journal_events(call("missing", 0)).await.unwrap();
    let events = store.list_events("default", "r1", 0, None).await.unwrap();
    let expected: Vec<(i64, String)> = (1..).zip(expected).collect();
    assert_eq!(kinds(&events), expected);
    assert_eq!(events[2].data["n"], 0);
    assert!(
        store
            .list_events("default", "missing", 0, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Journaled from many tasks at once: every event lands, gapless, each call's pair adjacent.
    store
        .create_run(&run("r2", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let callers = (0..8).map(|c| async move {
        for n in 0..10 {
            store.journal_events(call("r2", c * 100 + n)).await.unwrap();
        }
    });
    futures_util::future::join_all(callers).await;
    store.flush_events().await.unwrap();
    let events = store.list_events("default", "r2", 0, None).await.unwrap();
    assert_eq!(events.len(), 160);
    assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
    for pair in events.chunks(2) {
        assert_eq!(
            pair[0].id.replace("-req-", "-"),
            pair[1].id.replace("-resp-", "-")
        );
    }

    // Calls of several runs (and of a missing one) interleaved in one commit: each run's seqs
    // follow its own calls in the order they were answered.
    for id in ["r3", "r4"] {
        store
            .create_run(&run(id, "default", "a", "RUNNING", 1), &[])
            .await
            .unwrap();
    }
    for n in 0..9 {
        let id = ["r3", "missing", "r4"][n % 3];
        store.journal_events(call(id, n)).await.unwrap();
    }
    store.flush_events().await.unwrap();
    for (id, first) in [("r3", 0), ("r4", 2)] {
        let events = store.list_events("default", id, 0, None).await.unwrap();
        let seen: Vec<(i64, String)> = events.iter().map(|e| (e.seq, e.id.clone())).collect();
        let wanted: Vec<(i64, String)> = (0..3)
            .flat_map(|k| {
                let n = first + 3 * k;
                [format!("{id}-req-{n}"), format!("{id}-resp-{n}")]
            })
            .zip(1..)
            .map(|(event_id, seq)| (seq, event_id))
            .collect();
        assert_eq!(seen, wanted);
    }
}

/// A SQLite store on a new database (with its default options), and the directory holding it.
async fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().unwrap();
    let store = SqliteStore::open(&dir.path().join("runagents.db"), &master)
        .await
        .unwrap();
    (dir, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A store whose flusher gathers for an hour (nothing journaled reaches a commit unasked), run
/// as a task of the caller's runtime, so that stopping the runtime stops it like a crash.
async fn lingering_store(path: &std::path::Path, master: &MasterKey) -> SqliteStore {
    let lingering = SqliteOptions {
        event_linger: Duration::from_secs(3600),
        flusher_thread: false,
    };
    SqliteStore::open_with(path, master, &lingering)
        .await
        .unwrap()
}

#[test]
fn journaled_events_survive_a_crash_before_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let master = MasterKey::generate().unwrap();
    let crashed = runtime();
    let store = crashed.block_on(async {
        let store = lingering_store(&path, &master).await;
        assert!(store.journals_events());
        store
            .create_run(
                &run("r1", "default", "a", "RUNNING", 1),
                &[event("RUN_CREATED")],
            )
            .await
            .unwrap();
        // Three calls committed (their lines stay in the file), five more only journaled.
        for n in 0..3 {
            store.journal_events(call("r1", n)).await.unwrap();
        }
        store.flush_events().await.unwrap();
        for n in 3..8 {
            store.journal_events(call("r1", n)).await.unwrap();
        }
        // A handle beside it (which cannot settle another's journal) sees the committed ones.
        let beside = SqliteStore::open(&path, &master).await.unwrap();
        let committed = beside.list_events("default", "r1", 0, None).await.unwrap();
        assert_eq!(committed.len(), 7);
        store
    });
    // The process dies: its tasks stop where they are.
    crashed.shutdown_background();
    drop(store);
    let lines: usize = lane_files(dir.path())
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 8);

    runtime().block_on(async {
        let store = SqliteStore::open(&path, &master).await.unwrap();
        let events = store.list_events("default", "r1", 0, None).await.unwrap();
        // The committed lines are not applied twice; the others are applied once, in order.
        assert_eq!(events.len(), 17);
        assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
        assert_eq!(events[16].id, "r1-resp-7");
        assert_eq!(events[16].data["n"], 7);
        // Committed once: a restart after recovery applies nothing twice.
        drop(store);
        let store = SqliteStore::open(&path, &master).await.unwrap();
        assert_eq!(
            store
                .list_events("default", "r1", 0, None)
                .await
                .unwrap()
                .len(),
            17
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("runagents.db-events"))
                .unwrap()
                .len(),
            0
        );
    });
}

/// The journal's files (lanes) in `dir`.
fn lane_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name == "runagents.db-events" || name.starts_with("runagents.db-events-")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn batches_journaled_on_several_threads_are_recovered_once_each_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let master = MasterKey::generate().unwrap();
    let crashed = runtime();
    let store = crashed.block_on(async {
        let store = lingering_store(&path, &master).await;
        for t in 0..4 {
            store
                .create_run(&run(&format!("t{t}"), "default", "a", "RUNNING", 1), &[])
                .await
                .unwrap();
        }
        store
    });
    // Four threads (each takes a lane of its own), a run each, calls interleaved in time.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store = &store;
            scope.spawn(move || {
                let writer = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                for n in 0..25 {
                    writer
                        .block_on(store.journal_events(call(&format!("t{t}"), n)))
                        .unwrap();
                }
            });
        }
    });
    crashed.shutdown_background();
    drop(store);
    let files = lane_files(dir.path());
    let written: Vec<usize> = files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap().lines().count())
        .collect();
    assert_eq!(written.iter().sum::<usize>(), 100);
    assert!(
        written.iter().filter(|lines| **lines > 0).count() > 1,
        "{written:?}"
    );

    runtime().block_on(async {
        let store = SqliteStore::open(&path, &master).await.unwrap();
        for t in 0..4 {
            let run_id = format!("t{t}");
            let events = store
                .list_events("default", &run_id, 0, None)
                .await
                .unwrap();
            let seen: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            let wanted: Vec<String> = (0..25)
                .flat_map(|n| [format!("{run_id}-req-{n}"), format!("{run_id}-resp-{n}")])
                .collect();
            assert_eq!(seen, wanted);
            assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
        }
        // The files are gone or empty: a restart applies nothing twice.
        for file in lane_files(dir.path()) {
            assert_eq!(std::fs::metadata(file).unwrap().len(), 0);
        }
    });
}

#[tokio::test]
async fn a_second_handle_on_a_live_database_commits_its_events_directly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let master = MasterKey::generate().unwrap();
    let owner = SqliteStore::open(&path, &master).await.unwrap();
    let beside = SqliteStore::open(&path, &master).await.unwrap();
    assert!(owner.journals_events());
    assert!(!beside.journals_events());
    owner
        .create_run(&run("r1", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    owner.journal_events(call("r1", 0)).await.unwrap();
    beside.journal_events(call("r1", 1)).await.unwrap();
    owner.flush_events().await.unwrap();
    let events = beside.list_events("default", "r1", 0, None).await.unwrap();
    assert_eq!(events.len(), 4);
    assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
}

#[tokio::test]
async fn the_flusher_runs_at_the_lowest_priority() {
    let (_dir, store) = fresh_store().await;
    store
        .create_run(&run("r1", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    store.journal_events(call("r1", 0)).await.unwrap();
    store.flush_events().await.unwrap();
    // The nice value is field 19 of a thread's stat.
    let flushers: Vec<i32> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| ProcStat::read(task.unwrap().path().join("stat")))
        .filter(|stat| stat.name == "event-journal")
        .map(|stat| stat.field(19).unwrap())
        .collect();
    assert!(!flushers.is_empty(), "no flusher thread");
    assert!(flushers.iter().all(|&nice| nice == 19), "{flushers:?}");
    // Only the flusher's: the thread that opened the store keeps its own.
    let this_thread: i32 = ProcStat::read("/proc/thread-self/stat")
        .and_then(|stat| stat.field(19))
        .unwrap();
    assert!(this_thread < 19, "{this_thread}");
}

pub async fn large_event_batch_groups_keep_every_run_gapless(store: &dyn Store) {
    for r in 0..40 {
        store
            .create_run(
                &run(&format!("r{r}"), "default", "a", "RUNNING", 1),
                &[event("RUN_CREATED")],
            )
            .await
            .unwrap();
    }
    // 120 calls over 40 runs, one oversized batch, and a missing run in the middle.
    let mut batches: Vec<EventBatch> = (0..120).map(|n| call(&format!("r{}", n % 40), n)).collect();
    batches.insert(60, call("missing", 0));
    let mut long = call("r7", 1000);
    long.events = (0..70)
        .map(|i| {
            let mut e = event("AGENT_MESSAGE");
            e.id = format!("long-{i}");
            e
        })
        .collect();
    batches.push(long);
    let appended = store.append_event_batches(&batches[..121]).await.unwrap();
    store.append_event_batches(&batches[121..]).await.unwrap();
    assert_eq!(appended.iter().filter(|a| !**a).count(), 1);
    assert_eq!(appended.len(), 121);
    assert!(!appended[60]);
    for (n, batch) in batches.into_iter().enumerate().take(100) {
        if n != 60 {
            store.journal_events(batch).await.unwrap();
        }
    }
    for r in 0..40 {
        let events = store
            .list_events("default", &format!("r{r}"), 0, None)
            .await
            .unwrap();
        let calls = (0..120).filter(|n| n % 40 == r).count();
        let journaled = (0..99).filter(|n| n % 40 == r).count();
        let long = if r == 7 { 70 } else { 0 };
        assert_eq!(events.len(), 1 + 2 * calls + 2 * journaled + long, "r{r}");
        assert!(
            events.iter().zip(1..).all(|(event, seq)| event.seq == seq),
            "r{r}"
        );
    }
}

/// Journals a call on run "busy" every `pause` (or as fast as it can) until `stop`; answers
/// how many it journaled.
fn keep_journaling(
    store: &std::sync::Arc<SqliteStore>,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    pause: Duration,
) -> tokio::task::JoinHandle<usize> {
    let (store, stop) = (store.clone(), stop.clone());
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            store.journal_events(call("busy", n)).await.unwrap();
            n += 1;
            if pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pause).await;
            }
        }
        n
    })
}

#[tokio::test]
async fn a_flusher_asleep_after_an_idle_spell_commits_the_next_batch_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let master = MasterKey::generate().unwrap();
    let owner = SqliteStore::open(&path, &master).await.unwrap();
    // A second handle reads without settling the owner's journal: it sees commits only.
    let beside = SqliteStore::open(&path, &master).await.unwrap();
    owner
        .create_run(&run("r1", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let committed = |wanted: usize| {
        let beside = &beside;
        async move {
            for _ in 0..200 {
                let events = beside.list_events("default", "r1", 0, None).await.unwrap();
                if events.len() == wanted {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{wanted} events were not committed without a reader asking");
        }
    };
    owner.journal_events(call("r1", 0)).await.unwrap();
    committed(2).await;
    // Idle well past the time the flusher stays awake: it sleeps until the next batch.
    tokio::time::sleep(Duration::from_millis(400)).await;
    owner.journal_events(call("r1", 1)).await.unwrap();
    committed(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_read_then_write_while_the_flusher_and_others_commit_beside_them() {
    use crate::approvals::{action, approval, pause, request};
    use runagents_store::ApprovalStore as _;

    let (_dir, store) = fresh_store().await;
    let store = std::sync::Arc::new(store);
    store
        .create_run(&run("busy", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let decisions = 100;
    for i in 0..decisions {
        let (run_id, action_id, id) = (format!("r{i}"), format!("a{i}"), format!("q{i}"));
        crate::approvals::run(&*store, &run_id).await;
        store
            .block_action(
                &action(&action_id, &run_id, "h"),
                &request(&id, &action_id, &run_id, "h"),
                Some(&pause(&run_id, &action_id)),
                &[],
            )
            .await
            .unwrap();
    }
    // Calls keep journaling on another run, so the flusher commits every few ms on its
    // own connection while the decisions read and then write on theirs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = keep_journaling(&store, &stop, Duration::from_micros(100));
    // And other writers come and go on their connections, as the API and the workers do.
    let writers = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .create_run(&run(&format!("x{n}"), "default", "a", "RUNNING", 1), &[])
                    .await
                    .unwrap();
                n += 1;
            }
        }
    });
    for i in 0..decisions {
        let decided = store
            .decide_request(
                "default",
                &format!("q{i}"),
                &approval(&format!("r{i}"), &format!("a{i}")),
            )
            .await;
        assert!(decided.is_ok(), "decision {i}: {decided:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writers.await.unwrap();
    let journaled = calls.await.unwrap();
    let events = store.list_events("default", "busy", 0, None).await.unwrap();
    assert_eq!(events.len(), 2 * journaled);
}

/// A batch too large for one trip is written statement by statement while holding the write
/// turn; calls journaling meanwhile must not make it wait for a flusher that needs that turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batches_are_written_while_calls_keep_journaling() {
    let (_dir, store) = fresh_store().await;
    let store = std::sync::Arc::new(store);
    for id in ["busy", "long"] {
        store
            .create_run(&run(id, "default", "a", "RUNNING", 1), &[])
            .await
            .unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = keep_journaling(&store, &stop, Duration::ZERO);
    let rounds = 20;
    for round in 0..rounds {
        let mut long = call("long", round);
        long.events = (0..70)
            .map(|i| {
                let mut e = event("AGENT_MESSAGE");
                e.id = format!("long-{round}-{i}");
                e
            })
            .collect();
        let appended = tokio::time::timeout(
            Duration::from_secs(10),
            store.append_event_batches(std::slice::from_ref(&long)),
        )
        .await
        .expect("the oversized batch waited for the flusher")
        .unwrap();
        assert_eq!(appended, [true]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let journaled = calls.await.unwrap();
    let long = store.list_events("default", "long", 0, None).await.unwrap();
    assert_eq!(long.len(), 70 * rounds);
    let busy = store.list_events("default", "busy", 0, None).await.unwrap();
    assert_eq!(busy.len(), 2 * journaled);
    assert!(busy.iter().zip(1..).all(|(event, seq)| event.seq == seq));
}

/// Writes that never pause for a second still let SQLite's WAL start over: its file stays
/// bounded instead of holding everything written since the store opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_writes_never_pause() {
    let (dir, store) = fresh_store().await;
    store
        .create_run(&run("r1", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let wal = dir.path().join("runagents.db-wal");
    let filler = "x".repeat(16 << 10);
    // 48 MiB of events at most 8 MiB/s (so several checkpoints pass), one commit each: the
    // WAL takes each event's pages and its run's, over 96 MiB if it never started over.
    let (mut written, mut largest) = (0, 0);
    let started = std::time::Instant::now();
    let mut every_10ms = tokio::time::interval(Duration::from_millis(10));
    while written < 48 << 20 {
        every_10ms.tick().await;
        for _ in 0..5 {
            let mut message = event("AGENT_MESSAGE");
            message.data = serde_json::json!({ "filler": filler });
            store
                .append_events("default", "r1", &[message])
                .await
                .unwrap();
            written += filler.len();
        }
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        assert!(started.elapsed() < Duration::from_secs(120));
    }
    let events = store
        .list_events("default", "r1", 0, Some(1))
        .await
        .unwrap();
    assert_eq!(events[0].seq, (written / filler.len()) as i64);
    assert!(
        largest < 64 << 20,
        "the WAL reached {largest} bytes for {written} bytes of events"
    );
}
