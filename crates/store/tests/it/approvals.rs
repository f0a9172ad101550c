use runagents_domain::Timestamp;
use runagents_store::{
    ActionRecord, ActionResult, Blocked, Error, GrantRecord, ListedRequest, NewEvent,
    RequestDecision, RequestRecord, ResumeJob, RunChange, RunRecord, RunUpdate, Store,
};
use serde_json::{Value, json};

pub(crate) async fn run(store: &dyn Store, id: &str) {
    let record = RunRecord {
        id: id.into(),
        workspace: "default".into(),
        agent: "billing".into(),
        user_id: "alice".into(),
        conversation_id: "c".into(),
        status: "RUNNING".into(),
        blocked_action_id: String::new(),
        initial_message: String::new(),
        invoke_url: String::new(),
        final_answer: String::new(),
        callback_url: String::new(),
        turn: 0,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    store.create_run(&record, &[]).await.unwrap();
}

pub(crate) fn action(id: &str, run_id: &str, hash: &str) -> ActionRecord {
    ActionRecord {
        id: id.into(),
        workspace: "default".into(),
        run_id: run_id.into(),
        agent: "billing".into(),
        user_id: "alice".into(),
        tool: "stripe".into(),
        capability: "charge".into(),
        method: "POST".into(),
        url: "https://api.stripe.com/v1/charges".into(),
        headers: json!({"content-type": "application/json"}),
        body: b"{\"amount\":100}".to_vec(),
        payload_hash: hash.into(),
        status: "BLOCKED".into(),
        response: serde_json::Value::Null,
        delivered: false,
        created_at: Timestamp(2),
        updated_at: Timestamp(2),
    }
}

pub(crate) fn request(id: &str, action_id: &str, run_id: &str, hash: &str) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        workspace: "default".into(),
        action_id: action_id.into(),
        run_id: run_id.into(),
        payload_hash: hash.into(),
        status: "PENDING".into(),
        body: json!({"agent_id": "billing", "tool_id": "stripe"}),
        expires_at: None,
        created_at: Timestamp(2),
        updated_at: Timestamp(2),
    }
}

pub(crate) fn pause(run_id: &str, action_id: &str) -> RunChange {
    let event = NewEvent {
        id: format!("ev-{action_id}"),
        kind: "APPROVAL_REQUIRED".into(),
        actor: "platform".into(),
        payload_hash: "h".into(),
        data: json!({}),
        at: Timestamp(2),
    };
    RunChange {
        run_id: run_id.into(),
        from: vec!["RUNNING".into(), "PAUSED_APPROVAL".into()],
        to: "PAUSED_APPROVAL".into(),
        blocked_action_id: Some(action_id.into()),
        events: vec![event],
    }
}

pub async fn blocking_is_atomic_and_deduplicated(store: &dyn Store) {
    run(store, "r1").await;
    let first = store
        .block_action(
            &action("a1", "r1", "h1"),
            &request("q1", "a1", "r1", "h1"),
            Some(&pause("r1", "a1")),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(first, Blocked::Created(ref r) if r.id == "q1"));
    let run_now = store.get_run("default", "r1").await.unwrap().unwrap();
    assert_eq!(
        (run_now.status.as_str(), run_now.blocked_action_id.as_str()),
        ("PAUSED_APPROVAL", "a1")
    );
    assert_eq!(
        store
            .list_events("default", "r1", 0, None)
            .await
            .unwrap()
            .len(),
        1
    );
    // The same payload again in the same run: the existing request, nothing written.
    let again = store
        .block_action(
            &action("a2", "r1", "h1"),
            &request("q2", "a2", "r1", "h1"),
            Some(&pause("r1", "a2")),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(again, Blocked::Existing(ref r) if r.id == "q1"));
    assert_eq!(store.get_action("default", "a2").await.unwrap(), None);
    let pending = |run: &'static str, hash: &'static str| async move {
        store
            .pending_request_for("default", run, hash)
            .await
            .unwrap()
            .map(|r| r.id)
    };
    assert_eq!(pending("r1", "h1").await.as_deref(), Some("q1"));
    assert_eq!(pending("r1", "h2").await, None);
    assert_eq!(pending("r9", "h1").await, None);
    assert_eq!(
        store
            .list_events("default", "r1", 0, None)
            .await
            .unwrap()
            .len(),
        1
    );
    // Concurrent retries of another payload raise exactly one request.
    let retries = (0..10).map(|i| async move {
        let id = format!("c{i}");
        store
            .block_action(
                &action(&id, "r1", "h2"),
                &request(&format!("q-{id}"), &id, "r1", "h2"),
                Some(&pause("r1", &id)),
                &[],
            )
            .await
    });
    let results = futures_util::future::join_all(retries).await;
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(Blocked::Created(_))))
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        store
            .list_requests("default", &["PENDING".into()])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.list_requests("other", &[]).await.unwrap().len(), 0);
    // Requests without a run are never merged.
    store
        .block_action(
            &action("n1", "", "h1"),
            &request("qn1", "n1", "", "h1"),
            None,
            &[],
        )
        .await
        .unwrap();
    store
        .block_action(
            &action("n2", "", "h1"),
            &request("qn2", "n2", "", "h1"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.list_requests("default", &[]).await.unwrap().len(), 4);
}

