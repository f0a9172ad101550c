//! Callbacks of finished runs, recorded calls of driven runs, batched events, and the
//! generations egress validates its caches with.

use runagents_domain::Timestamp;
use runagents_store::{
    EventBatch, Kind, RecordedCall, RequestDecision, RunChange, RunUpdate, Store, Write,
};
use serde_json::json;

use crate::approvals::{action, pause, request};
use crate::runs::{event, run};

pub(crate) fn finish(from: &str, to: &str) -> RunUpdate {
    RunUpdate {
        from: from.into(),
        to: to.into(),
        blocked_action_id: None,
        final_answer: Some("done".into()),
        at: Timestamp(10),
    }
}

pub(crate) async fn run_with_callback(store: &dyn Store, id: &str, url: &str) {
    let mut record = run(id, "default", "billing", "RUNNING", 1);
    record.callback_url = url.into();
    record.turn = 1;
    store.create_run(&record, &[]).await.unwrap();
}

pub async fn finished_runs_queue_their_callback_once(store: &dyn Store) {
    run_with_callback(store, "r1", "https://hooks.example/a").await;
    run_with_callback(store, "r2", "").await;
    let stored = store.get_run("default", "r1").await.unwrap().unwrap();
    assert_eq!(
        (stored.callback_url.as_str(), stored.turn),
        ("https://hooks.example/a", 1)
    );
    // Not finished yet: nothing queued.
    store
        .update_run("default", "r1", &finish("RUNNING", "PAUSED"), &[])
        .await
        .unwrap();
    assert_eq!(store.get_callback("default", "r1").await.unwrap(), None);
    store
        .update_run("default", "r1", &finish("PAUSED", "FAILED"), &[])
        .await
        .unwrap();
    store
        .update_run("default", "r2", &finish("RUNNING", "COMPLETED"), &[])
        .await
        .unwrap();
    let queued = store.get_callback("default", "r1").await.unwrap().unwrap();
    assert_eq!(
        (queued.url.as_str(), queued.state.as_str(), queued.attempts),
        ("https://hooks.example/a", "pending", 0)
    );
    assert_eq!(store.get_callback("default", "r2").await.unwrap(), None);
    assert_eq!(store.get_callback("other", "r1").await.unwrap(), None);

    // A rejection that fails the run (a run change inside another write) queues it too.
    run_with_callback(store, "r3", "http://127.0.0.1:9/cb").await;
    store
        .block_action(
            &action("a3", "r3", "h3"),
            &request("q3", "a3", "r3", "h3"),
            Some(&pause("r3", "a3")),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.get_callback("default", "r3").await.unwrap(), None);
    let reject = RequestDecision {
        status: "REJECTED".into(),
        fields: json!({}),
        expires_at: None,
        action_status: "FAILED".into(),
        grant: None,
        job: None,
        run: Some(RunChange {
            run_id: "r3".into(),
            from: vec!["PAUSED_APPROVAL".into()],
            to: "FAILED".into(),
            blocked_action_id: None,
            events: vec![event("FAILED")],
        }),
        at: Timestamp(11),
    };
    store
        .decide_request("default", "q3", &reject)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_callback("default", "r3")
            .await
            .unwrap()
            .unwrap()
            .state,
        "pending"
    );
}

