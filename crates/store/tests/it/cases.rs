use runagents_domain::{Secret, Timestamp};
use runagents_store::{
    ActivityRecord, ApiKeyRecord, Document, Error, Kind, Rotation, Store, Write,
};
use serde_json::json;

fn doc(key: &str, body: serde_json::Value, at: i64) -> Document {
    Document {
        key: key.to_owned(),
        body,
        version: 0,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
    }
}

pub async fn document_upsert_create_replace(store: &dyn Store) {
    let first = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({"v": 1}), 1000),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    assert_eq!(
        (first.version, first.created_at, first.updated_at),
        (1, Timestamp(1000), Timestamp(1000))
    );
    let second = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({"v": 2}), 2000),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    assert_eq!(
        (second.version, second.created_at, second.updated_at),
        (2, Timestamp(1000), Timestamp(2000))
    );
    assert_eq!(second.body, json!({"v": 2}));

    let conflict = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({"v": 3}), 3000),
            &[],
            Write::Create,
        )
        .await;
    assert!(matches!(conflict, Err(Error::Conflict(_))), "{conflict:?}");
    let missing = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("b", json!({}), 3000),
            &[],
            Write::Replace,
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
    assert_eq!(
        store
            .get_document("default", Kind::Tool, "b")
            .await
            .unwrap(),
        None
    );

    let replaced = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({"v": 4}), 4000),
            &[],
            Write::Replace,
        )
        .await
        .unwrap();
    assert_eq!(replaced.version, 3);
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("0-first", json!({}), 5000),
            &[],
            Write::Create,
        )
        .await
        .unwrap();
    let keys: Vec<String> = store
        .list_documents("default", Kind::Tool)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, ["0-first", "a"]);

    assert!(
        store
            .delete_document("default", Kind::Tool, "a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_document("default", Kind::Tool, "a")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_document("default", Kind::Tool, "a")
            .await
            .unwrap(),
        None
    );
}