/// Raises a request outside any run, in `workspace`, created at `at`.
async fn raise(store: &dyn Store, workspace: &str, id: &str, at: i64, body: Value) {
    let mut blocked = action(&format!("a-{id}"), "", &format!("h-{id}"));
    blocked.workspace = workspace.into();
    let mut raised = request(id, &blocked.id, "", &format!("h-{id}"));
    raised.workspace = workspace.into();
    raised.body = body;
    raised.created_at = Timestamp(at);
    raised.updated_at = Timestamp(at);
    let created = store
        .block_action(&blocked, &raised, None, &[])
        .await
        .unwrap();
    assert!(matches!(created, Blocked::Created(_)));
}

/// The approvals queue's read: creation order (the id breaks ties), one status, several or
/// all, one workspace, and every field and body exactly as written.
pub async fn requests_list_in_creation_order_by_status_and_round_trip(store: &dyn Store) {
    let rich = json!({
        "agent_id": "billing",
        "tool_id": "stripe",
        "message": "Approval required for stripe: \"POST\" \\ é ü 漢字 😀 \u{2028}\n\t</script>",
        "routing": {
            "rule": "finance",
            "approvers": {"groups": ["fin", "ops"], "users": []},
            "defaultDuration": "",
            "delivery": {"fallbackToUI": true, "connectors": [{"name": "slack", "weight": 1.5}]},
        },
        "numbers": [0, -1, 3.25, 1e20, i64::MIN, u64::MAX],
        "nothing": null,
        "deep": {"a": {"b": {"c": [{"d": "e"}, [], {}]}}},
        "": "empty key",
    });
    raise(store, "default", "q-c", 5, json!({"agent_id": "c"})).await;
    raise(store, "default", "q-b", 3, rich.clone()).await;
    raise(
        store,
        "default",
        "q-a",
        3,
        json!({"agent_id": "a", "routing": {}}),
    )
    .await;
    raise(store, "default", "q-d", 1, Value::Null).await;
    raise(store, "other", "q-x", 2, json!({"agent_id": "x"})).await;
    raise(store, "default", "q-e", 4, json!({"agent_id": "e"})).await;
    let rejected = RequestDecision {
        status: "REJECTED".into(),
        fields: json!({"reason": "not now ✋", "approver_id": "admin"}),
        expires_at: Some(Timestamp(9_000)),
        action_status: "REJECTED".into(),
        grant: None,
        job: None,
        run: None,
        at: Timestamp(6),
    };
    store
        .decide_request("default", "q-e", &rejected)
        .await
        .unwrap();
    let list = |workspace: &'static str, statuses: &'static [&'static str]| async move {
        let statuses: Vec<String> = statuses.iter().map(|s| (*s).to_owned()).collect();
        store.list_requests(workspace, &statuses).await.unwrap()
    };
    let ids =
        |requests: &[ListedRequest]| requests.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let pending = list("default", &["PENDING"]).await;
    assert_eq!(ids(&pending), ["q-d", "q-a", "q-b", "q-c"]);
    assert_eq!(ids(&list("default", &["REJECTED"]).await), ["q-e"]);
    assert_eq!(
        ids(&list("default", &["REJECTED", "PENDING"]).await),
        ["q-d", "q-a", "q-b", "q-e", "q-c"]
    );
    assert!(list("default", &["APPROVED", "EXPIRED"]).await.is_empty());
    let all = list("default", &[]).await;
    assert_eq!(ids(&all), ["q-d", "q-a", "q-b", "q-e", "q-c"]);
    assert_eq!(ids(&list("other", &[]).await), ["q-x"]);
    assert_eq!(ids(&list("other", &["PENDING"]).await), ["q-x"]);
    assert!(list("nowhere", &[]).await.is_empty());
    // Listed exactly as read one by one and as written; a body's text is what was written.
    let all: Vec<RequestRecord> = all
        .iter()
        .map(|listed| {
            let body: Value = serde_json::from_str(listed.body.get()).unwrap();
            assert_eq!(listed.body.get(), body.to_string());
            RequestRecord {
                id: listed.id.clone(),
                workspace: listed.workspace.clone(),
                action_id: listed.action_id.clone(),
                run_id: listed.run_id.clone(),
                payload_hash: listed.payload_hash.clone(),
                status: listed.status.clone(),
                body,
                expires_at: listed.expires_at,
                created_at: listed.created_at,
                updated_at: listed.updated_at,
            }
        })
        .collect();
    for listed in &all {
        let read = store.get_request("default", &listed.id).await.unwrap();
        assert_eq!(Some(listed), read.as_ref());
    }
    let by_id = |id: &str| all.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(by_id("q-b").body, rich);
    assert_eq!(by_id("q-d").body, Value::Null);
    assert_eq!(by_id("q-a").body, json!({"agent_id": "a", "routing": {}}));
    // What lists show of a body, read from its text.
    let listed_rich = pending.iter().find(|r| r.id == "q-b").unwrap();
    assert_eq!(listed_rich.body.get(), rich.to_string());
    let fields = listed_rich.fields();
    assert_eq!(
        (
            fields.agent_id.as_ref(),
            fields.tool_id.as_ref(),
            fields.subject.as_ref()
        ),
        ("billing", "stripe", "")
    );
    assert_eq!(fields.message, rich["message"].as_str().unwrap());
    assert_eq!(
        fields.routing.map(|routing| routing.get()),
        Some(rich["routing"].to_string().as_str())
    );
    let decided = by_id("q-e");
    assert_eq!(
        (
            decided.status.as_str(),
            decided.expires_at,
            decided.created_at,
            decided.updated_at
        ),
        (
            "REJECTED",
            Some(Timestamp(9_000)),
            Timestamp(4),
            Timestamp(6)
        )
    );
    assert_eq!(
        decided.body,
        json!({"agent_id": "e", "reason": "not now ✋", "approver_id": "admin"})
    );
    let first = by_id("q-d");
    assert_eq!(
        (
            first.workspace.as_str(),
            first.action_id.as_str(),
            first.run_id.as_str(),
            first.payload_hash.as_str()
        ),
        ("default", "a-q-d", "", "h-q-d")
    );
    assert_eq!(first.expires_at, None);
}

