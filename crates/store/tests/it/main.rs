#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step should stop the test loudly"
)]
//! The store conformance suite: every case runs against SQLite and against PostgreSQL.

mod cases;
mod llm_usage;

use std::sync::Arc;

use runagents_store::{MasterKey, PostgresStore, SqliteStore, Store};

pub struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &dir.path().join("runagents.db"),
        &MasterKey::generate().unwrap(),
    )
    .await
    .unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

pub async fn postgres() -> Fixture {
    let url = runagents_testkit::postgres::fresh_database().await.unwrap();
    let store = PostgresStore::connect(&url, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: None,
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => { $(
        mod $case {
            #[tokio::test]
            async fn sqlite() { super::cases::$case(&*super::sqlite().await.store).await }
            #[tokio::test]
            async fn postgres() { super::cases::$case(&*super::postgres().await.store).await }
        }
    )* };
}

conformance!(
    document_upsert_create_replace,
    documents_are_workspace_scoped,
    secrets_are_sealed_kept_and_deleted_with_their_document,
    concurrent_upserts_all_land,
    api_key_lifecycle,
    workspace_with_first_key_is_atomic,
    settings_round_trip,
    activity_newest_first_with_limit,
    spend_reserve_settle_release,
    concurrent_reservations_never_overshoot,
);
