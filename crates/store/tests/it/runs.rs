use runagents_domain::Timestamp;
use runagents_store::{Error, NewEvent, RunFilter, RunRecord, RunUpdate, Store};
use serde_json::json;

pub(crate) fn run(id: &str, workspace: &str, agent: &str, status: &str, at: i64) -> RunRecord {
    RunRecord {
        id: id.to_owned(),
        workspace: workspace.to_owned(),
        agent: agent.to_owned(),
        user_id: "alice".to_owned(),
        conversation_id: "c1".to_owned(),
        status: status.to_owned(),
        blocked_action_id: String::new(),
        initial_message: "hi".to_owned(),
        invoke_url: String::new(),
        final_answer: String::new(),
        callback_url: String::new(),
        turn: 0,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

pub(crate) fn event(kind: &str) -> NewEvent {
    NewEvent {
        id: format!("ev-{kind}"),
        kind: kind.to_owned(),
        actor: "platform".into(),
        payload_hash: String::new(),
        data: json!({"k": kind}),
        at: Timestamp(5),
    }
}

pub async fn runs_and_events_round_trip(store: &dyn Store) {
    let created = store
        .create_run(
            &run("r1", "default", "a", "RUNNING", 1),
            &[event("RUN_CREATED"), event("USER_MESSAGE")],
        )
        .await
        .unwrap();
    assert_eq!(created.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        store
            .get_run("default", "r1")
            .await
            .unwrap()
            .unwrap()
            .status,
        "RUNNING"
    );
    assert_eq!(store.get_run("other", "r1").await.unwrap(), None);
    let more = store
        .append_events("default", "r1", &[event("TOOL_REQUEST")])
        .await
        .unwrap();
    assert_eq!(more[0].seq, 3);
    assert!(matches!(
        store.append_events("other", "r1", &[event("X")]).await,
        Err(Error::NotFound)
    ));

    let all = store.list_events("default", "r1", 0, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["RUN_CREATED", "USER_MESSAGE", "TOOL_REQUEST"]
    );
    assert_eq!(all[1].data, json!({"k": "USER_MESSAGE"}));
    let tail = store
        .list_events("default", "r1", 0, Some(2))
        .await
        .unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    let after = store.list_events("default", "r1", 2, None).await.unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    assert!(
        store
            .list_events("other", "r1", 0, None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn run_updates_are_compare_and_set(store: &dyn Store) {
    store
        .create_run(
            &run("r2", "default", "a", "RUNNING", 1),
            &[event("RUN_CREATED")],
        )
        .await
        .unwrap();
    let update = RunUpdate {
        from: "RUNNING".into(),
        to: "PAUSED_APPROVAL".into(),
        blocked_action_id: Some("act-1".into()),
        final_answer: None,
        at: Timestamp(9),
    };
    let (updated, events) = store
        .update_run("default", "r2", &update, &[event("APPROVAL_REQUIRED")])
        .await
        .unwrap();
    assert_eq!(
        (
            updated.status.as_str(),
            updated.blocked_action_id.as_str(),
            updated.updated_at
        ),
        ("PAUSED_APPROVAL", "act-1", Timestamp(9))
    );
    assert_eq!(events[0].seq, 2);
    // The same update again finds the status moved: a conflict, and no event appended.
    let again = store
        .update_run("default", "r2", &update, &[event("APPROVAL_REQUIRED")])
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(
        store
            .list_events("default", "r2", 0, None)
            .await
            .unwrap()
            .len(),
        2
    );
    let missing = store.update_run("default", "nope", &update, &[]).await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
    let done = RunUpdate {
        from: "PAUSED_APPROVAL".into(),
        to: "COMPLETED".into(),
        blocked_action_id: Some(String::new()),
        final_answer: Some("42".into()),
        at: Timestamp(10),
    };
    let (finished, _) = store.update_run("default", "r2", &done, &[]).await.unwrap();
    assert_eq!(
        (
            finished.final_answer.as_str(),
            finished.blocked_action_id.as_str()
        ),
        ("42", "")
    );
}

pub async fn event_seq_is_gapless_under_concurrency(store: &dyn Store) {
    store
        .create_run(&run("r3", "default", "a", "RUNNING", 1), &[])
        .await
        .unwrap();
    let appends = (0..40).map(|i| async move {
        let mut e = event("TOOL_REQUEST");
        e.id = format!("ev-{i}");
        store.append_events("default", "r3", &[e.clone(), e]).await
    });
    let results = futures_util::future::join_all(appends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let seqs: Vec<i64> = store
        .list_events("default", "r3", 0, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=80).collect::<Vec<_>>());
}

pub async fn runs_list_by_agent_and_status_newest_first(store: &dyn Store) {
    store
        .create_run(&run("a1", "default", "billing", "RUNNING", 1), &[])
        .await
        .unwrap();
    store
        .create_run(&run("a2", "default", "billing", "PAUSED_APPROVAL", 2), &[])
        .await
        .unwrap();
    let mut bobs = run("a3", "default", "support", "RUNNING", 3);
    bobs.user_id = "bob".to_owned();
    store.create_run(&bobs, &[]).await.unwrap();
    store
        .create_run(&run("a4", "other", "billing", "RUNNING", 4), &[])
        .await
        .unwrap();
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store
        .list_runs(
            "default",
            &RunFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(all), ["a3", "a2", "a1"]);
    let billing = store
        .list_runs(
            "default",
            &RunFilter {
                agent: Some("billing".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(billing), ["a2", "a1"]);
    let running = store
        .list_runs(
            "default",
            &RunFilter {
                statuses: vec!["RUNNING".into()],
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(running), ["a3", "a1"]);
    let paused = store
        .list_runs(
            "default",
            &RunFilter {
                statuses: vec!["PAUSED_APPROVAL".into(), "PAUSED_CONSENT".into()],
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(paused), ["a2"]);
    let by_user = |user: &str| RunFilter {
        user: Some(user.into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_runs("default", &by_user("bob")).await.unwrap()),
        ["a3"]
    );
    assert_eq!(
        ids(store.list_runs("default", &by_user("alice")).await.unwrap()),
        ["a2", "a1"]
    );
    assert!(
        store
            .list_runs("default", &by_user("Bob"))
            .await
            .unwrap()
            .is_empty()
    );
    let conversation = store
        .list_runs(
            "default",
            &RunFilter {
                conversation: Some("c1".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        conversation.len(),
        3,
        "every run above shares conversation c1 in workspace default"
    );
    let none = store
        .list_runs(
            "default",
            &RunFilter {
                conversation: Some("c2".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn agent_credentials_replace_and_resolve(store: &dyn Store) {
    store
        .set_agent_credential("default", "billing", "issued", "h1", Timestamp(1))
        .await
        .unwrap();
    assert_eq!(
        store.agent_by_credential("h1").await.unwrap(),
        Some(("default".into(), "billing".into()))
    );
    store
        .set_agent_credential("default", "billing", "hosted", "hosted-1", Timestamp(2))
        .await
        .unwrap();
    store
        .set_agent_credential("default", "billing", "issued", "h2", Timestamp(2))
        .await
        .unwrap();
    assert_eq!(
        store.agent_by_credential("h1").await.unwrap(),
        None,
        "rotation retires the old credential"
    );
    assert_eq!(
        store.agent_by_credential("h2").await.unwrap(),
        Some(("default".into(), "billing".into()))
    );
    assert_eq!(
        store.agent_by_credential("hosted-1").await.unwrap(),
        Some(("default".into(), "billing".into())),
        "replacing the issued credential leaves the hosted one working"
    );
    // Setting the same hosted credential again (a restart) is not an error.
    store
        .set_agent_credential("default", "billing", "hosted", "hosted-1", Timestamp(3))
        .await
        .unwrap();
    store
        .delete_agent_credentials("default", "billing")
        .await
        .unwrap();
    assert_eq!(store.agent_by_credential("h2").await.unwrap(), None);
    assert_eq!(store.agent_by_credential("hosted-1").await.unwrap(), None);
}
