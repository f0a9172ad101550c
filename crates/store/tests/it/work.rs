//! Work announcements: what one process queues wakes the workers of every other at commit.

use std::time::Duration;

use runagents_store::{Store, Work};
use tokio::sync::mpsc::Receiver;

use crate::approvals::{action, approval, pause, request, run};
use crate::callbacks::{finish, run_with_callback};
use crate::dispatch::{raise, row};

/// The next announcement, if one comes within two seconds.
async fn next(notices: &mut Receiver<Work>) -> Option<Work> {
    tokio::time::timeout(Duration::from_secs(2), notices.recv())
        .await
        .ok()
        .flatten()
}

/// Nothing more announced for a while.
async fn quiet(notices: &mut Receiver<Work>) -> bool {
    tokio::time::timeout(Duration::from_millis(300), notices.recv())
        .await
        .is_err()
}

pub async fn queued_work_is_announced_to_listeners_at_commit(store: &dyn Store) {
    let Some(mut notices) = store.work_notices() else {
        assert_eq!(
            store.backend(),
            "sqlite",
            "only a single-process store has none"
        );
        return;
    };
    // Listening: every kind is announced first (whatever was queued before is unknown).
    let mut first = Vec::new();
    for _ in Work::ALL {
        first.push(next(&mut notices).await.unwrap());
    }
    assert_eq!(first, Work::ALL);
    assert!(quiet(&mut notices).await);

    // A blocked call with deliveries announces them; an approval its resume job.
    raise(store, "q9", &[row("d9", "q9", 0, "all")]).await;
    assert_eq!(next(&mut notices).await, Some(Work::Dispatch));
    run(store, "r9").await;
    store
        .block_action(
            &action("a1", "r9", "h9"),
            &request("q1", "a1", "r9", "h9"),
            Some(&pause("r9", "a1")),
            &[],
        )
        .await
        .unwrap();
    assert!(
        quiet(&mut notices).await,
        "no deliveries, nothing to announce"
    );
    store
        .decide_request("default", "q1", &approval("r9", "a1"))
        .await
        .unwrap();
    assert_eq!(next(&mut notices).await, Some(Work::Resume));
    // A decision refused writes nothing and announces nothing.
    assert!(
        store
            .decide_request("default", "q1", &approval("r9", "a1"))
            .await
            .is_err()
    );
    assert!(quiet(&mut notices).await);

    // A run that ends with a callback URL announces its callback; one without, nothing.
    run_with_callback(store, "rc", "https://hooks.example/a").await;
    store
        .update_run("default", "rc", &finish("RUNNING", "COMPLETED"), &[])
        .await
        .unwrap();
    assert_eq!(next(&mut notices).await, Some(Work::Callback));
    run_with_callback(store, "rn", "").await;
    store
        .update_run("default", "rn", &finish("RUNNING", "COMPLETED"), &[])
        .await
        .unwrap();
    assert!(quiet(&mut notices).await);
}
