//! SQLite databases written by an earlier version keep their data through later migrations.

use std::path::Path;

use runagents_store::{MasterKey, RunStore as _, SqliteStore};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::journal::call;

/// A database migrated only up to `version`, as a release of that time left it.
async fn database_at(path: &Path, version: i64) -> sqlx::SqlitePool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut migrator = Migrator::new(dir).await.unwrap();
    let earlier: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|migration| migration.version <= version)
        .cloned()
        .collect();
    assert!(
        earlier.len() < migrator.migrations.len(),
        "no later migration"
    );
    migrator.migrations = earlier.into();
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();
    pool
}

#[tokio::test]
async fn events_written_before_the_clustered_events_table_survive_it_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let old = database_at(&path, 13).await;
    sqlx::query(
        "INSERT INTO runs (id, workspace, agent, user_id, conversation_id, status, \
         blocked_action_id, initial_message, invoke_url, final_answer, last_seq, created_at, \
         updated_at) VALUES ('r-old', 'default', 'a', 'alice', 'c1', 'RUNNING', '', 'hi', '', \
         '', 3, 1, 1)",
    )
    .execute(&old)
    .await
    .unwrap();
    for (seq, kind) in [
        (1, "RUN_CREATED"),
        (2, "TOOL_REQUEST"),
        (3, "TOOL_RESPONSE"),
    ] {
        sqlx::query(
            "INSERT INTO run_events (run_id, seq, id, type, actor, payload_hash, data, at) \
             VALUES ('r-old', ?1, ?2, ?3, 'platform', '', ?4, 7)",
        )
        .bind(seq)
        .bind(format!("ev-{seq}"))
        .bind(kind)
        .bind(format!(r#"{{"n":{seq},"s":"a\nb é"}}"#))
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = SqliteStore::open(&path, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    let events = store
        .list_events("default", "r-old", 0, None)
        .await
        .unwrap();
    let kept: Vec<_> = events
        .iter()
        .map(|e| (e.seq, e.id.as_str(), e.kind.as_str(), e.data.clone()))
        .collect();
    assert_eq!(
        kept,
        [
            (
                1,
                "ev-1",
                "RUN_CREATED",
                serde_json::json!({"n": 1, "s": "a\nb é"})
            ),
            (
                2,
                "ev-2",
                "TOOL_REQUEST",
                serde_json::json!({"n": 2, "s": "a\nb é"})
            ),
            (
                3,
                "ev-3",
                "TOOL_RESPONSE",
                serde_json::json!({"n": 3, "s": "a\nb é"})
            ),
        ]
    );
    // New events continue the run's seqs after the kept ones.
    store.journal_events(call("r-old", 0)).await.unwrap();
    let seqs: Vec<i64> = store
        .list_events("default", "r-old", 0, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    drop(store);
    // One b-tree keyed by (run_id, seq): the table has no rowid.
    let check = rusqlite::Connection::open(&path).unwrap();
    let rowid = check.query_row("SELECT rowid FROM run_events LIMIT 1", [], |row| {
        row.get::<_, i64>(0)
    });
    assert!(rowid.is_err(), "run_events still has a rowid: {rowid:?}");
}
