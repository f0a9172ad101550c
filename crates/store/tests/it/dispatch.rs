//! The approval delivery outbox: written with its request, leased once, ordered and skipped in
//! `first_success`, backed off, followed up on decision; decision links used once.

use runagents_domain::Timestamp;
use runagents_store::{
    DispatchRecord, DispatchStore, MasterKey, RequestDecision, SqliteStore, Store,
};
use serde_json::json;

use crate::approvals::{action, request};

pub(crate) fn row(id: &str, request_id: &str, position: i64, mode: &str) -> DispatchRecord {
    DispatchRecord {
        id: id.into(),
        workspace: "default".into(),
        request_id: request_id.into(),
        connector_id: format!("ac_{id}"),
        purpose: "deliver".into(),
        mode: mode.into(),
        position,
        state: "pending".into(),
        attempts: 0,
        next_attempt_at: Timestamp(2),
        external_ref: serde_json::Value::Null,
        last_error: String::new(),
        created_at: Timestamp(2),
    }
}

pub(crate) async fn raise(store: &dyn Store, request_id: &str, rows: &[DispatchRecord]) {
    let action_id = format!("a-{request_id}");
    store
        .block_action(
            &action(&action_id, "", request_id),
            &request(request_id, &action_id, "", request_id),
            None,
            rows,
        )
        .await
        .unwrap();
}

fn states(rows: &[DispatchRecord]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (r.id.clone(), r.state.clone()))
        .collect()
}

pub async fn dispatches_are_written_with_their_request_and_leased_once(store: &dyn Store) {
    let rows: Vec<_> = (0..6)
        .map(|i| row(&format!("d{i}"), "q1", i, "all"))
        .collect();
    raise(store, "q1", &rows).await;
    assert_eq!(
        store.list_dispatches("default", "q1").await.unwrap().len(),
        6
    );
    let claims = claim_ten_at_once(store).await;
    let mut claimed: Vec<String> = claims.into_iter().flatten().map(|r| r.id).collect();
    claimed.sort();
    assert_eq!(
        claimed,
        ["d0", "d1", "d2", "d3", "d4", "d5"],
        "each row exactly once"
    );
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(10), 1000)
            .await
            .unwrap(),
        None,
        "all leased"
    );
    // A lease that runs out makes the row claimable again.
    let again = store
        .claim_dispatch("w", Timestamp(2_000), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);
}

/// Ten claims at once over one store.
async fn claim_ten_at_once(store: &dyn Store) -> Vec<Option<DispatchRecord>> {
    let claims = (0..10).map(|i| async move {
        store
            .claim_dispatch(&format!("w{i}"), Timestamp(10), 1000)
            .await
            .unwrap()
    });
    futures_util::future::join_all(claims).await
}

pub async fn first_success_tries_in_order_and_skips_the_rest(store: &dyn Store) {
    let rows = [
        row("a", "q1", 0, "first_success"),
        row("b", "q1", 1, "first_success"),
        row("c", "q1", 2, "first_success"),
    ];
    raise(store, "q1", &rows).await;
    let first = store
        .claim_dispatch("w", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, "a");
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(10), 1000)
            .await
            .unwrap(),
        None,
        "b waits while a is in flight"
    );
    store
        .retry_dispatch("a", "HTTP 503", Some(Timestamp(5_000)), Timestamp(11))
        .await
        .unwrap();
    let second = store
        .claim_dispatch("w", Timestamp(12), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, "b", "a failed once: fail over to b");
    store
        .complete_dispatch("b", &json!({"ts": "1.2"}), "", Timestamp(13))
        .await
        .unwrap();
    let stored = store.list_dispatches("default", "q1").await.unwrap();
    assert_eq!(
        states(&stored),
        [
            ("a".into(), "skipped".into()),
            ("b".into(), "delivered".into()),
            ("c".into(), "skipped".into())
        ]
    );
    assert_eq!(stored[0].last_error, "HTTP 503");
    assert_eq!(stored[1].external_ref, json!({"ts": "1.2"}));
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(9_000), 1000)
            .await
            .unwrap(),
        None
    );
}