pub async fn callbacks_are_leased_delivered_retried_and_failed(store: &dyn Store) {
    run_with_callback(store, "r1", "https://hooks.example/a").await;
    run_with_callback(store, "r2", "https://hooks.example/b").await;
    for id in ["r1", "r2"] {
        store
            .update_run("default", id, &finish("RUNNING", "COMPLETED"), &[])
            .await
            .unwrap();
    }
    let now = Timestamp(100);
    let first = store
        .claim_callback("w1", now, 1000)
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_callback("w2", now, 1000)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        first.run_id, second.run_id,
        "a leased row is not claimed twice"
    );
    assert_eq!(first.attempts, 1);
    assert!(
        store
            .claim_callback("w3", now, 1000)
            .await
            .unwrap()
            .is_none()
    );

    store
        .complete_callback(&first.run_id, &[event("CALLBACK_DELIVERED")], now)
        .await
        .unwrap();
    let delivered = store
        .get_callback("default", &first.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered.state, "delivered");
    let events = store
        .list_events("default", &first.run_id, 0, None)
        .await
        .unwrap();
    assert_eq!(events.last().unwrap().kind, "CALLBACK_DELIVERED");

    store
        .retry_callback(
            &second.run_id,
            "HTTP 500",
            Some(Timestamp(500)),
            &[event("CALLBACK_FAILED")],
            now,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_callback("w1", Timestamp(499), 1000)
            .await
            .unwrap()
            .is_none(),
        "waits for its retry time"
    );
    let again = store
        .claim_callback("w1", Timestamp(500), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.run_id.as_str(), again.attempts),
        (second.run_id.as_str(), 2)
    );
    assert_eq!(again.last_error, "HTTP 500");
    // A lease that ran out lets another worker take it.
    let taken = store
        .claim_callback("w2", Timestamp(1600), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempts, 3);
    store
        .retry_callback(
            &taken.run_id,
            "gave up",
            None,
            &[event("CALLBACK_FAILED")],
            now,
        )
        .await
        .unwrap();
    let failed = store
        .get_callback("default", &taken.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, "failed");
    assert!(
        store
            .claim_callback("w1", Timestamp(9_999_999), 1000)
            .await
            .unwrap()
            .is_none()
    );
    // Finished rows ignore late outcomes.
    store
        .complete_callback(&taken.run_id, &[event("CALLBACK_DELIVERED")], now)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_callback("default", &taken.run_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        "failed"
    );
}

fn answer(text: &str) -> RecordedCall {
    RecordedCall {
        status: 201,
        headers: json!({"content-type": "application/json"}),
        body: text.as_bytes().to_vec(),
        truncated: false,
    }
}