pub async fn documents_are_workspace_scoped(store: &dyn Store) {
    store
        .put_document(
            "a",
            Kind::Policy,
            &doc("p", json!({"ws": "a"}), 1),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    store
        .put_document(
            "b",
            Kind::Policy,
            &doc("p", json!({"ws": "b"}), 1),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    store
        .put_document(
            "a",
            Kind::Tool,
            &doc("p", json!({"kind": "tool"}), 1),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_document("a", Kind::Policy, "p")
            .await
            .unwrap()
            .unwrap()
            .body,
        json!({"ws": "a"})
    );
    assert_eq!(
        store
            .get_document("b", Kind::Policy, "p")
            .await
            .unwrap()
            .unwrap()
            .body,
        json!({"ws": "b"})
    );
    assert_eq!(
        store.list_documents("c", Kind::Policy).await.unwrap(),
        vec![]
    );
    assert!(store.delete_document("b", Kind::Policy, "p").await.unwrap());
    assert!(
        store
            .get_document("a", Kind::Policy, "p")
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn secrets_are_sealed_kept_and_deleted_with_their_document(store: &dyn Store) {
    let secrets = vec![
        ("api_key".to_owned(), Secret::new("sk_live_1")),
        ("client_id".to_owned(), Secret::new("cid")),
    ];
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("t", json!({}), 1),
            &secrets,
            Write::Upsert,
        )
        .await
        .unwrap();
    // A later write without secrets keeps them; a write with one field replaces only that field.
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("t", json!({"v": 2}), 2),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    let rotate = vec![("api_key".to_owned(), Secret::new("sk_live_2"))];
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("t", json!({"v": 3}), 3),
            &rotate,
            Write::Upsert,
        )
        .await
        .unwrap();
    let stored = store.secrets("default", Kind::Tool, "t").await.unwrap();
    let exposed: Vec<(&str, &str)> = stored
        .iter()
        .map(|(f, s)| (f.as_str(), s.expose()))
        .collect();
    assert_eq!(exposed, [("api_key", "sk_live_2"), ("client_id", "cid")]);
    assert_eq!(
        store
            .secret_fields("default", Kind::Tool, "t")
            .await
            .unwrap(),
        ["api_key", "client_id"]
    );
    assert!(
        store
            .secrets("other", Kind::Tool, "t")
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .delete_document("default", Kind::Tool, "t")
            .await
            .unwrap()
    );
    assert!(
        store
            .secrets("default", Kind::Tool, "t")
            .await
            .unwrap()
            .is_empty()
    );
    // A failed write leaves no secret behind.
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("u", json!({}), 1),
            &[],
            Write::Create,
        )
        .await
        .unwrap();
    let failed = store
        .put_document(
            "default",
            Kind::Tool,
            &doc("u", json!({}), 1),
            &secrets,
            Write::Create,
        )
        .await;
    assert!(failed.is_err());
    assert!(
        store
            .secret_fields("default", Kind::Tool, "u")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_upserts_all_land(store: &dyn Store) {
    let writes = (0..20).map(|i| async move {
        store
            .put_document(
                "default",
                Kind::Tool,
                &doc("hot", json!({"i": i}), 10 + i),
                &[],
                Write::Upsert,
            )
            .await
    });
    let results = futures_util::future::join_all(writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stored = store
        .get_document("default", Kind::Tool, "hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 20);
}

fn key(id: &str, workspace: &str, hash: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        workspace: workspace.to_owned(),
        name: format!("{id}-name"),
        role: "member".to_owned(),
        hash: hash.to_owned(),
        last4: "abcd".to_owned(),
        created_at: Timestamp(1),
        expires_at: Some(Timestamp(99)),
        last_used_at: None,
        revoked_at: None,
        subject: format!("{id}-name"),
        groups: Vec::new(),
    }
}

pub async fn api_key_owner_and_groups_round_trip(store: &dyn Store) {
    store
        .ensure_workspace("default", Timestamp(1))
        .await
        .unwrap();
    let owned = ApiKeyRecord {
        subject: "ann@example.com".into(),
        groups: vec!["finance".into(), "on-call: sre".into()],
        ..key("k1", "default", "h1")
    };
    store.insert_api_key(&owned).await.unwrap();
    store
        .insert_api_key(&key("k2", "default", "h2"))
        .await
        .unwrap();
    assert_eq!(
        store.api_key_by_hash("h1").await.unwrap(),
        Some(owned.clone())
    );
    let listed = store.list_api_keys("default").await.unwrap();
    let k2 = listed.iter().find(|k| k.id == "k2").unwrap();
    assert_eq!((k2.subject.as_str(), k2.groups.len()), ("k2-name", 0));
    // Rotation replaces the secret, never the owner.
    let rotated = store
        .rotate_api_key(
            "default",
            "k1",
            &Rotation {
                hash: "h1b".into(),
                last4: "wxyz".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rotated.subject, rotated.groups),
        (owned.subject, owned.groups)
    );
}

pub async fn api_key_lifecycle(store: &dyn Store) {
    assert!(
        store
            .ensure_workspace("default", Timestamp(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .ensure_workspace("default", Timestamp(2))
            .await
            .unwrap()
    );
    store
        .insert_api_key(&key("k1", "default", "h1"))
        .await
        .unwrap();
    store
        .insert_api_key(&key("k2", "default", "h2"))
        .await
        .unwrap();
    let duplicate = store.insert_api_key(&key("k3", "default", "h1")).await;
    assert!(
        matches!(duplicate, Err(Error::Conflict(_))),
        "{duplicate:?}"
    );
    let unknown_workspace = store.insert_api_key(&key("k4", "nowhere", "h4")).await;
    assert!(unknown_workspace.is_err());

    assert_eq!(
        store.api_key_by_hash("h1").await.unwrap(),
        Some(key("k1", "default", "h1"))
    );
    assert_eq!(store.api_key_by_hash("nope").await.unwrap(), None);
    store.touch_api_key("k1", Timestamp(50)).await.unwrap();
    assert_eq!(
        store
            .api_key_by_hash("h1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(Timestamp(50))
    );

    let rotated = store
        .rotate_api_key(
            "default",
            "k1",
            &Rotation {
                hash: "h1b".into(),
                last4: "wxyz".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let rotated = rotated.unwrap();
    assert_eq!(
        (
            rotated.hash.as_str(),
            rotated.last4.as_str(),
            rotated.expires_at
        ),
        ("h1b", "wxyz", None)
    );
    assert_eq!(store.api_key_by_hash("h1").await.unwrap(), None);
    assert!(
        store
            .rotate_api_key(
                "other",
                "k1",
                &Rotation {
                    hash: "x".into(),
                    last4: "x".into(),
                    expires_at: None
                }
            )
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        !store
            .revoke_api_key("other", "k2", Timestamp(60))
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_key("default", "k2", Timestamp(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_key("default", "k2", Timestamp(61))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .api_key_by_hash("h2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(Timestamp(60))
    );
    let live: Vec<String> = store
        .list_api_keys("default")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(live, ["k1"]);
    assert!(
        store
            .rotate_api_key(
                "default",
                "k2",
                &Rotation {
                    hash: "h2b".into(),
                    last4: "x".into(),
                    expires_at: None
                }
            )
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn workspace_with_first_key_is_atomic(store: &dyn Store) {
    store
        .create_workspace_with_key("team-a", &key("ka", "team-a", "ha"))
        .await
        .unwrap();
    assert_eq!(store.list_workspaces().await.unwrap(), ["team-a"]);
    let again = store
        .create_workspace_with_key("team-a", &key("kb", "team-a", "hb"))
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(store.api_key_by_hash("hb").await.unwrap(), None);
    // A key that cannot be written (duplicate hash) leaves no workspace behind.
    let failed = store
        .create_workspace_with_key("team-b", &key("kc", "team-b", "ha"))
        .await;
    assert!(failed.is_err());
    assert_eq!(store.list_workspaces().await.unwrap(), ["team-a"]);
}

pub async fn settings_round_trip(store: &dyn Store) {
    assert_eq!(
        store
            .get_setting("default", "connector_defaults")
            .await
            .unwrap(),
        None
    );
    store
        .put_setting(
            "default",
            "connector_defaults",
            &json!({"mode": "all"}),
            Timestamp(1),
        )
        .await
        .unwrap();
    store
        .put_setting(
            "default",
            "connector_defaults",
            &json!({"mode": "first_success"}),
            Timestamp(2),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_setting("default", "connector_defaults")
            .await
            .unwrap(),
        Some(json!({"mode": "first_success"}))
    );
    assert_eq!(
        store
            .get_setting("other", "connector_defaults")
            .await
            .unwrap(),
        None
    );
}

pub async fn activity_newest_first_with_limit(store: &dyn Store) {
    for i in 0..5 {
        let record = ActivityRecord {
            id: format!("aca_{i}"),
            at: Timestamp(100 + i),
            body: json!({"n": i}),
        };
        store.append_activity("default", &record).await.unwrap();
    }
    store
        .append_activity(
            "other",
            &ActivityRecord {
                id: "aca_x".into(),
                at: Timestamp(999),
                body: json!({}),
            },
        )
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_activity("default", 3)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["aca_4", "aca_3", "aca_2"]);
    assert_eq!(
        store.list_activity("default", 3).await.unwrap()[0].body,
        json!({"n": 4})
    );
}

pub async fn generations_change_with_every_write(store: &dyn Store) {
    assert_eq!(store.generation("default", Kind::Tool).await.unwrap(), 0);
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({}), 1),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    let after_create = store.generation("default", Kind::Tool).await.unwrap();
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("a", json!({"v": 2}), 1),
            &[],
            Write::Upsert,
        )
        .await
        .unwrap();
    let after_update = store.generation("default", Kind::Tool).await.unwrap();
    store
        .delete_document("default", Kind::Tool, "a")
        .await
        .unwrap();
    let after_delete = store.generation("default", Kind::Tool).await.unwrap();
    assert!(0 < after_create && after_create < after_update && after_update < after_delete);
    assert_eq!(
        store.generation("default", Kind::Policy).await.unwrap(),
        0,
        "per kind"
    );
    assert_eq!(
        store.generation("other", Kind::Tool).await.unwrap(),
        0,
        "per workspace"
    );
    // A failed write changes nothing.
    store
        .put_document(
            "default",
            Kind::Tool,
            &doc("b", json!({}), 1),
            &[],
            Write::Create,
        )
        .await
        .unwrap();
    let before = store.generation("default", Kind::Tool).await.unwrap();
    assert!(
        store
            .put_document(
                "default",
                Kind::Tool,
                &doc("b", json!({}), 1),
                &[],
                Write::Create
            )
            .await
            .is_err()
    );
    assert_eq!(
        store.generation("default", Kind::Tool).await.unwrap(),
        before
    );
}
pub use crate::llm_usage::{concurrent_reservations_never_overshoot, spend_reserve_settle_release};