pub(crate) fn approval(run_id: &str, action_id: &str) -> RequestDecision {
    let grant = GrantRecord {
        id: format!("g-{action_id}"),
        workspace: "default".into(),
        request_id: "q1".into(),
        scope: "run".into(),
        agent: "billing".into(),
        tool: "stripe".into(),
        user_id: "alice".into(),
        run_id: run_id.into(),
        method: "POST".into(),
        capability: "charge".into(),
        action_id: action_id.into(),
        payload_hash: "h1".into(),
        expires_at: Some(Timestamp(1000)),
        created_at: Timestamp(3),
    };
    let job = ResumeJob {
        id: format!("j-{action_id}"),
        workspace: "default".into(),
        action_id: action_id.into(),
        run_id: run_id.into(),
        attempts: 0,
        created_at: Timestamp(3),
    };
    let event = NewEvent {
        id: "ev-approved".into(),
        kind: "APPROVED".into(),
        actor: "admin".into(),
        payload_hash: String::new(),
        data: json!({}),
        at: Timestamp(3),
    };
    RequestDecision {
        status: "APPROVED".into(),
        fields: json!({"scope": "run", "approver_id": "admin"}),
        expires_at: Some(Timestamp(1000)),
        action_status: "APPROVED".into(),
        grant: Some(grant),
        job: Some(job),
        run: Some(RunChange {
            run_id: run_id.into(),
            from: vec![],
            to: String::new(),
            blocked_action_id: None,
            events: vec![event],
        }),
        at: Timestamp(3),
    }
}