pub async fn recorded_calls_are_served_in_order_once_per_turn(store: &dyn Store) {
    run_with_callback(store, "r1", "").await;
    let at = Timestamp(5);
    // Turn 1 makes the same call twice and another once.
    for (hash, text) in [("h", "first"), ("h", "second"), ("g", "other")] {
        assert!(
            store
                .record_run_call("default", "r1", hash, 1, &answer(text), at)
                .await
                .unwrap()
        );
    }
    // Nothing to serve within the turn that made them.
    assert_eq!(
        store
            .take_recorded_call("default", "r1", "h", 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.next_run_turn("default", "r1").await.unwrap(), 2);
    let one = store
        .take_recorded_call("default", "r1", "h", 2)
        .await
        .unwrap()
        .unwrap();
    let two = store
        .take_recorded_call("default", "r1", "h", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.body.as_slice(), two.body.as_slice()),
        (&b"first"[..], &b"second"[..])
    );
    assert_eq!(
        (one.status, &one.headers),
        (201, &json!({"content-type": "application/json"}))
    );
    assert_eq!(
        store
            .take_recorded_call("default", "r1", "h", 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_recorded_call("other", "r1", "g", 2)
            .await
            .unwrap(),
        None
    );
    // Turn 2 makes a third call with that payload; turn 3 gets all three in order.
    store
        .record_run_call("default", "r1", "h", 2, &answer("third"), at)
        .await
        .unwrap();
    let mut served = Vec::new();
    while let Some(call) = store
        .take_recorded_call("default", "r1", "h", 3)
        .await
        .unwrap()
    {
        served.push(String::from_utf8(call.body).unwrap());
    }
    assert_eq!(served, ["first", "second", "third"]);
    assert!(matches!(
        store.next_run_turn("default", "nope").await,
        Err(runagents_store::Error::NotFound)
    ));

    // The run's end drops them, and a finished run records nothing more.
    store
        .update_run("default", "r1", &finish("RUNNING", "COMPLETED"), &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .take_recorded_call("default", "r1", "g", 9)
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .record_run_call("default", "r1", "h", 3, &answer("late"), at)
            .await
            .unwrap()
    );
}

pub async fn event_batches_append_per_run_in_one_go(store: &dyn Store) {
    store
        .create_run(
            &run("r1", "default", "a", "RUNNING", 1),
            &[event("RUN_CREATED")],
        )
        .await
        .unwrap();
    store
        .create_run(&run("r2", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let batch = |run_id: &str, kinds: &[&str]| EventBatch {
        workspace: "default".into(),
        run_id: run_id.into(),
        events: kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let mut event = event(kind);
                event.id = format!("{run_id}-{kind}-{i}");
                event
            })
            .collect(),
    };
    let appended = store
        .append_event_batches(&[
            batch("r1", &["TOOL_REQUEST", "TOOL_RESPONSE"]),
            batch("missing", &["TOOL_REQUEST"]),
            batch("r2", &["TOOL_REQUEST", "TOOL_RESPONSE"]),
            batch("r1", &["TOOL_REQUEST", "TOOL_RESPONSE"]),
        ])
        .await
        .unwrap();
    assert_eq!(appended, [true, false, true, true]);
    let seqs = |events: Vec<runagents_store::EventRecord>| {
        events
            .iter()
            .map(|e| (e.seq, e.kind.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(store.list_events("default", "r1", 0, None).await.unwrap()),
        [
            (1, "RUN_CREATED".to_owned()),
            (2, "TOOL_REQUEST".to_owned()),
            (3, "TOOL_RESPONSE".to_owned()),
            (4, "TOOL_REQUEST".to_owned()),
            (5, "TOOL_RESPONSE".to_owned()),
        ]
    );
    assert_eq!(
        seqs(store.list_events("default", "r2", 0, None).await.unwrap()),
        [
            (1, "TOOL_REQUEST".to_owned()),
            (2, "TOOL_RESPONSE".to_owned())
        ]
    );
    // A single event after a batch keeps the sequence gapless.
    let next = store
        .append_events("default", "r2", &[event("AGENT_MESSAGE")])
        .await
        .unwrap();
    assert_eq!(next[0].seq, 3);
    assert!(store.append_event_batches(&[]).await.unwrap().is_empty());
}

pub async fn egress_generations_follow_documents_and_credentials(store: &dyn Store) {
    let zero = store.egress_generations("default").await.unwrap();
    assert_eq!(zero, runagents_store::Generations::default());
    let document = runagents_store::Document {
        key: "x".into(),
        body: json!({}),
        version: 0,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    let mut previous = zero;
    for kind in [Kind::Agent, Kind::Tool, Kind::Policy] {
        store
            .put_document("default", kind, &document, &[], Write::Upsert)
            .await
            .unwrap();
        let now = store.egress_generations("default").await.unwrap();
        let changed = [
            now.agents != previous.agents,
            now.tools != previous.tools,
            now.policies != previous.policies,
            now.credentials != previous.credentials,
        ];
        let expected = [
            kind == Kind::Agent,
            kind == Kind::Tool,
            kind == Kind::Policy,
            false,
        ];
        assert_eq!(changed, expected, "{kind:?}");
        assert_eq!(
            now.tools,
            store.generation("default", Kind::Tool).await.unwrap()
        );
        previous = now;
    }
    store
        .set_agent_credential("default", "x", "issued", "hash-1", Timestamp(2))
        .await
        .unwrap();
    let issued = store.egress_generations("default").await.unwrap();
    assert!(issued.credentials > previous.credentials);
    store
        .delete_agent_credentials("default", "x")
        .await
        .unwrap();
    let deleted = store.egress_generations("default").await.unwrap();
    assert!(deleted.credentials > issued.credentials);
    assert_eq!(
        (deleted.agents, deleted.tools, deleted.policies),
        (previous.agents, previous.tools, previous.policies)
    );
    assert_eq!(
        store.egress_generations("other").await.unwrap(),
        runagents_store::Generations::default(),
        "per workspace"
    );
}

pub async fn event_batches_stay_gapless_under_concurrency(store: &dyn Store) {
    store
        .create_run(&run("r1", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let writers = (0..8).map(|w| async move {
        for i in 0..5 {
            if (w + i) % 3 == 0 {
                store
                    .append_events("default", "r1", &[event("SINGLE")])
                    .await
                    .unwrap();
            } else {
                let batches: Vec<EventBatch> = (0..3)
                    .map(|_| EventBatch {
                        workspace: "default".into(),
                        run_id: "r1".into(),
                        events: vec![event("TOOL_REQUEST"), event("TOOL_RESPONSE")],
                    })
                    .collect();
                assert_eq!(
                    store.append_event_batches(&batches).await.unwrap(),
                    [true, true, true]
                );
            }
        }
    });
    futures_util::future::join_all(writers).await;
    let events = store.list_events("default", "r1", 0, None).await.unwrap();
    let singles = (0..8)
        .flat_map(|w| (0..5).map(move |i| (w + i) % 3 == 0))
        .filter(|single| *single)
        .count();
    let expected = singles + (40 - singles) * 6;
    assert_eq!(events.len(), expected);
    assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
    let run = store.get_run("default", "r1").await.unwrap().unwrap();
    assert_eq!(run.status, "RUNNING");
}
