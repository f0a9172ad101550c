#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step should stop the test loudly"
)]
//! The store conformance suite: every case runs against SQLite and against PostgreSQL.

mod approvals;
mod callbacks;
mod cases;
mod dispatch;
mod journal;
mod llm_usage;
mod oauth;
mod runs;
mod upgrade;
mod work;

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
            async fn sqlite() { super::$case(&*super::sqlite().await.store).await }
            #[tokio::test]
            async fn postgres() { super::$case(&*super::postgres().await.store).await }
        }
    )* };
}

use approvals::*;
use callbacks::*;
use cases::*;
use dispatch::*;
use journal::*;
use oauth::*;
use runs::*;
use work::*;

conformance!(
    generations_change_with_every_write,
    blocking_is_atomic_and_deduplicated,
    deciding_writes_grant_job_and_events_once,
    requests_list_in_creation_order_by_status_and_round_trip,
    resume_jobs_are_leased_and_finished_once,
    a_replay_waiting_for_consent_is_put_aside_and_queued_again_once,
    a_run_that_ends_expires_its_open_approvals,
    runs_and_events_round_trip,
    run_updates_are_compare_and_set,
    event_seq_is_gapless_under_concurrency,
    runs_list_by_agent_and_status_newest_first,
    agent_credentials_replace_and_resolve,
    document_upsert_create_replace,
    documents_are_workspace_scoped,
    secrets_are_sealed_kept_and_deleted_with_their_document,
    concurrent_upserts_all_land,
    api_key_lifecycle,
    api_key_owner_and_groups_round_trip,
    workspace_with_first_key_is_atomic,
    settings_round_trip,
    activity_newest_first_with_limit,
    dispatches_are_written_with_their_request_and_leased_once,
    first_success_tries_in_order_and_skips_the_rest,
    failed_attempts_back_off_then_fail,
    decisions_skip_pending_deliveries_and_follow_up_delivered_ones,
    decision_links_are_single_use,
    deliveries_are_found_by_their_service_key,
    an_expired_window_follows_up_every_delivered_connector_once,
    spend_reserve_settle_release,
    concurrent_reservations_never_overshoot,
    oauth_connections_are_sealed_and_refreshed_by_compare_and_set,
    finished_runs_queue_their_callback_once,
    callbacks_are_leased_delivered_retried_and_failed,
    recorded_calls_are_served_in_order_once_per_turn,
    event_batches_append_per_run_in_one_go,
    event_batches_stay_gapless_under_concurrency,
    egress_generations_follow_documents_and_credentials,
    journaled_events_read_and_order_like_commits,
    large_event_batch_groups_keep_every_run_gapless,
    queued_work_is_announced_to_listeners_at_commit,
);