pub async fn deciding_writes_grant_job_and_events_once(store: &dyn Store) {
    run(store, "r2").await;
    store
        .block_action(
            &action("a1", "r2", "h1"),
            &request("q1", "a1", "r2", "h1"),
            Some(&pause("r2", "a1")),
            &[],
        )
        .await
        .unwrap();
    let decided = store
        .decide_request("default", "q1", &approval("r2", "a1"))
        .await
        .unwrap();
    assert_eq!(decided.status, "APPROVED");
    assert_eq!(
        decided.body,
        json!({"agent_id": "billing", "tool_id": "stripe", "scope": "run", "approver_id": "admin"})
    );
    assert_eq!(
        store
            .get_action("default", "a1")
            .await
            .unwrap()
            .unwrap()
            .status,
        "APPROVED"
    );
    let twice = store
        .decide_request("default", "q1", &approval("r2", "a1"))
        .await;
    assert!(matches!(twice, Err(Error::Conflict(_))), "{twice:?}");
    assert!(matches!(
        store
            .decide_request("default", "nope", &approval("r2", "a1"))
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        store
            .decide_request("other", "q1", &approval("r2", "a1"))
            .await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        store
            .live_grants("default", "billing", "stripe", Timestamp(999))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .live_grants("default", "billing", "stripe", Timestamp(1000))
            .await
            .unwrap()
            .is_empty()
    );
    let kinds: Vec<String> = store
        .list_events("default", "r2", 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["APPROVAL_REQUIRED", "APPROVED"]);
    // Windows end.
    assert_eq!(store.expire_requests(Timestamp(999)).await.unwrap(), 0);
    assert_eq!(store.expire_requests(Timestamp(1000)).await.unwrap(), 1);
    assert_eq!(
        store
            .get_request("default", "q1")
            .await
            .unwrap()
            .unwrap()
            .status,
        "EXPIRED"
    );
}

pub async fn resume_jobs_are_leased_and_finished_once(store: &dyn Store) {
    run(store, "r3").await;
    store
        .block_action(
            &action("a1", "r3", "h1"),
            &request("q1", "a1", "r3", "h1"),
            Some(&pause("r3", "a1")),
            &[],
        )
        .await
        .unwrap();
    store
        .decide_request("default", "q1", &approval("r3", "a1"))
        .await
        .unwrap();
    // Two workers race: exactly one claims it.
    let (one, two) = tokio::join!(
        store.claim_resume_job("w1", Timestamp(10), 1000),
        store.claim_resume_job("w2", Timestamp(10), 1000)
    );
    let claimed: Vec<_> = [one.unwrap(), two.unwrap()].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].action_id.as_str(), claimed[0].attempts),
        ("a1", 1)
    );
    assert!(
        store
            .claim_resume_job("w3", Timestamp(500), 1000)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    // Only the holder renews its lease.
    let holder = claimed[0].clone();
    let owner = if store
        .renew_resume_job(&holder.id, "w1", Timestamp(1010))
        .await
        .unwrap()
    {
        "w1"
    } else {
        "w2"
    };
    assert!(
        store
            .renew_resume_job(&holder.id, owner, Timestamp(1010))
            .await
            .unwrap(),
        "the holder renews"
    );
    assert!(
        !store
            .renew_resume_job(&holder.id, "w9", Timestamp(5000))
            .await
            .unwrap(),
        "others cannot"
    );
    // The lease runs out: another worker takes it over.
    let retaken = store
        .claim_resume_job("w3", Timestamp(1011), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retaken.attempts, 2);
    store
        .release_resume_job(&retaken.id, "upstream down", Timestamp(1500))
        .await
        .unwrap();
    assert!(
        store
            .claim_resume_job("w3", Timestamp(1400), 1000)
            .await
            .unwrap()
            .is_none()
    );
    let job = store
        .claim_resume_job("w3", Timestamp(1501), 1000)
        .await
        .unwrap()
        .unwrap();

    assert!(
        store
            .set_action_status("default", "a1", "APPROVED", "DISPATCHING", Timestamp(1502))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_action_status("default", "a1", "APPROVED", "DISPATCHING", Timestamp(1502))
            .await
            .unwrap()
    );
    let resumed = NewEvent {
        id: "ev-resumed".into(),
        kind: "RESUMED".into(),
        actor: "platform".into(),
        payload_hash: String::new(),
        data: json!({}),
        at: Timestamp(1503),
    };
    let result = ActionResult {
        status: "EXECUTED".into(),
        response: json!({"status": 200, "body": "ok"}),
        run: Some(RunChange {
            run_id: "r3".into(),
            from: vec!["PAUSED_APPROVAL".into()],
            to: "RUNNING".into(),
            blocked_action_id: Some(String::new()),
            events: vec![resumed],
        }),
        at: Timestamp(1503),
    };
    store
        .finish_action("default", &job.action_id, &result)
        .await
        .unwrap();
    assert!(
        store
            .claim_resume_job("w3", Timestamp(99_999), 1000)
            .await
            .unwrap()
            .is_none(),
        "done jobs are never claimed again"
    );
    let run_now = store.get_run("default", "r3").await.unwrap().unwrap();
    assert_eq!(
        (run_now.status.as_str(), run_now.blocked_action_id.as_str()),
        ("RUNNING", "")
    );
    // The agent's retry of the same payload gets the stored answer exactly once.
    let taken = store
        .take_undelivered_result("default", "r3", "h1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            taken.status.as_str(),
            taken.response["body"].as_str(),
            taken.delivered
        ),
        ("EXECUTED", Some("ok"), true)
    );
    assert!(
        store
            .take_undelivered_result("default", "r3", "h1")
            .await
            .unwrap()
            .is_none()
    );
}

