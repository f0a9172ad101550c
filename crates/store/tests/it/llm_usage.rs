//! Conformance cases for LLM usage records and budget counters.

use runagents_domain::Timestamp;
use runagents_store::{LlmUsageRecord, SpendKey, SpendRow, Store};

fn spend_key(agent: &str, label: &str, period_start: i64) -> SpendKey {
    SpendKey {
        workspace: "default".to_owned(),
        agent: agent.to_owned(),
        label: label.to_owned(),
        period_start: Timestamp(period_start),
    }
}

fn usage(id: &str, agent: &str, at: i64, cost_nanos: i64) -> LlmUsageRecord {
    LlmUsageRecord {
        id: id.to_owned(),
        workspace: "default".to_owned(),
        agent: agent.to_owned(),
        run_id: format!("run-{id}"),
        model: "gpt-4o".to_owned(),
        provider: "openai-prod".to_owned(),
        at: Timestamp(at),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_nanos,
    }
}

async fn counter(store: &dyn Store, agent: &str, label: &str, period: i64) -> Option<SpendRow> {
    store
        .list_spend("default", Timestamp(period))
        .await
        .unwrap()
        .into_iter()
        .find(|row| row.agent == agent && row.label == label)
}

pub async fn spend_reserve_settle_release(store: &dyn Store) {
    let key = spend_key("bot", "default: openai/gpt-4o", 1000);
    // A zero cap has no room, even for a free call.
    assert!(!store.reserve_spend(&key, 0, 0).await.unwrap());
    assert!(store.reserve_spend(&key, 40, 100).await.unwrap());
    assert!(store.reserve_spend(&key, 60, 100).await.unwrap());
    assert!(!store.reserve_spend(&key, 1, 100).await.unwrap(), "full");
    let row = counter(store, "bot", "default: openai/gpt-4o", 1000)
        .await
        .unwrap();
    assert_eq!((row.reserved_nanos, row.spent_nanos), (100, 0));

    // The first call cost less than estimated; the second failed and is released.
    store
        .record_llm_usage(&usage("u1", "bot", 1500, 25), Some((&key, 40)))
        .await
        .unwrap();
    store.release_spend(&key, 60).await.unwrap();
    let row = counter(store, "bot", "default: openai/gpt-4o", 1000)
        .await
        .unwrap();
    assert_eq!((row.reserved_nanos, row.spent_nanos), (0, 25));
    // Room is back: 25 spent, so 75 more fit, 76 do not.
    assert!(!store.reserve_spend(&key, 76, 100).await.unwrap());
    assert!(store.reserve_spend(&key, 75, 100).await.unwrap());
    // Settling more than is reserved never leaves a negative reservation.
    store
        .record_llm_usage(&usage("u2", "bot", 1600, 80), Some((&key, 500)))
        .await
        .unwrap();
    let row = counter(store, "bot", "default: openai/gpt-4o", 1000)
        .await
        .unwrap();
    assert_eq!((row.reserved_nanos, row.spent_nanos), (0, 105));
    // Spent past the cap: nothing more fits, not even a free call.
    assert!(!store.reserve_spend(&key, 0, 100).await.unwrap());

    // Settling without a reservation (an uncapped mapping) creates the counter.
    let uncapped = spend_key("bot", "chat: openai/mini", 1000);
    store
        .record_llm_usage(&usage("u3", "bot", 1700, 7), Some((&uncapped, 0)))
        .await
        .unwrap();
    // A call for no agent is recorded without a counter.
    store
        .record_llm_usage(&usage("u4", "", 1800, 9), None)
        .await
        .unwrap();
    // Another month has its own counters.
    let next_month = spend_key("bot", "default: openai/gpt-4o", 2000);
    assert!(store.reserve_spend(&next_month, 100, 100).await.unwrap());

    let rows = store.list_spend("default", Timestamp(1000)).await.unwrap();
    assert_eq!(
        rows,
        vec![
            SpendRow {
                agent: "bot".into(),
                label: "chat: openai/mini".into(),
                reserved_nanos: 0,
                spent_nanos: 7
            },
            SpendRow {
                agent: "bot".into(),
                label: "default: openai/gpt-4o".into(),
                reserved_nanos: 0,
                spent_nanos: 105
            },
        ]
    );
    assert!(
        store
            .list_spend("other", Timestamp(1000))
            .await
            .unwrap()
            .is_empty()
    );

    let records = store
        .list_llm_usage("default", Timestamp(1600), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["u4", "u3", "u2"]);
    assert_eq!(records[2], usage("u2", "bot", 1600, 80));
    assert_eq!(
        store
            .list_llm_usage("default", Timestamp(0), 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// 50 concurrent reservations at the edge of a budget: exactly as many as fit succeed, and
/// the reserved total never passes the cap.
pub async fn concurrent_reservations_never_overshoot(store: &dyn Store) {
    let key = spend_key("hot", "default: openai/gpt-4o", 0);
    let estimate = 1_000;
    let cap = 10_500;
    // One call already spent most of a unit.
    store
        .record_llm_usage(&usage("first", "hot", 1, 400), Some((&key, 0)))
        .await
        .unwrap();
    let attempts = (0..50).map(|_| store.reserve_spend(&key, estimate, cap));
    let results = futures_util::future::join_all(attempts).await;
    let granted = results
        .iter()
        .map(|result| result.as_ref().map_err(|e| e.to_string()))
        .filter(|result| *result == Ok(&true))
        .count();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // 400 spent + 10 × 1000 = 10400 <= 10500; an 11th would be 11400.
    assert_eq!(granted, 10);
    let row = counter(store, "hot", "default: openai/gpt-4o", 0)
        .await
        .unwrap();
    assert_eq!(row.reserved_nanos, 10_000);
    assert!(row.reserved_nanos + row.spent_nanos <= cap);
}