pub async fn failed_attempts_back_off_then_fail(store: &dyn Store) {
    raise(store, "q1", &[row("a", "q1", 0, "all")]).await;
    store
        .claim_dispatch("w", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    store
        .retry_dispatch("a", "refused", Some(Timestamp(500)), Timestamp(11))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(499), 1000)
            .await
            .unwrap(),
        None
    );
    let retried = store
        .claim_dispatch("w", Timestamp(500), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (retried.attempts, retried.last_error.as_str()),
        (2, "refused")
    );
    store
        .retry_dispatch("a", "refused again", None, Timestamp(501))
        .await
        .unwrap();
    let stored = store.get_dispatch("a").await.unwrap().unwrap();
    assert_eq!(stored.state, "failed");
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(99_999), 1000)
            .await
            .unwrap(),
        None
    );
}

pub async fn decisions_skip_pending_deliveries_and_follow_up_delivered_ones(store: &dyn Store) {
    raise(
        store,
        "q1",
        &[
            row("a", "q1", 0, "all"),
            row("b", "q1", 1, "all"),
            row("c", "q1", 2, "all"),
        ],
    )
    .await;
    let a = store
        .claim_dispatch("w", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    store
        .complete_dispatch(
            &a.id,
            &json!({"channel": "C1", "ts": "9.9"}),
            "",
            Timestamp(11),
        )
        .await
        .unwrap();
    let in_flight = store
        .claim_dispatch("w", Timestamp(12), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_flight.id, "b");
    let decision = RequestDecision {
        status: "REJECTED".into(),
        fields: json!({"approver_id": "slack:U1"}),
        expires_at: None,
        action_status: "FAILED".into(),
        grant: None,
        job: None,
        run: None,
        at: Timestamp(13),
    };
    store
        .decide_request("default", "q1", &decision)
        .await
        .unwrap();
    // b lands after the decision: it gets its follow-up too.
    store
        .complete_dispatch("b", &json!({"ts": "1"}), "", Timestamp(14))
        .await
        .unwrap();
    let stored = store.list_dispatches("default", "q1").await.unwrap();
    assert_eq!(
        states(&stored),
        [
            ("a".into(), "delivered".into()),
            ("b".into(), "delivered".into()),
            ("c".into(), "skipped".into()),
            ("a-f".into(), "pending".into()),
            ("b-f".into(), "pending".into()),
        ]
    );
    assert_eq!(stored[3].purpose, "followup");
    assert_eq!(
        stored[3].external_ref,
        json!({"channel": "C1", "ts": "9.9"})
    );
    let followup = store
        .claim_dispatch("w", Timestamp(20), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(followup.connector_id, "ac_a");
}

pub async fn decision_links_are_single_use(store: &dyn Store) {
    assert!(
        store
            .use_decision_link("default", "dl-1", "q1", Timestamp(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_decision_link("default", "dl-1", "q1", Timestamp(2))
            .await
            .unwrap()
    );
    assert!(
        store
            .use_decision_link("default", "dl-2", "q1", Timestamp(2))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn pending_dispatches_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runagents.db");
    let master = MasterKey::generate().unwrap();
    {
        let store = SqliteStore::open(&path, &master).await.unwrap();
        raise(&store, "q1", &[row("a", "q1", 0, "all")]).await;
        // Claimed by a worker that then died: its lease runs out after the restart.
        store
            .claim_dispatch("gone", Timestamp(10), 1000)
            .await
            .unwrap()
            .unwrap();
    }
    let store = SqliteStore::open(&path, &master).await.unwrap();
    assert_eq!(
        store
            .claim_dispatch("w", Timestamp(500), 1000)
            .await
            .unwrap(),
        None
    );
    let claimed = store
        .claim_dispatch("w", Timestamp(1_011), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((claimed.id.as_str(), claimed.attempts), ("a", 2));
}

pub async fn deliveries_are_found_by_their_service_key(store: &dyn Store) {
    raise(
        store,
        "q1",
        &[row("a", "q1", 0, "all"), row("b", "q1", 1, "all")],
    )
    .await;
    raise(store, "q2", &[row("c", "q2", 0, "all")]).await;
    for _ in 0..3 {
        let claimed = store
            .claim_dispatch("w", Timestamp(10), 1000)
            .await
            .unwrap()
            .unwrap();
        let key = match claimed.id.as_str() {
            "a" => "OPS-1",
            "c" => "OPS-2",
            _ => "",
        };
        store
            .complete_dispatch(&claimed.id, &json!({"key": key}), key, Timestamp(11))
            .await
            .unwrap();
    }
    let found = store
        .find_delivery("default", "ac_a", "OPS-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id.as_str(), found.request_id.as_str()), ("a", "q1"));
    assert_eq!(
        store
            .find_delivery("default", "ac_c", "OPS-2")
            .await
            .unwrap()
            .unwrap()
            .request_id,
        "q2"
    );
    // The key belongs to its connector and workspace; an empty key finds nothing.
    assert_eq!(
        store
            .find_delivery("default", "ac_c", "OPS-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_delivery("other", "ac_a", "OPS-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.find_delivery("default", "ac_b", "").await.unwrap(),
        None
    );
    // A decision's follow-up is not a delivery.
    let decision = RequestDecision {
        status: "REJECTED".into(),
        fields: json!({}),
        expires_at: None,
        action_status: "FAILED".into(),
        grant: None,
        job: None,
        run: None,
        at: Timestamp(12),
    };
    store
        .decide_request("default", "q1", &decision)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_delivery("default", "ac_a", "OPS-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        "a"
    );
}

pub async fn an_expired_window_follows_up_every_delivered_connector_once(store: &dyn Store) {
    raise(
        store,
        "q1",
        &[row("a", "q1", 0, "all"), row("b", "q1", 1, "all")],
    )
    .await;
    let a = store
        .claim_dispatch("w", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    store
        .complete_dispatch(
            &a.id,
            &json!({"dedup_key": "runagents-q1"}),
            "",
            Timestamp(11),
        )
        .await
        .unwrap();
    let b = store
        .claim_dispatch("w", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    store
        .retry_dispatch(&b.id, "down", None, Timestamp(11))
        .await
        .unwrap();
    let approved = RequestDecision {
        status: "APPROVED".into(),
        fields: json!({"scope": "agent_user_ttl"}),
        expires_at: Some(Timestamp(1000)),
        action_status: "APPROVED".into(),
        grant: None,
        job: None,
        run: None,
        at: Timestamp(12),
    };
    store
        .decide_request("default", "q1", &approved)
        .await
        .unwrap();
    // The decision's follow-up is delivered before the window ends.
    let followup = store
        .claim_dispatch("w", Timestamp(20), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(followup.id, "a-f");
    store
        .complete_dispatch("a-f", &followup.external_ref, "", Timestamp(21))
        .await
        .unwrap();
    assert_eq!(store.expire_requests(Timestamp(999)).await.unwrap(), 0);
    assert_eq!(store.expire_requests(Timestamp(1000)).await.unwrap(), 1);
    assert_eq!(
        store.expire_requests(Timestamp(1001)).await.unwrap(),
        0,
        "once"
    );
    let rows = store.list_dispatches("default", "q1").await.unwrap();
    let expiry: Vec<_> = rows.iter().filter(|r| r.id.ends_with("-x")).collect();
    assert_eq!(expiry.len(), 1, "only the delivered connector: {rows:?}");
    assert_eq!(
        (
            expiry[0].id.as_str(),
            expiry[0].purpose.as_str(),
            expiry[0].state.as_str()
        ),
        ("a-x", "followup", "pending")
    );
    assert_eq!(expiry[0].external_ref, json!({"dedup_key": "runagents-q1"}));
    assert_eq!(
        store
            .get_request("default", "q1")
            .await
            .unwrap()
            .unwrap()
            .status,
        "EXPIRED"
    );
    let claimed = store
        .claim_dispatch("w", Timestamp(1001), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, "a-x");
}