fn platform_event(id: &str, kind: &str, at: i64) -> NewEvent {
    NewEvent {
        id: id.into(),
        kind: kind.into(),
        actor: "platform".into(),
        payload_hash: String::new(),
        data: json!({}),
        at: Timestamp(at),
    }
}

pub async fn a_replay_waiting_for_consent_is_put_aside_and_queued_again_once(store: &dyn Store) {
    run(store, "r4").await;
    store
        .block_action(
            &action("a4", "r4", "h4"),
            &request("q1", "a4", "r4", "h4"),
            Some(&pause("r4", "a4")),
            &[],
        )
        .await
        .unwrap();
    store
        .decide_request("default", "q1", &approval("r4", "a4"))
        .await
        .unwrap();
    let job = store
        .claim_resume_job("w1", Timestamp(10), 1000)
        .await
        .unwrap()
        .unwrap();
    store
        .set_action_status("default", "a4", "APPROVED", "DISPATCHING", Timestamp(11))
        .await
        .unwrap();
    // The user's token is gone: the action goes back to APPROVED, the job is put aside and the
    // run pauses for consent, together.
    let consent = RunChange {
        run_id: "r4".into(),
        from: vec!["RUNNING".into(), "PAUSED_APPROVAL".into()],
        to: "PAUSED_CONSENT".into(),
        blocked_action_id: Some("a4".into()),
        events: vec![platform_event("ev-consent", "CONSENT_REQUIRED", 12)],
    };
    assert!(
        store
            .defer_action("default", "a4", "waiting", Some(&consent), Timestamp(12))
            .await
            .unwrap()
    );
    let action_now = store.get_action("default", "a4").await.unwrap().unwrap();
    assert_eq!(action_now.status, "APPROVED");
    let run_now = store.get_run("default", "r4").await.unwrap().unwrap();
    assert_eq!(
        (run_now.status.as_str(), run_now.blocked_action_id.as_str()),
        ("PAUSED_CONSENT", "a4")
    );
    assert!(
        store
            .claim_resume_job("w1", Timestamp(99_999), 1000)
            .await
            .unwrap()
            .is_none(),
        "a job waiting for consent is not claimed"
    );
    // An action that is not waiting for a replay is not put aside.
    assert!(
        !store
            .defer_action("default", "nope", "waiting", None, Timestamp(13))
            .await
            .unwrap()
    );

    // Consent: the job comes back (a fresh attempt count) and the run waits for the replay.
    let again = ResumeJob {
        id: "j-again".into(),
        ..job.clone()
    };
    let granted = [platform_event("ev-granted", "CONSENT_GRANTED", 20)];
    let (one, two) = tokio::join!(
        store.requeue_action("default", &again, &granted, Timestamp(20)),
        store.requeue_action("default", &again, &granted, Timestamp(20))
    );
    let queued = [one, two]
        .into_iter()
        .filter(|q| *q.as_ref().unwrap())
        .count();
    assert_eq!(queued, 1, "a second callback queues nothing");
    let run_now = store.get_run("default", "r4").await.unwrap().unwrap();
    assert_eq!(
        (run_now.status.as_str(), run_now.blocked_action_id.as_str()),
        ("PAUSED_APPROVAL", "a4")
    );
    let claimed = store
        .claim_resume_job("w2", Timestamp(21), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.action_id.as_str(), claimed.attempts),
        ("a4", 1),
        "the same action, its attempts counted afresh"
    );
    let kinds: Vec<String> = store
        .list_events("default", "r4", 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "APPROVAL_REQUIRED",
            "APPROVED",
            "CONSENT_REQUIRED",
            "CONSENT_GRANTED"
        ]
    );
    // Once replayed, the action is no longer APPROVED: nothing is queued again.
    let result = ActionResult {
        status: "EXECUTED".into(),
        response: json!({"status": 200}),
        run: None,
        at: Timestamp(22),
    };
    store.finish_action("default", "a4", &result).await.unwrap();
    assert!(
        !store
            .requeue_action("default", &again, &granted, Timestamp(23))
            .await
            .unwrap()
    );
}

