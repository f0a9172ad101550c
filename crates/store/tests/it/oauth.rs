//! OAuth connections: sealed tokens, compare-and-set refreshes, listing and revocation.

use runagents_domain::{Secret, Timestamp};
use runagents_store::{OAuthConnection, Store};

fn connection(user: &str, access: &str, refresh: Option<&str>) -> OAuthConnection {
    OAuthConnection {
        workspace: "default".into(),
        tool: "gmail".into(),
        user_id: user.into(),
        access_token: Secret::new(access),
        refresh_token: refresh.map(Secret::new),
        expires_at: Timestamp(5_000),
        scope: "mail.send".into(),
        version: 0,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
    }
}

pub async fn oauth_connections_are_sealed_and_refreshed_by_compare_and_set(store: &dyn Store) {
    assert!(
        store
            .get_oauth_connection("default", "gmail", "alice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .put_oauth_connection(&connection("alice", "at-1", Some("rt-1")), None)
            .await
            .unwrap()
    );
    let stored = store
        .get_oauth_connection("default", "gmail", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token.expose(), "at-1");
    assert_eq!(
        stored.refresh_token.as_ref().map(Secret::expose),
        Some("rt-1")
    );
    assert_eq!((stored.version, stored.expires_at), (1, Timestamp(5_000)));

    // One refresher at a time, across replicas: the lease goes to one caller until it ends.
    let claim = |now: i64| {
        store.claim_oauth_refresh(
            "default",
            "gmail",
            "alice",
            1,
            Timestamp(now),
            Timestamp(now + 10_000),
        )
    };
    assert!(claim(2_000).await.unwrap());
    assert!(!claim(3_000).await.unwrap());
    assert!(
        claim(12_001).await.unwrap(),
        "a lease that ran out can be taken"
    );
    assert!(
        !store
            .claim_oauth_refresh(
                "default",
                "gmail",
                "alice",
                7,
                Timestamp(30_000),
                Timestamp(40_000)
            )
            .await
            .unwrap()
    );

    // Two refreshes race from version 1: one wins, the other writes nothing.
    let mut first = stored.clone();
    first.access_token = Secret::new("at-2");
    first.refresh_token = Some(Secret::new("rt-2"));
    let mut second = stored.clone();
    second.access_token = Secret::new("at-x");
    assert!(store.put_oauth_connection(&first, Some(1)).await.unwrap());
    assert!(!store.put_oauth_connection(&second, Some(1)).await.unwrap());
    let now = store
        .get_oauth_connection("default", "gmail", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.access_token.expose(), now.version), ("at-2", 2));
    assert!(
        store
            .claim_oauth_refresh(
                "default",
                "gmail",
                "alice",
                2,
                Timestamp(13_000),
                Timestamp(20_000)
            )
            .await
            .unwrap(),
        "a written refresh releases the lease"
    );
    // Against a connection that is gone, a refresh writes nothing either.
    assert!(
        !store
            .put_oauth_connection(&connection("carol", "a", None), Some(1))
            .await
            .unwrap()
    );

    // A new consent replaces whatever was there.
    assert!(
        store
            .put_oauth_connection(&connection("alice", "at-3", None), None)
            .await
            .unwrap()
    );
    let replaced = store
        .get_oauth_connection("default", "gmail", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            replaced.access_token.expose(),
            replaced.refresh_token.is_none(),
            replaced.version
        ),
        ("at-3", true, 3)
    );

    store
        .put_oauth_connection(&connection("bob", "at-b", None), None)
        .await
        .unwrap();
    let all = store.list_oauth_connections("default", None).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.user_id.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    let bobs = store
        .list_oauth_connections("default", Some("bob"))
        .await
        .unwrap();
    assert_eq!(bobs.len(), 1);
    assert!(
        store
            .list_oauth_connections("other", None)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .delete_oauth_connection("default", "gmail", "alice")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_oauth_connection("default", "gmail", "alice")
            .await
            .unwrap()
    );
    assert!(
        store
            .get_oauth_connection("default", "gmail", "alice")
            .await
            .unwrap()
            .is_none()
    );
}