/// Blocks `action_id` (raising `request_id`) in run `run_id`, which pauses.
async fn blocked_in(store: &dyn Store, run_id: &str, action_id: &str, request_id: &str) {
    run(store, run_id).await;
    store
        .block_action(
            &action(action_id, run_id, "h1"),
            &request(request_id, action_id, run_id, "h1"),
            Some(&pause(run_id, action_id)),
            &[],
        )
        .await
        .unwrap();
}

async fn end_run(store: &dyn Store, run_id: &str, to: &str) {
    let update = RunUpdate {
        from: "PAUSED_APPROVAL".into(),
        to: to.into(),
        blocked_action_id: None,
        final_answer: None,
        at: Timestamp(50),
    };
    store
        .update_run("default", run_id, &update, &[])
        .await
        .unwrap();
}

async fn statuses(store: &dyn Store, action_id: &str, request_id: &str) -> (String, String) {
    let action = store.get_action("default", action_id).await.unwrap();
    let request = store.get_request("default", request_id).await.unwrap();
    (action.unwrap().status, request.unwrap().status)
}

pub async fn a_run_that_ends_expires_its_open_approvals(store: &dyn Store) {
    // Waiting for a decision: the request and its action expire; nobody can approve it now.
    blocked_in(store, "r5", "a5", "q5").await;
    end_run(store, "r5", "FAILED").await;
    assert_eq!(
        statuses(store, "a5", "q5").await,
        ("EXPIRED".to_owned(), "EXPIRED".to_owned())
    );
    let late = store
        .decide_request("default", "q5", &approval("r5", "a5"))
        .await;
    assert!(matches!(late, Err(Error::Conflict(_))), "{late:?}");

    // Approved, its replay queued but not made: the action expires and the job goes.
    blocked_in(store, "r6", "a6", "q6").await;
    let mut approved = approval("r6", "a6");
    if let Some(grant) = approved.grant.as_mut() {
        grant.request_id = "q6".into();
    }
    store
        .decide_request("default", "q6", &approved)
        .await
        .unwrap();
    end_run(store, "r6", "COMPLETED").await;
    // Its approval was for the run (scope run): it ends with the run, and so does its grant.
    assert_eq!(
        statuses(store, "a6", "q6").await,
        ("EXPIRED".to_owned(), "EXPIRED".to_owned())
    );
    assert!(
        store
            .live_grants("default", "billing", "stripe", Timestamp(60))
            .await
            .unwrap()
            .is_empty(),
        "the run's grant no longer covers anything"
    );
    assert!(
        store
            .claim_resume_job("w1", Timestamp(60), 1000)
            .await
            .unwrap()
            .is_none(),
        "no replay is left to make"
    );

    // A replay already out is left to finish.
    blocked_in(store, "r7", "a7", "q7").await;
    store
        .decide_request("default", "q7", &approval("r7", "a7"))
        .await
        .unwrap();
    let job = store
        .claim_resume_job("w1", Timestamp(60), 1000)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .set_action_status("default", "a7", "APPROVED", "DISPATCHING", Timestamp(61))
            .await
            .unwrap()
    );
    end_run(store, "r7", "FAILED").await;
    assert_eq!(statuses(store, "a7", "q7").await.0, "DISPATCHING");
    // Nothing new is raised for an ended run.
    let raised = store
        .block_action(
            &action("a8", "r7", "h2"),
            &request("q8", "a8", "r7", "h2"),
            Some(&pause("r7", "a8")),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(raised, Blocked::RunEnded(ref status) if status == "FAILED"));
    assert_eq!(store.get_action("default", "a8").await.unwrap(), None);
    assert_eq!(store.get_request("default", "q8").await.unwrap(), None);
    assert!(
        store
            .renew_resume_job(&job.id, "w1", Timestamp(2000))
            .await
            .unwrap(),
        "the job in flight stays"
    );
}
